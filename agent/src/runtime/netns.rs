//! Per-container network namespaces, kept as bind-mounted files so the
//! runtime (and later the network drivers) can join them by path.

use std::io;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

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
pub fn create_in_userns(net: &Path, user: &Path, map: &IdMap) -> io::Result<()> {
    for p in [net, user] {
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::File::create(p)?;
    }
    let pinned = crate::idmount::in_new_userns(map, libc::CLONE_NEWNET, |proc| {
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
    });
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
