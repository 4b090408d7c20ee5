//! The wire between the agent and a container's supervisor: frames of
//! `[kind u8][len u32 BE][payload]` over the supervisor's unix socket.

use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::io::{self, Write};
use std::os::fd::RawFd;
use std::path::PathBuf;

pub use crate::log::LogTarget;

/// Supervisor → agent: output of the process.
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
/// Supervisor → agent: the process exited; payload is the i32 exit code.
pub const EXIT: u8 = 3;
/// Supervisor → agent: the process runs; payload is its i32 host PID.
pub const STARTED: u8 = 4;
/// Agent → supervisor.
pub const STDIN: u8 = 0;
pub const STDIN_CLOSE: u8 = 5;
/// Payload: rows u16 BE, cols u16 BE.
pub const RESIZE: u8 = 6;
/// Payload: signal number i32 BE.
pub const SIGNAL: u8 = 7;

pub fn write_frame<W: Write>(w: &mut W, kind: u8, payload: &[u8]) -> io::Result<()> {
    let mut buf = Vec::with_capacity(5 + payload.len());
    buf.push(kind);
    buf.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    buf.extend_from_slice(payload);
    w.write_all(&buf)
}

/// Parse complete frames from the front of `buf`, leaving a partial one.
pub fn take_frames(buf: &mut Vec<u8>) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while buf.len() - pos >= 5 {
        let len = u32::from_be_bytes([buf[pos + 1], buf[pos + 2], buf[pos + 3], buf[pos + 4]]) as usize;
        if buf.len() - pos - 5 < len {
            break;
        }
        out.push((buf[pos], buf[pos + 5..pos + 5 + len].to_vec()));
        pos += 5 + len;
    }
    buf.drain(..pos);
    out
}

/// The record a supervisor leaves when its process ends; it outlives the
/// agent, which reads it when it comes back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExitRecord {
    pub code: i32,
    pub finished_at: String,
    #[serde(default)]
    pub oom_killed: bool,
}

/// What the monitor (`skiff-shim`) is handed when the supervisor execs it:
/// all on its command line, the descriptors inherited (-1 where absent).
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorArgs {
    /// The process to reap: the supervisor's child.
    pub pid: i32,
    /// The bound supervisor socket the agent connects to.
    pub listener: RawFd,
    pub stdout: RawFd,
    pub stderr: RawFd,
    pub stdin: RawFd,
    /// The pty master, for a container with a terminal.
    pub pty: RawFd,
    /// Removed once the exit is recorded.
    pub socket: PathBuf,
    pub exit_file: PathBuf,
    pub log: Option<LogTarget>,
}

impl MonitorArgs {
    pub fn to_args(&self) -> Vec<OsString> {
        let mut out: Vec<OsString> = Vec::new();
        let mut put = |k: &str, v: OsString| {
            out.push(format!("--{k}").into());
            out.push(v);
        };
        // The socket first: it names the agent's exec root, which is how
        // scripts find the supervisors of one agent (`pkill -f`).
        put("socket", self.socket.clone().into());
        put("pid", self.pid.to_string().into());
        let fds = [self.listener, self.stdout, self.stderr, self.stdin, self.pty];
        put("fds", fds.map(|f| f.to_string()).join(",").into());
        put("exit-file", self.exit_file.clone().into());
        if let Some(l) = &self.log {
            put("log", serde_json::to_string(l).expect("log target as JSON").into());
        }
        out
    }

    pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Self, String> {
        let mut it = args.into_iter();
        let mut pid = None;
        let mut fds = None;
        let mut socket = None;
        let mut exit_file = None;
        let mut log: Option<LogTarget> = None;
        while let Some(k) = it.next() {
            let k = k.to_string_lossy().into_owned();
            let v = it.next().ok_or_else(|| format!("{k} needs a value"))?;
            let text = || v.to_string_lossy().into_owned();
            let num =
                |what: &str| -> Result<u64, String> { text().parse().map_err(|_| format!("bad {what}: {}", text())) };
            match k.as_str() {
                "--pid" => pid = Some(num("pid")? as i32),
                "--fds" => {
                    let n: Vec<RawFd> = text()
                        .split(',')
                        .map(|f| f.parse().map_err(|_| format!("bad descriptor list: {}", text())))
                        .collect::<Result<_, _>>()?;
                    let [a, b, c, d, e] = n[..] else {
                        return Err("--fds needs 5 descriptors".into());
                    };
                    fds = Some([a, b, c, d, e]);
                }
                "--socket" => socket = Some(PathBuf::from(v)),
                "--exit-file" => exit_file = Some(PathBuf::from(v)),
                "--log" => log = Some(serde_json::from_str(&text()).map_err(|e| format!("bad --log: {e}"))?),
                other => return Err(format!("unknown argument {other}")),
            }
        }
        let [listener, stdout, stderr, stdin, pty] = fds.ok_or("--fds is required")?;
        Ok(Self {
            pid: pid.ok_or("--pid is required")?,
            listener,
            stdout,
            stderr,
            stdin,
            pty,
            socket: socket.ok_or("--socket is required")?,
            exit_file: exit_file.ok_or("--exit-file is required")?,
            log,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitor_args_round_trip() {
        let a = MonitorArgs {
            pid: 42,
            listener: 3,
            stdout: 4,
            stderr: 5,
            stdin: -1,
            pty: -1,
            socket: "/run/s/abc.sock".into(),
            exit_file: "/var/lib/c/exit.json".into(),
            log: Some(LogTarget {
                driver: "syslog".into(),
                opts: [("tag".to_string(), "{{.Name}}".to_string())].into_iter().collect(),
                dir: "/var/lib/c".into(),
                info: crate::log::Info {
                    id: "c".repeat(64),
                    name: "web".into(),
                    ..Default::default()
                },
            }),
        };
        assert_eq!(MonitorArgs::parse(a.to_args()).unwrap(), a);
        let b = MonitorArgs { log: None, ..a };
        assert_eq!(MonitorArgs::parse(b.to_args()).unwrap(), b);
        assert!(MonitorArgs::parse(["--pid".into()]).is_err());
    }

    #[test]
    fn frames_split_and_join() {
        let mut buf = Vec::new();
        write_frame(&mut buf, STDOUT, b"hello").unwrap();
        write_frame(&mut buf, EXIT, &3i32.to_be_bytes()).unwrap();
        buf.extend_from_slice(&[STDERR, 0, 0]);
        let frames = take_frames(&mut buf);
        assert_eq!(
            frames,
            vec![(STDOUT, b"hello".to_vec()), (EXIT, 3i32.to_be_bytes().to_vec())]
        );
        assert_eq!(buf, vec![STDERR, 0, 0]);
    }
}
