//! The controller's state, replicated through raft (tikv raft-rs) and
//! persisted in `<data>/raft/`. [`Store`] is the handle the rest of the
//! controller holds (read the applied state, propose a change and wait
//! until it is applied); one thread runs the `driver` that owns the raft
//! node and hands its messages for other controllers to a [`Transport`]
//! (`crate::peers` over gRPC; the stepped simulation in `sim` in tests).
//! Every controller is a voter (or a learner while it catches up); only
//! the leader's proposals commit, and a follower's are forwarded by raft.

mod disk;
mod driver;
pub mod model;
#[cfg(test)]
mod sim;
mod storage;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

use raft::prelude::{ConfChange, Message};
use tokio::sync::oneshot;

pub use driver::Transport;
use driver::{Driver, Input, Lead, NoPeers};
pub use model::{ApplyError, ClusterState, Command, ControllerRecord, NodeRecord};
/// The raft ID of the controller that made the cluster.
pub const FIRST_RAFT_ID: u64 = 1;

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

pub struct Proposal {
    pub cmd: Command,
    pub done: oneshot::Sender<Result<(), StoreError>>,
}

pub struct ConfProposal {
    pub change: ConfChange,
    pub done: oneshot::Sender<Result<(), StoreError>>,
}

/// One controller's raft state; on the leader, each member's progress
/// as (raft ID, matched index, heard from recently).
#[derive(Debug, Clone)]
pub struct RaftStatus {
    pub term: u64,
    pub leader: u64,
    pub commit: u64,
    pub voters: Vec<u64>,
    pub learners: Vec<u64>,
    pub progress: Vec<(u64, u64, bool)>,
}

/// The handle everyone else holds: read the applied state, propose changes.
pub struct Store {
    state: Arc<RwLock<ClusterState>>,
    tx: std_mpsc::Sender<Input>,
    lead: Arc<Lead>,
}

impl Store {
    /// A cluster of one (the controller `init` makes, and tests).
    pub fn open(dir: &Path) -> Result<Arc<Store>, StoreError> {
        Store::open_member(dir, FIRST_RAFT_ID, &[FIRST_RAFT_ID], |_| NoPeers)
    }

    /// Load what is on disk, replay it, and start the raft thread for
    /// member `id` (whose voters on first start are `voters`: none for a
    /// joining controller, which learns them from the leader).
    pub fn open_member<T: Transport>(
        dir: &Path,
        id: u64,
        voters: &[u64],
        transport: impl FnOnce(Arc<RwLock<ClusterState>>) -> T,
    ) -> Result<Arc<Store>, StoreError> {
        let mut driver = Driver::open(dir, id, voters)?;
        if driver.sole_voter() {
            driver.campaign()?;
        }
        let state = driver.state();
        let lead = driver.lead();
        let transport = transport(state.clone());
        let (tx, rx) = std_mpsc::channel();
        std::thread::Builder::new()
            .name("raft".into())
            .spawn(move || driver.run(rx, transport))?;
        Ok(Arc::new(Store { state, tx, lead }))
    }

    pub fn read(&self) -> RwLockReadGuard<'_, ClusterState> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// This controller's raft ID.
    pub fn raft_id(&self) -> u64 {
        self.lead.id.load(Ordering::SeqCst)
    }

    /// The leader's raft ID as this controller last heard (0: none known).
    pub fn leader(&self) -> u64 {
        self.lead.leader.load(Ordering::SeqCst)
    }

    pub fn is_leader(&self) -> bool {
        self.leader() == self.raft_id()
    }

    /// The index of the last change applied here: the state is unchanged
    /// while it is.
    pub fn applied(&self) -> u64 {
        self.lead.applied.load(Ordering::SeqCst)
    }

    pub fn term(&self) -> u64 {
        self.lead.term.load(Ordering::SeqCst)
    }

    /// The leader's record (its address), when one is known.
    pub fn leader_record(&self) -> Option<ControllerRecord> {
        let leader = self.leader();
        self.read().controllers.get(&leader).cloned()
    }

    /// A raft message from another controller.
    pub fn step(&self, m: Message) {
        let _ = self.tx.send(Input::Step(m));
    }

    pub async fn status(&self) -> Result<RaftStatus, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Input::Status(tx))
            .map_err(|_| StoreError::Unavailable("raft thread stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Unavailable("raft thread stopped".into()))
    }

    /// Cut a snapshot of the applied state now.
    pub async fn compact(&self) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.send_and_wait(Input::Compact(tx), rx).await
    }

    /// Change the membership and wait until the change is applied here.
    pub async fn conf_change(&self, change: ConfChange) -> Result<(), StoreError> {
        let (done, rx) = oneshot::channel();
        self.send_and_wait(Input::ConfChange(Box::new(ConfProposal { change, done })), rx)
            .await
    }

    /// Replicate a command and wait until it is applied.
    pub async fn propose(&self, cmd: Command) -> Result<(), StoreError> {
        let (done, rx) = oneshot::channel();
        self.send_and_wait(Input::Propose(Box::new(Proposal { cmd, done })), rx)
            .await
    }

    async fn send_and_wait(
        &self,
        input: Input,
        rx: oneshot::Receiver<Result<(), StoreError>>,
    ) -> Result<(), StoreError> {
        self.tx
            .send(input)
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
    use super::driver::{SNAPSHOT_EVERY, TICK};
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
