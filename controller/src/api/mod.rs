//! The controller's REST API: Docker-shaped where Docker has the object
//! (nodes), skiff's own for the cluster (join, tokens). Every request but
//! `/_ping` and `/cluster/join` needs a client certificate; read-only
//! certificates may only read, and an agent's certificate is never a
//! client. Docker calls go to a node: the one `--node` names, the one the
//! scheduler picks (create), the one holding the container or volume, or
//! all of them (list, import). The agents' gRPC sessions share the port
//! (`session`).

mod clients;
mod cluster;
mod containers;
mod metrics;
mod nodes;
mod proxy;
mod services;
mod system;
mod volumes;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use skiff_certs::cluster::Role;
use skiff_common::cluster::proto::cluster_server::ClusterServer;
use skiff_common::cluster::proto::raft_server::RaftServer;

pub use skiff_common::http::{qbool, ApiError, ApiResult, Q};

use crate::peers::RaftService;
use crate::server::{Ctx, Peer};
use crate::session::ClusterService;
use crate::state::{ApplyError, StoreError};

pub type St = axum::extract::State<Arc<Ctx>>;
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let code = match &e {
            StoreError::Rejected(ApplyError::NoNode(_) | ApplyError::NoController(_) | ApplyError::NoClient(_)) => {
                StatusCode::NOT_FOUND
            }
            StoreError::Rejected(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError(code, e.to_string())
    }
}

pub fn router(ctx: Arc<Ctx>) -> Router {
    let grpc = ClusterServer::new(ClusterService { ctx: ctx.clone() })
        .max_decoding_message_size(skiff_common::cluster::MAX_MESSAGE)
        .max_encoding_message_size(skiff_common::cluster::MAX_MESSAGE);
    let raft = RaftServer::new(RaftService {
        store: ctx.store.clone(),
    })
    .max_decoding_message_size(skiff_common::cluster::MAX_MESSAGE);
    Router::new()
        .route("/_ping", get(ping).head(ping))
        .route("/version", get(version))
        .route("/cluster", get(cluster::inspect))
        .route("/cluster/join", post(cluster::join))
        .route("/cluster/rotate", post(cluster::rotate))
        .route("/cluster/renew", post(cluster::renew))
        .route("/cluster/controllers", get(cluster::controllers))
        .route(
            "/cluster/controllers/{id}",
            axum::routing::delete(cluster::remove_controller),
        )
        .route("/cluster/clients", get(clients::list))
        .route("/cluster/clients/{id}", axum::routing::delete(clients::remove))
        .route("/nodes", get(nodes::list))
        .route("/nodes/{id}", get(nodes::inspect).delete(nodes::remove))
        .route("/nodes/{id}/update", post(nodes::update))
        .route("/services", get(services::list))
        .route("/services/create", post(services::create))
        .route("/services/{id}", get(services::inspect).delete(services::remove))
        .route("/services/{id}/update", post(services::update))
        .route("/tasks", get(services::tasks))
        .route("/events", get(events))
        .route("/info", get(system::info))
        .route("/system/df", get(system::df))
        .route("/metrics", get(metrics::metrics))
        .route("/dashboard", get(dashboard))
        .fallback(|_: Uri| async move { ApiError(StatusCode::NOT_FOUND, "page not found".into()) })
        .layer(axum::middleware::from_fn_with_state(ctx.clone(), authorize))
        .route_service("/skiff.cluster.v1.Cluster/{*method}", grpc)
        .route_service("/skiff.cluster.v1.Raft/{*method}", raft)
        .with_state(ctx)
}

/// Who may do what (see the module comment); then, with the node header,
/// off to that node.
async fn authorize(s: St, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path == "/_ping" || path == "/cluster/join" {
        return next.run(req).await;
    }
    let who = req.extensions().get::<Peer>().and_then(|p| p.0.clone());
    // Any member renews its own certificate (agents included), and that
    // is all an agent's certificate does here.
    if path == "/cluster/renew" && who.is_some() {
        return next.run(req).await;
    }
    // A connection opened before its certificate was revoked (the
    // handshake checked it then) stays open: check every request too.
    if let Some(w) = who.as_ref().filter(|w| s.0.store.read().revoked.contains(&w.id)) {
        tracing::warn!(id = %w.id, role = %w.role, "request with a revoked certificate refused");
        let _ = axum::body::to_bytes(req.into_body(), 1 << 20).await;
        return ApiError(StatusCode::FORBIDDEN, "this certificate has been revoked".into()).into_response();
    }
    let writes = !matches!(*req.method(), Method::GET | Method::HEAD);
    // A browser holding a client certificate (for the dashboard) sends it
    // on other sites' requests too: changes never come from a web page.
    let from_browser = req.headers().contains_key(axum::http::header::ORIGIN)
        || req
            .headers()
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes() != b"none");
    let refused = match who.map(|w| w.role) {
        _ if writes && from_browser => {
            Some("changes are not accepted from web pages: use the skiff CLI or a Docker client")
        }
        None => Some("a client certificate is required: get one with `skiff cluster login TOKEN HOST`"),
        Some(Role::Agent) => Some("an agent's certificate cannot be used as a client certificate"),
        Some(Role::Controller) => Some("a controller's certificate cannot be used as a client certificate"),
        Some(Role::Readonly) if writes => Some("permission denied: this certificate is read-only"),
        Some(_) => None,
    };
    if let Some(m) = refused {
        // Read what was sent first: closing on unread data resets the
        // connection, and the client would never see why.
        let _ = axum::body::to_bytes(req.into_body(), 1 << 20).await;
        return ApiError(StatusCode::FORBIDDEN, m.into()).into_response();
    }
    let node = req
        .headers()
        .get(skiff_api::cluster::NODE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let ctx = &s.0;
    if let Some(n) = node {
        return proxy::forward(ctx, &n, req).await;
    }
    if proxy::is_fan_out(&req) {
        return proxy::fan_out(ctx, req).await;
    }
    let path = req.uri().path();
    if req.method() == Method::POST && path == "/containers/create" {
        return containers::create(ctx, req).await.unwrap_or_else(|e| e.into_response());
    }
    if req.method() == Method::GET && path == "/containers/json" {
        return containers::list(ctx, req).await.unwrap_or_else(|e| e.into_response());
    }
    if volumes::is_volume_call(&req) {
        return volumes::route(ctx, req).await;
    }
    match containers::owner(ctx, &req) {
        Some(Ok(node)) => containers::forward(ctx, &node, req).await,
        Some(Err(e)) => e.into_response(),
        None => next.run(req).await,
    }
}

/// The role of the certificate a request came with.
pub fn role_of(peer: &Peer) -> Option<Role> {
    peer.0.as_ref().map(|w| w.role)
}

async fn ping() -> impl IntoResponse {
    (
        [("Api-Version", skiff_api::API_VERSION), ("Cache-Control", "no-cache")],
        "OK",
    )
}

async fn version() -> impl IntoResponse {
    Json(serde_json::json!({
        "Platform": {"Name": "skiff-controller"},
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": skiff_api::API_VERSION,
        "MinAPIVersion": "1.24",
        "Os": std::env::consts::OS,
        "Arch": skiff_api::go_arch(),
        "Components": [{"Name": "Controller", "Version": env!("CARGO_PKG_VERSION")}],
    }))
}

/// `GET /dashboard`: one page (hosts, containers, live CPU and memory,
/// the event stream) that reads this API from the browser, which
/// presents a client certificate like any other client.
async fn dashboard() -> impl IntoResponse {
    (
        [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Cache-Control", "no-cache"),
        ],
        include_str!("dashboard.html"),
    )
}

/// `GET /events`: every node's events, each with its node; `node=` filters.
async fn events(s: St, q: Q) -> ApiResult<Response> {
    use tokio_stream::StreamExt;
    let (filters, since, until) =
        skiff_api::events::parse_query(&q.0).map_err(|m| ApiError(StatusCode::BAD_REQUEST, m))?;
    let rx = s.0.events.stream(filters, since, until);
    let body = axum::body::Body::from_stream(
        tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok::<_, std::convert::Infallible>),
    );
    Ok(([("Content-Type", "application/json")], body).into_response())
}
