//! User namespaces made from an `IdMap`, and ID-mapped mounts through
//! them (`--userns-remap` on overlay2 where the kernel has them): a bind
//! clone of a directory whose owners read through the map, so image
//! layers keep their images' owners on disk and a remapped container
//! still sees its root's files as its root's.
//!
//! `unshare(CLONE_NEWUSER)` refuses a threaded process, so a forked child
//! makes the namespace and waits (async-signal-safe calls only) while the
//! parent writes its maps and takes what it needs from `/proc/PID`.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::unistd::{ForkResult, Pid};

use crate::idmap::IdMap;

/// Fork a child that unshares a user namespace (and `extra` namespaces,
/// e.g. `CLONE_NEWNET`) owned by it, write `map` into it and run `f` with
/// the child's `/proc/PID` while the child waits; the child exits after.
pub fn in_new_userns<T>(map: &IdMap, extra: libc::c_int, f: impl FnOnce(&Path) -> io::Result<T>) -> io::Result<T> {
    let (uid_map, gid_map) = (IdMap::map_file(&map.uids), IdMap::map_file(&map.gids));
    let (ready_r, ready_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(io::Error::from)?;
    let (done_r, done_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(io::Error::from)?;
    // SAFETY: the child only makes raw system calls (no allocation, no
    // locks) and leaves with _exit.
    let pid: Pid = match unsafe { nix::unistd::fork() }.map_err(io::Error::from)? {
        ForkResult::Child => unsafe {
            libc::close(ready_r.as_raw_fd());
            libc::close(done_w.as_raw_fd());
            let ok: u8 = (libc::unshare(libc::CLONE_NEWUSER | extra) == 0).into();
            libc::write(ready_w.as_raw_fd(), (&ok as *const u8).cast(), 1);
            let mut b = 0u8;
            libc::read(done_r.as_raw_fd(), (&mut b as *mut u8).cast(), 1);
            libc::_exit(0)
        },
        ForkResult::Parent { child } => child,
    };
    drop(ready_w);
    drop(done_r);
    let made = (|| -> io::Result<T> {
        let mut ok = [0u8];
        std::fs::File::from(ready_r).read_exact(&mut ok)?;
        if ok[0] != 1 {
            return Err(io::Error::other("unshare(CLONE_NEWUSER) failed"));
        }
        let proc = PathBuf::from(format!("/proc/{pid}"));
        std::fs::write(proc.join("uid_map"), &uid_map)?;
        std::fs::write(proc.join("gid_map"), &gid_map)?;
        f(&proc)
    })();
    drop(done_w);
    let _ = nix::sys::wait::waitpid(pid, None);
    made
}

/// A user namespace holding the agent's map, kept open to map mounts
/// through (no process lives in it).
pub struct MapNs {
    fd: OwnedFd,
}

fn sys_err(what: &str) -> io::Error {
    let e = io::Error::last_os_error();
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

impl MapNs {
    pub fn new(map: &IdMap) -> io::Result<Self> {
        let file = in_new_userns(map, 0, |proc| std::fs::File::open(proc.join("ns/user")))?;
        Ok(Self { fd: file.into() })
    }

    /// Mount at `target` (an empty directory) a clone of `src` whose
    /// owners read through the map: a file of host UID 0 shows as the
    /// map's first host ID. Undo with `umount2(target, MNT_DETACH)`.
    pub fn bind_mapped(&self, src: &Path, target: &Path) -> io::Result<()> {
        let c = |p: &Path| {
            std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).map_err(|_| io::Error::other("a NUL in a path"))
        };
        let (src_c, target_c) = (c(src)?, c(target)?);
        // SAFETY: raw mount-API system calls on C strings and a struct we
        // own; the returned descriptor is owned at once.
        unsafe {
            let tree = libc::syscall(
                libc::SYS_open_tree,
                libc::AT_FDCWD,
                src_c.as_ptr(),
                libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC,
            );
            if tree < 0 {
                return Err(sys_err(&format!("open_tree {}", src.display())));
            }
            let tree = OwnedFd::from_raw_fd(tree as i32);
            let attr = libc::mount_attr {
                attr_set: libc::MOUNT_ATTR_IDMAP,
                attr_clr: 0,
                propagation: 0,
                userns_fd: self.fd.as_raw_fd() as u64,
            };
            let rc = libc::syscall(
                libc::SYS_mount_setattr,
                tree.as_raw_fd(),
                c"".as_ptr(),
                libc::AT_EMPTY_PATH,
                &attr as *const libc::mount_attr,
                std::mem::size_of::<libc::mount_attr>(),
            );
            if rc != 0 {
                return Err(sys_err(&format!("ID-mapping a mount of {}", src.display())));
            }
            let rc = libc::syscall(
                libc::SYS_move_mount,
                tree.as_raw_fd(),
                c"".as_ptr(),
                libc::AT_FDCWD,
                target_c.as_ptr(),
                libc::MOVE_MOUNT_F_EMPTY_PATH,
            );
            if rc != 0 {
                return Err(sys_err(&format!("move_mount to {}", target.display())));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    /// Root's file reads as the map's root through the mapped clone, and
    /// the original is untouched.
    #[test]
    fn a_mapped_clone_shows_owners_through_the_map() {
        if !nix::unistd::Uid::effective().is_root() {
            return;
        }
        let dir = std::env::temp_dir().join(format!("skiff-idmount-{}", std::process::id()));
        let (src, target) = (dir.join("src"), dir.join("target"));
        std::fs::create_dir_all(&src).unwrap();
        std::fs::create_dir_all(&target).unwrap();
        std::fs::write(src.join("f"), "x").unwrap();
        std::os::unix::fs::chown(src.join("f"), Some(0), Some(0)).unwrap();
        let map = IdMap::from_ranges(&[(100000, 65536)], &[(200000, 65536)]);
        let ns = MapNs::new(&map).unwrap();
        let mapped = ns.bind_mapped(&src, &target);
        let seen = std::fs::metadata(target.join("f")).map(|m| (m.uid(), m.gid()));
        let _ = nix::mount::umount2(&target, nix::mount::MntFlags::MNT_DETACH);
        let orig = std::fs::metadata(src.join("f")).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        mapped.unwrap();
        assert_eq!(seen.unwrap(), (100000, 200000));
        assert_eq!((orig.uid(), orig.gid()), (0, 0));
    }
}
