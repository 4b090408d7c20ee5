//! `skiff-controller`: the cluster controller. `init` makes a cluster (CA,
//! server certificate, join tokens, a local admin certificate) and serves
//! it; without a subcommand it serves the cluster already in `--data`.
//! The data path: `server` (TLS port) → `api` (REST) / `session` (agents'
//! gRPC) → `scheduler` (placement) and `orchestrator` (services) →
//! `state` (raft-replicated) and `fleet` (live sessions).

mod api;
mod bootstrap;
mod fleet;
mod forward;
mod members;
mod orchestrator;
mod peers;
mod pki;
mod scheduler;
mod server;
mod session;
mod state;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use serde::{Deserialize, Serialize};

#[derive(Parser)]
#[command(name = "skiff-controller", version, about = "skiff cluster controller")]
struct Flags {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    run: RunFlags,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a cluster in --data and serve it
    Init(InitFlags),
    /// Add this controller to a cluster (with a controller join token) and serve it
    Join(JoinFlags),
}

#[derive(Args, Clone)]
pub struct RunFlags {
    /// Where the controller keeps its CA, certificates and state
    #[arg(long, global = true, default_value = "/var/lib/skiff-controller")]
    data: PathBuf,
    /// Address to serve on (agents, CLI and joiners alike)
    #[arg(long, global = true)]
    listen: Option<String>,
    /// How often agents heartbeat
    #[arg(long, global = true, value_parser = parse_duration)]
    heartbeat_period: Option<Duration>,
    /// A node is down after this long without a heartbeat
    #[arg(long, global = true, value_parser = parse_duration)]
    node_timeout: Option<Duration>,
    /// How long node and client certificates last (nodes renew theirs
    /// two thirds into it)
    #[arg(long, global = true, value_parser = parse_duration)]
    cert_expiry: Option<Duration>,
    /// Enable debug output
    #[arg(short = 'D', long, global = true)]
    debug: bool,
}

#[derive(Args)]
pub struct InitFlags {
    /// Address (name or IP) agents and clients reach the controller at; the
    /// server certificate is valid for these (repeat)
    #[arg(long = "advertise-addr")]
    advertise: Vec<String>,
    /// Use this CA certificate instead of making one (with --ca-key)
    #[arg(long, requires = "ca_key")]
    ca_cert: Option<PathBuf>,
    /// The key of --ca-cert
    #[arg(long, requires = "ca_cert")]
    ca_key: Option<PathBuf>,
}

#[derive(Args)]
pub struct JoinFlags {
    /// A controller join token (`skiff cluster join-token controller`)
    #[arg(long)]
    token: String,
    /// Any controller of the cluster, HOST:PORT
    #[arg(long)]
    peer: String,
    /// Address (name or IP) others reach this controller at; its
    /// certificate is valid for these (repeat)
    #[arg(long = "advertise-addr")]
    advertise: Vec<String>,
}

/// What `init` or `join` decided, kept for later starts (flags still win).
#[derive(Serialize, Deserialize)]
pub struct Settings {
    listen: String,
    heartbeat_period_ms: u64,
    node_timeout_ms: u64,
    #[serde(default = "default_cert_expiry")]
    cert_expiry_secs: u64,
    /// This controller's raft ID (1: the one `init` made).
    #[serde(default = "first_raft_id")]
    raft_id: u64,
    /// The address peers, agents and clients reach it at ("": derived
    /// from `listen`, for clusters made before controllers replicated).
    #[serde(default)]
    addr: String,
    /// The controllers' addresses when this one joined (by raft ID): where
    /// to answer the leader before the replicated state has arrived.
    #[serde(default)]
    peers: std::collections::BTreeMap<u64, String>,
}

fn first_raft_id() -> u64 {
    state::FIRST_RAFT_ID
}

fn default_cert_expiry() -> u64 {
    pki::CERT_EXPIRY.as_secs()
}

/// `5s`, `500ms`, `1m` (humantime's units); a bare number is seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).map_err(|e| format!("invalid duration {s:?}: {e}"));
    }
    humantime::parse_duration(s).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

pub fn settings_path(data: &Path) -> PathBuf {
    data.join("controller.json")
}

fn main() -> Result<()> {
    let flags = Flags::parse();
    let level = if flags.run.debug { "debug" } else { "info" };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(format!(
            "skiff_controller={level},raft=warn,warn"
        )))
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match &flags.cmd {
            Some(Cmd::Init(init)) => bootstrap::init(&flags.run, init).await?,
            Some(Cmd::Join(join)) => bootstrap::join(&flags.run, join).await?,
            None => {}
        }
        run(flags.run).await
    })
}

async fn run(flags: RunFlags) -> Result<()> {
    let data = &flags.data;
    let settings: Settings = skiff_common::fsutil::read_json(&settings_path(data)).with_context(|| {
        format!(
            "no cluster in {} (create one with `skiff-controller init --data {}`)",
            data.display(),
            data.display()
        )
    })?;
    let listen = flags.listen.unwrap_or(settings.listen);
    let period = flags
        .heartbeat_period
        .unwrap_or(Duration::from_millis(settings.heartbeat_period_ms));
    let timeout = flags
        .node_timeout
        .unwrap_or(Duration::from_millis(settings.node_timeout_ms));
    let voters: &[u64] = if settings.raft_id == state::FIRST_RAFT_ID {
        &[state::FIRST_RAFT_ID]
    } else {
        &[]
    };
    let handle = tokio::runtime::Handle::current();
    let peer_dir = pki::peer_dir(data);
    let known = settings.peers.clone();
    let store = state::Store::open_member(&data.join("raft"), settings.raft_id, voters, |st| {
        peers::GrpcPeers::new(handle, st, peer_dir, known)
    })?;
    let expiry = flags
        .cert_expiry
        .unwrap_or(Duration::from_secs(settings.cert_expiry_secs));
    if !pki::has_identity(data) {
        let addr = bootstrap::advertised(&listen, &[])?;
        bootstrap::give_identity(data, &store, &addr, &bootstrap::sans(&listen, &[]), expiry).await?;
    }
    let mut pki = pki::Pki::load(data)?;
    pki.expiry = expiry;
    let ctx = Arc::new(server::Ctx {
        store,
        pki,
        fleet: Arc::new(fleet::Fleet::new(period, timeout)),
        events: skiff_common::events::Journal::open(&data.join("events"), 4096)?,
        unplaced: Default::default(),
        placer: Default::default(),
    });
    tokio::spawn(renew_own(ctx.clone(), data.to_path_buf()));
    let app = api::router(ctx.clone());
    tokio::spawn(orchestrator::run(ctx.clone()));
    tokio::select! {
        r = server::serve(&listen, ctx, app) => r,
        _ = shutdown() => {
            tracing::info!("controller stopping");
            Ok(())
        }
    }
}

async fn shutdown() {
    let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// Keep this controller's certificate renewed: checked at start, then
/// when due (at most an hour apart).
async fn renew_own(ctx: Arc<server::Ctx>, data: std::path::PathBuf) {
    loop {
        let wait = match ctx.pki.renew_own(&data) {
            Ok(due) => due.duration_since(std::time::SystemTime::now()).unwrap_or_default(),
            Err(e) => {
                tracing::warn!("renewing this controller's certificate: {e:#}");
                Duration::from_secs(60)
            }
        };
        tokio::time::sleep(wait.clamp(Duration::from_secs(1), Duration::from_secs(3600))).await;
    }
}
