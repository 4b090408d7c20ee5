//! `docker save` and `docker load` over the API: `GET /images/get?names=`
//! and `GET /images/{name}/get` stream a tar as it is written (a name that
//! does not resolve is a 404 before anything is sent); `POST /images/load`
//! spools the body to disk, then loads it and answers with Docker's
//! `{"stream": "Loaded image: …\n"}` lines.

use std::io;

use axum::body::Body;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{qbool, ApiError, ApiResult, St, Q};
use crate::images::chunks::ChunkWriter;

/// The tar of `names`, streamed.
pub fn save(e: St, names: Vec<String>) -> ApiResult {
    for n in &names {
        e.images.resolve(n)?;
    }
    let (mut w, rx) = ChunkWriter::channel(4);
    let tx = w.sender();
    let engine = e.0.clone();
    tokio::task::spawn_blocking(move || {
        if let Err(err) = engine.images.save_archive(&names, &mut w) {
            tracing::warn!("save: {err}");
            let _ = tx.blocking_send(Err(io::Error::other(err.to_string())));
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    Ok(([("Content-Type", "application/x-tar")], body).into_response())
}

/// `GET /images/get?names=a&names=b` (repeated keys, so a list of pairs).
pub async fn save_many(e: St, Query(pairs): Query<Vec<(String, String)>>) -> ApiResult {
    let names: Vec<String> = pairs
        .into_iter()
        .filter(|(k, _)| k == "names")
        .map(|(_, v)| v)
        .collect();
    if names.is_empty() {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "no images to save: give names=".into(),
        ));
    }
    save(e, names)
}

/// `POST /images/load[?quiet=1]`.
pub async fn load(e: St, q: Q, body: Body) -> ApiResult<Response> {
    let dir = e.cfg.data_root.join("tmp");
    std::fs::create_dir_all(&dir).map_err(internal)?;
    let tmp = dir.join(format!("load-{}", crate::ids::new_id()));
    let spooled = super::upload::spool(body, &tmp).await.map_err(ApiError::from);
    let result = match spooled {
        Ok(()) => {
            let engine = e.0.clone();
            let path = tmp.clone();
            tokio::task::spawn_blocking(move || engine.images.load_archive(&path))
                .await
                .map_err(|err| ApiError(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))
        }
        Err(err) => Err(err),
    };
    let _ = std::fs::remove_file(&tmp);
    // As Docker: once the archive is in, a failure to load it is the
    // stream's error message (the answer is 200 already there).
    let loaded = match result? {
        Ok(l) => l,
        Err(err) => {
            let msg = ApiError::from(err).1;
            let line = format!("{}\n", json!({"errorDetail": {"message": msg}, "error": msg}));
            return Ok(([("Content-Type", "application/json")], line).into_response());
        }
    };
    for l in &loaded {
        let name = l.rsplit(": ").next().unwrap_or_default().to_string();
        e.emit("image", "load", &name, [("name".to_string(), name.clone())].into());
    }
    let quiet = qbool(&q, "quiet");
    let text: String = loaded
        .iter()
        .map(|l| format!("{}\n", json!({"stream": format!("{l}\n")})))
        .collect();
    let text = if quiet && loaded.is_empty() {
        String::new()
    } else {
        text
    };
    Ok(([("Content-Type", "application/json")], text).into_response())
}

fn internal(e: io::Error) -> ApiError {
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}
