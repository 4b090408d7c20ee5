//! `/nodes`: Docker's node endpoints, with skiff's health, reservations
//! and container counts.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use skiff_api::cluster::{Node, NodeSpec, NodeStatus, NodeUpdate, Resources};

use super::{qbool, ApiError, ApiResult, St, Q};
use crate::fleet::Health;
use crate::server::{now, Ctx};
use crate::state::{Command, NodeRecord};

pub(super) fn view(ctx: &Ctx, n: &NodeRecord) -> Node {
    let (health, age) = ctx.fleet.health(&n.id);
    let containers = ctx.fleet.containers(&n.id);
    let mut reserved = Resources::default();
    for c in containers.iter().filter(|c| c.state == "running") {
        reserved.nano_cpus += c.nano_cpus;
        reserved.memory_bytes += c.memory;
    }
    let message = match health {
        Health::Down => "heartbeat failure".to_string(),
        _ => String::new(),
    };
    Node {
        id: n.id.clone(),
        created_at: n.created_at.clone(),
        updated_at: n.updated_at.clone(),
        spec: NodeSpec {
            labels: n.labels.clone(),
            role: "worker".into(),
            availability: n.availability.clone(),
        },
        description: n.description.clone(),
        status: NodeStatus {
            state: health.as_str().into(),
            addr: n.description.addresses.first().cloned().unwrap_or_default(),
            message,
        },
        reserved,
        containers: containers.len() as u64,
        heartbeat_age_ms: age.map(|a| a.as_millis() as u64),
    }
}

fn not_found(key: &str) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, format!("node {key} not found"))
}

/// The ID of a node named by ID, ID prefix or hostname.
fn resolve(ctx: &Ctx, key: &str) -> ApiResult<String> {
    ctx.store
        .read()
        .find_node(key)
        .map(|n| n.id.clone())
        .ok_or_else(|| not_found(key))
}

pub async fn list(s: St) -> Json<Vec<Node>> {
    let st = s.0.store.read();
    Json(st.nodes.values().map(|n| view(&s.0, n)).collect())
}

pub async fn inspect(s: St, Path(key): Path<String>) -> ApiResult<Json<Node>> {
    let st = s.0.store.read();
    let n = st.find_node(&key).ok_or_else(|| not_found(&key))?;
    Ok(Json(view(&s.0, n)))
}

pub async fn update(s: St, Path(key): Path<String>, Json(update): Json<NodeUpdate>) -> ApiResult<StatusCode> {
    let id = resolve(&s.0, &key)?;
    s.0.store.propose(Command::UpdateNode { id, update, at: now() }).await?;
    Ok(StatusCode::OK)
}

/// Docker's rule: a node that is up is removed only with `force`. Its
/// certificate is refused from now on, and its session is cut.
pub async fn remove(s: St, Path(key): Path<String>, q: Q) -> ApiResult<StatusCode> {
    let id = resolve(&s.0, &key)?;
    if s.0.fleet.health(&id).0 == Health::Ready && !qbool(&q.0, "force") {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("node {key} is not down and can't be removed (use --force)"),
        ));
    }
    s.0.store.propose(Command::RemoveNode { id: id.clone() }).await?;
    s.0.fleet.kick(&id);
    super::clients::announce(&s.0);
    tracing::info!(node = %id, "node removed; its certificate is revoked");
    Ok(StatusCode::OK)
}
