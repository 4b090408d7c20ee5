//! Images: `/images/…`. An image's name goes into the path as it is
//! written ("library/alpine:3.19"): the daemon takes the rest of the path
//! as the name, slashes and all.

use std::collections::BTreeMap;

use bytes::Bytes;
use hyper::Method;
use serde_json::Value;
use skiff_api::ImageSummary;

use crate::{body_bytes, Body, Client, ClientError, Filters, Lines, Query, Result};

/// `/images/{name}{rest}`.
fn image(name: &str, rest: &str) -> String {
    format!("/images/{name}{rest}")
}

/// `POST /images/create?fromSrc=-`: what the imported image is called and
/// how its config changes.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Repository and tag (the tag may be empty).
    pub target: Option<(String, String)>,
    /// Dockerfile instructions (`CMD …`, `ENV …`).
    pub changes: Vec<String>,
    pub message: Option<String>,
}

/// "name[:tag][@digest]" → (name, tag or digest), minding registry ports
/// ("host:5000/x"); the tag is `latest` when neither is given.
pub fn split_reference(r: &str) -> (&str, &str) {
    if let Some((name, digest)) = r.split_once('@') {
        return (name, digest);
    }
    match r.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (r, "latest"),
    }
}

fn registry_auth(auth: Option<&str>) -> Vec<(&'static str, String)> {
    auth.map(|a| ("X-Registry-Auth", a.to_string())).into_iter().collect()
}

impl Client {
    /// `GET /images/json`, only those of `reference` if given.
    pub async fn images_list(&self, reference: Option<&str>) -> Result<Vec<ImageSummary>> {
        let filters: BTreeMap<&str, Vec<&str>> = reference.map(|r| ("reference", vec![r])).into_iter().collect();
        let q = Query::new().filters(&filters);
        self.get(&q.on("/images/json")).await
    }

    /// `GET /images/json?filters=`.
    pub async fn images_list_filtered(&self, filters: &crate::Filters) -> Result<Vec<ImageSummary>> {
        self.get(&Query::new().filters(filters).on("/images/json")).await
    }

    /// `POST /images/create?fromSrc=-` with a tar: the progress lines.
    pub async fn image_import(&self, tar: Vec<u8>, o: &ImportOptions) -> Result<Bytes> {
        let mut q = Query::new().add("fromSrc", "-");
        if let Some((repo, tag)) = &o.target {
            q = q.add("repo", repo).add("tag", tag);
        }
        if !o.changes.is_empty() {
            q = q.add("changes", serde_json::to_string(&o.changes).unwrap_or_default());
        }
        let q = q.opt("message", o.message.as_deref());
        let resp = self
            .send(
                Method::POST,
                &q.on("/images/create"),
                Body::Raw(tar, "application/x-tar"),
            )
            .await?;
        Ok(body_bytes(resp).await)
    }

    /// `POST /images/create?fromImage=…&tag=…[&platform=…]`: pull; the
    /// progress messages, one JSON a line.
    pub async fn image_pull(&self, reference: &str, platform: Option<&str>, auth: Option<&str>) -> Result<Lines> {
        let (name, tag) = split_reference(reference);
        let q = Query::new()
            .add("fromImage", name)
            .add("tag", tag)
            .opt("platform", platform);
        let resp = self
            .send_with(Method::POST, &q.on("/images/create"), Body::Empty, registry_auth(auth))
            .await?;
        Ok(Lines::new(resp))
    }

    /// `GET /images/search?term=&limit=&filters=`: Docker's rows.
    pub async fn images_search(
        &self,
        term: &str,
        limit: Option<i64>,
        filters: &crate::Filters,
        auth: Option<&str>,
    ) -> Result<Vec<serde_json::Value>> {
        let q = Query::new().add("term", term).opt("limit", limit).filters(filters);
        let resp = self
            .send_with(Method::GET, &q.on("/images/search"), Body::Empty, registry_auth(auth))
            .await?;
        let body = body_bytes(resp).await;
        serde_json::from_slice(&body).map_err(|e| crate::ClientError::Other(format!("search results: {e}")))
    }

    /// `GET /images/{name}/history`: Docker's steps, newest first.
    pub async fn image_history(&self, name: &str) -> Result<Vec<serde_json::Value>> {
        self.get(&image(name, "/history")).await
    }

    /// `POST /images/create?fromImage=NAME` with no tag: every tag of the
    /// repository (`pull --all-tags`), as Docker's client asks for it.
    pub async fn image_pull_all(&self, name: &str, platform: Option<&str>, auth: Option<&str>) -> Result<Lines> {
        let q = Query::new().add("fromImage", name).opt("platform", platform);
        let resp = self
            .send_with(Method::POST, &q.on("/images/create"), Body::Empty, registry_auth(auth))
            .await?;
        Ok(Lines::new(resp))
    }

    /// `POST /images/{name}/push` with no tag: every local tag of the
    /// repository (`push --all-tags`).
    pub async fn image_push_all(&self, name: &str, auth: Option<&str>) -> Result<Lines> {
        let resp = self
            .send_with(Method::POST, &image(name, "/push"), Body::Empty, registry_auth(auth))
            .await?;
        Ok(Lines::new(resp))
    }

    /// `POST /images/{name}/push?tag=…`: the progress messages, one JSON a
    /// line. `auth` is the `X-Registry-Auth` value, if any.
    pub async fn image_push(&self, reference: &str, auth: Option<&str>) -> Result<Lines> {
        let (name, tag) = split_reference(reference);
        let q = Query::new().add("tag", tag);
        let resp = self
            .send_with(
                Method::POST,
                &q.on(&image(name, "/push")),
                Body::Empty,
                registry_auth(auth),
            )
            .await?;
        Ok(Lines::new(resp))
    }

    /// `GET /images/get?names=…`: the archive, as the body streams in.
    pub async fn image_save(&self, names: &[String]) -> Result<hyper::Response<hyper::body::Incoming>> {
        let mut q = Query::new();
        for n in names {
            q = q.add("names", n);
        }
        self.send(Method::GET, &q.on("/images/get"), Body::Empty).await
    }

    /// `POST /images/load`: what was loaded (`Loaded image: …` lines).
    pub async fn image_load(&self, tar: Vec<u8>, quiet: bool) -> Result<Vec<String>> {
        let q = Query::new().opt("quiet", quiet.then_some(1));
        let resp = self
            .send(Method::POST, &q.on("/images/load"), Body::Raw(tar, "application/x-tar"))
            .await?;
        let body = body_bytes(resp).await;
        let lines: Vec<Value> = String::from_utf8_lossy(&body)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .collect();
        // A failure after the answer began is the stream's error message.
        if let Some(msg) = lines.iter().find_map(|v| v["error"].as_str()) {
            return Err(ClientError::Other(msg.to_string()));
        }
        Ok(lines
            .iter()
            .filter_map(|v| v["stream"].as_str().map(|s| s.trim_end().to_string()))
            .collect())
    }

    /// `POST /images/prune`: unused images (untagged ones unless `all`)
    /// that pass `filters` (`until`, `label`, `label!`). `ImagesDeleted`,
    /// `SpaceReclaimed`.
    pub async fn images_prune(&self, all: bool, filters: &Filters) -> Result<Value> {
        let mut filters = filters.clone();
        if all {
            filters.insert("dangling".into(), vec!["false".into()]);
        }
        let q = Query::new().filters(&filters);
        self.json(Method::POST, &q.on("/images/prune"), Body::Empty).await
    }

    /// `POST /auth`: check credentials with a registry (`docker login`).
    pub async fn login(&self, username: &str, password: &str, server: &str) -> Result<Value> {
        let body = serde_json::json!({"username": username, "password": password, "serveraddress": server});
        self.json(Method::POST, "/auth", Body::Json(body.to_string().into_bytes()))
            .await
    }

    /// `POST /images/{name}/tag?repo=…&tag=…`.
    pub async fn image_tag(&self, name: &str, repo: &str, tag: &str) -> Result<()> {
        let q = Query::new().add("repo", repo).add("tag", tag);
        self.post(&q.on(&image(name, "/tag")), Body::Empty).await
    }

    /// `DELETE /images/{name}[?force=1]`: what was untagged and deleted.
    pub async fn image_remove(&self, name: &str, force: bool) -> Result<Vec<Value>> {
        let q = Query::new().opt("force", force.then_some(1));
        self.json(Method::DELETE, &q.on(&image(name, "")), Body::Empty).await
    }

    /// `GET /images/{name}/json` as the daemon wrote it (for `inspect`).
    pub async fn image_inspect_raw(&self, name: &str) -> Result<Value> {
        self.get(&image(name, "/json")).await
    }
}
