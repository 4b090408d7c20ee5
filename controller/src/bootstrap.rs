//! Making a controller: `init` (a new cluster: CA, tokens, the first
//! controller's identity, a local admin certificate) and `join` (another
//! controller: its certificate, the CA and its raft ID from any member).

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use skiff_certs::cluster::{Identity, Role};
use skiff_client::cluster::{ControllerJoin, JoinRequest, JoinToken};

use crate::{pki, server, settings_path, state, InitFlags, JoinFlags, RunFlags, Settings};

/// The names a controller's certificate serves TLS for.
pub fn sans(listen: &str, advertise: &[String]) -> Vec<String> {
    let mut sans: Vec<String> = vec!["localhost".into(), "127.0.0.1".into()];
    if let Ok(h) = nix::unistd::gethostname() {
        sans.push(h.to_string_lossy().into_owned());
    }
    let host = listen.rsplit_once(':').map(|(h, _)| h).unwrap_or("");
    if !host.is_empty() && host != "0.0.0.0" && host != "[::]" {
        sans.push(host.trim_matches(|c| c == '[' || c == ']').to_string());
    }
    sans.extend(advertise.iter().cloned());
    sans.sort();
    sans.dedup();
    sans
}

/// HOST:PORT others reach this controller at: the first advertised
/// address with the listening port, else the listening address itself.
pub fn advertised(listen: &str, advertise: &[String]) -> Result<String> {
    let (host, port) = listen
        .rsplit_once(':')
        .with_context(|| format!("invalid listen address {listen:?}: use HOST:PORT"))?;
    if let Some(a) = advertise.first() {
        return Ok(if a.contains(':') {
            a.clone()
        } else {
            format!("{a}:{port}")
        });
    }
    if host.is_empty() || host == "0.0.0.0" || host == "[::]" {
        let h = nix::unistd::gethostname()?.to_string_lossy().into_owned();
        return Ok(format!("{h}:{port}"));
    }
    Ok(listen.to_string())
}

/// Record this controller (raft ID 1, the sole voter) and give it its
/// controller-role certificate: at `init`, and once for clusters made
/// before controllers had identities.
pub async fn give_identity(
    data: &Path,
    store: &state::Store,
    addr: &str,
    sans: &[String],
    expiry: Duration,
) -> Result<()> {
    for _ in 0..100 {
        if store.is_leader() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let id = pki::random_id(25);
    store
        .propose(state::Command::AddController {
            id: id.clone(),
            addr: addr.to_string(),
            at: server::now(),
        })
        .await?;
    let who = Identity {
        id,
        role: Role::Controller,
        cluster: store.read().id.clone(),
    };
    let mut pki = pki::Pki::load(data)?;
    pki.expiry = expiry;
    pki.issue_own(data, &who, sans)
}

fn make_data_dir(data: &Path) -> Result<()> {
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
    Ok(())
}

pub async fn init(run: &RunFlags, init: &InitFlags) -> Result<()> {
    let data = &run.data;
    make_data_dir(data)?;
    let listen = run
        .listen
        .clone()
        .unwrap_or_else(|| format!("0.0.0.0:{}", skiff_api::cluster::DEFAULT_PORT));
    let sans = sans(&listen, &init.advertise);
    let addr = advertised(&listen, &init.advertise)?;
    let given = init.ca_cert.as_deref().zip(init.ca_key.as_deref());
    pki::Pki::create(data, given, &sans)?;
    let store = state::Store::open(&data.join("raft"))?;
    let tokens = [Role::Agent, Role::Admin, Role::Readonly, Role::Controller]
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
    let expiry = run.cert_expiry.unwrap_or(pki::CERT_EXPIRY);
    give_identity(data, &store, &addr, &sans, expiry).await?;
    // The operator's own admin certificate, signed like any other.
    let mut pki = pki::Pki::load(data)?;
    pki.expiry = expiry;
    let admin = pki::random_id(25);
    let (key, csr) = skiff_certs::cluster::new_key_and_csr("admin")?;
    let who = Identity {
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
        raft_id: state::FIRST_RAFT_ID,
        addr,
        peers: Default::default(),
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

/// `skiff-controller join`: ask any member (pinned by the token's CA
/// fingerprint) to admit this controller; keep what it answers.
pub async fn join(run: &RunFlags, join: &JoinFlags) -> Result<()> {
    let data = &run.data;
    let listen = run.listen.clone().context("join needs --listen HOST:PORT")?;
    let token = JoinToken::parse(&join.token).context("invalid join token")?;
    make_data_dir(data)?;
    let addr = advertised(&listen, &join.advertise)?;
    let (key, csr) = skiff_certs::cluster::new_key_and_csr("controller")?;
    let hostname = nix::unistd::gethostname()?.to_string_lossy().into_owned();
    let http = skiff_client::Client::pinned(&join.peer, &token.ca_fingerprint)?;
    let req = JoinRequest {
        token: join.token.trim().to_string(),
        csr,
        hostname,
        client: false,
        controller: Some(ControllerJoin {
            addr: addr.clone(),
            sans: sans(&listen, &join.advertise),
        }),
    };
    let mut last = None;
    let mut resp = None;
    for _ in 0..60 {
        match http.cluster_join(&req).await {
            Ok(r) => {
                resp = Some(r);
                break;
            }
            Err(e) if e.to_string().contains("token") => return Err(e.into()),
            Err(e) => {
                last = Some(e);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    let resp = resp.ok_or_else(|| {
        anyhow::anyhow!(
            "joining through {}: {}",
            join.peer,
            last.map(|e| e.to_string()).unwrap_or_default()
        )
    })?;
    let joined = resp
        .controller
        .context("the cluster did not admit this as a controller")?;
    pki::write_ca(data, &resp.ca, &joined.ca_key)?;
    pki::write_identity(data, &key, &resp.certificate, &resp.ca)?;
    let settings = Settings {
        listen,
        heartbeat_period_ms: joined.heartbeat_period_ms,
        node_timeout_ms: joined.node_timeout_ms,
        cert_expiry_secs: joined.cert_expiry_secs,
        raft_id: joined.raft_id,
        addr: addr.clone(),
        peers: joined.controllers,
    };
    skiff_common::fsutil::write_json_atomic(&settings_path(data), &settings)?;
    println!(
        "This controller joined the cluster as raft member {} ({addr}); it becomes a voter once it has caught up.",
        joined.raft_id
    );
    Ok(())
}
