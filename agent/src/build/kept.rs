//! What a context slot keeps of its client's context, beside it in
//! `slot<N>.ctx`: a first line `KEY TOKEN BOOT`, then the client's
//! manifest (JSON). A file written before the machine last booted is not
//! trusted (a power cut may have kept it and lost the slot's data), and
//! neither is one that does not parse.

use std::fs;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

use skiff_api::ContextManifest;

/// This boot's ID (`/proc/sys/kernel/random/boot_id`; empty if unreadable,
/// so nothing kept is ever trusted).
pub fn boot_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    })
}

fn path(slot: &Path) -> PathBuf {
    slot.with_extension("ctx")
}

/// Whose context a slot keeps, at which state.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    pub key: String,
    pub token: String,
}

fn parse_head(line: &str) -> Option<Head> {
    let mut w = line.trim_end().split(' ');
    let (key, token, boot) = (w.next()?, w.next()?, w.next()?);
    (!boot.is_empty() && boot == boot_id() && w.next().is_none()).then(|| Head {
        key: key.to_string(),
        token: token.to_string(),
    })
}

/// The slot's head line, if it keeps a context of this boot.
pub fn head(slot: &Path) -> Option<Head> {
    let mut line = String::new();
    BufReader::new(fs::File::open(path(slot)).ok()?)
        .read_line(&mut line)
        .ok()?;
    parse_head(&line)
}

/// The slot's head and manifest (its token the head's).
pub fn manifest(slot: &Path) -> Option<(Head, ContextManifest)> {
    let data = fs::read(path(slot)).ok()?;
    let at = data.iter().position(|b| *b == b'\n')?;
    let head = parse_head(std::str::from_utf8(&data[..at]).ok()?)?;
    let entries = serde_json::from_slice(&data[at + 1..]).ok()?;
    let token = head.token.clone();
    Some((head, ContextManifest { token, entries }))
}

/// Keep `entries` for `key` under a new token, which is returned.
pub fn write(slot: &Path, key: &str, entries: &[(String, String)]) -> io::Result<String> {
    let token = crate::ids::new_id();
    let mut data = format!("{key} {token} {}\n", boot_id()).into_bytes();
    data.extend(serde_json::to_vec(entries).map_err(io::Error::other)?);
    // Not synced: a crash is caught by the boot ID.
    skiff_common::fsutil::write_volatile(&path(slot), &data)?;
    Ok(token)
}

/// Keep nothing.
pub fn remove(slot: &Path) -> io::Result<()> {
    match fs::remove_file(path(slot)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// When the slot's context was last kept (the epoch if never).
pub fn kept_at(slot: &Path) -> SystemTime {
    fs::metadata(path(slot))
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_of_another_boot_or_malformed_is_not_trusted() {
        let ok = format!("ab12 cd34 {}", boot_id());
        assert_eq!(
            parse_head(&ok),
            Some(Head {
                key: "ab12".into(),
                token: "cd34".into()
            })
        );
        assert_eq!(parse_head("ab12 cd34 0000-other-boot"), None);
        assert_eq!(parse_head("ab12 cd34"), None);
        assert_eq!(parse_head(&format!("{ok} extra")), None);
    }
}
