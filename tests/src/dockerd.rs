//! A real Docker 20.10 daemon (Debian's `docker.io`) for differential
//! tests: in a test's network namespace (so it shares the test agent's
//! loopback, and a registry there), with its own data root, exec root,
//! socket, cgroup parent, bridge (172.31/16) and key file, and no iptables
//! rules, so the host is untouched. Dropping it stops the daemon and
//! removes everything it made.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::{busybox_tar, docker_bin, kill_cgroup_tree, mounts_under_in, Run};

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub struct Dockerd {
    pub name: String,
    pub root: PathBuf,
    /// The network namespace it runs in (not its own: not removed).
    pub netns: String,
    child: Option<Child>,
}

fn sh(cmd: &str) -> Run {
    Command::new("sh").arg("-c").arg(cmd).output().expect("sh").into()
}

impl Dockerd {
    /// Start a daemon in network namespace `netns` and import the busybox
    /// image into it as `busybox`, exactly as the test agents get it.
    pub fn start_in(netns: &str) -> Self {
        assert!(
            Path::new("/usr/sbin/dockerd").exists(),
            "dockerd is not installed: deploy/setup.sh --with-docker-client installs docker.io"
        );
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("skd{}x{n}", std::process::id());
        let root = PathBuf::from(format!("/tmp/{name}"));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("root");
        // The trust key goes in the test's root, not /etc/docker.
        let conf = serde_json::json!({ "deprecated-key-path": root.join("key.json") });
        std::fs::write(root.join("daemon.json"), conf.to_string()).expect("daemon.json");
        let r = root.display();
        let log = std::fs::File::create(root.join("dockerd.log")).expect("log");
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{netns}"))
            .arg("/usr/sbin/dockerd")
            .args(["--data-root", &format!("{r}/data"), "--exec-root", &format!("{r}/run")])
            .args([
                "-H",
                &format!("unix://{r}/docker.sock"),
                "--pidfile",
                &format!("{r}/docker.pid"),
            ])
            .args(["--config-file", &format!("{r}/daemon.json")])
            .args(["--bip", "172.31.0.1/16", "--iptables=false", "--ip-masq=false"])
            .args(["--exec-opt", "native.cgroupdriver=cgroupfs", "--cgroup-parent", &name])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start dockerd");
        let mut d = Self {
            netns: netns.to_string(),
            name,
            root,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while d.docker(&["version"]).code != 0 {
            let exited = d.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "dockerd did not come up: {}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        d.docker(&["import", busybox_tar().to_str().expect("path"), "busybox"])
            .ok();
        d
    }

    pub fn sock(&self) -> PathBuf {
        self.root.join("docker.sock")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("dockerd.log")).unwrap_or_default()
    }

    /// The stock docker client against this daemon.
    pub fn docker(&self, args: &[&str]) -> Run {
        Command::new(docker_bin())
            .arg("-H")
            .arg(format!("unix://{}", self.sock().display()))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("docker")
            .into()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let ids = self.docker(&["ps", "-aq"]).stdout;
        for id in ids.split_whitespace() {
            let _ = self.docker(&["rm", "-f", "-v", id]);
        }
        if let Some(mut c) = self.child.take() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), nix::sys::signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(15);
            while c.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        let root = self.root.display().to_string();
        // containerd and its shims name the root on their command lines.
        let _ = sh(&format!("pkill -9 -f '{root}/'"));
        kill_cgroup_tree(&self.name);
        for m in mounts_under_in("self", &root).iter().rev() {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        // Its bridge lives in the test's namespace, which outlives it.
        let _ = sh(&format!("ip -n {} link del docker0", self.netns));
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
