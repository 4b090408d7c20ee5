//! Rolling updates: a service whose container spec changed (`service
//! update --image …`) has its tasks of older versions replaced
//! `update_parallelism` at a time, each step once the last one runs.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::task_running;
use crate::server::Ctx;
use crate::state::model::Task;
use crate::state::{Command, StoreError};

/// A rolling update's next step: shut down up to `parallelism` tasks of
/// older versions (their slots are refilled from the new spec on the
/// next pass), once the tasks of the previous step run and the delay has
/// passed. `rollouts` remembers each service's last step.
pub async fn step(ctx: &Ctx, rollouts: &mut HashMap<String, Instant>) -> Result<(), StoreError> {
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
