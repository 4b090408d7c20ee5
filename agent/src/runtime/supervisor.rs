//! Agent side of a container's supervisor: launch one, connect to one
//! (also one started by an earlier agent process), and talk to it.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::UnixStream;
use tokio::sync::{mpsc, Mutex};

use super::protocol::{self, ShimConfig};

/// Start `skiff-agent shim DIR` for the config in `DIR/shim.json`; return
/// once the process is created (init waiting for START) or exec'd.
pub async fn launch(dir: &Path, cfg: &ShimConfig) -> Result<i32> {
    skiff_common::fsutil::write_json_volatile(&dir.join("shim.json"), cfg)?;
    let (ready_r, ready_w): (OwnedFd, OwnedFd) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let exe = std::env::current_exe().context("locating skiff-agent binary")?;
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg("shim")
        .arg(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    // The supervisor's own errors go to a file beside it.
    cmd.stderr(std::fs::File::create(dir.join("shim.log"))?);
    let wfd = ready_w.as_raw_fd();
    let lock = std::fs::File::create(dir.join(protocol::LOCK_FILE)).context("creating the supervisor lock")?;
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } < 0 {
        return Err(std::io::Error::last_os_error()).context("locking the supervisor lock");
    }
    let lfd = lock.as_raw_fd();
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(wfd, 3) < 0 || libc::dup2(lfd, protocol::LOCK_FD) < 0 || libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().context("starting container supervisor")?;
    crate::crashpoint::at("supervisor-spawned");
    // The supervisor's copy of the lock keeps it held from here on.
    drop(lock);
    drop(ready_w);
    // Reap the supervisor whenever it ends, so it never lingers as a zombie.
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    let mut line = String::new();
    let file = tokio::fs::File::from_std(std::fs::File::from(ready_r));
    let mut reader = BufReader::new(file);
    tokio::time::timeout(Duration::from_secs(60), reader.read_line(&mut line))
        .await
        .map_err(|_| anyhow!("container supervisor did not report in 60s"))??;
    let line = line.trim();
    if let Some(pid) = line.strip_prefix("ok ") {
        return pid.parse().context("supervisor reported a bad pid");
    }
    if let Some(err) = line.strip_prefix("err ") {
        let (kind, message) = err.split_once(' ').unwrap_or(("0", err));
        return Err(protocol::LaunchError {
            kind: protocol::LaunchFailure::from_byte(kind.parse().unwrap_or(0)),
            message: message.to_string(),
        }
        .into());
    }
    let log = std::fs::read_to_string(dir.join("shim.log")).unwrap_or_default();
    bail!("container supervisor failed: {}", log.trim())
}

/// Does a supervisor live in `dir` (its liveness lock is held)?
pub fn alive(dir: &Path) -> bool {
    let Ok(f) = std::fs::File::open(dir.join(protocol::LOCK_FILE)) else {
        return false;
    };
    // SAFETY: flock on a descriptor we own; closing it drops our lock.
    let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
    r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EWOULDBLOCK)
}

/// Find the supervisor a start in `dir` launched: connect to its socket
/// (waiting while it lives but has not bound it yet) and read the PID it
/// reports first. `None`: no supervisor, or it ended without a container.
pub async fn find(dir: &Path, socket: &Path) -> Option<(Connection, mpsc::UnboundedReceiver<Event>, i32)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok((conn, mut events)) = Connection::connect(socket).await {
            return match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Some(Event::Started(pid))) => Some((conn, events, pid)),
                _ => None,
            };
        }
        if !alive(dir) || tokio::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What a supervisor sends up.
#[derive(Debug, Clone)]
pub enum Event {
    Output(u8, bytes::Bytes),
    Started(i32),
    Exited(i32),
}

/// A live connection to a supervisor.
#[derive(Clone)]
pub struct Connection {
    writer: Arc<Mutex<OwnedWriteHalf>>,
}

impl Connection {
    /// Connect; events arrive on the returned channel, which closes when
    /// the supervisor goes away.
    pub async fn connect(socket: &Path) -> Result<(Self, mpsc::UnboundedReceiver<Event>)> {
        let stream = UnixStream::connect(socket)
            .await
            .with_context(|| format!("connecting to {}", socket.display()))?;
        let (mut r, w) = stream.into_split();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut head = [0u8; 5];
            loop {
                if r.read_exact(&mut head).await.is_err() {
                    break;
                }
                let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
                let mut payload = vec![0u8; len];
                if r.read_exact(&mut payload).await.is_err() {
                    break;
                }
                let int = || {
                    payload
                        .get(..4)
                        .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                        .unwrap_or(-1)
                };
                let ev = match head[0] {
                    protocol::STDOUT | protocol::STDERR => Event::Output(head[0], payload.into()),
                    protocol::STARTED => Event::Started(int()),
                    protocol::EXIT => Event::Exited(int()),
                    _ => continue,
                };
                if tx.send(ev).is_err() {
                    break;
                }
            }
        });
        Ok((
            Self {
                writer: Arc::new(Mutex::new(w)),
            },
            rx,
        ))
    }

    pub async fn send(&self, kind: u8, payload: &[u8]) -> Result<()> {
        let mut buf = Vec::with_capacity(5 + payload.len());
        buf.push(kind);
        buf.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        buf.extend_from_slice(payload);
        self.writer
            .lock()
            .await
            .write_all(&buf)
            .await
            .context("writing to supervisor")
    }

    pub async fn signal(&self, sig: i32) -> Result<()> {
        self.send(protocol::SIGNAL, &sig.to_be_bytes()).await
    }

    pub async fn resize(&self, rows: u16, cols: u16) -> Result<()> {
        let mut p = rows.to_be_bytes().to_vec();
        p.extend_from_slice(&cols.to_be_bytes());
        self.send(protocol::RESIZE, &p).await
    }
}
