//! The `local` driver on disk: a volume is `<root>/<name>/_data` with its
//! metadata beside it (`meta.json`, written atomically). Driver options
//! (`-o type=tmpfs -o device=tmpfs -o o=size=64m`, `type=none,o=bind,
//! device=/path`) are mounted on `_data` while a container uses the volume.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use serde::{Deserialize, Serialize};
use skiff_common::fsutil::{read_json, write_json_atomic};

pub const DRIVER: &str = "local";
const META: &str = "meta.json";
const DATA: &str = "_data";
/// Removed volumes are renamed to this prefix first (no volume name starts
/// with a dot), so a crash mid-delete leaves nothing that loads as a volume.
const TRASH: &str = ".trash-";

/// What is kept about a volume.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Meta {
    pub name: String,
    /// RFC 3339, seconds, local time (as Docker shows it).
    pub created_at: String,
    pub labels: Option<BTreeMap<String, String>>,
    /// Driver options (`type`, `device`, `o`).
    pub options: Option<BTreeMap<String, String>>,
}

impl Meta {
    /// Options that make the volume a mount of its own, not a directory.
    pub fn mounted(&self) -> bool {
        self.options
            .as_ref()
            .is_some_and(|o| o.contains_key("type") || o.contains_key("device"))
    }
}

/// The options the local driver knows, and those it needs together.
pub fn validate_options(opts: &BTreeMap<String, String>) -> Result<(), String> {
    if opts.is_empty() {
        return Ok(());
    }
    if let Some(k) = opts.keys().find(|k| !matches!(k.as_str(), "type" | "o" | "device")) {
        return Err(format!("invalid option: \"{k}\""));
    }
    for k in ["device", "type"] {
        if !opts.contains_key(k) {
            return Err(format!("missing required option: \"{k}\""));
        }
    }
    Ok(())
}

/// `mount(8)`-style options: the flags, and what is left for the
/// filesystem (`size=64m`, `uid=1000`).
fn parse_mount_options(o: &str) -> (MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for opt in o.split(',').filter(|s| !s.is_empty()) {
        let (set, clear) = match opt {
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            "defaults" => (MsFlags::empty(), MsFlags::empty()),
            _ => {
                data.push(opt);
                continue;
            }
        };
        flags = (flags | set) & !clear;
    }
    (flags, data.join(","))
}

pub struct Local {
    root: PathBuf,
    /// Who owns a new volume's `_data` (the containers' root).
    owner: (u32, u32),
}

impl Local {
    /// The driver's root (`<data-root>/volumes`), emptied of removals a
    /// crash cut short.
    pub fn open(root: &Path, owner: (u32, u32)) -> io::Result<Self> {
        fs::DirBuilder::new().recursive(true).mode(0o701).create(root)?;
        crate::topdir::mark(root);
        for e in fs::read_dir(root)?.flatten() {
            if e.file_name().to_string_lossy().starts_with(TRASH) {
                let _ = fs::remove_dir_all(e.path());
            }
        }
        Ok(Self {
            root: root.to_path_buf(),
            owner,
        })
    }

    /// Where a volume's content is (what containers mount).
    pub fn data(&self, name: &str) -> PathBuf {
        self.root.join(name).join(DATA)
    }

    /// Every volume on disk. A directory with `_data` but no metadata (a
    /// crash between the two) is a volume made now, without options.
    pub fn load(&self) -> Vec<Meta> {
        let Ok(rd) = fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !e.path().join(DATA).is_dir() {
                continue;
            }
            match read_json::<Meta>(&e.path().join(META)) {
                Ok(m) => out.push(Meta { name, ..m }),
                Err(err) => {
                    tracing::warn!(volume = %name, "no metadata ({err}); keeping it without options");
                    out.push(Meta {
                        created_at: created_at(&e.path()),
                        name,
                        labels: None,
                        options: None,
                    });
                }
            }
        }
        out
    }

    /// Make the directories and write the metadata.
    pub fn create(&self, meta: &Meta) -> io::Result<()> {
        let dir = self.root.join(&meta.name);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir.join(DATA))?;
        if self.owner != (0, 0) {
            std::os::unix::fs::chown(dir.join(DATA), Some(self.owner.0), Some(self.owner.1))?;
        }
        write_json_atomic(&dir.join(META), meta)
    }

    /// Take a volume out of the store: unmounted if it is, renamed aside;
    /// the returned path is deleted by the caller (it may be big).
    pub fn take_out(&self, name: &str) -> io::Result<PathBuf> {
        self.unmount(name)?;
        let dir = self.root.join(name);
        let aside = self.root.join(format!("{TRASH}{name}-{}", &crate::ids::new_id()[..8]));
        fs::rename(&dir, &aside)?;
        Ok(aside)
    }

    /// Mount the volume's device on `_data` from its options.
    pub fn mount(&self, meta: &Meta) -> Result<(), String> {
        let opts = meta.options.clone().unwrap_or_default();
        let device = opts.get("device").map(String::as_str).unwrap_or_default();
        if device.is_empty() {
            return Err("missing device in volume options".into());
        }
        let target = self.data(&meta.name);
        if is_mountpoint(&target) {
            return Ok(());
        }
        let kind = opts.get("type").map(String::as_str).unwrap_or_default();
        let (flags, data) = parse_mount_options(opts.get("o").map(String::as_str).unwrap_or_default());
        mount(
            Some(device),
            &target,
            (!kind.is_empty()).then_some(kind),
            flags,
            (!data.is_empty()).then_some(data.as_str()),
        )
        .map_err(|e| {
            format!(
                "error while mounting volume '{}': failed to mount local volume: mount {device}:{}, flags: {:#x}, data: {data}: {}",
                target.display(),
                target.display(),
                flags.bits(),
                e.desc().to_lowercase()
            )
        })
    }

    /// Unmount `_data` if something is mounted there.
    pub fn unmount(&self, name: &str) -> io::Result<()> {
        let target = self.data(name);
        if is_mountpoint(&target) {
            umount2(&target, MntFlags::MNT_DETACH).map_err(io::Error::from)?;
        }
        Ok(())
    }

    pub fn is_mounted(&self, name: &str) -> bool {
        is_mountpoint(&self.data(name))
    }

    /// Bytes under the volume's content, hard links counted once.
    pub fn size(&self, name: &str) -> u64 {
        let mut seen = std::collections::HashSet::new();
        walkdir::WalkDir::new(self.data(name))
            .into_iter()
            .flatten()
            .filter_map(|e| e.metadata().ok())
            .filter(|m| !m.is_dir() && (m.nlink() < 2 || seen.insert((m.dev(), m.ino()))))
            .map(|m| m.len())
            .sum()
    }
}

/// Now as Docker shows a volume's `CreatedAt`.
pub fn now() -> String {
    chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A directory's change time, as Docker dates a volume it has no record of.
fn created_at(dir: &Path) -> String {
    fs::metadata(dir)
        .ok()
        .and_then(|m| chrono::DateTime::from_timestamp(m.ctime(), 0))
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
        .unwrap_or_else(now)
}

fn is_mountpoint(path: &Path) -> bool {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.to_string_lossy();
    info.lines().any(|l| l.split(' ').nth(4) == Some(want.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked_as_the_local_driver_does() {
        let o = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
            kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        assert!(validate_options(&o(&[])).is_ok());
        assert!(validate_options(&o(&[("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=1m")])).is_ok());
        assert_eq!(
            validate_options(&o(&[("colour", "red")])),
            Err("invalid option: \"colour\"".into())
        );
        assert_eq!(
            validate_options(&o(&[("type", "tmpfs")])),
            Err("missing required option: \"device\"".into())
        );
    }

    #[test]
    fn mount_options_split_into_flags_and_data() {
        let (f, d) = parse_mount_options("size=64m,ro,uid=1000,noexec");
        assert_eq!(f, MsFlags::MS_RDONLY | MsFlags::MS_NOEXEC);
        assert_eq!(d, "size=64m,uid=1000");
        let (f, d) = parse_mount_options("bind");
        assert_eq!((f, d.as_str()), (MsFlags::MS_BIND, ""));
    }

    #[test]
    fn volumes_load_back_and_removals_leave_nothing() {
        let root = std::env::temp_dir().join(format!("skiff-vol-test-{}", crate::ids::new_id()));
        let l = Local::open(&root, (0, 0)).unwrap();
        let m = Meta {
            name: "data".into(),
            created_at: now(),
            labels: Some([("a".to_string(), "b".to_string())].into()),
            options: None,
        };
        l.create(&m).unwrap();
        fs::write(l.data("data").join("f"), "hello").unwrap();
        fs::create_dir_all(root.join("bare/_data")).unwrap();
        let mut all = l.load();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(all.len(), 2);
        assert_eq!((all[0].name.as_str(), all[0].options.is_none()), ("bare", true));
        assert_eq!(all[1], m);
        assert_eq!(l.size("data"), 5);
        let aside = l.take_out("data").unwrap();
        assert!(l.load().iter().all(|v| v.name != "data"));
        // A crash before the delete: the next open clears it.
        drop(l);
        Local::open(&root, (0, 0)).unwrap();
        assert!(!aside.exists());
        fs::remove_dir_all(&root).unwrap();
    }
}
