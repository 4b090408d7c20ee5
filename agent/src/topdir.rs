//! Where ext4 puts new directories. A directory marked "top of a
//! hierarchy" (`FS_TOPDIR_FL`, `chattr +T`) has its subdirectories spread
//! by the Orlov allocator over block groups with room, as `/home`'s are,
//! instead of beside their parent. The agent marks the parents of layers,
//! build contexts and volumes: each new layer's files then land in a
//! group of their own. On ext4 without a journal (this fleet's data
//! disks) the inode allocator skips every inode freed in the last
//! minutes, so files made near many just deleted (a pull after `rmi`, a
//! build after a prune) cost up to ten times more: 5,000 files after a
//! 30,000-file delete took 1.4-2.6 s beside their parent and 0.16-0.18 s
//! spread (2026-12-04). Other filesystems ignore or refuse the flag; a
//! refusal changes nothing.

use std::os::fd::AsRawFd;
use std::path::Path;

/// `FS_TOPDIR_FL` from `linux/fs.h`.
const FS_TOPDIR_FL: libc::c_int = 0x0002_0000;

/// Mark `dir` as a top directory, if its filesystem has the flag.
pub fn mark(dir: &Path) {
    let Ok(f) = std::fs::File::open(dir) else { return };
    let mut flags: libc::c_int = 0;
    // SAFETY: FS_IOC_GETFLAGS and FS_IOC_SETFLAGS read and write one int.
    unsafe {
        if libc::ioctl(f.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) != 0 || flags & FS_TOPDIR_FL != 0 {
            return;
        }
        flags |= FS_TOPDIR_FL;
        if libc::ioctl(f.as_raw_fd(), libc::FS_IOC_SETFLAGS, &flags) != 0 {
            tracing::debug!(dir = %dir.display(), "no top-directory flag: {}", std::io::Error::last_os_error());
        }
    }
}
