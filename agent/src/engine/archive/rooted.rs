//! A directory tree reached only through a root directory's descriptor:
//! every open goes through `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS
//! | RESOLVE_NO_MAGICLINKS)`, so neither `..` nor a symlink (planted by a
//! container, or swapped in while we look) can lead outside. Symlinks are
//! resolved here, one component at a time, inside the root, as Docker
//! resolves container paths.

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Symlinks followed in one resolution before giving up (Linux's limit).
const MAX_HOPS: usize = 40;

/// The kernel's `struct open_how` (openat2(2)).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// A root directory.
pub struct Root {
    fd: OwnedFd,
}

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// The relative form of a path inside the root (`.` for the root).
fn relative(abs: &Path) -> PathBuf {
    let rel: PathBuf = abs.components().filter(|c| matches!(c, Component::Normal(_))).collect();
    if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel
    }
}

impl Root {
    pub fn open(dir: &Path) -> io::Result<Self> {
        let f = File::open(dir)?;
        Ok(Self { fd: f.into() })
    }

    /// Open `abs` (already resolved: no symlink on the way) under the root.
    pub fn open_at(&self, abs: &Path, flags: i32) -> io::Result<OwnedFd> {
        let path = cstr(&relative(abs))?;
        let how = OpenHow {
            flags: (flags | libc::O_CLOEXEC | libc::O_NOFOLLOW) as u64,
            mode: 0,
            resolve: libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS,
        };
        // SAFETY: openat2 reads the path and the open_how we own.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                self.fd.as_raw_fd(),
                path.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
    }

    /// The directory `abs` (resolved), for `*at` calls.
    pub fn dir(&self, abs: &Path) -> io::Result<OwnedFd> {
        self.open_at(abs, libc::O_PATH | libc::O_DIRECTORY)
    }

    /// `abs`'s parent directory and its last name (`.` for the root).
    pub fn parent(&self, abs: &Path) -> io::Result<(OwnedFd, OsString)> {
        match abs.file_name() {
            Some(name) => Ok((self.dir(abs.parent().unwrap_or(Path::new("/")))?, name.to_os_string())),
            None => Ok((self.dir(Path::new("/"))?, OsString::from("."))),
        }
    }

    /// `lstat` of a resolved path.
    pub fn lstat(&self, abs: &Path) -> io::Result<libc::stat> {
        let (dir, name) = self.parent(abs)?;
        fstatat(&dir, &name)
    }

    /// Resolve `path` (absolute inside the root, or relative to it) to a
    /// path without symlinks, following them inside the root; the last
    /// component's symlink only with `follow_last`. A missing last
    /// component is fine (it is returned as is); a missing directory on
    /// the way is not.
    pub fn resolve(&self, path: &Path, follow_last: bool) -> io::Result<PathBuf> {
        let mut cur: Vec<OsString> = Vec::new();
        let mut todo: Vec<OsString> = Vec::new();
        push_components(&mut todo, path);
        let mut hops = 0;
        while let Some(c) = todo.pop() {
            if c == ".." {
                cur.pop();
                continue;
            }
            let last = todo.is_empty();
            let here: PathBuf = std::iter::once(OsStr::new("/"))
                .chain(cur.iter().map(|s| s.as_os_str()))
                .collect();
            let dir = self.dir(&here)?;
            match readlinkat(&dir, &c) {
                Ok(target) if !last || follow_last => {
                    hops += 1;
                    if hops > MAX_HOPS {
                        return Err(io::Error::from_raw_os_error(libc::ELOOP));
                    }
                    if target.is_absolute() {
                        cur.clear();
                    }
                    push_components(&mut todo, &target);
                }
                _ => cur.push(c),
            }
        }
        Ok(std::iter::once(OsStr::new("/"))
            .chain(cur.iter().map(|s| s.as_os_str()))
            .collect())
    }
}

/// Queue a path's components so that the first comes off first.
fn push_components(todo: &mut Vec<OsString>, p: &Path) {
    let comps: Vec<OsString> = p
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect();
    todo.extend(comps.into_iter().rev());
}

pub fn fstatat(dir: &OwnedFd, name: &OsStr) -> io::Result<libc::stat> {
    let n = CString::new(name.as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: an all-zero stat is valid; fstatat fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let flags = libc::AT_SYMLINK_NOFOLLOW;
    // SAFETY: valid descriptor, NUL-terminated name, a stat we own.
    let rc = unsafe { libc::fstatat(dir.as_raw_fd(), n.as_ptr(), &mut st, flags) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

pub fn readlinkat(dir: &OwnedFd, name: &OsStr) -> io::Result<PathBuf> {
    nix::fcntl::readlinkat(Some(dir.as_raw_fd()), name)
        .map(PathBuf::from)
        .map_err(|e| io::Error::from_raw_os_error(e as i32))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp() -> PathBuf {
        let p = std::env::temp_dir().join(format!("skiff-rooted-{}-{}", std::process::id(), rand::random::<u32>()));
        std::fs::create_dir_all(p.join("etc/deep")).unwrap();
        std::fs::write(p.join("etc/hosts"), "x").unwrap();
        p
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let t = tmp();
        std::os::unix::fs::symlink("/etc", t.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../..", t.join("etc/deep/up")).unwrap();
        std::os::unix::fs::symlink("/etc/hosts", t.join("etc/link")).unwrap();
        let r = Root::open(&t).unwrap();
        assert_eq!(
            r.resolve(Path::new("/abs/hosts"), true).unwrap(),
            Path::new("/etc/hosts")
        );
        // `..` and absolute links stop at the root.
        assert_eq!(
            r.resolve(Path::new("/etc/deep/up/etc"), true).unwrap(),
            Path::new("/etc")
        );
        assert_eq!(
            r.resolve(Path::new("/../../etc/hosts"), true).unwrap(),
            Path::new("/etc/hosts")
        );
        assert_eq!(
            r.resolve(Path::new("/etc/link"), false).unwrap(),
            Path::new("/etc/link")
        );
        assert_eq!(
            r.resolve(Path::new("/etc/link"), true).unwrap(),
            Path::new("/etc/hosts")
        );
        assert_eq!(r.lstat(Path::new("/etc/hosts")).unwrap().st_size, 1);
        // Opening refuses a path with a symlink in it outright.
        assert!(r.open_at(Path::new("/abs/hosts"), libc::O_RDONLY).is_err());
        assert!(r.lstat(Path::new("/")).is_ok());
        std::fs::remove_dir_all(&t).unwrap();
    }
}
