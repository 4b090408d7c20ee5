//! The build context: the request body (a tar, plain or gzip) is unpacked
//! as it streams in (contexts over 1 GiB never sit in memory) into a slot
//! directory under `<data-root>/build/`, with the same safe extraction as
//! image layers (no entry can write outside it), but taking `.wh.` names
//! literally and rewriting the files the slot kept from the last build in
//! place, only where they changed. `builder prune -a` empties the slots.
//!
//! skiff's CLI sends a directory context incrementally (`skiffcontext`,
//! `skiffbase`; `skiff_api::CONTEXT_MAGIC`): a slot keeps the manifest the
//! client sent beside it (`slotN.ctx`) with a fresh token; the next build
//! of that context names the token and sends only what changed. The
//! manifest is removed before a slot is touched, so a build cut short
//! leaves no token, and the next one is sent whole.

use std::collections::HashSet;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use skiff_api::{ContextManifest, CONTEXT_MAGIC, CONTEXT_MANIFEST_MAX, CONTEXT_STALE};

use super::kept;
use super::BuildError;
use crate::images::extract::{entry_path, extract_over};

/// An unpacked context in a slot directory, held (locked) while it lives.
/// The slot keeps the files for the next build, which rewrites them in
/// place (`extract_over`): no inode churn between builds.
pub struct Context {
    pub dir: PathBuf,
    _lock: fs::File,
}

/// What the client names its context by (`skiffcontext`) and the state of
/// the kept one it sends changes against (`skiffbase`; empty: whole).
#[derive(Debug, Clone, Copy, Default)]
pub struct Sync<'a> {
    pub key: &'a str,
    pub base: &'a str,
}

/// Slots kept for concurrent builds.
const SLOTS: usize = 4;

/// The lock of the slot `dir`, if no other build holds it. Lock files are
/// never removed: a build that opened one must lock the one others see.
fn try_slot(dir: &Path) -> Result<Option<fs::File>, BuildError> {
    fs::create_dir_all(dir)?;
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.with_extension("lock"))?;
    Ok(lock.try_lock().is_ok().then_some(lock))
}

fn slots(root: &Path) -> Vec<PathBuf> {
    (0..SLOTS).map(|i| root.join(format!("slot{i}"))).collect()
}

/// A free slot under `root`: the one keeping context `key` at `base` if
/// free, else one keeping `key`, else one keeping no context, else the
/// free one kept longest ago.
fn take_slot(root: &Path, sync: Sync) -> Result<(PathBuf, fs::File), BuildError> {
    let dirs = slots(root);
    let heads: Vec<Option<kept::Head>> = dirs.iter().map(|d| kept::head(d)).collect();
    let mine = |h: &Option<kept::Head>| h.as_ref().is_some_and(|h| !sync.key.is_empty() && h.key == sync.key);
    let at_base = |h: &Option<kept::Head>| mine(h) && h.as_ref().is_some_and(|h| h.token == sync.base);
    let mut order: Vec<usize> = (0..SLOTS).collect();
    order.sort_by_key(|&i| {
        (
            !at_base(&heads[i]),
            !mine(&heads[i]),
            heads[i].is_some(),
            kept::kept_at(&dirs[i]),
        )
    });
    for i in order {
        if let Some(lock) = try_slot(&dirs[i])? {
            return Ok((dirs[i].clone(), lock));
        }
    }
    loop {
        let dir = root.join(crate::ids::new_id());
        if let Some(lock) = try_slot(&dir)? {
            return Ok((dir, lock));
        }
    }
}

/// `GET /build/context/{key}`: the manifest kept for `key` (the newest,
/// should two slots keep it; an empty token when none does).
pub fn kept(root: &Path, key: &str) -> ContextManifest {
    slots(root)
        .into_iter()
        .filter(|d| kept::head(d).is_some_and(|h| h.key == key))
        .max_by_key(|d| kept::kept_at(d))
        .and_then(|d| kept::manifest(&d))
        .filter(|(h, _)| h.key == key)
        .map(|(_, m)| m)
        .unwrap_or_default()
}

/// The slot `slot` no longer holds `path` as its client sent it: the kept
/// manifest stops listing it, under a new token (the next build sends
/// it again).
pub fn forget(slot: &Path, path: &str) -> Result<(), BuildError> {
    let Some((head, mut m)) = kept::manifest(slot) else {
        return Ok(());
    };
    let gone = entry_path(path).map_err(BuildError::msg)?;
    m.entries.retain(|(p, _)| entry_path(p).map_or(true, |p| p != gone));
    kept::write(slot, &head.key, &m.entries)?;
    Ok(())
}

/// `builder prune -a`: empty every slot no build holds (`slotN` and the
/// overflow ones, named by an ID) with what it keeps, and remove the
/// writable binds' copies no build holds. Returns the bytes freed.
pub fn prune(root: &Path) -> Result<u64, BuildError> {
    let Ok(entries) = fs::read_dir(root) else {
        return Ok(0);
    };
    let mut freed = 0;
    for e in entries.flatten() {
        let dir = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        let id = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        // A writable bind's copy holds a lock on itself while a build uses it.
        if name.strip_prefix("rw-").is_some_and(id) {
            if let Ok(held) = fs::File::open(&dir) {
                if held.try_lock().is_ok() {
                    freed += own_bytes(&dir);
                    let _ = fs::remove_dir_all(&dir);
                }
            }
            continue;
        }
        if !name.starts_with("slot") && !id(&name) {
            continue;
        }
        let Some(_lock) = try_slot(&dir)? else { continue };
        freed += own_bytes(&dir);
        kept::remove(&dir)?;
        let _ = fs::remove_file(dir.with_extension("sums"));
        fs::remove_dir_all(&dir)?;
    }
    Ok(freed)
}

/// Bytes of the files under `dir` that no layer shares (one link).
fn own_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file() && m.nlink() == 1)
        .map(|m| m.len())
        .sum()
}

/// The manifest framed at the head of an incremental context.
fn read_manifest(r: &mut impl Read) -> Result<ContextManifest, BuildError> {
    let mut head = [0u8; 16];
    r.read_exact(&mut head)
        .map_err(|e| BuildError::msg(format!("reading the build context's manifest: {e}")))?;
    let len = u64::from_le_bytes(head[8..].try_into().unwrap_or_default());
    if &head[..8] != CONTEXT_MAGIC || len > CONTEXT_MANIFEST_MAX {
        return Err(BuildError::msg("the build context has no valid manifest"));
    }
    let mut data = Vec::new();
    r.take(len).read_to_end(&mut data)?;
    serde_json::from_slice(&data).map_err(|e| BuildError::msg(format!("the build context's manifest: {e}")))
}

/// Unpack `body` into a context slot under `root`. Blocking.
pub fn unpack<R: Read>(body: R, root: &Path, sync: Sync) -> Result<Context, BuildError> {
    let (dir, lock) = take_slot(root, sync)?;
    let ctx = Context { dir, _lock: lock };
    let mut r = BufReader::with_capacity(256 * 1024, body);
    let manifest = match sync.key.is_empty() {
        true => None,
        false => Some(read_manifest(&mut r)?),
    };
    let listed = match sync.base.is_empty() {
        true => None,
        false => {
            if !kept::head(&ctx.dir).is_some_and(|h| h.key == sync.key && h.token == sync.base) {
                return Err(BuildError::msg(format!("{CONTEXT_STALE}: send it whole")));
            }
            let entries = manifest.as_ref().map(|m| m.entries.as_slice()).unwrap_or_default();
            let paths = entries
                .iter()
                .map(|(p, _)| entry_path(p))
                .collect::<Result<HashSet<_>, _>>();
            Some(paths.map_err(|e| BuildError::msg(format!("the build context's manifest: {e}")))?)
        }
    };
    // Whatever happens next, the slot no longer holds what was kept.
    kept::remove(&ctx.dir)?;
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
    // Changes that do not apply to what the slot holds (a missing file, a
    // link to one): the client sends the context whole.
    let delta = listed.is_some();
    extract_over(reader, &ctx.dir, listed.as_ref()).map_err(|e| match delta {
        true => BuildError::msg(format!("{CONTEXT_STALE}: {e}")),
        false => BuildError::msg(format!("reading the build context: {e}")),
    })?;
    if let Some(m) = manifest {
        kept::write(&ctx.dir, sync.key, &m.entries)?;
        // One slot per context: others that kept it (a build of it ran
        // beside another) keep nothing now, unless a build holds them.
        for other in slots(root).into_iter().filter(|d| *d != ctx.dir) {
            if kept::head(&other).is_some_and(|h| h.key == sync.key) {
                if let Some(_lock) = try_slot(&other)? {
                    kept::remove(&other)?;
                }
            }
        }
    }
    Ok(ctx)
}
