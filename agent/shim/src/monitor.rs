//! The monitor: what a container's supervisor becomes once its process
//! runs. It holds the process's stdio pipes or pty master, writes the
//! json-file log, relays output to the clients of its socket (the agent)
//! and input back, reaps the process through a pidfd, and writes the exit
//! record. Single-threaded, one `poll` loop, no allocation per byte.

use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

use crate::log;
use crate::protocol::*;

/// The process's side of the relay; `None` once closed (or never there).
pub struct Stdio {
    pub out: Option<OwnedFd>,
    pub err: Option<OwnedFd>,
    pub stdin: Option<OwnedFd>,
    pub pty: Option<OwnedFd>,
}

/// Take over the descriptors named in `args` (inherited across exec) and
/// monitor until the process exits and its exit is recorded.
///
/// # Safety
/// The descriptors in `args` must be open and owned by nobody else.
pub unsafe fn run_inherited(args: &MonitorArgs) -> io::Result<()> {
    let own = |fd: RawFd| (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) });
    let listener = unsafe { UnixListener::from_raw_fd(args.listener) };
    let stdio = Stdio {
        out: own(args.stdout),
        err: own(args.stderr),
        stdin: own(args.stdin),
        pty: own(args.pty),
    };
    run(args, listener, stdio)
}

fn pidfd_open(pid: Pid) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open has no memory arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn set_nonblocking(fd: RawFd) {
    // SAFETY: plain fcntl on a descriptor we own.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
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

/// Monitor `args.pid` with its stdio until it exits; write the exit record.
pub fn run(args: &MonitorArgs, listener: UnixListener, mut stdio: Stdio) -> io::Result<()> {
    let pid = Pid::from_raw(args.pid);
    // The agent checked the destination before the start; should it have
    // gone since, remote drivers connect on a later line.
    let mut log = match args.log.as_ref().map(|t| log::open(t, false)).transpose() {
        Ok(l) => l.flatten(),
        Err(e) => {
            eprintln!("skiff-shim: log driver: {e}");
            None
        }
    };
    let mut log_errors = log::ErrorReport::default();
    let pidfd = pidfd_open(pid)?;
    let mut clients: Vec<Client> = Vec::new();
    let mut exit_code: Option<i32> = None;
    let mut drain_deadline: Option<Instant> = None;
    let mut buf = vec![0u8; 32 * 1024];
    // Until the first client connects, frames are kept for it, and the
    // monitor does not exit (for at most a few seconds) so the exit code
    // reaches someone.
    let mut pending: Option<Vec<(u8, Vec<u8>)>> = Some(Vec::new());
    let waited_since = Instant::now();
    for fd in [&stdio.out, &stdio.err, &stdio.pty].into_iter().flatten() {
        set_nonblocking(fd.as_raw_fd());
    }
    broadcast(&mut clients, &mut pending, STARTED, &args.pid.to_be_bytes());

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

        // The polled clients first, while `clients` is still the list the
        // poll was built from: a broadcast below drops clients that are
        // gone (an agent killed), and indexing after that read another
        // client's socket or panicked past the end, killing the monitor.
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
                    ok = write_frame(&mut c.stream, STARTED, &args.pid.to_be_bytes()).is_ok();
                }
                if ok {
                    clients.push(c);
                }
            }
        }
        if !rev[1].is_empty() && exit_code.is_none() {
            exit_code = Some(reap(pid)?);
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
                    if let Err(e) = l.write(*stream, data) {
                        log_errors.report(&e);
                    }
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
    }
    if let Some(l) = log.as_mut() {
        let _ = l.close();
    }
    let code = exit_code.unwrap_or(255);
    let record = ExitRecord {
        code,
        finished_at: log::now(),
        oom_killed: false,
    };
    skiff_fsutil::write_json_atomic(&args.exit_file, &record)?;
    broadcast(&mut clients, &mut pending, EXIT, &code.to_be_bytes());
    let _ = std::fs::remove_file(&args.socket);
    Ok(())
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
            // The process is our unreaped child, so its PID cannot be reused.
            // SAFETY: kill(2) has no memory arguments.
            unsafe { libc::kill(pid.as_raw(), sig) };
        }
        _ => {}
    }
}

/// The exit code of `pid`, Docker's way (128 + signal when killed). The
/// agent removes the container's cgroup and runtime state.
fn reap(pid: Pid) -> io::Result<i32> {
    Ok(match waitpid(pid, None)? {
        WaitStatus::Exited(_, code) => code,
        WaitStatus::Signaled(_, sig, _) => 128 + sig as i32,
        _ => 255,
    })
}
