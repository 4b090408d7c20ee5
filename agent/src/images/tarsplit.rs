//! Byte-exact layer tars without keeping them: as a layer is extracted, the
//! bytes of its tar stream that are not file content (headers, PAX and GNU
//! records, padding, the end blocks) are recorded, and each regular file's
//! content is noted by path and size. `save` and `push` put the stream
//! back together from that record and the layer's `diff/` directory, so
//! it hashes to the layer's diff ID again (Docker keeps tar-split data for
//! the same reason). The record is gzip-compressed, a few KiB per thousand
//! files.
//!
//! Format, after gzip: segments, each `R` + u32 length + bytes (raw), or
//! `F` + u64 size + u16 path length + path (file content).

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

#[derive(Default)]
struct State {
    /// Bytes of the stream read so far.
    pos: u64,
    /// Content of the current file runs up to here: not recorded.
    skip_until: u64,
    raw: Vec<u8>,
    out: Vec<u8>,
    /// The stream was read ahead of an entry: no faithful record.
    broken: bool,
}

impl State {
    fn flush_raw(&mut self) {
        if self.raw.is_empty() {
            return;
        }
        for chunk in std::mem::take(&mut self.raw).chunks(u32::MAX as usize) {
            self.out.push(b'R');
            self.out.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
            self.out.extend_from_slice(chunk);
        }
    }
}

/// Records one tar stream as it is read through `wrap`.
#[derive(Clone, Default)]
pub struct Recorder(Rc<RefCell<State>>);

pub struct Tee<R> {
    inner: R,
    state: Rc<RefCell<State>>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut st = self.state.borrow_mut();
        let start = st.pos;
        let end = start + n as u64;
        // Only what lies past the current file's content is recorded.
        let keep_from = st.skip_until.clamp(start, end);
        let from = (keep_from - start) as usize;
        st.raw.extend_from_slice(&buf[from..n]);
        st.pos = end;
        Ok(n)
    }
}

impl Recorder {
    pub fn wrap<R: Read>(&self, inner: R) -> Tee<R> {
        Tee {
            inner,
            state: self.0.clone(),
        }
    }

    /// The next `size` bytes, from stream offset `at`, are the content of
    /// the regular file at `path` (relative to the layer's root).
    pub fn file(&self, at: u64, size: u64, path: &Path) {
        let mut st = self.0.borrow_mut();
        if st.pos != at || st.broken {
            st.broken = true;
            return;
        }
        st.flush_raw();
        let p = path.as_os_str().as_bytes();
        st.out.push(b'F');
        st.out.extend_from_slice(&size.to_le_bytes());
        st.out.extend_from_slice(&(p.len() as u16).to_le_bytes());
        st.out.extend_from_slice(p);
        st.skip_until = at + size;
    }

    /// Write the record to `dest` (gzip); nothing when it is not faithful.
    pub fn save(&self, dest: &Path) -> io::Result<bool> {
        let mut st = self.0.borrow_mut();
        if st.broken {
            return Ok(false);
        }
        st.flush_raw();
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&st.out)?;
        skiff_common::fsutil::write_atomic(dest, &gz.finish()?)?;
        Ok(true)
    }
}

enum Piece {
    Raw(Vec<u8>, usize),
    File(Box<dyn Read + Send>, u64),
}

/// The layer's tar stream, put back together from its record and its
/// directory. Files are opened without following symlinks; a file whose
/// size changed ends the stream with an error.
pub struct Assembler {
    record: Box<dyn Read + Send>,
    root: PathBuf,
    piece: Option<Piece>,
}

impl Assembler {
    pub fn open(record: &Path, root: &Path) -> io::Result<Self> {
        let f = std::fs::File::open(record)?;
        Ok(Assembler {
            record: Box::new(io::BufReader::new(GzDecoder::new(f))),
            root: root.to_path_buf(),
            piece: None,
        })
    }

    fn next_piece(&mut self) -> io::Result<Option<Piece>> {
        let mut tag = [0u8; 1];
        if self.record.read(&mut tag)? == 0 {
            return Ok(None);
        }
        match tag[0] {
            b'R' => {
                let mut len = [0u8; 4];
                self.record.read_exact(&mut len)?;
                let mut raw = vec![0u8; u32::from_le_bytes(len) as usize];
                self.record.read_exact(&mut raw)?;
                Ok(Some(Piece::Raw(raw, 0)))
            }
            b'F' => {
                let mut size = [0u8; 8];
                self.record.read_exact(&mut size)?;
                let mut len = [0u8; 2];
                self.record.read_exact(&mut len)?;
                let mut p = vec![0u8; u16::from_le_bytes(len) as usize];
                self.record.read_exact(&mut p)?;
                let rel = Path::new(std::ffi::OsStr::from_bytes(&p));
                let f = super::extract::open_file_beneath(&self.root, rel)?;
                let size = u64::from_le_bytes(size);
                if f.metadata()?.len() != size {
                    return Err(io::Error::other(format!(
                        "layer file {} changed since it was stored",
                        rel.display()
                    )));
                }
                Ok(Some(Piece::File(Box::new(f.take(size)), size)))
            }
            t => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("tar-split record: bad tag {t}"),
            )),
        }
    }
}

impl Read for Assembler {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.piece.is_none() {
                self.piece = self.next_piece()?;
                if self.piece.is_none() {
                    return Ok(0);
                }
            }
            let n = match self.piece.as_mut() {
                Some(Piece::Raw(raw, at)) => {
                    let n = (raw.len() - *at).min(buf.len());
                    buf[..n].copy_from_slice(&raw[*at..*at + n]);
                    *at += n;
                    n
                }
                Some(Piece::File(f, left)) => {
                    let n = f.read(buf)?;
                    if n == 0 && *left > 0 {
                        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "layer file shrank"));
                    }
                    *left -= n as u64;
                    n
                }
                None => 0,
            };
            if n > 0 {
                return Ok(n);
            }
            self.piece = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::extract::{extract_layer, Whiteouts};
    use sha2::{Digest, Sha256};

    fn archive() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut add = |path: &str, kind: tar::EntryType, data: &[u8], link: Option<&str>| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_size(data.len() as u64);
            h.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
            h.set_mtime(1_700_000_000);
            if let Some(l) = link {
                b.append_link(&mut h, path, l).unwrap();
            } else {
                b.append_data(&mut h, path, data).unwrap();
            }
        };
        add("etc/", tar::EntryType::Directory, b"", None);
        add("etc/hostname", tar::EntryType::Regular, b"box\n", None);
        let big = vec![7u8; 70_000];
        add("etc/big", tar::EntryType::Regular, &big, None);
        let long = format!("etc/{}", "n".repeat(150));
        add(&long, tar::EntryType::Regular, b"long name\n", None);
        add("etc/empty", tar::EntryType::Regular, b"", None);
        add("etc/link", tar::EntryType::Symlink, b"", Some("hostname"));
        add("etc/hard", tar::EntryType::Link, b"", Some("etc/hostname"));
        add("etc/.wh.gone", tar::EntryType::Regular, b"", None);
        let mut out = b.into_inner().unwrap();
        // Writers pad archives to a record size: trailing zeros count.
        out.extend_from_slice(&[0u8; 4096]);
        out
    }

    #[test]
    fn the_stream_comes_back_byte_for_byte() {
        let dir = std::env::temp_dir().join(format!("skiff-tarsplit-{}", std::process::id()));
        let root = dir.join("root");
        std::fs::create_dir_all(&root).unwrap();
        let data = archive();
        let rec = Recorder::default();
        let mut tee = rec.wrap(&data[..]);
        extract_layer(
            &mut tee,
            &root,
            Whiteouts::Apply,
            Some(&rec),
            &crate::idmap::IdMap::default(),
        )
        .unwrap();
        io::copy(&mut tee, &mut io::sink()).unwrap();
        drop(tee);
        assert!(rec.save(&dir.join("split.gz")).unwrap());
        let mut back = Vec::new();
        Assembler::open(&dir.join("split.gz"), &root)
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back.len(), data.len());
        assert_eq!(Sha256::digest(&back), Sha256::digest(&data));
        // A changed file is noticed, not silently exported.
        std::fs::write(root.join("etc/hostname"), b"other\n").unwrap();
        let mut a = Assembler::open(&dir.join("split.gz"), &root).unwrap();
        assert!(a.read_to_end(&mut Vec::new()).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
