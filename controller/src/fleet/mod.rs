//! The live side of the cluster, kept in memory and never written through
//! raft: which agents hold a session, when each last spoke, what
//! containers each reports, and the Docker API calls in flight to them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use skiff_common::cluster::proto::{self, controller_message, ApiRequest, ApiResponse, ControllerMessage};
use tokio::sync::mpsc;

mod pace;
pub use pace::Pace;

/// What a node's live containers take (see `Fleet::load`).
#[derive(Debug, Default)]
pub struct Load {
    pub nano_cpus: i64,
    pub memory: i64,
    pub containers: usize,
    pub host_ports: std::collections::BTreeSet<String>,
}

/// A node's health as `node ls` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Ready,
    Down,
    /// Not heard from since this controller started, still within grace;
    /// or in session but its first report has not arrived yet.
    Unknown,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Ready => "ready",
            Health::Down => "down",
            Health::Unknown => "unknown",
        }
    }
}

struct Session {
    generation: u64,
    tx: mpsc::Sender<ControllerMessage>,
    last_seen: Instant,
    /// The agent's first heartbeat or report since the session began has
    /// arrived: until then its containers are not known (a node that
    /// looked ready and empty would have its tasks made again).
    heard: bool,
    containers: Vec<proto::Container>,
    /// Containers created through the controller, by ID, and when: a
    /// report the node put together before the create finished does not
    /// list them, so they stay for `NOTED_GRACE` unless reported.
    noted: HashMap<String, Instant>,
    calls: HashMap<u64, mpsc::Sender<ApiResponse>>,
}

impl Session {
    /// What its live containers take.
    fn load(&self) -> Load {
        let mut l = Load::default();
        for c in self
            .containers
            .iter()
            .filter(|c| c.state != "exited" && c.state != "dead")
        {
            l.nano_cpus += c.nano_cpus;
            l.memory += c.memory;
            l.containers += 1;
            l.host_ports.extend(c.host_ports.iter().cloned());
        }
        l
    }
}

/// Task containers by task ID, and the nodes ready when they were taken.
#[derive(Default)]
pub struct TaskView {
    pub containers: HashMap<String, Vec<TaskContainer>>,
    pub ready: std::collections::HashSet<String>,
}

impl TaskView {
    /// The task's container on `node`, if that node reported one.
    pub fn on(&self, task: &str, node: &str) -> Option<&TaskContainer> {
        self.containers.get(task)?.iter().find(|c| c.node == node)
    }
}

/// A task's container as a node last reported it.
#[derive(Clone, Debug)]
pub struct TaskContainer {
    pub node: String,
    pub id: String,
    pub state: String,
}

/// How a key names a container, in Docker's order of precedence: full
/// ID, name, ID prefix.
const KEY_MATCHES: [fn(&proto::Container, &str) -> bool; 3] = [
    |c, key| c.id == key,
    |c, key| c.name == key,
    |c, key| !key.is_empty() && c.id.starts_with(key),
];

/// Longer than a node takes to report after a call (200 ms).
const NOTED_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

pub struct Fleet {
    sessions: Mutex<HashMap<String, Session>>,
    /// Exec IDs made through the controller, and the node each lives on.
    execs: Mutex<HashMap<String, String>>,
    next: AtomicU64,
    /// Since when, and for how long, unseen nodes are not yet down.
    started: Mutex<(Instant, Duration)>,
    /// When each node whose session ended since then was last heard from:
    /// unknown (not yet down) until the timeout, as a session may just be
    /// moving to another controller.
    gone: Mutex<HashMap<String, Instant>>,
    /// The heartbeat period and node timeout as configured (what joining
    /// controllers inherit).
    pub heartbeat_period: Duration,
    pub node_timeout: Duration,
    /// Both as they are now, stretched with the fleet's size.
    pub pace: Pace,
    /// Heartbeats and container reports taken since start (`/metrics`).
    pub beats: AtomicU64,
}

/// Why a call to an agent could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("node {0} is not connected")]
    NotConnected(String),
    #[error("node {0} went away during the call")]
    Lost(String),
}

impl Fleet {
    pub fn new(heartbeat_period: Duration, node_timeout: Duration) -> Fleet {
        Fleet {
            sessions: Mutex::new(HashMap::new()),
            execs: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
            started: Mutex::new((Instant::now(), node_timeout * 2)),
            gone: Mutex::default(),
            heartbeat_period,
            node_timeout,
            pace: Pace::new(heartbeat_period, node_timeout),
            beats: AtomicU64::new(0),
        }
    }

    /// The session count changed: when the heartbeat period changes with
    /// it, tell every connected agent (a new Welcome carries it).
    fn repace(&self, m: &HashMap<String, Session>) {
        let Some(period) = self.pace.nodes(m.len()) else {
            return;
        };
        tracing::info!(
            nodes = m.len(),
            period_ms = period.as_millis() as u64,
            "heartbeat period changed"
        );
        for (node, s) in m {
            let welcome = proto::Welcome {
                node_id: node.clone(),
                heartbeat_period_ms: period.as_millis() as u32,
            };
            let _ = s.tx.try_send(ControllerMessage {
                body: Some(controller_message::Body::Welcome(welcome)),
            });
        }
    }

    /// Tell every connected agent which certificates are revoked, so that
    /// their own TLS listeners refuse them too.
    pub fn announce_revoked(&self, ids: Vec<String>) {
        let msg = revoked_message(ids);
        for s in self.lock().values() {
            let _ = s.tx.try_send(msg.clone());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new session for `node`; an older one of the same node is dropped.
    /// Returns the generation that `disconnect` must name.
    pub fn connect(&self, node: &str, tx: mpsc::Sender<ControllerMessage>) -> u64 {
        let generation = self.next.fetch_add(1, Ordering::Relaxed);
        let s = Session {
            generation,
            tx,
            last_seen: Instant::now(),
            heard: false,
            containers: Vec::new(),
            noted: HashMap::new(),
            calls: HashMap::new(),
        };
        let mut m = self.lock();
        m.insert(node.to_string(), s);
        self.repace(&m);
        drop(m);
        self.gone.lock().unwrap_or_else(|e| e.into_inner()).remove(node);
        generation
    }

    pub fn disconnect(&self, node: &str, generation: u64) {
        let mut m = self.lock();
        if m.get(node).is_some_and(|s| s.generation == generation) {
            if let Some(s) = m.remove(node) {
                self.gone
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(node.to_string(), s.last_seen);
            }
            self.repace(&m);
        }
    }

    /// Drop a node's session now (it was removed).
    pub fn kick(&self, node: &str) {
        let mut m = self.lock();
        m.remove(node);
        self.repace(&m);
    }

    /// The node spoke (an event): it is alive.
    pub fn touch(&self, node: &str, generation: u64) {
        if let Some(s) = self.lock().get_mut(node).filter(|s| s.generation == generation) {
            s.last_seen = Instant::now();
        }
    }

    /// A heartbeat: alive, and its containers are as last reported (an
    /// agent's first message in a session is its report, or a heartbeat
    /// when it has no containers).
    pub fn heartbeat(&self, node: &str, generation: u64) {
        if let Some(s) = self.lock().get_mut(node).filter(|s| s.generation == generation) {
            s.last_seen = Instant::now();
            s.heard = true;
        }
    }

    pub fn set_containers(&self, node: &str, generation: u64, list: Vec<proto::Container>) {
        if let Some(s) = self.lock().get_mut(node).filter(|s| s.generation == generation) {
            s.last_seen = Instant::now();
            s.heard = true;
            s.noted
                .retain(|id, at| at.elapsed() < NOTED_GRACE && !list.iter().any(|c| &c.id == id));
            let kept: Vec<proto::Container> = s.containers.drain(..).filter(|c| s.noted.contains_key(&c.id)).collect();
            s.containers = list;
            s.containers.extend(kept);
        }
    }

    /// A container removed through the controller leaves the view at once.
    pub fn forget_container(&self, node: &str, key: &str) {
        if let Some(s) = self.lock().get_mut(node) {
            let Some(pick) = KEY_MATCHES.iter().find(|m| s.containers.iter().any(|c| m(c, key))) else {
                return;
            };
            let gone: Vec<String> = s
                .containers
                .iter()
                .filter(|c| pick(c, key))
                .map(|c| c.id.clone())
                .collect();
            s.containers.retain(|c| !gone.contains(&c.id));
            s.noted.retain(|id, _| !gone.contains(id));
        }
    }

    /// A container just created on `node`, counted until a report lists it
    /// or `NOTED_GRACE` passes (so back-to-back placements see each other,
    /// even when a report put together before the create arrives first).
    pub fn note_created(&self, node: &str, c: proto::Container) {
        if let Some(s) = self.lock().get_mut(node) {
            s.noted.insert(c.id.clone(), Instant::now());
            s.containers.push(c);
        }
    }

    /// Give a noted container its real ID, or (`None`) forget it.
    pub fn settle_noted(&self, node: &str, placeholder: &str, id: Option<&str>) {
        if let Some(s) = self.lock().get_mut(node) {
            match id {
                Some(id) => {
                    s.containers
                        .iter_mut()
                        .filter(|c| c.id == placeholder)
                        .for_each(|c| c.id = id.to_string());
                    s.noted.insert(id.to_string(), Instant::now());
                }
                None => s.containers.retain(|c| c.id != placeholder),
            }
            s.noted.remove(placeholder);
        }
    }

    /// The nodes holding a container by full ID, name, or ID prefix (in
    /// that order of precedence, as Docker resolves names).
    pub fn find_container(&self, key: &str) -> Vec<String> {
        let m = self.lock();
        for pick in KEY_MATCHES {
            let found: Vec<String> = m
                .iter()
                .filter(|(_, s)| s.containers.iter().any(|c| pick(c, key)))
                .map(|(n, _)| n.clone())
                .collect();
            if !found.is_empty() {
                return found;
            }
        }
        Vec::new()
    }

    pub fn note_exec(&self, exec: &str, node: &str) {
        let mut m = self.execs.lock().unwrap_or_else(|e| e.into_inner());
        // Bounded: execs are short-lived; forget the oldest when full.
        if m.len() >= 10_000 {
            m.clear();
        }
        m.insert(exec.to_string(), node.to_string());
    }

    pub fn exec_node(&self, exec: &str) -> Option<String> {
        self.execs.lock().unwrap_or_else(|e| e.into_inner()).get(exec).cloned()
    }

    /// What a node's live containers reserve, how many there are and the
    /// host ports they publish, in one look at its list.
    /// Every connected node's load and health, under one lock.
    pub fn loads(&self) -> HashMap<String, (Load, Health)> {
        let m = self.lock();
        m.iter()
            .map(|(id, s)| (id.clone(), (s.load(), self.health_of(s))))
            .collect()
    }

    /// Does `node` run the container whose `label` is `value`?
    pub fn runs(&self, node: &str, label: &str, value: &str) -> bool {
        self.lock().get(node).is_some_and(|s| {
            s.containers
                .iter()
                .any(|c| c.state == "running" && c.labels.get(label).is_some_and(|v| v == value))
        })
    }

    /// Does a container on any node have this name?
    pub fn name_taken(&self, name: &str) -> bool {
        self.lock()
            .values()
            .any(|s| s.containers.iter().any(|c| c.name == name))
    }

    /// The task containers of every node, and which nodes were ready,
    /// both at one instant (a node that reports after the view was taken
    /// must not look ready and empty).
    pub fn tasks(&self, label: &str) -> TaskView {
        let m = self.lock();
        let mut view = TaskView::default();
        for (node, s) in m.iter() {
            if self.health_of(s) == Health::Ready {
                view.ready.insert(node.clone());
            }
            for c in &s.containers {
                if let Some(t) = c.labels.get(label) {
                    let tc = TaskContainer {
                        node: node.clone(),
                        id: c.id.clone(),
                        state: c.state.clone(),
                    };
                    view.containers.entry(t.clone()).or_default().push(tc);
                }
            }
        }
        view
    }

    pub fn containers(&self, node: &str) -> Vec<proto::Container> {
        self.lock().get(node).map(|s| s.containers.clone()).unwrap_or_default()
    }

    fn in_grace(&self) -> bool {
        let (since, grace) = *self.started.lock().unwrap_or_else(|e| e.into_inner());
        since.elapsed() < grace
    }

    /// This controller has just become the leader: agents are moving their
    /// sessions to it (after up to their longest backoff), so nodes not
    /// heard from yet get a fresh grace period before they can be declared
    /// down and their work rescheduled.
    pub fn lead_from_now(&self) {
        let grace = self.pace.timeout() * 2 + Duration::from_secs(10);
        *self.started.lock().unwrap_or_else(|e| e.into_inner()) = (Instant::now(), grace);
        self.gone.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// This controller no longer leads: end every session (the agents
    /// reconnect and are forwarded to the new leader).
    pub fn drop_all(&self) {
        self.lock().clear();
    }

    /// Ready while heartbeats arrive; down once they stop for longer than
    /// the timeout. Nodes not heard from since this controller started (or
    /// became the leader) get a grace period (a controller restart or
    /// failover must not make a healthy fleet look dead).
    pub fn health(&self, node: &str) -> (Health, Option<Duration>) {
        let m = self.lock();
        match m.get(node) {
            Some(s) => (self.health_of(s), Some(s.last_seen.elapsed())),
            None => {
                let gone = self.gone.lock().unwrap_or_else(|e| e.into_inner()).get(node).copied();
                match gone {
                    Some(at) if at.elapsed() <= self.pace.timeout() => (Health::Unknown, Some(at.elapsed())),
                    Some(at) => (Health::Down, Some(at.elapsed())),
                    None if self.in_grace() => (Health::Unknown, None),
                    None => (Health::Down, None),
                }
            }
        }
    }

    fn health_of(&self, s: &Session) -> Health {
        match (s.last_seen.elapsed() <= self.pace.timeout(), s.heard) {
            (true, true) => Health::Ready,
            (true, false) => Health::Unknown,
            (false, _) => Health::Down,
        }
    }

    /// Send a Docker API call to a node; the answer arrives in parts on
    /// the returned channel, the last with `end` set. Returns the call's ID
    /// too, which `input` names.
    pub async fn call(&self, node: &str, mut req: ApiRequest) -> Result<(u64, mpsc::Receiver<ApiResponse>), CallError> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        req.id = id;
        let (tx, rx) = mpsc::channel(64);
        let session_tx = {
            let mut m = self.lock();
            let s = m
                .get_mut(node)
                .ok_or_else(|| CallError::NotConnected(node.to_string()))?;
            s.calls.insert(id, tx);
            s.tx.clone()
        };
        let msg = ControllerMessage {
            body: Some(controller_message::Body::Request(req)),
        };
        if session_tx.send(msg).await.is_err() {
            self.finish(node, id);
            return Err(CallError::Lost(node.to_string()));
        }
        Ok((id, rx))
    }

    /// A whole call: (status, body), for the controller's own requests.
    pub async fn call_once(
        &self,
        node: &str,
        method: &str,
        path: &str,
        body: Vec<u8>,
    ) -> Result<(u16, Vec<u8>), CallError> {
        let req = ApiRequest {
            id: 0,
            method: method.into(),
            path: path.into(),
            content_type: if body.is_empty() {
                String::new()
            } else {
                "application/json".into()
            },
            body,
            upgrade: false,
        };
        let (_, mut rx) = self.call(node, req).await?;
        let mut status = 0;
        let mut out = Vec::new();
        let lost = || CallError::Lost(node.to_string());
        loop {
            let part = tokio::time::timeout(Duration::from_secs(30), rx.recv())
                .await
                .map_err(|_| lost())?
                .ok_or_else(lost)?;
            if status == 0 {
                status = part.status as u16;
            }
            out.extend_from_slice(&part.body);
            if part.end {
                return Ok((status, out));
            }
        }
    }

    /// Pass the client's bytes of an upgraded call on to the node.
    pub async fn input(&self, node: &str, id: u64, data: Vec<u8>, eof: bool) -> Result<(), CallError> {
        let tx = self
            .lock()
            .get(node)
            .map(|s| s.tx.clone())
            .ok_or_else(|| CallError::Lost(node.to_string()))?;
        let msg = ControllerMessage {
            body: Some(controller_message::Body::Input(proto::StreamData { id, data, eof })),
        };
        tx.send(msg).await.map_err(|_| CallError::Lost(node.to_string()))
    }

    /// Route a part of an answer to its caller. A caller that went away
    /// gets the call cancelled on the agent.
    pub async fn answer(&self, node: &str, resp: ApiResponse) {
        let (id, end) = (resp.id, resp.end);
        let target = self.lock().get(node).and_then(|s| s.calls.get(&id).cloned());
        let Some(tx) = target else {
            return;
        };
        if tx.send(resp).await.is_err() {
            self.cancel(node, id).await;
            return;
        }
        if end {
            self.finish(node, id);
        }
    }

    fn finish(&self, node: &str, id: u64) {
        if let Some(s) = self.lock().get_mut(node) {
            s.calls.remove(&id);
        }
    }

    async fn cancel(&self, node: &str, id: u64) {
        let tx = {
            let mut m = self.lock();
            let Some(s) = m.get_mut(node) else { return };
            s.calls.remove(&id);
            s.tx.clone()
        };
        let msg = ControllerMessage {
            body: Some(controller_message::Body::Cancel(id)),
        };
        let _ = tx.send(msg).await;
    }
}

/// The revocation list as a session message.
pub fn revoked_message(ids: Vec<String>) -> ControllerMessage {
    ControllerMessage {
        body: Some(controller_message::Body::Revoked(proto::Revoked { ids })),
    }
}
