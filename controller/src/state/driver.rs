//! The one owner of a controller's `RawNode`: it takes proposals and peers'
//! raft messages, ticks, persists entries and hard state before anything
//! is acknowledged or sent, applies committed commands to `ClusterState`,
//! answers the proposers, hands outbound messages to a [`Transport`], and
//! cuts the log into a snapshot every `SNAPSHOT_EVERY` entries.
//!
//! Everything but [`Driver::run`] is synchronous and deterministic, so the
//! same code runs under the stepped simulation in `sim` (tests).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use protobuf::Message as _;
use raft::prelude::{ConfChange, ConfChangeV2, ConfState, Entry, EntryType, Message, Snapshot};
use raft::storage::MemStorage;
use raft::{Config, RawNode, StateRole, Storage};
use tokio::sync::oneshot;

use super::storage::SnapStorage;
use super::{disk, ClusterState, Command, ConfProposal, Proposal, RaftStatus, StoreError, TracingDrain};

pub const TICK: Duration = Duration::from_millis(100);
pub const SNAPSHOT_EVERY: u64 = 1000;

/// What the driver's thread is sent.
pub enum Input {
    Propose(Box<Proposal>),
    /// Add, promote or remove a controller.
    ConfChange(Box<ConfProposal>),
    /// A message from another controller.
    Step(Message),
    /// Report the raft state (and, on the leader, each peer's progress).
    Status(oneshot::Sender<RaftStatus>),
    /// Cut a snapshot now.
    Compact(oneshot::Sender<Result<(), StoreError>>),
}

/// What the rest of the controller may read without asking the driver:
/// the leader it last heard of, the term, and how far the state is
/// applied (it changes whenever the state may have).
#[derive(Default)]
pub struct Lead {
    pub leader: AtomicU64,
    pub term: AtomicU64,
    pub id: AtomicU64,
    pub applied: AtomicU64,
}

/// Where messages to other controllers go. Sending never blocks the
/// driver; a lost message is raft's to retry.
pub trait Transport: Send + 'static {
    fn send(&mut self, msgs: Vec<Message>);

    /// Snapshots sent since the last call, by peer: delivered or not. Raft
    /// waits for this before it sends the peer anything else.
    fn snapshots_sent(&mut self) -> Vec<(u64, bool)> {
        Vec::new()
    }
}

/// A controller alone: nothing to send.
pub struct NoPeers;

impl Transport for NoPeers {
    fn send(&mut self, msgs: Vec<Message>) {
        if !msgs.is_empty() {
            tracing::trace!(n = msgs.len(), "raft messages with no peer to carry them");
        }
    }
}

pub struct Driver {
    node: RawNode<SnapStorage>,
    disk: disk::Disk,
    state: Arc<RwLock<ClusterState>>,
    /// Proposals waiting to be applied, by the key in their entry's
    /// context: this controller's raft ID and a counter, so an entry
    /// proposed elsewhere never answers a proposer here.
    pending: HashMap<[u8; 16], oneshot::Sender<Result<(), StoreError>>>,
    next_id: u64,
    applied: u64,
    /// `applied`, for the storage's snapshots.
    applied_shared: Arc<AtomicU64>,
    snapshot_index: u64,
    lead: Arc<Lead>,
}

impl Driver {
    /// Load `dir`, replay it, and make the raft node `id` of a cluster
    /// whose voters (on first start) are `voters`.
    pub fn open(dir: &Path, id: u64, voters: &[u64]) -> Result<Driver, StoreError> {
        let (disk, loaded) = disk::Disk::open(dir)?;
        let mut state = ClusterState::default();
        let storage = if voters.is_empty() {
            // A joining controller: everything comes from the leader.
            MemStorage::new()
        } else {
            MemStorage::new_with_conf_state(ConfState::from((voters.to_vec(), vec![])))
        };
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
            id,
            election_tick: 10,
            heartbeat_tick: 1,
            pre_vote: true,
            check_quorum: true,
            max_size_per_msg: 1 << 20,
            max_inflight_msgs: 256,
            max_uncommitted_size: 64 << 20,
            applied,
            ..Default::default()
        };
        let logger = slog::Logger::root(TracingDrain, slog::o!("raft_id" => id));
        let state = Arc::new(RwLock::new(state));
        let applied_shared = Arc::new(AtomicU64::new(applied));
        let storage = SnapStorage::new(storage, state.clone(), applied_shared.clone());
        let node = RawNode::new(&cfg, storage, &logger)?;
        let lead = Arc::new(Lead::default());
        lead.id.store(id, Ordering::SeqCst);
        lead.applied.store(applied, Ordering::SeqCst);
        let mut d = Driver {
            node,
            disk,
            state,
            pending: HashMap::new(),
            next_id: 0,
            applied,
            applied_shared,
            snapshot_index: applied,
            lead,
        };
        // Replay the committed log before anyone reads the state.
        for _ in 0..100 {
            if !d.node.has_ready() {
                break;
            }
            d.on_ready()?;
        }
        Ok(d)
    }

    pub fn state(&self) -> Arc<RwLock<ClusterState>> {
        self.state.clone()
    }

    pub fn lead(&self) -> Arc<Lead> {
        self.lead.clone()
    }

    /// Whether this controller is the only voter (a cluster of one, which
    /// elects itself at once rather than after an election timeout).
    pub fn sole_voter(&self) -> bool {
        let voters: Vec<u64> = self.node.raft.prs().conf().voters().ids().iter().collect();
        voters == [self.node.raft.id]
    }

    pub fn campaign(&mut self) -> Result<(), StoreError> {
        Ok(self.node.campaign()?)
    }

    fn publish_lead(&self) {
        self.lead.leader.store(self.node.raft.leader_id, Ordering::SeqCst);
        self.lead.term.store(self.node.raft.term, Ordering::SeqCst);
    }

    /// Serve inputs until every sender is gone or storage fails.
    pub fn run(mut self, rx: std_mpsc::Receiver<Input>, mut transport: impl Transport) {
        self.publish_lead();
        let mut next_tick = Instant::now() + TICK;
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(input) => {
                    self.input(input);
                    // Batch whatever else is queued into the same fsync.
                    while let Ok(input) = rx.try_recv() {
                        self.input(input);
                    }
                }
                Err(std_mpsc::RecvTimeoutError::Timeout) => {}
                Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
            }
            if Instant::now() >= next_tick {
                self.tick();
                next_tick += TICK;
            }
            for (peer, delivered) in transport.snapshots_sent() {
                let status = match delivered {
                    true => raft::SnapshotStatus::Finish,
                    false => raft::SnapshotStatus::Failure,
                };
                self.node.report_snapshot(peer, status);
            }
            let result = self.on_ready();
            self.publish_lead();
            match result {
                Ok(out) => transport.send(out),
                Err(e) => {
                    // Without durable storage nothing may be acknowledged.
                    tracing::error!("raft storage failed, refusing changes: {e}");
                    for (_, done) in self.pending.drain() {
                        let _ = done.send(Err(StoreError::Unavailable(e.to_string())));
                    }
                    return;
                }
            }
        }
    }

    pub fn input(&mut self, input: Input) {
        match input {
            Input::Propose(p) => self.propose(*p),
            Input::ConfChange(p) => self.propose_conf_change(*p),
            Input::Step(m) => self.step(m),
            Input::Status(tx) => {
                let _ = tx.send(self.status());
            }
            Input::Compact(tx) => {
                let _ = tx.send(self.compact());
            }
        }
    }

    fn next_key(&mut self) -> [u8; 16] {
        self.next_id += 1;
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&self.node.raft.id.to_le_bytes());
        key[8..].copy_from_slice(&self.next_id.to_le_bytes());
        key
    }

    fn propose_conf_change(&mut self, p: ConfProposal) {
        let key = self.next_key();
        match self.node.propose_conf_change(key.to_vec(), p.change) {
            Ok(()) => {
                self.pending.insert(key, p.done);
            }
            Err(e) => {
                let _ = p.done.send(Err(StoreError::Unavailable(format!(
                    "the membership change was refused: {e}"
                ))));
            }
        }
    }

    pub fn status(&self) -> RaftStatus {
        let raft = &self.node.raft;
        let leader = raft.state == StateRole::Leader;
        let mut progress: Vec<(u64, u64, bool)> = Vec::new();
        if leader {
            for (id, pr) in raft.prs().iter() {
                progress.push((*id, pr.matched, *id == raft.id || pr.recent_active));
            }
        }
        let conf = raft.prs().conf();
        RaftStatus {
            term: raft.term,
            leader: raft.leader_id,
            commit: raft.raft_log.committed,
            voters: conf.voters().ids().iter().collect(),
            learners: conf.learners().iter().copied().collect(),
            progress,
        }
    }

    pub fn tick(&mut self) {
        self.node.tick();
    }

    pub fn step(&mut self, m: Message) {
        if let Err(e) = self.node.step(m) {
            tracing::debug!("raft message dropped: {e}");
        }
    }

    #[cfg(test)]
    pub fn is_leader(&self) -> bool {
        self.node.raft.state == raft::StateRole::Leader
    }

    #[cfg(test)]
    pub fn term(&self) -> u64 {
        self.node.raft.term
    }

    #[cfg(test)]
    pub fn commit_index(&self) -> u64 {
        self.node.raft.raft_log.committed
    }

    #[cfg(test)]
    /// Committed entries `from..=to` as this node's storage holds them.
    pub fn committed_entries(&self, from: u64, to: u64) -> Result<Vec<Entry>, StoreError> {
        let store = self.node.store();
        Ok(store.entries(from, to + 1, None, raft::GetEntriesContext::empty(false))?)
    }

    pub fn propose(&mut self, p: Proposal) {
        let data = match serde_json::to_vec(&p.cmd) {
            Ok(d) => d,
            Err(e) => {
                let _ = p.done.send(Err(StoreError::Unavailable(e.to_string())));
                return;
            }
        };
        let key = self.next_key();
        match self.node.propose(key.to_vec(), data) {
            Ok(()) => {
                self.pending.insert(key, p.done);
            }
            Err(e) => {
                let _ = p
                    .done
                    .send(Err(StoreError::Unavailable(format!("not the leader ({e})"))));
            }
        }
    }

    /// Persist, apply and answer what raft has ready; return the messages
    /// for other controllers (sent only once what they vouch for is on
    /// disk).
    pub fn on_ready(&mut self) -> Result<Vec<Message>, StoreError> {
        let mut out = Vec::new();
        if !self.node.has_ready() {
            return Ok(out);
        }
        let mut ready = self.node.ready();
        out.extend(ready.take_messages());
        if !ready.snapshot().is_empty() {
            let snap = ready.snapshot().clone();
            self.install_snapshot(snap)?;
        }
        let committed = ready.take_committed_entries();
        self.apply(committed)?;
        if !ready.entries().is_empty() {
            self.disk.append(ready.entries())?;
            self.node.mut_store().mem.wl().append(ready.entries())?;
        }
        if let Some(hs) = ready.hs() {
            self.disk.set_hard_state(hs)?;
            self.node.mut_store().mem.wl().set_hardstate(hs.clone());
        }
        out.extend(ready.take_persisted_messages());
        let mut light = self.node.advance(ready);
        if let Some(commit) = light.commit_index() {
            let hs = {
                let store = self.node.mut_store();
                let mut w = store.mem.wl();
                w.mut_hard_state().commit = commit;
                w.hard_state().clone()
            };
            self.disk.set_hard_state(&hs)?;
        }
        out.extend(light.take_messages());
        self.apply(light.take_committed_entries())?;
        self.node.advance_apply();
        self.maybe_compact()?;
        Ok(out)
    }

    fn install_snapshot(&mut self, snap: Snapshot) -> Result<(), StoreError> {
        let state: ClusterState = serde_json::from_slice(snap.get_data())
            .map_err(|e| std::io::Error::other(format!("raft snapshot: {e}")))?;
        let index = snap.get_metadata().index;
        self.disk.compact(&snap, &[])?;
        self.node.mut_store().mem.wl().apply_snapshot(snap)?;
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = state;
        self.set_applied(index);
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
                    if let Ok(key) = <[u8; 16]>::try_from(&e.context[..]) {
                        if let Some(done) = self.pending.remove(&key) {
                            let _ = done.send(result);
                        }
                    }
                }
                EntryType::EntryNormal => {}
                EntryType::EntryConfChange => {
                    let cc = ConfChange::parse_from_bytes(&e.data).map_err(|x| std::io::Error::other(x.to_string()))?;
                    let result = self.node.apply_conf_change(&cc);
                    self.conf_changed(&e.context, result)?;
                }
                EntryType::EntryConfChangeV2 => {
                    let cc =
                        ConfChangeV2::parse_from_bytes(&e.data).map_err(|x| std::io::Error::other(x.to_string()))?;
                    let result = self.node.apply_conf_change(&cc);
                    self.conf_changed(&e.context, result)?;
                }
            }
            self.set_applied(e.index);
        }
        Ok(())
    }

    fn set_applied(&mut self, index: u64) {
        self.applied = index;
        self.applied_shared.store(index, Ordering::SeqCst);
        self.lead.applied.store(index, Ordering::SeqCst);
    }

    /// Record the configuration a conf change made and answer its proposer.
    /// A change raft refuses (e.g. removing the last voter) changes nothing.
    fn conf_changed(&mut self, context: &[u8], result: raft::Result<ConfState>) -> Result<(), StoreError> {
        let answer = match result {
            Ok(cs) => {
                self.node.mut_store().mem.wl().set_conf_state(cs);
                Ok(())
            }
            Err(e) => {
                tracing::warn!("raft membership change not applied: {e}");
                Err(StoreError::Unavailable(format!("membership change refused: {e}")))
            }
        };
        if let Some(done) = <[u8; 16]>::try_from(context).ok().and_then(|k| self.pending.remove(&k)) {
            let _ = done.send(answer);
        }
        Ok(())
    }

    /// Every `SNAPSHOT_EVERY` applied entries: write the state as a
    /// snapshot at the applied index and drop the log before it.
    fn maybe_compact(&mut self) -> Result<(), StoreError> {
        if self.applied < self.snapshot_index + SNAPSHOT_EVERY {
            return Ok(());
        }
        self.compact()
    }

    /// Write the applied state as a snapshot and drop the log before it.
    /// Before a controller joins, so that it starts from a snapshot (which
    /// carries the membership) rather than from a log whose first voter
    /// was never an entry.
    pub fn compact(&mut self) -> Result<(), StoreError> {
        if self.applied <= self.snapshot_index {
            return Ok(());
        }
        let store = self.node.store().mem.clone();
        let index = self.applied;
        let snap = self.node.store().current()?;
        let last = store.last_index()?;
        let rest = store.entries(index + 1, last + 1, None, raft::GetEntriesContext::empty(false))?;
        self.disk.compact(&snap, &rest)?;
        store.wl().compact(index)?;
        self.snapshot_index = index;
        tracing::debug!(index, "raft log compacted into a snapshot");
        Ok(())
    }
}
