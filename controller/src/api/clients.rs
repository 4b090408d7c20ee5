//! `GET /cluster/clients` and `DELETE /cluster/clients/{id}`: the admin
//! and read-only certificates the cluster has issued, and revoking one.
//! A revoked certificate is refused at every controller's handshake and
//! request, and at every agent's own TLS listener (the list travels in
//! the agents' sessions).

use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use skiff_api::cluster::ClientStatus;

use super::{ApiError, ApiResult, St};
use crate::state::Command;

/// `GET /cluster/clients`.
pub async fn list(s: St) -> Json<Vec<ClientStatus>> {
    let st = s.0.store.read();
    Json(
        st.clients
            .values()
            .map(|c| ClientStatus {
                id: c.id.clone(),
                name: c.name.clone(),
                role: c.role.to_string(),
                created_at: c.created_at.clone(),
            })
            .collect(),
    )
}

/// `DELETE /cluster/clients/{id}`: by ID or unique ID prefix.
pub async fn remove(s: St, Path(key): Path<String>) -> ApiResult<StatusCode> {
    let id = {
        let st = s.0.store.read();
        let found: Vec<&String> = st.clients.keys().filter(|id| id.starts_with(&key)).collect();
        match found[..] {
            [one] => one.clone(),
            [] => return Err(ApiError(StatusCode::NOT_FOUND, format!("client {key} not found"))),
            _ => {
                return Err(ApiError(
                    StatusCode::BAD_REQUEST,
                    format!("client ID {key} is ambiguous: give more of it"),
                ))
            }
        }
    };
    s.0.store.propose(Command::RemoveClient { id: id.clone() }).await?;
    announce(&s.0);
    tracing::info!(client = %id, "client removed; its certificate is revoked");
    Ok(StatusCode::OK)
}

/// Send the whole revocation list to every connected agent.
pub fn announce(ctx: &crate::server::Ctx) {
    let ids = ctx.store.read().revoked.iter().cloned().collect();
    ctx.fleet.announce_revoked(ids);
}
