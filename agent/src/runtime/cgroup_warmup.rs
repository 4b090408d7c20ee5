//! Paying the kernel's cgroup-migration toll early.
//!
//! Moving a process into a cgroup (`cgroup.procs`, as libcontainer does for
//! every container) takes the kernel's global threadgroup lock for writing,
//! and the first writer after a quiet spell waits a whole RCU grace period
//! (~10 ms here) before it gets it; writers within a grace period after
//! that go straight through. A lone container start pays that wait in the
//! middle of its critical path. `start` calls `warm_up` when it begins: a
//! blocking thread rewrites the agent's own PID into the cgroup it is
//! already in (a migration that moves nothing), so the grace period runs
//! while the agent mounts, plumbs the network and launches the supervisor.

use std::path::PathBuf;

/// The `cgroup.procs` of the agent's own cgroup in one hierarchy.
fn own_procs_file(v2: bool) -> Option<PathBuf> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let (root, path) = if v2 {
        (
            "/sys/fs/cgroup".to_string(),
            own.lines().find_map(|l| l.strip_prefix("0::"))?.to_string(),
        )
    } else {
        let l = own.lines().find(|l| l.split(':').nth(1) == Some("pids"))?;
        ("/sys/fs/cgroup/pids".to_string(), l.splitn(3, ':').nth(2)?.to_string())
    };
    Some(
        PathBuf::from(root)
            .join(path.trim_start_matches('/'))
            .join("cgroup.procs"),
    )
}

/// Start the grace period in the background; never fails, never waits.
pub fn warm_up(v2: bool) {
    let Some(file) = own_procs_file(v2) else { return };
    std::thread::spawn(move || {
        let _ = std::fs::write(file, std::process::id().to_string());
    });
}
