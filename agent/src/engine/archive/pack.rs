//! A tar stream of one path inside a container's root, as Docker's
//! `GET /containers/{id}/archive` sends it: the entry itself under the
//! name the client asked for, and for a directory everything below it in
//! name order. Every file is reached through directory descriptors with
//! `O_NOFOLLOW`; symlinks are archived as links, never followed; hard
//! links inside the tree become link entries.

use std::collections::HashMap;
use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::rooted::{fstatat, readlinkat, Root};
use crate::idmap::IdMap;

fn openat(dir: &OwnedFd, name: &OsStr, flags: i32) -> io::Result<OwnedFd> {
    let n = CString::new(name.as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: valid descriptor and NUL-terminated name.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), n.as_ptr(), flags | libc::O_NOFOLLOW | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The names in a directory, sorted, without `.` and `..`.
fn list(dir: &OwnedFd) -> io::Result<Vec<OsString>> {
    let dup = openat(dir, OsStr::new("."), libc::O_RDONLY | libc::O_DIRECTORY)?;
    let mut d = nix::dir::Dir::from_fd(dup.as_raw_fd()).map_err(|e| io::Error::from_raw_os_error(e as i32))?;
    std::mem::forget(dup); // `Dir` owns it now
    let mut names: Vec<OsString> = d
        .iter()
        .filter_map(|e| e.ok())
        .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_os_string())
        .filter(|n| n != "." && n != "..")
        .collect();
    names.sort();
    Ok(names)
}

/// Reads exactly `left` bytes: a file that shrank while being read is
/// padded with zeros, one that grew is cut, so the archive stays valid.
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(self.left as usize);
        let mut n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            buf[..want].fill(0);
            n = want;
        }
        self.left -= n as u64;
        Ok(n)
    }
}

struct Packer<'a, W: Write> {
    b: tar::Builder<W>,
    /// (device, inode) of files with several links → their first name.
    links: HashMap<(u64, u64), PathBuf>,
    /// Owners are written as the container sees them (`--userns-remap`).
    ids: &'a IdMap,
}

/// Write the tar of `abs` (resolved, inside `root`) to `w`, its entries
/// named from `name`.
pub fn pack<W: Write>(root: &Root, abs: &Path, name: &Path, w: W, ids: &IdMap) -> io::Result<W> {
    pack_each(root, &[(abs.to_path_buf(), name.to_path_buf())], w, ids)
}

/// Write one tar of every `(abs, name)` of `items` (resolved, inside
/// `root`) to `w`; owners as the container sees them.
pub fn pack_each<W: Write>(root: &Root, items: &[(PathBuf, PathBuf)], w: W, ids: &IdMap) -> io::Result<W> {
    let mut p = Packer {
        b: tar::Builder::new(w),
        links: HashMap::new(),
        ids,
    };
    for (abs, name) in items {
        let (dir, base) = root.parent(abs)?;
        p.add(&dir, &base, name)?;
    }
    p.b.into_inner()
}

impl<W: Write> Packer<'_, W> {
    fn add(&mut self, dir: &OwnedFd, entry: &OsStr, name: &Path) -> io::Result<()> {
        let st = fstatat(dir, entry)?;
        let mut h = tar::Header::new_gnu();
        h.set_mode(st.st_mode & 0o7777);
        let (uid, gid) = self.ids.to_container(st.st_uid, st.st_gid);
        h.set_uid(uid.into());
        h.set_gid(gid.into());
        h.set_mtime(st.st_mtime.max(0) as u64);
        h.set_size(0);
        match st.st_mode & libc::S_IFMT {
            libc::S_IFDIR => {
                h.set_entry_type(tar::EntryType::Directory);
                let mut shown = name.as_os_str().to_os_string();
                if !shown.as_bytes().ends_with(b"/") {
                    shown.push("/");
                }
                self.b.append_data(&mut h, Path::new(&shown), io::empty())?;
                let sub = openat(dir, entry, libc::O_PATH | libc::O_DIRECTORY)?;
                for child in list(&sub)? {
                    self.add(&sub, &child, &name.join(&child))?;
                }
            }
            libc::S_IFREG => {
                let key = (st.st_dev, st.st_ino);
                if st.st_nlink > 1 {
                    if let Some(first) = self.links.get(&key) {
                        h.set_entry_type(tar::EntryType::Link);
                        let first = first.clone();
                        return self.b.append_link(&mut h, name, first);
                    }
                    self.links.insert(key, name.to_path_buf());
                }
                let fd = openat(dir, entry, libc::O_RDONLY | libc::O_NOCTTY)?;
                let f = File::from(fd);
                let size = f.metadata()?.len();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(size);
                self.b.append_data(&mut h, name, Exact { inner: f, left: size })?;
            }
            libc::S_IFLNK => {
                h.set_entry_type(tar::EntryType::Symlink);
                let target = readlinkat(dir, entry)?;
                self.b.append_link(&mut h, name, target)?;
            }
            kind @ (libc::S_IFCHR | libc::S_IFBLK) => {
                h.set_entry_type(if kind == libc::S_IFCHR {
                    tar::EntryType::Char
                } else {
                    tar::EntryType::Block
                });
                h.set_device_major(libc::major(st.st_rdev))?;
                h.set_device_minor(libc::minor(st.st_rdev))?;
                self.b.append_data(&mut h, name, io::empty())?;
            }
            libc::S_IFIFO => {
                h.set_entry_type(tar::EntryType::Fifo);
                self.b.append_data(&mut h, name, io::empty())?;
            }
            // Sockets have no archive form (Docker leaves them out too).
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_a_tree_without_following_links() {
        let t = std::env::temp_dir().join(format!("skiff-pack-{}-{}", std::process::id(), rand::random::<u32>()));
        std::fs::create_dir_all(t.join("d/sub")).unwrap();
        std::fs::write(t.join("d/a"), "alpha").unwrap();
        std::fs::hard_link(t.join("d/a"), t.join("d/sub/hard")).unwrap();
        std::os::unix::fs::symlink("/etc/shadow", t.join("d/evil")).unwrap();
        let root = Root::open(&t).unwrap();
        let tar = pack(
            &root,
            Path::new("/d"),
            Path::new("renamed"),
            Vec::new(),
            &IdMap::default(),
        )
        .unwrap();
        let mut ar = tar::Archive::new(&tar[..]);
        let mut seen = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().display().to_string();
            let kind = e.header().entry_type();
            let mut data = String::new();
            e.read_to_string(&mut data).unwrap();
            let link = e
                .link_name()
                .unwrap()
                .map(|l| l.display().to_string())
                .unwrap_or_default();
            seen.push(format!("{path} {kind:?} {data}{link}"));
        }
        assert_eq!(
            seen,
            [
                "renamed/ Directory ",
                "renamed/a Regular alpha",
                "renamed/evil Symlink /etc/shadow",
                "renamed/sub/ Directory ",
                "renamed/sub/hard Link renamed/a",
            ]
        );
        std::fs::remove_dir_all(&t).unwrap();
    }
}
