//! `HEAD/GET/PUT /containers/{id}/archive?path=`: `docker cp`'s API. The
//! path's stat rides in `X-Docker-Container-Path-Stat` (base64 JSON);
//! archives stream both ways through blocking tasks (`engine/archive`).

use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use skiff_api::{ContainerPathStat, PATH_STAT_HEADER};

use super::{qbool, ApiError, ApiResult, St, Q};
use crate::engine::archive::PutOptions;
use crate::images::chunks::ChunkWriter;

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

fn stat_header(stat: &ContainerPathStat) -> Result<HeaderValue, ApiError> {
    let json = serde_json::to_vec(stat).map_err(internal)?;
    HeaderValue::from_str(&base64::engine::general_purpose::STANDARD.encode(json)).map_err(internal)
}

fn path_of(q: &Q) -> String {
    q.get("path").cloned().unwrap_or_default()
}

/// `HEAD`: the stat alone.
pub async fn head(e: St, Path(id): Path<String>, q: Q) -> ApiResult {
    let engine = e.0.clone();
    let path = path_of(&q);
    let stat = tokio::task::spawn_blocking(move || engine.archive_stat(&id, &path))
        .await
        .map_err(internal)??;
    let mut r = StatusCode::OK.into_response();
    r.headers_mut().insert(PATH_STAT_HEADER, stat_header(&stat)?);
    Ok(r)
}

/// `GET`: the stat, then the tar stream.
pub async fn get(e: St, Path(id): Path<String>, q: Q) -> ApiResult<Response> {
    let engine = e.0.clone();
    let path = path_of(&q);
    let (key, p) = (id.clone(), path.clone());
    let stat = tokio::task::spawn_blocking(move || engine.archive_stat(&key, &p))
        .await
        .map_err(internal)??;
    let (w, rx) = ChunkWriter::channel(16);
    let tx = w.sender();
    let engine = e.0.clone();
    tokio::task::spawn_blocking(move || match engine.archive_get(&id, &path, w) {
        Ok(mut w) => {
            let _ = std::io::Write::flush(&mut w);
        }
        Err(err) => {
            tracing::warn!(container = %id, path = %path, "archive: {err}");
            let _ = tx.blocking_send(Err(std::io::Error::other(err.to_string())));
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let mut r = ([("Content-Type", "application/x-tar")], body).into_response();
    r.headers_mut().insert(PATH_STAT_HEADER, stat_header(&stat)?);
    Ok(r)
}

/// `PUT`: extract the body (a tar stream) into the directory at `path`.
pub async fn put(e: St, Path(id): Path<String>, q: Q, body: Body) -> ApiResult {
    let opts = PutOptions {
        no_overwrite_dir_non_dir: qbool(&q, "noOverwriteDirNonDir"),
        copy_uid_gid: qbool(&q, "copyUIDGID"),
    };
    let path = path_of(&q);
    let (reader, drained) = super::upload::start(body);
    let engine = e.0.clone();
    let put = tokio::task::spawn_blocking(move || engine.archive_put(&id, &path, opts, reader)).await;
    drained.await.map_err(internal)?;
    put.map_err(internal)??;
    Ok(StatusCode::OK.into_response())
}
