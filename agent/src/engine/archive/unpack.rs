//! Extracting an untrusted tar stream into a directory of a container
//! (`PUT /containers/{id}/archive`), as Docker's chrooted untar does: `..`
//! is refused, leading `/` is dropped, symlinks on the way are followed
//! only inside the container's root (`Root`), every change is made
//! relative to a directory descriptor and never follows the last
//! component (modes and owners are set without following links), hard
//! links must point inside the destination, and a directory is never
//! replaced by a file (or the reverse) when the client says so.

use std::collections::HashMap;
use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::fcntl::AtFlags;
use nix::sys::stat::{fchmodat, mknodat, FchmodatFlags, Mode, SFlag};
use nix::unistd::{fchownat, linkat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};

use super::rooted::{fstatat, Root};

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("{0:?} is outside of the destination")]
    Breakout(String),
    #[error("cannot overwrite directory {0:?} with non-directory {1:?}")]
    DirWithFile(String, String),
    #[error("cannot overwrite non-directory {0:?} with directory {1:?}")]
    FileWithDir(String, String),
    #[error("{path}: {source}")]
    Entry { path: String, source: io::Error },
    #[error("reading the archive: {0}")]
    Read(#[from] io::Error),
}

/// Docker's `noOverwriteDirNonDir` and `copyUIDGID` (the owner to give
/// every entry instead of the archive's).
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub no_overwrite_dir_non_dir: bool,
    /// Container IDs that own everything (`copyUIDGID`), else the
    /// archive's own.
    pub chown: Option<(u32, u32)>,
    /// Container IDs to host IDs (`--userns-remap`).
    pub ids: crate::idmap::IdMap,
}

fn nix_io(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

fn cname(n: &OsStr) -> io::Result<CString> {
    CString::new(n.as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn openat(dir: &OwnedFd, name: &OsStr, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let n = cname(name)?;
    // SAFETY: valid descriptor and NUL-terminated name.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            n.as_ptr(),
            flags | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            mode,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Remove `name` from `dir`, a directory with everything in it.
fn remove(dir: &OwnedFd, name: &OsStr) -> io::Result<()> {
    match unlinkat(Some(dir.as_raw_fd()), name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(nix::Error::ENOENT) => Ok(()),
        Err(nix::Error::EISDIR) | Err(nix::Error::EPERM) => {
            let sub = openat(dir, name, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
            let dup = sub.try_clone()?;
            let mut d = nix::dir::Dir::from_fd(dup.as_raw_fd()).map_err(nix_io)?;
            std::mem::forget(dup);
            let names: Vec<OsString> = d
                .iter()
                .filter_map(|e| e.ok())
                .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_os_string())
                .filter(|n| n != "." && n != "..")
                .collect();
            for n in names {
                remove(&sub, &n)?;
            }
            unlinkat(Some(dir.as_raw_fd()), name, UnlinkatFlags::RemoveDir).map_err(nix_io)
        }
        Err(e) => Err(nix_io(e)),
    }
}

/// The safe components of an archive path.
fn components(name: &Path) -> Result<Vec<OsString>, UnpackError> {
    let mut out = Vec::new();
    for c in name.components() {
        match c {
            Component::Normal(n) => out.push(n.to_os_string()),
            Component::CurDir | Component::RootDir => {}
            _ => return Err(UnpackError::Breakout(name.display().to_string())),
        }
    }
    Ok(out)
}

struct Unpacker<'a> {
    root: &'a Root,
    /// The destination directory, resolved, inside the root.
    dest: PathBuf,
    opts: Options,
    /// Parent directories already made or resolved: archive path → resolved.
    dirs: HashMap<PathBuf, PathBuf>,
}

impl Unpacker<'_> {
    /// The directory `rel` (archive path) resolves to, made as needed.
    fn ensure_dir(&mut self, rel: &[OsString]) -> io::Result<PathBuf> {
        let key: PathBuf = rel.iter().collect();
        if let Some(d) = self.dirs.get(&key) {
            return Ok(d.clone());
        }
        let mut cur = self.dest.clone();
        for c in rel {
            let next = self.root.resolve(&cur.join(c), true)?;
            match self.root.lstat(&next) {
                Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {}
                Ok(_) => return Err(io::Error::from_raw_os_error(libc::ENOTDIR)),
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    let (d, n) = self.root.parent(&next)?;
                    nix::sys::stat::mkdirat(Some(d.as_raw_fd()), n.as_os_str(), Mode::from_bits_truncate(0o755))
                        .map_err(nix_io)?;
                    let owner = self.opts.chown.or((!self.opts.ids.is_identity()).then_some((0, 0)));
                    if let Some((uid, gid)) = owner.and_then(|(u, g)| self.opts.ids.to_host(u, g).ok()) {
                        let _ = fchownat(
                            Some(d.as_raw_fd()),
                            n.as_os_str(),
                            Some(Uid::from_raw(uid)),
                            Some(Gid::from_raw(gid)),
                            AtFlags::AT_SYMLINK_NOFOLLOW,
                        );
                    }
                }
                Err(e) => return Err(e),
            }
            cur = next;
        }
        self.dirs.insert(key, cur.clone());
        Ok(cur)
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<R>) -> Result<(), UnpackError> {
        let path = entry.path()?.into_owned();
        let shown = path.display().to_string();
        let comps = components(&path)?;
        let Some((name, parents)) = comps.split_last() else {
            return Ok(()); // the destination itself
        };
        let ctx = |source: io::Error| UnpackError::Entry {
            path: shown.clone(),
            source,
        };
        let h = entry.header().clone();
        let kind = h.entry_type();
        let parent = self.ensure_dir(parents).map_err(ctx)?;
        let pdir = self.root.dir(&parent).map_err(ctx)?;
        let pfd = pdir.as_raw_fd();
        let existing = fstatat(&pdir, name).ok();
        if let Some(st) = existing {
            let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
            if is_dir && kind.is_dir() {
                // Merged into.
            } else if self.opts.no_overwrite_dir_non_dir && is_dir {
                return Err(UnpackError::DirWithFile(parent.join(name).display().to_string(), shown));
            } else if self.opts.no_overwrite_dir_non_dir && kind.is_dir() {
                return Err(UnpackError::FileWithDir(parent.join(name).display().to_string(), shown));
            } else {
                remove(&pdir, name).map_err(ctx)?;
                self.dirs.clear();
            }
        }
        let mode = Mode::from_bits_truncate(h.mode().unwrap_or(0o644) & 0o7777);
        match kind {
            tar::EntryType::Directory => {
                if existing.is_none() {
                    nix::sys::stat::mkdirat(Some(pfd), name.as_os_str(), mode).map_err(|e| ctx(nix_io(e)))?;
                }
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                let fd = openat(&pdir, name, libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY, 0o600).map_err(ctx)?;
                crate::images::extract::copy_entry(entry, &mut File::from(fd)).map_err(ctx)?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()?
                    .ok_or_else(|| ctx(io::Error::other("symlink without target")))?;
                symlinkat(target.as_ref(), Some(pfd), name.as_os_str()).map_err(|e| ctx(nix_io(e)))?;
                self.dirs.clear();
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name()?
                    .ok_or_else(|| ctx(io::Error::other("hard link without target")))?;
                let tcomps = components(&target)?;
                let Some((tname, tparents)) = tcomps.split_last() else {
                    return Err(UnpackError::Breakout(target.display().to_string()));
                };
                let tdir = self.ensure_dir(tparents).map_err(ctx)?;
                let tfd = self.root.dir(&tdir).map_err(ctx)?;
                linkat(
                    Some(tfd.as_raw_fd()),
                    tname.as_os_str(),
                    Some(pfd),
                    name.as_os_str(),
                    AtFlags::empty(),
                )
                .map_err(|e| ctx(nix_io(e)))?;
                return Ok(()); // the target's owner and mode
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let (flag, dev) = match kind {
                    tar::EntryType::Fifo => (SFlag::S_IFIFO, 0),
                    k => (
                        if k == tar::EntryType::Char {
                            SFlag::S_IFCHR
                        } else {
                            SFlag::S_IFBLK
                        },
                        libc::makedev(
                            h.device_major().ok().flatten().unwrap_or(0),
                            h.device_minor().ok().flatten().unwrap_or(0),
                        ),
                    ),
                };
                mknodat(Some(pfd), name.as_os_str(), flag, mode, dev).map_err(|e| ctx(nix_io(e)))?;
            }
            _ => return Ok(()),
        }
        let (uid, gid) = self
            .opts
            .chown
            .unwrap_or((h.uid().unwrap_or(0) as u32, h.gid().unwrap_or(0) as u32));
        let (uid, gid) = self.opts.ids.to_host(uid, gid).map_err(|e| ctx(io::Error::other(e)))?;
        fchownat(
            Some(pfd),
            name.as_os_str(),
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| ctx(nix_io(e)))?;
        if kind != tar::EntryType::Symlink {
            // After chown, which clears setuid bits; never through a link.
            fchmodat(Some(pfd), name.as_os_str(), mode, FchmodatFlags::NoFollowSymlink).map_err(|e| ctx(nix_io(e)))?;
        }
        let t = nix::sys::time::TimeSpec::new(h.mtime().unwrap_or(0) as i64, 0);
        let _ = nix::sys::stat::utimensat(
            Some(pfd),
            name.as_os_str(),
            &t,
            &t,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        );
        Ok(())
    }
}

/// Extract `r` into the directory `dest` (resolved, inside `root`).
pub fn unpack<R: Read>(root: &Root, dest: &Path, r: R, opts: Options) -> Result<(), UnpackError> {
    let mut u = Unpacker {
        root,
        dest: dest.to_path_buf(),
        opts,
        dirs: HashMap::new(),
    };
    let mut ar = tar::Archive::new(r);
    for e in ar.entries()? {
        u.entry(&mut e?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, kind, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o640);
            h.set_uid(1000);
            h.set_size(data.len() as u64);
            if let Some(l) = link {
                h.set_link_name(l).unwrap();
            }
            let name = h.as_old_mut().name.as_mut();
            name[..path.len()].copy_from_slice(path.as_bytes());
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn tmp() -> PathBuf {
        let p = std::env::temp_dir().join(format!("skiff-unpack-{}-{}", std::process::id(), rand::random::<u32>()));
        std::fs::create_dir_all(p.join("dst")).unwrap();
        p
    }

    #[test]
    fn extracts_inside_and_refuses_escapes() {
        let t = tmp();
        let outside = tmp();
        std::os::unix::fs::symlink(&outside, t.join("dst/out")).unwrap();
        // The same path inside the root: where the link leads from there.
        std::fs::create_dir_all(t.join(outside.strip_prefix("/").unwrap())).unwrap();
        std::os::unix::fs::symlink("/dst", t.join("dst/loop")).unwrap();
        let root = Root::open(&t).unwrap();
        let ok = tar_of(&[
            ("a/b/file", tar::EntryType::Regular, b"hi", None),
            ("a/hard", tar::EntryType::Link, b"", Some("a/b/file")),
            // Through a symlink: followed, but inside the root only.
            ("out/x", tar::EntryType::Regular, b"x", None),
            ("loop/y", tar::EntryType::Regular, b"y", None),
        ]);
        unpack(&root, Path::new("/dst"), &ok[..], Options::default()).unwrap();
        assert_eq!(std::fs::read(t.join("dst/a/hard")).unwrap(), b"hi");
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(t.join("dst/a/b/file")).unwrap().uid(), 1000);
        assert!(!outside.join("x").exists());
        assert!(t.join(outside.strip_prefix("/").unwrap()).join("x").exists());
        assert_eq!(std::fs::read(t.join("dst/y")).unwrap(), b"y");
        let evil = tar_of(&[("../escape", tar::EntryType::Regular, b"x", None)]);
        assert!(matches!(
            unpack(&root, Path::new("/dst"), &evil[..], Options::default()),
            Err(UnpackError::Breakout(_))
        ));
        let opts = Options {
            no_overwrite_dir_non_dir: true,
            chown: Some((5, 6)),
            ids: Default::default(),
        };
        let clash = tar_of(&[("a", tar::EntryType::Regular, b"x", None)]);
        let e = unpack(&root, Path::new("/dst"), &clash[..], opts.clone()).unwrap_err();
        assert!(e.to_string().starts_with("cannot overwrite directory"), "{e}");
        let owned = tar_of(&[("o", tar::EntryType::Regular, b"x", None)]);
        unpack(&root, Path::new("/dst"), &owned[..], opts).unwrap();
        assert_eq!(std::fs::metadata(t.join("dst/o")).unwrap().gid(), 6);
        std::fs::remove_dir_all(&t).unwrap();
        std::fs::remove_dir_all(&outside).unwrap();
    }
}
