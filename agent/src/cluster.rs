//! Membership of a cluster: join once with a token (the certificate is
//! kept under `<data-root>/cluster/`), then hold one gRPC session to the
//! controller for as long as the agent runs: register, heartbeat, report
//! containers, and answer the Docker API calls the controller sends by
//! running them through this agent's own API router. Losing the
//! controller never touches the containers; the session comes back with
//! backoff (100 ms doubling to 8 s, jittered, as SwarmKit's agents do).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use axum::Router;
use bytes::Bytes;
use http_body_util::BodyExt;
use rand::Rng;
use skiff_common::cluster::proto::cluster_client::ClusterClient;
use skiff_common::cluster::proto::{
    agent_message, controller_message, AgentMessage, ApiRequest, ApiResponse, Container, ContainerList, Heartbeat,
    Register, StreamData,
};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio_stream::wrappers::ReceiverStream;
use tower_service::Service;

use crate::config::Config;

mod revoked;
pub use revoked::Revoked;

/// Where the node's certificate and the controller's address are kept.
pub fn dir(cfg: &Config) -> PathBuf {
    cfg.data_root.join("cluster")
}

fn controller_file(dir: &Path) -> PathBuf {
    dir.join("controller")
}

/// Join if asked and not yet a member; then keep a session in the
/// background. Returns without doing anything for a standalone agent.
pub async fn start(
    cfg: &Config,
    app: Router,
    events: Arc<skiff_common::events::Journal>,
    revoked: Arc<Revoked>,
) -> Result<()> {
    let dir = dir(cfg);
    let member = dir.join(skiff_certs::files::CLIENT_CERT).exists();
    let controller = match (&cfg.join, member) {
        (Some(token), false) => {
            let addr = cfg
                .controller
                .clone()
                .context("--join needs --controller HOST:PORT[,HOST:PORT…]")?;
            join(&addr, token, &cfg.node_name, &dir).await?;
            addr
        }
        (_, true) => match &cfg.controller {
            Some(a) => a.clone(),
            None => std::fs::read_to_string(controller_file(&dir))
                .context("this agent has a cluster certificate but no controller address")?
                .trim()
                .to_string(),
        },
        (None, false) => return Ok(()),
    };
    if member && cfg.join.is_some() {
        tracing::info!("already a cluster member; --join ignored");
    }
    skiff_common::fsutil::write_atomic(&controller_file(&dir), controller.as_bytes())?;
    let local = Local {
        app,
        sock: cfg.listen.iter().find_map(|l| match l {
            crate::config::Listen::Unix(p) => Some(p.clone()),
            _ => None,
        }),
        events: Some(events),
        revoked: Some(revoked),
    };
    hold_session(&controller, &dir, local, cfg.node_name.clone())?;
    tokio::spawn(keep_certificate(controller, dir));
    Ok(())
}

/// Renew the node certificate two thirds into its life, for as long as
/// the process runs; a failed attempt is retried every few seconds (the
/// old certificate still works until it expires).
async fn keep_certificate(controller: String, dir: PathBuf) {
    loop {
        let wait = match skiff_client::cluster::renewal_due(&dir) {
            Ok(at) => at.duration_since(std::time::SystemTime::now()).unwrap_or_default(),
            Err(e) => {
                tracing::warn!("node certificate: {e}");
                Duration::from_secs(60)
            }
        };
        // Wake at least hourly: the clock may jump.
        tokio::time::sleep(wait.min(Duration::from_secs(3600))).await;
        if skiff_client::cluster::renewal_due(&dir).is_ok_and(|at| at > std::time::SystemTime::now()) {
            continue;
        }
        let addrs = addresses_of(&controller);
        let mut renewed = Err(skiff_client::ClientError::Other("no controller address".into()));
        for addr in &addrs {
            renewed = skiff_client::cluster::renew(addr, &dir).await;
            if renewed.is_ok() {
                break;
            }
        }
        match renewed {
            Ok(next) => tracing::info!(
                next = %chrono::DateTime::<chrono::Utc>::from(next).to_rfc3339(),
                "node certificate renewed"
            ),
            Err(e) => {
                tracing::warn!("renewing the node certificate: {e}");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    }
}

/// The controllers' addresses in `--controller a,b,c`.
pub fn addresses_of(controllers: &str) -> Vec<String> {
    controllers
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(String::from)
        .collect()
}

/// Keep a session to one of the controllers in `controllers` (`a,b,c`:
/// any of them serves it, forwarding to the leader) with the certificate
/// in `dir`, reconnecting for as long as the process runs; after a failed
/// attempt the next address is tried. (The fleet simulator runs many of
/// these in one process, each with a stand-in API.)
pub fn hold_session(controllers: &str, dir: &Path, local: Local, node_name: String) -> Result<()> {
    let channels = addresses_of(controllers)
        .iter()
        .map(|a| Ok((a.clone(), skiff_common::cluster::channel(a, dir)?)))
        .collect::<Result<Vec<_>>>()?;
    if channels.is_empty() {
        bail!("no controller address");
    }
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        // The newest event the controller has had (arrival number in the
        // journal), across reconnections; history before this start is not resent.
        let reported = std::sync::atomic::AtomicU64::new(local.events.as_ref().map_or(0, |j| j.last_seq()));
        let mut at = rand::thread_rng().gen_range(0..channels.len());
        loop {
            let (addr, channel) = &channels[at];
            let began = tokio::time::Instant::now();
            match session(channel.clone(), &local, &node_name, &reported).await {
                Ok(()) => tracing::warn!(controller = %addr, "controller closed the session"),
                Err(e) => {
                    tracing::warn!(controller = %addr, "controller session: {e:#}");
                    at = (at + 1) % channels.len();
                }
            }
            // A session that held a while was a good one: start over fast.
            if began.elapsed() > Duration::from_secs(10) {
                backoff = Duration::from_millis(100);
            }
            let jitter = rand::thread_rng().gen_range(0.5..1.0);
            tokio::time::sleep(backoff.mul_f64(jitter)).await;
            backoff = (backoff * 2).min(Duration::from_secs(8));
        }
    });
    Ok(())
}

/// Get a node certificate from any of the controllers (`a,b,c`). A
/// refused token is fatal; unreachable controllers are retried for a minute.
pub async fn join(controllers: &str, token: &str, name: &str, dir: &Path) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let addrs = addresses_of(controllers);
    if addrs.is_empty() {
        bail!("no controller address");
    }
    let mut attempt = 0;
    loop {
        let addr = &addrs[attempt % addrs.len()];
        attempt += 1;
        match skiff_client::cluster::join(addr, token, name, false, dir).await {
            Ok(r) => {
                tracing::info!(node = %r.id, "joined the cluster at {addr}");
                return Ok(());
            }
            Err(e @ skiff_client::ClientError::Api { .. }) => bail!("joining the cluster at {addr}: {e}"),
            Err(e) if tokio::time::Instant::now() > deadline => bail!("joining the cluster at {addr}: {e}"),
            Err(e) => {
                tracing::warn!("joining the cluster at {addr}: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

fn msg(body: agent_message::Body) -> AgentMessage {
    AgentMessage { body: Some(body) }
}

/// How the controller's calls reach this agent's API: in-process through
/// the router, or (for calls that upgrade to a byte stream, which need a
/// real connection) through the agent's own unix socket.
pub struct Local {
    pub app: Router,
    pub sock: Option<PathBuf>,
    /// This agent's events, reported up the session.
    pub events: Option<Arc<skiff_common::events::Journal>>,
    /// Where the controller's revocation list goes (the TLS listener's).
    pub revoked: Option<Arc<Revoked>>,
}

type Inputs = Arc<Mutex<HashMap<u64, mpsc::Sender<StreamData>>>>;

/// One part of the answer to call `id` (status and type on the first).
fn answer(id: u64, status: u16, content_type: &str, body: Vec<u8>, end: bool) -> AgentMessage {
    msg(agent_message::Body::Response(ApiResponse {
        id,
        status: u32::from(status),
        content_type: content_type.to_string(),
        body,
        end,
    }))
}

/// Call this agent's own API in-process.
async fn local(app: &Router, req: http::Request<axum::body::Body>) -> (http::StatusCode, String, axum::body::Body) {
    let resp = match app.clone().call(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let ct = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let status = resp.status();
    (status, ct, resp.into_body())
}

async fn local_json<T: serde::de::DeserializeOwned>(app: &Router, path: &str) -> Result<T> {
    let req = http::Request::get(path).body(axum::body::Body::empty())?;
    let (status, _, body) = local(app, req).await;
    let data = body.collect().await?.to_bytes();
    if !status.is_success() {
        bail!("{path}: {status}");
    }
    Ok(serde_json::from_slice(&data)?)
}

async fn register(app: &Router, name: &str) -> Result<Register> {
    let info: serde_json::Value = local_json(app, "/info").await?;
    let s = |k: &str| info[k].as_str().unwrap_or_default().to_string();
    let labels = info["Labels"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l.as_str()?.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
    Ok(Register {
        hostname: name.to_string(),
        addresses: addresses(),
        cpus: info["NCPU"].as_u64().unwrap_or(1) as u32,
        memory_bytes: info["MemTotal"].as_u64().unwrap_or(0),
        labels,
        engine_version: s("ServerVersion"),
        os: s("OperatingSystem"),
        architecture: skiff_api::go_arch().to_string(),
        api_addr: String::new(),
    })
}

/// This host's IPv4 addresses, loopback and container bridges left out.
fn addresses() -> Vec<String> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let mut out: Vec<String> = addrs
        .filter(|a| !a.interface_name.starts_with("skiff") && !a.interface_name.starts_with("veth"))
        .filter_map(|a| a.address?.as_sockaddr_in().map(|s| s.ip()))
        .filter(|ip| !ip.is_loopback())
        .map(|ip| ip.to_string())
        .collect();
    out.dedup();
    out
}

async fn containers(app: &Router) -> Result<Vec<Container>> {
    let list: Vec<skiff_api::ContainerSummary> = local_json(app, "/containers/json?all=1").await?;
    Ok(list
        .into_iter()
        .map(|c| Container {
            name: c
                .names
                .first()
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_default(),
            id: c.id,
            image: c.image,
            state: c.state,
            labels: c.labels.into_iter().collect(),
            nano_cpus: c.host_config["NanoCpus"].as_i64().unwrap_or(0),
            memory: c.host_config["Memory"].as_i64().unwrap_or(0),
            // What it asks for, set from its creation on (a created
            // container holds its port for the scheduler before it runs).
            host_ports: skiff_api::host_ports(
                &serde_json::from_value(c.host_config["PortBindings"].clone()).unwrap_or_default(),
            ),
        })
        .collect())
}

async fn session(
    channel: tonic::transport::Channel,
    local: &Local,
    name: &str,
    reported: &std::sync::atomic::AtomicU64,
) -> Result<()> {
    let app = &local.app;
    let mut client = ClusterClient::new(channel)
        .max_decoding_message_size(skiff_common::cluster::MAX_MESSAGE)
        .max_encoding_message_size(skiff_common::cluster::MAX_MESSAGE);
    let (tx, rx) = mpsc::channel(256);
    tx.send(msg(agent_message::Body::Register(register(app, name).await?)))
        .await?;
    let mut inbound = client.session(ReceiverStream::new(rx)).await?.into_inner();
    let welcome = match inbound.message().await? {
        Some(m) => match m.body {
            Some(controller_message::Body::Welcome(w)) => w,
            _ => bail!("the controller did not welcome this agent"),
        },
        None => bail!("the controller closed the session"),
    };
    tracing::info!(node = %welcome.node_id, "connected to the controller");
    let mut period = Duration::from_millis(u64::from(welcome.heartbeat_period_ms.max(100)));
    let mut last: Vec<Container> = Vec::new();
    let calls: Arc<Mutex<HashMap<u64, AbortHandle>>> = Arc::default();
    let inputs: Inputs = Arc::default();
    // Events: what happened while disconnected, then as they come.
    let mut live = local.events.as_ref().map(|j| j.subscribe());
    if let Some(j) = &local.events {
        for (n, e) in j.after_seq(reported.load(std::sync::atomic::Ordering::Relaxed)) {
            send_event(&tx, n, &e, reported).await?;
        }
    }
    let mut next = tokio::time::Instant::now();
    loop {
        // Report containers when they changed, heartbeat otherwise.
        let now_list = containers(app).await.unwrap_or_else(|_| last.clone());
        let body = if now_list != last {
            last = now_list.clone();
            agent_message::Body::Containers(ContainerList { containers: now_list })
        } else {
            let running = last.iter().filter(|c| c.state == "running").count() as u32;
            agent_message::Body::Heartbeat(Heartbeat { running })
        };
        if tx.send(msg(body)).await.is_err() {
            return Ok(());
        }
        let jitter = rand::thread_rng().gen_range(0.9..1.1);
        next += period.mul_f64(jitter);
        loop {
            let m = tokio::select! {
                _ = tokio::time::sleep_until(next) => break,
                m = inbound.message() => m?,
                e = next_event(&mut live) => {
                    let batch = match (e, &local.events) {
                        (Some(x), _) => vec![x],
                        // Fell behind the live feed: catch up from the journal.
                        (None, Some(j)) => j.after_seq(reported.load(std::sync::atomic::Ordering::Relaxed)),
                        (None, None) => Vec::new(),
                    };
                    for (n, e) in batch {
                        send_event(&tx, n, &e, reported).await?;
                    }
                    continue;
                }
            };
            let Some(m) = m else {
                return Ok(());
            };
            match m.body {
                Some(controller_message::Body::Request(r)) => {
                    let id = r.id;
                    let (app, tx, calls2) = (app.clone(), tx.clone(), calls.clone());
                    let upgrade = r.upgrade.then(|| {
                        let (itx, irx) = mpsc::channel(64);
                        inputs.lock().unwrap_or_else(|e| e.into_inner()).insert(id, itx);
                        (local.sock.clone(), irx, inputs.clone())
                    });
                    let h = tokio::spawn(async move {
                        match upgrade {
                            Some((sock, irx, inputs)) => {
                                serve_upgrade(sock, r, &tx, irx).await;
                                inputs.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                            }
                            None => serve(&app, r, &tx).await,
                        }
                        calls2.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                    });
                    calls
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(id, h.abort_handle());
                }
                Some(controller_message::Body::Cancel(id)) => {
                    if let Some(h) = calls.lock().unwrap_or_else(|e| e.into_inner()).remove(&id) {
                        h.abort();
                    }
                    inputs.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                }
                Some(controller_message::Body::Input(d)) => {
                    let itx = inputs.lock().unwrap_or_else(|e| e.into_inner()).get(&d.id).cloned();
                    if let Some(itx) = itx {
                        let _ = itx.send(d).await;
                    }
                }
                // The controller re-paces its agents as its fleet grows
                // or shrinks.
                // The next beat falls anywhere in the new period, so the
                // fleet's beats do not all come at once.
                Some(controller_message::Body::Revoked(r)) => {
                    if let Some(list) = &local.revoked {
                        list.replace(r.ids);
                    }
                    continue;
                }
                Some(controller_message::Body::Welcome(w)) => {
                    let now = Duration::from_millis(u64::from(w.heartbeat_period_ms.max(100)));
                    if now != period {
                        tracing::info!(period_ms = now.as_millis() as u64, "heartbeat period changed");
                        period = now;
                        next = tokio::time::Instant::now() + period.mul_f64(rand::thread_rng().gen_range(0.05..1.0));
                    }
                    continue;
                }
                None => {}
            }
            // A call may have changed containers: report before the next beat.
            if tokio::time::Instant::now() + period / 2 < next {
                next = tokio::time::Instant::now() + Duration::from_millis(200).min(period);
            }
        }
    }
}

/// The next live event (`None`: some were missed); never resolves
/// without a journal.
async fn next_event(
    live: &mut Option<tokio::sync::broadcast::Receiver<(u64, skiff_api::events::Event)>>,
) -> Option<(u64, skiff_api::events::Event)> {
    let Some(rx) = live else {
        return std::future::pending().await;
    };
    match rx.recv().await {
        Ok(x) => Some(x),
        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => None,
        Err(tokio::sync::broadcast::error::RecvError::Closed) => std::future::pending().await,
    }
}

async fn send_event(
    tx: &mpsc::Sender<AgentMessage>,
    seq: u64,
    e: &skiff_api::events::Event,
    reported: &std::sync::atomic::AtomicU64,
) -> Result<()> {
    if seq <= reported.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(());
    }
    let json = serde_json::to_vec(e)?;
    tx.send(msg(agent_message::Body::Event(skiff_common::cluster::proto::Event {
        json,
    })))
    .await
    .map_err(|_| anyhow::anyhow!("session closed"))?;
    reported.fetch_max(seq, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

/// Run one Docker API call and send its answer back, a part per body
/// frame as it comes (so `logs -f` flows), the last part with `end`.
async fn serve(app: &Router, r: ApiRequest, tx: &mpsc::Sender<AgentMessage>) {
    let id = r.id;
    let part = |status: u16, ct: &str, body: Bytes, end: bool| answer(id, status, ct, body.to_vec(), end);
    let mut b = http::Request::builder().method(r.method.as_str()).uri(r.path.as_str());
    if !r.content_type.is_empty() {
        b = b.header(http::header::CONTENT_TYPE, r.content_type.as_str());
    }
    let req = match b.body(axum::body::Body::from(r.body)) {
        Ok(req) => req,
        Err(e) => {
            let err = serde_json::json!({"message": format!("bad request from the controller: {e}")});
            let _ = tx
                .send(part(400, "application/json", err.to_string().into(), true))
                .await;
            return;
        }
    };
    let (status, ct, mut body) = local(app, req).await;
    let mut head = Some((status.as_u16(), ct));
    loop {
        let frame = body.frame().await;
        let data = match frame {
            Some(Ok(f)) => match f.into_data() {
                Ok(d) if !d.is_empty() => Some(d),
                _ => continue,
            },
            _ => None,
        };
        let end = data.is_none();
        let (code, ctype) = head.take().unwrap_or((0, String::new()));
        if tx
            .send(part(code, &ctype, data.unwrap_or_default(), end))
            .await
            .is_err()
            || end
        {
            return;
        }
    }
}

/// An upgraded call (attach, exec start): made on the agent's own socket,
/// then bytes both ways until either side ends.
async fn serve_upgrade(
    sock: Option<PathBuf>,
    r: ApiRequest,
    tx: &mpsc::Sender<AgentMessage>,
    mut input: mpsc::Receiver<StreamData>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let id = r.id;
    let part = |status: u16, ct: &str, body: Vec<u8>, end: bool| answer(id, status, ct, body, end);
    let Some(sock) = sock else {
        let err = serde_json::json!({"message": "this agent serves no unix socket to attach through"});
        let _ = tx
            .send(part(501, "application/json", err.to_string().into(), true))
            .await;
        return;
    };
    let body = if r.body.is_empty() {
        skiff_client::Body::Empty
    } else {
        skiff_client::Body::Json(r.body)
    };
    let client = skiff_client::Client::new(sock);
    let stream = match client.hijack(&r.path, body).await {
        Ok(s) => s,
        Err(e) => {
            let status = e.status().map_or(500, |s| s.as_u16());
            let message = match e {
                skiff_client::ClientError::Api { message, .. } => message,
                e => e.to_string(),
            };
            let err = serde_json::json!({ "message": message });
            let _ = tx
                .send(part(status, "application/json", err.to_string().into(), true))
                .await;
            return;
        }
    };
    let ct = "application/vnd.docker.raw-stream";
    if tx.send(part(101, ct, Vec::new(), false)).await.is_err() {
        return;
    }
    let (mut rd, mut wr) = tokio::io::split(stream);
    let writer = tokio::spawn(async move {
        while let Some(d) = input.recv().await {
            if wr.write_all(&d.data).await.is_err() {
                return;
            }
            if d.eof {
                let _ = wr.shutdown().await;
                return;
            }
        }
    });
    let mut buf = vec![0u8; 32 << 10];
    loop {
        let n = rd.read(&mut buf).await.unwrap_or(0);
        if tx.send(part(0, "", buf[..n].to_vec(), n == 0)).await.is_err() || n == 0 {
            break;
        }
    }
    writer.abort();
}
