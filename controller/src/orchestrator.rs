//! Keeps services at their replica count: once a second it compares what
//! should run (services and tasks, from the replicated state) with what
//! runs (the containers nodes report) and closes the gap.
//!
//! - A task whose node is down (no heartbeat for longer than the timeout),
//!   drained, paused or removed is shut down, and its slot gets a new task
//!   on a node the scheduler picks.
//! - Slots missing (new service, scale up) get tasks; slots above the
//!   count (scale down) are shut down.
//! - A task's container that stopped is started again; one that vanished
//!   from a ready node is made again.
//! - A service whose container spec changed (`service update --image …`)
//!   is rolled over: tasks of the old version are replaced
//!   `update_parallelism` at a time, each step once the last one runs.
//! - Containers of tasks that are shut down or unknown are removed as soon
//!   as their node is reachable, so a node coming back after its tasks
//!   moved converges to N copies instead of N + k.
//!
//! Nodes in their grace period after a controller restart (state
//! "unknown") are left alone: healthy work is never killed for a
//! controller outage.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use skiff_common::cluster::proto;

use crate::fleet::Health;
use crate::scheduler::{self, Constraint, Strategy};
use crate::server::{now, Ctx};
use crate::state::model::Task;
use crate::state::{Command, StoreError};

pub const TASK_LABEL: &str = "skiff.task.id";
pub const SERVICE_LABEL: &str = "skiff.service.id";
pub const SERVICE_NAME_LABEL: &str = "skiff.service.name";
pub const SLOT_LABEL: &str = "skiff.task.slot";

/// A task's container may take this long to show up in its node's report.
const APPEAR_GRACE: Duration = Duration::from_secs(15);

pub async fn run(ctx: Arc<Ctx>) {
    // Leadership is checked often (a new leader's grace must begin before
    // anyone reads node health); a pass runs every second.
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut rollouts = HashMap::new();
    let mut leading = false;
    let mut last_pass = Instant::now() - Duration::from_secs(1);
    loop {
        tick.tick().await;
        // Only the leader orchestrates; a new leader starts from a full
        // reconcile, after a grace period for the agents to reconnect.
        match (leading, ctx.store.is_leader()) {
            (false, true) => {
                tracing::info!(term = ctx.store.term(), "this controller is the leader");
                ctx.fleet.lead_from_now();
                rollouts.clear();
                leading = true;
            }
            (true, false) => {
                tracing::info!(leader = ctx.store.leader(), "this controller no longer leads");
                ctx.fleet.drop_all();
                leading = false;
            }
            _ => {}
        }
        if !leading || last_pass.elapsed() < Duration::from_secs(1) {
            continue;
        }
        last_pass = Instant::now();
        crate::members::promote_caught_up(&ctx).await;
        if let Err(e) = reconcile(&ctx, &mut rollouts).await {
            tracing::warn!("orchestrator: {e}");
        }
    }
}

/// Does the task's container run on its node?
pub fn task_running(ctx: &Ctx, t: &Task) -> bool {
    ctx.fleet
        .containers(&t.node)
        .iter()
        .any(|c| task_of(c) == Some(t.id.as_str()) && c.state == "running")
}

/// A rolling update's next step: shut down up to `parallelism` tasks of
/// older versions (their slots are refilled from the new spec on the
/// next pass), once the tasks of the previous step run and the delay has
/// passed. `rollouts` remembers each service's last step.
async fn roll(ctx: &Ctx, rollouts: &mut HashMap<String, Instant>) -> Result<(), StoreError> {
    let (services, tasks) = {
        let st = ctx.store.read();
        (st.services.clone(), st.tasks.clone())
    };
    rollouts.retain(|id, _| services.contains_key(id));
    for s in services.values() {
        let live: Vec<&Task> = tasks
            .values()
            .filter(|t| t.service == s.id && t.desired == "running")
            .collect();
        let stale: Vec<&&Task> = live.iter().filter(|t| t.version < s.version).collect();
        if stale.is_empty() {
            if rollouts.remove(&s.id).is_some() {
                tracing::info!(service = %s.spec.name, version = s.version, "update completed");
            }
            continue;
        }
        let parallelism = s.spec.update_parallelism.max(1) as usize;
        // In flight: new tasks not running yet, and slots not refilled yet
        // (a slot no node can take now must not let the update go on and
        // take every replica down).
        let starting = live
            .iter()
            .filter(|t| t.version == s.version && !task_running(ctx, t))
            .count()
            + (s.spec.replicas as usize).saturating_sub(live.len());
        let unplaced = ctx
            .unplaced
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&s.id);
        let delay = Duration::from_millis(s.spec.update_delay_ms);
        if unplaced || starting >= parallelism || rollouts.get(&s.id).is_some_and(|at| at.elapsed() < delay) {
            continue;
        }
        for t in stale.iter().take(parallelism - starting) {
            tracing::info!(service = %s.spec.name, task = %t.id, version = s.version, "updating task");
            ctx.store.propose(Command::ShutdownTask { id: t.id.clone() }).await?;
        }
        rollouts.insert(s.id.clone(), Instant::now());
    }
    Ok(())
}

/// Is the node fit to keep its tasks? `None`: don't know yet (grace).
fn keeps_tasks(ctx: &Ctx, node: &str) -> Option<bool> {
    let st = ctx.store.read();
    let Some(n) = st.nodes.get(node) else {
        return Some(false);
    };
    if n.availability != "active" {
        return Some(false);
    }
    match ctx.fleet.health(node).0 {
        Health::Ready => Some(true),
        Health::Down => Some(false),
        Health::Unknown => None,
    }
}

fn task_of(c: &proto::Container) -> Option<&str> {
    c.labels.get(TASK_LABEL).map(String::as_str)
}

async fn reconcile(ctx: &Ctx, rollouts: &mut HashMap<String, Instant>) -> Result<(), StoreError> {
    let (services, tasks) = {
        let st = ctx.store.read();
        (st.services.clone(), st.tasks.clone())
    };
    // 1. Tasks on nodes that can no longer keep them.
    for t in tasks.values().filter(|t| t.desired == "running") {
        if keeps_tasks(ctx, &t.node) == Some(false) {
            tracing::info!(task = %t.id, node = %t.node, "moving task off its node");
            ctx.store.propose(Command::ShutdownTask { id: t.id.clone() }).await?;
        }
    }
    // 2. Slots: fill the missing, shut down the surplus.
    let tasks = ctx.store.read().tasks.clone();
    let mut unplaced = std::collections::HashMap::new();
    for s in services.values() {
        let mut slots: BTreeMap<u32, &Task> = BTreeMap::new();
        for t in tasks.values().filter(|t| t.service == s.id && t.desired == "running") {
            slots.insert(t.slot, t);
        }
        for (slot, t) in &slots {
            if *slot > s.spec.replicas {
                ctx.store.propose(Command::ShutdownTask { id: t.id.clone() }).await?;
            }
        }
        for slot in 1..=s.spec.replicas {
            if slots.contains_key(&slot) {
                continue;
            }
            if let Err(why) = start_task(ctx, s, slot).await? {
                unplaced.insert(s.id.clone(), why.to_string());
                break;
            }
        }
    }
    let before = std::mem::replace(
        &mut *ctx.unplaced.lock().unwrap_or_else(|e| e.into_inner()),
        unplaced.clone(),
    );
    for (id, why) in &unplaced {
        if before.get(id) != Some(why) {
            tracing::warn!(service = %id, "cannot place its missing replicas: {why}");
        }
    }
    roll(ctx, rollouts).await?;
    // 3. Running tasks: their containers exist and run.
    let tasks = ctx.store.read().tasks.clone();
    for t in tasks.values().filter(|t| t.desired == "running") {
        if keeps_tasks(ctx, &t.node) != Some(true) {
            continue;
        }
        let list = ctx.fleet.containers(&t.node);
        match list.iter().find(|c| task_of(c) == Some(t.id.as_str())) {
            Some(c) if c.state == "exited" || c.state == "created" => {
                let path = format!("/containers/{}/start", c.id);
                let _ = ctx.fleet.call_once(&t.node, "POST", &path, Vec::new()).await;
            }
            Some(_) => {}
            None if age(&t.created_at) > APPEAR_GRACE => {
                if let Some(s) = services.get(&t.service) {
                    tracing::info!(task = %t.id, "task container vanished; making it again");
                    let _ = make_container(ctx, s, t).await;
                }
            }
            None => {}
        }
    }
    // 4. Containers nobody wants any more.
    let st_tasks = ctx.store.read().tasks.clone();
    let nodes: Vec<String> = ctx.store.read().nodes.keys().cloned().collect();
    for node in nodes {
        if ctx.fleet.health(&node).0 != Health::Ready {
            continue;
        }
        for c in ctx.fleet.containers(&node) {
            let Some(tid) = task_of(&c) else { continue };
            let wanted = st_tasks
                .get(tid)
                .is_some_and(|t| t.desired == "running" && t.node == node);
            if wanted {
                continue;
            }
            let path = format!("/containers/{}?force=1", c.id);
            match ctx.fleet.call_once(&node, "DELETE", &path, Vec::new()).await {
                Ok((s, _)) if s < 300 || s == 404 => {
                    tracing::info!(task = %tid, node = %node, "removed a task's container");
                    if st_tasks.get(tid).is_some_and(|t| t.desired == "shutdown") {
                        ctx.store.propose(Command::RemoveTask { id: tid.to_string() }).await?;
                    }
                }
                other => tracing::warn!(task = %tid, "could not remove its container: {other:?}"),
            }
        }
    }
    // Shut-down tasks whose container is already gone from a ready node.
    for t in st_tasks.values().filter(|t| t.desired == "shutdown") {
        let ready = ctx.fleet.health(&t.node).0 == Health::Ready;
        let present = ctx
            .fleet
            .containers(&t.node)
            .iter()
            .any(|c| task_of(c) == Some(t.id.as_str()));
        if ready && !present {
            ctx.store.propose(Command::RemoveTask { id: t.id.clone() }).await?;
        }
    }
    Ok(())
}

fn age(rfc3339: &str) -> Duration {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .and_then(|t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).to_std().ok())
        .unwrap_or_default()
}

/// Place a new task for `slot`, record it, and make its container; or
/// say why no node can take it.
async fn start_task(
    ctx: &Ctx,
    s: &crate::state::model::Service,
    slot: u32,
) -> Result<Result<(), scheduler::NoFit>, StoreError> {
    let mut want = scheduler::Request {
        strategy: Strategy::parse(&s.spec.placement).unwrap_or_default(),
        nano_cpus: s.spec.container.host_config.resources.nano_cpus,
        memory: s.spec.container.host_config.resources.memory,
        host_ports: skiff_api::host_ports(&s.spec.container.host_config.port_bindings),
        ..Default::default()
    };
    for c in &s.spec.constraints {
        if let Ok(c) = Constraint::parse(c) {
            want.constraints.push(c);
        }
    }
    for t in ctx.store.read().tasks.values() {
        if t.service == s.id && t.desired == "running" {
            *want.siblings.entry(t.node.clone()).or_default() += 1;
        }
    }
    let nodes = ctx.node_views();
    let node = match scheduler::place(&nodes, &want) {
        Ok(n) => n.id.clone(),
        Err(why) => return Ok(Err(why)),
    };
    let task = Task {
        id: crate::pki::random_id(25),
        service: s.id.clone(),
        slot,
        node,
        created_at: now(),
        desired: "running".into(),
        version: s.version,
    };
    ctx.store.propose(Command::AddTask { task: task.clone() }).await?;
    if let Err(e) = make_container(ctx, s, &task).await {
        tracing::warn!(task = %task.id, "making its container: {e}");
    }
    Ok(Ok(()))
}

/// Create and start a task's container on its node.
async fn make_container(ctx: &Ctx, s: &crate::state::model::Service, t: &Task) -> Result<(), String> {
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
    tracing::info!(task = %t.id, node = %t.node, "task started");
    Ok(())
}
