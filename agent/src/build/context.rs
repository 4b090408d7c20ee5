//! The build context: the request body (a tar, plain or gzip) is unpacked
//! as it streams in (contexts over 1 GiB never sit in memory) into a slot
//! directory under `<data-root>/build/`, with the same safe extraction as
//! image layers (no entry can write outside it), but taking `.wh.` names
//! literally and rewriting the files the slot kept from the last build in
//! place, only where they changed. `builder prune -a` empties the slots.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use super::BuildError;
use crate::images::extract::extract_over;

/// An unpacked context in a slot directory, held (locked) while it lives.
/// The slot keeps the files for the next build, which rewrites them in
/// place (`extract_over`): no inode churn between builds.
pub struct Context {
    pub dir: PathBuf,
    _lock: std::fs::File,
}

/// Slots kept for concurrent builds.
const SLOTS: usize = 4;

/// A free slot under `root`: its directory and the lock that holds it.
fn take_slot(root: &Path) -> Result<(PathBuf, std::fs::File), BuildError> {
    for i in 0.. {
        let dir = if i < SLOTS {
            root.join(format!("slot{i}"))
        } else {
            root.join(crate::ids::new_id())
        };
        std::fs::create_dir_all(&dir)?;
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.with_extension("lock"))?;
        if lock.try_lock().is_ok() {
            return Ok((dir, lock));
        }
    }
    unreachable!()
}

/// Unpack `body` into a context slot under `root`. Blocking.
pub fn unpack<R: Read>(body: R, root: &Path) -> Result<Context, BuildError> {
    let (dir, lock) = take_slot(root)?;
    let ctx = Context { dir, _lock: lock };
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
    extract_over(reader, &ctx.dir).map_err(|e| BuildError::msg(format!("reading the build context: {e}")))?;
    Ok(ctx)
}
