//! Docker's `local` log driver, also the dual-logging cache: each line is a
//! protobuf `LogEntry` (moby's `logdriver/entry.proto`: `source` = 1,
//! `time_nano` = 2, `line` = 3, `partial` = 4, `attrs` = 6) framed as
//! `[u32 BE size][message][u32 BE size]`, so the file reads forwards and
//! backwards. The line is kept without its newline; a line cut at 16 KiB or
//! at the end of the stream is `partial`. Rotation: `max-size` (20m),
//! `max-file` (5 files in all), rotated files gzipped (`compress`, true)
//! as `NAME.1.gz`, `NAME.2.gz`, ….
//!
//! The protobuf encoder and decoder are written here by hand for this one
//! message: a protobuf crate would bring code generation and a runtime
//! library into every container's monitor for five fields.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use super::jsonfile::Entry;
use super::{Driver, LogError, Message};

const DEFAULT_MAX_SIZE: u64 = 20 << 20;
const DEFAULT_MAX_FILE: u32 = 5;
/// Frames larger than this are corruption, not lines (Docker's lines are
/// at most 16 KiB, plus attributes).
const MAX_FRAME: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub max_size: u64,
    pub max_file: u32,
    pub compress: bool,
}

impl Config {
    pub fn from_opts(opts: &BTreeMap<String, String>) -> Result<Self, LogError> {
        let inv = |m: String| LogError::Invalid(m);
        let mut c = Config {
            max_size: DEFAULT_MAX_SIZE,
            max_file: DEFAULT_MAX_FILE,
            compress: true,
        };
        if let Some(v) = opts.get("max-size") {
            c.max_size = super::opts::parse_size(v)
                .ok_or_else(|| inv(format!("invalid value for max-size: {v}: invalid size: '{v}'")))?;
        }
        if let Some(v) = opts.get("max-file") {
            let n: i64 = v.parse().map_err(|_| {
                inv(format!(
                    "invalid value for max-file: {v}: strconv.Atoi: parsing \"{v}\": invalid syntax"
                ))
            })?;
            if n < 0 {
                return Err(inv("max-file must not be negative".into()));
            }
            c.max_file = n as u32;
        }
        if let Some(v) = opts.get("compress") {
            c.compress = super::opts::parse_bool(v).ok_or_else(|| {
                inv(format!(
                    "invalid boolean value for compress: strconv.ParseBool: parsing \"{v}\": invalid syntax"
                ))
            })?;
        }
        if c.compress && c.max_file <= 1 {
            return Err(inv("compression cannot be enabled when max file count is 1".into()));
        }
        Ok(c)
    }
}

/// Where the local driver keeps a container's log, in its directory.
pub fn path(container_dir: &Path) -> PathBuf {
    container_dir.join("local-logs").join("container.log")
}

/// The dual-logging cache's file (Docker's `container-cached.log`).
pub fn cache_path(container_dir: &Path) -> PathBuf {
    container_dir.join("container-cached.log")
}

pub struct Writer {
    path: PathBuf,
    file: File,
    size: u64,
    cfg: Config,
    /// Encoded `attrs` fields (the tag, when set), the same on every entry.
    attrs: Vec<u8>,
}

impl Writer {
    pub fn open(path: &Path, cfg: Config, attrs: &[(&str, &str)]) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        let mut enc = Vec::new();
        for (k, v) in attrs {
            let mut attr = Vec::new();
            put_bytes(&mut attr, 1, k.as_bytes());
            put_bytes(&mut attr, 2, v.as_bytes());
            put_bytes(&mut enc, 6, &attr);
        }
        Ok(Self {
            path: path.to_path_buf(),
            file,
            size,
            cfg,
            attrs: enc,
        })
    }

    fn rotate(&mut self) -> io::Result<()> {
        if self.cfg.max_file <= 1 {
            self.file.set_len(0)?;
        } else {
            rotate_files(&self.path, self.cfg.max_file, self.cfg.compress)?;
            self.file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        }
        self.size = 0;
        Ok(())
    }
}

/// Shift `NAME.1[.gz]` … up by one (the oldest of `max_file` files in all
/// goes), the live file becomes `NAME.1`, gzipped to `NAME.1.gz` when
/// `compress`. The caller opens a new live file. json-file and local alike.
pub fn rotate_files(path: &Path, max_file: u32, compress: bool) -> io::Result<()> {
    let n = max_file;
    for ext in ["", ".gz"] {
        let _ = fs::remove_file(with_ext(&rotated(path, n - 1), ext));
        for i in (1..n - 1).rev() {
            let _ = fs::rename(with_ext(&rotated(path, i), ext), with_ext(&rotated(path, i + 1), ext));
        }
    }
    let first = rotated(path, 1);
    fs::rename(path, &first)?;
    if compress {
        // In line, once per max-size of output (Docker does it in a goroutine).
        let gz = with_ext(&first, ".gz");
        let mut enc = flate2::write::GzEncoder::new(File::create(&gz)?, flate2::Compression::fast());
        io::copy(&mut File::open(&first)?, &mut enc)?;
        enc.finish()?.sync_all()?;
        fs::remove_file(&first)?;
    }
    Ok(())
}

/// A log file's whole content, gunzipped if its name ends in `.gz`.
pub fn read_file(f: &Path) -> io::Result<Vec<u8>> {
    let file = File::open(f)?;
    let mut data = Vec::new();
    if f.extension().is_some_and(|e| e == "gz") {
        flate2::read::MultiGzDecoder::new(BufReader::new(file)).read_to_end(&mut data)?;
    } else {
        BufReader::new(file).read_to_end(&mut data)?;
    }
    Ok(data)
}

impl Driver for Writer {
    fn log(&mut self, m: &Message) -> io::Result<()> {
        let frame = encode(m, &self.attrs);
        if self.cfg.max_size > 0 && self.size > 0 && self.size + frame.len() as u64 > self.cfg.max_size {
            self.rotate()?;
        }
        self.file.write_all(&frame)?;
        self.size += frame.len() as u64;
        Ok(())
    }
}

pub fn rotated(path: &Path, i: u32) -> PathBuf {
    with_ext(path, &format!(".{i}"))
}

fn with_ext(path: &Path, ext: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(ext);
    PathBuf::from(s)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, field: u64, data: &[u8]) {
    put_varint(out, field << 3 | 2);
    put_varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

/// One framed `LogEntry`.
pub fn encode(m: &Message, attrs: &[u8]) -> Vec<u8> {
    let (line, partial) = match m.line.strip_suffix(b"\n") {
        Some(l) => (l, false),
        None => (m.line, true),
    };
    let mut msg = Vec::with_capacity(line.len() + 32 + attrs.len());
    put_bytes(&mut msg, 1, m.stream_name().as_bytes());
    let nanos = chrono::DateTime::parse_from_rfc3339(&m.time)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .unwrap_or(0);
    put_varint(&mut msg, 2 << 3);
    put_varint(&mut msg, nanos as u64);
    put_bytes(&mut msg, 3, line);
    if partial {
        put_varint(&mut msg, 4 << 3);
        msg.push(1);
    }
    msg.extend_from_slice(attrs);
    let len = (msg.len() as u32).to_be_bytes();
    let mut frame = Vec::with_capacity(msg.len() + 8);
    frame.extend_from_slice(&len);
    frame.extend_from_slice(&msg);
    frame.extend_from_slice(&len);
    frame
}

fn get_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Decode one `LogEntry` message into the entry `logs` serves.
pub fn decode(msg: &[u8]) -> Option<Entry> {
    let (mut source, mut nanos, mut line, mut partial) = (String::new(), 0i64, Vec::new(), false);
    let mut pos = 0;
    while pos < msg.len() {
        let key = get_varint(msg, &mut pos)?;
        match key & 7 {
            0 => {
                let v = get_varint(msg, &mut pos)?;
                match key >> 3 {
                    2 => nanos = v as i64,
                    4 => partial = v != 0,
                    _ => {}
                }
            }
            2 => {
                let len = get_varint(msg, &mut pos)? as usize;
                let data = msg.get(pos..pos.checked_add(len)?)?;
                pos += len;
                match key >> 3 {
                    1 => source = String::from_utf8_lossy(data).into_owned(),
                    3 => line = data.to_vec(),
                    _ => {}
                }
            }
            1 => pos += 8,
            5 => pos += 4,
            _ => return None,
        }
    }
    if !partial {
        line.push(b'\n');
    }
    let time = chrono::DateTime::from_timestamp_nanos(nanos).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    Some(Entry {
        log: String::from_utf8_lossy(&line).into_owned(),
        stream: source,
        attrs: Default::default(),
        time,
    })
}

/// Complete frames from the front of `buf`, as entries; what remains is a
/// frame still being written. A bad frame ends the reading of `buf`.
pub fn take_entries(buf: &mut Vec<u8>, out: &mut Vec<Entry>) {
    let mut pos = 0;
    while buf.len() - pos >= 4 {
        let len = u32::from_be_bytes(buf[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        if len > MAX_FRAME {
            pos = buf.len();
            break;
        }
        if buf.len() - pos < len + 8 {
            break;
        }
        if let Some(e) = decode(&buf[pos + 4..pos + 4 + len]) {
            out.push(e);
        }
        pos += len + 8;
    }
    buf.drain(..pos);
}

/// The files of a local log, oldest first (rotated ones gzipped or not).
pub fn files(path: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for i in 1..100 {
        let plain = rotated(path, i);
        let gz = with_ext(&plain, ".gz");
        if gz.exists() {
            out.push(gz);
        } else if plain.exists() {
            out.push(plain);
        } else {
            break;
        }
    }
    out.reverse();
    out.push(path.to_path_buf());
    out
}

/// Every entry of a local log, oldest first.
pub fn read_all(path: &Path) -> Vec<Entry> {
    let mut out = Vec::new();
    for f in files(path) {
        if let Ok(mut data) = read_file(&f) {
            take_entries(&mut data, &mut out);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::Copier;

    fn o(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn config_defaults_and_checks() {
        let c = Config::from_opts(&o(&[])).unwrap();
        assert_eq!((c.max_size, c.max_file, c.compress), (20 << 20, 5, true));
        assert!(Config::from_opts(&o(&[("max-file", "1"), ("compress", "false")])).is_ok());
        assert!(Config::from_opts(&o(&[("compress", "maybe")])).is_err());
    }

    #[test]
    fn frames_round_trip_and_rotate_compressed() {
        let dir = std::env::temp_dir().join(format!("skiff-local-{}", std::process::id()));
        let p = path(&dir);
        let cfg = Config {
            max_size: 300,
            max_file: 3,
            compress: true,
        };
        let mut c = Copier::new(Box::new(Writer::open(&p, cfg, &[("tag", "t")]).unwrap()));
        for i in 0..40 {
            c.write(1, format!("line {i}\n").as_bytes()).unwrap();
        }
        c.write(2, b"tail").unwrap();
        c.close().unwrap();
        assert!(with_ext(&rotated(&p, 1), ".gz").exists());
        assert!(!rotated(&p, 3).exists() && !with_ext(&rotated(&p, 3), ".gz").exists());
        let es = read_all(&p);
        let last = es.last().unwrap();
        assert_eq!((last.log.as_str(), last.stream.as_str()), ("tail", "stderr"));
        assert_eq!(es[es.len() - 2].log, "line 39\n");
        assert!(es.len() < 41 && es.len() > 10);
        // Partial frames wait.
        let m = Message {
            stream: 1,
            line: b"x\n",
            time: crate::log::now(),
        };
        let mut buf = encode(&m, &[]);
        let whole = buf.len();
        buf.extend_from_slice(&encode(&m, &[])[..5]);
        let mut out = Vec::new();
        take_entries(&mut buf, &mut out);
        assert_eq!((out.len(), buf.len()), (1, 5));
        assert!(whole > 8);
        fs::remove_dir_all(&dir).unwrap();
    }
}
