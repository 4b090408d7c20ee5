//! `ADD <http(s) URL> <dest>`: the source is downloaded on every build (as
//! Docker does, to learn whether it changed) into a private directory
//! beside the context slots; its content digest, with the URL, extends the
//! step's key. Docker's rules: the file name is the URL path's last
//! segment, the mode 0600, the mtime the `Last-Modified` header's when
//! given, and `--checksum=sha256:…` must match the content.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::BuildError;

/// A downloaded file, removed (with its directory) when dropped.
pub struct Download {
    /// The name the URL gives the file.
    pub name: String,
    pub file: PathBuf,
    /// `sha256:<hex>` of the content.
    pub digest: String,
    /// Seconds since the epoch, from `Last-Modified`.
    pub mtime: Option<i64>,
    dir: PathBuf,
}

impl Drop for Download {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// True when an ADD source names a URL.
pub fn is_url(src: &str) -> bool {
    src.starts_with("http://") || src.starts_with("https://")
}

/// The file name a URL gives: the last segment of its path.
pub fn url_file_name(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.split(['?', '#']).next().unwrap_or("");
    let path = path.split_once('/').map(|(_, p)| p)?;
    let name = path.rsplit('/').next().unwrap_or("");
    let name = percent_decode(name);
    (!name.is_empty() && name != "." && name != "..").then_some(name)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).replace('/', "_")
}

/// Download `url` into a new directory under `scratch`, checking
/// `checksum` (`sha256:<hex>`) when given.
pub async fn download(url: &str, scratch: &Path, checksum: Option<&str>) -> Result<Download, BuildError> {
    let name = url_file_name(url).unwrap_or_default();
    let dir = scratch.join(format!("download-{}", crate::ids::new_id()));
    tokio::fs::create_dir_all(&dir).await?;
    {
        use std::os::unix::fs::PermissionsExt;
        tokio::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).await?;
    }
    // From here the guard removes the directory on any error.
    let mut dl = Download {
        name,
        file: dir.join("content"),
        digest: String::new(),
        mtime: None,
        dir,
    };
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| BuildError::msg(format!("failed to GET {url}: {e}")))?;
    let mut resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| BuildError::msg(format!("failed to GET {url}: {}", error_chain(&e))))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(BuildError::msg(format!("failed to GET {url} with status {status}")));
    }
    dl.mtime = resp
        .headers()
        .get(reqwest::header::LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
        .map(|t| t.timestamp());
    let mut out = tokio::fs::File::create(&dl.file).await?;
    let mut h = Sha256::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| BuildError::msg(format!("failed to GET {url}: {}", error_chain(&e))))?
    {
        h.update(&chunk);
        out.write_all(&chunk).await?;
    }
    out.flush().await?;
    dl.digest = format!("sha256:{}", hex::encode(h.finalize()));
    if let Some(want) = checksum {
        if !want.starts_with("sha256:") {
            return Err(BuildError::msg(format!(
                "invalid checksum {want}: expected sha256:<hex>"
            )));
        }
        if want != dl.digest {
            return Err(BuildError::msg(format!(
                "digest mismatch {}: {want} (downloading {url})",
                dl.digest
            )));
        }
    }
    Ok(dl)
}

/// An error with its causes (reqwest's own text is terse).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::url_file_name;

    #[test]
    fn file_names_come_from_the_url_path() {
        for (url, want) in [
            ("http://h/a/b.txt", Some("b.txt")),
            ("https://h:8080/x%20y.tar.gz?x=1#f", Some("x y.tar.gz")),
            ("http://h/", None),
            ("http://h", None),
            ("http://h/dir/", None),
        ] {
            assert_eq!(url_file_name(url).as_deref(), want, "{url}");
        }
    }
}
