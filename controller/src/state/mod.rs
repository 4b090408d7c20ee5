//! The controller's state, replicated through raft (tikv raft-rs) and
//! persisted in `<data>/raft/`. [`Store`] is the handle the rest of the
//! controller holds (read the applied state, propose a change and wait
//! until it is applied); one thread runs the `driver` that owns the raft
//! node. Today the cluster has one voter (this controller): the driver
//! already hands raft's messages to a `Transport`, and the stepped
//! simulation in `sim` proves replication between several drivers; the
//! transport between controllers is next.

mod disk;
mod driver;
pub mod model;
#[cfg(test)]
mod sim;

use std::path::Path;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

use tokio::sync::oneshot;

use driver::{Driver, Input, NoPeers};
pub use model::{ApplyError, ClusterState, Command, NodeRecord};
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

pub struct Proposal {
    pub cmd: Command,
    pub done: oneshot::Sender<Result<(), StoreError>>,
}

/// The handle everyone else holds: read the applied state, propose changes.
pub struct Store {
    state: Arc<RwLock<ClusterState>>,
    tx: std_mpsc::Sender<Input>,
}

impl Store {
    /// Load what is on disk, replay it, and start the raft thread.
    pub fn open(dir: &Path) -> Result<Arc<Store>, StoreError> {
        let mut driver = Driver::open(dir, RAFT_ID, &[RAFT_ID])?;
        driver.campaign()?;
        let state = driver.state();
        let (tx, rx) = std_mpsc::channel();
        std::thread::Builder::new()
            .name("raft".into())
            .spawn(move || driver.run(rx, NoPeers))?;
        Ok(Arc::new(Store { state, tx }))
    }

    pub fn read(&self) -> RwLockReadGuard<'_, ClusterState> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Replicate a command and wait until it is applied.
    pub async fn propose(&self, cmd: Command) -> Result<(), StoreError> {
        let (done, rx) = oneshot::channel();
        self.tx
            .send(Input::Propose(Box::new(Proposal { cmd, done })))
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
