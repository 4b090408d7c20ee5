//! Crash-safe file writes shared by every component that keeps state on disk.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// Write `data` to `path` so that a crash leaves either the old or the new
/// content, never a torn file: write a temporary sibling, fsync it, rename it
/// over the target, and fsync the directory if the name is new.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    write_atomic_mode(path, data, 0o644)
}

/// `write_atomic` with the file's permission bits (0600 for private keys).
pub fn write_atomic_mode(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no parent"))?;
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let tmp = dir.join(format!(".{}.tmp{}", name.to_string_lossy(), std::process::id()));
    {
        let _ = fs::remove_file(&tmp);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    // Renaming over an existing file leaves the old or the new one after a
    // crash, both whole; only a new name needs the directory synced.
    let existed = path.exists();
    fs::rename(&tmp, path)?;
    if existed {
        return Ok(());
    }
    File::open(dir)?.sync_all()
}

/// Replace `path` atomically for readers, without making it durable: for
/// files under the exec root (a tmpfs, emptied by a reboot, written again
/// at every start), where an fsync is only cost.
pub fn write_volatile(path: &Path, data: &[u8]) -> io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let tmp = path.with_file_name(format!(".{}.tmp{}", name.to_string_lossy(), std::process::id()));
    fs::write(&tmp, data)?;
    fs::rename(&tmp, path)
}

/// Serialize `value` as JSON and `write_volatile` it.
pub fn write_json_volatile<T: serde::Serialize>(path: &Path, value: &T) -> io::Result<()> {
    write_volatile(path, &serde_json::to_vec(value).map_err(io::Error::other)?)
}

/// Write new files into `dir`, a directory nothing durable refers to yet
/// (a layer being created): each file synced, then the directory once.
pub fn write_new_files(dir: &Path, files: &[(&str, &[u8])]) -> io::Result<()> {
    for (name, data) in files {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.join(name))?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    File::open(dir)?.sync_all()
}

/// Serialize `value` as JSON and write it atomically.
pub fn write_json_atomic<T: serde::Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let data = serde_json::to_vec(value).map_err(io::Error::other)?;
    write_atomic(path, &data)
}

/// Read and parse a JSON file.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> io::Result<T> {
    let data = fs::read(path)?;
    serde_json::from_slice(&data)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))
}

/// Every `*.json` record in `dir` that parses as `T` (none if `dir` is
/// missing).
pub fn read_json_dir<T: serde::de::DeserializeOwned>(dir: &Path) -> Vec<T> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| read_json(&e.path()).ok())
        .collect()
}
