//! Test harness: a real `skiff-agent` per test, with its own data root,
//! exec root, socket, cgroup parent and network namespace, driven through
//! the real `skiff` CLI (and the stock `docker` client). `finish()` removes
//! everything and asserts that nothing was left behind.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub mod cluster;
mod cluster_leaks;
pub mod differ;
pub mod dockerd;
pub mod host;
pub mod hostile;
pub mod registry;
pub mod rsyslog;
pub mod token;
pub mod wire;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Where the built binaries are: beside the test executable's `deps/`.
pub fn bin_dir() -> PathBuf {
    if let Ok(d) = std::env::var("SKIFF_BIN_DIR") {
        return d.into();
    }
    let exe = std::env::current_exe().expect("test exe");
    exe.parent().and_then(Path::parent).expect("target dir").to_path_buf()
}

pub fn repo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo")
        .to_path_buf()
}

/// The busybox root filesystem tarball (built once by deploy/busybox-image.sh).
pub fn busybox_tar() -> PathBuf {
    if let Ok(p) = std::env::var("SKIFF_TEST_BUSYBOX") {
        return p.into();
    }
    let out = bin_dir().join("busybox.tar");
    let status = Command::new(repo_dir().join("deploy/busybox-image.sh"))
        .arg(&out)
        .stdout(Stdio::null())
        .status()
        .expect("busybox-image.sh");
    assert!(status.success(), "building the busybox image failed");
    out
}

/// The stock Docker client: Debian's when installed, else the one on PATH.
pub fn docker_bin() -> PathBuf {
    if Path::new("/usr/bin/docker").exists() {
        "/usr/bin/docker".into()
    } else {
        "docker".into()
    }
}

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Self {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "command failed: stdout={:?} stderr={:?}",
            self.stdout, self.stderr
        );
        self
    }
    pub fn out(&self) -> &str {
        self.stdout.trim()
    }
    /// Asserts the command exited `code` with `text` in its stderr.
    #[track_caller]
    pub fn fails(self, code: i32, text: &str) -> Self {
        assert_eq!(self.code, code, "stdout={:?} stderr={:?}", self.stdout, self.stderr);
        assert!(self.stderr.contains(text), "{}", self.stderr);
        self
    }
}

pub struct Agent {
    pub name: String,
    pub root: PathBuf,
    /// The agent's data root: `<root>/data` unless the test gave one.
    pub data: PathBuf,
    pub netns: String,
    extra: Vec<String>,
    child: Option<Child>,
    finished: bool,
    peers: Vec<String>,
}

/// Another "host": a network namespace joined to the agent's by a veth
/// pair on a /24 of its own.
pub struct Peer {
    pub netns: String,
    /// The agent side's address and interface name.
    pub agent_ip: String,
    pub agent_if: String,
    pub ip: String,
}

impl Peer {
    /// Run a command in the peer's namespace.
    pub fn run(&self, program: &str, args: &[&str]) -> Run {
        Command::new("ip")
            .args(["netns", "exec", &self.netns, program])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("ip netns exec")
            .into()
    }
}

fn sh(cmd: &str) -> Run {
    Command::new("sh").arg("-c").arg(cmd).output().expect("sh").into()
}

impl Agent {
    /// Start an agent and import the busybox image into it.
    pub fn start() -> Self {
        let a = Self::start_bare();
        a.skiff(&["import", busybox_tar().to_str().expect("path"), "busybox"])
            .ok();
        a
    }

    /// Start an agent with no images.
    pub fn start_bare() -> Self {
        Self::start_with(&[])
    }

    /// Start an agent with extra daemon flags, with no images.
    pub fn start_with(flags: &[&str]) -> Self {
        Self::start_inner(flags, None)
    }

    /// Start an agent whose data root is `data` (a filesystem the test
    /// made), and import the busybox image into it.
    pub fn start_on(data: &std::path::Path) -> Self {
        let a = Self::start_inner(&[], Some(data.to_path_buf()));
        a.skiff(&["import", busybox_tar().to_str().expect("path"), "busybox"])
            .ok();
        a
    }

    /// `start_on` with extra daemon flags (`-s btrfs`).
    pub fn start_on_with(data: &std::path::Path, flags: &[&str]) -> Self {
        let a = Self::start_inner(flags, Some(data.to_path_buf()));
        a.skiff(&["import", busybox_tar().to_str().expect("path"), "busybox"])
            .ok();
        a
    }

    fn start_inner(flags: &[&str], data: Option<PathBuf>) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("skt{}x{n}", std::process::id());
        let root = PathBuf::from(format!("/tmp/{name}"));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("root dir");
        let netns = name.clone();
        sh(&format!("ip netns add {netns} && ip -n {netns} link set lo up")).ok();
        let extra = flags.iter().map(|s| s.to_string()).collect();
        let mut a = Self {
            name,
            data: data.unwrap_or_else(|| root.join("data")),
            root,
            netns,
            extra,
            child: None,
            finished: false,
            peers: Vec::new(),
        };
        a.launch();
        a
    }

    /// Make another "host" (see `Peer`); the k-th peer uses 10.200.k.0/24.
    pub fn add_peer(&mut self) -> Peer {
        let k = self.peers.len();
        let netns = format!("{}p{k}", self.name);
        let agent_if = format!("skpeer{k}");
        let (agent_ip, ip) = (format!("10.200.{k}.1"), format!("10.200.{k}.2"));
        sh(&format!(
            "ip netns add {netns} && ip -n {netns} link set lo up && \
             ip link add {agent_if} netns {ns} type veth peer name eth0 netns {netns} && \
             ip -n {ns} addr add {agent_ip}/24 dev {agent_if} && ip -n {ns} link set {agent_if} up && \
             ip -n {netns} addr add {ip}/24 dev eth0 && ip -n {netns} link set eth0 up",
            ns = self.netns
        ))
        .ok();
        self.peers.push(netns.clone());
        Peer {
            netns,
            agent_ip,
            agent_if,
            ip,
        }
    }

    pub fn sock(&self) -> PathBuf {
        self.root.join("agent.sock")
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.sock().display())
    }

    /// (Re)start the agent process in the test's network namespace.
    pub fn launch(&mut self) {
        self.launch_env(&[]);
    }

    /// (Re)start the agent with extra environment (`SKIFF_CRASH_AT=…`).
    pub fn launch_env(&mut self, env: &[(&str, &str)]) {
        self.spawn(&[], &[], env);
    }

    /// (Re)start the agent under `wrapper` (which execs it, e.g.
    /// `systemd-socket-activate -l PATH`), with `flags` added.
    pub fn launch_wrapped(&mut self, wrapper: &[&str], flags: &[&str]) {
        self.spawn(wrapper, flags, &[]);
    }

    fn spawn(&mut self, wrapper: &[&str], flags: &[&str], env: &[(&str, &str)]) {
        let _ = std::fs::remove_file(self.sock());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.join("agent.log"))
            .expect("log");
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.netns))
            .args(wrapper)
            .arg(bin_dir().join("skiff-agent"))
            .args(["--data-root", &self.data.display().to_string()])
            .args(["--exec-root", &format!("{}/run", self.root.display())])
            .args(["-H", &self.host()])
            .args(["--cgroup-parent", &self.name])
            .args(["--config-file", "/nonexistent"])
            .args(&self.extra)
            .args(flags)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start skiff-agent");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.sock().exists() {
            assert!(Instant::now() < deadline, "agent did not come up: {}", self.log());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn agent_pid(&self) -> i32 {
        self.child.as_ref().map(|c| c.id() as i32).expect("agent running")
    }

    /// The agent's PID, if one runs.
    pub fn agent_pid_if_running(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }

    /// SIGKILL the agent (containers and their supervisors keep running).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// What a reboot does to this agent's host: every process gone (agent,
    /// supervisors, containers), mounts and runtime state lost.
    pub fn simulate_reboot(&mut self) {
        self.kill_all();
        let _ = std::fs::remove_dir_all(self.root.join("run"));
    }

    /// Kill the agent, its supervisors and containers; unmount what is
    /// mounted under the test root.
    fn kill_all(&mut self) {
        self.kill9();
        let root = self.root.display().to_string();
        let _ = Command::new("pkill")
            .args(["-9", "-f", &format!("skiff-(agent shim|shim --socket) {root}/")])
            .output();
        kill_cgroup_tree(&self.name);
        let mut mounts = self.mounts();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("agent.log")).unwrap_or_default()
    }

    pub fn skiff(&self, args: &[&str]) -> Run {
        Command::new(bin_dir().join("skiff"))
            .arg("-H")
            .arg(self.host())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("skiff")
            .into()
    }

    /// Run skiff with `input` on stdin.
    pub fn skiff_stdin(&self, args: &[&str], input: impl AsRef<[u8]>) -> Run {
        let mut child = Command::new(bin_dir().join("skiff"))
            .arg("-H")
            .arg(self.host())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("skiff");
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        // skiff may refuse before reading everything (a hostile archive):
        // a broken pipe is its answer, not the test's failure.
        let _ = stdin.write_all(input.as_ref());
        drop(stdin);
        child.wait_with_output().expect("wait").into()
    }

    /// Run a command line under a pseudo-terminal (util-linux `script`),
    /// feeding `input`; returns what the terminal showed.
    pub fn in_pty(&self, cmdline: &str, input: &str) -> Run {
        let full = format!(
            "printf '%s' '{}' | script -qec '{}' /dev/null",
            input.replace('\'', "'\\''"),
            cmdline
        );
        let mut r = sh(&full);
        r.stdout = r.stdout.replace('\r', "");
        r
    }

    /// Run a command inside the agent's network namespace (to reach its
    /// tcp:// endpoints on the namespace's loopback).
    pub fn in_netns(&self, program: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
        Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.netns))
            .arg(program)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .expect("nsenter")
            .into()
    }

    pub fn docker(&self, args: &[&str]) -> Run {
        Command::new(docker_bin())
            .env("DOCKER_HOST", self.host())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("docker")
            .into()
    }

    pub fn skiff_cmdline(&self) -> String {
        format!("{} -H {}", bin_dir().join("skiff").display(), self.host())
    }

    /// `events` of the last minute matching `filters` (`key=value`), each
    /// printed with `format` (Docker's default line when empty).
    pub fn past_events(&self, filters: &[&str], format: &str) -> Run {
        let mut args = vec!["events", "--since", "1m", "--until", "0s"];
        for f in filters {
            args.extend(["--filter", f]);
        }
        if !format.is_empty() {
            args.extend(["--format", format]);
        }
        self.skiff(&args).ok()
    }

    pub fn inspect(&self, name: &str, fmt: &str) -> String {
        self.skiff(&["inspect", "-f", fmt, name]).ok().out().to_string()
    }

    /// Poll `f` until it holds (for state that settles asynchronously).
    #[track_caller]
    pub fn eventually<F: FnMut() -> bool>(&self, what: &str, mut f: F) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !f() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}\nagent log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Remove every container, stop the agent, and check that no mount,
    /// cgroup, process or namespace of this test remains.
    pub fn finish(mut self) {
        // As a user would: remove every container, then stop the agent.
        // Whatever the agent left is a leak; only then clean by force.
        self.remove_containers();
        self.kill9();
        let mut leaks = self.leaks();
        self.cleanup();
        if sh("ip netns list")
            .stdout
            .lines()
            .any(|l| l.split_whitespace().next() == Some(self.netns.as_str()))
        {
            leaks.push(format!("netns {}", self.netns));
        }
        self.finished = true;
        let _ = std::fs::remove_dir_all(&self.root);
        assert!(leaks.is_empty(), "test left things behind: {leaks:?}");
    }

    fn remove_containers(&self) {
        if self.child.is_some() {
            let ids = self.skiff(&["ps", "-aq", "--no-trunc"]).stdout;
            for id in ids.split_whitespace() {
                let _ = self.skiff(&["rm", "-f", id]);
            }
        }
    }

    fn cleanup(&mut self) {
        self.remove_containers();
        self.kill_all();
        let _ = sh(&format!("ip netns del {}", self.netns));
        for p in self.peers.drain(..) {
            let _ = sh(&format!("ip netns del {p}"));
        }
    }

    /// The mounts under the test root and the data root.
    pub fn host_mounts(&self) -> Vec<String> {
        self.mounts()
    }

    fn mounts(&self) -> Vec<String> {
        let root = self.root.display().to_string();
        let mut out = mounts_under(&root);
        if !self.data.starts_with(&self.root) {
            out.extend(mounts_under(&self.data.display().to_string()));
        }
        out
    }

    fn leaks(&self) -> Vec<String> {
        let root = self.root.display().to_string();
        let mut out: Vec<String> = self.mounts().into_iter().map(|m| format!("mount {m}")).collect();
        out.extend(container_cgroups(&self.name));
        let procs: Run = Command::new("pgrep")
            .args(["-f", &format!("{root}/")])
            .output()
            .expect("pgrep")
            .into();
        let procs = procs.stdout;
        out.extend(procs.split_whitespace().map(|p| format!("process {p}")));
        // Networking happens inside the test's namespace only: the host
        // must never see skiff's bridge or firewall table.
        if sh("nft list table ip skiff").code == 0 {
            out.push("nftables table ip skiff in the host namespace".into());
        }
        if sh("ip link show skiff0").code == 0 {
            out.push("bridge skiff0 in the host namespace".into());
        }
        out.extend(self.container_state());
        out
    }

    /// What the agent keeps per container, on disk and in its namespace:
    /// once every container is removed through the product, none of it may
    /// remain (records, runtime state, netns files, host-side veths).
    fn container_state(&self) -> Vec<String> {
        let run = self.root.join("run");
        let mut out = Vec::new();
        // With --userns-remap the agent's state is under data/UID.GID/.
        let remapped = std::fs::read_dir(&self.data)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.split('.').count() == 2 && n.split('.').all(|p| p.parse::<u32>().is_ok())
            })
            .map(|e| e.path().join("containers"));
        let dirs = [
            self.data.join("containers"),
            run.join("containers"),
            run.join("s"),
            run.join("netns"),
            run.join("userns"),
        ];
        for dir in dirs.into_iter().chain(remapped) {
            let Ok(rd) = std::fs::read_dir(&dir) else { continue };
            out.extend(rd.flatten().map(|e| format!("file {}", e.path().display())));
        }
        // The agent deletes a stopped container's interfaces itself, so
        // their host ends are gone when `rm` returns (1 s of grace).
        let veths = || -> Vec<String> {
            let list = sh(&format!("ip -n {} -o link show type veth", self.netns)).stdout;
            list.lines()
                .filter_map(|l| l.split(": ").nth(1))
                .map(|n| n.split('@').next().unwrap_or(n))
                .filter(|n| n.starts_with("veth"))
                .map(|n| format!("veth {n}"))
                .collect()
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        let mut left = veths();
        while !left.is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(100));
            left = veths();
        }
        out.extend(left);
        out
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if !self.finished {
            self.cleanup();
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

fn mounts_under(root: &str) -> Vec<String> {
    mounts_under_in("self", root)
}

/// The mount points under `root` in the mount namespace of process `pid`
/// (`self`, or a PID: a cluster host's mounts live in a namespace of its own).
pub(crate) fn mounts_under_in(pid: &str, root: &str) -> Vec<String> {
    std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&format!("{root}/")))
        .map(String::from)
        .collect()
}

/// Leaks under an agent's cgroup parent: the parent stays (as Docker's
/// /docker does); no container's cgroup may, nor any process in one.
pub(crate) fn container_cgroups(parent: &str) -> Vec<String> {
    let mut out = Vec::new();
    for dir in cgroup_dirs(parent) {
        let Ok(rd) = std::fs::read_dir(&dir) else { continue };
        for e in rd.flatten().filter(|e| e.path().is_dir()) {
            let procs = std::fs::read_to_string(e.path().join("cgroup.procs")).unwrap_or_default();
            let procs: Vec<&str> = procs.split_whitespace().collect();
            if procs.is_empty() {
                out.push(format!("cgroup {}", e.path().display()));
            } else {
                out.push(format!(
                    "cgroup {} with processes {}",
                    e.path().display(),
                    procs.iter().map(|p| describe_pid(p)).collect::<Vec<_>>().join(", ")
                ));
            }
        }
    }
    out
}

/// A PID with its command line, for leak reports.
pub(crate) fn describe_pid(pid: &str) -> String {
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
    format!("{pid} ({})", cmd.trim())
}

/// The cgroup parent directories of an agent (every v1 controller, or v2).
pub(crate) fn cgroup_dirs(parent: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
        for e in rd.flatten() {
            let p = e.path().join(parent);
            if p.is_dir() {
                out.push(p);
            }
        }
    }
    let v2 = Path::new("/sys/fs/cgroup").join(parent);
    if v2.is_dir() && !out.contains(&v2) {
        out.push(v2);
    }
    out
}

/// Kill every process under a cgroup parent and remove its cgroups.
pub(crate) fn kill_cgroup_tree(parent: &str) {
    for dir in cgroup_dirs(parent) {
        kill_cgroup(&dir);
    }
}

fn kill_cgroup(dir: &Path) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.path().is_dir() {
                kill_cgroup(&e.path());
            }
        }
    }
    for _ in 0..50 {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.split_whitespace().filter_map(|p| p.parse::<i32>().ok()) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
