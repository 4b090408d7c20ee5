//! Controller membership, on the leader: a joining controller is recorded
//! (its raft ID), given its certificate and the CA, and added to raft as
//! a learner; once its log has caught up it is promoted to voter.
//! Removal is refused when it would cost the quorum, unless forced.

use axum::http::StatusCode;
use axum::Json;
use raft::prelude::{ConfChange, ConfChangeType};
use skiff_api::cluster::ControllerStatus;
use skiff_certs::cluster::Identity;
use skiff_client::cluster::{ControllerJoin, ControllerJoined, JoinResponse};

use crate::api::{ApiError, ApiResult};
use crate::server::{now, Ctx};
use crate::state::{Command, RaftStatus};

fn change(kind: ConfChangeType, raft_id: u64) -> ConfChange {
    let mut cc = ConfChange::default();
    cc.set_change_type(kind);
    cc.node_id = raft_id;
    cc
}

/// `POST /cluster/join` with a controller token.
pub async fn join(
    ctx: &Ctx,
    who: Identity,
    csr: &str,
    req: &ControllerJoin,
    hostname: &str,
) -> ApiResult<Json<JoinResponse>> {
    if req
        .addr
        .rsplit_once(':')
        .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
    {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("invalid controller address {:?}: use HOST:PORT", req.addr),
        ));
    }
    let taken = ctx.store.read().controllers.values().any(|c| c.addr == req.addr);
    if taken {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!("a controller at {} is already a member", req.addr),
        ));
    }
    let certificate = ctx
        .pki
        .sign_controller(csr, &who, &req.sans)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.to_string()))?;
    ctx.store
        .propose(Command::AddController {
            id: who.id.clone(),
            addr: req.addr.clone(),
            at: now(),
        })
        .await?;
    let raft_id = ctx
        .store
        .read()
        .controllers
        .values()
        .find(|c| c.id == who.id)
        .map(|c| c.raft_id)
        .ok_or_else(|| ApiError(StatusCode::SERVICE_UNAVAILABLE, "the controller record was lost".into()))?;
    ctx.store.compact().await?;
    ctx.store
        .conf_change(change(ConfChangeType::AddLearnerNode, raft_id))
        .await?;
    tracing::info!(id = %who.id, raft_id, addr = %req.addr, hostname, "controller joined as a learner");
    Ok(Json(JoinResponse {
        id: who.id,
        role: who.role,
        certificate,
        ca: ctx.pki.ca_pem().to_string(),
        controller: Some(ControllerJoined {
            ca_key: ctx.pki.ca_key_pem().to_string(),
            raft_id,
            heartbeat_period_ms: ctx.fleet.heartbeat_period.as_millis() as u64,
            node_timeout_ms: ctx.fleet.node_timeout.as_millis() as u64,
            cert_expiry_secs: ctx.pki.expiry.as_secs(),
            controllers: ctx
                .store
                .read()
                .controllers
                .values()
                .map(|c| (c.raft_id, c.addr.clone()))
                .collect(),
        }),
    }))
}

/// Promote learners whose log has caught up with the leader's commit.
pub async fn promote_caught_up(ctx: &Ctx) {
    let Ok(st) = ctx.store.status().await else {
        return;
    };
    for id in &st.learners {
        let caught_up = st
            .progress
            .iter()
            .any(|(p, matched, active)| p == id && *active && *matched >= st.commit);
        if caught_up {
            match ctx.store.conf_change(change(ConfChangeType::AddNode, *id)).await {
                Ok(()) => tracing::info!(raft_id = id, "controller caught up: now a voter"),
                Err(e) => tracing::warn!(raft_id = id, "promoting a controller: {e}"),
            }
        }
    }
}

/// `GET /cluster/controllers`, from the leader's raft state.
pub async fn list(ctx: &Ctx) -> ApiResult<Vec<ControllerStatus>> {
    let st = ctx.store.status().await?;
    let records = ctx.store.read().controllers.clone();
    Ok(records
        .values()
        .map(|c| {
            let (matched, active) = st
                .progress
                .iter()
                .find(|(p, _, _)| *p == c.raft_id)
                .map(|(_, m, a)| (*m, *a))
                .unwrap_or((0, false));
            let manager_status = if c.raft_id == st.leader {
                "Leader"
            } else if active {
                "Reachable"
            } else {
                "Unreachable"
            };
            let membership = if st.learners.contains(&c.raft_id) {
                "learner"
            } else if st.voters.contains(&c.raft_id) {
                "voter"
            } else {
                "joining"
            };
            ControllerStatus {
                id: c.id.clone(),
                raft_id: c.raft_id,
                addr: c.addr.clone(),
                manager_status: manager_status.into(),
                membership: membership.into(),
                term: st.term,
                commit: st.commit,
                matched,
                lag: st.commit.saturating_sub(matched),
                created_at: c.created_at.clone(),
            }
        })
        .collect())
}

/// Voters still reachable if `raft_id` were gone, against the quorum the
/// remaining voters need.
fn quorum_after_removal(st: &RaftStatus, raft_id: u64) -> (usize, usize) {
    let remaining: Vec<u64> = st.voters.iter().copied().filter(|v| *v != raft_id).collect();
    let reachable = remaining
        .iter()
        .filter(|v| st.progress.iter().any(|(p, _, a)| p == *v && *a))
        .count();
    (reachable, remaining.len() / 2 + 1)
}

/// `DELETE /cluster/controllers/{id}[?force=1]`.
pub async fn remove(ctx: &Ctx, key: &str, force: bool) -> ApiResult<()> {
    let rec = ctx
        .store
        .read()
        .find_controller(key)
        .cloned()
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("controller {key} not found")))?;
    let st = ctx.store.status().await?;
    if rec.raft_id == st.leader {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!(
                "controller {} is the leader: stop it (another takes over) and remove it from there",
                rec.raft_id
            ),
        ));
    }
    if st.voters.len() == 1 && st.voters.contains(&rec.raft_id) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "the last controller cannot be removed".into(),
        ));
    }
    let (reachable, quorum) = quorum_after_removal(&st, rec.raft_id);
    if reachable < quorum && !force {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!(
                "removing controller {} would leave {reachable} reachable of the {quorum} controllers a quorum needs: use --force to remove it anyway",
                rec.raft_id
            ),
        ));
    }
    ctx.store
        .conf_change(change(ConfChangeType::RemoveNode, rec.raft_id))
        .await?;
    ctx.store
        .propose(Command::RemoveController { raft_id: rec.raft_id })
        .await?;
    tracing::info!(raft_id = rec.raft_id, id = %rec.id, "controller removed");
    Ok(())
}
