//! `POST /commit` and `GET /containers/{id}/changes`.

use axum::body::Bytes;
use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};
use skiff_api::ContainerConfig;

use super::{qbool, ApiError, ApiResult, St};
use crate::engine::commit::CommitRequest;

/// `GET /containers/{id}/changes`: `[{"Path": …, "Kind": 0|1|2}]`.
pub async fn changes(e: St, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let list = e.changes(&id)?;
    let out: Vec<Value> = list.into_iter().map(|(p, k)| json!({"Path": p, "Kind": k})).collect();
    Ok(Json(Value::Array(out)))
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=`,
/// the body an optional config to lay over the container's.
pub async fn commit(e: St, Query(pairs): Query<Vec<(String, String)>>, body: Bytes) -> ApiResult {
    let q: HashMap<String, String> = pairs.iter().cloned().collect();
    let container = q
        .get("container")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError(StatusCode::BAD_REQUEST, "a container is required: container=".into()))?;
    let repo = q.get("repo").cloned().unwrap_or_default();
    let tag = q.get("tag").cloned().unwrap_or_default();
    let reference = match (repo.is_empty(), tag.is_empty()) {
        (true, _) => None,
        (false, true) => Some(repo),
        (false, false) => Some(format!("{repo}:{tag}")),
    };
    let config: Option<ContainerConfig> = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let v: Value =
            serde_json::from_slice(&body).map_err(|err| ApiError(StatusCode::BAD_REQUEST, err.to_string()))?;
        if v.is_null() {
            None
        } else {
            Some(serde_json::from_value(v).map_err(|err| ApiError(StatusCode::BAD_REQUEST, err.to_string()))?)
        }
    };
    // Repeated `changes=` keys (the docker client's way), or one JSON list.
    let changes: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "changes")
        .flat_map(|(_, c)| {
            serde_json::from_str::<Vec<String>>(c).unwrap_or_else(|_| c.lines().map(str::to_string).collect())
        })
        .filter(|c| !c.trim().is_empty())
        .collect();
    let req = CommitRequest {
        reference,
        comment: q.get("comment").cloned(),
        author: q.get("author").cloned(),
        pause: !q.contains_key("pause") || qbool(&q, "pause"),
        changes,
        config,
    };
    let id = e.commit(container, req).await?;
    Ok((StatusCode::CREATED, Json(json!({"Id": id}))).into_response())
}
