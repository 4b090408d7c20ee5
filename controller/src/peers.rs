//! Raft between controllers: the [`Transport`] that carries each
//! controller's outbound raft messages to its peers (one task and one
//! mutual-TLS gRPC channel per peer, addresses from the replicated
//! controller records), and the `Raft` gRPC service that takes theirs.
//! A message that cannot be delivered now is dropped: raft resends.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use protobuf::Message as _;
use raft::prelude::Message;
use skiff_certs::cluster::Role;
use skiff_common::cluster::proto::raft_client::RaftClient;
use skiff_common::cluster::proto::raft_server::Raft;
use skiff_common::cluster::proto::{RaftAck, RaftBatch};
use tokio::sync::mpsc;
use tonic::{Request, Response, Status};

use crate::server::Peer;
use crate::state::{ClusterState, Store, Transport};

/// Batches queued per peer before new ones are dropped.
const QUEUE: usize = 128;

pub struct GrpcPeers {
    rt: tokio::runtime::Handle,
    state: Arc<RwLock<ClusterState>>,
    /// This controller's certificate and key (controller role) and the CA.
    tls: PathBuf,
    /// Addresses known before the replicated records arrive (a joiner's).
    known: BTreeMap<u64, String>,
    peers: HashMap<u64, (String, Queue)>,
}

/// Batches of encoded messages for one peer.
type Queue = mpsc::Sender<Vec<Vec<u8>>>;

impl GrpcPeers {
    pub fn new(
        rt: tokio::runtime::Handle,
        state: Arc<RwLock<ClusterState>>,
        tls: PathBuf,
        known: BTreeMap<u64, String>,
    ) -> GrpcPeers {
        GrpcPeers {
            rt,
            state,
            tls,
            known,
            peers: HashMap::new(),
        }
    }

    fn queue(&mut self, to: u64) -> Option<&Queue> {
        let addr = {
            let st = self.state.read().unwrap_or_else(|e| e.into_inner());
            match st.id.is_empty() {
                true => self.known.get(&to).cloned(),
                false => st.controllers.get(&to).map(|c| c.addr.clone()),
            }
        };
        let Some(addr) = addr else {
            self.peers.remove(&to);
            return None;
        };
        let stale = self.peers.get(&to).is_none_or(|(a, tx)| *a != addr || tx.is_closed());
        if stale {
            let (tx, rx) = mpsc::channel(QUEUE);
            let _guard = self.rt.enter();
            match skiff_common::cluster::channel(&addr, &self.tls) {
                Ok(ch) => {
                    self.rt.spawn(deliver(to, addr.clone(), RaftClient::new(ch), rx));
                }
                Err(e) => {
                    tracing::warn!(peer = to, %addr, "raft peer channel: {e}");
                    return None;
                }
            }
            self.peers.insert(to, (addr, tx));
        }
        self.peers.get(&to).map(|(_, tx)| tx)
    }
}

impl Transport for GrpcPeers {
    fn send(&mut self, msgs: Vec<Message>) {
        let mut by_peer: HashMap<u64, Vec<Vec<u8>>> = HashMap::new();
        for m in msgs {
            match m.write_to_bytes() {
                Ok(b) => by_peer.entry(m.to).or_default().push(b),
                Err(e) => tracing::warn!("raft message not encoded: {e}"),
            }
        }
        for (to, batch) in by_peer {
            if let Some(tx) = self.queue(to) {
                if tx.try_send(batch).is_err() {
                    tracing::debug!(peer = to, "raft queue full; messages dropped");
                }
            }
        }
    }
}

/// Send one peer's batches in order, merging whatever queued meanwhile.
async fn deliver(
    to: u64,
    addr: String,
    mut client: RaftClient<tonic::transport::Channel>,
    mut rx: mpsc::Receiver<Vec<Vec<u8>>>,
) {
    client = client
        .max_decoding_message_size(skiff_common::cluster::MAX_MESSAGE)
        .max_encoding_message_size(skiff_common::cluster::MAX_MESSAGE);
    let mut failing = false;
    while let Some(mut messages) = rx.recv().await {
        while let Ok(more) = rx.try_recv() {
            messages.extend(more);
        }
        let call = client.step(RaftBatch { messages });
        match tokio::time::timeout(Duration::from_secs(2), call).await {
            Ok(Ok(_)) => {
                if failing {
                    tracing::info!(peer = to, %addr, "raft peer reachable again");
                }
                failing = false;
            }
            Ok(Err(e)) if !failing => {
                tracing::warn!(peer = to, %addr, "raft peer unreachable: {}", e.message());
                failing = true;
            }
            Err(_) if !failing => {
                tracing::warn!(peer = to, %addr, "raft peer unreachable: timed out");
                failing = true;
            }
            _ => {}
        }
    }
}

/// The receiving side: only a current controller may step our raft.
pub struct RaftService {
    pub store: Arc<Store>,
}

#[tonic::async_trait]
impl Raft for RaftService {
    async fn step(&self, req: Request<RaftBatch>) -> Result<Response<RaftAck>, Status> {
        let who = req.extensions().get::<Peer>().and_then(|p| p.0.clone());
        match who {
            Some(w) if w.role == Role::Controller => {}
            Some(_) => return Err(Status::permission_denied("only a controller may send raft messages")),
            None => return Err(Status::unauthenticated("a controller certificate is required")),
        }
        for b in req.into_inner().messages {
            match Message::parse_from_bytes(&b) {
                Ok(m) => self.store.step(m),
                Err(e) => return Err(Status::invalid_argument(format!("raft message: {e}"))),
            }
        }
        Ok(Response::new(RaftAck {}))
    }
}
