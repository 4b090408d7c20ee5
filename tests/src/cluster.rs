//! A local cluster per test, made by `deploy/local-cluster.sh` (the same
//! script the demo uses): one controller (or several, each in a network
//! namespace of its own) and N agents, each agent in its own network and
//! mount namespace, on a LAN of the test's own. Names,
//! directories and subnets are unique per test so tests run in parallel.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::{bin_dir, cgroup_dirs, mounts_under, repo_dir, sh, Run};

static CLUSTERS: AtomicU32 = AtomicU32::new(0);

pub struct Cluster {
    pub name: String,
    pub dir: PathBuf,
    /// The LAN's first three octets; the controller is at `.1`, host hI at `.(10+I)`.
    pub net: String,
    /// Extra settings for the script (`SKIFF_CLUSTER_…`).
    env: Vec<(String, String)>,
    /// How many controllers (1: on the machine at `.1`; more: controller I
    /// in its own namespace at `.(1+I)`).
    pub controllers: u32,
    finished: bool,
}

impl Cluster {
    /// Bring up a controller and `n` joined agents.
    pub fn up(n: u32) -> Cluster {
        Self::up_with(n, &[])
    }

    /// The same, with extra settings for `deploy/local-cluster.sh`.
    pub fn up_with(n: u32, env: &[(&str, &str)]) -> Cluster {
        Self::up_ha(n, 1, env)
    }

    /// `n` agents and `controllers` controllers.
    pub fn up_ha(n: u32, controllers: u32, env: &[(&str, &str)]) -> Cluster {
        let k = CLUSTERS.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let c = Cluster {
            name: format!("c{}{k}", pid % 10000),
            dir: PathBuf::from(format!("/tmp/skc{pid}x{k}")),
            net: format!("10.{}.{}", 201 + k, pid % 250),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            controllers,
            finished: false,
        };
        c.script(&["up", &n.to_string(), "--controllers", &controllers.to_string()])
            .ok();
        c
    }

    /// Run `deploy/local-cluster.sh` with this cluster's settings.
    pub fn script(&self, args: &[&str]) -> Run {
        Command::new(repo_dir().join("deploy/local-cluster.sh"))
            .args(args)
            .env("SKIFF_CLUSTER_DIR", &self.dir)
            .env("SKIFF_CLUSTER_NAME", &self.name)
            .env("SKIFF_CLUSTER_NET", &self.net)
            .env("SKIFF_BIN_DIR", bin_dir())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .output()
            .expect("local-cluster.sh")
            .into()
    }

    /// Where the CLI reaches the controllers: every address, comma-separated.
    pub fn controller(&self) -> String {
        if self.controllers == 1 {
            return format!("{}.1:7443", self.net);
        }
        (1..=self.controllers)
            .map(|i| self.controller_addr(i))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Controller I's own address (several controllers).
    pub fn controller_addr(&self, i: u32) -> String {
        format!("{}.{}:7443", self.net, 1 + i)
    }

    /// The admin certificate `init` wrote.
    pub fn admin_certs(&self) -> PathBuf {
        self.dir.join("ctl/admin")
    }

    /// Host hI's agent: its data root.
    pub fn agent_data(&self, i: u32) -> PathBuf {
        self.dir.join(format!("h{i}/data"))
    }

    /// skiff against the controller with the admin certificate.
    pub fn skiff(&self, args: &[&str]) -> Run {
        self.skiff_with(&self.admin_certs(), args)
    }

    /// skiff against the controller with the certificates in `certs`
    /// (ca.pem, cert.pem, key.pem).
    pub fn skiff_with(&self, certs: &std::path::Path, args: &[&str]) -> Run {
        Command::new(bin_dir().join("skiff"))
            .env("SKIFF_HOST", format!("tcp://{}", self.controller()))
            .env("SKIFF_TLS_VERIFY", "1")
            .env("SKIFF_CERT_PATH", certs)
            .env_remove("SKIFF_NODE")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("skiff")
            .into()
    }

    /// `skiff cluster login` with a fresh `role` token (admin or
    /// readonly), the certificates written to `dir`.
    pub fn login(&self, role: &str, dir: &std::path::Path) -> Run {
        let token = self
            .skiff(&["cluster", "join-token", role, "-q"])
            .ok()
            .out()
            .to_string();
        self.skiff(&[
            "cluster",
            "login",
            &token,
            &self.controller(),
            "--out",
            dir.to_str().unwrap(),
        ])
        .ok()
    }

    /// skiff straight at host hI's agent socket.
    pub fn skiff_on(&self, i: u32, args: &[&str]) -> Run {
        Command::new(bin_dir().join("skiff"))
            .arg("-H")
            .arg(format!("unix://{}/h{i}/agent.sock", self.dir.display()))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("skiff")
            .into()
    }

    /// Run a command in host hI's network namespace.
    pub fn on_host(&self, i: u32, program: &str, args: &[&str]) -> Run {
        Command::new("ip")
            .args(["netns", "exec", &format!("{}-h{i}", self.name), program])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("ip netns exec")
            .into()
    }

    pub fn log(&self) -> String {
        let mut s = std::fs::read_to_string(self.dir.join("controller.log")).unwrap_or_default();
        for i in 2..=self.controllers {
            if let Ok(c) = std::fs::read_to_string(self.dir.join(format!("controller{i}.log"))) {
                s.push_str(&format!("\n--- controller {i} log ---\n{c}"));
            }
        }
        for i in 1..10 {
            if let Ok(a) = std::fs::read_to_string(self.dir.join(format!("h{i}/agent.log"))) {
                s.push_str(&format!("\n--- h{i} agent log ---\n{a}"));
            }
        }
        s
    }

    /// Load the busybox image onto every node, through the controller.
    pub fn import_busybox(&self) {
        self.skiff(&["import", super::busybox_tar().to_str().expect("path"), "busybox"])
            .ok();
    }

    /// Remove a service and wait until no node holds any of its containers
    /// (nor any other).
    #[track_caller]
    pub fn remove_service(&self, name: &str) {
        self.skiff(&["service", "rm", name]).ok();
        self.eventually(15, "all copies gone", || {
            self.skiff(&["ps", "-aq"]).stdout.trim().is_empty()
        });
    }

    /// GET a path from the controller with the admin certificate; the body.
    pub fn get(&self, path: &str) -> String {
        use skiff_client::{body_bytes, Body, Client, TlsOptions};
        let tls = TlsOptions::in_dir(&self.admin_certs());
        let client = Client::from_host(&format!("tcp://{}", self.controller()), Some(tls)).expect("client");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let resp = client.send(hyper::Method::GET, path, Body::Empty).await.expect(path);
            String::from_utf8_lossy(&body_bytes(resp).await).into_owned()
        })
    }

    /// A node's field as `node inspect -f` prints it.
    pub fn node(&self, node: &str, fmt: &str) -> String {
        self.skiff(&["node", "inspect", "-f", fmt, node]).ok().out().to_string()
    }

    /// Poll `f` until it holds, for at most `secs` seconds.
    #[track_caller]
    pub fn eventually<F: FnMut() -> bool>(&self, secs: u64, what: &str, mut f: F) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !f() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Remove everything through the product and check that the hosts hold
    /// nothing of it (`product_leaks`); then tear down with the script and
    /// check that nothing of the cluster remains: namespaces, links, mounts,
    /// cgroups, processes.
    pub fn finish(mut self) {
        let mut leaks = self.product_leaks();
        // The logs go with `down`: keep them for the report.
        let log = if leaks.is_empty() { String::new() } else { self.log() };
        let down = self.script(&["down"]);
        self.finished = true;
        if down.code != 0 {
            leaks.push(format!("down failed: {}", down.stderr));
        }
        let prefix = format!("{}-", self.name);
        for ns in sh("ip netns list").stdout.lines() {
            if ns.starts_with(&prefix) {
                leaks.push(format!("netns {ns}"));
            }
        }
        if sh(&format!("ip link show {}-host", self.name)).code == 0 {
            leaks.push(format!("link {}-host", self.name));
        }
        let dir = self.dir.display().to_string();
        leaks.extend(mounts_under(&dir).into_iter().map(|m| format!("mount {m}")));
        for i in 1..10 {
            leaks.extend(
                cgroup_dirs(&format!("{}-h{i}", self.name))
                    .into_iter()
                    .filter(|d| d.exists())
                    .map(|d| format!("cgroup {}", d.display())),
            );
        }
        let procs: Run = Command::new("pgrep")
            .args(["-f", &format!("{dir}/")])
            .output()
            .expect("pgrep")
            .into();
        let procs = procs.stdout;
        leaks.extend(procs.split_whitespace().map(|p| format!("process {p}")));
        if self.dir.exists() {
            leaks.push(format!("directory {dir}"));
        }
        assert!(leaks.is_empty(), "cluster test left things behind: {leaks:#?}\n{log}");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.script(&["down"]);
        }
    }
}
