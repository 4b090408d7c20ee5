//! Docker's `json-file` log driver, byte for byte: one
//! `{"log":"…\n","stream":"stdout","time":"RFC3339Nano"}` object per line
//! (lines arrive split at 16 KiB by the copier), rotation to `NAME.1`,
//! `NAME.2`, … when `max-size` is set, gzipped as `NAME.1.gz`, … with
//! `compress`. The writer runs in the container's
//! monitor; the reader serves `logs` in the agent.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Driver, Message};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub log: String,
    pub stream: String,
    /// The attributes `labels`/`env` pick, as Docker writes them.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub attrs: std::collections::BTreeMap<String, String>,
    pub time: String,
}

/// Parse a Docker size ("10m", "1g", "512k", "100").
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let s = s.trim_end_matches('b');
    let (num, mult) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1u64 << 10),
        'm' => (&s[..s.len() - 1], 1 << 20),
        'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    let v: f64 = num.parse().ok()?;
    (v >= 0.0).then_some((v * mult as f64) as u64)
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rotation {
    /// 0: never rotate.
    pub max_size: u64,
    /// How many files in all, counting the live one.
    pub max_file: u32,
    /// Rotated files gzipped (`compress`).
    #[serde(default)]
    pub compress: bool,
}

impl Rotation {
    pub fn from_opts(opts: &std::collections::BTreeMap<String, String>) -> Result<Self, String> {
        let max_size = match opts.get("max-size") {
            Some(v) => parse_size(v).ok_or_else(|| format!("invalid value for max-size: {v}"))?,
            None => 0,
        };
        let max_file = match opts.get("max-file") {
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| format!("invalid value for max-file: {v}"))?,
            None => 1,
        };
        if max_file > 1 && max_size == 0 {
            return Err("max-file can only be used with max-size".into());
        }
        let compress = match opts.get("compress") {
            Some(v) => super::opts::parse_bool(v)
                .ok_or_else(|| format!("strconv.ParseBool: parsing \"{v}\": invalid syntax"))?,
            None => false,
        };
        if compress && (max_file == 1 || max_size == 0) {
            return Err("compress cannot be enabled when max file count is 1 or max size is unlimited".into());
        }
        Ok(Self {
            max_size,
            max_file,
            compress,
        })
    }
}

pub struct Writer {
    path: PathBuf,
    file: File,
    size: u64,
    rotation: Rotation,
    /// Written with every entry (`labels`/`env` attributes).
    pub attrs: std::collections::BTreeMap<String, String>,
}

impl Writer {
    pub fn open(path: &Path, rotation: Rotation) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            path: path.to_path_buf(),
            file,
            size,
            rotation,
            attrs: Default::default(),
        })
    }

    fn emit(&mut self, m: &Message) -> io::Result<()> {
        let entry = Entry {
            log: String::from_utf8_lossy(m.line).into_owned(),
            stream: m.stream_name().into(),
            attrs: self.attrs.clone(),
            time: m.time.clone(),
        };
        let mut data = serde_json::to_vec(&entry).map_err(io::Error::other)?;
        data.push(b'\n');
        if self.rotation.max_size > 0 && self.size + data.len() as u64 > self.rotation.max_size && self.size > 0 {
            self.rotate()?;
        }
        if let Err(e) = self.file.write_all(&data) {
            // A full disk took part of the line: cut it off, so the file
            // keeps whole lines and the next one is not glued to a fragment.
            let _ = self.file.set_len(self.size);
            return Err(e);
        }
        self.size += data.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let n = self.rotation.max_file;
        if n > 1 {
            super::local::rotate_files(&self.path, n, self.rotation.compress)?;
            self.file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        } else {
            self.file.set_len(0)?;
        }
        self.size = 0;
        Ok(())
    }
}

impl Driver for Writer {
    fn log(&mut self, m: &Message) -> io::Result<()> {
        self.emit(m)
    }
}

/// All log files of a container, oldest first (rotated ones gzipped or not).
pub fn files(path: &Path) -> Vec<PathBuf> {
    super::local::files(path)
}

/// Read every entry from the rotated files and the live one, oldest first.
pub fn read_all(path: &Path) -> Vec<Entry> {
    let mut out = Vec::new();
    for f in files(path) {
        if let Ok(data) = super::local::read_file(&f) {
            read_entries(&data[..], &mut out);
        }
    }
    out
}

pub fn read_entries<R: BufRead>(r: R, out: &mut Vec<Entry>) {
    for line in r.lines().map_while(Result::ok) {
        if let Ok(e) = serde_json::from_str::<Entry>(&line) {
            out.push(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::local::rotated;
    use super::*;
    use std::fs;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10m"), Some(10 << 20));
        assert_eq!(parse_size("1k"), Some(1024));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("x"), None);
    }

    #[test]
    fn writes_lines_and_rotates() {
        let dir = std::env::temp_dir().join(format!("skiff-log-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("c-json.log");
        let mut w = super::super::Copier::new(Box::new(
            Writer::open(
                &p,
                Rotation {
                    max_size: 200,
                    max_file: 3,
                    compress: false,
                },
            )
            .unwrap(),
        ));
        for i in 0..20 {
            w.write(1, format!("line {i}\n").as_bytes()).unwrap();
        }
        w.write(2, b"no newline").unwrap();
        w.close().unwrap();
        let entries = read_all(&p);
        assert!(rotated(&p, 2).exists() && !rotated(&p, 3).exists());
        let last = entries.last().unwrap();
        assert_eq!(last.log, "no newline");
        assert_eq!(last.stream, "stderr");
        assert_eq!(entries[entries.len() - 2].log, "line 19\n");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn compress_gzips_rotated_files_and_reads_them_back() {
        let dir = std::env::temp_dir().join(format!("skiff-log-gz-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("c-json.log");
        let o = |kv: &[(&str, &str)]| kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let rot = Rotation::from_opts(&o(&[("max-size", "200"), ("max-file", "3"), ("compress", "true")])).unwrap();
        let mut w = super::super::Copier::new(Box::new(Writer::open(&p, rot).unwrap()));
        for i in 0..20 {
            w.write(1, format!("line {i}\n").as_bytes()).unwrap();
        }
        w.close().unwrap();
        let gz = |i| dir.join(format!("c-json.log.{i}.gz"));
        assert!(gz(1).exists() && gz(2).exists() && !gz(3).exists() && !rotated(&p, 1).exists());
        let entries = read_all(&p);
        assert_eq!(entries.last().unwrap().log, "line 19\n");
        let n: Vec<u32> = entries.iter().map(|e| e.log.trim()[5..].parse().unwrap()).collect();
        assert!(n.windows(2).all(|w| w[1] == w[0] + 1), "{n:?}");
        let e = |kv: &[(&str, &str)]| Rotation::from_opts(&o(kv)).unwrap_err();
        assert_eq!(
            e(&[("max-size", "1k"), ("compress", "true")]),
            "compress cannot be enabled when max file count is 1 or max size is unlimited"
        );
        assert_eq!(
            e(&[("compress", "maybe")]),
            "strconv.ParseBool: parsing \"maybe\": invalid syntax"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
