//! Hostile tar archives for the hostile-layer suite
//! (`tests/hostile_layers.rs`): names the `tar` crate's builder refuses
//! (`..`, absolute, over 100 bytes through GNU long-name entries, over
//! 255 per component and 4096 in all), links out of the root, device
//! nodes, sizes the data does not back, deep trees and whiteouts in odd
//! places; and the canary that proves nothing of them landed on the host.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What an entry is.
#[derive(Clone, Debug)]
pub enum Kind {
    File(Vec<u8>),
    Dir,
    Symlink(String),
    Hardlink(String),
    Char(u32, u32),
    Block(u32, u32),
    Fifo,
    /// A regular file whose header declares `declared` bytes but whose
    /// archive ends after `data`.
    Truncated {
        declared: u64,
        data: Vec<u8>,
    },
    /// A GNU sparse file: `data` stored at offset `hole` of a file of
    /// `hole + data.len()` bytes.
    Sparse {
        hole: u64,
        data: Vec<u8>,
    },
}

/// A tar stream written header by header, names taken as bytes.
#[derive(Default)]
pub struct RawTar {
    out: Vec<u8>,
}

fn padded(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

impl RawTar {
    /// A GNU long-name (`L`) or long-link (`K`) entry carrying `name`.
    fn long(&mut self, kind: tar::EntryType, name: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
        h.set_size(name.len() as u64 + 1);
        h.set_mode(0o644);
        h.set_cksum();
        self.out.extend_from_slice(h.as_bytes());
        let mut data = name.to_vec();
        data.push(0);
        padded(&mut self.out, &data);
    }

    /// Append one entry named `name` (any bytes, any length).
    pub fn add(&mut self, name: &str, kind: &Kind) -> &mut Self {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_size(0);
        let (ty, data): (tar::EntryType, &[u8]) = match kind {
            Kind::File(d) => (tar::EntryType::Regular, d),
            Kind::Dir => (tar::EntryType::Directory, b""),
            Kind::Symlink(_) => (tar::EntryType::Symlink, b""),
            Kind::Hardlink(_) => (tar::EntryType::Link, b""),
            Kind::Char(..) => (tar::EntryType::Char, b""),
            Kind::Block(..) => (tar::EntryType::Block, b""),
            Kind::Fifo => (tar::EntryType::Fifo, b""),
            Kind::Truncated { data, .. } => (tar::EntryType::Regular, data),
            Kind::Sparse { data, .. } => (tar::EntryType::GNUSparse, data),
        };
        h.set_entry_type(ty);
        h.set_size(data.len() as u64);
        match kind {
            Kind::Symlink(l) | Kind::Hardlink(l) => {
                if l.len() > 100 {
                    self.long(tar::EntryType::GNULongLink, l.as_bytes());
                }
                let n = l.len().min(100);
                h.as_old_mut().linkname[..n].copy_from_slice(&l.as_bytes()[..n]);
            }
            Kind::Char(ma, mi) | Kind::Block(ma, mi) => {
                h.set_device_major(*ma).expect("major");
                h.set_device_minor(*mi).expect("minor");
            }
            Kind::Truncated { declared, .. } => h.set_size(*declared),
            Kind::Sparse { hole, data } => {
                let gnu = h.as_gnu_mut().expect("gnu header");
                gnu.sparse[0].set_offset(*hole);
                gnu.sparse[0].set_length(data.len() as u64);
                gnu.set_real_size(hole + data.len() as u64);
            }
            _ => {}
        }
        if name.len() > 100 {
            self.long(tar::EntryType::GNULongName, name.as_bytes());
        }
        let n = name.len().min(100);
        h.as_old_mut().name[..n].copy_from_slice(&name.as_bytes()[..n]);
        h.set_cksum();
        self.out.extend_from_slice(h.as_bytes());
        if !matches!(kind, Kind::Truncated { .. }) {
            padded(&mut self.out, data);
        } else {
            self.out.extend_from_slice(data); // and nothing after: cut short
        }
        self
    }

    /// The archive, with its end-of-archive blocks unless it was cut short.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.out);
        if out.len().is_multiple_of(512) {
            out.extend_from_slice(&[0; 1024]);
        }
        out
    }
}

/// A tar of `entries` (name, kind).
pub fn tar_of(entries: &[(String, Kind)]) -> Vec<u8> {
    let mut t = RawTar::default();
    for (n, k) in entries {
        t.add(n, k);
    }
    t.finish()
}

/// A directory on the host that hostile entries aim at, holding one file;
/// every name the cases make carries `marker`.
pub struct Canary {
    pub dir: PathBuf,
    pub marker: String,
    passwd: (Vec<u8>, u64, u32),
}

const CANARY: &[u8] = b"nothing may write here\n";

fn passwd_state() -> (Vec<u8>, u64, u32) {
    let m = std::fs::symlink_metadata("/etc/passwd").expect("/etc/passwd");
    (std::fs::read("/etc/passwd").expect("/etc/passwd"), m.nlink(), m.mode())
}

impl Canary {
    pub fn new(tag: &str) -> Canary {
        let marker = format!("pwned{}{tag}", std::process::id());
        let dir = PathBuf::from(format!("/tmp/skiff-canary-{marker}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("canary dir");
        std::fs::write(dir.join("canary"), CANARY).expect("canary");
        Canary {
            dir,
            marker,
            passwd: passwd_state(),
        }
    }

    /// Panics if anything changed on the host: a file beside the canary,
    /// the canary rewritten or linked, `/etc/passwd` changed or given
    /// another link, or a name with the marker in `/`, `/tmp` or `/etc`
    /// (or anywhere outside `allowed`, with `deep`: a `find` of the root
    /// filesystem).
    #[track_caller]
    pub fn check(&self, what: &str, allowed: &Path, deep: bool) {
        let names: Vec<String> = std::fs::read_dir(&self.dir)
            .expect("canary dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["canary"], "{what}: written beside the canary");
        let m = std::fs::symlink_metadata(self.dir.join("canary")).expect("canary");
        assert!(m.is_file() && m.nlink() == 1, "{what}: canary replaced or linked");
        assert_eq!(
            std::fs::read(self.dir.join("canary")).expect("canary"),
            CANARY,
            "{what}"
        );
        assert!(passwd_state() == self.passwd, "{what}: /etc/passwd changed or linked");
        for dir in ["/", "/tmp", "/etc", "/dev", "/var/tmp"] {
            for e in std::fs::read_dir(dir).expect("host dir").flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                assert!(
                    !n.contains(&self.marker) || e.path() == self.dir,
                    "{what}: {} appeared on the host",
                    e.path().display()
                );
            }
        }
        if deep {
            let out = std::process::Command::new("find")
                .args(["/", "-xdev", "(", "-path", "/proc", "-o", "-path"])
                .arg(allowed)
                .args(["-o", "-path"])
                .arg(&self.dir)
                .args([")", "-prune", "-o", "-name"])
                .arg(format!("*{}*", self.marker))
                .arg("-print")
                .output()
                .expect("find");
            let found = String::from_utf8_lossy(&out.stdout);
            assert!(found.trim().is_empty(), "{what}: written outside the target:\n{found}");
        }
    }
}

impl Drop for Canary {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The hostile cases, each an archive of its own: (name, entries). Every
/// name an entry would make on the host carries the canary's marker.
pub fn cases(c: &Canary) -> Vec<(&'static str, Vec<(String, Kind)>)> {
    let m = &c.marker;
    let dir = c.dir.display().to_string();
    let up = "../".repeat(12);
    let file = |s: &str| Kind::File(s.as_bytes().to_vec());
    let deep = |levels: usize| format!("{}f-{m}", "d/".repeat(levels));
    vec![
        ("dotdot", vec![(format!("{up}{}/dd-{m}", &dir[1..]), file("x"))]),
        ("dotdot-inner", vec![(format!("a/b/../../../x-{m}"), file("x"))]),
        // In a layer "/x" means "x": written inside, never at the host's /tmp.
        (
            "absolute",
            vec![(format!("{dir}/abs-{m}"), file("x")), (format!("/abs-{m}"), file("x"))],
        ),
        (
            "symlink-then-write",
            vec![
                (format!("out-{m}"), Kind::Symlink(dir.clone())),
                (format!("out-{m}/through-{m}"), file("x")),
            ],
        ),
        (
            "relative-symlink-then-write",
            vec![
                (format!("up-{m}"), Kind::Symlink(format!("{up}{}", &dir[1..]))),
                (format!("up-{m}/through-{m}"), file("x")),
            ],
        ),
        (
            "symlink-then-overwrite",
            vec![
                (format!("canary-{m}"), Kind::Symlink(format!("{dir}/canary"))),
                (format!("canary-{m}"), file("overwritten")),
            ],
        ),
        (
            "hardlink-to-host",
            vec![(format!("pw-{m}"), Kind::Hardlink("/etc/passwd".into()))],
        ),
        (
            "hardlink-up",
            vec![(format!("pw-{m}"), Kind::Hardlink(format!("{up}etc/passwd")))],
        ),
        (
            "hardlink-through-symlink",
            vec![
                (format!("etc-{m}"), Kind::Symlink("/etc".into())),
                (format!("pw-{m}"), Kind::Hardlink(format!("etc-{m}/passwd"))),
            ],
        ),
        (
            "devices",
            vec![
                (format!("null-{m}"), Kind::Char(1, 3)),
                (format!("disk-{m}"), Kind::Block(8, 0)),
                (format!("fifo-{m}"), Kind::Fifo),
                (format!("{dir}/dev-{m}"), Kind::Char(1, 5)),
                // A file over the device: replaced, never opened.
                (format!("null-{m}"), file("over")),
            ],
        ),
        (
            "huge-truncated",
            vec![(
                format!("huge-{m}"),
                Kind::Truncated {
                    declared: (8 << 30) - 1,
                    data: vec![b'x'; 1000],
                },
            )],
        ),
        (
            "huge-sparse",
            vec![(
                format!("sparse-{m}"),
                Kind::Sparse {
                    hole: 1 << 50,
                    data: vec![b'x'; 512],
                },
            )],
        ),
        (
            "long-names",
            vec![
                (format!("{}-{m}", "n".repeat(300)), file("x")),
                (format!("{}/ok-{m}", "p".repeat(250)), file("x")),
                (format!("{}/deep-{m}", vec!["q".repeat(250); 20].join("/")), file("x")),
                (format!("lnk-{m}"), Kind::Symlink("t".repeat(5000))),
            ],
        ),
        ("deep-tree", vec![(deep(2000), file("x"))]),
        (
            "whiteouts",
            vec![
                (format!("a-{m}/keep"), file("x")),
                (format!("a-{m}/.wh..wh..opq"), file("")),
                (".wh..wh..opq".into(), file("")),
                (format!("b-{m}/.wh.."), file("")),
                (format!("b-{m}/.wh..."), file("")),
                (format!(".wh.{}", "w".repeat(300)), file("")),
            ],
        ),
        ("whiteout-dotdot", vec![(".wh...".into(), file(""))]),
        ("whiteout-dir", vec![(format!(".wh...{m}/x"), file("x"))]),
    ]
}
