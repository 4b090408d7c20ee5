//! Safe extraction of untrusted layer tarballs.
//!
//! The `tar` crate parses headers (GNU long names, PAX); every filesystem
//! change is made here, relative to directory file descriptors opened with
//! `O_NOFOLLOW`, so no entry can write outside the target: `..` and absolute
//! paths are rejected, a path that runs through a symlink is rejected, and
//! hard links must point at a regular file already extracted inside the root.
//! Whiteouts become overlay whiteouts (`Whiteouts::Overlay`) or deletions
//! (`Whiteouts::Apply`, for the vfs driver), or are plain files
//! (`Whiteouts::Literal`: build contexts, archives ADD unpacks).

use std::collections::HashSet;
use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{fchmodat, mknodat, FchmodatFlags, Mode, SFlag};
use nix::unistd::{fchownat, linkat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};

pub use super::filedata::{copy_entry, MAX_SPARSE_HOLES};
use super::filedata::{reopen_at, rewrite_changed};
use super::tarsplit::Recorder;
use crate::idmap::IdMap;

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("unsafe path in archive: {0}")]
    UnsafePath(String),
    #[error("archive entry {path}: {source}")]
    Entry { path: String, source: io::Error },
    #[error("reading archive: {0}")]
    Read(#[from] io::Error),
    /// An incremental context lists a path that neither the kept context
    /// nor the archive holds.
    #[error("{0} is listed but was not sent")]
    Missing(String),
}

/// How `.wh.` entries are turned into filesystem changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Whiteouts {
    /// Keep them as overlayfs whiteouts (char device 0/0, opaque xattr).
    Overlay,
    /// Apply them: delete the named file from the target (vfs driver).
    Apply,
    /// Not whiteouts at all: plain files of that name (a build context, an
    /// archive ADD unpacks).
    Literal,
}

/// Split an archive path into safe, normal components.
fn clean_components(path: &Path) -> Result<Vec<&OsStr>, ExtractError> {
    let mut out = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::RootDir => {} // "/etc/x" in a layer means "etc/x"
            Component::ParentDir | Component::Prefix(_) => {
                return Err(ExtractError::UnsafePath(path.display().to_string()))
            }
        }
    }
    Ok(out)
}

fn nix_io(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

fn open_dir_at(dir: &OwnedFd, name: &OsStr) -> io::Result<OwnedFd> {
    let fd = openat(
        Some(dir.as_raw_fd()),
        name,
        OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_RDONLY,
        Mode::empty(),
    )
    .map_err(nix_io)?;
    // SAFETY: openat returned a fresh descriptor that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Open every directory of `comps` below `root`, refusing symlinks and
/// non-directories on the way; missing ones are created when `create`
/// names their owner (host IDs).
fn walk_dirs(root: &OwnedFd, comps: &[&OsStr], create: Option<(u32, u32)>) -> io::Result<OwnedFd> {
    let mut cur = root.try_clone()?;
    for c in comps {
        cur = match open_dir_at(&cur, c) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) && create.is_some() => {
                nix::sys::stat::mkdirat(Some(cur.as_raw_fd()), *c, Mode::from_bits_truncate(0o755)).map_err(nix_io)?;
                let fd = open_dir_at(&cur, c)?;
                if let Some((uid, gid)) = create.filter(|o| *o != (0, 0)) {
                    nix::unistd::fchown(fd.as_raw_fd(), Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
                        .map_err(nix_io)?;
                }
                fd
            }
            Err(e) => return Err(e),
        };
    }
    Ok(cur)
}

fn remove_at(dir: &OwnedFd, name: &OsStr) -> io::Result<()> {
    match unlinkat(Some(dir.as_raw_fd()), name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) => Ok(()),
        Err(nix::Error::ENOENT) => Ok(()),
        Err(nix::Error::EISDIR) | Err(nix::Error::EPERM) => {
            let sub = open_dir_at(dir, name)?;
            clear_dir(&sub)?;
            unlinkat(Some(dir.as_raw_fd()), name, UnlinkatFlags::RemoveDir).map_err(nix_io)
        }
        Err(e) => Err(nix_io(e)),
    }
}

/// Remove every entry of a directory (not following symlinks).
fn clear_dir(dir: &OwnedFd) -> io::Result<()> {
    let dup = dir.try_clone()?;
    let mut d = nix::dir::Dir::from_fd(dup.as_raw_fd()).map_err(nix_io)?;
    std::mem::forget(dup); // Dir owns it now
    let names: Vec<CString> = d
        .iter()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_owned())
        .filter(|n| n.as_bytes() != b"." && n.as_bytes() != b"..")
        .collect();
    for n in names {
        remove_at(dir, OsStr::from_bytes(n.as_bytes()))?;
    }
    Ok(())
}

fn set_xattr(fd: &OwnedFd, name: &str, value: &[u8]) -> io::Result<()> {
    let name = CString::new(name).map_err(io::Error::other)?;
    // SAFETY: valid fd, NUL-terminated name, buffer with its true length.
    let rc = unsafe { libc::fsetxattr(fd.as_raw_fd(), name.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Open the regular file `rel` beneath `root` without following a
/// symlink anywhere on the way (a layer's own files, for `tarsplit`).
pub fn open_file_beneath(root: &Path, rel: &Path) -> io::Result<File> {
    let root: OwnedFd = File::open(root)?.into();
    let comps = clean_components(rel).map_err(io::Error::other)?;
    let Some((name, parents)) = comps.split_last() else {
        return Err(io::Error::other("empty path"));
    };
    let dir = walk_dirs(&root, parents, None)?;
    let fd = openat(
        Some(dir.as_raw_fd()),
        *name,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(nix_io)?;
    // SAFETY: fresh descriptor from openat.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Extract `reader` (an uncompressed tar stream) into `target`, which must
/// exist. With `rec`, the reader is `rec.wrap(…)` and each regular file's
/// content is noted in the record (`tarsplit`). Returns the number of
/// bytes of regular file content written.
pub fn extract_layer<R: Read>(
    reader: R,
    target: &Path,
    whiteouts: Whiteouts,
    rec: Option<&Recorder>,
    ids: &IdMap,
) -> Result<u64, ExtractError> {
    extract(reader, target, whiteouts, rec, None, ids)
}

/// Extract a tree (`.wh.` names taken literally) over what `target`
/// already holds: a regular file already there is rewritten in place
/// (same inode: creating thousands of files right after deleting
/// thousands makes ext4 search for inodes not recently freed, which costs
/// more than the writes), and whatever the archive does not name is
/// removed afterwards. With `listed` (an incremental build context: the
/// archive holds only what changed), what the list does not name is
/// removed first, and every listed path must exist afterwards. Returns
/// the bytes of file content written.
pub fn extract_over<R: Read>(reader: R, target: &Path, listed: Option<&HashSet<PathBuf>>) -> Result<u64, ExtractError> {
    let mut seen = HashSet::new();
    let present = listed.map(|l| remove_unlisted(target, l)).transpose()?;
    let size = extract(
        reader,
        target,
        Whiteouts::Literal,
        None,
        Some(&mut seen),
        &IdMap::default(),
    )?;
    let (Some(listed), Some(present)) = (listed, present) else {
        remove_unlisted(target, &seen)?;
        return Ok(size);
    };
    match listed.iter().find(|p| !present.contains(*p) && !seen.contains(*p)) {
        Some(p) => Err(ExtractError::Missing(p.display().to_string())),
        None => Ok(size),
    }
}

/// A path as an archive entry's name is kept (`a/./b/` is `a/b`); `..`
/// is refused.
pub fn entry_path(name: &str) -> Result<PathBuf, ExtractError> {
    Ok(clean_components(Path::new(name))?.iter().collect())
}

/// Remove from `target` what neither `names` nor their ancestors name;
/// the paths kept that exist.
fn remove_unlisted(target: &Path, names: &HashSet<PathBuf>) -> Result<HashSet<PathBuf>, ExtractError> {
    let mut keep = HashSet::new();
    for p in names {
        keep.extend(p.ancestors().map(Path::to_path_buf));
    }
    let (stale, present): (Vec<PathBuf>, Vec<PathBuf>) = walkdir::WalkDir::new(target)
        .min_depth(1)
        .contents_first(true)
        .into_iter()
        .flatten()
        .map(|e| e.path().strip_prefix(target).unwrap_or(e.path()).to_path_buf())
        .partition(|rel| !keep.contains(rel));
    let root: OwnedFd = File::open(target)?.into();
    for rel in stale {
        let comps = clean_components(&rel)?;
        if let Some((name, parents)) = comps.split_last() {
            if let Ok(dir) = walk_dirs(&root, parents, None) {
                remove_at(&dir, name)?;
            }
        }
    }
    Ok(present.into_iter().collect())
}

fn extract<R: Read>(
    reader: R,
    target: &Path,
    whiteouts: Whiteouts,
    rec: Option<&Recorder>,
    mut seen: Option<&mut HashSet<PathBuf>>,
    ids: &IdMap,
) -> Result<u64, ExtractError> {
    let root_file = File::open(target)?;
    let root: OwnedFd = root_file.into();
    let mut archive = tar::Archive::new(reader);
    let mut size = 0u64;
    let mut dir_times: Vec<(PathBuf, i64)> = Vec::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let shown = path.display().to_string();
        let comps = clean_components(&path)?;
        let Some((name, parents)) = comps.split_last() else {
            continue;
        };
        let ctx = |source: io::Error| ExtractError::Entry {
            path: shown.clone(),
            source,
        };
        let parent = walk_dirs(&root, parents, Some(ids.root())).map_err(ctx)?;
        let name_str = name.to_string_lossy();
        let literal = whiteouts == Whiteouts::Literal;
        if name_str == OPAQUE_MARKER && !literal {
            match whiteouts {
                Whiteouts::Overlay => set_xattr(&parent, "trusted.overlay.opaque", b"y").map_err(ctx)?,
                _ => clear_dir(&parent).map_err(ctx)?,
            }
            continue;
        }
        if let Some(hidden) = name_str.strip_prefix(WHITEOUT_PREFIX).filter(|_| !literal) {
            // `.wh.`, `.wh..` and `.wh...` would name nothing, the
            // directory itself or its parent: refused, never applied.
            if matches!(hidden, "" | "." | "..") {
                return Err(ExtractError::UnsafePath(shown));
            }
            let hidden = OsStr::new(hidden);
            remove_at(&parent, hidden).map_err(ctx)?;
            if whiteouts == Whiteouts::Overlay {
                mknodat(Some(parent.as_raw_fd()), hidden, SFlag::S_IFCHR, Mode::empty(), 0)
                    .map_err(|e| ctx(nix_io(e)))?;
            }
            continue;
        }
        let header = entry.header().clone();
        let mode = Mode::from_bits_truncate(header.mode().unwrap_or(0o644) & 0o7777);
        let (uid, gid) = ids
            .to_host(header.uid().unwrap_or(0) as u32, header.gid().unwrap_or(0) as u32)
            .map_err(|e| ctx(io::Error::other(e)))?;
        let mtime = header.mtime().unwrap_or(0) as i64;
        let kind = header.entry_type();
        let pfd = parent.as_raw_fd();
        // Anything already there (from this layer) is replaced, except a
        // directory over a directory.
        if let Some(seen) = seen.as_deref_mut() {
            seen.insert(comps.iter().collect());
        }
        let regular = matches!(
            kind,
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse
        );
        let reused = if regular && seen.is_some() {
            reopen_at(&parent, name)
        } else {
            None
        };
        let existing_dir = reused.is_none() && open_dir_at(&parent, name).is_ok();
        // A kept file found unchanged: its metadata before this entry.
        let mut untouched = None;
        if !(kind.is_dir() && existing_dir) && reused.is_none() {
            remove_at(&parent, name).map_err(ctx)?;
        }
        match kind {
            tar::EntryType::Directory => {
                if !existing_dir {
                    nix::sys::stat::mkdirat(Some(pfd), *name, mode).map_err(|e| ctx(nix_io(e)))?;
                }
                dir_times.push((comps.iter().collect(), mtime));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                let rewrite = reused.is_some() && kind != tar::EntryType::GNUSparse;
                let mut f = match reused {
                    Some(f) => {
                        if !rewrite {
                            f.set_len(0).map_err(ctx)?;
                        }
                        f
                    }
                    None => {
                        let fd = openat(
                            Some(pfd),
                            *name,
                            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                            Mode::from_bits_truncate(0o600),
                        )
                        .map_err(|e| ctx(nix_io(e)))?;
                        // SAFETY: fresh descriptor from openat.
                        unsafe { File::from_raw_fd(fd) }
                    }
                };
                if let Some(r) = rec {
                    r.file(
                        entry.raw_file_position(),
                        entry.size(),
                        &comps.iter().collect::<PathBuf>(),
                    );
                }
                if rewrite {
                    let entry_size = entry.size();
                    let (n, wrote) = rewrite_changed(&mut entry, entry_size, &mut f).map_err(ctx)?;
                    size += n;
                    if !wrote {
                        untouched = nix::sys::stat::fstat(f.as_raw_fd()).ok();
                    }
                } else {
                    size += copy_entry(&mut entry, &mut f).map_err(ctx)?;
                }
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()?
                    .ok_or_else(|| ctx(io::Error::other("symlink without target")))?;
                symlinkat(target.as_ref(), Some(pfd), *name).map_err(|e| ctx(nix_io(e)))?;
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name()?
                    .ok_or_else(|| ctx(io::Error::other("hard link without target")))?;
                let tcomps = clean_components(&target)?;
                let Some((tname, tparents)) = tcomps.split_last() else {
                    return Err(ExtractError::UnsafePath(shown));
                };
                let tdir = walk_dirs(&root, tparents, None).map_err(ctx)?;
                linkat(
                    Some(tdir.as_raw_fd()),
                    *tname,
                    Some(pfd),
                    *name,
                    nix::fcntl::AtFlags::empty(),
                )
                .map_err(|e| ctx(nix_io(e)))?;
                continue; // shares the inode: owner and mode are the target's
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let (sflag, dev) = match kind {
                    tar::EntryType::Fifo => (SFlag::S_IFIFO, 0),
                    k => {
                        let major = header.device_major().ok().flatten().unwrap_or(0) as u64;
                        let minor = header.device_minor().ok().flatten().unwrap_or(0) as u64;
                        let flag = if k == tar::EntryType::Char {
                            SFlag::S_IFCHR
                        } else {
                            SFlag::S_IFBLK
                        };
                        (flag, libc::makedev(major as u32, minor as u32))
                    }
                };
                mknodat(Some(pfd), *name, sflag, mode, dev).map_err(|e| ctx(nix_io(e)))?;
            }
            // PAX/GNU metadata entries are consumed by the tar crate; other
            // kinds have no filesystem meaning.
            _ => continue,
        }
        // Unchanged content with the same owner, mode and time: nothing to set.
        let same = untouched.is_some_and(|st: libc::stat| {
            (st.st_uid, st.st_gid) == (uid, gid)
                && st.st_mode & 0o7777 == mode.bits()
                && (st.st_mtime, st.st_mtime_nsec) == (mtime, 0)
        });
        if !same {
            fchownat(
                Some(pfd),
                *name,
                Some(Uid::from_raw(uid)),
                Some(Gid::from_raw(gid)),
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(|e| ctx(nix_io(e)))?;
        }
        if kind != tar::EntryType::Symlink && !same {
            // chown clears setuid bits, so the mode goes last.
            fchmodat(Some(pfd), *name, mode, FchmodatFlags::FollowSymlink).map_err(|e| ctx(nix_io(e)))?;
        }
        if let Ok(Some(exts)) = entry.pax_extensions() {
            for ext in exts.flatten() {
                if let Some(xattr) = ext.key().ok().and_then(|k| k.strip_prefix("SCHILY.xattr.")) {
                    if kind == tar::EntryType::Regular || kind.is_dir() {
                        if let Ok(fd) = openat(
                            Some(pfd),
                            *name,
                            OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                            Mode::empty(),
                        ) {
                            // SAFETY: fresh descriptor from openat.
                            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
                            let _ = set_xattr(&fd, xattr, ext.value_bytes());
                        }
                    }
                }
            }
        }
        if !kind.is_dir() && !same {
            set_mtime(&parent, name, mtime);
        }
    }
    // Directory times last, deepest first, since children changed them.
    for (dir, mtime) in dir_times.into_iter().rev() {
        let comps: Vec<&OsStr> = dir.iter().collect();
        if let Some((name, parents)) = comps.split_last() {
            if let Ok(parent) = walk_dirs(&root, parents, None) {
                set_mtime(&parent, name, mtime);
            }
        }
    }
    Ok(size)
}

fn set_mtime(dir: &impl AsFd, name: &OsStr, mtime: i64) {
    let ts = nix::sys::time::TimeSpec::new(mtime, 0);
    let _ = nix::sys::stat::utimensat(
        Some(dir.as_fd().as_raw_fd()),
        name,
        &ts,
        &ts,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, kind, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o755);
            h.set_size(data.len() as u64);
            if let Some(l) = link {
                h.set_link_name(l).unwrap();
            }
            // set_path refuses "..", so write raw bytes to test hostile input.
            let name = h.as_old_mut().name.as_mut();
            name[..path.len()].copy_from_slice(path.as_bytes());
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn tmp() -> PathBuf {
        let p = std::env::temp_dir().join(format!(
            "skiff-extract-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    #[test]
    fn remapped_layers_hold_host_ids() {
        use std::os::unix::fs::MetadataExt;
        let t = tmp();
        let mut b = tar::Builder::new(Vec::new());
        for (path, uid, gid) in [("a/b/f", 0u64, 0u64), ("a/b/g", 1000, 50), ("h", 70000, 0)] {
            let mut h = tar::Header::new_gnu();
            h.set_size(1);
            h.set_mode(0o644);
            h.set_uid(uid);
            h.set_gid(gid);
            b.append_data(&mut h, path, &b"x"[..]).unwrap();
        }
        let data = b.into_inner().unwrap();
        let ids = IdMap::from_ranges(&[(100000, 65536)], &[(200000, 65536)]);
        let e = extract_layer(&data[..], &t, Whiteouts::Apply, None, &ids).unwrap_err();
        assert!(
            e.to_string()
                .contains("Container ID 70000 cannot be mapped to a host ID"),
            "{e}"
        );
        let owner = |p: &str| {
            let m = std::fs::symlink_metadata(t.join(p)).unwrap();
            (m.uid(), m.gid())
        };
        assert_eq!(owner("a/b/f"), (100000, 200000));
        assert_eq!(owner("a/b/g"), (101000, 200050));
        // Parents the archive does not name belong to the container's root.
        assert_eq!(owner("a"), (100000, 200000));
        let _ = std::fs::remove_dir_all(&t);
    }

    #[test]
    fn extracts_files_dirs_and_links() {
        let t = tmp();
        let data = tar_with(&[
            ("bin/", tar::EntryType::Directory, b"", None),
            ("bin/busybox", tar::EntryType::Regular, b"ELF", None),
            ("bin/sh", tar::EntryType::Symlink, b"", Some("busybox")),
            ("bin/ls", tar::EntryType::Link, b"", Some("bin/busybox")),
        ]);
        extract_layer(&data[..], &t, Whiteouts::Apply, None, &IdMap::default()).unwrap();
        assert_eq!(std::fs::read(t.join("bin/ls")).unwrap(), b"ELF");
        assert_eq!(std::fs::read_link(t.join("bin/sh")).unwrap(), Path::new("busybox"));
        std::fs::remove_dir_all(&t).unwrap();
    }

    #[test]
    fn rejects_parent_dir_escape() {
        let t = tmp();
        let data = tar_with(&[("../escape", tar::EntryType::Regular, b"x", None)]);
        assert!(matches!(
            extract_layer(&data[..], &t, Whiteouts::Apply, None, &IdMap::default()),
            Err(ExtractError::UnsafePath(_))
        ));
        std::fs::remove_dir_all(&t).unwrap();
    }

    #[test]
    fn rejects_writes_through_symlinks() {
        let t = tmp();
        let outside = tmp();
        let link = outside.to_string_lossy().to_string();
        let data = tar_with(&[
            ("evil", tar::EntryType::Symlink, b"", Some(&link)),
            ("evil/pwned", tar::EntryType::Regular, b"x", None),
        ]);
        assert!(extract_layer(&data[..], &t, Whiteouts::Apply, None, &IdMap::default()).is_err());
        assert!(!outside.join("pwned").exists());
        std::fs::remove_dir_all(&t).unwrap();
        std::fs::remove_dir_all(&outside).unwrap();
    }

    #[test]
    fn rejects_hardlinks_through_symlinks() {
        let t = tmp();
        let data = tar_with(&[
            ("etc", tar::EntryType::Symlink, b"", Some("/etc")),
            ("shadow", tar::EntryType::Link, b"", Some("etc/shadow")),
        ]);
        assert!(extract_layer(&data[..], &t, Whiteouts::Apply, None, &IdMap::default()).is_err());
        assert!(!t.join("shadow").exists());
        std::fs::remove_dir_all(&t).unwrap();
    }

    #[test]
    fn whiteouts_of_the_directory_or_its_parent_are_refused() {
        for evil in ["a/b/.wh...", "a/b/.wh..", "a/b/.wh."] {
            for mode in [Whiteouts::Apply, Whiteouts::Overlay] {
                let t = tmp();
                std::fs::create_dir_all(t.join("a/b")).unwrap();
                std::fs::write(t.join("a/keep"), b"x").unwrap();
                std::fs::write(t.join("a/b/keep"), b"x").unwrap();
                let data = tar_with(&[(evil, tar::EntryType::Regular, b"", None)]);
                let r = extract_layer(&data[..], &t, mode, None, &IdMap::default());
                assert!(matches!(r, Err(ExtractError::UnsafePath(_))), "{evil}: {r:?}");
                assert!(t.join("a/keep").exists() && t.join("a/b/keep").exists(), "{evil}");
                std::fs::remove_dir_all(&t).unwrap();
            }
        }
    }

    #[test]
    fn whiteouts_apply_deletes_and_overlay_marks() {
        let t = tmp();
        std::fs::create_dir_all(t.join("a/b")).unwrap();
        std::fs::write(t.join("a/gone"), b"x").unwrap();
        let data = tar_with(&[
            ("a/.wh.gone", tar::EntryType::Regular, b"", None),
            ("a/b/.wh..wh..opq", tar::EntryType::Regular, b"", None),
        ]);
        extract_layer(&data[..], &t, Whiteouts::Apply, None, &IdMap::default()).unwrap();
        assert!(!t.join("a/gone").exists());
        let o = tmp();
        extract_layer(&data[..], &o, Whiteouts::Overlay, None, &IdMap::default()).unwrap();
        use std::os::unix::fs::FileTypeExt;
        assert!(std::fs::symlink_metadata(o.join("a/gone"))
            .unwrap()
            .file_type()
            .is_char_device());
        std::fs::remove_dir_all(&t).unwrap();
        std::fs::remove_dir_all(&o).unwrap();
    }

    fn sparse_tar(hole: u64, data: &[u8]) -> Vec<u8> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::GNUSparse);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        let gnu = h.as_gnu_mut().unwrap();
        gnu.sparse[0].set_offset(hole);
        gnu.sparse[0].set_length(data.len() as u64);
        gnu.set_real_size(hole + data.len() as u64);
        h.as_old_mut().name[..6].copy_from_slice(b"sparse");
        h.set_cksum();
        let mut out = h.as_bytes().to_vec();
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512 + 1024, 0);
        out
    }

    #[test]
    fn sparse_holes_are_skipped_and_huge_ones_refused() {
        use std::os::unix::fs::MetadataExt;
        let t = tmp();
        let data = [b'x'; 512];
        extract_layer(
            &sparse_tar(64 << 20, &data)[..],
            &t,
            Whiteouts::Apply,
            None,
            &IdMap::default(),
        )
        .unwrap();
        let m = std::fs::metadata(t.join("sparse")).unwrap();
        assert_eq!(m.len(), (64 << 20) + 512);
        assert!(m.blocks() * 512 < 1 << 20, "holes were written: {} blocks", m.blocks());
        let huge = sparse_tar(1 << 50, &data);
        let e = extract_layer(&huge[..], &t, Whiteouts::Overlay, None, &IdMap::default()).unwrap_err();
        assert!(e.to_string().contains("bytes of holes"), "{e}");
        assert!(std::fs::metadata(t.join("sparse")).map_or(true, |m| m.blocks() < 2048));
        std::fs::remove_dir_all(&t).unwrap();
    }

    /// A context sent again is rewritten in place: the same inode, the new
    /// content whether it is the same, changed past the first chunk,
    /// shorter or longer.
    #[test]
    fn rewriting_a_context_keeps_inodes_and_takes_new_content() {
        use std::os::unix::fs::MetadataExt;
        let t = tmp();
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut changed = big.clone();
        changed[200_000] ^= 1;
        let first = tar_with(&[
            ("same", tar::EntryType::Regular, &big, None),
            ("changed", tar::EntryType::Regular, &big, None),
            ("shorter", tar::EntryType::Regular, &big, None),
            ("longer", tar::EntryType::Regular, &big[..1000], None),
        ]);
        extract_over(&first[..], &t, None).unwrap();
        let ino = |n: &str| std::fs::metadata(t.join(n)).unwrap().ino();
        let before: Vec<u64> = ["same", "changed", "shorter", "longer"].map(ino).to_vec();
        let second = tar_with(&[
            ("same", tar::EntryType::Regular, &big, None),
            ("changed", tar::EntryType::Regular, &changed, None),
            ("shorter", tar::EntryType::Regular, &big[..5], None),
            ("longer", tar::EntryType::Regular, &big, None),
        ]);
        extract_over(&second[..], &t, None).unwrap();
        assert_eq!(["same", "changed", "shorter", "longer"].map(ino).to_vec(), before);
        assert_eq!(std::fs::read(t.join("same")).unwrap(), big);
        assert_eq!(std::fs::read(t.join("changed")).unwrap(), changed);
        assert_eq!(std::fs::read(t.join("shorter")).unwrap(), &big[..5]);
        assert_eq!(std::fs::read(t.join("longer")).unwrap(), big);
        std::fs::remove_dir_all(&t).unwrap();
    }

    #[test]
    fn rewriting_a_context_never_opens_a_device_or_fifo_it_holds() {
        let t = tmp();
        let fifo = t.join("x");
        nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o644)).unwrap();
        // A reader, so that opening the FIFO for writing would succeed.
        use std::os::unix::fs::OpenOptionsExt;
        let _reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .unwrap();
        // SAFETY: plain inotify calls on a path we own.
        let ino = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        assert!(ino >= 0);
        let ino = unsafe { OwnedFd::from_raw_fd(ino) };
        let dir = CString::new(t.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid inotify descriptor and NUL-terminated path.
        assert!(unsafe { libc::inotify_add_watch(ino.as_raw_fd(), dir.as_ptr(), libc::IN_OPEN) } >= 0);
        let data = tar_with(&[("x", tar::EntryType::Regular, b"now a file", None)]);
        extract_over(&data[..], &t, None).unwrap();
        let mut buf = [0u8; 4096];
        // SAFETY: reading into a buffer we own, with its length.
        let n = unsafe { libc::read(ino.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        let (mut at, mut opens_of_x) = (0usize, 0);
        let head = std::mem::size_of::<libc::inotify_event>();
        while n > 0 && at + head <= n as usize {
            let len = u32::from_ne_bytes(buf[at + 12..at + 16].try_into().unwrap()) as usize;
            if buf[at + head..at + head + len].starts_with(b"x\0") {
                opens_of_x += 1;
            }
            at += head + len;
        }
        // One open: the new file's creation; the FIFO was never opened.
        assert_eq!(opens_of_x, 1, "the FIFO was opened");
        assert_eq!(std::fs::read(&fifo).unwrap(), b"now a file");
        std::fs::remove_dir_all(&t).unwrap();
    }
}
