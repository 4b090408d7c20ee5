//! `docker pull`: resolve the manifest (`registry.rs`), fetch the config,
//! stream each layer that is not stored yet to a file under
//! `<data-root>/image/downloads/` (three at a time, as Docker; the digest
//! checked as the bytes arrive; an interrupted download resumes from the
//! bytes already there), and unpack the layers in order into the layer
//! store as they complete. Progress goes out as Docker's JSON messages.

use std::future::Future;
use std::io::{self, BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;

use futures_util::{StreamExt, TryStreamExt};
use oci_client::client::{BlobResponse, LayerDescriptor};
use oci_client::secrets::RegistryAuth;
use oci_client::Client;
use oci_spec::image::{Descriptor, ImageManifest};
use sha2::{Digest, Sha256};
use skiff_api::JsonMessage;
use tokio::sync::mpsc::UnboundedSender;

use super::registry::{self, Credentials, Platform, RegistryError, Remote};
use super::store::{parse_reference, ImageError, ImageStore};

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("filesystem layer verification failed for digest {0}")]
    Digest(String),
    #[error("{0}")]
    Image(#[from] ImageError),
    #[error("pulling: {0}")]
    Io(#[from] io::Error),
}

/// What a pull is asked for besides the reference.
#[derive(Default)]
pub struct PullOptions {
    pub platform: Option<Platform>,
    pub credentials: Option<Credentials>,
    /// How the agent reaches registries.
    pub registries: registry::Registries,
}

/// The pulled image's ID, and whether it was already up to date.
pub struct Pulled {
    pub id: String,
    pub reference: String,
    pub fresh: bool,
}

/// A downloaded layer: its index in the manifest, descriptor and file.
type Fetched = (usize, Descriptor, PathBuf);

/// One layer's download, in flight.
type Job<'a> = Pin<Box<dyn Future<Output = Result<Fetched, PullError>> + Send + 'a>>;

fn say(tx: &UnboundedSender<JsonMessage>, id: &str, status: &str) {
    let _ = tx.send(JsonMessage {
        status: status.to_string(),
        id: id.to_string(),
        ..Default::default()
    });
}

/// Docker's last line of a pull.
fn say_status(tx: &UnboundedSender<JsonMessage>, shown: &str, fresh: bool) {
    let status = if fresh {
        "Downloaded newer image for"
    } else {
        "Image is up to date for"
    };
    say(tx, "", &format!("Status: {status} {shown}"));
}

/// How long an unfinished download is kept for a later pull to resume.
const STALE_DOWNLOAD: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

fn short(d: &Descriptor) -> String {
    let s = d.digest().to_string();
    let hex = s.split_once(':').map_or(s.as_str(), |(_, h)| h);
    hex.chars().take(12).collect()
}

impl ImageStore {
    fn downloads(&self) -> PathBuf {
        self.dir().join("downloads")
    }

    /// Pull `reference` from its registry (or a mirror, for Docker Hub)
    /// and tag it; progress on `tx`.
    pub async fn pull(
        &self,
        reference: &str,
        opts: &PullOptions,
        tx: &UnboundedSender<JsonMessage>,
    ) -> Result<Pulled, PullError> {
        self.collect_stale_downloads();
        let remote = Remote::parse(reference)?;
        let auth = registry::auth(opts.credentials.as_ref());
        let platform = opts.platform.clone().unwrap_or_else(Platform::host);
        let mut failed = None;
        for ep in opts.registries.endpoints(&remote) {
            let client = registry::client(&ep, &opts.registries);
            match registry::resolve(&client, &ep, &auth, &platform).await {
                Ok((manifest, digest)) => {
                    let (id, fresh) = self.pull_tag(&client, &ep, &auth, &manifest, &digest, tx).await?;
                    say_status(tx, &remote.shown(), fresh);
                    return Ok(Pulled {
                        id,
                        reference: remote.shown(),
                        fresh,
                    });
                }
                Err(e) => {
                    tracing::info!("pulling {} from {}: {e}", remote.shown(), ep.registry);
                    failed = Some(e);
                }
            }
        }
        Err(failed.unwrap_or(RegistryError::BadReference).into())
    }

    /// `pull --all-tags`: every tag of the repository `name` (a name
    /// without tag or digest), one after another, as Docker; one `Status:`
    /// line at the end for the repository.
    pub async fn pull_all(
        &self,
        name: &str,
        opts: &PullOptions,
        tx: &UnboundedSender<JsonMessage>,
    ) -> Result<Pulled, PullError> {
        self.collect_stale_downloads();
        let mut remote = Remote::parse(name)?;
        remote.tag = None;
        let auth = registry::auth(opts.credentials.as_ref());
        let platform = opts.platform.clone().unwrap_or_else(Platform::host);
        let mut found = None;
        for ep in opts.registries.endpoints(&remote) {
            let client = registry::client(&ep, &opts.registries);
            match registry::tags(&client, &ep, &auth).await {
                Ok(tags) => {
                    found = Some(Ok((client, ep, tags)));
                    break;
                }
                Err(e) => {
                    tracing::info!("listing tags of {} at {}: {e}", remote.familiar, ep.registry);
                    found = Some(Err(e));
                }
            }
        }
        let (client, ep, tags) = found.unwrap_or(Err(RegistryError::BadReference))?;
        let (mut id, mut fresh) = (String::new(), false);
        for t in tags {
            let mut r = ep.clone();
            r.tag = Some(t);
            let (manifest, digest) = registry::resolve(&client, &r, &auth, &platform).await?;
            let (i, f) = self.pull_tag(&client, &r, &auth, &manifest, &digest, tx).await?;
            (id, fresh) = (i, fresh || f);
        }
        say_status(tx, &remote.familiar, fresh);
        Ok(Pulled {
            id,
            reference: remote.familiar,
            fresh,
        })
    }

    /// One resolved manifest: its config and layers, then its tag and
    /// repo digest. Returns the image ID and whether the tag moved.
    async fn pull_tag(
        &self,
        client: &Client,
        remote: &Remote,
        auth: &RegistryAuth,
        manifest: &ImageManifest,
        repo_digest: &str,
        tx: &UnboundedSender<JsonMessage>,
    ) -> Result<(String, bool), PullError> {
        let what = remote.tag.clone().or(remote.digest.clone()).unwrap_or_default();
        say(tx, &what, &format!("Pulling from {}", remote.repository));
        let config = self.fetch_config(client, remote, manifest).await?;
        let cfg: skiff_api::ImageConfigFile =
            serde_json::from_slice(&config).map_err(|e| RegistryError::Other(format!("image config: {e}")))?;
        let diff_ids = &cfg.rootfs.diff_ids;
        if diff_ids.len() != manifest.layers().len() {
            return Err(
                RegistryError::Other("image config and manifest disagree on the number of layers".into()).into(),
            );
        }
        self.fetch_layers(client, remote, auth, manifest, diff_ids, tx).await?;
        let id = self.add_config(&config)?;
        say(tx, "", &format!("Digest: {repo_digest}"));
        let tag = match &remote.tag {
            Some(t) => Some(parse_reference(&format!("{}:{t}", remote.familiar))?),
            None => None,
        };
        let before = tag
            .as_ref()
            .and_then(|t| self.resolve(&t.to_string()).ok())
            .map(|i| i.id);
        if let Some(t) = &tag {
            self.tag(&id, t)?;
        }
        self.add_digest(&id, &remote.familiar, repo_digest)?;
        let fresh = before.as_deref() != Some(id.as_str());
        Ok((id, fresh))
    }

    /// Remove downloads nobody finished within `STALE_DOWNLOAD` (kept
    /// until then for a pull to resume): at agent start and before each
    /// pull.
    pub fn collect_stale_downloads(&self) {
        let Ok(rd) = std::fs::read_dir(self.downloads()) else {
            return;
        };
        for e in rd.flatten() {
            let age = e
                .metadata()
                .and_then(|m| m.modified())
                .map(|t| t.elapsed().unwrap_or_default());
            if age.is_ok_and(|a| a > STALE_DOWNLOAD) {
                tracing::info!("removing stale download {}", e.path().display());
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    async fn fetch_config(&self, client: &Client, remote: &Remote, m: &ImageManifest) -> Result<Vec<u8>, PullError> {
        let mut out = Vec::new();
        let want = m.config().digest().to_string();
        let blob = LayerDescriptor {
            digest: &want,
            urls: m.config().urls(),
        };
        client
            .pull_blob(&remote.oci(), &blob, &mut out)
            .await
            .map_err(|e| registry::describe(e, remote))?;
        if format!("sha256:{}", hex::encode(Sha256::digest(&out))) != want {
            return Err(PullError::Digest(want));
        }
        Ok(out)
    }

    /// Download the missing layers (three at a time) and unpack them in
    /// order as they arrive.
    async fn fetch_layers(
        &self,
        client: &Client,
        remote: &Remote,
        auth: &RegistryAuth,
        m: &ImageManifest,
        diff_ids: &[String],
        tx: &UnboundedSender<JsonMessage>,
    ) -> Result<(), PullError> {
        let mut chains: Vec<String> = Vec::new();
        for d in diff_ids {
            chains.push(super::layers::chain_id(chains.last().map(String::as_str), d));
        }
        let missing: Vec<usize> = (0..chains.len()).filter(|i| !self.layers.exists(&chains[*i])).collect();
        for (i, l) in m.layers().iter().enumerate() {
            let status = if missing.contains(&i) {
                "Pulling fs layer"
            } else {
                "Already exists"
            };
            say(tx, &short(l), status);
        }
        if missing.is_empty() {
            return Ok(());
        }
        // oci-client authenticates lazily; do it once before the parallel fetches.
        client
            .auth(&remote.oci(), auth, oci_client::RegistryOperation::Pull)
            .await
            .map_err(|e| registry::describe(e, remote))?;
        let dir = self.downloads();
        std::fs::create_dir_all(&dir)?;
        let mut jobs: Vec<Job<'_>> = Vec::new();
        for &i in &missing {
            let desc = m.layers()[i].clone();
            let dir = dir.clone();
            jobs.push(Box::pin(async move {
                let path = download(client, remote, &desc, &dir).await?;
                say(tx, &short(&desc), "Download complete");
                Ok((i, desc, path))
            }));
        }
        let mut downloads = futures_util::stream::iter(jobs).buffered(3);
        while let Some((i, desc, path)) = downloads.try_next().await? {
            let parent = (i > 0).then(|| chains[i - 1].as_str());
            say(tx, &short(&desc), "Extracting");
            let layer = tokio::task::block_in_place(|| self.layers.register(parent, open_layer(&path)?))
                .map_err(ImageError::from)?;
            let _ = std::fs::remove_file(&path);
            if layer.diff_id != diff_ids[i] {
                let _ = self.layers.remove(&layer.chain_id);
                return Err(PullError::Digest(desc.digest().to_string()));
            }
            let blob = super::push::BlobRef {
                digest: desc.digest().to_string(),
                size: desc.size(),
                media_type: desc.media_type().to_string(),
                repository: format!("{}/{}", remote.registry, remote.repository),
            };
            if let Err(e) = self.note_blob(&layer.diff_id, blob) {
                tracing::warn!("recording blob {}: {e}", desc.digest());
            }
            say(tx, &short(&desc), "Pull complete");
        }
        // Give back what extraction freed (see `import_archive`).
        // SAFETY: malloc_trim has no preconditions.
        unsafe { libc::malloc_trim(0) };
        Ok(())
    }
}

/// A downloaded layer, decompressed by its magic bytes.
fn open_layer(path: &Path) -> io::Result<Box<dyn Read>> {
    decompress(std::fs::File::open(path)?)
}

/// A layer stream as its magic bytes say: gzip, zstd (OCI's
/// `tar+zstd`; every frame, as `MultiGzDecoder` reads every gzip member)
/// or a plain tar.
pub fn decompress<R: Read + 'static>(r: R) -> io::Result<Box<dyn Read>> {
    let mut r = io::BufReader::with_capacity(256 * 1024, r);
    let head = r.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        return Ok(Box::new(flate2::read::MultiGzDecoder::new(r)));
    }
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Ok(Box::new(zstd::stream::read::Decoder::with_buffer(r)?));
    }
    Ok(Box::new(r))
}

/// Stream one blob to `dir/<hex>` (through `<hex>.partial`, which a later
/// pull resumes), checking size and digest; returns the file.
async fn download(client: &Client, remote: &Remote, desc: &Descriptor, dir: &Path) -> Result<PathBuf, PullError> {
    let digest = desc.digest().to_string();
    let hex = digest.split_once(':').map_or(digest.as_str(), |(_, h)| h).to_string();
    let done = dir.join(&hex);
    if done.exists() {
        // Verified before it got this name; the agent stopped before
        // unpacking it.
        return Ok(done);
    }
    let partial = dir.join(format!("{hex}.partial"));
    let mut hasher = Sha256::new();
    let mut offset = 0u64;
    if let Ok(mut f) = std::fs::File::open(&partial) {
        offset = io::copy(&mut f, &mut hasher)?;
    }
    let oci = remote.oci();
    let blob = LayerDescriptor {
        digest: &digest,
        urls: desc.urls(),
    };
    let mut stream = if offset > 0 && offset < desc.size() {
        match client.pull_blob_stream_partial(&oci, &blob, offset, None).await {
            Ok(BlobResponse::Partial(s)) => s.stream,
            Ok(BlobResponse::Full(s)) => {
                offset = 0;
                hasher = Sha256::new();
                s.stream
            }
            Err(e) => return Err(registry::describe(e, remote).into()),
        }
    } else {
        offset = 0;
        hasher = Sha256::new();
        client
            .pull_blob_stream(&oci, &blob)
            .await
            .map_err(|e| registry::describe(e, remote))?
            .stream
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(offset > 0)
        .truncate(offset == 0)
        .open(&partial)?;
    let mut size = offset;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            // All the bytes are here: this is oci-client's own digest
            // check at the end of the stream; ours below words it.
            Err(_) if size == desc.size() => break,
            Err(e) => return Err(RegistryError::Other(format!("downloading {digest}: {e}")).into()),
        };
        hasher.update(&chunk);
        file.write_all(&chunk)?;
        size += chunk.len() as u64;
    }
    drop(file);
    if size != desc.size() || format!("sha256:{}", hex::encode(hasher.finalize())) != digest {
        let _ = std::fs::remove_file(&partial);
        return Err(PullError::Digest(digest));
    }
    std::fs::rename(&partial, &done)?;
    Ok(done)
}
