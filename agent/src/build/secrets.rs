//! Build secrets (`skiff build --secret`): they arrive in the
//! `X-Skiff-Build-Secrets` header (`skiff_api::SECRETS_HEADER`) and are
//! written, each to a 0400 file, into a private directory (a tmpfs when it
//! can be mounted, else a 0700 directory) beside the context slots; `RUN
//! --mount=type=secret` binds them; the directory goes when the build ends.
//! Their content is never logged, keyed or written into a layer.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::BuildError;

/// The secrets of one build, on disk while it lives.
pub struct Secrets {
    dir: PathBuf,
    tmpfs: bool,
    /// Secret id → its file.
    pub files: HashMap<String, PathBuf>,
}

impl Drop for Secrets {
    fn drop(&mut self) {
        if self.tmpfs {
            let _ = nix::mount::umount2(&self.dir, nix::mount::MntFlags::MNT_DETACH);
        }
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), "removing build secrets: {e}");
        }
    }
}

/// Decode a header value into (id, content) pairs.
pub fn decode(header: &str) -> Result<Vec<(String, Vec<u8>)>, BuildError> {
    let bad = || BuildError::msg(format!("invalid {} header", skiff_api::SECRETS_HEADER));
    if header.len() > skiff_api::SECRETS_HEADER_MAX {
        return Err(BuildError::msg("build secrets are too large"));
    }
    let json = STANDARD.decode(header.trim()).map_err(|_| bad())?;
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&json).map_err(|_| bad())?;
    map.into_iter()
        .map(|(id, v)| {
            let content = v.as_str().and_then(|s| STANDARD.decode(s).ok()).ok_or_else(bad)?;
            let valid = !id.is_empty() && !id.contains('/') && id != "." && id != "..";
            if !valid {
                return Err(BuildError::msg(format!("invalid secret id {id:?}")));
            }
            Ok((id, content))
        })
        .collect()
}

/// Write `secrets` into a new private directory under `root`. Blocking.
pub fn write(root: &Path, secrets: Vec<(String, Vec<u8>)>) -> Result<Secrets, BuildError> {
    let dir = root.join(format!("secrets-{}", crate::ids::new_id()));
    fs::create_dir_all(&dir)?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
    let tmpfs = nix::mount::mount(
        Some("tmpfs"),
        &dir,
        Some("tmpfs"),
        nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV | nix::mount::MsFlags::MS_NOEXEC,
        Some("mode=0700,size=1m"),
    )
    .is_ok();
    let mut out = Secrets {
        dir,
        tmpfs,
        files: HashMap::new(),
    };
    for (id, content) in secrets {
        let file = out.dir.join(&id);
        fs::write(&file, content)?;
        fs::set_permissions(&file, fs::Permissions::from_mode(0o400))?;
        out.files.insert(id, file);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_written_private_and_removed() {
        let root = std::env::temp_dir().join(format!("skiff-secrets-{}", std::process::id()));
        fs::create_dir_all(&root).unwrap();
        let header = STANDARD.encode(format!(r#"{{"tok":"{}"}}"#, STANDARD.encode("s3cret")));
        let s = write(&root, decode(&header).unwrap()).unwrap();
        let f = &s.files["tok"];
        assert_eq!(fs::read(f).unwrap(), b"s3cret");
        assert_eq!(fs::metadata(f).unwrap().permissions().mode() & 0o777, 0o400);
        assert_eq!(fs::metadata(&s.dir).unwrap().permissions().mode() & 0o777, 0o700);
        let dir = s.dir.clone();
        drop(s);
        assert!(!dir.exists());
        let bad = STANDARD.encode(format!(r#"{{"../x":"{}"}}"#, STANDARD.encode("s")));
        assert!(decode(&bad).is_err());
        let _ = fs::remove_dir_all(&root);
    }
}
