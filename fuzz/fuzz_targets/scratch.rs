//! A scratch parent directory per fuzzing process, holding the target
//! directory an archive is extracted into and a canary beside it. After
//! each extraction the parent must hold exactly the two, the canary
//! unchanged (same content, mode and link count: no entry wrote through
//! or linked to it).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const CANARY: &[u8] = b"canary: nothing may write here\n";

pub struct Scratch {
    pub parent: PathBuf,
    pub target: PathBuf,
    canary: PathBuf,
}

/// The process's scratch parent (made once, under `$TMPDIR`).
pub fn scratch() -> &'static Scratch {
    static S: OnceLock<Scratch> = OnceLock::new();
    S.get_or_init(|| {
        let parent = std::env::temp_dir().join(format!("skiff-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&parent);
        std::fs::create_dir_all(&parent).expect("scratch parent");
        let canary = parent.join("canary");
        std::fs::write(&canary, CANARY).expect("canary");
        Scratch {
            target: parent.join("target"),
            parent,
            canary,
        }
    })
}

impl Scratch {
    /// A fresh, empty target directory.
    pub fn fresh(&self) -> &Path {
        let _ = std::fs::remove_dir_all(&self.target);
        std::fs::create_dir(&self.target).expect("target dir");
        &self.target
    }

    /// Panics if anything appeared beside the target or the canary changed;
    /// then removes the target.
    pub fn check(&self, what: &str) {
        let mut names: Vec<String> = std::fs::read_dir(&self.parent)
            .expect("scratch parent")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["canary", "target"], "{what}: written outside the target");
        let m = std::fs::symlink_metadata(&self.canary).expect("canary");
        assert!(
            m.is_file() && m.nlink() == 1 && m.mode() & 0o7777 == 0o644,
            "{what}: canary changed: {m:?}"
        );
        assert_eq!(
            std::fs::read(&self.canary).expect("canary"),
            CANARY,
            "{what}: canary rewritten"
        );
        let t = std::fs::symlink_metadata(&self.target).expect("target");
        assert!(t.is_dir(), "{what}: the target was replaced");
        std::fs::remove_dir_all(&self.target).expect("remove the target");
    }
}
