//! Per-container network namespaces, kept as bind-mounted files so the
//! runtime (and later the network drivers) can join them by path.

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::unistd::ForkResult;

use crate::idmap::IdMap;

/// Bring `lo` up in the calling thread's network namespace.
fn loopback_up() -> io::Result<()> {
    // SAFETY: plain socket/ioctl calls on a struct we own.
    unsafe {
        let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if s < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo\0".iter().enumerate() {
            req.ifr_name[i] = *b as libc::c_char;
        }
        let mut rc = libc::ioctl(s, libc::SIOCGIFFLAGS, &mut req);
        if rc == 0 {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            rc = libc::ioctl(s, libc::SIOCSIFFLAGS, &req);
        }
        let err = io::Error::last_os_error();
        libc::close(s);
        if rc != 0 {
            return Err(err);
        }
    }
    Ok(())
}

/// Create a new network namespace with `lo` up and pin it at `path`.
pub fn create(path: &Path) -> io::Result<PathBuf> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::File::create(path)?;
    let target = path.to_path_buf();
    std::thread::spawn(move || -> io::Result<()> {
        // Only this thread moves into the new namespace.
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
        loopback_up()?;
        mount(
            Some("/proc/thread-self/ns/net"),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(io::Error::from)
    })
    .join()
    .map_err(|_| io::Error::other("netns thread panicked"))??;
    Ok(path.to_path_buf())
}

/// Create a user namespace with `map` and a network namespace it owns
/// (`lo` up), pinned at `user` and `net`. A container joins both: the
/// runtime enters the user namespace first, and a network namespace the
/// host's user namespace owned could not be entered from inside it.
/// `unshare(CLONE_NEWUSER)` refuses a threaded process, so a forked child
/// makes the pair and waits, async-signal-safe calls only, while this
/// side writes its maps and pins its namespaces.
pub fn create_in_userns(net: &Path, user: &Path, map: &IdMap) -> io::Result<()> {
    for p in [net, user] {
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::File::create(p)?;
    }
    let (uid_map, gid_map) = (IdMap::map_file(&map.uids), IdMap::map_file(&map.gids));
    let (ready_r, ready_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(io::Error::from)?;
    let (done_r, done_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(io::Error::from)?;
    // SAFETY: the child only makes raw system calls (no allocation, no
    // locks) and leaves with _exit.
    let pid = match unsafe { nix::unistd::fork() }.map_err(io::Error::from)? {
        ForkResult::Child => unsafe {
            libc::close(ready_r.as_raw_fd());
            libc::close(done_w.as_raw_fd());
            let ok: u8 = (libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET) == 0).into();
            libc::write(ready_w.as_raw_fd(), (&ok as *const u8).cast(), 1);
            let mut b = 0u8;
            libc::read(done_r.as_raw_fd(), (&mut b as *mut u8).cast(), 1);
            libc::_exit(0)
        },
        ForkResult::Parent { child } => child,
    };
    drop(ready_w);
    drop(done_r);
    let pinned = (|| -> io::Result<()> {
        let mut ok = [0u8];
        std::fs::File::from(ready_r).read_exact(&mut ok)?;
        if ok[0] != 1 {
            return Err(io::Error::other("unshare(CLONE_NEWUSER|CLONE_NEWNET) failed"));
        }
        let proc = PathBuf::from(format!("/proc/{pid}"));
        std::fs::write(proc.join("uid_map"), &uid_map)?;
        std::fs::write(proc.join("gid_map"), &gid_map)?;
        for (ns, target) in [("user", user), ("net", net)] {
            mount(
                Some(&proc.join("ns").join(ns)),
                target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(io::Error::from)?;
        }
        Ok(())
    })();
    drop(done_w);
    let _ = nix::sys::wait::waitpid(pid, None);
    pinned.and_then(|()| in_netns(net, loopback_up)).inspect_err(|_| {
        remove(net);
        remove(user);
    })
}

/// Run `f` on a thread that has entered the network namespace at `path`.
fn in_netns(path: &Path, f: fn() -> io::Result<()>) -> io::Result<()> {
    let ns = std::fs::File::open(path)?;
    std::thread::spawn(move || -> io::Result<()> {
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
        f()
    })
    .join()
    .map_err(|_| io::Error::other("netns thread panicked"))?
}

pub fn remove(path: &Path) {
    let _ = umount2(path, MntFlags::MNT_DETACH);
    let _ = std::fs::remove_file(path);
}
