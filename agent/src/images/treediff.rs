//! Docker's "naive diff" for drivers whose layers are whole trees (vfs,
//! btrfs): a layer's changes are what differs between its tree and its
//! parent's: added, modified (type, mode, owner, device, size, times or
//! link target) and deleted paths. A deleted directory is one change; what
//! was below it is implied.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::commit::{ADDED, DELETED, MODIFIED};

fn differs(old: &fs::Metadata, new: &fs::Metadata, old_path: &Path, new_path: &Path) -> bool {
    if old.mode() != new.mode() || old.uid() != new.uid() || old.gid() != new.gid() || old.rdev() != new.rdev() {
        return true;
    }
    if (old.mtime(), old.mtime_nsec()) != (new.mtime(), new.mtime_nsec()) {
        return true;
    }
    if new.is_file() && old.size() != new.size() {
        return true;
    }
    new.file_type().is_symlink() && fs::read_link(old_path).ok() != fs::read_link(new_path).ok()
}

/// The changes from `base` (absent: an empty tree) to `tree`, sorted by
/// path: (relative path, `commit::ADDED | MODIFIED | DELETED`).
pub fn changes(base: Option<&Path>, tree: &Path) -> io::Result<Vec<(PathBuf, u8)>> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(tree).min_depth(1).sort_by_file_name() {
        let e = e.map_err(io::Error::other)?;
        let rel = e.path().strip_prefix(tree).unwrap_or(e.path()).to_path_buf();
        let meta = e.metadata().map_err(io::Error::other)?;
        match base.map(|b| b.join(&rel)) {
            Some(old_path) => match fs::symlink_metadata(&old_path) {
                Ok(old) if old.file_type() == meta.file_type() => {
                    if differs(&old, &meta, &old_path, e.path()) {
                        out.push((rel, MODIFIED));
                    }
                }
                Ok(_) => out.push((rel, MODIFIED)),
                Err(_) => out.push((rel, ADDED)),
            },
            None => out.push((rel, ADDED)),
        }
    }
    if let Some(base) = base {
        let mut walk = walkdir::WalkDir::new(base).min_depth(1).sort_by_file_name().into_iter();
        while let Some(e) = walk.next() {
            let e = e.map_err(io::Error::other)?;
            let rel = e.path().strip_prefix(base).unwrap_or(e.path()).to_path_buf();
            if fs::symlink_metadata(tree.join(&rel)).is_err() {
                if e.file_type().is_dir() {
                    walk.skip_current_dir();
                }
                out.push((rel, DELETED));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_added_modified_and_deleted_paths() {
        let t = std::env::temp_dir().join(format!("skiff-treediff-{}", crate::ids::new_id()));
        let (base, tree) = (t.join("base"), t.join("tree"));
        for d in [&base, &tree] {
            fs::create_dir_all(d.join("etc")).unwrap();
            fs::create_dir_all(d.join("gone/deep")).unwrap();
            fs::write(d.join("etc/same"), "x").unwrap();
            fs::write(d.join("etc/edit"), "x").unwrap();
        }
        let stamp = |p: &Path| {
            let t = nix::sys::time::TimeSpec::new(1_000_000, 0);
            nix::sys::stat::utimensat(None, p, &t, &t, nix::sys::stat::UtimensatFlags::NoFollowSymlink).unwrap();
        };
        for d in [&base, &tree] {
            for p in ["etc/same", "etc/edit", "etc", "gone/deep", "gone"] {
                stamp(&d.join(p));
            }
        }
        fs::write(tree.join("etc/edit"), "xy").unwrap();
        fs::remove_dir_all(tree.join("gone")).unwrap();
        fs::write(tree.join("new"), "n").unwrap();
        stamp(&tree.join("etc"));
        let got = changes(Some(&base), &tree).unwrap();
        let want: Vec<(PathBuf, u8)> = vec![
            ("etc/edit".into(), MODIFIED),
            ("gone".into(), DELETED),
            ("new".into(), ADDED),
        ];
        assert_eq!(got, want);
        assert_eq!(changes(None, &tree).unwrap().len(), 4);
        fs::remove_dir_all(&t).unwrap();
    }
}
