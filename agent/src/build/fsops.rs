//! The file side of COPY and ADD: finding sources in the build context (or
//! in another stage's or image's root) with Docker's wildcards, never
//! leaving that root, even through symlinks; the content digest the cache
//! keys them by (names, types, modes, sizes, link targets and contents —
//! not times, so a touched but unchanged file still hits); and copying
//! into a step's root filesystem with Docker's rules for destinations,
//! owners (`--chown`) and modes (`--chmod`).

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use super::sums::Sums;

/// Resolve `rel` inside `root` as if `root` were `/`: symlinks (absolute
/// or relative) are followed but can never leave it (Docker's
/// `FollowSymlinkInScope`). The last component is followed too unless
/// `keep_last`.
pub fn resolve_in(root: &Path, rel: &str, keep_last: bool) -> io::Result<PathBuf> {
    let mut parts: Vec<String> = Vec::new();
    let mut pending: Vec<String> = split(rel);
    pending.reverse();
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        match part.as_str() {
            "." | "" => continue,
            ".." => {
                parts.pop();
                continue;
            }
            _ => {}
        }
        let candidate = root.join(parts.iter().collect::<PathBuf>()).join(&part);
        let last = pending.is_empty();
        match fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() && !(last && keep_last) => {
                hops += 1;
                if hops > 255 {
                    return Err(io::Error::other(format!("too many links in {rel}")));
                }
                let target = fs::read_link(&candidate)?;
                let t = target.to_string_lossy().to_string();
                if t.starts_with('/') {
                    parts.clear();
                }
                let mut more = split(&t);
                more.reverse();
                pending.extend(more);
            }
            _ => parts.push(part),
        }
    }
    Ok(root.join(parts.iter().collect::<PathBuf>()))
}

fn split(p: &str) -> Vec<String> {
    p.split('/').filter(|s| !s.is_empty()).map(str::to_string).collect()
}

fn fnmatch(pattern: &str, name: &str) -> bool {
    let (Ok(p), Ok(n)) = (CString::new(pattern), CString::new(name)) else {
        return false;
    };
    // SAFETY: two NUL-terminated strings.
    unsafe { libc::fnmatch(p.as_ptr(), n.as_ptr(), 0) == 0 }
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The paths (relative to `root`) a COPY source names: one path, or
/// every match of its wildcards (`*`, `?`, `[…]` within one component).
pub fn expand_source(root: &Path, src: &str) -> io::Result<Vec<String>> {
    let clean = super::state::workdir("/", src);
    if !has_wildcard(&clean) {
        return Ok(vec![clean.trim_start_matches('/').to_string()]);
    }
    let mut found = vec![String::new()];
    for comp in split(&clean) {
        let mut next = Vec::new();
        for base in &found {
            if !has_wildcard(&comp) {
                let p = if base.is_empty() {
                    comp.clone()
                } else {
                    format!("{base}/{comp}")
                };
                if fs::symlink_metadata(resolve_in(root, &p, true)?).is_ok() {
                    next.push(p);
                }
                continue;
            }
            let dir = resolve_in(root, base, false)?;
            let Ok(rd) = fs::read_dir(&dir) else { continue };
            let mut names: Vec<String> = rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect();
            names.sort();
            for n in names.into_iter().filter(|n| fnmatch(&comp, n)) {
                next.push(if base.is_empty() { n } else { format!("{base}/{n}") });
            }
        }
        found = next;
    }
    Ok(found)
}

/// Feed the digest of the tree at `path` (named `name`) into `h`: each
/// entry's name, mode and size, a symlink's target, a file's SHA-256
/// (kept in `sums` for a context's files).
pub fn digest_into(h: &mut Sha256, name: &str, path: &Path, sums: &Sums) -> io::Result<()> {
    let walk = walkdir::WalkDir::new(path).follow_links(false).sort_by_file_name();
    for e in walk {
        let e = e.map_err(io::Error::other)?;
        let rel = e.path().strip_prefix(path).unwrap_or(e.path());
        let m = e.path().symlink_metadata()?;
        h.update(format!("{name}/{}\0{:o}\0{}\0", rel.display(), m.mode(), m.len()).as_bytes());
        if m.file_type().is_symlink() {
            h.update(fs::read_link(e.path())?.as_os_str().as_bytes());
        } else if m.is_file() {
            h.update(sums.digest(e.path(), &m)?.as_bytes());
        }
        h.update(b"\n");
    }
    Ok(())
}

/// Owners and modes for what COPY writes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Attrs {
    pub uid: u32,
    pub gid: u32,
    /// `--chmod`.
    pub mode: Option<u32>,
    /// The copy goes into a new directory of the layer's own tree (not
    /// through the overlay): nothing is in the way, and a context file
    /// that already has the copy's owner and mode (no `--chmod`) is
    /// hard-linked, not copied: no data copied and, on ext4, no inode to
    /// find. The context slot never rewrites a file with two links (see
    /// `images::filedata::reopen_at`), so the layer's file stays as made.
    pub link: bool,
}

/// Make `dir` (absolute inside `rootfs`) and its missing parents, owned
/// by `attrs` (mode 0755).
pub fn make_dirs(rootfs: &Path, dir: &str, attrs: Attrs) -> io::Result<PathBuf> {
    let mut cur = String::new();
    for comp in split(dir) {
        cur = format!("{cur}/{comp}");
        let host = resolve_in(rootfs, &cur, false)?;
        match fs::symlink_metadata(&host) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("cannot make directory {cur}: a file is in the way"),
                ))
            }
            Err(_) => {
                fs::create_dir(&host)?;
                fs::set_permissions(&host, fs::Permissions::from_mode(0o755))?;
                std::os::unix::fs::lchown(&host, Some(attrs.uid), Some(attrs.gid))?;
            }
        }
    }
    resolve_in(rootfs, dir, false)
}

/// Copy `src` (a file, directory or symlink on the host) to `dest` (a host
/// path inside the root, resolved already): a directory's contents merge
/// into `dest`; files replace what is there.
pub fn copy_tree(src: &Path, dest: &Path, attrs: Attrs) -> io::Result<()> {
    let m = fs::symlink_metadata(src)?;
    if m.is_dir() {
        if !attrs.link && !dest.is_dir() {
            if fs::symlink_metadata(dest).is_ok() {
                fs::remove_file(dest)?;
            }
            fs::create_dir(dest)?;
        } else if attrs.link {
            fs::create_dir(dest)?;
        }
        let mut names: Vec<_> = fs::read_dir(src)?.flatten().map(|e| e.file_name()).collect();
        names.sort();
        for n in names {
            copy_tree(&src.join(&n), &dest.join(&n), attrs)?;
        }
        return finish(dest, &m, attrs);
    }
    if attrs.link
        && m.is_file()
        && m.uid() == attrs.uid
        && m.gid() == attrs.gid
        && attrs.mode.is_none()
        && !has_xattrs(src)
    {
        // Copied instead on EXDEV, EMLINK and the like.
        if fs::hard_link(src, dest).is_ok() {
            return Ok(());
        }
    }
    if !attrs.link {
        if let Ok(old) = fs::symlink_metadata(dest) {
            if old.is_dir() {
                fs::remove_dir_all(dest)?;
            } else {
                fs::remove_file(dest)?;
            }
        }
    }
    if m.file_type().is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(src)?, dest)?;
    } else if m.is_file() {
        fs::copy(src, dest)?;
    } else {
        return Ok(());
    }
    finish(dest, &m, attrs)
}

/// Whether `path` carries extended attributes (a copy would not: layer
/// tars record none).
fn has_xattrs(path: &Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return true;
    };
    // SAFETY: a NUL-terminated path; a null buffer of size 0 asks for the size.
    unsafe { libc::llistxattr(c.as_ptr(), std::ptr::null_mut(), 0) != 0 }
}

/// Owner, mode and times of a copied entry.
fn finish(dest: &Path, src: &fs::Metadata, attrs: Attrs) -> io::Result<()> {
    std::os::unix::fs::lchown(dest, Some(attrs.uid), Some(attrs.gid))?;
    if src.file_type().is_symlink() {
        return Ok(());
    }
    let mode = attrs.mode.unwrap_or(src.mode() & 0o7777);
    fs::set_permissions(dest, fs::Permissions::from_mode(mode))?;
    let t = filetime(src);
    let c = CString::new(dest.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: a NUL-terminated path and two timespecs.
    let rc = unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), t.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn filetime(m: &fs::Metadata) -> [libc::timespec; 2] {
    let ts = |s: i64, ns: i64| libc::timespec { tv_sec: s, tv_nsec: ns };
    [ts(m.atime(), m.atime_nsec()), ts(m.mtime(), m.mtime_nsec())]
}

/// `--chown=user[:group]` against the root's `/etc/passwd` and
/// `/etc/group` (numbers need neither).
pub fn lookup_owner(rootfs: &Path, spec: &str) -> Result<(u32, u32), String> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let read = |file: &str| fs::read_to_string(resolve_in(rootfs, file, false).unwrap_or_default()).unwrap_or_default();
    // passwd: name:x:uid:gid:…; group: name:x:gid:members.
    let find = |table: &str, name: &str| -> Option<(u32, u32)> {
        table.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.first() != Some(&name) || f.len() < 3 {
                return None;
            }
            let id = f[2].parse().ok()?;
            Some((id, f.get(3).and_then(|g| g.parse().ok()).unwrap_or(id)))
        })
    };
    let (uid, primary) = match user.parse::<u32>() {
        Ok(n) => (n, n),
        Err(_) => find(&read("/etc/passwd"), user)
            .ok_or_else(|| format!("unable to convert uid/gid chown string to host mapping: can't find uid for user {user}: no such user: {user}"))?,
    };
    let gid = match group {
        None => if user.parse::<u32>().is_ok() { uid } else { primary },
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => find(&read("/etc/group"), g)
                .map(|(gid, _)| gid)
                .ok_or_else(|| format!("unable to convert uid/gid chown string to host mapping: can't find gid for group {g}: no such group: {g}"))?,
        },
    };
    Ok((uid, gid))
}

/// A destination relative to WORKDIR made absolute; whether it names a
/// directory (trailing `/`).
pub fn dest_path(workdir: &str, dest: &str) -> (String, bool) {
    let is_dir = dest.ends_with('/') || dest.ends_with("/.") || dest == ".";
    (
        super::state::workdir(if workdir.is_empty() { "/" } else { workdir }, dest),
        is_dir,
    )
}

/// Is `rel` a real path inside the root, not `..` out of it?
pub fn is_inside(rel: &str) -> bool {
    Path::new(rel).components().all(|c| !matches!(c, Component::ParentDir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_never_leave_the_root() {
        let dir = std::env::temp_dir().join(format!("skiff-fsops-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("a/b")).unwrap();
        std::os::unix::fs::symlink("/etc", dir.join("a/abs")).unwrap();
        std::os::unix::fs::symlink("../../..", dir.join("a/b/up")).unwrap();
        assert_eq!(resolve_in(&dir, "a/abs/passwd", false).unwrap(), dir.join("etc/passwd"));
        assert_eq!(resolve_in(&dir, "a/b/up/x", false).unwrap(), dir.join("x"));
        assert_eq!(resolve_in(&dir, "../../x", false).unwrap(), dir.join("x"));
        assert_eq!(resolve_in(&dir, "a/abs", true).unwrap(), dir.join("a/abs"));
        fs::write(dir.join("a/f1.txt"), "1").unwrap();
        fs::write(dir.join("a/f2.txt"), "2").unwrap();
        fs::write(dir.join("a/g.md"), "3").unwrap();
        assert_eq!(expand_source(&dir, "a/*.txt").unwrap(), ["a/f1.txt", "a/f2.txt"]);
        assert_eq!(expand_source(&dir, "*/f?.txt").unwrap(), ["a/f1.txt", "a/f2.txt"]);
        assert!(expand_source(&dir, "nothing*").unwrap().is_empty());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn owners_come_from_the_root() {
        let dir = std::env::temp_dir().join(format!("skiff-owner-{}", std::process::id()));
        fs::create_dir_all(dir.join("etc")).unwrap();
        fs::write(
            dir.join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
        )
        .unwrap();
        fs::write(dir.join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        assert_eq!(lookup_owner(&dir, "app").unwrap(), (1000, 1001));
        assert_eq!(lookup_owner(&dir, "app:staff").unwrap(), (1000, 50));
        assert_eq!(lookup_owner(&dir, "7:8").unwrap(), (7, 8));
        assert_eq!(lookup_owner(&dir, "7").unwrap(), (7, 7));
        assert!(lookup_owner(&dir, "nobody").is_err());
        let _ = fs::remove_dir_all(&dir);
    }
}
