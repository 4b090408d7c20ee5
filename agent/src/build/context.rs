//! The build context: the request body (a tar, plain or gzip) is unpacked
//! as it streams in (contexts over 1 GiB never sit in memory) into a fresh
//! directory under `<data-root>/build/`, with the same safe extraction as
//! image layers (no entry can write outside it), but taking `.wh.` names
//! literally. The directory goes when the build ends.

use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use super::BuildError;
use crate::images::extract::{extract_layer, Whiteouts};

/// An unpacked context, removed when dropped.
pub struct Context {
    pub dir: PathBuf,
}

impl Drop for Context {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), "removing a build context: {e}");
        }
    }
}

/// Unpack `body` into a new directory under `root`. Blocking.
pub fn unpack<R: Read>(body: R, root: &Path) -> Result<Context, BuildError> {
    let dir = root.join(crate::ids::new_id());
    std::fs::create_dir_all(&dir)?;
    let ctx = Context { dir };
    let mut r = BufReader::with_capacity(256 * 1024, body);
    let head = r.fill_buf()?.to_vec();
    if head.is_empty() {
        return Err(BuildError::msg(
            "the build context is empty: send a tar archive (plain or gzip)",
        ));
    }
    let reader: Box<dyn Read> = if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::GzDecoder::new(r))
    } else if head.starts_with(b"BZh") || head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return Err(BuildError::msg(
            "the build context is bzip2 or xz compressed: send it plain or gzip-compressed",
        ));
    } else {
        if head.len() >= 262 && &head[257..262] != b"ustar" && head.iter().take(100).any(|b| *b == b'\n') {
            return Err(BuildError::msg(
                "the build context is not a tar archive (plain or gzip)",
            ));
        }
        Box::new(r)
    };
    extract_layer(reader, &ctx.dir, Whiteouts::Literal, None)
        .map_err(|e| BuildError::msg(format!("reading the build context: {e}")))?;
    Ok(ctx)
}

/// A Read over `io::Result<Bytes>` chunks sent from async code.
pub struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<io::Result<bytes::Bytes>>,
    cur: bytes::Bytes,
}

impl ChannelReader {
    pub fn new(rx: tokio::sync::mpsc::Receiver<io::Result<bytes::Bytes>>) -> Self {
        ChannelReader {
            rx,
            cur: bytes::Bytes::new(),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.cur = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        let _ = self.cur.split_to(n);
        Ok(n)
    }
}
