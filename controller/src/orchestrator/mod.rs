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

use crate::fleet::Health;
use crate::server::Ctx;
use crate::state::model::Task;
use crate::state::{Command, StoreError};

mod roll;
mod tasks;

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
    ctx.fleet.runs(&t.node, TASK_LABEL, &t.id)
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

async fn reconcile(ctx: &Ctx, rollouts: &mut HashMap<String, Instant>) -> Result<(), StoreError> {
    let services = ctx.store.read().services.clone();
    // 1. Tasks on nodes that can no longer keep them.
    // (No read guard may be held across `keeps_tasks`, which reads too: a
    // second read waits behind the raft thread's pending write.)
    let tasks = ctx.store.read().tasks.clone();
    let moving: Vec<Command> = tasks
        .values()
        .filter(|t| t.desired == "running" && keeps_tasks(ctx, &t.node) == Some(false))
        .map(|t| {
            tracing::info!(task = %t.id, node = %t.node, "moving task off its node");
            Command::ShutdownTask { id: t.id.clone() }
        })
        .collect();
    propose_all(ctx, moving).await?;
    // 2. Slots: shut down the surplus, fill the missing.
    let tasks = ctx.store.read().tasks.clone();
    let mut surplus = Vec::new();
    let mut missing = Vec::new();
    for s in services.values() {
        let mut slots: BTreeMap<u32, &Task> = BTreeMap::new();
        for t in tasks.values().filter(|t| t.service == s.id && t.desired == "running") {
            slots.insert(t.slot, t);
        }
        for (slot, t) in &slots {
            if *slot > s.spec.replicas {
                surplus.push(Command::ShutdownTask { id: t.id.clone() });
            }
        }
        let empty: Vec<u32> = (1..=s.spec.replicas).filter(|n| !slots.contains_key(n)).collect();
        if !empty.is_empty() {
            missing.push((s, empty));
        }
    }
    propose_all(ctx, surplus).await?;
    let unplaced = tasks::fill(ctx, missing, &tasks).await?;
    let before = std::mem::replace(
        &mut *ctx.unplaced.lock().unwrap_or_else(|e| e.into_inner()),
        unplaced.clone(),
    );
    for (id, why) in &unplaced {
        if before.get(id) != Some(why) {
            tracing::warn!(service = %id, "cannot place its missing replicas: {why}");
        }
    }
    roll::step(ctx, rollouts).await?;
    // 3. Running tasks: their containers exist and run.
    // Containers and readiness as of one instant: the loop below awaits,
    // and nodes that connect meanwhile are not in `found`.
    let tasks = ctx.store.read().tasks.clone();
    let found = ctx.fleet.tasks(TASK_LABEL);
    for t in tasks.values().filter(|t| t.desired == "running") {
        if !found.ready.contains(&t.node) || keeps_tasks(ctx, &t.node) != Some(true) {
            continue;
        }
        match found.on(&t.id, &t.node) {
            Some(c) if c.state == "exited" || c.state == "created" => {
                let path = format!("/containers/{}/start", c.id);
                let _ = ctx.fleet.call_once(&t.node, "POST", &path, Vec::new()).await;
            }
            Some(_) => {}
            None if age(&t.created_at) > APPEAR_GRACE => {
                if let Some(s) = services.get(&t.service) {
                    tracing::info!(task = %t.id, "task container vanished; making it again");
                    let _ = tasks::make_container(ctx, s, t).await;
                }
            }
            None => {}
        }
    }
    // 4. Containers nobody wants any more, on nodes that answer.
    let mut gone = Vec::new();
    for (tid, cs) in &found.containers {
        for c in cs {
            let task = tasks.get(tid);
            if task.is_some_and(|t| t.desired == "running" && t.node == c.node)
                || !found.ready.contains(&c.node)
                || ctx.fleet.health(&c.node).0 != Health::Ready
            {
                continue;
            }
            let path = format!("/containers/{}?force=1", c.id);
            match ctx.fleet.call_once(&c.node, "DELETE", &path, Vec::new()).await {
                Ok((s, _)) if s < 300 || s == 404 => {
                    tracing::info!(task = %tid, node = %c.node, "removed a task's container");
                    if task.is_some_and(|t| t.desired == "shutdown") {
                        gone.push(Command::RemoveTask { id: tid.clone() });
                    }
                }
                other => tracing::warn!(task = %tid, "could not remove its container: {other:?}"),
            }
        }
    }
    // Shut-down tasks whose container is already gone from a ready node.
    for t in tasks.values().filter(|t| t.desired == "shutdown") {
        if found.on(&t.id, &t.node).is_none() && found.ready.contains(&t.node) {
            gone.push(Command::RemoveTask { id: t.id.clone() });
        }
    }
    propose_all(ctx, gone).await
}

/// Record `commands` through raft, in one entry per `PER_ENTRY`.
pub(super) async fn propose_all(ctx: &Ctx, mut commands: Vec<Command>) -> Result<(), StoreError> {
    const PER_ENTRY: usize = 500;
    while !commands.is_empty() {
        let rest = commands.split_off(commands.len().min(PER_ENTRY));
        let batch = std::mem::replace(&mut commands, rest);
        let cmd = if batch.len() == 1 {
            batch.into_iter().next().expect("one")
        } else {
            Command::Batch { commands: batch }
        };
        ctx.store.propose(cmd).await?;
    }
    Ok(())
}

fn age(rfc3339: &str) -> Duration {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .and_then(|t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).to_std().ok())
        .unwrap_or_default()
}
