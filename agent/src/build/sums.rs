//! Content digests of a context slot's files, kept beside the slot
//! (`slotN.sums`) so that a COPY's cache key does not read again what did
//! not change. A digest is trusted while the file's inode, size and change
//! time (which any write, chmod or chown moves) are the ones it was taken
//! at. A file changed within the last 100 ms (2 s where change times have
//! whole seconds only) is not remembered: a change in the same clock tick
//! could leave its change time as it was.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One file's digest and what it was taken at.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Sum {
    ino: u64,
    size: u64,
    ctime: i64,
    ctime_ns: i64,
    sha256: String,
}

impl Sum {
    fn matches(&self, m: &fs::Metadata) -> bool {
        self.ino == m.ino() && self.size == m.len() && self.ctime == m.ctime() && self.ctime_ns == m.ctime_nsec()
    }
}

/// What `slot<N>.sums` holds: digests trusted only in the boot that took
/// them (a power cut may keep a file's times and lose its data).
#[derive(Default, Serialize, Deserialize)]
struct Kept {
    boot: String,
    sums: HashMap<PathBuf, Sum>,
}

/// The digests of the files under one slot.
pub struct Sums {
    root: PathBuf,
    file: PathBuf,
    map: Mutex<(HashMap<PathBuf, Sum>, bool)>,
}

impl Sums {
    /// The digests kept for the slot `root` (none when it has none).
    pub fn load(root: &Path) -> Sums {
        let file = root.with_extension("sums");
        let map = fs::read(&file)
            .ok()
            .and_then(|d| serde_json::from_slice::<Kept>(&d).ok())
            .filter(|k| k.boot == super::kept::boot_id())
            .map(|k| k.sums)
            .unwrap_or_default();
        Sums {
            root: root.to_path_buf(),
            file,
            map: Mutex::new((map, false)),
        }
    }

    /// The SHA-256 of the regular file `path` with metadata `meta`: the
    /// kept one while the file is unchanged, else read.
    pub fn digest(&self, path: &Path, meta: &fs::Metadata) -> io::Result<String> {
        let rel = path.strip_prefix(&self.root).ok().map(Path::to_path_buf);
        if let Some(rel) = &rel {
            let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(s) = map.0.get(rel).filter(|s| s.matches(meta)) {
                return Ok(s.sha256.clone());
            }
        }
        let sha256 = read_digest(path)?;
        // Only what was opened is remembered, with the metadata it had
        // then and still has.
        let after = fs::symlink_metadata(path)?;
        let same = after.ino() == meta.ino() && after.len() == meta.len() && after.ctime_nsec() == meta.ctime_nsec();
        if let Some(rel) = rel.filter(|_| same && after.ctime() == meta.ctime() && settled(&after)) {
            let sum = Sum {
                ino: after.ino(),
                size: after.len(),
                ctime: after.ctime(),
                ctime_ns: after.ctime_nsec(),
                sha256: sha256.clone(),
            };
            let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            map.0.insert(rel, sum);
            map.1 = true;
        }
        Ok(sha256)
    }

    /// Keep what was learnt beside the slot.
    pub fn save(&self) {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if !map.1 {
            return;
        }
        let kept = Kept {
            boot: super::kept::boot_id().to_string(),
            sums: map.0.clone(),
        };
        // Not synced: a crash is caught by the boot ID.
        let written = skiff_common::fsutil::write_json_volatile(&self.file, &kept);
        if let Err(e) = written {
            tracing::warn!(file = %self.file.display(), "keeping context digests: {e}");
        }
    }
}

/// Whether the file's last change is old enough for a later change to
/// move its change time.
fn settled(m: &fs::Metadata) -> bool {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128);
    let changed = i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec());
    let window = if m.ctime_nsec() == 0 {
        2_000_000_000
    } else {
        100_000_000
    };
    now - changed > window
}

/// The SHA-256 of a file's content, hex.
fn read_digest(path: &Path) -> io::Result<String> {
    let mut f = fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_digest_is_used_only_while_the_file_is_unchanged() {
        let t = std::env::temp_dir().join(format!("skiff-sums-{}-{}", std::process::id(), rand::random::<u32>()));
        let root = t.join("slot0");
        fs::create_dir_all(&root).unwrap();
        let f = root.join("a");
        fs::write(&f, "one").unwrap();
        // Changed long enough ago to be remembered.
        std::thread::sleep(std::time::Duration::from_millis(150));
        let sums = Sums::load(&root);
        let first = sums.digest(&f, &fs::metadata(&f).unwrap()).unwrap();
        assert_eq!(first, hex::encode(Sha256::digest(b"one")));
        sums.save();
        let again = Sums::load(&root);
        assert_eq!(again.map.lock().unwrap().0.len(), 1);
        // Kept by another boot: not trusted.
        let other = format!(
            "{{\"boot\":\"other\",\"sums\":{}}}",
            serde_json::to_string(&again.map.lock().unwrap().0).unwrap()
        );
        fs::write(root.with_extension("sums"), other).unwrap();
        assert!(Sums::load(&root).map.lock().unwrap().0.is_empty());
        // Same length, new content: the change time moved, so it is read.
        fs::write(&f, "two").unwrap();
        let second = again.digest(&f, &fs::metadata(&f).unwrap()).unwrap();
        assert_eq!(second, hex::encode(Sha256::digest(b"two")));
        // Just written: not remembered.
        assert_ne!(again.map.lock().unwrap().0[Path::new("a")].sha256, second);
        fs::remove_dir_all(t).unwrap();
    }
}
