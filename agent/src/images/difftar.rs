//! A layer from a directory of overlay changes, without a tar round trip.
//! An overlay upper directory (a container's after `commit` or a build's
//! `RUN`, or a build step's work layer after `COPY`) holds exactly a
//! layer's changes: files and directories written, whiteouts (character
//! devices 0/0: deleted) and opaque directories. Its tar stream (whiteouts
//! back into `.wh.` entries) is generated on a thread and read here only to
//! hash it (the diff ID) and record it (`tarsplit`); the directory itself
//! becomes the layer's `diff/`, so the content is never copied.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::driver::DriverKind;
use super::layers::{chain_id, HashingReader, Layer, LayerError, LayerStore};
use super::tarsplit::Recorder;
use crate::idmap::IdMap;
use skiff_common::fsutil::write_json_atomic;

pub(super) fn is_whiteout(meta: &fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

pub(super) fn is_opaque(path: &Path) -> bool {
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

/// A header for `meta` with the container's view of its owner (layers hold
/// host IDs under `--userns-remap`; the tar carries the image's own).
fn header(meta: &fs::Metadata, ids: &IdMap) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_metadata_in_mode(meta, tar::HeaderMode::Complete);
    let (uid, gid) = ids.to_container(meta.uid(), meta.gid());
    h.set_uid(uid.into());
    h.set_gid(gid.into());
    h
}

/// Where a layer's changes are read from.
#[derive(Clone)]
pub(super) enum Changes {
    /// An overlay upper directory: exactly the changes, whiteouts and
    /// opaque directories included.
    Upper(PathBuf),
    /// A whole tree (vfs, btrfs) against its parent's (`treediff`).
    Trees { base: Option<PathBuf>, tree: PathBuf },
}

/// The changes as a layer tar written to `out`: deletions as `.wh.`
/// entries, opaque directories with `.wh..wh..opq`, in path order.
pub(super) fn write_changes<W: Write>(changes: &Changes, out: W, ids: &IdMap) -> io::Result<W> {
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    tar.mode(tar::HeaderMode::Complete);
    match changes {
        Changes::Upper(upper) => {
            for e in walkdir::WalkDir::new(upper).min_depth(1).sort_by_file_name() {
                let e = e.map_err(io::Error::other)?;
                let rel = e.path().strip_prefix(upper).unwrap_or(e.path()).to_path_buf();
                let meta = e.metadata().map_err(io::Error::other)?;
                if is_whiteout(&meta) {
                    whiteout(&mut tar, &rel, meta.mtime())?;
                    continue;
                }
                append(&mut tar, e.path(), &rel, &meta, ids)?;
                if meta.is_dir() && is_opaque(e.path()) {
                    empty(&mut tar, &rel.join(".wh..wh..opq"), &meta)?;
                }
            }
        }
        Changes::Trees { base, tree } => {
            for (rel, kind) in super::treediff::changes(base.as_deref(), tree)? {
                if kind == super::commit::DELETED {
                    whiteout(&mut tar, &rel, 0)?;
                    continue;
                }
                let path = tree.join(&rel);
                append(&mut tar, &path, &rel, &fs::symlink_metadata(&path)?, ids)?;
            }
        }
    }
    tar.into_inner()
}

/// `rel` deleted: an empty `.wh.NAME` beside it.
fn whiteout<W: Write>(tar: &mut tar::Builder<W>, rel: &Path, mtime: i64) -> io::Result<()> {
    let name = format!(".wh.{}", rel.file_name().unwrap_or_default().to_string_lossy());
    let path = rel.parent().map_or(PathBuf::from(&name), |p| p.join(&name));
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(0);
    h.set_mode(0o600);
    h.set_mtime(mtime.max(0) as u64);
    tar.append_data(&mut h, path, io::empty())
}

/// The entry for `path` (a file, directory, link, device or FIFO), named `rel`.
fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &Path,
    rel: &Path,
    meta: &fs::Metadata,
    ids: &IdMap,
) -> io::Result<()> {
    let ft = meta.file_type();
    let mut h = header(meta, ids);
    if ft.is_file() {
        return tar.append_data(&mut h, rel, fs::File::open(path)?);
    }
    h.set_size(0);
    if ft.is_symlink() {
        return tar.append_link(&mut h, rel, fs::read_link(path)?);
    }
    if ft.is_fifo() {
        h.set_entry_type(tar::EntryType::Fifo);
    } else if ft.is_char_device() || ft.is_block_device() {
        h.set_entry_type(if ft.is_char_device() {
            tar::EntryType::Char
        } else {
            tar::EntryType::Block
        });
        h.set_device_major(libc::major(meta.rdev()))?;
        h.set_device_minor(libc::minor(meta.rdev()))?;
    }
    tar.append_data(&mut h, rel, io::empty())
}

fn empty<W: io::Write>(tar: &mut tar::Builder<W>, path: &Path, meta: &fs::Metadata) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(0);
    h.set_mode(0o600);
    h.set_mtime(meta.mtime().max(0) as u64);
    tar.append_data(&mut h, path, io::empty())
}

/// What reading a generated tar stream found.
struct Scanned {
    diff_id: String,
    tar_size: u64,
    size: u64,
}

/// Generate the tar of `changes` on a thread; hash it and record its
/// tar-split at `split`.
fn scan(changes: &Changes, split: &Path, ids: &IdMap) -> io::Result<Scanned> {
    let (reader, writer) = io::pipe()?;
    let src = changes.clone();
    let ids = ids.clone();
    let gen = std::thread::spawn(move || {
        let w = io::BufWriter::with_capacity(256 * 1024, writer);
        write_changes(&src, w, &ids).and_then(|mut w| w.flush())
    });
    let mut hashing = HashingReader::new(io::BufReader::with_capacity(256 * 1024, reader));
    let rec = Recorder::default();
    let mut size = 0u64;
    {
        let mut tee = rec.wrap(&mut hashing);
        let mut archive = tar::Archive::new(&mut tee);
        for entry in archive.entries()? {
            let mut entry = entry?;
            // Empty entries (whiteouts among them: `.wh.NAME` is no file
            // of the layer's directory) are kept whole in the record.
            if entry.header().entry_type().is_file() && entry.size() > 0 {
                let n = entry.size();
                rec.file(entry.raw_file_position(), n, &entry.path()?);
                size += n;
            }
            io::copy(&mut entry, &mut io::sink())?;
        }
        io::copy(&mut tee, &mut io::sink())?;
    }
    gen.join().map_err(|_| io::Error::other("tar writer panicked"))??;
    rec.save(split)?;
    let tar_size = hashing.count;
    Ok(Scanned {
        diff_id: hashing.digest(),
        tar_size,
        size,
    })
}

impl LayerStore {
    /// Make the driver layer `work` (created on `parent`'s cache ID, its
    /// `diff/` holding overlay changes, not mounted) a registered layer on
    /// `parent`, in place. When the same layer exists already, `work` is
    /// removed and the existing one returned.
    pub fn adopt(&self, parent: Option<&str>, work: &str) -> Result<Layer, LayerError> {
        let changes = match self.driver.kind() {
            DriverKind::Overlay2 => Changes::Upper(self.driver.diff_dir(work)),
            _ => Changes::Trees {
                base: parent
                    .map(|p| self.get(p))
                    .transpose()?
                    .map(|l| self.driver.diff_dir(&l.cache_id)),
                tree: self.driver.diff_dir(work),
            },
        };
        self.adopt_changes(parent, work, &changes)
    }

    /// A whole-tree driver's (vfs, btrfs) container layer as a new layer on
    /// `parent`: a copy of it (a snapshot on btrfs) whose changes against
    /// the container's own parent (the init layer) are the layer's. None
    /// when nothing changed, unless `keep_empty`.
    pub fn adopt_container(
        &self,
        parent: Option<&str>,
        container: &str,
        keep_empty: bool,
    ) -> Result<Option<Layer>, LayerError> {
        let base = self.driver.diff_dir(&self.init_layer(parent)?);
        let tree = self.driver.diff_dir(container);
        if !keep_empty && super::treediff::changes(Some(&base), &tree)?.is_empty() {
            return Ok(None);
        }
        let work = crate::ids::new_id();
        self.driver.create(&work, Some(container))?;
        let changes = Changes::Trees {
            base: Some(base),
            tree: self.driver.diff_dir(&work),
        };
        self.adopt_changes(parent, &work, &changes).map(Some)
    }

    fn adopt_changes(&self, parent: Option<&str>, work: &str, changes: &Changes) -> Result<Layer, LayerError> {
        let scanned = scan(changes, &self.split_path(work), self.driver.layer_ids());
        let scanned = match scanned {
            Ok(s) => s,
            Err(e) => {
                let _ = fs::remove_file(self.split_path(work));
                let _ = self.driver.remove(work);
                return Err(e.into());
            }
        };
        let chain = chain_id(parent, &scanned.diff_id);
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if let Ok(existing) = self.get(&chain) {
            let _ = fs::remove_file(self.split_path(work));
            self.driver.remove(work)?;
            return Ok(existing);
        }
        let layer = Layer {
            chain_id: chain.clone(),
            diff_id: scanned.diff_id,
            parent: parent.map(str::to_string),
            cache_id: work.to_string(),
            size: scanned.size,
            tar_size: scanned.tar_size,
        };
        write_json_atomic(&self.record_path(&chain), &layer)?;
        Ok(layer)
    }

    /// Move the overlay changes in `changes` (a container's upper
    /// directory, not mounted, its files owned through `owners`) into a
    /// new layer on `parent` and register it. `changes` is gone afterwards.
    pub fn adopt_dir(&self, parent: Option<&str>, changes: &Path, owners: &IdMap) -> Result<Layer, LayerError> {
        let parent_cache = parent.map(|p| self.get(p)).transpose()?.map(|l| l.cache_id);
        let work = crate::ids::new_id();
        self.driver.create(&work, parent_cache.as_deref())?;
        let diff = self.driver.diff_dir(&work);
        let moved = fs::remove_dir(&diff).and_then(|()| fs::rename(changes, &diff));
        // Re-owned to the layers' IDs once out of the container.
        let owned = moved.and_then(|()| match owners == self.driver.layer_ids() {
            true => Ok(()),
            false => crate::idmap::rechown_tree(&diff, owners, self.driver.layer_ids()),
        });
        if let Err(e) = owned {
            let _ = self.driver.remove(&work);
            return Err(e.into());
        }
        self.adopt(parent, &work)
    }
}
