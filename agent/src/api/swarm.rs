//! Swarm endpoints: skiff's agent is never a swarm node, so it answers
//! them as Docker does on a host that is not in a swarm (503), which
//! SDKs' tear-downs (`leave_swarm(force=True)`) treat as "fine". Plugins
//! likewise: none are installed, as on a fresh Docker host. And BuildKit's
//! `/session`: skiff has no BuildKit sessions.

use axum::extract::Path;
use axum::http::{header, HeaderMap, Method, StatusCode};
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

/// The swarm object kinds: each answers 503 at `/{kind}` and below.
pub(super) const SWARM_KINDS: [&str; 6] = ["swarm", "nodes", "services", "tasks", "secrets", "configs"];

/// `/swarm*`, `/nodes*`, `/services*`, `/tasks*`, `/secrets*`, `/configs*`,
/// `/plugins*`.
pub fn routes<S: Clone + Send + Sync + 'static>(r: Router<S>) -> Router<S> {
    let mut r = r.route("/swarm/leave", any(not_in_swarm));
    for p in SWARM_KINDS {
        r = r
            .route(&format!("/{p}"), any(not_manager))
            .route(&format!("/{p}/{{*rest}}"), any(not_manager));
    }
    r.route("/session", any(session))
        .route("/plugins", get(|| async { Json(serde_json::json!([])) }))
        .route("/plugins/{*rest}", any(no_plugin))
}

/// `POST /session`. Docker 20.10's session manager refuses, in these
/// words (400), a request that asks no upgrade or another protocol than
/// `h2c`, and takes `h2c` over for a BuildKit session (gRPC over HTTP/2).
/// skiff has none: the h2c upgrade itself is refused as Docker refuses a
/// feature it does not serve (501 Not Implemented), so a BuildKit client
/// stops with a clear reason; the classic builder never asks for one.
async fn session(method: Method, headers: HeaderMap) -> axum::response::Response {
    use axum::response::IntoResponse;
    if method != Method::POST {
        return super::page_not_found().await;
    }
    let proto = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match proto {
        "" => ApiError(StatusCode::BAD_REQUEST, "no upgrade proto in request".into()),
        "h2c" => ApiError(StatusCode::NOT_IMPLEMENTED, NO_SESSIONS.into()),
        p => ApiError(StatusCode::BAD_REQUEST, format!("protocol {p} not supported")),
    }
    .into_response()
}

/// skiff's refusal of a BuildKit session.
pub const NO_SESSIONS: &str =
    "BuildKit sessions are not supported by this daemon: build with the classic builder (DOCKER_BUILDKIT=0)";

/// Any plugin by name: Docker's answer when it is not installed.
async fn no_plugin(Path(rest): Path<String>) -> ApiError {
    let name = ["/json", "/enable", "/disable", "/push", "/upgrade", "/set"]
        .iter()
        .find_map(|verb| rest.strip_suffix(verb))
        .unwrap_or(&rest);
    ApiError(StatusCode::NOT_FOUND, format!("plugin \"{name}\" not found"))
}
