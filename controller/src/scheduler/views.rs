//! The scheduler's view of the fleet, cheap enough to ask thousands of
//! times a second. It is built in one pass over the replicated nodes and
//! the fleet's loads (one lock), and kept while the replicated state is
//! unchanged (same applied index) for at most `FRESH`. Each placement
//! counts what it takes in the view at once, so concurrent placements see
//! each other without a rebuild; the fleet's noted containers carry them
//! into the next build.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{pick, take, NoFit, NodeView, Request};
use crate::fleet::{Fleet, Health};
use crate::state::Store;

/// How long a view may be kept: health and reports change without raft.
const FRESH: Duration = Duration::from_millis(250);

/// Where a container goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placed {
    pub id: String,
    pub hostname: String,
}

#[derive(Default)]
pub struct Placer {
    views: Mutex<Option<Views>>,
}

struct Views {
    built: Instant,
    applied: u64,
    nodes: Vec<NodeView>,
}

/// Every node as the scheduler sees it right now.
pub fn node_views(store: &Store, fleet: &Fleet) -> Vec<NodeView> {
    let mut loads = fleet.loads();
    let st = store.read();
    st.nodes
        .values()
        .map(|n| {
            let (load, health) = loads.remove(&n.id).unwrap_or((Default::default(), Health::Down));
            NodeView {
                id: n.id.clone(),
                hostname: n.description.hostname.clone(),
                labels: n.labels.clone(),
                engine_labels: n.description.engine.labels.clone(),
                schedulable: health == Health::Ready && n.availability == "active",
                nano_cpus: n.description.resources.nano_cpus,
                memory: n.description.resources.memory_bytes,
                reserved_nano_cpus: load.nano_cpus,
                reserved_memory: load.memory,
                containers: load.containers,
                host_ports: load.host_ports,
            }
        })
        .collect()
}

impl Placer {
    /// Run `f` on the current view, rebuilt first when stale.
    fn with<T>(&self, store: &Store, fleet: &Fleet, f: impl FnOnce(&mut [NodeView]) -> T) -> T {
        let mut v = self.views.lock().unwrap_or_else(|e| e.into_inner());
        let applied = store.applied();
        let stale = v
            .as_ref()
            .is_none_or(|v| v.applied != applied || v.built.elapsed() > FRESH);
        if stale {
            *v = Some(Views {
                built: Instant::now(),
                applied,
                nodes: node_views(store, fleet),
            });
        }
        f(&mut v.as_mut().expect("built above").nodes)
    }

    /// Pick a node for `req` and count the container there.
    pub fn place(&self, store: &Store, fleet: &Fleet, req: &Request) -> Result<Placed, NoFit> {
        self.with(store, fleet, |nodes| {
            let i = pick(nodes, req)?;
            take(&mut nodes[i], req);
            Ok(Placed {
                id: nodes[i].id.clone(),
                hostname: nodes[i].hostname.clone(),
            })
        })
    }

    /// Place `count` tasks of one service in one go, each seeing those
    /// before it (`req.siblings` grows with them); stops at the first that
    /// fits nowhere and says why.
    pub fn place_many(
        &self,
        store: &Store,
        fleet: &Fleet,
        req: &mut Request,
        count: usize,
    ) -> (Vec<Placed>, Option<NoFit>) {
        self.with(store, fleet, |nodes| {
            let mut out = Vec::with_capacity(count);
            for _ in 0..count {
                let i = match pick(nodes, req) {
                    Ok(i) => i,
                    Err(why) => return (out, Some(why)),
                };
                take(&mut nodes[i], req);
                *req.siblings.entry(nodes[i].id.clone()).or_default() += 1;
                out.push(Placed {
                    id: nodes[i].id.clone(),
                    hostname: nodes[i].hostname.clone(),
                });
            }
            (out, None)
        })
    }

    /// Drop the view: the next placement builds a fresh one (a placement
    /// that was counted did not happen).
    pub fn forget(&self) {
        *self.views.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}
