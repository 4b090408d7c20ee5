//! `GET /images/json?filters=`: Docker's image filters (dangling,
//! reference with glob patterns, label, before, since).

use std::collections::HashMap;

use axum::http::StatusCode;

use super::ApiError;
use crate::engine::Engine;
use crate::images::store::Image;

pub struct ImageFilters {
    f: HashMap<String, Vec<String>>,
    before: Option<i64>,
    since: Option<i64>,
}

impl ImageFilters {
    pub fn new(e: &Engine, f: HashMap<String, Vec<String>>) -> Result<Self, ApiError> {
        for k in f.keys() {
            if !["dangling", "reference", "label", "before", "since"].contains(&k.as_str()) {
                return Err(ApiError(StatusCode::BAD_REQUEST, format!("invalid filter '{k}'")));
            }
        }
        for v in f.get("dangling").into_iter().flatten() {
            if !["true", "false", "1", "0"].contains(&v.as_str()) {
                return Err(ApiError(
                    StatusCode::BAD_REQUEST,
                    format!("invalid filter 'dangling={v}'"),
                ));
            }
        }
        let created = |k: &str| -> Result<Option<i64>, ApiError> {
            let Some(name) = f.get(k).and_then(|v| v.first()) else {
                return Ok(None);
            };
            let img = e.images.resolve(name).map_err(ApiError::from)?;
            Ok(Some(super::images::created_unix(&img)))
        };
        Ok(Self {
            before: created("before")?,
            since: created("since")?,
            f,
        })
    }

    /// Under a reference filter, Docker lists only the matching names.
    pub fn names(&self, names: &mut Vec<String>) {
        if let Some(refs) = self.f.get("reference") {
            names.retain(|t| {
                let name = t.split_once('@').map_or(t.as_str(), |(r, _)| r);
                refs.iter()
                    .any(|r| reference_matches(r, t) || reference_matches(r, name))
            });
        }
    }

    pub fn keep(&self, img: &Image, tags: &[String]) -> bool {
        if let Some(d) = self.f.get("dangling").and_then(|v| v.first()) {
            if (d == "true" || d == "1") != tags.is_empty() {
                return false;
            }
        }
        if let Some(refs) = self.f.get("reference") {
            if !refs.iter().any(|r| tags.iter().any(|t| reference_matches(r, t))) {
                return false;
            }
        }
        let labels = &img.config.config.labels;
        for l in self.f.get("label").into_iter().flatten() {
            let ok = match l.split_once('=') {
                Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
                None => labels.contains_key(l),
            };
            if !ok {
                return false;
            }
        }
        let c = super::images::created_unix(img);
        !(self.before.is_some_and(|b| c >= b) || self.since.is_some_and(|s| c <= s))
    }
}

/// Docker matches a reference filter against the tag (`repo:tag`) and
/// against the repository name alone, with shell globs.
fn reference_matches(pattern: &str, tag: &str) -> bool {
    let repo = tag
        .rsplit_once(':')
        .filter(|(_, t)| !t.contains('/'))
        .map_or(tag, |(r, _)| r);
    glob(pattern.as_bytes(), tag.as_bytes()) || glob(pattern.as_bytes(), repo.as_bytes())
}

/// `*` (not across `/`), `?`, literal otherwise.
fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len())
            .take_while(|&i| i == 0 || s[i - 1] != b'/')
            .any(|i| glob(rest, &s[i..])),
        Some((b'?', rest)) => s.first().is_some_and(|&c| c != b'/') && glob(rest, &s[1..]),
        Some((c, rest)) => s.first() == Some(c) && glob(rest, &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::reference_matches;

    #[test]
    fn references() {
        assert!(reference_matches("busybox", "busybox:latest"));
        assert!(reference_matches("busybox:latest", "busybox:latest"));
        assert!(reference_matches("busy*", "busybox:latest"));
        assert!(reference_matches("busybox:l*", "busybox:latest"));
        assert!(!reference_matches("busybox:x*", "busybox:latest"));
        assert!(!reference_matches("box", "busybox:latest"));
        assert!(reference_matches("localhost:5000/a", "localhost:5000/a:1"));
    }
}
