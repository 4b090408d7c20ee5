//! Docker's container endpoints against the controller: `create` places
//! the container with the scheduler and makes it on the chosen node;
//! `GET /containers/json` lists every node's containers with their node;
//! everything else about one container (start, logs, attach, exec, rm…)
//! goes to the node that holds it.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use skiff_common::cluster::proto;

use super::proxy;
use super::ApiError;
use crate::scheduler::{self, Constraint, Strategy};
use crate::server::Ctx;

const MAX_JSON: usize = 16 << 20;

/// `POST /containers/create?name=&constraint=…&placement=`.
pub async fn create(ctx: &Ctx, req: Request) -> Result<Response, ApiError> {
    let query: Vec<(String, String)> = req
        .uri()
        .query()
        .map(|q| serde_urlencoded::from_str(q).unwrap_or_default())
        .unwrap_or_default();
    let mut want = scheduler::Request::default();
    let mut name = None;
    for (k, v) in &query {
        match k.as_str() {
            "constraint" => want.constraints.push(Constraint::parse(v).map_err(ApiError::bad)?),
            "placement" => {
                want.strategy = Strategy::parse(v)
                    .ok_or_else(|| ApiError::bad(format!("invalid placement {v:?}: use spread or binpack")))?
            }
            "name" => name = Some(v.clone()),
            _ => {}
        }
    }
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, MAX_JSON)
        .await
        .map_err(|e| ApiError::bad(format!("reading the request: {e}")))?;
    let spec: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad(format!("invalid JSON: {e}")))?;
    want.nano_cpus = spec["HostConfig"]["NanoCpus"].as_i64().unwrap_or(0);
    want.memory = spec["HostConfig"]["Memory"].as_i64().unwrap_or(0);
    let bindings = serde_json::from_value(spec["HostConfig"]["PortBindings"].clone()).unwrap_or_default();
    want.host_ports = skiff_api::host_ports(&bindings);
    if let Some(n) = &name {
        if ctx.fleet.name_taken(n) {
            return Err(ApiError(
                StatusCode::CONFLICT,
                format!("Conflict. The container name \"/{n}\" is already in use in the cluster."),
            ));
        }
    }
    let node = ctx
        .placer
        .place(&ctx.store, &ctx.fleet, &want)
        .map_err(|e| ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    // Count the container on its node at once (the placer's view has it
    // already), so that placements after the next view build see it too;
    // it gets its ID (or goes) once made.
    let placeholder = format!("pending-{}", crate::pki::random_id(16));
    ctx.fleet.note_created(
        &node.id,
        proto::Container {
            id: placeholder.clone(),
            name: name.clone().unwrap_or_default(),
            image: spec["Image"].as_str().unwrap_or_default().to_string(),
            state: "created".into(),
            labels: Default::default(),
            nano_cpus: want.nano_cpus,
            memory: want.memory,
            host_ports: want.host_ports.clone(),
        },
    );
    let made = async {
        let resp = proxy::call(ctx, &node.id, Request::from_parts(parts, Body::from(body))).await?;
        let status = resp.status();
        let data = axum::body::to_bytes(resp.into_body(), MAX_JSON)
            .await
            .map_err(|e| ApiError(StatusCode::BAD_GATEWAY, e.to_string()))?;
        Ok::<_, ApiError>((status, data))
    }
    .await;
    let id = match &made {
        Ok((status, data)) if status.is_success() => serde_json::from_slice::<serde_json::Value>(data)
            .ok()
            .and_then(|v| v["Id"].as_str().map(str::to_string)),
        _ => None,
    };
    ctx.fleet.settle_noted(&node.id, &placeholder, id.as_deref());
    if id.is_none() {
        ctx.placer.forget();
    }
    let (status, data) = made?;
    if let Some(id) = &id {
        tracing::info!(container = %id, node = %node.hostname, "placed");
    }
    Ok((status, [("content-type", "application/json")], data).into_response())
}

/// `GET /containers/json`: every ready node's list, each entry with its
/// node's name, newest first.
pub async fn list(ctx: &Ctx, req: Request) -> Result<Response, ApiError> {
    let path = req.uri().path_and_query().map_or("/containers/json", |p| p.as_str());
    let mut all: Vec<serde_json::Value> = Vec::new();
    for (host, rows) in proxy::gather(ctx, path).await {
        for mut r in rows.as_array().cloned().unwrap_or_default() {
            r["Node"] = serde_json::Value::String(host.clone());
            all.push(r);
        }
    }
    all.sort_by_key(|r| std::cmp::Reverse(r["Created"].as_i64().unwrap_or(0)));
    Ok(axum::Json(all).into_response())
}

/// Which node a request about one container (or exec) goes to; `None`
/// for requests that are not about one.
pub fn owner(ctx: &Ctx, req: &Request) -> Option<Result<String, ApiError>> {
    let path = req.uri().path();
    let mut seg = path.trim_start_matches('/').split('/');
    let (kind, key) = (seg.next()?, seg.next()?);
    match kind {
        "exec" => Some(
            ctx.fleet
                .exec_node(key)
                .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("No such exec instance: {key}"))),
        ),
        "containers" if !matches!(key, "create" | "json" | "prune") => {
            let nodes = ctx.fleet.find_container(key);
            Some(match nodes.as_slice() {
                [one] => Ok(one.clone()),
                [] => Err(ApiError(StatusCode::NOT_FOUND, format!("No such container: {key}"))),
                many => {
                    let st = ctx.store.read();
                    let names: Vec<String> = many
                        .iter()
                        .map(|id| st.nodes.get(id).map_or(id.clone(), |n| n.description.hostname.clone()))
                        .collect();
                    Err(ApiError(
                        StatusCode::CONFLICT,
                        format!(
                            "container {key} is on several nodes ({}): name one with --node",
                            names.join(", ")
                        ),
                    ))
                }
            })
        }
        _ => None,
    }
}

/// Send a request about one container to its node; an exec made this
/// way is remembered so that `exec start` finds the same node.
pub async fn forward(ctx: &Ctx, node: &str, req: Request) -> Response {
    let is_exec_create = req.method() == Method::POST && req.uri().path().ends_with("/exec");
    let removing = (req.method() == Method::DELETE)
        .then(|| req.uri().path().trim_start_matches("/containers/").to_string())
        .filter(|k| !k.contains('/'));
    let resp = match proxy::call(ctx, node, req).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    if let Some(key) = removing.filter(|_| resp.status().is_success()) {
        ctx.fleet.forget_container(node, &key);
    }
    if !is_exec_create || resp.status() != StatusCode::CREATED {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let data = axum::body::to_bytes(body, MAX_JSON).await.unwrap_or_default();
    if let Some(id) = serde_json::from_slice::<serde_json::Value>(&data)
        .ok()
        .and_then(|v| v["Id"].as_str().map(str::to_string))
    {
        ctx.fleet.note_exec(&id, node);
    }
    Response::from_parts(parts, Body::from(data))
}
