//! The build cache: what each filesystem-changing build step (`RUN`,
//! `COPY`, `ADD`, `WORKDIR` that makes its directory) produced, keyed by
//! the step's content key (its parent's key, the instruction after
//! expansion, and for `COPY`/`ADD` the digests of the files copied). A
//! record names the layer the step made; while it exists the layer stays,
//! even when no image uses it any more (BuildKit's rule: `rmi` does not
//! drop build cache, `builder prune` does). One JSON file per record under
//! `<data-root>/buildcache/`.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use skiff_common::fsutil::{read_json, write_json_atomic};

use super::store::{ImageError, ImageStore};

/// One cached step.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CacheRecord {
    /// The step's content key (hex sha256).
    pub key: String,
    /// Chain ID of the layer the step made (empty: it changed nothing).
    pub chain: String,
    /// The instruction, for `builder prune` and `system df -v`.
    pub description: String,
    /// RFC 3339.
    pub created: String,
    pub last_used: String,
    /// Bytes of the step's own layer.
    pub size: u64,
}

pub struct BuildCache {
    dir: PathBuf,
}

impl BuildCache {
    pub fn new(data_root: &std::path::Path) -> io::Result<Self> {
        let dir = data_root.join("buildcache");
        fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    pub fn get(&self, key: &str) -> Option<CacheRecord> {
        read_json(&self.path(key)).ok()
    }

    pub fn put(&self, rec: &CacheRecord) -> io::Result<()> {
        write_json_atomic(&self.path(&rec.key), rec)
    }

    pub fn remove(&self, key: &str) -> io::Result<()> {
        match fs::remove_file(self.path(key)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    pub fn all(&self) -> Vec<CacheRecord> {
        skiff_common::fsutil::read_json_dir(&self.dir)
    }

    fn image_path(&self, key: &str) -> PathBuf {
        self.dir.join("images").join(key)
    }

    /// The image a build whose final state had `key` stored, if any.
    pub fn image(&self, key: &str) -> Option<String> {
        fs::read_to_string(self.image_path(key))
            .ok()
            .map(|s| s.trim().to_string())
    }

    /// Remember that a build whose final state had `key` stored `id`.
    pub fn put_image(&self, key: &str, id: &str) -> io::Result<()> {
        fs::create_dir_all(self.dir.join("images"))?;
        skiff_common::fsutil::write_atomic(&self.image_path(key), id.as_bytes())
    }

    /// Chain IDs the cache keeps.
    pub fn pinned(&self) -> HashSet<String> {
        self.all()
            .into_iter()
            .map(|r| r.chain)
            .filter(|c| !c.is_empty())
            .collect()
    }
}

/// What `builder prune` removed.
#[derive(Default, Debug)]
pub struct Pruned {
    /// Keys of the records removed.
    pub removed: Vec<String>,
    pub freed: u64,
}

impl ImageStore {
    /// A cached step's layer, if the record and its layer are both there;
    /// the record is marked used.
    pub fn cached_step(&self, key: &str) -> Option<CacheRecord> {
        let mut rec = self.cache.get(key)?;
        if !rec.chain.is_empty() && !self.layers.exists(&rec.chain) {
            let _ = self.cache.remove(key);
            return None;
        }
        rec.last_used = crate::ids::now();
        let _ = self.cache.put(&rec);
        Some(rec)
    }

    /// Chain IDs used by any image.
    fn image_chains(&self) -> HashSet<String> {
        self.ids()
            .iter()
            .filter_map(|i| self.load(i).ok())
            .flat_map(|i| i.chain_ids())
            .collect()
    }

    /// Bytes of build cache (records' layers) and the part no image uses.
    pub fn cache_usage(&self) -> (u64, u64, usize) {
        let used = self.image_chains();
        let all = self.cache.all();
        let total = all.iter().map(|r| r.size).sum();
        let reclaimable = all.iter().filter(|r| !used.contains(&r.chain)).map(|r| r.size).sum();
        (total, reclaimable, all.len())
    }

    /// `docker builder prune`: records whose layers no image uses (every
    /// record with `all`), last used before `until` (RFC 3339) when given;
    /// then the layers nothing keeps any more.
    pub fn prune_cache(&self, all: bool, until: Option<&str>) -> Result<Pruned, ImageError> {
        let used = self.image_chains();
        let mut out = Pruned::default();
        let mut dropped = Vec::new();
        for rec in self.cache.all() {
            if !all && used.contains(&rec.chain) {
                continue;
            }
            if until.is_some_and(|u| rec.last_used.as_str() >= u) {
                continue;
            }
            self.cache.remove(&rec.key)?;
            out.removed.push(rec.key);
            dropped.push(rec.chain);
        }
        let mut keep = used;
        keep.extend(self.cache.pinned());
        for chain in dropped {
            out.freed += self.drop_unused_layers(&chain, &keep)?;
        }
        Ok(out)
    }

    /// Remove layer `chain` and then its parents, while nothing in `keep`
    /// names them and no layer is built on them. Returns bytes freed.
    pub(super) fn drop_unused_layers(&self, chain: &str, keep: &HashSet<String>) -> Result<u64, ImageError> {
        let mut freed = 0;
        let mut next = Some(chain.to_string());
        while let Some(c) = next.take() {
            if keep.contains(&c) || self.layers.has_children(&c) {
                break;
            }
            let Ok(l) = self.layers.get(&c) else { break };
            self.layers.remove(&c)?;
            freed += l.size;
            next = l.parent;
        }
        Ok(freed)
    }
}
