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
use raft::prelude::{Message, MessageType};
use skiff_certs::cluster::Role;
use skiff_common::cluster::proto::raft_client::RaftClient;
use skiff_common::cluster::proto::raft_server::Raft;
use skiff_common::cluster::proto::{RaftAck, RaftBatch, RaftChunk};
use tokio::sync::mpsc;
use tonic::{Request, Response, Status, Streaming};

use crate::server::Peer;
use crate::state::{ClusterState, Store, Transport};

/// Batches queued per peer before new ones are dropped.
const QUEUE: usize = 128;
/// A snapshot travels in chunks of this size.
const CHUNK: usize = 1 << 20;
/// How long one snapshot may take to deliver.
const SNAPSHOT_TIME: Duration = Duration::from_secs(300);
/// The largest snapshot taken from a peer.
const MAX_SNAPSHOT: usize = 1 << 31;

pub struct GrpcPeers {
    rt: tokio::runtime::Handle,
    state: Arc<RwLock<ClusterState>>,
    /// This controller's certificate and key (controller role) and the CA.
    tls: PathBuf,
    /// Addresses known before the replicated records arrive (a joiner's).
    known: BTreeMap<u64, String>,
    peers: HashMap<u64, (String, Queue)>,
    /// Outcomes of snapshots sent, for raft.
    sent: Arc<std::sync::Mutex<Vec<(u64, bool)>>>,
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
            sent: Arc::default(),
        }
    }

    fn addr_of(&self, to: u64) -> Option<String> {
        let st = self.state.read().unwrap_or_else(|e| e.into_inner());
        match st.id.is_empty() {
            true => self.known.get(&to).cloned(),
            false => st.controllers.get(&to).map(|c| c.addr.clone()),
        }
    }

    /// A snapshot goes on a stream of its own, in chunks, and its outcome
    /// is reported back to raft (which sends the peer nothing else until
    /// then).
    fn send_snapshot(&mut self, mut m: Message) {
        let to = m.to;
        let sent = self.sent.clone();
        let report = move |ok: bool| sent.lock().unwrap_or_else(|e| e.into_inner()).push((to, ok));
        let Some(addr) = self.addr_of(to) else {
            return report(false);
        };
        let data = m.mut_snapshot().take_data();
        let head = match m.write_to_bytes() {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!("raft snapshot message not encoded: {e}");
                return report(false);
            }
        };
        let _guard = self.rt.enter();
        let channel = match skiff_common::cluster::channel(&addr, &self.tls) {
            Ok(ch) => ch,
            Err(e) => {
                tracing::warn!(peer = to, %addr, "raft peer channel: {e}");
                return report(false);
            }
        };
        self.rt.spawn(async move {
            let size = data.len();
            let ok = match tokio::time::timeout(SNAPSHOT_TIME, stream_snapshot(channel, head, data.to_vec())).await {
                Ok(Ok(())) => true,
                Ok(Err(e)) => {
                    tracing::warn!(peer = to, %addr, "raft snapshot not delivered: {}", e.message());
                    false
                }
                Err(_) => {
                    tracing::warn!(peer = to, %addr, "raft snapshot not delivered: timed out");
                    false
                }
            };
            if ok {
                tracing::info!(peer = to, bytes = size, "raft snapshot delivered");
            }
            report(ok);
        });
    }

    fn queue(&mut self, to: u64) -> Option<&Queue> {
        let addr = self.addr_of(to);
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
            if m.get_msg_type() == MessageType::MsgSnapshot {
                self.send_snapshot(m);
                continue;
            }
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

    fn snapshots_sent(&mut self) -> Vec<(u64, bool)> {
        std::mem::take(&mut *self.sent.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Stream one snapshot: its message, then its data in chunks.
async fn stream_snapshot(channel: tonic::transport::Channel, head: Vec<u8>, data: Vec<u8>) -> Result<(), Status> {
    let mut chunks = vec![RaftChunk {
        message: head,
        data: Vec::new(),
    }];
    chunks.extend(data.chunks(CHUNK).map(|d| RaftChunk {
        message: Vec::new(),
        data: d.to_vec(),
    }));
    RaftClient::new(channel)
        .snapshot(tokio_stream::iter(chunks))
        .await
        .map(|_| ())
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

/// Only a controller's certificate may step our raft.
fn controller_only<T>(req: &Request<T>) -> Result<(), Status> {
    match req.extensions().get::<Peer>().and_then(|p| p.0.clone()) {
        Some(w) if w.role == Role::Controller => Ok(()),
        Some(_) => Err(Status::permission_denied("only a controller may send raft messages")),
        None => Err(Status::unauthenticated("a controller certificate is required")),
    }
}

#[tonic::async_trait]
impl Raft for RaftService {
    async fn snapshot(&self, req: Request<Streaming<RaftChunk>>) -> Result<Response<RaftAck>, Status> {
        controller_only(&req)?;
        let mut chunks = req.into_inner();
        let first = chunks
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("an empty snapshot stream"))?;
        let mut m = Message::parse_from_bytes(&first.message)
            .map_err(|e| Status::invalid_argument(format!("raft snapshot message: {e}")))?;
        let mut data = first.data;
        while let Some(c) = chunks.message().await? {
            if data.len() + c.data.len() > MAX_SNAPSHOT {
                return Err(Status::resource_exhausted("raft snapshot too large"));
            }
            data.extend_from_slice(&c.data);
        }
        m.mut_snapshot().set_data(data.into());
        self.store.step(m);
        Ok(Response::new(RaftAck {}))
    }

    async fn step(&self, req: Request<RaftBatch>) -> Result<Response<RaftAck>, Status> {
        controller_only(&req)?;
        for b in req.into_inner().messages {
            match Message::parse_from_bytes(&b) {
                Ok(m) => self.store.step(m),
                Err(e) => return Err(Status::invalid_argument(format!("raft message: {e}"))),
            }
        }
        Ok(Response::new(RaftAck {}))
    }
}
