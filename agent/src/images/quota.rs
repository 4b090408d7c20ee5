//! Project quotas for `--storage-opt size=` (overlay2), as Docker's
//! `quota` package does it: only where the driver's home is on xfs mounted
//! with project quotas (`pquota`/`prjquota`). Each container's layer
//! directory gets a project ID of its own (`FS_IOC_FSSETXATTR`, inherited
//! by what is made inside it) and a hard block limit for that project
//! (`quotactl(Q_XSETQLIM, PRJQUOTA)` on a block device node of the
//! filesystem kept in the home, `backingFsBlockDev`). IDs start after the
//! home's own project ID; the next free one is found by looking at the
//! layer directories at start.

use std::ffi::CString;
use std::fs::{self, File};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const XFS_SUPER_MAGIC: i64 = 0x5846_5342;
const FS_IOC_FSGETXATTR: libc::c_ulong = 0x801c_581f;
const FS_IOC_FSSETXATTR: libc::c_ulong = 0x401c_5820;
const FS_XFLAG_PROJINHERIT: u32 = 0x200;
const PRJQUOTA: i32 = 2;
/// `XQM_CMD(4)`: set a quota's limits.
const Q_XSETQLIM: i32 = (b'X' as i32) << 8 | 4;
const FS_DQUOT_VERSION: i8 = 1;
const FS_PROJ_QUOTA: i8 = 2;
const FS_DQ_BSOFT: u16 = 1 << 2;
const FS_DQ_BHARD: u16 = 1 << 3;

/// Docker's refusal on any other filesystem.
pub const UNSUPPORTED: &str = "--storage-opt is supported only for overlay over xfs with 'pquota' mount option";

#[repr(C)]
#[derive(Default)]
struct FsXattr {
    xflags: u32,
    extsize: u32,
    nextents: u32,
    projid: u32,
    cowextsize: u32,
    pad: [u8; 8],
}

/// `struct fs_disk_quota` of `<linux/dqblk_xfs.h>`.
#[repr(C)]
#[derive(Default)]
struct FsDiskQuota {
    version: i8,
    flags: i8,
    fieldmask: u16,
    id: u32,
    blk_hardlimit: u64,
    blk_softlimit: u64,
    ino_hardlimit: u64,
    ino_softlimit: u64,
    bcount: u64,
    icount: u64,
    itimer: i32,
    btimer: i32,
    iwarns: u16,
    bwarns: u16,
    timer_hi: [i8; 3],
    padding2: i8,
    rtb_hardlimit: u64,
    rtb_softlimit: u64,
    rtbcount: u64,
    rtbtimer: i32,
    rtbwarns: u16,
    padding3: i16,
    padding4: [u8; 8],
}

fn fsxattr(dir: &Path) -> io::Result<(File, FsXattr)> {
    let f = File::open(dir)?;
    let mut x = FsXattr::default();
    // SAFETY: FS_IOC_FSGETXATTR fills a struct fsxattr, which FsXattr is.
    if unsafe { libc::ioctl(f.as_raw_fd(), FS_IOC_FSGETXATTR, &mut x) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((f, x))
}

fn project_id(dir: &Path) -> io::Result<u32> {
    fsxattr(dir).map(|(_, x)| x.projid)
}

/// Give `dir` project `id`, inherited by everything made in it.
fn set_project_id(dir: &Path, id: u32) -> io::Result<()> {
    let (f, mut x) = fsxattr(dir)?;
    x.projid = id;
    x.xflags |= FS_XFLAG_PROJINHERIT;
    // SAFETY: as above, with the struct the kernel gave back.
    if unsafe { libc::ioctl(f.as_raw_fd(), FS_IOC_FSSETXATTR, &x) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn set_limit(backing: &Path, id: u32, bytes: u64) -> io::Result<()> {
    let blocks = bytes.div_ceil(512);
    let mut q = FsDiskQuota {
        version: FS_DQUOT_VERSION,
        flags: FS_PROJ_QUOTA,
        fieldmask: FS_DQ_BSOFT | FS_DQ_BHARD,
        id,
        blk_hardlimit: blocks,
        blk_softlimit: blocks,
        ..Default::default()
    };
    let dev = CString::new(backing.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let cmd = (Q_XSETQLIM << 8) | PRJQUOTA;
    // SAFETY: Q_XSETQLIM reads a struct fs_disk_quota, which FsDiskQuota is.
    let r = unsafe { libc::quotactl(cmd, dev.as_ptr(), id as i32, (&mut q as *mut FsDiskQuota).cast()) };
    if r != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!(
                "failed to set quota limit for projid {id} on {}: {e}",
                backing.display()
            ),
        ));
    }
    Ok(())
}

/// The quota control of one driver home.
pub struct Quotas {
    backing: PathBuf,
    next: Mutex<u32>,
}

impl Quotas {
    /// Quotas under `home`, or `None` when its filesystem cannot have them
    /// (not xfs, or mounted without project quotas).
    pub fn new(home: &Path) -> Option<Self> {
        // SAFETY: statfs fills the zeroed struct it is given.
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        let path = CString::new(home.as_os_str().as_bytes()).ok()?;
        // SAFETY: a valid C path and a struct to fill.
        if unsafe { libc::statfs(path.as_ptr(), &mut st) } != 0 || st.f_type as i64 != XFS_SUPER_MAGIC {
            return None;
        }
        let backing = home.join("backingFsBlockDev");
        let dev = fs::metadata(home).ok()?.dev();
        let _ = fs::remove_file(&backing);
        let node = CString::new(backing.as_os_str().as_bytes()).ok()?;
        // SAFETY: a valid C path; a block device node of the home's filesystem.
        if unsafe { libc::mknod(node.as_ptr(), libc::S_IFBLK | 0o600, dev as libc::dev_t) } != 0 {
            tracing::warn!(error = %io::Error::last_os_error(), "no block device node for project quotas");
            return None;
        }
        let base = project_id(home).ok()?;
        // Setting an unlimited quota on the first ID is the test: it fails
        // without `pquota`.
        if let Err(e) = set_limit(&backing, base + 1, 0) {
            tracing::info!(error = %e, "xfs without project quotas: --storage-opt size is not available");
            let _ = fs::remove_file(&backing);
            return None;
        }
        let mut next = base + 1;
        for e in fs::read_dir(home).ok()?.flatten() {
            if let Ok(id) = project_id(&e.path()) {
                next = next.max(id + 1);
            }
        }
        Some(Self {
            backing,
            next: Mutex::new(next),
        })
    }

    /// Limit what `dir` and everything under it (made now or later) may
    /// hold to `bytes`. Existing subdirectories get the project too.
    pub fn set(&self, dir: &Path, bytes: u64) -> io::Result<()> {
        let id = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let id = *next;
            *next += 1;
            id
        };
        set_project_id(dir, id)?;
        for e in fs::read_dir(dir)?.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                set_project_id(&e.path(), id)?;
            }
        }
        set_limit(&self.backing, id, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structs_have_the_kernels_sizes() {
        assert_eq!(std::mem::size_of::<FsXattr>(), 28);
        assert_eq!(std::mem::size_of::<FsDiskQuota>(), 112);
        assert_eq!(Q_XSETQLIM, 0x5804);
    }
}
