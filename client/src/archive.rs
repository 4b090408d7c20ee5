//! `docker cp`'s calls: `HEAD/GET/PUT /containers/{id}/archive?path=`,
//! with the path stat Docker sends base64-encoded in a header.

use base64::Engine as _;
use hyper::body::Incoming;
use hyper::{Method, Response};
use skiff_api::{ContainerPathStat, PATH_STAT_HEADER};

use crate::{enc, Body, Client, ClientError, Query, Result};

fn archive(id: &str, path: &str) -> String {
    Query::new()
        .add("path", path)
        .on(&format!("/containers/{}/archive", enc(id)))
}

/// The stat in an answer's `X-Docker-Container-Path-Stat` header.
fn stat_of(resp: &Response<Incoming>) -> Result<ContainerPathStat> {
    let bad = |why: String| ClientError::Other(format!("bad answer from daemon: {why}"));
    let raw = resp
        .headers()
        .get(PATH_STAT_HEADER)
        .ok_or_else(|| bad(format!("no {PATH_STAT_HEADER} header")))?;
    let json = base64::engine::general_purpose::STANDARD
        .decode(raw.as_bytes())
        .map_err(|e| bad(e.to_string()))?;
    serde_json::from_slice(&json).map_err(|e| bad(e.to_string()))
}

impl Client {
    /// `HEAD /containers/{id}/archive?path=`: what is at the path (a symlink
    /// is not followed; its `link_target` says where it leads).
    pub async fn container_stat_path(&self, id: &str, path: &str) -> Result<ContainerPathStat> {
        let resp = self.send(Method::HEAD, &archive(id, path), Body::Empty).await?;
        stat_of(&resp)
    }

    /// `GET /containers/{id}/archive?path=`: the path's stat and a tar
    /// stream of it.
    pub async fn container_archive(&self, id: &str, path: &str) -> Result<(ContainerPathStat, Response<Incoming>)> {
        let resp = self.send(Method::GET, &archive(id, path), Body::Empty).await?;
        Ok((stat_of(&resp)?, resp))
    }

    /// `PUT /containers/{id}/archive?path=DIR`: extract a tar stream into
    /// the directory; `copy_uid_gid` gives the files the container user's
    /// owner; a directory never replaces a file or the reverse.
    pub async fn container_extract(&self, id: &str, dir: &str, tar: Vec<u8>, copy_uid_gid: bool) -> Result<()> {
        let q = Query::new()
            .add("path", dir)
            .add("noOverwriteDirNonDir", "true")
            .add("copyUIDGID", copy_uid_gid);
        let path = q.on(&format!("/containers/{}/archive", enc(id)));
        self.call(Method::PUT, &path, Body::Raw(tar, "application/x-tar")).await
    }
}
