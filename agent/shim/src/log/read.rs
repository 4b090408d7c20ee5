//! Reading a container's log back for `logs`: the one place that knows
//! which drivers can be read and from where. json-file reads its own
//! file, `local` its own; the drivers that send lines away are read from
//! their local cache (dual logging) unless `cache-disabled`; `none`, and a
//! remote driver without a cache, cannot be read.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::jsonfile::{self, Entry};
use super::{local, opts, LogError};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Format {
    JsonFile,
    Local,
}

/// A readable log: its live file and how its entries are written.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub path: PathBuf,
    pub format: Format,
}

/// json-file's file, in the container's directory.
pub fn json_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}-json.log"))
}

/// Where `logs` reads a container with this driver, or Docker's error.
pub fn source(driver: &str, opts: &BTreeMap<String, String>, dir: &Path, id: &str) -> Result<Source, LogError> {
    match driver {
        "json-file" | "" => Ok(Source {
            path: json_path(dir, id),
            format: Format::JsonFile,
        }),
        "local" => Ok(Source {
            path: local::path(dir),
            format: Format::Local,
        }),
        d if opts::uses_cache(d, opts) => Ok(Source {
            path: local::cache_path(dir),
            format: Format::Local,
        }),
        _ => Err(LogError::NotReadable),
    }
}

/// Every entry, from the oldest rotated file to the live one.
pub fn read_all(src: &Source) -> Vec<Entry> {
    match src.format {
        Format::JsonFile => jsonfile::read_all(&src.path),
        Format::Local => local::read_all(&src.path),
    }
}

/// What was appended to a log since the last look, across rotations
/// (the rest of a file rotated away between two looks is lost to it).
pub struct Follower {
    src: Source,
    offset: u64,
    ino: u64,
    partial: Vec<u8>,
}

impl Follower {
    /// Start at the current end of the log.
    pub fn new(src: Source) -> Self {
        let meta = std::fs::metadata(&src.path).ok();
        Self {
            offset: meta.as_ref().map_or(0, |m| m.len()),
            ino: meta.as_ref().map_or(0, |m| m.ino()),
            src,
            partial: Vec::new(),
        }
    }

    /// The entries written since the last call.
    pub fn poll(&mut self) -> Vec<Entry> {
        let mut out = Vec::new();
        let Ok(meta) = std::fs::metadata(&self.src.path) else {
            return out;
        };
        if meta.ino() != self.ino || meta.len() < self.offset {
            self.ino = meta.ino();
            self.offset = 0;
            self.partial.clear();
        }
        if meta.len() <= self.offset {
            return out;
        }
        let Ok(mut f) = File::open(&self.src.path) else {
            return out;
        };
        let mut buf = Vec::new();
        if f.seek(SeekFrom::Start(self.offset)).is_err() || f.read_to_end(&mut buf).is_err() {
            return out;
        }
        self.offset += buf.len() as u64;
        self.partial.extend_from_slice(&buf);
        match self.src.format {
            Format::JsonFile => {
                if let Some(last_nl) = self.partial.iter().rposition(|&b| b == b'\n') {
                    let complete: Vec<u8> = self.partial.drain(..=last_nl).collect();
                    jsonfile::read_entries(&complete[..], &mut out);
                }
            }
            Format::Local => local::take_entries(&mut self.partial, &mut out),
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn sources() {
        let d = Path::new("/c");
        assert_eq!(
            source("json-file", &o(&[]), d, "x").unwrap().path,
            Path::new("/c/x-json.log")
        );
        assert_eq!(
            source("local", &o(&[]), d, "x").unwrap().path,
            Path::new("/c/local-logs/container.log")
        );
        let cached = source("syslog", &o(&[]), d, "x").unwrap();
        assert_eq!(
            (cached.path.as_path(), cached.format),
            (Path::new("/c/container-cached.log"), Format::Local)
        );
        let e = source("gelf", &o(&[("cache-disabled", "true")]), d, "x").unwrap_err();
        assert_eq!(e.to_string(), "configured logging driver does not support reading");
        assert!(source("none", &o(&[]), d, "x").is_err());
    }
}
