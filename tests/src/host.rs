//! Evidence from the host about one test agent, independent of what the
//! agent says: mounts, links in its network namespace, firewall rules,
//! cgroups, processes, files, and the agent's own memory. The reliability
//! tests take a `Snapshot` at a quiet moment and compare a later one.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crate::{cgroup_dirs, Agent};

/// What the host holds for an agent at one moment (every set sorted, so a
/// difference prints readably).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Mount points under the test root and the data root.
    pub mounts: BTreeSet<String>,
    /// Links in the agent's network namespace (veths, bridges).
    pub links: BTreeSet<String>,
    /// DNAT rules of skiff's table in the agent's namespace.
    pub dnat: BTreeSet<String>,
    /// Container cgroups under the agent's cgroup parent (every hierarchy).
    pub cgroups: BTreeSet<String>,
    /// Command lines of processes running under the test root
    /// (supervisors and monitors), the agent excluded.
    pub procs: BTreeSet<String>,
    /// Entries of the state directories that hold one entry per container
    /// or volume: `<data>/containers`, `<data>/volumes`, and the exec
    /// root's `containers`, `netns`, `runtime` and `s`.
    pub files: BTreeSet<String>,
}

impl Snapshot {
    pub fn take(a: &Agent) -> Snapshot {
        Snapshot {
            mounts: a.host_mounts().into_iter().collect(),
            links: links(&a.netns),
            dnat: nft_lines(&a.netns, "dnat"),
            cgroups: cgroups(&a.name),
            procs: procs(a),
            files: state_files(a),
        }
    }

    /// What still differs from `before` once the host has settled (a
    /// removed namespace's veth goes asynchronously in the kernel): polled
    /// for up to 10 s.
    pub fn settled_diff(a: &Agent, before: &Snapshot) -> Vec<String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let diff = Snapshot::take(a).diff(before);
            if diff.is_empty() || std::time::Instant::now() > deadline {
                return diff;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Take a snapshot once what skiff reports and the host agree (see
    /// `disagreements`), so no veth of a just-removed container is in it.
    pub fn quiet(a: &Agent) -> Snapshot {
        let off = settled_disagreements(a);
        assert!(off.is_empty(), "skiff and the host disagree: {off:#?}");
        Snapshot::take(a)
    }

    /// What differs from `before`, one line per difference (empty: none).
    pub fn diff(&self, before: &Snapshot) -> Vec<String> {
        let mut out = Vec::new();
        let mut cmp = |what: &str, now: &BTreeSet<String>, was: &BTreeSet<String>| {
            out.extend(now.difference(was).map(|x| format!("{what} left behind: {x}")));
            out.extend(was.difference(now).map(|x| format!("{what} gone: {x}")));
        };
        cmp("mount", &self.mounts, &before.mounts);
        cmp("link", &self.links, &before.links);
        cmp("nft dnat rule", &self.dnat, &before.dnat);
        cmp("cgroup", &self.cgroups, &before.cgroups);
        cmp("process", &self.procs, &before.procs);
        cmp("file", &self.files, &before.files);
        out
    }
}

/// Run `program args` inside the namespace `netns` only (not `ip netns
/// exec`, which remounts /sys).
pub fn in_netns(netns: &str, program: &str, args: &[&str]) -> crate::Run {
    Command::new("nsenter")
        .arg(format!("--net=/run/netns/{netns}"))
        .arg(program)
        .args(args)
        .output()
        .expect("nsenter")
        .into()
}

/// Link names (without the `@peer` suffix) in a namespace, `lo` excluded.
pub fn links(netns: &str) -> BTreeSet<String> {
    in_netns(netns, "ip", &["-o", "link", "show"])
        .stdout
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .filter(|n| n != "lo")
        .collect()
}

/// Lines of skiff's nftables table in a namespace that contain `word`.
pub fn nft_lines(netns: &str, word: &str) -> BTreeSet<String> {
    in_netns(netns, "nft", &["list", "table", "ip", "skiff"])
        .stdout
        .lines()
        .filter(|l| l.contains(word))
        .map(|l| l.trim().to_string())
        .collect()
}

fn cgroups(parent: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for dir in cgroup_dirs(parent) {
        let Ok(rd) = std::fs::read_dir(&dir) else { continue };
        for e in rd.flatten().filter(|e| e.path().is_dir()) {
            out.insert(e.path().display().to_string());
        }
    }
    out
}

fn procs(a: &Agent) -> BTreeSet<String> {
    procs_under(&format!("{}/", a.root.display()), a.agent_pid_if_running())
}

/// "PID command line" of every process whose command line holds `needle`,
/// `except` excluded.
pub fn procs_under(needle: &str, except: Option<i32>) -> BTreeSet<String> {
    let agent = except;
    let mut out = BTreeSet::new();
    let Ok(rd) = std::fs::read_dir("/proc") else { return out };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if Some(pid) == agent {
            continue;
        }
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(needle) {
            out.insert(format!("{pid} {}", cmd.trim()));
        }
    }
    out
}

fn state_files(a: &Agent) -> BTreeSet<String> {
    state_files_in(&a.data, &a.root.join("run"))
}

/// The entries of an agent's per-container and per-volume state
/// directories (see `Snapshot::files`), for data root `data` and exec root
/// `run`.
pub fn state_files_in(data: &Path, run: &Path) -> BTreeSet<String> {
    let dirs = [
        data.join("containers"),
        data.join("volumes"),
        run.join("containers"),
        run.join("netns"),
        run.join("runtime"),
        run.join("s"),
    ];
    let mut out = BTreeSet::new();
    for d in dirs {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        out.extend(rd.flatten().map(|e| e.path().display().to_string()));
    }
    out
}

/// A process's resident set in KiB (`VmRSS` of /proc/PID/status).
pub fn rss_kib(pid: i32) -> u64 {
    status_field(pid, "VmRSS:")
}

/// A process's thread count (`Threads` of /proc/PID/status).
pub fn threads(pid: i32) -> u64 {
    status_field(pid, "Threads:")
}

/// A process's open file descriptors.
pub fn fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |rd| rd.count())
}

fn status_field(pid: i32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// SIGKILL each process of a `procs_under` answer ("PID command line").
pub fn kill9<'a>(procs: impl IntoIterator<Item = &'a String>) {
    for p in procs {
        let pid = p.split_whitespace().next().expect("pid");
        let ok = std::process::Command::new("kill")
            .args(["-9", pid])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -9 {pid}");
    }
}

/// Whether a process exists.
pub fn alive(pid: &str) -> bool {
    !pid.is_empty() && pid != "0" && Path::new(&format!("/proc/{pid}")).exists()
}

/// One container as skiff reports it.
#[derive(Debug, Clone)]
pub struct Reported {
    pub id: String,
    pub name: String,
    pub status: String,
    pub pid: String,
    /// How many networks it is on.
    pub networks: usize,
}

/// Every container `ps -a` lists, with its inspect state.
pub fn reported(a: &Agent) -> Vec<Reported> {
    let ids = a.skiff(&["ps", "-aq", "--no-trunc"]).ok().stdout;
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if ids.is_empty() {
        return Vec::new();
    }
    let mut args = vec![
        "inspect",
        "-f",
        "{{.Id}} {{.Name}} {{.State.Status}} {{.State.Pid}} {{len .NetworkSettings.Networks}}",
    ];
    args.extend(&ids);
    a.skiff(&args)
        .ok()
        .stdout
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 5).then(|| Reported {
                id: f[0].into(),
                name: f[1].trim_start_matches('/').into(),
                status: f[2].into(),
                pid: f[3].into(),
                networks: f[4].parse().unwrap_or(0),
            })
        })
        .collect()
}

/// Where what skiff reports and what the host holds disagree (empty:
/// they agree): a running container's process lives and its supervisor,
/// root filesystem mount, cgroup, namespace and veths exist; a stopped
/// one has none of these; nothing exists for a container skiff does not
/// list.
pub fn disagreements(a: &Agent) -> Vec<String> {
    let cs = reported(a);
    let running: Vec<&Reported> = cs.iter().filter(|c| c.status == "running").collect();
    let mut out = Vec::new();
    for c in &cs {
        let live = alive(&c.pid);
        if (c.status == "running") != live {
            out.push(format!("{} is {} but pid {} alive={live}", c.name, c.status, c.pid));
        }
    }
    let sups = procs(a)
        .iter()
        .filter(|p| p.contains("skiff-shim --socket") || p.contains("skiff-agent shim"))
        .count();
    if sups != running.len() {
        out.push(format!("{sups} supervisors for {} running containers", running.len()));
    }
    let merged: Vec<String> = a.host_mounts().into_iter().filter(|m| m.ends_with("/merged")).collect();
    if merged.len() != running.len() || !running.iter().all(|c| merged.iter().any(|m| m.contains(&c.id))) {
        out.push(format!(
            "root filesystems mounted {merged:?} for running {:?}",
            names(&running)
        ));
    }
    for g in cgroups(&a.name) {
        if !running.iter().any(|c| g.ends_with(&c.id)) {
            out.push(format!("cgroup {g} of no running container"));
        }
    }
    let netns: BTreeSet<String> = std::fs::read_dir(a.root.join("run/netns"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    if netns.iter().any(|n| !running.iter().any(|c| &c.id == n)) {
        out.push(format!("namespaces {netns:?} for running {:?}", names(&running)));
    }
    let veths = links(&a.netns).iter().filter(|l| l.starts_with("veth")).count();
    let endpoints: usize = running.iter().map(|c| c.networks).sum();
    if veths != endpoints {
        out.push(format!("{veths} veths for {endpoints} endpoints of running containers"));
    }
    out
}

/// `disagreements` once the host has settled (a removed namespace's veth
/// goes asynchronously in the kernel): polled for up to 10 s.
pub fn settled_disagreements(a: &Agent) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let off = disagreements(a);
        if off.is_empty() || std::time::Instant::now() > deadline {
            return off;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn names(cs: &[&Reported]) -> Vec<String> {
    cs.iter().map(|c| c.name.clone()).collect()
}

/// Interfaces inside a running process's network namespace, `lo` excluded.
pub fn links_of_pid(pid: &str) -> BTreeSet<String> {
    let out: crate::Run = Command::new("nsenter")
        .arg(format!("--net=/proc/{pid}/ns/net"))
        .args(["ip", "-o", "link", "show"])
        .output()
        .expect("nsenter")
        .into();
    out.stdout
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .filter(|n| n != "lo")
        .collect()
}
