//! `--userns-remap`: the subordinate ID ranges (`/etc/subuid`,
//! `/etc/subgid`) that container user and group IDs map to on the host,
//! as Docker's `idtools`. Container IDs are numbered from 0 through the
//! ranges in file order. The identity map (no remapping) is the default.

use std::io;

/// One contiguous run: container IDs `container..container+size` are host
/// IDs `host..host+size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdRange {
    pub container: u32,
    pub host: u32,
    pub size: u32,
}

/// The kernel shows a host ID the namespace does not map as this one.
pub const OVERFLOW_ID: u32 = 65534;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdMap {
    pub uids: Vec<IdRange>,
    pub gids: Vec<IdRange>,
}

#[derive(Debug, thiserror::Error)]
#[error("Container ID {0} cannot be mapped to a host ID")]
pub struct Unmapped(pub u32);

fn to_host(ranges: &[IdRange], id: u32) -> Result<u32, Unmapped> {
    if ranges.is_empty() {
        return Ok(id);
    }
    ranges
        .iter()
        .find(|r| id >= r.container && id - r.container < r.size)
        .map(|r| r.host + (id - r.container))
        .ok_or(Unmapped(id))
}

fn to_container(ranges: &[IdRange], id: u32) -> u32 {
    if ranges.is_empty() {
        return id;
    }
    ranges
        .iter()
        .find(|r| id >= r.host && id - r.host < r.size)
        .map_or(OVERFLOW_ID, |r| r.container + (id - r.host))
}

impl IdMap {
    /// Contiguous container IDs over `uids` and `gids` (host start, size).
    pub fn from_ranges(uids: &[(u32, u32)], gids: &[(u32, u32)]) -> Self {
        let number = |rs: &[(u32, u32)]| {
            let mut next = 0u32;
            rs.iter()
                .map(|&(host, size)| {
                    let r = IdRange {
                        container: next,
                        host,
                        size,
                    };
                    next = next.saturating_add(size);
                    r
                })
                .collect()
        };
        Self {
            uids: number(uids),
            gids: number(gids),
        }
    }

    pub fn is_identity(&self) -> bool {
        self.uids.is_empty() && self.gids.is_empty()
    }

    /// The host IDs of a container's (uid, gid).
    pub fn to_host(&self, uid: u32, gid: u32) -> Result<(u32, u32), Unmapped> {
        Ok((to_host(&self.uids, uid)?, to_host(&self.gids, gid)?))
    }

    /// The container's view of host (uid, gid): unmapped IDs show as the
    /// overflow ID, as the kernel shows them inside the namespace.
    pub fn to_container(&self, uid: u32, gid: u32) -> (u32, u32) {
        (to_container(&self.uids, uid), to_container(&self.gids, gid))
    }

    /// The host IDs of the container's root: the owner of everything the
    /// engine makes for containers.
    pub fn root(&self) -> (u32, u32) {
        self.to_host(0, 0).unwrap_or((0, 0))
    }

    /// `/proc/PID/uid_map` (or `gid_map`) lines.
    pub fn map_file(ranges: &[IdRange]) -> String {
        ranges
            .iter()
            .map(|r| format!("{} {} {}\n", r.container, r.host, r.size))
            .collect()
    }

    /// `lchown` of `path` to the host IDs of container (uid, gid).
    pub fn chown(&self, path: &std::path::Path, uid: u32, gid: u32) -> io::Result<()> {
        let (u, g) = self.to_host(uid, gid).map_err(io::Error::other)?;
        std::os::unix::fs::lchown(path, Some(u), Some(g))
    }
}

/// Re-own every entry under `root` from host IDs through `from` to host
/// IDs through `to` (the same container IDs), as a remapped container's
/// changes become an image layer that holds its image's owners. What a
/// chown clears is put back: set-user-ID bits and file capabilities (a
/// namespaced one's root ID converted too). Hard links are re-owned once.
pub fn rechown_tree(root: &std::path::Path, from: &IdMap, to: &IdMap) -> io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mut linked = std::collections::HashSet::new();
    for entry in walkdir::WalkDir::new(root) {
        let entry = entry.map_err(io::Error::other)?;
        let path = entry.path();
        let meta = path.symlink_metadata()?;
        if !meta.is_dir() && meta.nlink() > 1 && !linked.insert((meta.dev(), meta.ino())) {
            continue;
        }
        let (uid, gid) = from.to_container(meta.uid(), meta.gid());
        let (u, g) = to.to_host(uid, gid).map_err(io::Error::other)?;
        if (u, g) == (meta.uid(), meta.gid()) {
            continue;
        }
        let caps = meta.is_file().then(|| file_caps(path)).flatten();
        std::os::unix::fs::lchown(path, Some(u), Some(g))?;
        if !meta.file_type().is_symlink() && meta.mode() & 0o6000 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        }
        if let Some(caps) = caps {
            set_file_caps(path, &recap(caps, from, to)?)?;
        }
    }
    Ok(())
}

const CAPS: &std::ffi::CStr = c"security.capability";

fn c_path(path: &std::path::Path) -> io::Result<std::ffi::CString> {
    std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| io::Error::other("a NUL in a path"))
}

/// The file's `security.capability` attribute, if it has one.
fn file_caps(path: &std::path::Path) -> Option<Vec<u8>> {
    let p = c_path(path).ok()?;
    let mut buf = vec![0u8; 64];
    // SAFETY: the buffer is ours and its length is passed.
    let n = unsafe { libc::lgetxattr(p.as_ptr(), CAPS.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (n > 0).then(|| {
        buf.truncate(n as usize);
        buf
    })
}

fn set_file_caps(path: &std::path::Path, caps: &[u8]) -> io::Result<()> {
    let p = c_path(path)?;
    // SAFETY: the value is ours and its length is passed.
    let rc = unsafe { libc::lsetxattr(p.as_ptr(), CAPS.as_ptr(), caps.as_ptr().cast(), caps.len(), 0) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A namespaced (v3) capability's root ID converted from `from` to `to`;
/// one whose root becomes the host's is written as v2, as the kernel does.
fn recap(mut caps: Vec<u8>, from: &IdMap, to: &IdMap) -> io::Result<Vec<u8>> {
    const V3: u32 = 0x0300_0000;
    let magic = u32::from_le_bytes(caps[..4].try_into().map_err(io::Error::other)?);
    if caps.len() != 24 || magic & 0xff00_0000 != V3 {
        return Ok(caps);
    }
    let rootid = u32::from_le_bytes(caps[20..24].try_into().map_err(io::Error::other)?);
    let (uid, _) = from.to_container(rootid, 0);
    let (host, _) = to.to_host(uid, 0).map_err(io::Error::other)?;
    if host == 0 {
        caps.truncate(20);
        caps[..4].copy_from_slice(&((magic & 0x00ff_ffff) | 0x0200_0000).to_le_bytes());
    } else {
        caps[20..24].copy_from_slice(&host.to_le_bytes());
    }
    Ok(caps)
}

/// The ranges of `name` (or its numeric `id`) in a subordinate-ID file's
/// text (`name:start:count` lines), in file order.
pub fn parse_subid(text: &str, name: &str, id: Option<u32>) -> Vec<(u32, u32)> {
    let id = id.map(|i| i.to_string());
    text.lines()
        .filter_map(|l| {
            let mut f = l.trim().split(':');
            let (owner, start, count) = (f.next()?, f.next()?, f.next()?);
            if owner != name && Some(owner) != id.as_deref() {
                return None;
            }
            Some((start.parse().ok()?, count.parse().ok()?))
        })
        .filter(|&(_, count)| count > 0)
        .collect()
}

/// The first host ID at or above 100000 past every range in `texts`
/// (subuid and subgid) where `size` IDs are free, as Docker picks
/// `dockremap`'s range.
pub fn next_free(texts: &[&str], size: u32) -> u32 {
    let mut taken: Vec<(u64, u64)> = texts
        .iter()
        .flat_map(|t| t.lines())
        .filter_map(|l| {
            let mut f = l.trim().split(':').skip(1);
            let start: u64 = f.next()?.parse().ok()?;
            let count: u64 = f.next()?.parse().ok()?;
            Some((start, start + count))
        })
        .collect();
    taken.sort();
    let mut start = 100_000u64;
    for (lo, hi) in taken {
        if start + size as u64 <= lo {
            break;
        }
        start = start.max(hi);
    }
    start as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_map_through_the_ranges_in_order() {
        let m = IdMap::from_ranges(&[(100000, 1000), (300000, 64536)], &[(200000, 65536)]);
        assert_eq!(m.to_host(0, 0).unwrap(), (100000, 200000));
        assert_eq!(m.to_host(999, 5).unwrap(), (100999, 200005));
        assert_eq!(m.to_host(1000, 0).unwrap(), (300000, 200000));
        assert!(m.to_host(65536, 0).is_err());
        assert_eq!(m.to_container(300001, 200006), (1001, 6));
        assert_eq!(m.to_container(0, 0), (OVERFLOW_ID, OVERFLOW_ID));
        assert_eq!(m.root(), (100000, 200000));
        let id = IdMap::default();
        assert!(id.is_identity());
        assert_eq!(id.to_host(70000, 3).unwrap(), (70000, 3));
        assert_eq!(IdMap::map_file(&m.uids), "0 100000 1000\n1000 300000 64536\n");
    }

    #[test]
    fn namespaced_capabilities_follow_their_root() {
        let m = IdMap::from_ranges(&[(100000, 65536)], &[(100000, 65536)]);
        let id = IdMap::default();
        let mut v3 = vec![0x01, 0, 0, 0x03];
        v3.extend([0xff; 16]);
        v3.extend(100000u32.to_le_bytes());
        let v2 = recap(v3.clone(), &m, &id).unwrap();
        assert_eq!(v2.len(), 20);
        assert_eq!(&v2[..4], &[0x01, 0, 0, 0x02]);
        assert_eq!(recap(v2.clone(), &m, &id).unwrap(), v2);
        let mut other = v3.clone();
        other[20..24].copy_from_slice(&100005u32.to_le_bytes());
        assert_eq!(&recap(other, &m, &id).unwrap()[20..24], &5u32.to_le_bytes());
    }

    /// Owners move from one map to the other; a hard-linked file once.
    #[test]
    fn trees_are_reowned_once_per_inode() {
        use std::os::unix::fs::MetadataExt;
        if !nix::unistd::Uid::effective().is_root() {
            return;
        }
        let dir = std::env::temp_dir().join(format!("skiff-rechown-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("d")).unwrap();
        std::fs::write(dir.join("d/a"), "x").unwrap();
        std::fs::hard_link(dir.join("d/a"), dir.join("b")).unwrap();
        let m = IdMap::from_ranges(&[(100000, 65536)], &[(100000, 65536)]);
        for p in ["", "d", "d/a"] {
            std::os::unix::fs::lchown(dir.join(p), Some(100000), Some(100007)).unwrap();
        }
        let r = rechown_tree(&dir, &m, &IdMap::default());
        let owners: Vec<(u32, u32)> = ["", "d", "d/a", "b"]
            .iter()
            .map(|p| {
                std::fs::symlink_metadata(dir.join(p))
                    .map(|m| (m.uid(), m.gid()))
                    .unwrap()
            })
            .collect();
        let _ = std::fs::remove_dir_all(&dir);
        r.unwrap();
        assert_eq!(owners, vec![(0, 7); 4]);
    }

    #[test]
    fn subid_files_are_read_by_name_or_uid() {
        let text = "alice:100000:65536\n# x\n1001:165536:65536\ndockremap:231072:65536\nbad:line\n";
        assert_eq!(parse_subid(text, "alice", Some(1000)), vec![(100000, 65536)]);
        assert_eq!(parse_subid(text, "bob", Some(1001)), vec![(165536, 65536)]);
        assert!(parse_subid(text, "carol", None).is_empty());
        assert_eq!(next_free(&[text], 65536), 296608);
        assert_eq!(next_free(&["", ""], 65536), 100000);
        assert_eq!(next_free(&["a:200000:10\n"], 65536), 100000);
    }
}
