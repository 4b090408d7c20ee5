//! What a cluster test leaves behind through the product, checked before
//! `deploy/local-cluster.sh down` cleans by force: every service and
//! container is removed through the controller, the controllers are
//! stopped (so no orchestrator makes anything new), and then each host must
//! hold nothing of any container or volume: no container cgroup or process
//! in one, no mount under its directory in its mount namespace, no veth or
//! published-port rule in its network namespace, no supervisor, no state
//! file (record, namespace file, supervisor socket, volume).

use std::path::Path;
use std::time::{Duration, Instant};

use super::cluster::Cluster;
use super::{container_cgroups, host, mounts_under_in};

/// How long the host may take to settle after the last `rm -f` answered
/// (a removed namespace's veth goes asynchronously in the kernel): as long
/// as `host::Snapshot::settled_diff` allows a single agent.
const SETTLE: Duration = Duration::from_secs(10);

impl Cluster {
    /// Remove every service and container through the controller, stop the
    /// controllers, and list what the hosts still hold.
    pub(crate) fn product_leaks(&self) -> Vec<String> {
        let mut leaks = self.remove_everything();
        for i in 1..=self.controllers {
            let r = self.script(&["stop-controller", &i.to_string()]);
            if r.code != 0 {
                leaks.push(format!("stopping controller {i} failed: {}", r.stderr));
            }
        }
        let hosts = self.hosts();
        // With no orchestrator left, what an agent still lists was made
        // after the removal above (or survived it).
        for &i in &hosts {
            if self.agent_running(i) {
                let ids = self.skiff_on(i, &["ps", "-aq", "--no-trunc"]).stdout;
                leaks.extend(
                    ids.split_whitespace()
                        .map(|id| format!("h{i}: container {id} still exists after everything was removed")),
                );
            }
        }
        let t0 = Instant::now();
        let mut first: Option<Vec<String>> = None;
        loop {
            let found: Vec<String> = hosts.iter().flat_map(|&i| self.host_leaks(i)).collect();
            if found.is_empty() || t0.elapsed() >= SETTLE {
                if let Some(first) = first.filter(|_| found.is_empty()) {
                    // Shown with the test's output: what took a while to go.
                    eprintln!("hosts settled after {:?}; at first: {first:?}", t0.elapsed());
                }
                leaks.extend(found);
                return leaks;
            }
            first.get_or_insert(found);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `service rm` every service and `rm -f` every container through the
    /// controller, until `ps -a` through it lists none.
    fn remove_everything(&self) -> Vec<String> {
        // The controller lists and reaches only ready nodes: after a
        // controller restart the agents take a moment to be back.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let nodes = self.skiff(&["node", "ls", "--format", "{{.Description.Hostname}} {{.Status.State}}"]);
            let not_ready: Vec<&str> = nodes.stdout.lines().filter(|l| !l.ends_with(" ready")).collect();
            if nodes.code == 0 && not_ready.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                return vec![format!(
                    "nodes not ready, their containers cannot be removed: {not_ready:?} {}",
                    nodes.stderr
                )];
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let services = self.skiff(&["service", "ls", "-q"]);
        if services.code != 0 {
            return vec![format!("service ls through the controller failed: {}", services.stderr)];
        }
        for s in services.stdout.split_whitespace() {
            let r = self.skiff(&["service", "rm", s]);
            if r.code != 0 {
                return vec![format!("service rm {s} failed: {}", r.stderr)];
            }
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ps = self.skiff(&["ps", "-aq", "--no-trunc"]);
            if ps.code != 0 {
                return vec![format!("ps through the controller failed: {}", ps.stderr)];
            }
            let ids: Vec<&str> = ps.stdout.split_whitespace().collect();
            if ids.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                return vec![format!(
                    "containers still listed through the controller after rm -f: {ids:?}"
                )];
            }
            for id in ids {
                // A task being replaced may go between ps and rm: no error.
                let _ = self.skiff(&["rm", "-f", id]);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        // Volumes, node by node (one name may be on several).
        let mut leaks = Vec::new();
        for i in self.hosts().into_iter().filter(|&i| self.agent_running(i)) {
            let node = format!("h{i}");
            let vols = self.skiff(&["--node", &node, "volume", "ls", "-q"]);
            for v in vols.stdout.split_whitespace() {
                let r = self.skiff(&["--node", &node, "volume", "rm", v]);
                if r.code != 0 {
                    leaks.push(format!("{node}: volume rm {v} failed: {}", r.stderr));
                }
            }
        }
        leaks
    }

    /// The hosts the script made (hI directories).
    fn hosts(&self) -> Vec<u32> {
        let mut out: Vec<u32> = std::fs::read_dir(&self.dir)
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| e.file_name().to_str()?.strip_prefix('h')?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }

    fn pid_file(&self, i: u32, file: &str) -> Option<i32> {
        let p = std::fs::read_to_string(self.dir.join(format!("h{i}/{file}"))).ok()?;
        let pid: i32 = p.trim().parse().ok()?;
        Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
    }

    fn agent_running(&self, i: u32) -> bool {
        self.pid_file(i, "agent.pid").is_some() && self.dir.join(format!("h{i}/agent.sock")).exists()
    }

    /// What host hI holds of any container or volume.
    fn host_leaks(&self, i: u32) -> Vec<String> {
        let h = format!("h{i}");
        let root = self.dir.join(&h);
        let netns = format!("{}-{h}", self.name);
        let mut out: Vec<String> = container_cgroups(&netns);
        // Mounts live in the host's own mount namespace (held by holder.pid).
        // The agent keeps none of its own under the host's directory; a
        // container's root filesystem, network namespace file, volumes do.
        if let Some(holder) = self.pid_file(i, "holder.pid") {
            let mounts = mounts_under_in(&holder.to_string(), &root.display().to_string());
            out.extend(mounts.into_iter().map(|m| format!("mount {m}")));
        }
        // Anything running from the host's directory but its agent
        // (supervisors, monitors).
        let procs = host::procs_under(&format!("{}/", root.display()), self.pid_file(i, "agent.pid"));
        out.extend(procs.into_iter().map(|p| format!("process {p}")));
        // The network namespace: the host sides of containers' veths (the
        // host's own link to the LAN is eth0; bridges stay with their
        // networks), published ports' DNAT rules.
        let links = host::links(&netns);
        out.extend(
            links
                .into_iter()
                .filter(|l| l.starts_with("veth"))
                .map(|l| format!("link {l}")),
        );
        let dnat = host::nft_lines(&netns, "dnat to");
        out.extend(dnat.into_iter().map(|r| format!("nftables rule {r}")));
        // Per-container and per-volume state: records, namespaces,
        // supervisor sockets.
        let files = host::state_files_in(&root.join("data"), &root.join("run"));
        out.extend(files.into_iter().map(|f| format!("file {f}")));
        out.into_iter().map(|l| format!("{h}: {l}")).collect()
    }
}
