//! A pass's new tasks: placed for every service's missing slots in one
//! go (each placement sees those before it), recorded through raft in
//! batches, and their containers made on their nodes many at a time.

use std::collections::HashMap;

use futures_util::StreamExt;
use skiff_common::cluster::proto;

use super::{SERVICE_LABEL, SERVICE_NAME_LABEL, SLOT_LABEL, TASK_LABEL};
use crate::scheduler::{self, Constraint, Strategy};
use crate::server::{now, Ctx};
use crate::state::model::{Service, Task};
use crate::state::{Command, StoreError};

/// Containers being made at once.
const MAKING_AT_ONCE: usize = 128;

/// What a service's task asks of its node; `siblings` from `tasks`.
fn request(s: &Service, tasks: &std::collections::BTreeMap<String, Task>) -> scheduler::Request {
    // Specs were checked when stored; what no longer parses is skipped.
    let mut want = scheduler::Request {
        strategy: Strategy::parse(&s.spec.placement).unwrap_or_default(),
        nano_cpus: s.spec.container.host_config.resources.nano_cpus,
        memory: s.spec.container.host_config.resources.memory,
        host_ports: skiff_api::host_ports(&s.spec.container.host_config.port_bindings),
        constraints: s.spec.constraints.iter().flat_map(|c| Constraint::parse(c)).collect(),
        spread_over: s
            .spec
            .placement_prefs
            .iter()
            .flat_map(|p| scheduler::parse_preference(p))
            .collect(),
        ..Default::default()
    };
    for t in tasks.values() {
        if t.service == s.id && t.desired == "running" {
            *want.siblings.entry(t.node.clone()).or_default() += 1;
        }
    }
    want
}

/// Place a task for each missing slot of each service, record them, and
/// make their containers. Returns, by service ID, why slots are left
/// unplaced.
pub async fn fill(
    ctx: &Ctx,
    missing: Vec<(&Service, Vec<u32>)>,
    tasks: &std::collections::BTreeMap<String, Task>,
) -> Result<HashMap<String, String>, StoreError> {
    let mut unplaced = HashMap::new();
    let mut new: Vec<(&Service, Task)> = Vec::new();
    for (s, slots) in missing {
        let mut want = request(s, tasks);
        let (placed, why) = ctx.placer.place_many(&ctx.store, &ctx.fleet, &mut want, slots.len());
        for (slot, node) in slots.into_iter().zip(placed) {
            let task = Task {
                id: crate::pki::random_id(25),
                service: s.id.clone(),
                slot,
                node: node.id,
                created_at: now(),
                desired: "running".into(),
                version: s.version,
            };
            new.push((s, task));
        }
        if let Some(why) = why {
            unplaced.insert(s.id.clone(), why.to_string());
        }
    }
    let adds = new.iter().map(|(_, t)| Command::AddTask { task: t.clone() }).collect();
    if let Err(e) = super::propose_all(ctx, adds).await {
        // What was counted in the placer's view did not happen.
        ctx.placer.forget();
        return Err(e);
    }
    let making: Vec<_> = new.iter().map(|(s, t)| make_logged(ctx, s, t)).collect();
    futures_util::stream::iter(making)
        .buffer_unordered(MAKING_AT_ONCE)
        .collect::<Vec<()>>()
        .await;
    if !new.is_empty() {
        tracing::info!(tasks = new.len(), "tasks placed");
    }
    Ok(unplaced)
}

async fn make_logged(ctx: &Ctx, s: &Service, t: &Task) {
    if let Err(e) = make_container(ctx, s, t).await {
        tracing::warn!(task = %t.id, "making its container: {e}");
    }
}

/// Create and start a task's container on its node.
pub async fn make_container(ctx: &Ctx, s: &Service, t: &Task) -> Result<(), String> {
    let mut spec = s.spec.container.clone();
    let labels = [
        (TASK_LABEL, t.id.clone()),
        (SERVICE_LABEL, s.id.clone()),
        (SERVICE_NAME_LABEL, s.spec.name.clone()),
        (SLOT_LABEL, t.slot.to_string()),
    ];
    for (k, v) in &labels {
        spec.config.labels.insert(k.to_string(), v.clone());
    }
    let name = format!("{}.{}.{}", s.spec.name, t.slot, &t.id[..12]);
    let body = serde_json::to_vec(&spec).map_err(|e| e.to_string())?;
    let path = format!("/containers/create?name={}", skiff_client::enc(&name));
    let (status, data) = ctx
        .fleet
        .call_once(&t.node, "POST", &path, body)
        .await
        .map_err(|e| e.to_string())?;
    if status >= 300 {
        return Err(String::from_utf8_lossy(&data).into_owned());
    }
    let id = serde_json::from_slice::<serde_json::Value>(&data)
        .ok()
        .and_then(|v| v["Id"].as_str().map(str::to_string))
        .unwrap_or_default();
    let (status, data) = ctx
        .fleet
        .call_once(&t.node, "POST", &format!("/containers/{id}/start"), Vec::new())
        .await
        .map_err(|e| e.to_string())?;
    if status >= 300 {
        return Err(String::from_utf8_lossy(&data).into_owned());
    }
    ctx.fleet.note_created(
        &t.node,
        proto::Container {
            id: id.clone(),
            name,
            image: spec.config.image.clone(),
            state: "running".into(),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
            nano_cpus: spec.host_config.resources.nano_cpus,
            memory: spec.host_config.resources.memory,
            host_ports: skiff_api::host_ports(&spec.host_config.port_bindings),
        },
    );
    tracing::debug!(task = %t.id, node = %t.node, "task started");
    Ok(())
}
