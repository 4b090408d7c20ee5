//! The btrfs graph driver's filesystem calls, as Docker's driver makes
//! them: a subvolume per base layer, a writable snapshot of the parent for
//! every other layer and every container (the kernel's ioctls, no fork),
//! and qgroup limits for `--storage-opt size=` (the `btrfs` command of
//! Debian's btrfs-progs: rare, and its quota steps are several calls).

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;

/// `struct btrfs_ioctl_vol_args`.
#[repr(C)]
pub struct VolArgs {
    fd: i64,
    name: [u8; 4088],
}

/// `struct btrfs_ioctl_vol_args_v2` (no qgroup inheritance, no flags).
#[repr(C)]
pub struct VolArgsV2 {
    fd: i64,
    transid: u64,
    flags: u64,
    unused: [u64; 4],
    name: [u8; 4040],
}

nix::ioctl_write_ptr!(subvol_create, 0x94, 14, VolArgs);
nix::ioctl_write_ptr!(snap_destroy, 0x94, 15, VolArgs);
nix::ioctl_write_ptr!(snap_create_v2, 0x94, 23, VolArgsV2);

/// Is `path` on btrfs?
pub fn is_btrfs(path: &Path) -> bool {
    nix::sys::statfs::statfs(path).is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::BTRFS_SUPER_MAGIC)
}

fn name_into(buf: &mut [u8], name: &OsStr) -> io::Result<()> {
    let b = name.as_bytes();
    if b.is_empty() || b.len() >= buf.len() || b.contains(&b'/') || b.contains(&0) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "bad subvolume name"));
    }
    buf[..b.len()].copy_from_slice(b);
    Ok(())
}

fn split(path: &Path) -> io::Result<(File, &OsStr)> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "bad subvolume path"));
    };
    Ok((File::open(parent)?, name))
}

fn ctx(what: &str, path: &Path, e: nix::Error) -> io::Error {
    io::Error::new(io::Error::from(e).kind(), format!("{what} {}: {e}", path.display()))
}

/// A new, empty subvolume at `path`.
pub fn create(path: &Path) -> io::Result<()> {
    let (dir, name) = split(path)?;
    let mut args = VolArgs { fd: 0, name: [0; 4088] };
    name_into(&mut args.name, name)?;
    // SAFETY: a directory descriptor we hold and a struct of the kernel's layout.
    unsafe { subvol_create(dir.as_raw_fd(), &args) }.map_err(|e| ctx("creating subvolume", path, e))?;
    Ok(())
}

/// A writable snapshot of subvolume `src` at `path`.
pub fn snapshot(src: &Path, path: &Path) -> io::Result<()> {
    let (dir, name) = split(path)?;
    let source = File::open(src)?;
    let mut args = VolArgsV2 {
        fd: source.as_raw_fd() as i64,
        transid: 0,
        flags: 0,
        unused: [0; 4],
        name: [0; 4040],
    };
    name_into(&mut args.name, name)?;
    // SAFETY: descriptors we hold and a struct of the kernel's layout.
    unsafe { snap_create_v2(dir.as_raw_fd(), &args) }.map_err(|e| ctx("snapshotting into", path, e))?;
    Ok(())
}

/// Delete the subvolume at `path` (its blocks are freed in the
/// background by the kernel).
pub fn delete(path: &Path) -> io::Result<()> {
    let (dir, name) = split(path)?;
    let mut args = VolArgs { fd: 0, name: [0; 4088] };
    name_into(&mut args.name, name)?;
    // SAFETY: a directory descriptor we hold and a struct of the kernel's layout.
    unsafe { snap_destroy(dir.as_raw_fd(), &args) }.map_err(|e| ctx("deleting subvolume", path, e))?;
    Ok(())
}

fn btrfs(args: &[&OsStr]) -> io::Result<()> {
    let out = Command::new("btrfs").args(args).output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "btrfs {}: {}",
            args.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Limit what subvolume `path` refers to (its own and shared blocks, as
/// Docker's driver counts) to `bytes`, turning quotas on for the
/// filesystem the first time.
pub fn limit(home: &Path, path: &Path, bytes: u64) -> io::Result<()> {
    let quotas = home.join(".quotas-enabled");
    if !quotas.exists() {
        btrfs(&["quota".as_ref(), "enable".as_ref(), home.as_os_str()])?;
        btrfs(&["quota".as_ref(), "rescan".as_ref(), "-w".as_ref(), home.as_os_str()])?;
        File::create(&quotas)?;
    }
    let size = bytes.to_string();
    btrfs(&["qgroup".as_ref(), "limit".as_ref(), size.as_ref(), path.as_os_str()])
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_ioctl_structs_have_the_kernels_size() {
        assert_eq!(std::mem::size_of::<super::VolArgs>(), 4096);
        assert_eq!(std::mem::size_of::<super::VolArgsV2>(), 4096);
    }
}
