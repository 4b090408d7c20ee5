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

/// Now, in nanoseconds since the epoch.
pub(crate) fn now() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// An entry's signature: any change to its content (ctime), metadata,
/// identity or link count changes it. An entry changed in the last two
/// seconds gets one that never matches (`now`): a second change in the
/// same clock tick could leave its change time as it was.
pub(crate) fn signature(meta: &fs::Metadata, extra: &str, now: i128) -> String {
    let changed = i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec());
    let unsettled = match now - changed < 2_000_000_000 {
        true => format!(":unsettled@{now}"),
        false => String::new(),
    };
    format!(
        "{:o}:{}:{}.{}:{}.{}:{}:{}:{}{extra}{unsettled}",
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

/// Directories above an entry that is sent are sent too: writing into a
/// directory moves its time, which its own entry then sets back.
pub(crate) fn send_parents(found: &[Found], send: &mut [bool]) {
    let dirs: HashMap<&Path, usize> = found
        .iter()
        .enumerate()
        .filter(|(_, f)| f.meta.is_dir())
        .map(|(i, f)| (f.name.as_path(), i))
        .collect();
    for i in 0..found.len() {
        if !send[i] {
            continue;
        }
        for up in found[i].name.ancestors().skip(1) {
            match dirs.get(up) {
                Some(&d) if !send[d] => send[d] = true,
                _ => {}
            }
        }
    }
}

/// Where a context was found on disk, for the walk's second pass.
pub(crate) struct Found {
    pub path: PathBuf,
    pub name: PathBuf,
    pub meta: fs::Metadata,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_just_changed_entry_never_matches_and_parents_of_sent_ones_go_too() {
        let dir = std::env::temp_dir().join(format!("skiff-sync-{}", std::process::id()));
        fs::create_dir_all(dir.join("d/e")).unwrap();
        fs::write(dir.join("d/e/f"), "x").unwrap();
        let meta = fs::metadata(dir.join("d/e/f")).unwrap();
        let a = signature(&meta, "", now());
        let b = signature(&meta, "", now());
        assert_ne!(a, b, "a file changed just now must be sent again");
        let later = now() + 3_000_000_000;
        assert_eq!(signature(&meta, "", later), signature(&meta, "", later));
        let found: Vec<Found> = ["d", "d/e", "d/e/f", "g"]
            .iter()
            .map(|n| Found {
                path: dir.join(n),
                name: PathBuf::from(n),
                meta: fs::symlink_metadata(dir.join(if *n == "g" { "d/e/f" } else { n })).unwrap(),
            })
            .collect();
        let mut send = vec![false, false, true, false];
        send_parents(&found, &mut send);
        assert_eq!(send, vec![true, true, true, false]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
