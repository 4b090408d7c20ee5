//! Joining a cluster and renewing its certificates over the controller's
//! REST API: join tokens, the join and renew exchanges, and the files they
//! leave (`ca.pem`, `cert.pem`, `key.pem`).

use std::path::Path;

use serde::{Deserialize, Serialize};
use skiff_certs::cluster::Role;

use crate::{Client, ClientError};

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
    /// A joining controller: the address its peers, agents and clients
    /// reach it at, and the names its certificate must serve TLS for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<ControllerJoin>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "PascalCase")]
pub struct ControllerJoin {
    pub addr: String,
    pub sans: Vec<String>,
}

/// What a joining controller needs beyond its certificate: the CA's key
/// (any controller may lead, and the leader signs certificates), its raft
/// ID, and the cluster's settings.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "PascalCase")]
pub struct ControllerJoined {
    pub ca_key: String,
    pub raft_id: u64,
    pub heartbeat_period_ms: u64,
    pub node_timeout_ms: u64,
    pub cert_expiry_secs: u64,
    /// Every controller's address by raft ID, until the replicated
    /// state (which has them too) has arrived.
    #[serde(default)]
    pub controllers: std::collections::BTreeMap<u64, String>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<ControllerJoined>,
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
        controller: None,
    };
    let resp = http.cluster_join(&req).await?;
    let io = |e: std::io::Error| ClientError::Other(format!("{}: {e}", out.display()));
    std::fs::create_dir_all(out).map_err(io)?;
    use skiff_certs::files;
    skiff_fsutil::write_atomic_mode(&out.join(files::CLIENT_KEY), key.as_bytes(), 0o600).map_err(io)?;
    skiff_fsutil::write_atomic_mode(&out.join(files::CLIENT_CERT), resp.certificate.as_bytes(), 0o644).map_err(io)?;
    skiff_fsutil::write_atomic_mode(&out.join(files::CA), resp.ca.as_bytes(), 0o644).map_err(io)?;
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
    let tls = crate::TlsOptions::in_dir(dir);
    let client = crate::Client::from_host(&format!("tcp://{addr}"), Some(tls))?;
    renew_with(&client).await
}

/// Renew the certificate a client presents (`skiff cluster renew`, or an
/// agent's): the key stays, and the new certificate replaces the old one
/// in one atomic write once it is checked to be for the same key and the
/// same identity. Answers when the new one is due for renewal.
pub async fn renew_with(client: &crate::Client) -> Result<std::time::SystemTime, ClientError> {
    let other = |m: String| ClientError::Other(m);
    let (cert_path, key_path) = client
        .identity()
        .ok_or_else(|| other("renewing needs a client certificate (--tlsverify)".into()))?;
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| other(format!("reading {}: {e}", p.display())));
    let (old, key) = (read(cert_path)?, read(key_path)?);
    let csr = skiff_certs::cluster::request_for_key(&key, "renewal").map_err(|e| other(e.to_string()))?;
    let resp = client.cluster_renew(&RenewRequest { csr }).await?;
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
    skiff_fsutil::write_atomic_mode(cert_path, resp.certificate.as_bytes(), 0o644)
        .map_err(|e| other(format!("writing {}: {e}", cert_path.display())))?;
    renewal_due_of(&resp.certificate)
}

/// When a certificate is due for renewal: two thirds into its life
/// (SwarmKit renews between half and four fifths).
pub fn renewal_due_of(pem: &str) -> Result<std::time::SystemTime, ClientError> {
    let (from, to) = skiff_certs::cluster::validity_of(pem).map_err(|e| ClientError::Other(e.to_string()))?;
    let at = from + (to - from) * 2 / 3;
    Ok(std::time::UNIX_EPOCH + std::time::Duration::from_secs(at.max(0) as u64))
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
