//! `docker diff` and `docker commit` from a container's read-write layer.
//! With overlay2 the layer's upper directory holds exactly the changes:
//! files and directories written (added, or changed when a lower layer has
//! the path), whiteouts (character devices 0/0: deleted) and opaque
//! directories. `commit` turns them into a layer tar (whiteouts back into
//! `.wh.` entries), registers it on the image's top layer (so it gets a
//! tar-split record and can be pushed), and stores a config with the
//! container's settings and a history entry.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use skiff_api::{ContainerConfig, History};

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

fn is_whiteout(meta: &fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

fn is_opaque(path: &Path) -> bool {
    let Ok(name) = std::ffi::CString::new("trusted.overlay.opaque") else {
        return false;
    };
    let Ok(p) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    let mut v = [0u8; 1];
    // SAFETY: NUL-terminated strings and a buffer of its true length.
    let n = unsafe { libc::lgetxattr(p.as_ptr(), name.as_ptr(), v.as_mut_ptr().cast(), 1) };
    n == 1 && v[0] == b'y'
}

impl ImageStore {
    fn upper(&self, id: &str) -> Result<PathBuf, ImageError> {
        let driver = &self.layers.driver;
        if driver.kind() != DriverKind::Overlay2 {
            return Err(ImageError::BadChange(format!(
                "diff and commit need the overlay2 storage driver (this agent uses {})",
                driver.kind().name()
            )));
        }
        Ok(driver.diff_dir(id))
    }

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

    /// `GET /containers/{id}/changes`: (path, kind), sorted by path.
    pub fn changes(&self, id: &str) -> Result<Vec<(String, u8)>, ImageError> {
        let upper = self.upper(id)?;
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
        let upper = self.upper(id)?;
        let tmp_dir = self.dir().join("uploads");
        fs::create_dir_all(&tmp_dir)?;
        let tmp = tmp_dir.join(format!("commit-{}.tar", crate::ids::new_id()));
        let made = write_changes(&upper, &tmp);
        let layer = made.and_then(|()| {
            let f = io::BufReader::new(fs::File::open(&tmp)?);
            Ok(self.layers.register(base.top_layer().as_deref(), f))
        });
        let _ = fs::remove_file(&tmp);
        let layer = layer??;
        let now = crate::ids::now();
        let mut cfg = base.config.clone();
        cfg.config = opts.config;
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

/// The upper directory as a layer tar at `dest`: whiteouts as `.wh.`
/// entries, opaque directories with `.wh..wh..opq`.
fn write_changes(upper: &Path, dest: &Path) -> io::Result<()> {
    let mut tar = tar::Builder::new(io::BufWriter::new(fs::File::create(dest)?));
    tar.follow_symlinks(false);
    tar.mode(tar::HeaderMode::Complete);
    for e in walkdir::WalkDir::new(upper).min_depth(1).sort_by_file_name() {
        let e = e.map_err(io::Error::other)?;
        let rel = e.path().strip_prefix(upper).unwrap_or(e.path()).to_path_buf();
        let meta = e.metadata().map_err(io::Error::other)?;
        let ft = meta.file_type();
        if is_whiteout(&meta) {
            let name = format!(".wh.{}", rel.file_name().unwrap_or_default().to_string_lossy());
            let path = rel.parent().map_or(PathBuf::from(&name), |p| p.join(&name));
            empty(&mut tar, &path, &meta)?;
        } else if ft.is_dir() || ft.is_file() || ft.is_symlink() {
            tar.append_path_with_name(e.path(), &rel)?;
            if ft.is_dir() && is_opaque(e.path()) {
                empty(&mut tar, &rel.join(".wh..wh..opq"), &meta)?;
            }
        } else {
            let mut h = tar::Header::new_gnu();
            h.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
            if ft.is_fifo() {
                h.set_entry_type(tar::EntryType::Fifo);
            } else {
                h.set_entry_type(if ft.is_char_device() {
                    tar::EntryType::Char
                } else {
                    tar::EntryType::Block
                });
                h.set_device_major(libc::major(meta.rdev()))?;
                h.set_device_minor(libc::minor(meta.rdev()))?;
            }
            h.set_size(0);
            tar.append_data(&mut h, &rel, io::empty())?;
        }
    }
    tar.into_inner()?.into_inner().map_err(|e| e.into_error())?.sync_all()
}

fn empty<W: io::Write>(tar: &mut tar::Builder<W>, path: &Path, meta: &fs::Metadata) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(0);
    h.set_mode(0o600);
    h.set_mtime(meta.mtime().max(0) as u64);
    tar.append_data(&mut h, path, io::empty())
}
