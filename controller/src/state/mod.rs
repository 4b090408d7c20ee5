//! The controller's state, replicated through raft (tikv raft-rs) and
//! persisted in `<data>/raft/`. One thread drives the `RawNode`: it batches
//! proposals, ticks, persists entries and hard state before anything is
//! acknowledged, applies committed commands to `ClusterState`, answers the
//! proposers, and cuts the log into a snapshot every `SNAPSHOT_EVERY`
//! entries. Today the cluster has one voter (this controller); replication
//! to more is a matter of carrying `Ready` messages, which the loop already
//! has a place for.

mod disk;
pub mod model;

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use protobuf::Message as _;
use raft::prelude::{ConfChange, ConfChangeV2, ConfState, Entry, EntryType, Snapshot};
use raft::storage::MemStorage;
use raft::{Config, RawNode, Storage};
use tokio::sync::oneshot;

pub use model::{ApplyError, ClusterState, Command, NodeRecord};

const TICK: Duration = Duration::from_millis(100);
const SNAPSHOT_EVERY: u64 = 1000;
/// This controller's raft ID (one voter until controllers replicate).
const RAFT_ID: u64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Rejected(#[from] ApplyError),
    #[error("the controller's state store is not accepting changes: {0}")]
    Unavailable(String),
    #[error("state store: {0}")]
    Io(#[from] std::io::Error),
    #[error("raft: {0}")]
    Raft(#[from] raft::Error),
}

struct Proposal {
    cmd: Command,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// The handle everyone else holds: read the applied state, propose changes.
pub struct Store {
    state: Arc<RwLock<ClusterState>>,
    tx: std_mpsc::Sender<Proposal>,
}

impl Store {
    /// Load what is on disk, replay it, and start the raft thread.
    pub fn open(dir: &Path) -> Result<Arc<Store>, StoreError> {
        let (disk, loaded) = disk::Disk::open(dir)?;
        let mut state = ClusterState::default();
        let storage = MemStorage::new_with_conf_state(ConfState::from((vec![RAFT_ID], vec![])));
        let mut applied = 0;
        if let Some(snap) = loaded.snapshot {
            state = serde_json::from_slice(snap.get_data())
                .map_err(|e| std::io::Error::other(format!("raft snapshot: {e}")))?;
            applied = snap.get_metadata().index;
            storage.wl().apply_snapshot(snap)?;
        }
        storage.wl().append(&loaded.entries)?;
        if let Some(mut hs) = loaded.hard_state {
            hs.commit = hs.commit.max(applied);
            storage.wl().set_hardstate(hs);
        }
        let cfg = Config {
            id: RAFT_ID,
            election_tick: 10,
            heartbeat_tick: 1,
            pre_vote: true,
            check_quorum: true,
            max_size_per_msg: 1 << 20,
            max_inflight_msgs: 256,
            applied,
            ..Default::default()
        };
        let logger = slog::Logger::root(TracingDrain, slog::o!());
        let mut node = RawNode::new(&cfg, storage, &logger)?;
        node.campaign()?;
        let state = Arc::new(RwLock::new(state));
        let (tx, rx) = std_mpsc::channel();
        let mut driver = Driver {
            node,
            disk,
            state: state.clone(),
            pending: HashMap::new(),
            next_id: 0,
            applied,
            snapshot_index: applied,
        };
        // Replay the committed log before anyone reads the state.
        for _ in 0..100 {
            if !driver.node.has_ready() {
                break;
            }
            driver.on_ready()?;
        }
        std::thread::Builder::new()
            .name("raft".into())
            .spawn(move || driver.run(rx))?;
        Ok(Arc::new(Store { state, tx }))
    }

    pub fn read(&self) -> RwLockReadGuard<'_, ClusterState> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Replicate a command and wait until it is applied.
    pub async fn propose(&self, cmd: Command) -> Result<(), StoreError> {
        let (done, rx) = oneshot::channel();
        self.tx
            .send(Proposal { cmd, done })
            .map_err(|_| StoreError::Unavailable("raft thread stopped".into()))?;
        match tokio::time::timeout(Duration::from_secs(10), rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(StoreError::Unavailable("proposal dropped".into())),
            Err(_) => Err(StoreError::Unavailable(
                "timed out waiting for the change to commit".into(),
            )),
        }
    }
}

struct Driver {
    node: RawNode<MemStorage>,
    disk: disk::Disk,
    state: Arc<RwLock<ClusterState>>,
    pending: HashMap<u64, oneshot::Sender<Result<(), StoreError>>>,
    next_id: u64,
    applied: u64,
    snapshot_index: u64,
}

impl Driver {
    fn run(&mut self, rx: std_mpsc::Receiver<Proposal>) {
        let mut next_tick = Instant::now() + TICK;
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(p) => {
                    self.propose(p);
                    // Batch whatever else is queued into the same fsync.
                    while let Ok(p) = rx.try_recv() {
                        self.propose(p);
                    }
                }
                Err(std_mpsc::RecvTimeoutError::Timeout) => {}
                Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
            }
            if Instant::now() >= next_tick {
                self.node.tick();
                next_tick += TICK;
            }
            if let Err(e) = self.on_ready() {
                // Without durable storage nothing may be acknowledged.
                tracing::error!("raft storage failed, refusing changes: {e}");
                for (_, done) in self.pending.drain() {
                    let _ = done.send(Err(StoreError::Unavailable(e.to_string())));
                }
                return;
            }
        }
    }

    fn propose(&mut self, p: Proposal) {
        self.next_id += 1;
        let data = match serde_json::to_vec(&p.cmd) {
            Ok(d) => d,
            Err(e) => {
                let _ = p.done.send(Err(StoreError::Unavailable(e.to_string())));
                return;
            }
        };
        match self.node.propose(self.next_id.to_le_bytes().to_vec(), data) {
            Ok(()) => {
                self.pending.insert(self.next_id, p.done);
            }
            Err(e) => {
                let _ = p
                    .done
                    .send(Err(StoreError::Unavailable(format!("not the leader ({e})"))));
            }
        }
    }

    fn on_ready(&mut self) -> Result<(), StoreError> {
        if !self.node.has_ready() {
            return Ok(());
        }
        let mut ready = self.node.ready();
        // Messages to other controllers would go out here (none yet).
        let _ = ready.take_messages();
        if !ready.snapshot().is_empty() {
            let snap = ready.snapshot().clone();
            self.install_snapshot(snap)?;
        }
        let committed = ready.take_committed_entries();
        self.apply(committed)?;
        if !ready.entries().is_empty() {
            self.disk.append(ready.entries())?;
            self.node.mut_store().wl().append(ready.entries())?;
        }
        if let Some(hs) = ready.hs() {
            self.disk.set_hard_state(hs)?;
            self.node.mut_store().wl().set_hardstate(hs.clone());
        }
        let _ = ready.take_persisted_messages();
        let mut light = self.node.advance(ready);
        if let Some(commit) = light.commit_index() {
            let hs = {
                let store = self.node.mut_store();
                let mut w = store.wl();
                w.mut_hard_state().commit = commit;
                w.hard_state().clone()
            };
            self.disk.set_hard_state(&hs)?;
        }
        let _ = light.take_messages();
        self.apply(light.take_committed_entries())?;
        self.node.advance_apply();
        self.maybe_compact()?;
        Ok(())
    }

    fn install_snapshot(&mut self, snap: Snapshot) -> Result<(), StoreError> {
        let state: ClusterState = serde_json::from_slice(snap.get_data())
            .map_err(|e| std::io::Error::other(format!("raft snapshot: {e}")))?;
        let index = snap.get_metadata().index;
        self.disk.compact(&snap, &[])?;
        self.node.mut_store().wl().apply_snapshot(snap)?;
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = state;
        self.applied = index;
        self.snapshot_index = index;
        Ok(())
    }

    fn apply(&mut self, entries: Vec<Entry>) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        for e in entries {
            match e.get_entry_type() {
                EntryType::EntryNormal if !e.data.is_empty() => {
                    let result = match serde_json::from_slice::<Command>(&e.data) {
                        Ok(cmd) => self
                            .state
                            .write()
                            .unwrap_or_else(|p| p.into_inner())
                            .apply(cmd)
                            .map_err(StoreError::from),
                        Err(err) => {
                            tracing::error!(index = e.index, "unreadable raft entry skipped: {err}");
                            Err(StoreError::Unavailable(err.to_string()))
                        }
                    };
                    if let Ok(id) = <[u8; 8]>::try_from(&e.context[..]) {
                        if let Some(done) = self.pending.remove(&u64::from_le_bytes(id)) {
                            let _ = done.send(result);
                        }
                    }
                }
                EntryType::EntryNormal => {}
                EntryType::EntryConfChange => {
                    let cc = ConfChange::parse_from_bytes(&e.data).map_err(|x| std::io::Error::other(x.to_string()))?;
                    let cs = self.node.apply_conf_change(&cc)?;
                    self.node.mut_store().wl().set_conf_state(cs);
                }
                EntryType::EntryConfChangeV2 => {
                    let cc =
                        ConfChangeV2::parse_from_bytes(&e.data).map_err(|x| std::io::Error::other(x.to_string()))?;
                    let cs = self.node.apply_conf_change(&cc)?;
                    self.node.mut_store().wl().set_conf_state(cs);
                }
            }
            self.applied = e.index;
        }
        Ok(())
    }

    /// Every `SNAPSHOT_EVERY` applied entries: write the state as a
    /// snapshot at the applied index and drop the log before it.
    fn maybe_compact(&mut self) -> Result<(), StoreError> {
        if self.applied < self.snapshot_index + SNAPSHOT_EVERY {
            return Ok(());
        }
        let store = self.node.store().clone();
        let index = self.applied;
        let mut snap = Snapshot::default();
        {
            let data = serde_json::to_vec(&*self.state.read().unwrap_or_else(|e| e.into_inner()))
                .map_err(std::io::Error::other)?;
            snap.data = data.into();
        }
        let meta = snap.mut_metadata();
        meta.index = index;
        meta.term = store.term(index)?;
        meta.set_conf_state(store.initial_state()?.conf_state);
        let last = store.last_index()?;
        let rest = store.entries(index + 1, last + 1, None, raft::GetEntriesContext::empty(false))?;
        self.disk.compact(&snap, &rest)?;
        store.wl().compact(index)?;
        self.snapshot_index = index;
        tracing::debug!(index, "raft log compacted into a snapshot");
        Ok(())
    }
}

/// raft-rs logs through slog; send it on to tracing.
struct TracingDrain;

impl slog::Drain for TracingDrain {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &slog::Record<'_>, _: &slog::OwnedKVList) -> Result<(), slog::Never> {
        let msg = record.msg().to_string();
        match record.level() {
            slog::Level::Critical | slog::Level::Error => tracing::error!(target: "raft", "{msg}"),
            slog::Level::Warning => tracing::warn!(target: "raft", "{msg}"),
            slog::Level::Info => tracing::debug!(target: "raft", "{msg}"),
            _ => tracing::trace!(target: "raft", "{msg}"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_certs::cluster::Role;

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn changes_survive_a_restart_through_snapshots_and_the_log() {
        let dir = std::env::temp_dir().join(format!("skiff-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let s = Store::open(&dir).unwrap();
            s.propose(Command::Init {
                id: "c1".into(),
                at: "t".into(),
                tokens: Default::default(),
            })
            .await
            .unwrap();
            // Enough changes to cut a snapshot and leave a log tail after it.
            for i in 0..(SNAPSHOT_EVERY + 20) {
                s.propose(Command::RotateToken {
                    role: Role::Agent,
                    secret: format!("secret-{i}"),
                })
                .await
                .unwrap();
            }
            assert!(matches!(
                s.propose(Command::RemoveNode { id: "nope".into() }).await,
                Err(StoreError::Rejected(ApplyError::NoNode(_)))
            ));
        }
        assert!(dir.join("snapshot").exists());
        // The old thread exits once its handle is dropped; give it a tick.
        tokio::time::sleep(TICK * 2).await;
        let s = Store::open(&dir).unwrap();
        let st = s.read();
        assert_eq!(st.id, "c1");
        assert_eq!(st.tokens[&Role::Agent], format!("secret-{}", SNAPSHOT_EVERY + 19));
        drop(st);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
