//! `cp`: `HEAD/GET/PUT /containers/{id}/archive`, on running and stopped
//! containers. A running container's files are reached through its
//! init's `/proc/<pid>/root`, so its volumes, binds and tmpfs mounts are
//! seen as its processes see them; a stopped one's root filesystem is
//! held mounted through the image service for the copy, and a path under
//! one of its binds or volumes is read from that mount's source. Every
//! path is resolved inside that root (`rooted.rs`), archives are built
//! without following links (`pack.rs`), and untrusted archives are
//! extracted without ever leaving it (`unpack.rs`).

pub mod pack;
pub mod rooted;
pub mod unpack;

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use skiff_api::{go_file_mode, ContainerPathStat};

use super::mounts::Kind;
use super::{Ctr, Engine, EngineError, Result};
use crate::images::driver::Held;
use rooted::Root;

/// Where a container path lives for a copy.
struct Located<'a> {
    root: Root,
    /// The path inside `root`, as given (not resolved).
    path: PathBuf,
    /// Where `root` is in the container (`/`, or a mount's destination).
    at: PathBuf,
    _held: Option<Held<'a>>,
}

/// `path` made absolute with `..` and `.` applied by name, as a prefix
/// test on mount points needs it.
fn lexical(path: &str) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in Path::new(path).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// The name Docker gives the archive's top entry: the path's last
/// element, or `.` for `dir/.` (copy a directory's content) and `/`.
fn entry_name(path: &str) -> String {
    if path == "." || path.ends_with("/.") {
        return ".".into();
    }
    lexical(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| ".".into())
}

fn mtime(st: &libc::stat) -> String {
    chrono::DateTime::from_timestamp(st.st_mtime, st.st_mtime_nsec as u32)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Docker's `copyUIDGID` and `noOverwriteDirNonDir`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PutOptions {
    pub no_overwrite_dir_non_dir: bool,
    pub copy_uid_gid: bool,
}

impl Engine {
    fn locate<'a>(&'a self, c: &Ctr, path: &str) -> Result<Located<'a>> {
        if path.is_empty() {
            return Err(EngineError::BadRequest("path cannot be empty".into()));
        }
        let st = c.state();
        let abs = Path::new("/").join(path);
        if st.running && st.pid > 0 {
            let root = Root::open(Path::new(&format!("/proc/{}/root", st.pid)))?;
            return Ok(Located {
                root,
                path: abs,
                at: "/".into(),
                _held: None,
            });
        }
        let clean = lexical(path);
        let mount = c
            .record()
            .mounts
            .iter()
            .filter(|m| m.kind != Kind::Tmpfs && Path::new(&m.source).is_dir() && clean.starts_with(&m.destination))
            .max_by_key(|m| m.destination.len())
            .cloned();
        if let Some(m) = mount {
            let rest = clean.strip_prefix(&m.destination).unwrap_or(Path::new(""));
            return Ok(Located {
                root: Root::open(Path::new(&m.source))?,
                path: Path::new("/").join(rest),
                at: m.destination.into(),
                _held: None,
            });
        }
        let held = self.images.hold(&c.id)?;
        Ok(Located {
            root: Root::open(&held.path)?,
            path: abs,
            at: "/".into(),
            _held: Some(held),
        })
    }

    fn not_found(e: std::io::Error, path: &str, key: &str) -> EngineError {
        match e.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => {
                EngineError::NotFound(format!("Could not find the file {path} in container {key}"))
            }
            _ => EngineError::Internal(e.to_string()),
        }
    }

    fn stat_located(loc: &Located, path: &str, key: &str) -> Result<(ContainerPathStat, PathBuf)> {
        let nf = |e| Self::not_found(e, path, key);
        let resolved = loc.root.resolve(&loc.path, false).map_err(nf)?;
        let st = loc.root.lstat(&resolved).map_err(nf)?;
        let link_target = if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
            let full = loc.root.resolve(&loc.path, true).map_err(nf)?;
            loc.at
                .join(full.strip_prefix("/").unwrap_or(&full))
                .display()
                .to_string()
        } else {
            String::new()
        };
        let name = match lexical(path).file_name() {
            Some(n) => n.to_string_lossy().into_owned(),
            None => "/".into(),
        };
        let stat = ContainerPathStat {
            name,
            size: st.st_size,
            mode: go_file_mode(st.st_mode),
            mtime: mtime(&st),
            link_target,
        };
        Ok((stat, resolved))
    }

    /// `HEAD /containers/{id}/archive?path=`: the path's stat; the last
    /// element is not followed (a symlink reports its target).
    pub fn archive_stat(&self, key: &str, path: &str) -> Result<ContainerPathStat> {
        let c = self.get(key)?;
        let loc = self.locate(&c, path)?;
        Ok(Self::stat_located(&loc, path, key)?.0)
    }

    /// `GET /containers/{id}/archive?path=`: the path as a tar stream into
    /// `w`, its top entry named as the path's last element.
    pub fn archive_get<W: Write>(&self, key: &str, path: &str, w: W) -> Result<W> {
        let c = self.get(key)?;
        let loc = self.locate(&c, path)?;
        let (_, resolved) = Self::stat_located(&loc, path, key)?;
        let ids = self.container_ids(&c.id);
        let w = pack::pack(&loc.root, &resolved, Path::new(&entry_name(path)), w, &ids)?;
        self.emit_container(&c, "archive-path", &[]);
        Ok(w)
    }

    /// `GET /containers/{id}/export`: the container's whole filesystem as
    /// one tar stream into `w`, entries named from its root.
    pub fn export<W: Write>(&self, key: &str, w: W) -> Result<W> {
        let c = self.get(key)?;
        let ids = self.container_ids(&c.id);
        let dir = self
            .images
            .mount(&c.id)
            .map_err(|e| EngineError::Internal(e.to_string()))?;
        let packed = (|| -> std::io::Result<W> {
            let root = Root::open(&dir)?;
            let mut items: Vec<(PathBuf, PathBuf)> = std::fs::read_dir(&dir)?
                .map(|e| e.map(|e| (Path::new("/").join(e.file_name()), PathBuf::from(e.file_name()))))
                .collect::<std::io::Result<_>>()?;
            items.sort();
            pack::pack_each(&root, &items, w, &ids)
        })();
        let _ = self.images.unmount(&c.id);
        let w = packed.map_err(|e| EngineError::Internal(e.to_string()))?;
        self.emit_container(&c, "export", &[]);
        Ok(w)
    }

    /// `PUT /containers/{id}/archive?path=`: extract `r` into the directory
    /// at `path` (its last element followed, as Docker does), refused on a
    /// read-only root filesystem or volume.
    pub fn archive_put<R: Read>(&self, key: &str, path: &str, opts: PutOptions, r: R) -> Result<()> {
        let c = self.get(key)?;
        let loc = self.locate(&c, path)?;
        let nf = |e| Self::not_found(e, path, key);
        let dest = loc.root.resolve(&loc.path, true).map_err(nf)?;
        let st = loc.root.lstat(&dest).map_err(nf)?;
        if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
            return Err(EngineError::BadRequest("extraction point is not a directory".into()));
        }
        let in_ctr = loc.at.join(dest.strip_prefix("/").unwrap_or(&dest));
        let (readonly_root, user, ids) = {
            let r = c.record();
            let ids = self.container_ids(&c.id);
            let hc = &r.inspect.host_config;
            let vol = r
                .mounts
                .iter()
                .filter(|m| m.kind != Kind::Tmpfs && in_ctr.starts_with(&m.destination))
                .max_by_key(|m| m.destination.len());
            match vol {
                Some(m) if !m.rw => {
                    return Err(EngineError::Forbidden("mounted volume is marked read-only".into()));
                }
                Some(_) => (false, r.inspect.config.user.clone(), ids),
                None => (hc.readonly_rootfs, r.inspect.config.user.clone(), ids),
            }
        };
        if readonly_root {
            return Err(EngineError::Forbidden("container rootfs is marked read-only".into()));
        }
        let chown = if opts.copy_uid_gid {
            Some(self.user_ids(&c, &user)?)
        } else {
            None
        };
        let uo = unpack::Options {
            no_overwrite_dir_non_dir: opts.no_overwrite_dir_non_dir,
            chown,
            ids,
        };
        unpack::unpack(&loc.root, &dest, r, uo).map_err(|e| match e {
            unpack::UnpackError::Entry { .. } => EngineError::Internal(e.to_string()),
            _ => EngineError::BadRequest(e.to_string()),
        })?;
        self.emit_container(&c, "extract-to-dir", &[]);
        Ok(())
    }

    /// The container user's IDs, looked up in its own /etc/passwd and
    /// /etc/group (read inside its root).
    fn user_ids(&self, c: &Ctr, user: &str) -> Result<(u32, u32)> {
        if user.is_empty() {
            return Ok((0, 0));
        }
        let read = |file: &str| -> String {
            let Ok(loc) = self.locate(c, file) else {
                return String::new();
            };
            let Ok(p) = loc.root.resolve(&loc.path, true) else {
                return String::new();
            };
            let mut s = String::new();
            if let Ok(fd) = loc.root.open_at(&p, libc::O_RDONLY) {
                let _ = std::fs::File::from(fd).read_to_string(&mut s);
            }
            s
        };
        let field = |db: &str, name: &str, col: usize| {
            db.lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() > col && (f[0] == name || f[2] == name))
                .and_then(|f| f[col].parse::<u32>().ok())
        };
        let (u, g) = user.split_once(':').map_or((user, None), |(u, g)| (u, Some(g)));
        let passwd = read("/etc/passwd");
        let uid = field(&passwd, u, 2).or_else(|| u.parse().ok()).ok_or_else(|| {
            EngineError::BadRequest(format!("unable to find user {u}: no matching entries in passwd file"))
        })?;
        let gid = match g {
            Some(g) => field(&read("/etc/group"), g, 2)
                .or_else(|| g.parse().ok())
                .ok_or_else(|| {
                    EngineError::BadRequest(format!("unable to find group {g}: no matching entries in group file"))
                })?,
            None => field(&passwd, u, 3).unwrap_or(0),
        };
        Ok((uid, gid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths() {
        assert_eq!(lexical("a/../../etc/./hosts"), Path::new("/etc/hosts"));
        assert_eq!(entry_name("/etc/hosts"), "hosts");
        assert_eq!(entry_name("/data/."), ".");
        assert_eq!(entry_name("/"), ".");
        assert_eq!(entry_name("/etc/"), "etc");
    }
}
