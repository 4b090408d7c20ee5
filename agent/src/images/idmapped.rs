//! ID-mapped lower layers for overlay2 under `--userns-remap`: image
//! layers keep their images' owners on disk (no chown at extraction, one
//! store for remapped and `--userns host` containers alike) and a
//! remapped container's overlay is mounted on clones of its lower layers
//! mapped through the agent's user namespace. The clones are staged under
//! `overlay2/m/<id…>/<n>` only while the overlay is mounted: overlayfs
//! keeps private references to its layers, so they are detached at once.
//!
//! The choice is made once per store, when it is new (the kernel must map
//! mounts of the data root's filesystem and overlayfs must accept them),
//! and kept in `overlay2/.idmapped`; a store that began chowned stays so.
//! `SKIFF_USERNS_IDMAP=0` in the agent's environment makes a new store
//! chowned (for tests of that path and kernels that misbehave).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::idmap::IdMap;
use crate::idmount::MapNs;

const MARKER: &str = ".idmapped";
/// Where mapped clones are staged, under the driver's home.
pub const STAGING: &str = "m";

/// Decide (or recall) whether the remapped overlay2 store at `home` maps
/// lower layers at mount; the namespace to map through when it does.
pub fn open(home: &Path, ids: &IdMap) -> io::Result<Option<MapNs>> {
    clear_staging(home);
    if home.join(MARKER).exists() {
        let ns = MapNs::new(ids).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "the store at {} maps its layers at mount, which needs a user namespace here: {e} (a kernel with ID-mapped mounts, or remove the store to start over with chowned layers)",
                    home.display()
                ),
            )
        })?;
        return Ok(Some(ns));
    }
    // No layer yet (files such as xfs quotas' `backingFsBlockDev` aside).
    let fresh = fs::read_dir(home)?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .all(|e| [STAGING, "l"].contains(&e.file_name().to_string_lossy().as_ref()));
    if !fresh || std::env::var("SKIFF_USERNS_IDMAP").as_deref() == Ok("0") {
        return Ok(None);
    }
    let tried = MapNs::new(ids).and_then(|ns| probe(home, &ns).map(|()| ns));
    match tried {
        Ok(ns) => {
            fs::write(home.join(MARKER), "")?;
            tracing::info!("userns-remap: image layers keep their owners; lower layers are ID-mapped at mount");
            Ok(Some(ns))
        }
        Err(e) => {
            tracing::info!("userns-remap: ID-mapped overlay layers unavailable ({e}); layers are chowned");
            Ok(None)
        }
    }
}

/// An overlay on one mapped lower layer, mounted and taken down.
fn probe(home: &Path, ns: &MapNs) -> io::Result<()> {
    let dir = home.join(STAGING).join("probe");
    for d in ["lower", "upper", "work", "merged", "0"] {
        fs::create_dir_all(dir.join(d))?;
    }
    let staged = Staged {
        dirs: vec![dir.join("0")],
    };
    let result = ns.bind_mapped(&dir.join("lower"), &dir.join("0")).and_then(|()| {
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            dir.join("0").display(),
            dir.join("upper").display(),
            dir.join("work").display()
        );
        let merged = dir.join("merged");
        mount(
            Some("overlay"),
            &merged,
            Some("overlay"),
            MsFlags::empty(),
            Some(opts.as_str()),
        )
        .map_err(io::Error::from)?;
        let _ = umount2(&merged, MntFlags::MNT_DETACH);
        Ok(())
    });
    drop(staged);
    let _ = fs::remove_dir_all(&dir);
    result
}

/// Mapped clones of lower layers, detached and their directories removed
/// when dropped (never a recursive delete: a clone still mounted would
/// take the image's files with it).
pub struct Staged {
    dirs: Vec<PathBuf>,
}

impl Drop for Staged {
    fn drop(&mut self) {
        for d in &self.dirs {
            let _ = umount2(d, MntFlags::MNT_DETACH);
            let _ = fs::remove_dir(d);
        }
        if let Some(parent) = self.dirs.first().and_then(|d| d.parent()) {
            let _ = fs::remove_dir(parent);
        }
    }
}

/// Stage mapped clones of `lower` (`l/SHORT:…`, relative to `home`) for
/// layer `id`; returns them and the `lowerdir=` value (relative to
/// `home`, short enough for deep images).
pub fn stage(home: &Path, id: &str, lower: &str, ns: &MapNs) -> io::Result<(Staged, String)> {
    let rel = Path::new(STAGING).join(&id[..id.len().min(12)]);
    let mut staged = Staged { dirs: Vec::new() };
    let mut names = Vec::new();
    for (n, l) in lower.split(':').enumerate() {
        let name = rel.join(n.to_string());
        let target = home.join(&name);
        fs::create_dir_all(&target)?;
        staged.dirs.push(target.clone());
        ns.bind_mapped(&home.join(l), &target)?;
        names.push(name.display().to_string());
    }
    Ok((staged, names.join(":")))
}

/// Detach clones a crash left staged (at agent start, nothing mounting).
fn clear_staging(home: &Path) {
    let Ok(rd) = fs::read_dir(home.join(STAGING)) else {
        return;
    };
    for layer in rd.flatten() {
        let dirs: Vec<PathBuf> = fs::read_dir(layer.path())
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        drop(Staged { dirs });
        let _ = fs::remove_dir(layer.path());
    }
}
