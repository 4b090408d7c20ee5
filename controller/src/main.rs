//! `skiff-controller`: the cluster controller. `init` makes a cluster (CA,
//! server certificate, join tokens, a local admin certificate) and serves
//! it; without a subcommand it serves the cluster already in `--data`.
//! The data path: `server` (TLS port) → `api` (REST) / `session` (agents'
//! gRPC) → `scheduler` (placement) and `orchestrator` (services) →
//! `state` (raft-replicated) and `fleet` (live sessions).

mod api;
mod fleet;
mod orchestrator;
mod pki;
mod scheduler;
mod server;
mod session;
mod state;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use serde::{Deserialize, Serialize};
use skiff_certs::cluster::Role;

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
}

#[derive(Args, Clone)]
struct RunFlags {
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
struct InitFlags {
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

/// What `init` decided, kept for later starts (flags still win).
#[derive(Serialize, Deserialize)]
struct Settings {
    listen: String,
    heartbeat_period_ms: u64,
    node_timeout_ms: u64,
    #[serde(default = "default_cert_expiry")]
    cert_expiry_secs: u64,
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

fn settings_path(data: &Path) -> PathBuf {
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
        if let Some(Cmd::Init(init)) = &flags.cmd {
            self::init(&flags.run, init).await?;
        }
        run(flags.run).await
    })
}

async fn init(run: &RunFlags, init: &InitFlags) -> Result<()> {
    let data = &run.data;
    if settings_path(data).exists() {
        bail!(
            "a cluster already exists in {}: start it with `skiff-controller --data {}`",
            data.display(),
            data.display()
        );
    }
    std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(data, std::fs::Permissions::from_mode(0o700))?;
    let listen = run
        .listen
        .clone()
        .unwrap_or_else(|| format!("0.0.0.0:{}", skiff_api::cluster::DEFAULT_PORT));
    let mut sans: Vec<String> = vec!["localhost".into(), "127.0.0.1".into()];
    if let Ok(h) = nix::unistd::gethostname() {
        sans.push(h.to_string_lossy().into_owned());
    }
    let listen_host = listen.rsplit_once(':').map(|(h, _)| h).unwrap_or("");
    if !listen_host.is_empty() && listen_host != "0.0.0.0" && listen_host != "[::]" {
        sans.push(listen_host.trim_matches(|c| c == '[' || c == ']').to_string());
    }
    sans.extend(init.advertise.iter().cloned());
    sans.dedup();
    let given = init.ca_cert.as_deref().zip(init.ca_key.as_deref());
    pki::Pki::create(data, given, &sans)?;
    let store = state::Store::open(&data.join("raft"))?;
    let tokens = [Role::Agent, Role::Admin, Role::Readonly]
        .into_iter()
        .map(|r| (r, pki::random_id(32)))
        .collect();
    let cluster = pki::random_id(25);
    store
        .propose(state::Command::Init {
            id: cluster.clone(),
            at: server::now(),
            tokens,
        })
        .await?;
    // The operator's own admin certificate, signed like any other.
    let mut pki = pki::Pki::load(data)?;
    pki.expiry = run.cert_expiry.unwrap_or(pki::CERT_EXPIRY);
    let admin = pki::random_id(25);
    let (key, csr) = skiff_certs::cluster::new_key_and_csr("admin")?;
    let who = skiff_certs::cluster::Identity {
        id: admin.clone(),
        role: Role::Admin,
        cluster,
    };
    let cert = pki.sign(&csr, &who)?;
    store
        .propose(state::Command::AddClient {
            id: admin,
            role: Role::Admin,
            name: "init".into(),
            at: server::now(),
        })
        .await?;
    let dir = data.join("admin");
    std::fs::create_dir_all(&dir)?;
    use skiff_certs::files;
    use skiff_common::fsutil::write_atomic_mode;
    write_atomic_mode(&dir.join(files::CLIENT_KEY), key.as_bytes(), 0o600)?;
    write_atomic_mode(&dir.join(files::CLIENT_CERT), cert.as_bytes(), 0o644)?;
    write_atomic_mode(&dir.join(files::CA), pki.ca_pem().as_bytes(), 0o644)?;
    let settings = Settings {
        listen,
        heartbeat_period_ms: run.heartbeat_period.map_or(5000, |d| d.as_millis() as u64),
        node_timeout_ms: run.node_timeout.map_or(10_000, |d| d.as_millis() as u64),
        cert_expiry_secs: pki.expiry.as_secs().max(1),
    };
    skiff_common::fsutil::write_json_atomic(&settings_path(data), &settings)?;
    let agent_token = pki.token(&store.read().tokens[&Role::Agent]);
    drop(store);
    println!("Cluster initialized: {}", data.display());
    println!();
    println!("To add an agent to this cluster, run on its host:");
    println!();
    println!("    skiff-agent --join {agent_token} --controller HOST:PORT");
    println!();
    println!(
        "An admin certificate for this machine is in {}; use it with\n\n    export SKIFF_CERT_PATH={} SKIFF_TLS_VERIFY=1 SKIFF_HOST=tcp://HOST:PORT\n",
        dir.display(),
        dir.display()
    );
    // The store's raft thread exits once its last handle is gone.
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(())
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
    let store = state::Store::open(&data.join("raft"))?;
    let mut pki = pki::Pki::load(data)?;
    pki.expiry = flags
        .cert_expiry
        .unwrap_or(Duration::from_secs(settings.cert_expiry_secs));
    let ctx = Arc::new(server::Ctx {
        store,
        pki,
        fleet: Arc::new(fleet::Fleet::new(period, timeout)),
        events: skiff_common::events::Journal::open(&data.join("events"), 4096)?,
        unplaced: Default::default(),
    });
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
