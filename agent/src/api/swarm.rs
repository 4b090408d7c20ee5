//! Swarm endpoints: skiff's agent is never a swarm node, so it answers
//! them as Docker does on a host that is not in a swarm (503), which
//! SDKs' tear-downs (`leave_swarm(force=True)`) treat as "fine". Plugins
//! likewise: none are installed, as on a fresh Docker host.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::{any, get};
use axum::{Json, Router};

use super::ApiError;

const NOT_MANAGER: &str = "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.";
const NOT_IN_SWARM: &str = "This node is not part of a swarm";

async fn not_manager() -> ApiError {
    ApiError(StatusCode::SERVICE_UNAVAILABLE, NOT_MANAGER.to_string())
}

async fn not_in_swarm() -> ApiError {
    ApiError(StatusCode::SERVICE_UNAVAILABLE, NOT_IN_SWARM.to_string())
}

/// `/swarm*`, `/nodes*`, `/services*`, `/tasks*`, `/secrets*`, `/configs*`,
/// `/plugins*`.
pub fn routes<S: Clone + Send + Sync + 'static>(r: Router<S>) -> Router<S> {
    let mut r = r.route("/swarm/leave", any(not_in_swarm));
    for p in ["swarm", "nodes", "services", "tasks", "secrets", "configs"] {
        r = r
            .route(&format!("/{p}"), any(not_manager))
            .route(&format!("/{p}/{{*rest}}"), any(not_manager));
    }
    r.route("/plugins", get(|| async { Json(serde_json::json!([])) }))
        .route("/plugins/{*rest}", any(no_plugin))
}

/// Any plugin by name: Docker's answer when it is not installed.
async fn no_plugin(Path(rest): Path<String>) -> ApiError {
    let name = ["/json", "/enable", "/disable", "/push", "/upgrade", "/set"]
        .iter()
        .find_map(|verb| rest.strip_suffix(verb))
        .unwrap_or(&rest);
    ApiError(StatusCode::NOT_FOUND, format!("plugin \"{name}\" not found"))
}
