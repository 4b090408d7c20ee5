//! What agents, the controller and the CLI share about the cluster: the
//! gRPC protocol (`proto/cluster.proto`), join tokens, the REST types of
//! the controller's own endpoints, joining, and the mutual-TLS gRPC channel
//! agents dial.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::client::{Body, Client, ClientError};
use skiff_certs::cluster::Role;

#[allow(clippy::all)]
pub mod proto {
    tonic::include_proto!("skiff.cluster.v1");
}

/// The controller's default port.
pub const DEFAULT_PORT: u16 = 7443;

/// The header that sends a Docker API call through the controller to one
/// node (`skiff --node NAME …`).
pub const NODE_HEADER: &str = "x-skiff-node";

/// `SKTKN-1-<sha256 of the CA certificate>-<secret>`, after Swarm's tokens:
/// the fingerprint lets a joiner trust the controller before it has the CA,
/// the secret tells the controller which role to grant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinToken {
    pub ca_fingerprint: String,
    pub secret: String,
}

impl JoinToken {
    pub fn parse(s: &str) -> Option<JoinToken> {
        let rest = s.trim().strip_prefix("SKTKN-1-")?;
        let (fp, secret) = rest.split_once('-')?;
        let ok = fp.len() == 64 && fp.bytes().all(|b| b.is_ascii_hexdigit()) && secret.len() >= 16;
        ok.then(|| JoinToken {
            ca_fingerprint: fp.to_ascii_lowercase(),
            secret: secret.to_string(),
        })
    }
}

impl std::fmt::Display for JoinToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SKTKN-1-{}-{}", self.ca_fingerprint, self.secret)
    }
}

#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "PascalCase")]
pub struct JoinRequest {
    pub token: String,
    /// PEM certificate signing request for a key the joiner keeps.
    pub csr: String,
    pub hostname: String,
    /// A client (CLI) certificate is wanted, not a node's.
    #[serde(default)]
    pub client: bool,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "PascalCase")]
pub struct JoinResponse {
    #[serde(rename = "ID")]
    pub id: String,
    pub role: Role,
    /// PEM: the signed certificate and the cluster CA.
    pub certificate: String,
    pub ca: String,
}

/// `POST /cluster/renew`: a new certificate for the key (and identity) of
/// the one the request came with.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "PascalCase")]
pub struct RenewRequest {
    pub csr: String,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "PascalCase")]
pub struct RenewResponse {
    pub certificate: String,
}

/// `GET /cluster`.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ClusterInfo {
    #[serde(rename = "ID")]
    pub id: String,
    pub created_at: String,
    pub join_tokens: JoinTokens,
    pub heartbeat_period_ms: u64,
    pub node_timeout_ms: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "PascalCase")]
pub struct JoinTokens {
    pub agent: String,
    pub admin: String,
    pub readonly: String,
}

/// A node as `GET /nodes` shows it: Docker's Node object, plus what skiff
/// adds (reservations, container count, heartbeat age).
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Node {
    #[serde(rename = "ID")]
    pub id: String,
    pub created_at: String,
    pub updated_at: String,
    pub spec: NodeSpec,
    pub description: NodeDescription,
    pub status: NodeStatus,
    pub reserved: Resources,
    pub containers: u64,
    /// Milliseconds since the last heartbeat; absent if never seen.
    pub heartbeat_age_ms: Option<u64>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct NodeSpec {
    pub labels: std::collections::BTreeMap<String, String>,
    pub role: String,
    /// active, drain (pause is Docker's too, treated as drain for new work)
    pub availability: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct NodeDescription {
    pub hostname: String,
    pub platform: Platform,
    pub resources: Resources,
    pub engine: Engine,
    pub addresses: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Platform {
    pub architecture: String,
    #[serde(rename = "OS")]
    pub os: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Resources {
    #[serde(rename = "NanoCPUs")]
    pub nano_cpus: i64,
    pub memory_bytes: i64,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Engine {
    pub engine_version: String,
    pub labels: std::collections::BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "PascalCase")]
pub struct NodeStatus {
    /// ready, down, unknown
    pub state: String,
    pub addr: String,
    pub message: String,
}

/// `POST /nodes/{id}/update`: what changes; absent fields stay.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeUpdate {
    pub availability: Option<String>,
    pub labels_add: std::collections::BTreeMap<String, String>,
    pub labels_rm: Vec<String>,
}

/// What a service is: `replicas` copies of one container (Docker's
/// container-create body), placed like `run` is.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct ServiceSpec {
    pub name: String,
    pub replicas: u32,
    pub container: crate::api::CreateRequest,
    pub constraints: Vec<String>,
    pub placement: String,
    /// Rolling updates: tasks replaced at a time (0 means 1), and the
    /// pause between steps.
    #[serde(default)]
    pub update_parallelism: u32,
    #[serde(default)]
    pub update_delay_ms: u64,
    /// Bumped by `service update --force`: replace every task even if
    /// nothing else changed (Docker's `ForceUpdate`).
    #[serde(default)]
    pub force_update: u64,
}

/// `GET /services` and `/services/{id}`.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct ServiceInfo {
    #[serde(rename = "ID")]
    pub id: String,
    pub created_at: String,
    pub updated_at: String,
    pub spec: ServiceSpec,
    /// Tasks whose container is running.
    pub running: u32,
    /// The container spec's version; tasks of older versions are being
    /// replaced (a rolling update) while `updating` is set.
    pub version: u64,
    pub updating: bool,
}

/// `GET /tasks?service=…`: one copy of a service, where it is and how it is.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskInfo {
    #[serde(rename = "ID")]
    pub id: String,
    pub service: String,
    pub slot: u32,
    pub node: String,
    pub desired_state: String,
    /// The container's state on its node ("running", "exited", …), or
    /// "unknown" while the node is not reporting.
    pub state: String,
    pub container: String,
    pub image: String,
    pub created_at: String,
    /// The service version its container was made from.
    pub version: u64,
    /// Why a pending task has no node yet.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
}

/// Join a cluster as a node or (`client`) as a CLI user: make a key, have
/// the controller at `addr` (pinned by the token's CA fingerprint) sign it,
/// and write `ca.pem`, `cert.pem` and `key.pem` into `out`.
pub async fn join(
    addr: &str,
    token: &str,
    hostname: &str,
    client: bool,
    out: &Path,
) -> Result<JoinResponse, ClientError> {
    let parsed = JoinToken::parse(token).ok_or_else(|| ClientError::Other("invalid join token".into()))?;
    let (key, csr) = skiff_certs::cluster::new_key_and_csr(hostname).map_err(|e| ClientError::Other(e.to_string()))?;
    let http = Client::pinned(addr, &parsed.ca_fingerprint)?;
    let req = JoinRequest {
        token: token.trim().to_string(),
        csr,
        hostname: hostname.to_string(),
        client,
    };
    let body = serde_json::to_vec(&req).map_err(|e| ClientError::Other(e.to_string()))?;
    let resp: JoinResponse = http
        .json(hyper::Method::POST, "/cluster/join", Body::Json(body))
        .await?;
    let io = |e: std::io::Error| ClientError::Other(format!("{}: {e}", out.display()));
    std::fs::create_dir_all(out).map_err(io)?;
    use skiff_certs::files;
    crate::fsutil::write_atomic_mode(&out.join(files::CLIENT_KEY), key.as_bytes(), 0o600).map_err(io)?;
    crate::fsutil::write_atomic_mode(&out.join(files::CLIENT_CERT), resp.certificate.as_bytes(), 0o644).map_err(io)?;
    crate::fsutil::write_atomic_mode(&out.join(files::CA), resp.ca.as_bytes(), 0o644).map_err(io)?;
    Ok(resp)
}

/// When the certificate in `dir` is due for renewal.
pub fn renewal_due(dir: &Path) -> Result<std::time::SystemTime, ClientError> {
    let pem = std::fs::read_to_string(dir.join(skiff_certs::files::CLIENT_CERT))
        .map_err(|e| ClientError::Other(format!("reading the cluster certificate: {e}")))?;
    renewal_due_of(&pem)
}

/// Renew the certificate in `dir` at the controller at `addr`, proving
/// who we are with it.
pub async fn renew(addr: &str, dir: &Path) -> Result<std::time::SystemTime, ClientError> {
    let tls = crate::client::TlsOptions::in_dir(dir);
    let client = crate::client::Client::from_host(&format!("tcp://{addr}"), Some(tls))?;
    renew_with(&client).await
}

/// Renew the certificate a client presents (`skiff cluster renew`, or an
/// agent's): the key stays, and the new certificate replaces the old one
/// in one atomic write once it is checked to be for the same key and the
/// same identity. Answers when the new one is due for renewal.
pub async fn renew_with(client: &crate::client::Client) -> Result<std::time::SystemTime, ClientError> {
    let other = |m: String| ClientError::Other(m);
    let (cert_path, key_path) = client
        .identity()
        .ok_or_else(|| other("renewing needs a client certificate (--tlsverify)".into()))?;
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| other(format!("reading {}: {e}", p.display())));
    let (old, key) = (read(cert_path)?, read(key_path)?);
    let csr = skiff_certs::cluster::request_for_key(&key, "renewal").map_err(|e| other(e.to_string()))?;
    let body = serde_json::to_vec(&RenewRequest { csr }).map_err(|e| other(e.to_string()))?;
    let resp: RenewResponse = client
        .json(http::Method::POST, "/cluster/renew", crate::client::Body::Json(body))
        .await?;
    let who = |pem: &str| {
        skiff_certs::cluster::pem_to_der(pem)
            .ok()
            .and_then(|d| skiff_certs::cluster::Identity::from_der(&d))
    };
    let ours = skiff_certs::cluster::certifies_key(&resp.certificate, &key).unwrap_or(false);
    if !ours || who(&resp.certificate).is_none() || who(&resp.certificate) != who(&old) {
        return Err(other(
            "the controller sent a certificate for another key or identity; the current one is kept".into(),
        ));
    }
    crate::fsutil::write_atomic_mode(cert_path, resp.certificate.as_bytes(), 0o644)
        .map_err(|e| other(format!("writing {}: {e}", cert_path.display())))?;
    renewal_due_of(&resp.certificate)
}

/// When a certificate is due for renewal: two thirds into its life
/// (SwarmKit renews between half and four fifths).
fn renewal_due_of(pem: &str) -> Result<std::time::SystemTime, ClientError> {
    let (from, to) = skiff_certs::cluster::validity_of(pem).map_err(|e| ClientError::Other(e.to_string()))?;
    let at = from + (to - from) * 2 / 3;
    Ok(std::time::UNIX_EPOCH + std::time::Duration::from_secs(at.max(0) as u64))
}

/// A gRPC channel to the controller at `addr` over mutual TLS with the
/// certificates in `dir` (ca.pem, cert.pem, key.pem), read at each
/// connection so that a renewed certificate is used from then on.
pub fn channel(addr: &str, dir: &Path) -> Result<tonic::transport::Channel, ClientError> {
    use skiff_certs::files;
    let dir = dir.to_path_buf();
    let load = move || -> std::io::Result<Arc<tokio_rustls::rustls::ClientConfig>> {
        let mut cfg = (*skiff_certs::tls::client_config(
            &dir.join(files::CA),
            Some((&dir.join(files::CLIENT_CERT), &dir.join(files::CLIENT_KEY))),
        )
        .map_err(|e| std::io::Error::other(format!("could not read cluster certificates: {e}")))?)
        .clone();
        cfg.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(cfg))
    };
    load().map_err(|e| ClientError::Other(e.to_string()))?;
    let addr = addr.to_string();
    let name = server_name(&addr)?;
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| ClientError::Other(format!("controller address {addr}: {e}")))?
        .connect_timeout(std::time::Duration::from_secs(5))
        .http2_keep_alive_interval(std::time::Duration::from_secs(10))
        .keep_alive_timeout(std::time::Duration::from_secs(10));
    let connector = tower::service_fn(move |_: http::Uri| {
        let (cfg, addr, name) = (load(), addr.clone(), name.clone());
        async move {
            let cfg = cfg?;
            let tcp = tokio::net::TcpStream::connect(&addr).await?;
            tcp.set_nodelay(true)?;
            let tls = tokio_rustls::TlsConnector::from(cfg).connect(name, tcp).await?;
            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
        }
    });
    Ok(endpoint.connect_with_connector_lazy(connector))
}

/// The TLS server name of `host:port`.
pub fn server_name(addr: &str) -> Result<rustls_pki_types::ServerName<'static>, ClientError> {
    let host = addr
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(addr)
        .trim_matches(|c| c == '[' || c == ']');
    rustls_pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| ClientError::Other(format!("invalid host name {host}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_garbage() {
        let t = JoinToken {
            ca_fingerprint: "ab".repeat(32),
            secret: "0123456789abcdefghij".into(),
        };
        assert_eq!(JoinToken::parse(&t.to_string()), Some(t));
        assert_eq!(JoinToken::parse("SWMTKN-1-abc-def"), None);
        assert_eq!(JoinToken::parse(&format!("SKTKN-1-{}-short", "ab".repeat(32))), None);
        assert_eq!(
            JoinToken::parse(&format!("SKTKN-1-{}-0123456789abcdefg", "zz".repeat(32))),
            None
        );
    }
}
