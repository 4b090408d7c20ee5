//! Paying the kernel's cgroup-migration toll early.
//!
//! Moving a process into a cgroup (`cgroup.procs`, as libcontainer does for
//! every container) takes the kernel's global threadgroup lock for writing,
//! and the first writer after a quiet spell waits a whole RCU grace period
//! (10-20 ms here) before it gets it; writers while that lock's fast path
//! is still switched off (until a grace period after the last writer) go
//! straight through. A lone container start would pay the wait in the
//! middle of its critical path. So `create` and `start` keep the way open
//! for a moment: a thread rewrites the agent's own PID into the cgroup it
//! is already in (a migration that moves nothing) at once and every few
//! milliseconds after, so the grace period passes while the agent creates
//! layers, mounts, plumbs the network and starts the supervisor, and
//! libcontainer's own migration goes straight through.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// Keeps the cgroup-migration path open on request.
pub struct Warmer {
    file: Option<PathBuf>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    until: Option<Instant>,
    running: bool,
}

/// How long one request keeps the way open: a create, or a start's
/// preparation, with room to spare.
pub const HOLD: Duration = Duration::from_millis(300);
const EVERY: Duration = Duration::from_millis(3);

impl Warmer {
    pub fn new(v2: bool) -> Arc<Self> {
        Arc::new(Self {
            file: own_procs_file(v2),
            state: Mutex::new(State::default()),
        })
    }

    /// Keep the way open for `hold` from now; never waits, never fails.
    pub fn keep_open(self: &Arc<Self>, hold: Duration) {
        let Some(file) = self.file.clone() else { return };
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let until = Instant::now() + hold;
        st.until = Some(st.until.map_or(until, |u| u.max(until)));
        if st.running {
            return;
        }
        st.running = true;
        let me = self.clone();
        std::thread::spawn(move || {
            let pid = std::process::id().to_string();
            loop {
                let ok = std::fs::write(&file, &pid).is_ok();
                let mut st = me.state.lock().unwrap_or_else(|e| e.into_inner());
                if !ok || st.until.is_none_or(|u| Instant::now() >= u) {
                    st.running = false;
                    return;
                }
                drop(st);
                std::thread::sleep(EVERY);
            }
        });
    }
}
