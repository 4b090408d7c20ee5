//! The daemon's version and errors, and what several families share.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::de::null_as_default;
use crate::{ContainerSummary, ImageSummary};

pub const API_VERSION: &str = "1.41";

/// This machine's architecture in Go's words, as Docker reports it.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    }
}

pub const MIN_API_VERSION: &str = "1.12";

/// `{"message": "..."}`: every error body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub message: String,
}

/// `GET /system/df`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DiskUsage {
    pub layers_size: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub images: Vec<ImageSummary>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub containers: Vec<ContainerSummary>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub volumes: Vec<Value>,
    /// Null when there is none, as Docker.
    #[serde(default)]
    pub build_cache: crate::Nil<Vec<Value>>,
    /// The build cache's total size (Docker's deprecated summary).
    #[serde(default)]
    pub builder_size: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IdResponse {
    pub id: String,
}

/// Strip Docker's `/v1.xx` prefix so one route table serves every version.
pub fn strip_version(uri: &http::Uri) -> Option<http::Uri> {
    let path = uri.path();
    let rest = path.strip_prefix("/v")?;
    let slash = rest.find('/')?;
    let ver = &rest[..slash];
    if !ver
        .split('.')
        .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    {
        return None;
    }
    let pq = match uri.query() {
        Some(q) => format!("{}?{q}", &rest[slash..]),
        None => rest[slash..].to_string(),
    };
    pq.parse().ok()
}

#[cfg(test)]
mod version_tests {
    #[test]
    fn version_prefix_is_stripped() {
        let u: http::Uri = "/v1.41/containers/json?all=1".parse().unwrap();
        assert_eq!(super::strip_version(&u).unwrap().to_string(), "/containers/json?all=1");
        let u: http::Uri = "/volumes".parse().unwrap();
        assert!(super::strip_version(&u).is_none());
    }
}
