//! Graph drivers: where layer contents live and how a container's root
//! filesystem is assembled from them.
//!
//! `overlay2` follows Docker's on-disk layout so operators find what they
//! know: `overlay2/<id>/{diff,link,lower,work,merged}` and short symlinks in
//! `overlay2/l/` that keep the mount options within one page. `vfs` copies
//! the parent's tree into each new layer, for hosts without overlayfs.
//! `btrfs` (a data root on btrfs) keeps each layer in a subvolume
//! (`btrfs/subvolumes/<id>`), a snapshot of its parent's.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use rand::Rng;

use super::extract::Whiteouts;
use crate::idmap::IdMap;

/// Docker's overlay2 limit on the depth of an image.
const MAX_LOWER: usize = 128;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriverKind {
    Overlay2,
    Vfs,
    Btrfs,
}

impl DriverKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "overlay2" | "overlay" => Some(Self::Overlay2),
            "vfs" => Some(Self::Vfs),
            "btrfs" => Some(Self::Btrfs),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::Overlay2 => "overlay2",
            Self::Vfs => "vfs",
            Self::Btrfs => "btrfs",
        }
    }
}

/// A layer mounted while this lives (`Driver::hold`).
pub struct Held<'a> {
    driver: &'a Driver,
    id: String,
    pub path: PathBuf,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.driver.unmount(&self.id) {
            tracing::warn!(layer = %self.id, "unmount: {e}");
        }
    }
}

/// A graph driver rooted at `<data-root>/<driver name>`.
pub struct Driver {
    kind: DriverKind,
    home: PathBuf,
    /// Where removed layer directories go to be deleted.
    pub trash: super::trash::Trash,
    /// Holders of each mounted layer (a running container, an export, an
    /// exec's user lookup): it is unmounted when the last one lets go, so
    /// an export racing a start or an exit never loses its tree.
    holders: std::sync::Mutex<HashMap<String, usize>>,
    /// Project quotas for `--storage-opt size=` (overlay2 on xfs with pquota).
    quotas: Option<super::quota::Quotas>,
    /// Container IDs to host IDs (`--userns-remap`).
    pub ids: IdMap,
    /// The user namespace remapped containers' lower layers are mapped
    /// through at mount (`idmapped`); None when layers hold host IDs.
    mapped: Option<crate::idmount::MapNs>,
}

/// No remapping: what layers hold when they are mapped at mount.
static IDENTITY: IdMap = IdMap {
    uids: Vec::new(),
    gids: Vec::new(),
};

/// In a container layer's directory: its files are owned through the
/// agent's map (a remapped container's), so are its lower layers' at mount.
const MAPPED: &str = "mapped";

fn io_ctx(what: impl std::fmt::Display, e: impl Into<io::Error>) -> io::Error {
    let e: io::Error = e.into();
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

impl Driver {
    pub fn new(data_root: &Path, kind: DriverKind, ids: IdMap) -> io::Result<Self> {
        let home = data_root.join(kind.name());
        if kind == DriverKind::Btrfs {
            fs::create_dir_all(data_root)?;
            if !super::btrfs::is_btrfs(data_root) {
                return Err(io::Error::other(
                    "error initializing graphdriver: prerequisites for driver not satisfied (wrong filesystem?)",
                ));
            }
            fs::create_dir_all(home.join("subvolumes"))?;
        } else {
            fs::create_dir_all(home.join("l"))?;
            crate::topdir::mark(&home);
        }
        let trash = super::trash::Trash::open(&data_root.join("trash"))?;
        let quotas = match kind {
            DriverKind::Overlay2 => super::quota::Quotas::new(&home),
            DriverKind::Vfs | DriverKind::Btrfs => None,
        };
        let mapped = match kind {
            DriverKind::Overlay2 if !ids.is_identity() => super::idmapped::open(&home, &ids)?,
            _ => None,
        };
        Ok(Self {
            kind,
            home,
            trash,
            holders: Default::default(),
            quotas,
            ids,
            mapped,
        })
    }

    /// How image layers hold owners: through the agent's map (chowned at
    /// extraction), or as in the image when they are mapped at mount.
    pub fn layer_ids(&self) -> &IdMap {
        match self.mapped {
            Some(_) => &IDENTITY,
            None => &self.ids,
        }
    }

    /// Whether remapped containers' lower layers are ID-mapped at mount.
    pub fn maps_at_mount(&self) -> bool {
        self.mapped.is_some()
    }

    /// How container layer `id`'s own files hold owners.
    pub fn owners(&self, id: &str) -> &IdMap {
        if self.mapped.is_some() && self.dir(id).join(MAPPED).exists() {
            &self.ids
        } else {
            self.layer_ids()
        }
    }

    /// A container's writable layer on `parent`: its root (the
    /// container's `/`) belongs to the container's root, through the
    /// agent's map when `remapped`.
    pub fn create_container(&self, id: &str, parent: Option<&str>, remapped: bool) -> io::Result<()> {
        self.create(id, parent)?;
        if remapped && self.mapped.is_some() {
            let (uid, gid) = self.ids.root();
            std::os::unix::fs::chown(self.diff_dir(id), Some(uid), Some(gid))?;
            skiff_common::fsutil::write_new_files(&self.dir(id), &[(MAPPED, b"")])?;
        }
        Ok(())
    }

    pub fn kind(&self) -> DriverKind {
        self.kind
    }

    /// Whether layers can be size-limited (`--storage-opt size=`).
    pub fn can_limit(&self) -> bool {
        self.quotas.is_some() || self.kind == DriverKind::Btrfs
    }

    /// Limit what layer `id` may hold to `bytes`, or Docker's refusal.
    pub fn limit(&self, id: &str, bytes: u64) -> io::Result<()> {
        match &self.quotas {
            Some(q) => q.set(&self.dir(id), bytes),
            None if self.kind == DriverKind::Btrfs => super::btrfs::limit(&self.home, &self.diff_dir(id), bytes),
            None => Err(io::Error::new(io::ErrorKind::Unsupported, super::quota::UNSUPPORTED)),
        }
    }

    pub fn whiteouts(&self) -> Whiteouts {
        match self.kind {
            DriverKind::Overlay2 => Whiteouts::Overlay,
            DriverKind::Vfs | DriverKind::Btrfs => Whiteouts::Apply,
        }
    }

    fn dir(&self, id: &str) -> PathBuf {
        match self.kind {
            DriverKind::Btrfs => self.home.join("subvolumes").join(id),
            _ => self.home.join(id),
        }
    }

    /// The directory that holds the layer's own files (extract target, or
    /// the container's upper dir).
    pub fn diff_dir(&self, id: &str) -> PathBuf {
        match self.kind {
            DriverKind::Overlay2 => self.dir(id).join("diff"),
            DriverKind::Vfs => self.dir(id).join("dir"),
            DriverKind::Btrfs => self.dir(id),
        }
    }

    /// The diff directories below overlay layer `id`, top first.
    pub fn lowers(&self, id: &str) -> Vec<PathBuf> {
        fs::read_to_string(self.dir(id).join("lower"))
            .map(|l| l.trim().split(':').map(|s| self.home.join(s)).collect())
            .unwrap_or_default()
    }

    /// Create layer `id` on top of `parent`.
    pub fn create(&self, id: &str, parent: Option<&str>) -> io::Result<()> {
        let dir = self.dir(id);
        if self.kind == DriverKind::Btrfs {
            match parent {
                Some(p) => super::btrfs::snapshot(&self.dir(p), &dir)?,
                None => super::btrfs::create(&dir)?,
            }
            return self.own_root(&dir);
        }
        fs::create_dir_all(&dir)?;
        match self.kind {
            DriverKind::Vfs => {
                let target = self.diff_dir(id);
                match parent {
                    Some(p) => {
                        let out = Command::new("cp")
                            .arg("-a")
                            .arg("--reflink=auto")
                            .arg(self.diff_dir(p))
                            .arg(&target)
                            .output()?;
                        if !out.status.success() {
                            return Err(io::Error::other(format!(
                                "copying layer {p}: {}",
                                String::from_utf8_lossy(&out.stderr).trim()
                            )));
                        }
                    }
                    None => fs::create_dir_all(&target)?,
                }
                self.own_root(&target)?;
            }
            DriverKind::Btrfs => unreachable!("made above"),
            DriverKind::Overlay2 => {
                fs::create_dir_all(dir.join("diff"))?;
                self.own_root(&dir.join("diff"))?;
                fs::create_dir_all(dir.join("work"))?;
                fs::create_dir_all(dir.join("merged"))?;
                let short = self.new_short_link(id)?;
                let mut lower = String::new();
                if let Some(p) = parent {
                    let parent_short = fs::read_to_string(self.dir(p).join("link"))
                        .map_err(|e| io_ctx(format!("parent layer {p}"), e))?;
                    lower = format!("l/{}", parent_short.trim());
                    if let Ok(pl) = fs::read_to_string(self.dir(p).join("lower")) {
                        lower.push(':');
                        lower.push_str(pl.trim());
                    }
                    if lower.split(':').count() > MAX_LOWER {
                        return Err(io::Error::other(format!(
                            "max depth exceeded: more than {MAX_LOWER} layers"
                        )));
                    }
                }
                let mut files: Vec<(&str, &[u8])> = vec![("link", short.as_bytes())];
                if !lower.is_empty() {
                    files.push(("lower", lower.as_bytes()));
                }
                skiff_common::fsutil::write_new_files(&dir, &files)?;
            }
        }
        Ok(())
    }

    /// A layer's root directory belongs to the containers' root (a
    /// container's upper directory is its `/`).
    fn own_root(&self, dir: &Path) -> io::Result<()> {
        let ids = self.layer_ids();
        if ids.is_identity() {
            return Ok(());
        }
        let (uid, gid) = ids.root();
        std::os::unix::fs::chown(dir, Some(uid), Some(gid))
    }

    fn new_short_link(&self, id: &str) -> io::Result<String> {
        let mut rng = rand::thread_rng();
        loop {
            let short: String = (0..26).map(|_| (b'A' + rng.gen_range(0..26)) as char).collect();
            let link = self.home.join("l").join(&short);
            match std::os::unix::fs::symlink(format!("../{id}/diff"), &link) {
                Ok(()) => return Ok(short),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Mount the layer's full tree for one more holder and return its path;
    /// each `mount` is paired with an `unmount`.
    pub fn mount(&self, id: &str) -> io::Result<PathBuf> {
        let mut holders = self.holders.lock().unwrap_or_else(|e| e.into_inner());
        let path = self.mount_tree(id)?;
        *holders.entry(id.to_string()).or_default() += 1;
        Ok(path)
    }

    /// Mount for the life of the returned guard.
    pub fn hold(&self, id: &str) -> io::Result<Held<'_>> {
        let path = self.mount(id)?;
        Ok(Held {
            driver: self,
            id: id.to_string(),
            path,
        })
    }

    /// One holder lets go: the tree is unmounted when it was the last.
    pub fn unmount(&self, id: &str) -> io::Result<()> {
        let mut holders = self.holders.lock().unwrap_or_else(|e| e.into_inner());
        match holders.get_mut(id) {
            Some(n) if *n > 1 => {
                *n -= 1;
                return Ok(());
            }
            _ => {
                holders.remove(id);
            }
        }
        self.unmount_tree(id)
    }

    fn mount_tree(&self, id: &str) -> io::Result<PathBuf> {
        match self.kind {
            DriverKind::Vfs | DriverKind::Btrfs => Ok(self.diff_dir(id)),
            DriverKind::Overlay2 => {
                let dir = self.dir(id);
                let merged = dir.join("merged");
                if is_mountpoint(&merged) {
                    return Ok(merged);
                }
                let lower = fs::read_to_string(dir.join("lower"))
                    .map_err(|e| io_ctx(format!("layer {id} has no lower layers"), e))?;
                let mut lower = lower.trim().to_string();
                // A remapped container's lower layers, mapped (detached
                // again once the overlay holds them).
                let mut _staged = None;
                if let Some(ns) = self.mapped.as_ref().filter(|_| dir.join(MAPPED).exists()) {
                    let (staged, mapped) = super::idmapped::stage(&self.home, id, &lower, ns)?;
                    (_staged, lower) = (Some(staged), mapped);
                }
                // Relative paths (l/SHORT) keep deep images within the page
                // limit for mount data; the mount runs in a thread whose
                // working directory is private (unshare CLONE_FS) so the
                // agent's other threads are not affected.
                let opts = format!("lowerdir={lower},upperdir={id}/diff,workdir={id}/work");
                let home = self.home.clone();
                let target = merged.clone();
                std::thread::spawn(move || -> io::Result<()> {
                    nix::sched::unshare(nix::sched::CloneFlags::CLONE_FS).map_err(io::Error::from)?;
                    std::env::set_current_dir(&home)?;
                    mount(
                        Some("overlay"),
                        &target,
                        Some("overlay"),
                        MsFlags::empty(),
                        Some(opts.as_str()),
                    )
                    .map_err(|e| io_ctx(format!("mount overlay on {}", target.display()), e))
                })
                .join()
                .map_err(|_| io::Error::other("mount thread panicked"))??;
                Ok(merged)
            }
        }
    }

    fn unmount_tree(&self, id: &str) -> io::Result<()> {
        if self.kind == DriverKind::Overlay2 {
            let merged = self.dir(id).join("merged");
            if is_mountpoint(&merged) {
                umount2(&merged, MntFlags::MNT_DETACH)
                    .map_err(|e| io_ctx(format!("unmount {}", merged.display()), e))?;
            }
        }
        Ok(())
    }

    /// The IDs of every layer directory the driver holds.
    pub fn ids(&self) -> Vec<String> {
        let dir = match self.kind {
            DriverKind::Btrfs => self.home.join("subvolumes"),
            _ => self.home.clone(),
        };
        let Ok(rd) = fs::read_dir(dir) else {
            return Vec::new();
        };
        rd.flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "l" && n != super::idmapped::STAGING)
            .collect()
    }

    /// Remove the layer, unmounting it whoever holds it.
    pub fn remove(&self, id: &str) -> io::Result<()> {
        {
            let mut holders = self.holders.lock().unwrap_or_else(|e| e.into_inner());
            holders.remove(id);
            self.unmount_tree(id)?;
        }
        let dir = self.dir(id);
        if self.kind == DriverKind::Btrfs && dir.exists() {
            // A subvolume the container made inside its own stops the
            // delete: the tree then goes to the trash, as other drivers'.
            match super::btrfs::delete(&dir) {
                Ok(()) => return Ok(()),
                Err(e) => tracing::debug!(layer = %id, "{e}; removing it file by file"),
            }
        }
        if let Ok(short) = fs::read_to_string(dir.join("link")) {
            let _ = fs::remove_file(self.home.join("l").join(short.trim()));
        }
        self.trash.remove(&dir)
    }

    /// Bytes of the layer's own files (a container's writable layer: what
    /// it changed), each hard-linked file counted once, as Docker counts.
    pub fn usage(&self, id: &str) -> u64 {
        use std::os::unix::fs::MetadataExt;
        let mut seen = std::collections::HashSet::new();
        walkdir::WalkDir::new(self.diff_dir(id))
            .into_iter()
            .flatten()
            .filter_map(|e| e.metadata().ok())
            .filter(|m| !m.is_dir() && m.len() > 0 && (m.nlink() < 2 || seen.insert((m.dev(), m.ino()))))
            .map(|m| m.len())
            .sum()
    }

    /// Paths shown as `GraphDriver.Data` by inspect.
    pub fn metadata(&self, id: &str) -> HashMap<String, String> {
        let mut m = HashMap::new();
        let dir = self.dir(id);
        match self.kind {
            DriverKind::Vfs | DriverKind::Btrfs => {}
            DriverKind::Overlay2 => {
                if let Ok(lower) = fs::read_to_string(dir.join("lower")) {
                    let abs: Vec<String> = lower
                        .trim()
                        .split(':')
                        .filter_map(|l| fs::canonicalize(self.home.join(l)).ok())
                        .map(|p| p.display().to_string())
                        .collect();
                    m.insert("LowerDir".into(), abs.join(":"));
                }
                m.insert("MergedDir".into(), dir.join("merged").display().to_string());
                m.insert("UpperDir".into(), dir.join("diff").display().to_string());
                m.insert("WorkDir".into(), dir.join("work").display().to_string());
            }
        }
        m
    }
}

/// `info`'s `DriverStatus` lines for the driver.
pub fn status(kind: DriverKind) -> Vec<[&'static str; 2]> {
    match kind {
        DriverKind::Btrfs => vec![["Btrfs", ""]],
        _ => vec![["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
    }
}

/// True when `path` is a mount point (its device differs from its parent's,
/// or /proc/self/mountinfo lists it).
pub fn is_mountpoint(path: &Path) -> bool {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.to_string_lossy();
    info.lines().any(|l| l.split(' ').nth(4) == Some(want.as_ref()))
}

/// Check that overlayfs can be mounted under `data_root`.
pub fn overlay_supported() -> bool {
    fs::read_to_string("/proc/filesystems")
        .map(|s| s.lines().any(|l| l.ends_with("\toverlay")))
        .unwrap_or(false)
}
