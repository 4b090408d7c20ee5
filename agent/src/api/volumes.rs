//! `/volumes`: list, create, inspect, remove, prune.

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use skiff_api::{Volume, VolumeCreateRequest, VolumeListResponse, VolumePruneResponse};

use super::containers::parse_filters;
use super::{qbool, ApiError, ApiResult, St, Q};

/// Run blocking volume work (directory walks, removals) off the runtime.
async fn blocking<T: Send + 'static>(
    e: &St,
    f: impl FnOnce(&crate::engine::Engine) -> crate::engine::Result<T> + Send + 'static,
) -> ApiResult<T> {
    let engine = e.0.clone();
    tokio::task::spawn_blocking(move || f(&engine))
        .await
        .map_err(|err| ApiError(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))?
        .map_err(ApiError::from)
}

pub async fn list(e: St, q: Q) -> ApiResult<Json<VolumeListResponse>> {
    let filters = parse_filters(&q)?;
    let volumes = e.volume_list(&filters)?;
    Ok(Json(VolumeListResponse {
        volumes,
        warnings: None,
    }))
}

pub async fn create(e: St, b: Bytes) -> ApiResult<Response> {
    let req: VolumeCreateRequest = serde_json::from_slice(&b)
        .map_err(|err| ApiError(StatusCode::BAD_REQUEST, format!("invalid request body: {err}")))?;
    let v = blocking(&e, move |e| e.volume_create(req)).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

pub async fn inspect(e: St, Path(name): Path<String>) -> ApiResult<Json<Volume>> {
    Ok(Json(e.volume_inspect(&name)?))
}

pub async fn remove(e: St, Path(name): Path<String>, q: Q) -> ApiResult<StatusCode> {
    let force = qbool(&q, "force");
    blocking(&e, move |e| e.volume_remove(&name, force)).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn prune(e: St, q: Q) -> ApiResult<Json<VolumePruneResponse>> {
    let filters = parse_filters(&q)?;
    let (gone, bytes) = blocking(&e, move |e| e.volume_prune(&filters)).await?;
    Ok(Json(VolumePruneResponse {
        // Docker answers a list, empty when nothing went.
        volumes_deleted: Some(gone),
        space_reclaimed: bytes,
    }))
}
