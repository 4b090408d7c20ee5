//! The per-container supervisor (`skiff-agent shim DIR`).
//!
//! A small single-threaded process, started by the agent and independent of
//! it: it creates the container through libcontainer (so the container's
//! init is its child), owns the init's stdio or pty, writes the json-file
//! log, relays output to whoever is connected to its socket (the agent),
//! reaps the init, and records the exit status on disk. The agent may die
//! and come back; the supervisor and the container carry on.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::syscall::syscall::SyscallType;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

use super::protocol::*;
use crate::logs::jsonfile;
use skiff_common::fsutil::{read_json, write_json_atomic};

/// Entry point of `skiff-agent shim DIR`. Reports readiness (or the error)
/// on fd 3, then supervises until the process exits.
pub fn main(dir: &Path) -> i32 {
    // SAFETY: fd 3 is the ready pipe the agent passed us; we own it.
    let ready = unsafe { File::from_raw_fd(3) };
    match run(dir, ready) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("skiff shim: {e:#}");
            1
        }
    }
}

struct Stdio {
    /// Our ends: output sources and the stdin sink.
    out: Option<OwnedFd>,
    err: Option<OwnedFd>,
    stdin: Option<OwnedFd>,
    /// The pty master when tty.
    pty: Option<OwnedFd>,
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    Ok((r, w))
}

fn set_nonblocking(fd: RawFd) {
    // SAFETY: plain fcntl on a descriptor we own.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
}

fn receive_pty(listener: &UnixListener) -> Result<OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let (conn, _) = listener.accept().context("console socket accept")?;
    let mut buf = [0u8; 64];
    let mut iov = [io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(conn.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC)?;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: the kernel just gave us this descriptor.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err(anyhow!("no pty master received on the console socket"))
}

fn pidfd_open(pid: Pid) -> Result<OwnedFd> {
    // SAFETY: pidfd_open has no memory arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error()).context("pidfd_open");
    }
    // SAFETY: fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn run(dir: &Path, mut ready: File) -> Result<i32> {
    let cfg: ShimConfig = read_json(&dir.join("shim.json")).context("reading shim.json")?;
    let _ = std::fs::remove_file(&cfg.socket);
    let listener = UnixListener::bind(&cfg.socket).context("binding supervisor socket")?;

    // Build the container (created, not yet running) or the exec process.
    let built = create(&cfg);
    if cfg.tty {
        let mut p = cfg.socket.clone().into_os_string();
        p.push(".tty");
        let _ = std::fs::remove_file(p);
    }
    let (pid, stdio) = match built {
        Ok(v) => v,
        Err(e) => {
            // Reap whatever a failed build left behind.
            while let Ok(s) = waitpid(None, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
                if s == WaitStatus::StillAlive {
                    break;
                }
            }
            let _ = writeln!(ready, "err {e:#}");
            let _ = std::fs::remove_file(&cfg.socket);
            return Ok(1);
        }
    };
    let _ = writeln!(ready, "ok {}", pid.as_raw());
    drop(ready);
    // Shed everything libcontainer touched: become a fresh, small process
    // (same PID, so the init stays our child) that only relays and reaps.
    if let Err(e) = exec_monitor(dir, pid, &listener, &stdio) {
        eprintln!("skiff shim: staying in the large process: {e:#}");
    }
    supervise(&cfg, listener, pid, stdio)
}

fn raw(fd: &Option<OwnedFd>) -> RawFd {
    fd.as_ref().map(|f| f.as_raw_fd()).unwrap_or(-1)
}

fn exec_monitor(dir: &Path, pid: Pid, listener: &UnixListener, stdio: &Stdio) -> Result<()> {
    use std::ffi::CString;
    let fds = [
        listener.as_raw_fd(),
        raw(&stdio.out),
        raw(&stdio.err),
        raw(&stdio.stdin),
        raw(&stdio.pty),
    ];
    for fd in fds.iter().filter(|f| **f >= 0) {
        // SAFETY: clearing FD_CLOEXEC on descriptors we own.
        unsafe { libc::fcntl(*fd, libc::F_SETFD, 0) };
    }
    let mut args = vec![CString::new("skiff-agent")?, CString::new("shim-monitor")?];
    args.push(CString::new(dir.as_os_str().as_encoded_bytes())?);
    args.push(CString::new(pid.as_raw().to_string())?);
    for fd in fds {
        args.push(CString::new(fd.to_string())?);
    }
    let exe = CString::new("/proc/self/exe")?;
    nix::unistd::execv(&exe, &args)?;
    Ok(())
}

/// Entry point of `skiff-agent shim-monitor DIR PID LISTENER OUT ERR IN PTY`:
/// the supervisor after it has re-executed itself (descriptors inherited).
pub fn monitor_main(args: &[String]) -> i32 {
    let run = || -> Result<i32> {
        let [dir, pid, fds @ ..] = args else {
            return Err(anyhow!("usage: shim-monitor DIR PID FDS"));
        };
        let n: Vec<RawFd> = fds.iter().map(|f| f.parse()).collect::<Result<_, _>>()?;
        let [listener, out, err, stdin, pty] = n[..] else {
            return Err(anyhow!("shim-monitor needs 5 descriptors"));
        };
        // SAFETY: the pre-exec supervisor handed these descriptors to us.
        let own = |fd: RawFd| (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) });
        let cfg: ShimConfig = read_json(&Path::new(dir).join("shim.json"))?;
        // SAFETY: as above.
        let listener = unsafe { UnixListener::from_raw_fd(listener) };
        let stdio = Stdio {
            out: own(out),
            err: own(err),
            stdin: own(stdin),
            pty: own(pty),
        };
        supervise(&cfg, listener, Pid::from_raw(pid.parse()?), stdio)
    };
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("skiff shim-monitor: {e:#}");
            1
        }
    }
}

fn create(cfg: &ShimConfig) -> Result<(Pid, Stdio)> {
    let mut stdio = Stdio {
        out: None,
        err: None,
        stdin: None,
        pty: None,
    };
    let console = if cfg.tty {
        let mut path = cfg.socket.clone().into_os_string();
        path.push(".tty");
        let path = std::path::PathBuf::from(path);
        let _ = std::fs::remove_file(&path);
        Some((UnixListener::bind(&path).context("binding console socket")?, path))
    } else {
        None
    };
    let mut builder =
        ContainerBuilder::new(cfg.id.clone(), SyscallType::default()).with_root_path(&cfg.runtime_root)?;
    match &console {
        Some((_, path)) => builder = builder.with_console_socket(Some(path)),
        None => {
            let (or, ow) = pipe()?;
            let (er, ew) = pipe()?;
            stdio.out = Some(or);
            stdio.err = Some(er);
            builder = builder.with_stdout(ow).with_stderr(ew);
            if cfg.stdin {
                let (ir, iw) = pipe()?;
                stdio.stdin = Some(iw);
                builder = builder.with_stdin(ir);
            } else {
                builder = builder.with_stdin(OwnedFd::from(File::open("/dev/null")?));
            }
        }
    }
    let pid = match &cfg.mode {
        Mode::Init { bundle } => {
            let mut container = builder.as_init(bundle).with_systemd(false).with_detach(true).build()?;
            let pid = container
                .pid()
                .ok_or_else(|| anyhow!("container has no pid after create"))?;
            // Output before the agent connects waits in the pipes and in
            // the supervisor's pending buffer, so start right away.
            container.start()?;
            pid
        }
        Mode::Exec { process } => builder
            .as_tenant()
            .with_process(Some(process))
            .with_detach(true)
            .build()?,
    };
    if let Some((listener, _)) = &console {
        stdio.pty = Some(receive_pty(listener)?);
    }
    Ok((pid, stdio))
}

struct Client {
    stream: UnixStream,
    buf: Vec<u8>,
}

/// Output waiting for the first client (an exec runs before the agent connects).
const MAX_PENDING: usize = 1 << 20;

fn broadcast(clients: &mut Vec<Client>, pending: &mut Option<Vec<(u8, Vec<u8>)>>, kind: u8, data: &[u8]) {
    if let Some(p) = pending.as_mut() {
        if p.iter().map(|(_, d)| d.len()).sum::<usize>() + data.len() <= MAX_PENDING {
            p.push((kind, data.to_vec()));
        }
        return;
    }
    clients.retain_mut(|c| write_frame(&mut c.stream, kind, data).is_ok());
}

fn supervise(cfg: &ShimConfig, listener: UnixListener, pid: Pid, mut stdio: Stdio) -> Result<i32> {
    let mut log = match &cfg.log {
        Some(t) => Some(jsonfile::Writer::open(&t.path, t.rotation.clone()).context("opening log")?),
        None => None,
    };
    let pidfd = pidfd_open(pid)?;
    let mut clients: Vec<Client> = Vec::new();
    let mut exit_code: Option<i32> = None;
    let mut drain_deadline: Option<Instant> = None;
    let mut buf = vec![0u8; 32 * 1024];
    // Until the first client connects, frames are kept for it, and the
    // supervisor does not exit (for at most a few seconds) so the exit code
    // reaches someone.
    let mut pending: Option<Vec<(u8, Vec<u8>)>> = Some(Vec::new());
    let waited_since = Instant::now();
    for fd in [&stdio.out, &stdio.err, &stdio.pty].into_iter().flatten() {
        set_nonblocking(fd.as_raw_fd());
    }
    broadcast(&mut clients, &mut pending, STARTED, &pid.as_raw().to_be_bytes());

    loop {
        // Output sources still open: (stream, fd).
        let sources: Vec<(u8, RawFd)> = [(STDOUT, &stdio.out), (STDERR, &stdio.err), (STDOUT, &stdio.pty)]
            .into_iter()
            .filter_map(|(s, fd)| fd.as_ref().map(|f| (s, f.as_raw_fd())))
            .collect();
        let drained = sources.is_empty() || drain_deadline.is_some_and(|d| Instant::now() > d);
        let heard = pending.is_none() || waited_since.elapsed() > Duration::from_secs(10);
        if exit_code.is_some() && drained && heard {
            break;
        }
        let mut fds: Vec<PollFd> = Vec::new();
        // SAFETY (all BorrowedFd below): the descriptors outlive this poll call.
        let b = |fd: RawFd| unsafe { BorrowedFd::borrow_raw(fd) };
        fds.push(PollFd::new(listener.as_fd(), PollFlags::POLLIN));
        fds.push(PollFd::new(
            pidfd.as_fd(),
            if exit_code.is_none() {
                PollFlags::POLLIN
            } else {
                PollFlags::empty()
            },
        ));
        let srcs_at = fds.len();
        for (_, fd) in &sources {
            fds.push(PollFd::new(b(*fd), PollFlags::POLLIN));
        }
        let clients_at = fds.len();
        for c in &clients {
            fds.push(PollFd::new(c.stream.as_fd(), PollFlags::POLLIN));
        }
        let timeout = if exit_code.is_some() {
            PollTimeout::from(100u16)
        } else {
            PollTimeout::NONE
        };
        match poll(&mut fds, timeout) {
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(_) => {}
        }
        let rev: Vec<PollFlags> = fds.iter().map(|f| f.revents().unwrap_or(PollFlags::empty())).collect();
        drop(fds);

        if rev[0].contains(PollFlags::POLLIN) {
            if let Ok((stream, _)) = listener.accept() {
                let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
                let mut c = Client {
                    stream,
                    buf: Vec::new(),
                };
                let mut ok = true;
                if let Some(frames) = pending.take() {
                    for (k, d) in frames {
                        ok &= write_frame(&mut c.stream, k, &d).is_ok();
                    }
                } else {
                    ok = write_frame(&mut c.stream, STARTED, &pid.as_raw().to_be_bytes()).is_ok();
                }
                if ok {
                    clients.push(c);
                }
            }
        }
        if !rev[1].is_empty() && exit_code.is_none() {
            exit_code = Some(reap(cfg, pid)?);
            drain_deadline = Some(Instant::now() + Duration::from_millis(500));
        }
        for (i, (stream, fd)) in sources.iter().enumerate() {
            if rev[srcs_at + i].is_empty() {
                continue;
            }
            // SAFETY: reading into our own buffer from a descriptor we own.
            let n = unsafe { libc::read(*fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n > 0 {
                let data = &buf[..n as usize];
                if let Some(l) = log.as_mut() {
                    let _ = l.write(*stream, data);
                }
                broadcast(&mut clients, &mut pending, *stream, data);
            } else if n == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EAGAIN) {
                // EOF (or EIO from a pty whose other side is gone).
                for slot in [&mut stdio.out, &mut stdio.err, &mut stdio.pty] {
                    if slot.as_ref().map(|f| f.as_raw_fd()) == Some(*fd) {
                        *slot = None;
                    }
                }
            }
        }
        // Clients accepted above were not polled this round.
        let mut i = rev.len() - clients_at;
        while i > 0 {
            i -= 1;
            if rev[clients_at + i].is_empty() {
                continue;
            }
            let mut tmp = [0u8; 8192];
            match clients[i].stream.read(&mut tmp) {
                Ok(0) | Err(_) => {
                    clients.remove(i);
                }
                Ok(n) => {
                    clients[i].buf.extend_from_slice(&tmp[..n]);
                    let frames = take_frames(&mut clients[i].buf);
                    for (kind, payload) in frames {
                        handle_control(kind, &payload, pid, &mut stdio);
                    }
                }
            }
        }
    }
    if let Some(l) = log.as_mut() {
        let _ = l.flush_partial();
    }
    let code = exit_code.unwrap_or(255);
    let record = ExitRecord {
        code,
        finished_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        oom_killed: false,
    };
    write_json_atomic(&cfg.exit_file, &record)?;
    broadcast(&mut clients, &mut pending, EXIT, &code.to_be_bytes());
    let _ = std::fs::remove_file(&cfg.socket);
    Ok(0)
}

fn handle_control(kind: u8, payload: &[u8], pid: Pid, stdio: &mut Stdio) {
    match kind {
        STDIN => {
            let sink = stdio.stdin.as_ref().or(stdio.pty.as_ref());
            if let Some(fd) = sink {
                let _ = nix::unistd::write(fd.as_fd(), payload);
            }
        }
        // Closing stdin; on a terminal, EOF is ^D.
        STDIN_CLOSE if stdio.stdin.take().is_none() => {
            if let Some(fd) = stdio.pty.as_ref() {
                let _ = nix::unistd::write(fd.as_fd(), &[4u8]);
            }
        }
        RESIZE if payload.len() == 4 => {
            if let Some(fd) = stdio.pty.as_ref() {
                let ws = libc::winsize {
                    ws_row: u16::from_be_bytes([payload[0], payload[1]]),
                    ws_col: u16::from_be_bytes([payload[2], payload[3]]),
                    ws_xpixel: 0,
                    ws_ypixel: 0,
                };
                // SAFETY: TIOCSWINSZ reads a winsize we own.
                unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
            }
        }
        SIGNAL if payload.len() == 4 => {
            let sig = i32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
            // The init is our unreaped child, so its PID cannot be reused.
            // SAFETY: kill(2) has no memory arguments.
            unsafe { libc::kill(pid.as_raw(), sig) };
        }
        _ => {}
    }
}

/// Collect the exit status of `pid`, clean the runtime state (cgroups,
/// leftover processes) for an init, and reap.
fn reap(cfg: &ShimConfig, pid: Pid) -> Result<i32> {
    let status = waitpid(pid, None)?;
    if let Mode::Init { .. } = cfg.mode {
        if let Ok(mut c) = Container::load(cfg.runtime_root.join(&cfg.id)) {
            if let Err(e) = c.delete(true) {
                eprintln!("skiff shim: deleting runtime state: {e}");
            }
        }
    }
    Ok(match status {
        WaitStatus::Exited(_, code) => code,
        WaitStatus::Signaled(_, sig, _) => 128 + sig as i32,
        _ => 255,
    })
}
