//! API versions as Docker 20.10's version middleware handles them: a
//! version outside 1.12–1.41 is refused, every answer carries the
//! daemon's `Api-Version`, `Ostype` and `Docker-Experimental` headers, and
//! clients older than 1.23 get errors as plain text.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use skiff_api::{API_VERSION, MIN_API_VERSION};
use skiff_common::http::ApiError;

type Version = (u32, u32);

/// The API version a request's path named (`/v1.27/…`), kept for the few
/// answers that depend on it once the prefix is stripped.
#[derive(Clone, Copy, Debug)]
pub struct PathVersion(pub Version);

impl PathVersion {
    /// Is it older than `major.minor`?
    pub fn below(&self, major: u32, minor: u32) -> bool {
        self.0 < (major, minor)
    }
}

fn parse(v: &str) -> Option<Version> {
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// The version a request's path names (`/v1.24/…`), if any.
pub fn requested(path: &str) -> Option<(String, Version)> {
    let rest = path.strip_prefix("/v")?;
    let v = &rest[..rest.find('/')?];
    parse(v).map(|p| (v.to_string(), p))
}

/// Docker's refusal of a version it does not speak.
pub fn refusal(text: &str, v: Version) -> Option<ApiError> {
    let (max, min) = (parse(API_VERSION)?, parse(MIN_API_VERSION)?);
    if v < min {
        return Some(ApiError(
            StatusCode::BAD_REQUEST,
            format!(
                "client version {text} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
            ),
        ));
    }
    (v > max).then(|| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("client version {text} is too new. Maximum supported API version is {API_VERSION}"),
        )
    })
}

/// Marks an answer Docker writes without the daemon's headers: a path no
/// route serves (outside its version middleware), and an attach's hijack
/// (written raw on the connection).
#[derive(Clone, Copy)]
pub struct Bare;

/// What an answer went through, for the headers it gets.
#[derive(Clone, Copy, PartialEq)]
pub enum Stage {
    /// Refused for its version: no `Docker-Experimental` yet.
    Refused,
    Served,
}

/// Add the daemon's headers (not to a `Bare` answer); for clients older than 1.23, an error's
/// JSON `{"message": …}` becomes Docker's plain-text body.
pub async fn finish(mut resp: Response, v: Option<Version>, stage: Stage) -> Response {
    if resp.extensions().get::<Bare>().is_some() {
        return resp;
    }
    let h = resp.headers_mut();
    h.insert("Api-Version", HeaderValue::from_static(API_VERSION));
    h.insert("Ostype", HeaderValue::from_static("linux"));
    if stage == Stage::Served {
        h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    }
    let failed = resp.status().is_client_error() || resp.status().is_server_error();
    if v.is_none_or(|v| v >= (1, 23)) || !failed {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return parts.status.into_response();
    };
    let message = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|j| j["message"].as_str().map(String::from))
        .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
    let mut out = (parts.status, format!("{message}\n")).into_response();
    for name in ["Api-Version", "Ostype", "Docker-Experimental"] {
        if let Some(v) = parts.headers.get(name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_outside_what_docker_speaks_are_refused() {
        assert_eq!(requested("/v1.24/info"), Some(("1.24".into(), (1, 24))));
        assert_eq!(requested("/info"), None);
        assert!(refusal("1.24", (1, 24)).is_none());
        assert!(refusal("1.41", (1, 41)).is_none());
        let new = refusal("1.43", (1, 43)).expect("too new");
        assert_eq!(
            new.1,
            "client version 1.43 is too new. Maximum supported API version is 1.41"
        );
        assert!(refusal("1.11", (1, 11)).expect("too old").1.contains("is too old"));
    }
}
