//! `docker save` and `docker load`. An archive holds both layouts Docker 25
//! writes, so Docker 20.10 and OCI tools load it alike: `manifest.json`
//! (config, tags, layer paths) and an OCI image layout (`oci-layout`,
//! `index.json`, `blobs/sha256/…`), with each layer as its uncompressed
//! tar, put back together byte for byte (`tarsplit`) and checked against
//! its diff ID as it is written.
//!
//! Loading reads an untrusted archive spooled to a file: entries are only
//! looked up by name in an index of the archive, never opened on the host;
//! layers go through the safe extractor and must hash to the diff IDs the
//! config names, or nothing of that image is kept.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::layers::HashingReader;
use super::store::{parse_reference, Image, ImageError, ImageStore};

/// A spooled archive that is gzip- or zstd-compressed (`docker save |
/// gzip`, which Docker's load takes) is decompressed in place first.
fn uncompress_in_place(path: &Path) -> Result<(), ImageError> {
    let mut head = [0u8; 4];
    let n = File::open(path)?.read(&mut head)?;
    let head = &head[..n];
    if !head.starts_with(&[0x1f, 0x8b]) && !head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Ok(());
    }
    let plain = path.with_extension("plain");
    let copied = (|| {
        let mut r = super::pull::decompress(File::open(path)?)?;
        let mut w = io::BufWriter::new(File::create(&plain)?);
        io::copy(&mut r, &mut w)?;
        w.flush()
    })();
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&plain);
        return Err(bad(format!("decompressing the archive: {e}")));
    }
    std::fs::rename(&plain, path)?;
    Ok(())
}

/// One image of `manifest.json`.
#[derive(Serialize, Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Largest JSON document read from an archive (manifest.json, configs).
const JSON_MAX: u64 = 32 << 20;

fn hex_of(digest: &str) -> &str {
    digest.split_once(':').map_or(digest, |(_, h)| h)
}

fn bad(msg: String) -> ImageError {
    ImageError::BadArchive(msg)
}

impl ImageStore {
    /// Write the images `names` (tags or IDs) to `out` as one archive.
    /// Blocking.
    pub fn save_archive<W: Write>(&self, names: &[String], out: W) -> Result<(), ImageError> {
        let mut images: Vec<(Image, Vec<String>)> = Vec::new();
        for n in names {
            let img = self.resolve(n)?;
            let tag = parse_reference(n)
                .ok()
                .map(|t| t.to_string())
                .filter(|t| self.tags_of(&img.id).contains(t));
            match images.iter_mut().find(|(i, _)| i.id == img.id) {
                Some((_, tags)) => tags.extend(tag),
                None => images.push((img, tag.into_iter().collect())),
            }
        }
        let mut tar = tar::Builder::new(out);
        let mut written: Vec<String> = Vec::new();
        let mut entries = Vec::new();
        let mut index = Vec::new();
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for (img, tags) in &images {
            let mut layer_paths = Vec::new();
            for chain in img.chain_ids() {
                let l = self.layers.get(&chain)?;
                let path = format!("blobs/sha256/{}", hex_of(&l.diff_id));
                if !written.contains(&path) {
                    let mut r = HashingReader::new(self.layers.tar_stream(&chain)?);
                    append(&mut tar, &path, l.tar_size, &mut r)?;
                    if r.digest() != l.diff_id {
                        return Err(bad(format!("layer {} does not match its diff ID any more", l.diff_id)));
                    }
                    written.push(path.clone());
                }
                layer_paths.push(path);
            }
            let config_path = format!("blobs/sha256/{}", hex_of(&img.id));
            append(&mut tar, &config_path, img.raw.len() as u64, &mut &img.raw[..])?;
            let manifest = self.manifest_raw(img)?;
            let mdigest = format!(
                "sha256:{}",
                hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&manifest))
            );
            append(
                &mut tar,
                &format!("blobs/sha256/{}", hex_of(&mdigest)),
                manifest.len() as u64,
                &mut &manifest[..],
            )?;
            for t in tags {
                let (repo, tag) = t.rsplit_once(':').unwrap_or((t, "latest"));
                let top = layer_paths
                    .last()
                    .map(|p| p.rsplit('/').next().unwrap_or_default().to_string());
                repositories
                    .entry(repo.to_string())
                    .or_default()
                    .insert(tag.to_string(), top.unwrap_or_default());
                index.push(
                    json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mdigest,
                    "size": manifest.len(), "annotations": {"io.containerd.image.name": skiff_api::qualified_reference(t),
                    "org.opencontainers.image.ref.name": tag}}),
                );
            }
            if tags.is_empty() {
                index.push(json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mdigest, "size": manifest.len()}));
            }
            entries.push(Entry {
                config: config_path,
                repo_tags: (!tags.is_empty()).then(|| tags.clone()),
                layers: layer_paths,
            });
        }
        let docs = [
            ("oci-layout", json!({"imageLayoutVersion": "1.0.0"})),
            (
                "index.json",
                json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": index}),
            ),
            (
                "manifest.json",
                serde_json::to_value(&entries).map_err(io::Error::other)?,
            ),
            (
                "repositories",
                serde_json::to_value(&repositories).map_err(io::Error::other)?,
            ),
        ];
        for (name, doc) in docs {
            let raw = serde_json::to_vec(&doc).map_err(io::Error::other)?;
            append(&mut tar, name, raw.len() as u64, &mut &raw[..])?;
        }
        tar.into_inner()?.flush()?;
        Ok(())
    }

    /// Load every image of the archive at `path`; returns what to print
    /// (`Loaded image: busybox:latest`, or `Loaded image ID: sha256:…`).
    /// Blocking.
    pub fn load_archive(&self, path: &Path) -> Result<Vec<String>, ImageError> {
        uncompress_in_place(path)?;
        let mut ar = ArchiveFile::open(path)?;
        let entries: Vec<Entry> = match ar.json::<Vec<Entry>>("manifest.json") {
            Ok(e) => e,
            Err(_) if ar.has("index.json") => ar.oci_entries()?,
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for e in entries {
            let config = ar.read("config", &e.config, JSON_MAX)?;
            let cfg: skiff_api::ImageConfigFile =
                serde_json::from_slice(&config).map_err(|err| bad(format!("image config {}: {err}", e.config)))?;
            let diff_ids = &cfg.rootfs.diff_ids;
            if diff_ids.len() != e.layers.len() {
                return Err(bad(format!(
                    "{} names {} layers, its config {}",
                    e.config,
                    e.layers.len(),
                    diff_ids.len()
                )));
            }
            let mut parent: Option<String> = None;
            for (path, want) in e.layers.iter().zip(diff_ids) {
                let chain = super::layers::chain_id(parent.as_deref(), want);
                if !self.layers.exists(&chain) {
                    let reader = super::pull::decompress(ar.entry(path)?)?;
                    let l = self.layers.register(parent.as_deref(), reader)?;
                    if l.diff_id != *want {
                        let _ = self.layers.remove(&l.chain_id);
                        return Err(bad(format!(
                            "layer {path} does not match the diff ID {want} its config names"
                        )));
                    }
                }
                parent = Some(chain);
            }
            let id = self.add_config(&config)?;
            let tags = e.repo_tags.unwrap_or_default();
            for t in &tags {
                let nt = parse_reference(t)?;
                self.tag(&id, &nt)?;
                out.push(format!("Loaded image: {nt}"));
            }
            if tags.is_empty() {
                out.push(format!("Loaded image ID: {id}"));
            }
        }
        // SAFETY: malloc_trim has no preconditions (see `import_archive`).
        unsafe { libc::malloc_trim(0) };
        Ok(out)
    }
}

fn append<W: Write>(tar: &mut tar::Builder<W>, path: &str, size: u64, data: &mut dyn Read) -> io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut h, path, data)
}

/// An archive on disk, indexed by entry name: (offset of the content, size).
struct ArchiveFile {
    file: File,
    index: HashMap<String, (u64, u64)>,
}

fn clean(name: &str) -> String {
    name.trim_start_matches("./").to_string()
}

impl ArchiveFile {
    fn open(path: &Path) -> Result<Self, ImageError> {
        let mut index = HashMap::new();
        let mut ar = tar::Archive::new(File::open(path)?);
        for e in ar.entries().map_err(|e| bad(format!("reading the archive: {e}")))? {
            let e = e.map_err(|e| bad(format!("reading the archive: {e}")))?;
            if e.header().entry_type().is_file() {
                let name = clean(&e.path().map_err(|e| bad(e.to_string()))?.to_string_lossy());
                index.insert(name, (e.raw_file_position(), e.size()));
            }
        }
        Ok(ArchiveFile {
            file: File::open(path)?,
            index,
        })
    }

    fn has(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// An entry's content (read from the archive only).
    fn entry(&mut self, name: &str) -> Result<io::Take<File>, ImageError> {
        let &(at, size) = self
            .index
            .get(&clean(name))
            .ok_or_else(|| bad(format!("the archive has no file {name:?}")))?;
        let mut f = self.file.try_clone()?;
        f.seek(SeekFrom::Start(at))?;
        Ok(f.take(size))
    }

    fn read(&mut self, what: &str, name: &str, max: u64) -> Result<Vec<u8>, ImageError> {
        let r = self.entry(name)?;
        if r.limit() > max {
            return Err(bad(format!("{what} {name} is too large")));
        }
        let mut v = Vec::new();
        { r }.read_to_end(&mut v)?;
        Ok(v)
    }

    fn json<T: serde::de::DeserializeOwned>(&mut self, name: &str) -> Result<T, ImageError> {
        let raw = self.read("document", name, JSON_MAX)?;
        serde_json::from_slice(&raw).map_err(|e| bad(format!("{name}: {e}")))
    }

    /// The images of an OCI layout without `manifest.json`.
    fn oci_entries(&mut self) -> Result<Vec<Entry>, ImageError> {
        let index: oci_spec::image::ImageIndex = self.json("index.json")?;
        let mut out = Vec::new();
        for d in index.manifests() {
            let blob = |digest: &str| format!("blobs/sha256/{}", hex_of(digest));
            let m: oci_spec::image::ImageManifest = self.json(&blob(d.digest().as_ref()))?;
            let name = d
                .annotations()
                .as_ref()
                .and_then(|a| a.get("io.containerd.image.name").cloned())
                .map(|n| {
                    n.trim_start_matches("docker.io/library/")
                        .trim_start_matches("docker.io/")
                        .to_string()
                });
            out.push(Entry {
                config: blob(m.config().digest().as_ref()),
                repo_tags: name.map(|n| vec![n]),
                layers: m.layers().iter().map(|l| blob(l.digest().as_ref())).collect(),
            });
        }
        Ok(out)
    }
}
