//! The layer store: read-only image layers keyed by chain ID, each backed by
//! a graph-driver directory (its cache ID), as Docker's `image/.../layerdb`.
//!
//! chain(L1) = diffID(L1); chain(Ln) = sha256(chain(Ln-1) + " " + diffID(Ln)).

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::driver::Driver;
use super::extract::{extract_layer, ExtractError};
use super::tarsplit::{Assembler, Recorder};
use skiff_common::fsutil::{read_json, write_json_atomic};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Layer {
    pub chain_id: String,
    pub diff_id: String,
    pub parent: Option<String>,
    pub cache_id: String,
    /// Bytes of regular-file content in this layer alone.
    pub size: u64,
    /// Bytes of the layer's uncompressed tar stream (its OCI descriptor's
    /// size; the digest is the diff ID).
    #[serde(default)]
    pub tar_size: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("layer {0} not found")]
    NotFound(String),
    #[error(transparent)]
    Extract(#[from] ExtractError),
    #[error("layer {0} was stored before skiff kept tar-split records: pull or load it again to export it")]
    NoTarSplit(String),
    #[error("layer store: {0}")]
    Io(#[from] io::Error),
}

pub struct LayerStore {
    dir: PathBuf,
    pub driver: Driver,
    /// Serializes registration so two pulls of one layer do not race.
    pub(super) lock: Mutex<()>,
}

pub fn chain_id(parent: Option<&str>, diff_id: &str) -> String {
    match parent {
        None => diff_id.to_string(),
        Some(p) => format!("sha256:{}", hex::encode(Sha256::digest(format!("{p} {diff_id}")))),
    }
}

/// A reader that hashes what passes through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    /// Bytes read so far.
    pub count: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }
    pub fn digest(self) -> String {
        format!("sha256:{}", hex::encode(self.hasher.finalize()))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// The init layer's driver ID for an image whose top layer has `cache_id`.
fn init_id(cache_id: Option<&str>) -> String {
    format!("{}-init", cache_id.unwrap_or("scratch"))
}

impl LayerStore {
    pub fn new(data_root: &Path, driver: Driver) -> io::Result<Self> {
        let dir = data_root.join("layers");
        fs::create_dir_all(&dir)?;
        Ok(Self {
            dir,
            driver,
            lock: Mutex::new(()),
        })
    }

    pub(super) fn record_path(&self, chain: &str) -> PathBuf {
        self.dir.join(format!("{}.json", chain.trim_start_matches("sha256:")))
    }

    /// The layer's tar-split record (`tarsplit.rs`), by cache ID.
    pub(super) fn split_path(&self, cache_id: &str) -> PathBuf {
        self.dir.join(format!("{cache_id}.tar-split.gz"))
    }

    /// The layer's tar stream, byte for byte as it was registered (its
    /// sha256 is the diff ID).
    pub fn tar_stream(&self, chain: &str) -> Result<Assembler, LayerError> {
        let l = self.get(chain)?;
        let split = self.split_path(&l.cache_id);
        if !split.exists() {
            return Err(LayerError::NoTarSplit(chain.to_string()));
        }
        Ok(Assembler::open(&split, &self.driver.diff_dir(&l.cache_id))?)
    }

    pub fn get(&self, chain: &str) -> Result<Layer, LayerError> {
        read_json(&self.record_path(chain)).map_err(|_| LayerError::NotFound(chain.to_string()))
    }

    pub fn exists(&self, chain: &str) -> bool {
        self.record_path(chain).exists()
    }

    /// Extract an uncompressed layer tar on top of `parent` and register it.
    /// Returns the layer (an existing one when the same content is already
    /// stored: layers are shared between images).
    pub fn register<R: Read>(&self, parent: Option<&str>, tar: R) -> Result<Layer, LayerError> {
        let parent_layer = parent.map(|p| self.get(p)).transpose()?;
        let cache_id = crate::ids::new_id();
        self.driver
            .create(&cache_id, parent_layer.as_ref().map(|l| l.cache_id.as_str()))?;
        let mut reader = HashingReader::new(tar);
        let rec = Recorder::default();
        let mut tee = rec.wrap(&mut reader);
        let result = extract_layer(
            &mut tee,
            &self.driver.diff_dir(&cache_id),
            self.driver.whiteouts(),
            Some(&rec),
            self.driver.layer_ids(),
        );
        let size = match result {
            Ok(size) => {
                // Drain trailing padding so the digest (and the record)
                // cover the whole stream.
                io::copy(&mut tee, &mut io::sink())?;
                drop(tee);
                rec.save(&self.split_path(&cache_id))?;
                crate::crashpoint::at("import-layer-extracted");
                size
            }
            Err(e) => {
                let _ = self.driver.remove(&cache_id);
                return Err(e.into());
            }
        };
        let tar_size = reader.count;
        let diff_id = reader.digest();
        let chain = chain_id(parent, &diff_id);
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if let Ok(existing) = self.get(&chain) {
            self.driver.remove(&cache_id)?;
            let _ = fs::remove_file(self.split_path(&cache_id));
            return Ok(existing);
        }
        let layer = Layer {
            chain_id: chain.clone(),
            diff_id,
            parent: parent.map(str::to_string),
            cache_id,
            size,
            tar_size,
        };
        write_json_atomic(&self.record_path(&chain), &layer)?;
        Ok(layer)
    }

    /// Remove a layer that no image references any more (and the init
    /// layer made on it for containers, which none uses any more either).
    pub fn remove(&self, chain: &str) -> Result<(), LayerError> {
        let layer = self.get(chain)?;
        fs::remove_file(self.record_path(chain))?;
        let _ = fs::remove_file(self.split_path(&layer.cache_id));
        self.driver.remove(&init_id(Some(&layer.cache_id)))?;
        self.driver.remove(&layer.cache_id)?;
        Ok(())
    }

    /// The driver ID of the init layer on top of the image layer `chain`:
    /// the mount points for the files the engine provides (`/etc/hosts`,
    /// `/etc/hostname`, `/etc/resolv.conf`, `/.dockerenv`, `/dev`, `/proc`,
    /// `/sys`), so they stay out of containers' own changes. Docker makes
    /// one per container; its content only depends on the image, so here
    /// every container of an image shares one, made on first use.
    pub fn init_layer(&self, chain: Option<&str>) -> Result<String, LayerError> {
        let parent = chain.map(|c| self.get(c)).transpose()?.map(|l| l.cache_id);
        let id = init_id(parent.as_deref());
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let diff = self.driver.diff_dir(&id);
        // `.dockerenv` is made last: without it the layer is unfinished.
        if diff.join(".dockerenv").exists() {
            return Ok(id);
        }
        self.driver.remove(&id)?;
        self.driver.create(&id, parent.as_deref())?;
        let ids = self.driver.layer_ids();
        for d in ["dev", "dev/pts", "dev/shm", "proc", "sys", "etc"] {
            fs::create_dir_all(diff.join(d))?;
            if !ids.is_identity() {
                ids.chown(&diff.join(d), 0, 0)?;
            }
        }
        for f in ["etc/hosts", "etc/hostname", "etc/resolv.conf", ".dockerenv"] {
            let p = diff.join(f);
            if !p.exists() {
                fs::File::create(&p)?.sync_all()?;
                if !ids.is_identity() {
                    ids.chown(&p, 0, 0)?;
                }
            }
        }
        Ok(id)
    }

    /// Remove driver layers and tar-split records that nothing names: an
    /// import cut short by a crash between extracting a layer and
    /// recording it, or a create between making a container's layer and
    /// writing its record. Only at agent start, before anything is served
    /// (nothing is being made then). `containers`: IDs that have a record.
    /// Returns the layers removed.
    pub fn collect_orphans(&self, containers: &std::collections::HashSet<String>) -> Vec<String> {
        let mut keep: std::collections::HashSet<String> = containers.clone();
        keep.insert(init_id(None));
        for l in self.all() {
            keep.insert(init_id(Some(&l.cache_id)));
            keep.insert(l.cache_id);
        }
        let ours = |n: &str| {
            let base = n.strip_suffix("-init").unwrap_or(n);
            base.len() == 64 && base.bytes().all(|b| b.is_ascii_hexdigit())
        };
        let mut gone = Vec::new();
        for id in self.driver.ids() {
            let owner = id.strip_suffix("-init").unwrap_or(&id);
            if ours(&id) && !keep.contains(&id) && !containers.contains(owner) {
                match self.driver.remove(&id) {
                    Ok(()) => gone.push(id),
                    Err(e) => tracing::warn!(layer = %id, "removing an orphaned layer: {e}"),
                }
            }
        }
        if let Ok(rd) = fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(cache) = name.strip_suffix(".tar-split.gz") {
                    if !keep.contains(cache) {
                        let _ = fs::remove_file(e.path());
                    }
                }
            }
        }
        gone
    }

    /// Chain IDs that have `chain` as parent (a layer with children stays).
    pub fn has_children(&self, chain: &str) -> bool {
        self.all().iter().any(|l| l.parent.as_deref() == Some(chain))
    }

    pub fn all(&self) -> Vec<Layer> {
        skiff_common::fsutil::read_json_dir(&self.dir)
    }
}
