//! Deleting directory trees off the critical path. `run --rm` waits until
//! its container is removed, and deleting a container's layers, record
//! and runtime files one entry at a time costs several milliseconds of
//! metadata writes. A `Trash` renames the tree into its own directory (one
//! rename, on the same filesystem) and a single background thread deletes
//! it; whatever a crash leaves in the trash is deleted at the next start.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Sender};
use std::sync::Mutex;

pub struct Trash {
    dir: PathBuf,
    tx: Mutex<Sender<PathBuf>>,
}

impl Trash {
    /// The trash in `dir` (created; emptied of what an earlier run left).
    pub fn open(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let (tx, rx) = channel::<PathBuf>();
        for e in fs::read_dir(dir)?.flatten() {
            let _ = tx.send(e.path());
        }
        std::thread::Builder::new().name("trash".into()).spawn(move || {
            for p in rx {
                if let Err(e) = fs::remove_dir_all(&p) {
                    if e.kind() != io::ErrorKind::NotFound {
                        tracing::warn!(path = %p.display(), "emptying trash: {e}");
                    }
                }
            }
        })?;
        Ok(Self {
            dir: dir.to_path_buf(),
            tx: Mutex::new(tx),
        })
    }

    /// Remove the tree at `path`: gone from its place at once, deleted in
    /// the background. A missing `path` is not an error.
    pub fn remove(&self, path: &Path) -> io::Result<()> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let target = self.dir.join(format!("{name}.{}", crate::ids::new_id()));
        match fs::rename(path, &target) {
            Ok(()) => {
                let _ = self.tx.lock().unwrap_or_else(|e| e.into_inner()).send(target);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            // Another filesystem (or a mount point): delete in place.
            Err(_) => match fs::remove_dir_all(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trees_leave_at_once_and_are_deleted() {
        let root = std::env::temp_dir().join(format!("skiff-trash-{}", std::process::id()));
        let tree = root.join("tree");
        fs::create_dir_all(tree.join("a/b")).unwrap();
        fs::write(tree.join("a/b/f"), b"x").unwrap();
        // Left over from an earlier run.
        fs::create_dir_all(root.join("trash/old/c")).unwrap();
        let trash = Trash::open(&root.join("trash")).unwrap();
        trash.remove(&tree).unwrap();
        assert!(!tree.exists());
        trash.remove(&root.join("missing")).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while fs::read_dir(root.join("trash")).unwrap().count() > 0 {
            assert!(std::time::Instant::now() < deadline, "trash not emptied");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        fs::remove_dir_all(&root).unwrap();
    }
}
