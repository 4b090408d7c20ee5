//! Docker's volume endpoints against the controller. Volumes live on a
//! node, as containers do, but heartbeats do not carry them: the node that
//! holds a named volume is found by asking every ready node. `volume ls`
//! lists every node's volumes (each with its node); `create` makes the
//! volume on the node the scheduler picks (or on the one that already has
//! that name, which Docker answers with the existing volume); `inspect`
//! and `rm` go to the node that holds it; `prune` runs on every node.
//! `--node` skips all of this (the header sends any call to that node).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};

use super::proxy;
use super::ApiError;
use crate::scheduler;
use crate::server::Ctx;

const MAX_JSON: usize = 16 << 20;

/// Whether this call is about volumes.
pub fn is_volume_call(req: &Request) -> bool {
    let p = req.uri().path();
    p == "/volumes" || p.starts_with("/volumes/")
}

pub async fn route(ctx: &Ctx, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let rest = path.trim_start_matches("/volumes").trim_start_matches('/');
    let answer = match (req.method().clone(), rest) {
        (Method::GET, "") => list(ctx, req).await,
        (Method::POST, "create") => create(ctx, req).await,
        (Method::POST, "prune") => prune(ctx, req).await,
        (Method::GET | Method::DELETE, name) if !name.is_empty() && !name.contains('/') => {
            let name = name.to_string();
            match holder(ctx, &name).await {
                Ok(node) => proxy::call(ctx, &node, req).await,
                Err(e) => Err(e),
            }
        }
        _ => Err(ApiError(StatusCode::NOT_FOUND, "page not found".into())),
    };
    answer.unwrap_or_else(|e| e.into_response())
}

/// A call's answer, read whole: status and JSON.
async fn read(resp: Response) -> Result<(StatusCode, serde_json::Value), ApiError> {
    let status = resp.status();
    let data = axum::body::to_bytes(resp.into_body(), MAX_JSON)
        .await
        .map_err(|e| ApiError(StatusCode::BAD_GATEWAY, e.to_string()))?;
    Ok((status, serde_json::from_slice(&data).unwrap_or_default()))
}

/// The ready nodes that have volume `name`: (node ID, hostname).
async fn holders(ctx: &Ctx, name: &str) -> Vec<(String, String)> {
    let path = format!("/volumes/{}", skiff_client::enc(name));
    let nodes = ctx.ready_nodes();
    let calls = nodes.into_iter().map(|(id, host)| {
        let path = path.clone();
        async move {
            let req = Request::get(path).body(Body::empty()).ok()?;
            let resp = proxy::call(ctx, &id, req).await.ok()?;
            resp.status().is_success().then_some((id, host))
        }
    });
    futures_util::future::join_all(calls)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// The one node holding volume `name`, or Docker's "no such volume".
async fn holder(ctx: &Ctx, name: &str) -> Result<String, ApiError> {
    let found = holders(ctx, name).await;
    match found.as_slice() {
        [(id, _)] => Ok(id.clone()),
        [] => Err(ApiError(StatusCode::NOT_FOUND, format!("get {name}: no such volume"))),
        many => {
            let hosts: Vec<&str> = many.iter().map(|(_, h)| h.as_str()).collect();
            Err(ApiError(
                StatusCode::CONFLICT,
                format!(
                    "volume {name} is on several nodes ({}): name one with --node",
                    hosts.join(", ")
                ),
            ))
        }
    }
}

/// `GET /volumes`: every ready node's volumes, each with its node, by name.
async fn list(ctx: &Ctx, req: Request) -> Result<Response, ApiError> {
    let path = req.uri().path_and_query().map_or("/volumes", |p| p.as_str());
    let (mut volumes, mut warnings) = (Vec::new(), Vec::new());
    for (host, answer) in proxy::gather(ctx, path).await {
        for mut v in answer["Volumes"].as_array().cloned().unwrap_or_default() {
            v["Node"] = serde_json::Value::String(host.clone());
            volumes.push(v);
        }
        warnings.extend(answer["Warnings"].as_array().cloned().unwrap_or_default());
    }
    volumes.sort_by(|a, b| a["Name"].as_str().cmp(&b["Name"].as_str()));
    Ok(axum::Json(serde_json::json!({"Volumes": volumes, "Warnings": warnings})).into_response())
}

/// `POST /volumes/create`: on the node that has the name already, else on
/// the scheduler's pick.
async fn create(ctx: &Ctx, req: Request) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, MAX_JSON)
        .await
        .map_err(|e| ApiError::bad(format!("reading the request: {e}")))?;
    let spec: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let name = spec["Name"].as_str().unwrap_or_default();
    let existing = if name.is_empty() {
        None
    } else {
        holders(ctx, name).await.into_iter().next().map(|(id, _)| id)
    };
    let node = match existing {
        Some(id) => id,
        None => {
            let nodes = scheduler::node_views(&ctx.store, &ctx.fleet);
            let picked = scheduler::place(&nodes, &scheduler::Request::default())
                .map_err(|e| ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
            picked.id.clone()
        }
    };
    proxy::call(ctx, &node, Request::from_parts(parts, Body::from(body))).await
}

/// `POST /volumes/prune`: on every ready node; the removed volumes and the
/// space reclaimed added up.
async fn prune(ctx: &Ctx, req: Request) -> Result<Response, ApiError> {
    let path = req
        .uri()
        .path_and_query()
        .map_or("/volumes/prune", |p| p.as_str())
        .to_string();
    let nodes = ctx.ready_nodes();
    let calls = nodes.iter().map(|(id, host)| {
        let path = path.clone();
        async move {
            let req = Request::post(path)
                .body(Body::empty())
                .map_err(|e| ApiError::bad(e.to_string()))?;
            let (status, v) = read(proxy::call(ctx, id, req).await?).await?;
            if !status.is_success() {
                let msg = v["message"].as_str().unwrap_or("prune failed");
                return Err(ApiError(status, format!("{host}: {msg}")));
            }
            Ok(v)
        }
    });
    let (mut deleted, mut space) = (Vec::new(), 0u64);
    for answer in futures_util::future::join_all(calls).await {
        let v = answer?;
        deleted.extend(v["VolumesDeleted"].as_array().cloned().unwrap_or_default());
        space += v["SpaceReclaimed"].as_u64().unwrap_or(0);
    }
    Ok(axum::Json(serde_json::json!({"VolumesDeleted": deleted, "SpaceReclaimed": space})).into_response())
}
