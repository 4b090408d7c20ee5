//! A real rsyslogd (Debian's), started in a test agent's network namespace
//! with a config of the test's inputs, writing what it receives to one file.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Agent;

pub struct Rsyslog {
    child: Child,
    pub dir: PathBuf,
    pub out: PathBuf,
    /// Its unix datagram input.
    pub sock: PathBuf,
}

impl Rsyslog {
    /// Listening on UDP `udp`, TCP `tcp` (127.0.0.1) and a unix socket.
    pub fn start(a: &Agent, udp: u16, tcp: u16) -> Self {
        Self::start_with(
            a,
            "rsyslog",
            &format!(
                "module(load=\"imudp\")\ninput(type=\"imudp\" address=\"127.0.0.1\" port=\"{udp}\")\n\
                 module(load=\"imtcp\")\ninput(type=\"imtcp\" address=\"127.0.0.1\" port=\"{tcp}\")\n"
            ),
        )
    }

    /// With `inputs` (rsyslog config lines) besides the unix socket, in
    /// `<agent root>/<name>/` (`{dir}` in `inputs` is replaced by it).
    pub fn start_with(a: &Agent, name: &str, inputs: &str) -> Self {
        let dir = a.root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let (out, sock, pid) = (dir.join("out.log"), dir.join("log.sock"), dir.join("rsyslogd.pid"));
        let conf = dir.join("rsyslog.conf");
        std::fs::write(
            &conf,
            format!(
                "global(workDirectory=\"{d}\")\n\
                 module(load=\"imuxsock\" SysSock.Use=\"off\")\n\
                 input(type=\"imuxsock\" Socket=\"{s}\")\n\
                 {inputs}\
                 *.* action(type=\"omfile\" file=\"{o}\" template=\"RSYSLOG_TraditionalFileFormat\")\n",
                d = dir.display(),
                s = sock.display(),
                o = out.display(),
                inputs = inputs.replace("{dir}", &dir.display().to_string()),
            ),
        )
        .unwrap();
        let rsyslogd = ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("rsyslogd is not installed: run deploy/setup.sh --with-docker-client (Debian's rsyslog)");
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", a.netns))
            .arg(rsyslogd)
            .args(["-n", "-f"])
            .arg(&conf)
            .arg("-i")
            .arg(&pid)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(dir.join("rsyslogd.err")).unwrap()))
            .spawn()
            .expect("start rsyslogd");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !(sock.exists() && pid.exists()) {
            assert!(
                Instant::now() < deadline,
                "rsyslogd did not come up (config {})",
                conf.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(300));
        Self { child, dir, out, sock }
    }

    /// What it has written once `what` is in it (10 s at most).
    pub fn wait_for(&self, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = std::fs::read_to_string(&self.out).unwrap_or_default();
            if got.contains(what) {
                return got;
            }
            let err = std::fs::read_to_string(self.dir.join("rsyslogd.err")).unwrap_or_default();
            assert!(
                Instant::now() < deadline,
                "rsyslog never got {what:?}; it has:\n{got}\nits errors:\n{err}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What it has written so far.
    pub fn got(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
