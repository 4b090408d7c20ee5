//! `docker diff` and `docker commit` from a container's read-write layer.
//! On vfs and btrfs the changes are what differs from the image
//! (`treediff`). With overlay2 the layer's upper directory holds exactly the changes:
//! files and directories written (added, or changed when a lower layer has
//! the path), whiteouts (character devices 0/0: deleted) and opaque
//! directories. `commit` copies them aside and makes the copy a layer on the
//! image's top layer (`difftar`: hashed and tar-split recorded as the tar
//! stream it stands for, so it can be pushed), and stores a config with
//! the container's settings and a history entry.

use std::fs;
use std::io;
use std::path::Path;

use skiff_api::{ContainerConfig, History};

use super::difftar::is_whiteout;
use super::driver::DriverKind;
use super::store::{ImageError, ImageStore, NamedTag};

/// `docker diff` kinds.
pub const MODIFIED: u8 = 0;
pub const ADDED: u8 = 1;
pub const DELETED: u8 = 2;

/// What a commit records besides the changes.
#[derive(Default)]
pub struct CommitOptions {
    /// The container's config, `--change`s applied.
    pub config: ContainerConfig,
    pub comment: Option<String>,
    pub author: Option<String>,
    /// The container's command, for the history entry.
    pub created_by: String,
    pub tag: Option<NamedTag>,
}

impl ImageStore {
    /// Does `rel` exist below container layer `id` (in its image)?
    fn in_lower(&self, id: &str, rel: &Path) -> bool {
        for dir in self.layers.driver.lowers(id) {
            match fs::symlink_metadata(dir.join(rel)) {
                Ok(m) if is_whiteout(&m) => return false,
                Ok(_) => return true,
                Err(_) => continue,
            }
        }
        false
    }

    /// `GET /containers/{id}/changes`: (path, kind), sorted by path. `top`
    /// is the top layer of the container's image.
    pub fn changes(&self, id: &str, top: Option<&str>) -> Result<Vec<(String, u8)>, ImageError> {
        let driver = &self.layers.driver;
        if driver.kind() != DriverKind::Overlay2 {
            let init = self.layers.init_layer(top)?;
            let list = super::treediff::changes(Some(&driver.diff_dir(&init)), &driver.diff_dir(id))?;
            return Ok(list
                .into_iter()
                .map(|(p, k)| (format!("/{}", p.display()), k))
                .collect());
        }
        let upper = driver.diff_dir(id);
        let mut out = Vec::new();
        for e in walkdir::WalkDir::new(&upper).min_depth(1).sort_by_file_name() {
            let e = e.map_err(io::Error::other)?;
            let rel = e.path().strip_prefix(&upper).unwrap_or(e.path());
            let meta = e.metadata().map_err(io::Error::other)?;
            let kind = if is_whiteout(&meta) {
                DELETED
            } else if self.in_lower(id, rel) {
                MODIFIED
            } else {
                ADDED
            };
            out.push((format!("/{}", rel.display()), kind));
        }
        Ok(out)
    }

    /// `docker commit`: the container layer `id` on `base` becomes a new
    /// image. Blocking; the caller pauses the container if asked.
    pub fn commit(&self, id: &str, base: &super::store::Image, opts: CommitOptions) -> Result<String, ImageError> {
        let layer = if self.layers.driver.kind() == DriverKind::Overlay2 {
            let upper = self.layers.driver.diff_dir(id);
            // The container's changes are copied aside (it may run on) and
            // the copy becomes the layer's directory.
            let stage = self
                .dir()
                .join("uploads")
                .join(format!("commit-{}", crate::ids::new_id()));
            fs::create_dir_all(stage.parent().unwrap_or(&stage))?;
            let copied = copy_tree(&upper, &stage);
            let owners = self.layers.driver.owners(id).clone();
            let layer = copied.map_err(ImageError::from).and_then(|()| {
                self.layers
                    .adopt_dir(base.top_layer().as_deref(), &stage, &owners)
                    .map_err(ImageError::from)
            });
            if stage.exists() {
                let _ = fs::remove_dir_all(&stage);
            }
            layer?
        } else {
            let made = self.layers.adopt_container(base.top_layer().as_deref(), id, true)?;
            made.ok_or_else(|| ImageError::BadChange("commit made no layer".into()))?
        };
        let now = crate::ids::now();
        let mut cfg = base.config.clone();
        cfg.config = opts.config;
        // As Docker: the container's host name and image name are not the
        // image's.
        cfg.config.hostname.clear();
        cfg.config.image.clear();
        cfg.created = Some(now.clone());
        cfg.author = opts.author.filter(|a| !a.is_empty()).or(cfg.author);
        cfg.comment = opts.comment.clone().filter(|c| !c.is_empty());
        cfg.rootfs.diff_ids.push(layer.diff_id);
        cfg.history.push(History {
            created: Some(now),
            created_by: Some(opts.created_by),
            comment: opts.comment.filter(|c| !c.is_empty()),
            empty_layer: None,
        });
        let raw = serde_json::to_vec(&cfg).map_err(io::Error::other)?;
        let new_id = self.add_config(&raw)?;
        if let Some(t) = &opts.tag {
            self.tag(&new_id, t)?;
        }
        Ok(new_id)
    }
}

/// `cp -a` of a container's upper directory (whiteouts, opaque markers,
/// owners, modes and times kept; hard links kept).
fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    let out = std::process::Command::new("cp")
        .arg("-a")
        .arg("--reflink=auto")
        .arg(from)
        .arg(to)
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "copying the container's changes: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}
