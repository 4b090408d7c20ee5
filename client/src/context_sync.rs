//! Incremental build contexts: a directory context is sent whole once; the
//! agent keeps it under a key (this machine, the user's home, the
//! context's path and the Dockerfile named), with the manifest the client sent; the next
//! build of the same context sends only the entries whose signature
//! changed, after the new manifest (BuildKit's model, on the classic
//! `/build` request). What a signature covers is this module's business:
//! the agent only compares tokens and keeps what it is given.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use skiff_api::{ContextManifest, CONTEXT_MAGIC};

/// What the agent keeps of a context: the key to send, and the manifest
/// it answered (an empty token: nothing kept, so everything is sent).
#[derive(Debug, Clone, Default)]
pub struct Sync {
    pub key: String,
    pub base: ContextManifest,
}

impl Sync {
    /// The kept entries by path.
    pub(crate) fn kept(&self) -> HashMap<&str, &str> {
        match self.base.token.is_empty() {
            true => HashMap::new(),
            false => self
                .base
                .entries
                .iter()
                .map(|(p, s)| (p.as_str(), s.as_str()))
                .collect(),
        }
    }
}

/// The key of the context directory `context` built with `dockerfile`
/// (`-f` as given) from this machine and home: hex, safe in a URL path.
/// `None` when the directory cannot be resolved. (Signatures carry
/// inode numbers and change times, so two clients that shared a key
/// could not mistake each other's files; the key only picks the slot.)
pub fn key(context: &str, dockerfile: Option<&str>) -> Option<String> {
    let root = fs::canonicalize(context).ok()?;
    let machine = fs::read_to_string("/etc/machine-id").unwrap_or_default();
    let home = std::env::var_os("HOME").unwrap_or_default();
    let mut h = Sha256::new();
    for part in [
        machine.trim().as_bytes(),
        home.as_encoded_bytes(),
        root.as_os_str().as_encoded_bytes(),
    ] {
        h.update(part);
        h.update([0]);
    }
    h.update(dockerfile.unwrap_or_default().as_bytes());
    Some(hex::encode(&h.finalize()[..16]))
}

/// An entry's signature: any change to its content (ctime), metadata,
/// identity or link count changes it.
pub(crate) fn signature(meta: &fs::Metadata, extra: &str) -> String {
    format!(
        "{:o}:{}:{}.{}:{}.{}:{}:{}:{}{extra}",
        meta.mode(),
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec(),
        meta.dev(),
        meta.ino(),
        meta.nlink()
    )
}

/// The framing before the tar: magic, length, manifest.
pub(crate) fn write_manifest(out: &mut dyn Write, entries: Vec<(String, String)>) -> io::Result<()> {
    let m = ContextManifest {
        token: String::new(),
        entries,
    };
    let data = serde_json::to_vec(&m).map_err(io::Error::other)?;
    out.write_all(CONTEXT_MAGIC)?;
    out.write_all(&(data.len() as u64).to_le_bytes())?;
    out.write_all(&data)
}

/// A name as the manifest lists it, or `None` when it is not UTF-8 (such
/// a context is sent whole, without a manifest).
pub(crate) fn listed(name: &Path) -> Option<String> {
    name.to_str().map(str::to_string)
}

/// Whether `name` may be left out of the tar: the agent keeps it with
/// this very signature.
pub(crate) fn unchanged(kept: &HashMap<&str, &str>, name: &str, sig: &str) -> bool {
    kept.get(name).is_some_and(|s| *s == sig)
}

/// Where a context was found on disk, for the walk's second pass.
pub(crate) struct Found {
    pub path: PathBuf,
    pub name: PathBuf,
    pub meta: fs::Metadata,
}
