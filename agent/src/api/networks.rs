//! `/networks`: list, inspect, create, remove, prune, connect, disconnect.

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use skiff_api::{NetworkConnectRequest, NetworkCreateRequest, NetworkResource};

use super::containers::parse_filters;
use super::{ApiError, ApiResult, St, Q};
use crate::engine::EngineError;

fn body<T: serde::de::DeserializeOwned>(b: &Bytes) -> ApiResult<T> {
    serde_json::from_slice(b).map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("invalid request body: {e}")))
}

fn builtin(n: &NetworkResource) -> bool {
    matches!(n.name.as_str(), "bridge" | "host" | "none")
}

pub async fn list(e: St, q: Q) -> ApiResult<Json<Vec<NetworkResource>>> {
    let filters = parse_filters(&q)?;
    let mut out = e.networks.list();
    for (k, vals) in &filters {
        out.retain(|n| {
            vals.iter().any(|v| match k.as_str() {
                "name" => n.name.contains(v.as_str()),
                "id" => n.id.starts_with(v.as_str()),
                "driver" => &n.driver == v,
                "label" => match v.split_once('=') {
                    Some((lk, lv)) => n.labels.get(lk).is_some_and(|x| x == lv),
                    None => n.labels.contains_key(v),
                },
                "type" => (v == "builtin") == builtin(n),
                "scope" => v == "local",
                _ => true,
            })
        });
    }
    // Docker's list shows no containers.
    for n in &mut out {
        n.containers.clear();
    }
    Ok(Json(out))
}

pub async fn inspect(e: St, Path(id): Path<String>) -> ApiResult<Json<NetworkResource>> {
    let n = e.networks.get(&id).map_err(EngineError::from)?;
    e.networks
        .resource(&n.id)
        .map(Json)
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("network {id} not found")))
}

pub async fn create(e: St, b: Bytes) -> ApiResult<Response> {
    let req: NetworkCreateRequest = body(&b)?;
    let id = e.networks.create(&req).await.map_err(EngineError::from)?;
    let attrs = [
        ("name".to_string(), req.name.clone()),
        (
            "type".to_string(),
            if req.driver.is_empty() {
                "bridge".to_string()
            } else {
                req.driver.clone()
            },
        ),
    ];
    e.emit("network", "create", &id, attrs.into());
    Ok((StatusCode::CREATED, Json(json!({"Id": id, "Warning": ""}))).into_response())
}

pub async fn remove(e: St, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let n = e.networks.get(&id).map_err(EngineError::from)?;
    let attached = e.containers_on(&n.id);
    e.networks.remove(&n.id, &attached).await.map_err(EngineError::from)?;
    e.emit(
        "network",
        "destroy",
        &n.id,
        [("name".to_string(), n.name.clone())].into(),
    );
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /networks/prune?filters=`: unused networks that pass `until`,
/// `label` and `label!`.
pub async fn prune(e: St, q: Q) -> ApiResult<Json<Value>> {
    let f = super::prune::PruneFilter::parse(&q, &[])?;
    let mut gone = Vec::new();
    for n in e.networks.list() {
        if builtin(&n) || !f.allows(&n.created, &n.labels) || !e.containers_on(&n.id).is_empty() {
            continue;
        }
        // Stopped containers still naming it keep it, as in Docker.
        let used = e.all().iter().any(|c| {
            c.record()
                .inspect
                .network_settings
                .networks
                .values()
                .any(|ep| ep.network_id == n.id)
        });
        if !used && e.networks.remove(&n.id, &[]).await.is_ok() {
            gone.push(n.name);
        }
    }
    Ok(Json(json!({ "NetworksDeleted": gone })))
}

pub async fn connect(e: St, Path(id): Path<String>, b: Bytes) -> ApiResult<StatusCode> {
    let req: NetworkConnectRequest = body(&b)?;
    e.connect(&id, &req.container, req.endpoint_config.unwrap_or_default())
        .await?;
    net_event(&e, &id, "connect", &req.container);
    Ok(StatusCode::OK)
}

pub async fn disconnect(e: St, Path(id): Path<String>, b: Bytes) -> ApiResult<StatusCode> {
    let req: NetworkConnectRequest = body(&b)?;
    e.disconnect(&id, &req.container, req.force).await?;
    net_event(&e, &id, "disconnect", &req.container);
    Ok(StatusCode::OK)
}

/// A network's connect/disconnect event names the container, as Docker's.
fn net_event(e: &St, net: &str, action: &str, container: &str) {
    if let Ok(c) = e.get(container) {
        e.emit_network(net, action, &c.id);
    }
}
