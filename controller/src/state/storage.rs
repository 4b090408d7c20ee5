//! raft's view of the log: raft-rs's `MemStorage` (entries since the last
//! snapshot and the hard state, mirrored from `disk`), except that a
//! snapshot asked for by the leader (to catch up a new or lagging
//! controller) carries the applied `ClusterState` at the applied index.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use raft::prelude::{Entry, Snapshot};
use raft::storage::MemStorage;
use raft::{GetEntriesContext, RaftState, Storage, StorageError};

use super::ClusterState;

#[derive(Clone)]
pub struct SnapStorage {
    pub mem: MemStorage,
    state: Arc<RwLock<ClusterState>>,
    applied: Arc<AtomicU64>,
}

impl SnapStorage {
    pub fn new(mem: MemStorage, state: Arc<RwLock<ClusterState>>, applied: Arc<AtomicU64>) -> SnapStorage {
        SnapStorage { mem, state, applied }
    }

    /// The applied state as a snapshot at the applied index.
    pub fn current(&self) -> raft::Result<Snapshot> {
        let index = self.applied.load(Ordering::SeqCst);
        let data = serde_json::to_vec(&*self.state.read().unwrap_or_else(|e| e.into_inner()))
            .map_err(|e| raft::Error::Store(StorageError::Other(Box::new(e))))?;
        let mut snap = Snapshot {
            data: data.into(),
            ..Default::default()
        };
        let meta = snap.mut_metadata();
        meta.index = index;
        meta.term = self.mem.term(index)?;
        meta.set_conf_state(self.mem.initial_state()?.conf_state);
        Ok(snap)
    }
}

impl Storage for SnapStorage {
    fn initial_state(&self) -> raft::Result<RaftState> {
        self.mem.initial_state()
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        self.mem.entries(low, high, max_size, context)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        self.mem.term(idx)
    }

    fn first_index(&self) -> raft::Result<u64> {
        self.mem.first_index()
    }

    fn last_index(&self) -> raft::Result<u64> {
        self.mem.last_index()
    }

    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        if self.applied.load(Ordering::SeqCst) < request_index {
            return Err(raft::Error::Store(StorageError::SnapshotTemporarilyUnavailable));
        }
        self.current()
    }
}
