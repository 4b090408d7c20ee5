//! The per-container supervisor (`skiff-agent shim DIR`).
//!
//! Started by the agent and independent of it, in its own session: it
//! creates the container through libcontainer (so the container's init is
//! its child), reports the PID on fd 3, then execs the small `skiff-shim`
//! monitor beside the agent binary (same PID, so the init stays its child;
//! descriptors inherited). The monitor owns the init's stdio or pty, writes
//! the json-file log, relays output to the agent, reaps the init and
//! records the exit. The agent may die and come back; the monitor and the
//! container carry on. Should the exec fail, the supervisor monitors in
//! this process instead, with the same code.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use skiff_shim::monitor::{self, Stdio};

use super::protocol::*;
use skiff_common::fsutil::read_json;

/// The monitor binary, installed beside `skiff-agent`.
pub const MONITOR_BIN: &str = "skiff-shim";

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

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    Ok((r, w))
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

fn run(dir: &Path, mut ready: File) -> Result<i32> {
    // The liveness lock stays with this process and the monitor it execs,
    // not with the container's processes.
    // SAFETY: setting FD_CLOEXEC on the descriptor the agent handed us.
    unsafe { libc::fcntl(LOCK_FD, libc::F_SETFD, libc::FD_CLOEXEC) };
    let cfg: ShimConfig = read_json(&dir.join("shim.json")).context("reading shim.json")?;
    let _ = std::fs::remove_file(&cfg.socket);
    let listener = UnixListener::bind(&cfg.socket).context("binding supervisor socket")?;

    // Build the container (created, not yet running) or the exec process;
    // the init writes to `report` why its program cannot run, if it cannot.
    let (report_r, report_w) = pipe()?;
    let built = create(&cfg, &report_w);
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
            let why = launch_failure(report_r, report_w);
            let _ = writeln!(ready, "err {} {e:#}", why as u8);
            let _ = std::fs::remove_file(&cfg.socket);
            return Ok(1);
        }
    };
    let _ = writeln!(ready, "ok {}", pid.as_raw());
    drop(ready);
    let raw = |fd: &Option<OwnedFd>| fd.as_ref().map(|f| f.as_raw_fd()).unwrap_or(-1);
    let args = MonitorArgs {
        pid: pid.as_raw(),
        listener: listener.as_raw_fd(),
        stdout: raw(&stdio.out),
        stderr: raw(&stdio.err),
        stdin: raw(&stdio.stdin),
        pty: raw(&stdio.pty),
        socket: cfg.socket.clone(),
        exit_file: cfg.exit_file.clone(),
        log: cfg.log.clone(),
    };
    // Shed everything libcontainer touched: become the small monitor.
    if let Err(e) = exec_monitor(&args) {
        eprintln!("skiff shim: monitoring in the supervisor itself: {e:#}");
    }
    monitor::run(&args, listener, stdio).context("monitoring")?;
    Ok(0)
}

/// What the container's init wrote on the report pipe, if anything.
fn launch_failure(r: OwnedFd, w: OwnedFd) -> LaunchFailure {
    drop(w);
    let mut b = [0u8; 1];
    match nix::unistd::read(r.as_raw_fd(), &mut b) {
        Ok(1) => LaunchFailure::from_byte(b[0]),
        _ => LaunchFailure::Other,
    }
}

/// `skiff-shim` beside the running agent binary.
fn monitor_path() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating skiff-agent")?;
    Ok(exe.with_file_name(MONITOR_BIN))
}

/// Exec the monitor with the descriptors in `args` inherited; returns only
/// on failure.
fn exec_monitor(args: &MonitorArgs) -> Result<()> {
    use std::ffi::CString;
    let fds = [args.listener, args.stdout, args.stderr, args.stdin, args.pty, LOCK_FD];
    for fd in fds.iter().filter(|f| **f >= 0) {
        // SAFETY: clearing FD_CLOEXEC on descriptors we own.
        unsafe { libc::fcntl(*fd, libc::F_SETFD, 0) };
    }
    let exe = CString::new(monitor_path()?.into_os_string().into_vec())?;
    let mut argv = vec![CString::new(MONITOR_BIN)?];
    for a in args.to_args() {
        argv.push(CString::new(OsString::into_vec(a))?);
    }
    nix::unistd::execv(&exe, &argv).with_context(|| format!("exec {}", exe.to_string_lossy()))?;
    Ok(())
}

fn create(cfg: &ShimConfig, report: &OwnedFd) -> Result<(Pid, Stdio)> {
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
    let mut builder = ContainerBuilder::new(cfg.id.clone(), SyscallType::default())
        .with_root_path(&cfg.runtime_root)?
        .with_executor(super::executor::CheckedExecutor {
            report: report.as_raw_fd(),
            seccomp: match &cfg.seccomp {
                Some(s) => Some(super::seccomp::bpf::Filter::read(&s.filter)?),
                None => None,
            },
            lift: cfg.seccomp.as_ref().map(|s| s.lift.clone()).unwrap_or_default(),
        });
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
        Mode::Exec { process, .. } => builder
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
