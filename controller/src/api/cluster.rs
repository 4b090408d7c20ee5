//! `POST /cluster/join` (no certificate needed: the token is the proof),
//! `POST /cluster/renew` (the current certificate is the proof),
//! `GET /cluster` (join tokens for admins), `POST /cluster/rotate`.

use axum::extract::Extension;
use axum::http::StatusCode;
use axum::Json;
use skiff_api::cluster::{ClusterInfo, JoinTokens};
use skiff_certs::cluster::{Identity, Role};
use skiff_client::cluster::{JoinRequest, JoinResponse, JoinToken, RenewRequest, RenewResponse};

use super::{role_of, ApiError, ApiResult, St, Q};
use crate::pki::random_id;
use crate::server::{now, Peer};
use crate::state::Command;

fn valid_hostname(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
}

pub async fn join(s: St, Json(req): Json<JoinRequest>) -> ApiResult<Json<JoinResponse>> {
    let ctx = s.0;
    let invalid = || {
        ApiError(
            StatusCode::FORBIDDEN,
            "a valid join token is necessary to join this cluster".into(),
        )
    };
    let token = JoinToken::parse(&req.token).ok_or_else(invalid)?;
    if token.ca_fingerprint != ctx.pki.fingerprint {
        return Err(invalid());
    }
    let (role, cluster) = {
        let st = ctx.store.read();
        (st.role_of_secret(&token.secret), st.id.clone())
    };
    let role = role.ok_or_else(invalid)?;
    match (role, req.client) {
        (Role::Agent, true) => {
            return Err(ApiError(
                StatusCode::FORBIDDEN,
                "this is an agent join token: log in with an admin or readonly token".into(),
            ))
        }
        (Role::Admin | Role::Readonly, false) => {
            return Err(ApiError(
                StatusCode::FORBIDDEN,
                format!("this is an {role} token: agents join with the agent token"),
            ))
        }
        (Role::Controller, _) if req.client || req.controller.is_none() => {
            return Err(ApiError(
                StatusCode::FORBIDDEN,
                "this is a controller join token: controllers join with `skiff-controller join`".into(),
            ))
        }
        (_, _) if role != Role::Controller && req.controller.is_some() => {
            return Err(ApiError(
                StatusCode::FORBIDDEN,
                format!("this is an {role} token: a controller joins with the controller token"),
            ))
        }
        _ => {}
    }
    if !valid_hostname(&req.hostname) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("invalid hostname {:?}", req.hostname),
        ));
    }
    let id = random_id(25);
    let who = Identity {
        id: id.clone(),
        role,
        cluster,
    };
    if let Some(c) = &req.controller {
        return crate::members::join(&ctx, who, &req.csr, c, &req.hostname).await;
    }
    let certificate = ctx
        .pki
        .sign(&req.csr, &who)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.to_string()))?;
    let ca = ctx.pki.ca_pem().to_string();
    let cmd = match role {
        Role::Agent => Command::AddNode {
            id: id.clone(),
            hostname: req.hostname.clone(),
            at: now(),
        },
        _ => Command::AddClient {
            id: id.clone(),
            role,
            name: req.hostname.clone(),
            at: now(),
        },
    };
    ctx.store.propose(cmd).await?;
    tracing::info!(id = %id, role = %role, hostname = %req.hostname, "joined");
    Ok(Json(JoinResponse {
        id,
        role,
        certificate,
        ca,
        controller: None,
    }))
}

/// A new certificate, same identity, for a member whose current one is
/// still valid (the handshake checked it, and that it is not revoked).
pub async fn renew(
    s: St,
    Extension(peer): Extension<Peer>,
    Json(req): Json<RenewRequest>,
) -> ApiResult<Json<RenewResponse>> {
    let ctx = s.0;
    let who = peer
        .0
        .ok_or_else(|| ApiError(StatusCode::FORBIDDEN, "renewing needs the certificate to renew".into()))?;
    let member = {
        let st = ctx.store.read();
        match who.role {
            Role::Agent => st.nodes.contains_key(&who.id),
            Role::Controller => st.controllers.values().any(|c| c.id == who.id),
            _ => st.clients.contains_key(&who.id),
        }
    };
    if !member {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            format!("{} {} is not a member of this cluster", who.role, who.id),
        ));
    }
    let certificate = ctx
        .pki
        .sign(&req.csr, &who)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.to_string()))?;
    tracing::info!(id = %who.id, role = %who.role, "certificate renewed");
    Ok(Json(RenewResponse { certificate }))
}

fn info(ctx: &crate::server::Ctx, with_tokens: bool) -> ClusterInfo {
    let st = ctx.store.read();
    let token = |r: Role| {
        st.tokens
            .get(&r)
            .filter(|_| with_tokens)
            .map(|s| ctx.pki.token(s))
            .unwrap_or_default()
    };
    ClusterInfo {
        id: st.id.clone(),
        created_at: st.created_at.clone(),
        join_tokens: JoinTokens {
            agent: token(Role::Agent),
            admin: token(Role::Admin),
            readonly: token(Role::Readonly),
            controller: token(Role::Controller),
        },
        heartbeat_period_ms: ctx.fleet.heartbeat_period.as_millis() as u64,
        node_timeout_ms: ctx.fleet.node_timeout.as_millis() as u64,
    }
}

pub async fn inspect(s: St, Extension(peer): Extension<Peer>) -> Json<ClusterInfo> {
    Json(info(&s.0, role_of(&peer) == Some(Role::Admin)))
}

/// `?role=agent|admin|readonly`: a new secret; the old token stops working.
pub async fn rotate(s: St, q: Q) -> ApiResult<Json<ClusterInfo>> {
    let name = q.0.get("role").map(String::as_str).unwrap_or("");
    let role = Role::parse(name).ok_or_else(|| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("unknown role {name:?}: use agent, controller, admin or readonly"),
        )
    })?;
    s.0.store
        .propose(Command::RotateToken {
            role,
            secret: random_id(32),
        })
        .await?;
    Ok(Json(info(&s.0, true)))
}

/// `GET /cluster/controllers`.
pub async fn controllers(s: St) -> ApiResult<Json<Vec<skiff_api::cluster::ControllerStatus>>> {
    Ok(Json(crate::members::list(&s.0).await?))
}

/// `DELETE /cluster/controllers/{id}[?force=1]`.
pub async fn remove_controller(
    s: St,
    axum::extract::Path(id): axum::extract::Path<String>,
    q: Q,
) -> ApiResult<StatusCode> {
    crate::members::remove(&s.0, &id, super::qbool(&q.0, "force")).await?;
    super::clients::announce(&s.0);
    Ok(StatusCode::OK)
}
