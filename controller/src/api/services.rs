//! `/services` and `/tasks`: declare a service, scale it, remove it; the
//! orchestrator does the rest.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use skiff_api::cluster::{ServiceInfo, ServiceSpec, ServiceUpdate, TaskInfo};

use super::{ApiError, ApiResult, St, Q};
use crate::orchestrator::{task_running, TASK_LABEL};
use crate::scheduler::{Constraint, Strategy};
use crate::server::{now, Ctx};
use crate::state::model::Service;
use crate::state::Command;

fn check(spec: &ServiceSpec) -> ApiResult<()> {
    let n = &spec.name;
    let ok = n.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && n.len() <= 63
        && n.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !ok {
        return Err(ApiError::bad(format!(
            "invalid service name {n:?}: [a-zA-Z0-9][a-zA-Z0-9_.-]*"
        )));
    }
    if spec.container.config.image.is_empty() {
        return Err(ApiError::bad("a service needs an image"));
    }
    for c in &spec.constraints {
        Constraint::parse(c).map_err(ApiError::bad)?;
    }
    for p in &spec.placement_prefs {
        crate::scheduler::parse_preference(p).map_err(ApiError::bad)?;
    }
    if !spec.placement.is_empty() && Strategy::parse(&spec.placement).is_none() {
        return Err(ApiError::bad(format!(
            "invalid placement {:?}: use spread or binpack",
            spec.placement
        )));
    }
    Ok(())
}

fn not_found(key: &str) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, format!("service {key} not found"))
}

fn info(ctx: &Ctx, s: &Service) -> ServiceInfo {
    let st = ctx.store.read();
    let live: Vec<_> = st
        .tasks
        .values()
        .filter(|t| t.service == s.id && t.desired == "running")
        .collect();
    ServiceInfo {
        id: s.id.clone(),
        created_at: s.created_at.clone(),
        updated_at: s.updated_at.clone(),
        spec: s.spec.clone(),
        running: live.iter().filter(|t| task_running(ctx, t)).count() as u32,
        version: s.version,
        updating: live.iter().any(|t| t.version < s.version),
    }
}

pub async fn create(s: St, Json(spec): Json<ServiceSpec>) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    check(&spec)?;
    let id = crate::pki::random_id(25);
    let at = now();
    let service = Service {
        id: id.clone(),
        created_at: at.clone(),
        updated_at: at,
        spec,
        version: 0,
    };
    s.0.store
        .propose(Command::CreateService { service })
        .await
        .map_err(|e| match e {
            crate::state::StoreError::Rejected(r) => ApiError(StatusCode::CONFLICT, r.to_string()),
            e => e.into(),
        })?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "ID": id }))))
}

pub async fn list(s: St) -> Json<Vec<ServiceInfo>> {
    let services: Vec<Service> = s.0.store.read().services.values().cloned().collect();
    Json(services.iter().map(|x| info(&s.0, x)).collect())
}

pub async fn inspect(s: St, Path(key): Path<String>) -> ApiResult<Json<ServiceInfo>> {
    let svc = s.0.store.read().find_service(&key).cloned();
    let svc = svc.ok_or_else(|| not_found(&key))?;
    Ok(Json(info(&s.0, &svc)))
}

pub async fn update(s: St, Path(key): Path<String>, Json(u): Json<ServiceUpdate>) -> ApiResult<StatusCode> {
    let svc = s.0.store.read().find_service(&key).cloned();
    let svc = svc.ok_or_else(|| not_found(&key))?;
    let mut spec = svc.spec;
    if let Some(r) = u.replicas {
        spec.replicas = r;
    }
    let cfg = &mut spec.container.config;
    if let Some(i) = u.image {
        if i.trim().is_empty() {
            return Err(ApiError::bad("invalid image: empty"));
        }
        cfg.image = i;
    }
    for kv in &u.env_add {
        let key = kv.split('=').next().unwrap_or_default();
        cfg.env.retain(|e| e.split('=').next() != Some(key));
        cfg.env.push(kv.clone());
    }
    cfg.env
        .retain(|e| !u.env_rm.iter().any(|k| e.split('=').next() == Some(k.as_str())));
    if let Some(a) = u.args {
        cfg.cmd = a.into();
    }
    if u.force {
        spec.force_update += 1;
    }
    if let Some(p) = u.update_parallelism {
        spec.update_parallelism = p;
    }
    if let Some(d) = u.update_delay_ms {
        spec.update_delay_ms = d;
    }
    // Placement: what is removed goes first, then what is added (as
    // Docker's --constraint-rm/-add and --placement-pref-rm/-add).
    // A placement change rolls the tasks over, so they land where it says.
    let placement = (spec.constraints.clone(), spec.placement_prefs.clone());
    spec.constraints.retain(|c| !u.constraint_rm.contains(c));
    spec.constraints.extend(u.constraint_add.iter().cloned());
    spec.placement_prefs.retain(|p| !u.placement_pref_rm.contains(p));
    spec.placement_prefs.extend(u.placement_pref_add.iter().cloned());
    if (spec.constraints.clone(), spec.placement_prefs.clone()) != placement {
        spec.force_update += 1;
    }
    check(&spec)?;
    s.0.store
        .propose(Command::UpdateService {
            id: svc.id,
            spec,
            at: now(),
        })
        .await?;
    Ok(StatusCode::OK)
}

pub async fn remove(s: St, Path(key): Path<String>) -> ApiResult<StatusCode> {
    let id = s.0.store.read().find_service(&key).map(|x| x.id.clone());
    let id = id.ok_or_else(|| not_found(&key))?;
    s.0.store.propose(Command::RemoveService { id }).await?;
    Ok(StatusCode::OK)
}

/// `GET /tasks?service=NAME|ID`: every task (all services without it).
pub async fn tasks(s: St, q: Q) -> ApiResult<Json<Vec<TaskInfo>>> {
    let ctx = &s.0;
    let found = ctx.fleet.tasks(TASK_LABEL);
    let st = ctx.store.read();
    let only = match q.0.get("service") {
        Some(k) => Some(st.find_service(k).map(|x| x.id.clone()).ok_or_else(|| not_found(k))?),
        None => None,
    };
    let mut out: Vec<TaskInfo> = st
        .tasks
        .values()
        .filter(|t| only.as_ref().is_none_or(|o| &t.service == o))
        .map(|t| {
            let svc = st.services.get(&t.service);
            let c = found.on(&t.id, &t.node).cloned();
            let state = match (&c, ctx.fleet.health(&t.node).0) {
                (Some(c), crate::fleet::Health::Ready) => c.state.clone(),
                (None, crate::fleet::Health::Ready) => "pending".into(),
                _ => "unknown".into(),
            };
            TaskInfo {
                id: t.id.clone(),
                service: svc.map(|x| x.spec.name.clone()).unwrap_or_default(),
                slot: t.slot,
                node: st
                    .nodes
                    .get(&t.node)
                    .map_or(t.node.clone(), |n| n.description.hostname.clone()),
                desired_state: t.desired.clone(),
                state,
                container: c.map(|c| c.id).unwrap_or_default(),
                image: svc.map(|x| x.spec.container.config.image.clone()).unwrap_or_default(),
                created_at: t.created_at.clone(),
                version: t.version,
                error: String::new(),
            }
        })
        .collect();
    // Replicas no node can take: pending, with the reason.
    let unplaced = ctx.unplaced.lock().unwrap_or_else(|e| e.into_inner()).clone();
    for (id, why) in &unplaced {
        let Some(svc) = st.services.get(id).filter(|x| only.as_ref().is_none_or(|o| &x.id == o)) else {
            continue;
        };
        let placed: std::collections::HashSet<u32> = st
            .tasks
            .values()
            .filter(|t| &t.service == id && t.desired == "running")
            .map(|t| t.slot)
            .collect();
        for slot in 1..=svc.spec.replicas {
            if !placed.contains(&slot) {
                out.push(TaskInfo {
                    service: svc.spec.name.clone(),
                    slot,
                    desired_state: "running".into(),
                    state: "pending".into(),
                    image: svc.spec.container.config.image.clone(),
                    error: why.clone(),
                    ..Default::default()
                });
            }
        }
    }
    out.sort_by(|a, b| (&a.service, a.slot, &b.created_at).cmp(&(&b.service, b.slot, &a.created_at)));
    Ok(Json(out))
}
