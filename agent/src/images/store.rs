//! The image store: image configs (the image ID is the sha256 of the config
//! blob), an OCI image manifest for each (`image/manifests/`: the config and
//! the layers' uncompressed tars as descriptors), the repository:tag index,
//! and the layers they reference.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use oci_spec::image::{Descriptor, ImageManifest, ImageManifestBuilder, MediaType, SCHEMA_VERSION};
use sha2::{Digest, Sha256};
use skiff_api::{ContainerConfig, History, ImageConfigFile, RootFs};
use skiff_common::fsutil::{read_json, write_atomic, write_json_atomic};

use super::layers::{Layer, LayerError, LayerStore};

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("No such image: {0}")]
    NotFound(String),
    #[error("invalid reference format: {0}")]
    BadReference(String),
    #[error("conflict: unable to remove repository reference \"{reference}\" (must force) - container {container} is using its referenced image {image}")]
    InUse {
        reference: String,
        container: String,
        image: String,
    },
    #[error("conflict: unable to delete {0} (must be forced) - image is referenced in multiple repositories")]
    MultipleTags(String),
    #[error("conflict: unable to delete {image} ({}) - image is being used by {} container {container}", if *running { "cannot be forced" } else { "must be forced" }, if *running { "running" } else { "stopped" })]
    UsedByContainer {
        image: String,
        container: String,
        running: bool,
    },
    #[error("{0}")]
    BadChange(String),
    #[error("invalid archive: {0}")]
    BadArchive(String),
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error("image store: {0}")]
    Io(#[from] io::Error),
}

/// A repository name and tag in Docker's familiar form (`busybox:latest`,
/// `registry:5000/team/app:v1`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct NamedTag {
    pub repo: String,
    pub tag: String,
}

impl std::fmt::Display for NamedTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.repo, self.tag)
    }
}

/// Parse a reference the way Docker does: default registry docker.io,
/// `library/` for official images, default tag `latest`; the result is
/// shown in familiar form.
pub fn parse_reference(s: &str) -> Result<NamedTag, ImageError> {
    if s.chars().any(|c| c.is_ascii_uppercase()) && !s.contains('@') {
        let name_part = s.rsplit_once(':').map(|(a, _)| a).unwrap_or(s);
        let path = name_part.split_once('/').map_or(name_part, |(_, p)| p);
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(ImageError::BadReference(format!(
                "{s}: repository name must be lowercase"
            )));
        }
    }
    let r = super::reference::parse(s).map_err(|_| ImageError::BadReference(s.to_string()))?;
    let repo = match r.domain.as_deref() {
        None | Some("docker.io" | "index.docker.io") => r.path.strip_prefix("library/").unwrap_or(&r.path).to_string(),
        Some(reg) => format!("{reg}/{}", r.path),
    };
    Ok(NamedTag {
        repo,
        tag: r.tag.unwrap_or_else(|| "latest".into()),
    })
}

pub struct Image {
    pub id: String,
    pub config: ImageConfigFile,
    pub raw: Vec<u8>,
}

impl Image {
    /// The chain IDs of the image's layers, bottom first.
    pub fn chain_ids(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for d in &self.config.rootfs.diff_ids {
            let c = super::layers::chain_id(out.last().map(String::as_str), d);
            out.push(c);
        }
        out
    }

    pub fn top_layer(&self) -> Option<String> {
        self.chain_ids().pop()
    }
}

pub struct ImageStore {
    dir: PathBuf,
    pub layers: LayerStore,
    /// What build steps made (`build_cache.rs`); its layers are kept.
    pub cache: super::build_cache::BuildCache,
    repos: Mutex<BTreeMap<String, String>>,
}

fn digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

impl ImageStore {
    pub fn new(data_root: &Path, layers: LayerStore) -> io::Result<Self> {
        let dir = data_root.join("image");
        fs::create_dir_all(dir.join("configs"))?;
        fs::create_dir_all(dir.join("manifests"))?;
        let repos = read_json(&dir.join("repositories.json")).unwrap_or_default();
        let store = Self {
            cache: super::build_cache::BuildCache::new(data_root)?,
            dir,
            layers,
            repos: Mutex::new(repos),
        };
        store.collect_stale_downloads();
        Ok(store)
    }

    /// `<data-root>/image`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn config_path(&self, id: &str) -> PathBuf {
        self.dir.join("configs").join(id.trim_start_matches("sha256:"))
    }

    fn manifest_path(&self, id: &str) -> PathBuf {
        self.dir.join("manifests").join(id.trim_start_matches("sha256:"))
    }

    fn save_repos(&self, repos: &BTreeMap<String, String>) -> io::Result<()> {
        write_json_atomic(&self.dir.join("repositories.json"), repos)
    }

    /// Store an image config whose layers are already registered.
    pub fn add_config(&self, raw: &[u8]) -> Result<String, ImageError> {
        let cfg: ImageConfigFile =
            serde_json::from_slice(raw).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let img = Image {
            id: digest(raw),
            config: cfg,
            raw: raw.to_vec(),
        };
        for c in img.chain_ids() {
            if !self.layers.exists(&c) {
                return Err(LayerError::NotFound(c).into());
            }
        }
        let manifest = self.manifest_of(&img)?;
        write_atomic(&self.manifest_path(&img.id), &manifest)?;
        write_atomic(&self.config_path(&img.id), raw)?;
        Ok(img.id)
    }

    /// The OCI image manifest of `img`, serialized: its config blob and
    /// its layers as uncompressed tars (digest = diff ID), bottom first.
    fn manifest_of(&self, img: &Image) -> Result<Vec<u8>, ImageError> {
        let bad = |e: oci_spec::OciSpecError| io::Error::new(io::ErrorKind::InvalidData, e.to_string());
        let descriptor = |media: MediaType, size: u64, digest: &str| -> Result<Descriptor, ImageError> {
            let d: oci_spec::image::Digest = digest
                .parse()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{digest}: {e}")))?;
            Ok(Descriptor::new(media, size, d))
        };
        let mut layers = Vec::new();
        for c in img.chain_ids() {
            let l = self.layers.get(&c)?;
            layers.push(descriptor(MediaType::ImageLayer, l.tar_size, &l.diff_id)?);
        }
        let manifest: ImageManifest = ImageManifestBuilder::default()
            .schema_version(SCHEMA_VERSION)
            .media_type(MediaType::ImageManifest)
            .config(descriptor(MediaType::ImageConfig, img.raw.len() as u64, &img.id)?)
            .layers(layers)
            .build()
            .map_err(bad)?;
        Ok(manifest.to_string().map_err(bad)?.into_bytes())
    }

    /// The image's OCI manifest as stored (made for images stored before
    /// manifests were kept).
    pub fn manifest_raw(&self, img: &Image) -> Result<Vec<u8>, ImageError> {
        let path = self.manifest_path(&img.id);
        match fs::read(&path) {
            Ok(raw) => Ok(raw),
            Err(_) => {
                let raw = self.manifest_of(img)?;
                write_atomic(&path, &raw)?;
                Ok(raw)
            }
        }
    }

    /// `docker import`: one flat root filesystem tarball becomes a one-layer
    /// image, made at `created` (RFC 3339; now if absent: a controller
    /// gives every node the same time, so the image ID is the same on all).
    pub fn import<R: Read>(
        &self,
        tar: R,
        changes: ContainerConfig,
        message: Option<String>,
        tag: Option<&NamedTag>,
        created: Option<String>,
    ) -> Result<String, ImageError> {
        let layer: Layer = self.layers.register(None, tar)?;
        let now = created.unwrap_or_else(crate::ids::now);
        // As Docker: the message, or where it came from, is the comment.
        let comment = message.unwrap_or_else(|| "Imported from -".into());
        let cfg = ImageConfigFile {
            architecture: std::env::consts::ARCH
                .replace("x86_64", "amd64")
                .replace("aarch64", "arm64"),
            os: "linux".into(),
            created: Some(now.clone()),
            comment: Some(comment.clone()),
            config: changes,
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: vec![layer.diff_id.clone()],
            },
            history: vec![History {
                created: Some(now),
                created_by: None,
                comment: Some(comment),
                empty_layer: None,
            }],
            ..Default::default()
        };
        let raw = serde_json::to_vec(&cfg).map_err(io::Error::other)?;
        let id = self.add_config(&raw)?;
        if let Some(t) = tag {
            self.tag(&id, t)?;
        }
        Ok(id)
    }

    pub fn load(&self, id: &str) -> Result<Image, ImageError> {
        let raw = fs::read(self.config_path(id)).map_err(|_| ImageError::NotFound(id.to_string()))?;
        let config = serde_json::from_slice(&raw).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(Image {
            id: format!("sha256:{}", id.trim_start_matches("sha256:")),
            config,
            raw,
        })
    }

    pub fn ids(&self) -> Vec<String> {
        let Ok(rd) = fs::read_dir(self.dir.join("configs")) else {
            return Vec::new();
        };
        rd.flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.len() == 64)
            .map(|n| format!("sha256:{n}"))
            .collect()
    }

    /// Find an image by name[:tag], full ID or unique ID prefix.
    pub fn resolve(&self, name: &str) -> Result<Image, ImageError> {
        if let Some((repo, digest)) = name.split_once('@') {
            let key = parse_reference(repo).map(|t| format!("{}@{digest}", t.repo));
            if let Some(id) = key
                .ok()
                .and_then(|k| self.repos.lock().unwrap_or_else(|e| e.into_inner()).get(&k).cloned())
            {
                return self.load(&id);
            }
        }
        if let Ok(t) = parse_reference(name) {
            if let Some(id) = self.repos.lock().unwrap_or_else(|e| e.into_inner()).get(&t.to_string()) {
                return self.load(id);
            }
        }
        let hexpart = name.trim_start_matches("sha256:");
        if hexpart.len() >= 4 && hexpart.chars().all(|c| c.is_ascii_hexdigit()) {
            let matches: Vec<String> = self
                .ids()
                .into_iter()
                .filter(|id| id.trim_start_matches("sha256:").starts_with(hexpart))
                .collect();
            if matches.len() == 1 {
                return self.load(&matches[0]);
            }
        }
        Err(ImageError::NotFound(name.to_string()))
    }

    pub fn tag(&self, id: &str, t: &NamedTag) -> Result<(), ImageError> {
        let mut repos = self.repos.lock().unwrap_or_else(|e| e.into_inner());
        repos.insert(t.to_string(), id.to_string());
        self.save_repos(&repos)?;
        Ok(())
    }

    /// Record that `repo@digest` (a pulled manifest) is image `id`: its
    /// `RepoDigests`. Kept in the same index as tags, told apart by `@`.
    pub fn add_digest(&self, id: &str, repo: &str, digest: &str) -> Result<(), ImageError> {
        let mut repos = self.repos.lock().unwrap_or_else(|e| e.into_inner());
        repos.insert(format!("{repo}@{digest}"), id.to_string());
        self.save_repos(&repos)?;
        Ok(())
    }

    fn names_of(&self, id: &str, digests: bool) -> Vec<String> {
        self.repos
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(k, v)| v.as_str() == id && k.contains('@') == digests)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Tags that point at `id`, in familiar form.
    pub fn tags_of(&self, id: &str) -> Vec<String> {
        self.names_of(id, false)
    }

    /// The tags of the repository `repo` (familiar form), sorted.
    pub fn tags_in(&self, repo: &str) -> Vec<String> {
        self.repos
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .filter(|k| !k.contains('@'))
            .filter_map(|k| k.rsplit_once(':'))
            .filter(|(r, _)| *r == repo)
            .map(|(_, t)| t.to_string())
            .collect()
    }

    /// `RepoDigests` of `id` (`repo@sha256:…`).
    pub fn digests_of(&self, id: &str) -> Vec<String> {
        self.names_of(id, true)
    }

    /// Remove a tag; returns the image ID it pointed at.
    pub fn untag(&self, t: &NamedTag) -> Result<String, ImageError> {
        let mut repos = self.repos.lock().unwrap_or_else(|e| e.into_inner());
        let id = repos
            .remove(&t.to_string())
            .ok_or_else(|| ImageError::NotFound(t.to_string()))?;
        self.save_repos(&repos)?;
        Ok(id)
    }

    /// Drop one name (a tag or a `repo@digest`) from the index.
    pub fn forget(&self, key: &str) -> Result<(), ImageError> {
        let mut repos = self.repos.lock().unwrap_or_else(|e| e.into_inner());
        repos.remove(key);
        self.save_repos(&repos)?;
        Ok(())
    }

    /// Delete an untagged image's config and the layers nothing else uses.
    pub fn delete(&self, id: &str) -> Result<Vec<String>, ImageError> {
        let img = self.load(id)?;
        fs::remove_file(self.config_path(id))?;
        let _ = fs::remove_file(self.manifest_path(id));
        let mut removed = vec![img.id.clone()];
        let mut keep: std::collections::HashSet<String> = self
            .ids()
            .iter()
            .filter_map(|i| self.load(i).ok())
            .flat_map(|i| i.chain_ids())
            .collect();
        keep.extend(self.cache.pinned());
        for c in img.chain_ids().into_iter().rev() {
            if keep.contains(&c) || self.layers.has_children(&c) {
                break;
            }
            if let Ok(l) = self.layers.get(&c) {
                self.layers.remove(&c)?;
                removed.push(l.diff_id);
            }
        }
        Ok(removed)
    }

    /// Total bytes of the image's layers.
    pub fn size(&self, img: &Image) -> u64 {
        img.chain_ids()
            .iter()
            .filter_map(|c| self.layers.get(c).ok())
            .map(|l| l.size)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_as_docker() {
        let t = parse_reference("busybox").unwrap();
        assert_eq!(t.to_string(), "busybox:latest");
        let t = parse_reference("localhost:5000/team/app:v1").unwrap();
        assert_eq!(t.to_string(), "localhost:5000/team/app:v1");
        let t = parse_reference("docker.io/library/nginx:1.25").unwrap();
        assert_eq!(t.to_string(), "nginx:1.25");
        assert!(parse_reference("Busybox").is_err());
        assert!(parse_reference("bad::tag").is_err());
    }
}
