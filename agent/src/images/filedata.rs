//! An archive entry's content written into a file: a new file (a GNU
//! sparse entry's holes kept as holes, within a bound), or a file kept
//! from the last extraction of a build context, rewritten in place only
//! where it changed.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::fcntl::{openat, OFlag};
use nix::sys::stat::Mode;

/// The most a GNU sparse entry may declare beyond the bytes it stores:
/// its holes are skipped, not written, but a header may claim exabytes.
pub const MAX_SPARSE_HOLES: u64 = 4 << 30;
/// Copy an entry's content into `f`. A GNU sparse entry's holes become
/// holes in `f` (seeked over, never written), and one whose holes add up
/// to more than [`MAX_SPARSE_HOLES`] is refused before anything is read:
/// a header of a few hundred bytes could otherwise fill the disk.
pub fn copy_entry<R: Read>(entry: &mut tar::Entry<R>, f: &mut File) -> io::Result<u64> {
    if entry.header().entry_type() != tar::EntryType::GNUSparse {
        return io::copy(entry, f);
    }
    let stored = entry.header().entry_size()?;
    let holes = entry.size().saturating_sub(stored);
    if holes > MAX_SPARSE_HOLES {
        return Err(io::Error::other(format!(
            "sparse file of {} bytes stores {stored}: more than {MAX_SPARSE_HOLES} bytes of holes",
            entry.size()
        )));
    }
    use std::io::{Seek, SeekFrom, Write};
    let mut buf = vec![0u8; 64 << 10];
    let mut total = 0u64;
    loop {
        let n = entry.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if buf[..n].iter().all(|b| *b == 0) {
            f.seek(SeekFrom::Current(n as i64))?;
        } else {
            f.write_all(&buf[..n])?;
        }
        total += n as u64;
    }
    f.set_len(total)?;
    Ok(total)
}

/// A regular file `name` in `dir` opened for rewriting in place (not
/// truncated), if one is there (not a symlink, not shared by hard links). Checked before it is
/// opened: opening a device node an earlier entry made can have effects
/// of its own (a watchdog starts counting, a tape rewinds).
pub(super) fn reopen_at(dir: &OwnedFd, name: &OsStr) -> Option<File> {
    let regular_alone = |st: &libc::stat| st.st_mode & libc::S_IFMT == libc::S_IFREG && st.st_nlink == 1;
    let before = nix::sys::stat::fstatat(Some(dir.as_raw_fd()), name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW).ok()?;
    if !regular_alone(&before) {
        return None;
    }
    let fd = openat(
        Some(dir.as_raw_fd()),
        name,
        OFlag::O_RDWR | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
        Mode::empty(),
    )
    .ok()?;
    // SAFETY: fresh descriptor from openat.
    let f = unsafe { File::from_raw_fd(fd) };
    let after = nix::sys::stat::fstat(f.as_raw_fd()).ok()?;
    if !regular_alone(&after) || (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino) {
        return None;
    }
    Some(f)
}

/// Rewrite `f` (a file kept from the last extraction) with the entry's
/// content, writing only the chunks that differ: a build context sent
/// again unchanged costs reads of the page cache, not a rewrite of every
/// block. Returns the entry's size and whether anything was written.
pub(super) fn rewrite_changed<R: Read>(entry: &mut R, size: u64, f: &mut File) -> io::Result<(u64, bool)> {
    use std::os::unix::fs::FileExt;
    let old_len = f.metadata()?.len();
    // Chunks no larger than the file (contexts hold many small ones).
    let chunk = size.clamp(1, 128 << 10) as usize;
    let (mut new, mut old) = (vec![0u8; chunk], vec![0u8; chunk]);
    let (mut off, mut wrote) = (0u64, false);
    loop {
        let n = read_full(entry, &mut new)?;
        if n == 0 {
            break;
        }
        let same = off + n as u64 <= old_len && {
            f.read_exact_at(&mut old[..n], off)?;
            old[..n] == new[..n]
        };
        if !same {
            f.write_all_at(&new[..n], off)?;
            wrote = true;
        }
        off += n as u64;
    }
    if old_len != off {
        f.set_len(off)?;
        wrote = true;
    }
    Ok((off, wrote))
}

/// Fill `buf` from `r` unless the stream ends first; the bytes read.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
