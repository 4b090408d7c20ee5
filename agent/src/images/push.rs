//! `docker push`: each layer of the image goes to the registry once. A
//! layer this agent pulled or pushed before is known by its compressed
//! blob (`distribution/`, as Docker's v2 metadata): if the repository has
//! it already it is skipped, if another repository of the same registry
//! has it, it is mounted from there; otherwise its tar is rebuilt
//! (`tarsplit`), gzipped (`gzip`: random data stored) on a blocking
//! thread and streamed to the registry in one PATCH while hashed, then
//! committed under that digest; up to five layers at once. Then the
//! config and a Docker schema 2 manifest.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use futures_util::{StreamExt, TryStreamExt};
use oci_client::{Client, RegistryOperation};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use skiff_api::JsonMessage;
use tokio::sync::mpsc::UnboundedSender;

use super::chunks::ChunkWriter;
use super::pull::{PullError, PullOptions};
use super::registry::{self, RegistryError, Remote};
use super::store::{ImageError, ImageStore};
use super::tarsplit::Assembler;

const LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Layers pushed at once (Docker's `max-concurrent-uploads` default).
const UPLOADS: usize = 5;

/// A compressed blob known to hold a layer, and where it was seen.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct BlobRef {
    pub digest: String,
    pub size: u64,
    pub media_type: String,
    /// `registry/repository` it was pulled from or pushed to.
    pub repository: String,
}

fn say(tx: &UnboundedSender<JsonMessage>, id: &str, status: &str) {
    let _ = tx.send(JsonMessage {
        status: status.to_string(),
        id: id.to_string(),
        ..Default::default()
    });
}

fn short(diff_id: &str) -> String {
    diff_id.trim_start_matches("sha256:").chars().take(12).collect()
}

impl ImageStore {
    fn blob_refs_path(&self, diff_id: &str) -> PathBuf {
        self.dir()
            .join("distribution")
            .join(diff_id.trim_start_matches("sha256:"))
    }

    /// Blobs known to hold the layer `diff_id`.
    pub fn blob_refs(&self, diff_id: &str) -> Vec<BlobRef> {
        skiff_common::fsutil::read_json(&self.blob_refs_path(diff_id)).unwrap_or_default()
    }

    /// Remember that `blob` holds the layer `diff_id`.
    pub fn note_blob(&self, diff_id: &str, blob: BlobRef) -> io::Result<()> {
        let mut refs = self.blob_refs(diff_id);
        if refs.contains(&blob) {
            return Ok(());
        }
        refs.retain(|r| !(r.digest == blob.digest && r.repository == blob.repository));
        refs.push(blob);
        let path = self.blob_refs_path(diff_id);
        std::fs::create_dir_all(path.parent().unwrap_or(Path::new("/")))?;
        skiff_common::fsutil::write_json_atomic(&path, &refs)
    }

    /// Push the local image `reference` (a tag) to its registry; progress
    /// on `tx`. Returns the manifest's digest.
    pub async fn push(
        &self,
        reference: &str,
        opts: &PullOptions,
        tx: &UnboundedSender<JsonMessage>,
    ) -> Result<String, PullError> {
        let remote = Remote::parse(reference)?;
        // As Docker: the repository is named first, so a missing local
        // image is reported in the stream.
        let client = self.push_session(&remote, opts, tx).await?;
        let img = self.resolve(&remote.shown()).map_err(|_| {
            RegistryError::Other(format!(
                "An image does not exist locally with the tag: {}",
                remote.familiar
            ))
        })?;
        self.push_tag(&client, &remote, &img, tx).await
    }

    /// `push --all-tags`: every local tag of the repository `name`, in
    /// order, as Docker.
    pub async fn push_all(
        &self,
        name: &str,
        opts: &PullOptions,
        tx: &UnboundedSender<JsonMessage>,
    ) -> Result<(), PullError> {
        let remote = Remote::parse(name)?;
        let tags = self.tags_in(&remote.familiar);
        if tags.is_empty() {
            return Err(ImageError::NotFound(format!(
                "An image does not exist locally with the tag: {}",
                remote.familiar
            ))
            .into());
        }
        let client = self.push_session(&remote, opts, tx).await?;
        for t in tags {
            let mut r = remote.clone();
            r.tag = Some(t);
            let img = self.resolve(&r.shown())?;
            self.push_tag(&client, &r, &img, tx).await?;
        }
        Ok(())
    }

    /// A client authenticated for pushing to `remote`'s repository, and
    /// Docker's first line.
    async fn push_session(
        &self,
        remote: &Remote,
        opts: &PullOptions,
        tx: &UnboundedSender<JsonMessage>,
    ) -> Result<Client, PullError> {
        let client = registry::client(remote, &opts.registries);
        let auth = registry::auth(opts.credentials.as_ref());
        client
            .auth(&remote.oci(), &auth, RegistryOperation::Push)
            .await
            .map_err(|e| match registry::describe(e, remote) {
                RegistryError::Denied(_) => RegistryError::Unauthorized("unauthorized: authentication required".into()),
                other => other,
            })?;
        say(tx, "", &format!("The push refers to repository [{}]", remote.familiar));
        Ok(client)
    }

    /// One tag: its layers, config and manifest; Docker's `TAG: digest:`
    /// line. Returns the manifest's digest.
    async fn push_tag(
        &self,
        client: &Client,
        remote: &Remote,
        img: &super::store::Image,
        tx: &UnboundedSender<JsonMessage>,
    ) -> Result<String, PullError> {
        let oci = remote.oci();
        let chains = img.chain_ids();
        for c in &chains {
            let l = self.layers.get(c).map_err(ImageError::from)?;
            say(tx, &short(&l.diff_id), "Preparing");
        }
        // Up to five layers at once (Docker's max-concurrent-uploads), each
        // compressed on a blocking thread while others upload.
        let mut jobs = Vec::new();
        for c in &chains {
            let l = self.layers.get(c).map_err(ImageError::from)?;
            jobs.push(async move { self.push_layer(client, remote, c, &l.diff_id, tx).await });
        }
        let blobs: Vec<BlobRef> = futures_util::stream::iter(jobs).buffered(UPLOADS).try_collect().await?;
        let layers: Vec<serde_json::Value> = blobs
            .iter()
            .map(|b| json!({"mediaType": b.media_type, "size": b.size, "digest": b.digest}))
            .collect();
        client
            .push_blob(&oci, img.raw.clone(), &img.id)
            .await
            .map_err(|e| registry::describe(e, remote))?;
        let manifest = serde_json::to_vec_pretty(&json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {"mediaType": CONFIG, "size": img.raw.len(), "digest": img.id},
            "layers": layers,
        }))
        .map_err(io::Error::other)?;
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&manifest)));
        client
            .push_manifest_raw(&oci, manifest.clone(), http::HeaderValue::from_static(MANIFEST))
            .await
            .map_err(|e| registry::describe(e, remote))?;
        self.add_digest(&img.id, &remote.familiar, &digest)?;
        let tag = remote.tag.clone().unwrap_or_else(|| "latest".into());
        say(tx, "", &format!("{tag}: digest: {digest} size: {}", manifest.len()));
        Ok(digest)
    }

    /// One layer to the registry: skipped, mounted or uploaded.
    async fn push_layer(
        &self,
        client: &Client,
        remote: &Remote,
        chain: &str,
        diff_id: &str,
        tx: &UnboundedSender<JsonMessage>,
    ) -> Result<BlobRef, PullError> {
        let here = format!("{}/{}", remote.registry, remote.repository);
        let id = short(diff_id);
        let oci = remote.oci();
        // A Docker schema 2 manifest names gzip (or plain) layers only:
        // a zstd blob this agent pulled is not reused, the layer is gzipped.
        let known: Vec<BlobRef> = self
            .blob_refs(diff_id)
            .into_iter()
            .filter(|b| !b.media_type.contains("zstd"))
            .collect();
        for b in &known {
            if client.blob_exists(&oci, &b.digest).await.unwrap_or(false) {
                say(tx, &id, "Layer already exists");
                return Ok(self.noted(diff_id, b, &here));
            }
        }
        let prefix = format!("{}/", remote.registry);
        for b in known.iter().filter(|b| b.repository.starts_with(&prefix)) {
            let from = &b.repository[prefix.len()..];
            let source =
                oci_client::Reference::with_digest(remote.registry.clone(), from.to_string(), b.digest.clone());
            if client.mount_blob(&oci, &source, &b.digest).await.is_ok() {
                say(tx, &id, &format!("Mounted from {from}"));
                return Ok(self.noted(diff_id, b, &here));
            }
        }
        say(tx, &id, "Pushing");
        let blob = self.upload(client, &oci, chain, diff_id).await?;
        say(tx, &id, "Pushed");
        Ok(self.noted(diff_id, &blob, &here))
    }

    fn noted(&self, diff_id: &str, b: &BlobRef, repository: &str) -> BlobRef {
        let mut b = b.clone();
        b.repository = repository.to_string();
        if let Err(e) = self.note_blob(diff_id, b.clone()) {
            tracing::warn!("recording blob {}: {e}", b.digest);
        }
        b
    }

    /// Stream the layer's rebuilt tar, gzipped on a blocking thread, to
    /// a new upload, and commit it under the digest computed on the way.
    /// Nothing is committed if the tar no longer matches its diff ID.
    async fn upload(
        &self,
        client: &Client,
        oci: &oci_client::Reference,
        chain: &str,
        diff_id: &str,
    ) -> Result<BlobRef, PullError> {
        let tar = self.layers.tar_stream(chain).map_err(ImageError::from)?;
        let (out, rx) = ChunkWriter::channel(4);
        let chunks = out.sender();
        let want = diff_id.to_string();
        let made = tokio::task::spawn_blocking(move || {
            let result = compress_layer(tar, &want, out);
            if let Err(e) = &result {
                // The upload ends with an error, not as a short blob.
                let _ = chunks.blocking_send(Err(io::Error::other(e.to_string())));
            }
            result
        });
        let stream =
            tokio_stream::wrappers::ReceiverStream::new(rx).map_err(oci_client::errors::OciDistributionError::IoError);
        let sent = client.push_blob_stream_unsized(oci, stream).await;
        if let Err(e) = &sent {
            // The producer ends once the connection lets go of the body;
            // a registry that holds it open must not hang the push.
            if !made.is_finished() {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            if !made.is_finished() {
                return Err(RegistryError::Other(format!("pushing layer {}: {e}", short(diff_id))).into());
            }
        }
        let made = made.await.map_err(io::Error::other)?;
        let (location, blob) = match (sent, made) {
            (Ok(location), Ok(blob)) => (location, blob),
            // The registry ended the upload: its answer says why.
            (Err(e), Err(PullError::Io(b))) if b.kind() == io::ErrorKind::BrokenPipe => {
                return Err(RegistryError::Other(format!("pushing layer {}: {e}", short(diff_id))).into())
            }
            (_, Err(e)) => return Err(e),
            (Err(e), Ok(_)) => {
                return Err(RegistryError::Other(format!("pushing layer {}: {e}", short(diff_id))).into())
            }
        };
        client
            .finish_blob_upload(&location, oci, &blob.digest)
            .await
            .map_err(|e| RegistryError::Other(format!("pushing {}: {e}", blob.digest)))?;
        Ok(blob)
    }
}

/// Gzip the layer's rebuilt tar into `out`, checking it against its diff
/// ID. Blocking.
fn compress_layer<W: Write>(tar: Assembler, diff_id: &str, out: W) -> Result<BlobRef, PullError> {
    let mut tar = super::layers::HashingReader::new(tar);
    let mut gz = super::gzip::AdaptiveGzip::new(HashingWriter::new(out))?;
    io::copy(&mut tar, &mut gz)?;
    let mut out = gz.finish()?;
    out.inner.flush()?;
    if tar.digest() != diff_id {
        return Err(ImageError::BadArchive(format!("layer {diff_id} does not match its diff ID any more")).into());
    }
    Ok(BlobRef {
        digest: format!("sha256:{}", hex::encode(out.hasher.finalize())),
        size: out.count,
        media_type: LAYER_GZIP.to_string(),
        repository: String::new(),
    })
}

/// A writer that hashes and counts what passes through it.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W> HashingWriter<W> {
    fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
