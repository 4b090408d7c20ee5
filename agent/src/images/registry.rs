//! Talking to an OCI distribution registry: which client (plain HTTP for
//! loopback and `insecure-registries`, HTTPS otherwise), which credentials,
//! which manifest (the platform's, picked from an index), and Docker's
//! words for what went wrong. The protocol and the token flow are
//! oci-client's; blobs are streamed by `pull.rs`.

use std::path::PathBuf;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference as OciRef};
use oci_spec::image::{ImageIndex, ImageManifest};

use super::reference;

/// Docker Hub's address as references spell it, and where it is served.
const HUB: &str = "docker.io";

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("invalid reference format")]
    BadReference,
    #[error("manifest for {0} not found: manifest unknown: manifest unknown")]
    NotFound(String),
    #[error("pull access denied for {0}, repository does not exist or may require 'docker login': denied: requested access to the resource is denied")]
    Denied(String),
    #[error("no matching manifest for {0} in the manifest list entries")]
    NoPlatform(String),
    #[error("pull access denied for {0}, repository does not exist or may require 'docker login': name unknown: repository name not known to registry")]
    NoRepository(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Other(String),
}

/// A credential from `X-Registry-Auth` (or none).
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    /// An OAuth refresh token (`identitytoken`), used as the password.
    pub identity_token: String,
}

/// `os/arch[/variant]`, as `--platform` spells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// This host's platform.
    pub fn host() -> Self {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "arm" => "arm",
            other => other,
        };
        Platform {
            os: "linux".into(),
            architecture: arch.into(),
            variant: (arch == "arm64").then(|| "v8".into()),
        }
    }

    pub fn parse(s: &str) -> Result<Self, RegistryError> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || {
            RegistryError::Other(format!(
                "\"{s}\": unknown operating system or architecture: invalid argument"
            ))
        };
        match parts.as_slice() {
            [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: os.to_lowercase(),
                architecture: arch.to_lowercase(),
                variant: None,
            }),
            [os, arch, v] if !os.is_empty() && !arch.is_empty() && !v.is_empty() => Ok(Platform {
                os: os.to_lowercase(),
                architecture: arch.to_lowercase(),
                variant: Some(v.to_lowercase()),
            }),
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// A reference resolved against its registry.
#[derive(Clone, Debug)]
pub struct Remote {
    /// `127.0.0.1:5000`, or `docker.io`.
    pub registry: String,
    /// `library/busybox`.
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
    /// The repository as Docker shows it (`busybox`, `127.0.0.1:5000/app`).
    pub familiar: String,
}

impl Remote {
    pub fn parse(s: &str) -> Result<Self, RegistryError> {
        let r = reference::parse(s).map_err(|_| RegistryError::BadReference)?;
        let registry = match r.domain.as_deref() {
            None | Some("index.docker.io") => HUB.to_string(),
            Some(d) => d.to_string(),
        };
        let repository = if registry == HUB && !r.path.contains('/') {
            format!("library/{}", r.path)
        } else {
            r.path.clone()
        };
        let familiar = if registry == HUB {
            repository.strip_prefix("library/").unwrap_or(&repository).to_string()
        } else {
            format!("{registry}/{repository}")
        };
        let tag = match (&r.tag, &r.digest) {
            (None, None) => Some("latest".to_string()),
            (t, _) => t.clone(),
        };
        Ok(Remote {
            registry,
            repository,
            tag,
            digest: r.digest,
            familiar,
        })
    }

    /// `busybox:latest` or `busybox@sha256:…`, as Docker names it in messages.
    pub fn shown(&self) -> String {
        match (&self.tag, &self.digest) {
            (_, Some(d)) => format!("{}@{d}", self.familiar),
            (Some(t), None) => format!("{}:{t}", self.familiar),
            _ => self.familiar.clone(),
        }
    }

    pub fn oci(&self) -> OciRef {
        match &self.digest {
            Some(d) => OciRef::with_digest(self.registry.clone(), self.repository.clone(), d.clone()),
            None => OciRef::with_tag(
                self.registry.clone(),
                self.repository.clone(),
                self.tag.clone().unwrap_or_else(|| "latest".into()),
            ),
        }
    }

    /// The same repository at another digest (a manifest of an index).
    pub fn at(&self, digest: &str) -> OciRef {
        OciRef::with_digest(self.registry.clone(), self.repository.clone(), digest.to_string())
    }

    /// Plain HTTP: loopback registries and the configured insecure ones,
    /// as Docker.
    fn insecure(&self, insecure: &[String]) -> bool {
        let host = self
            .registry
            .rsplit_once(':')
            .map_or(self.registry.as_str(), |(h, _)| h);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let ip = host.parse::<std::net::IpAddr>().ok();
        // Entries are registries (`host:port`), hosts, or CIDRs, as Docker's.
        let in_cidr = |i: &String| {
            i.parse::<ipnet::IpNet>()
                .is_ok_and(|net| ip.is_some_and(|ip| net.contains(&ip)))
        };
        host == "localhost"
            || ip.is_some_and(|ip| ip.is_loopback())
            || insecure.iter().any(|i| i == &self.registry || i == host || in_cidr(i))
    }
}

/// How this agent reaches registries: `insecure-registries` (plain HTTP,
/// as loopback registries) and Docker's `certs.d` layout for CAs.
#[derive(Clone, Debug, Default)]
pub struct Registries {
    pub insecure: Vec<String>,
    /// `certs.d`: `<dir>/<host:port>/*.crt` are trusted for that registry.
    pub certs_dir: PathBuf,
    /// Docker Hub mirrors, `http[s]://host[:port]/` (`registry-mirrors`).
    pub mirrors: Vec<String>,
}

impl Registries {
    /// Where to pull `remote` from, in order, as Docker: for Docker Hub
    /// each mirror (the same repository at the mirror's host), then the
    /// Hub itself; for any other registry only that registry.
    pub fn endpoints(&self, remote: &Remote) -> Vec<Remote> {
        let mut out = Vec::new();
        if remote.registry == HUB {
            for m in &self.mirrors {
                let host = m.split_once("://").map_or(m.as_str(), |(_, h)| h);
                out.push(Remote {
                    registry: host.trim_end_matches('/').to_string(),
                    ..remote.clone()
                });
            }
        }
        out.push(remote.clone());
        out
    }

    /// Whether `registry` is a mirror configured as `http://`.
    fn http_mirror(&self, registry: &str) -> bool {
        self.mirrors.iter().any(|m| m == &format!("http://{registry}/"))
    }

    /// The CAs `certs.d` names for `registry` (PEM files ending in `.crt`).
    fn cas(&self, registry: &str) -> Vec<Certificate> {
        let Ok(rd) = std::fs::read_dir(self.certs_dir.join(registry)) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        files.sort();
        files
            .into_iter()
            .filter(|p| p.extension().is_some_and(|x| x == "crt"))
            .filter_map(|p| std::fs::read(p).ok())
            .map(|data| Certificate {
                encoding: CertificateEncoding::Pem,
                data,
            })
            .collect()
    }
}

impl Registries {
    /// The client certificate `certs.d` names for `registry`: the first
    /// `NAME.cert` (by name) with its `NAME.key`, as one PEM. A `.cert`
    /// without its key is Docker's error.
    fn identity(&self, registry: &str) -> Result<Option<Vec<u8>>, String> {
        let Ok(rd) = std::fs::read_dir(self.certs_dir.join(registry)) else {
            return Ok(None);
        };
        let mut certs: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "cert"))
            .collect();
        certs.sort();
        let Some(cert) = certs.first() else {
            return Ok(None);
        };
        let key = cert.with_extension("key");
        if !key.exists() {
            return Err(format!(
                "missing key {} for client certificate {}. CA certificates must use the extension .crt",
                key.display(),
                cert.display()
            ));
        }
        let mut pem = std::fs::read(cert).map_err(|e| format!("reading {}: {e}", cert.display()))?;
        pem.push(b'\n');
        pem.extend(std::fs::read(&key).map_err(|e| format!("reading {}: {e}", key.display()))?);
        Ok(Some(pem))
    }
}

/// A client for one pull, push or login: plain HTTP for loopback and
/// insecure registries that `certs.d` has no CA for, HTTPS otherwise,
/// with the client certificate `certs.d` holds for the registry.
pub fn client(remote: &Remote, reg: &Registries) -> Client {
    let cas = reg.cas(&remote.registry);
    let identity = reg.identity(&remote.registry).unwrap_or_else(|e| {
        tracing::warn!(registry = %remote.registry, "{e}");
        None
    });
    let protocol = if plain_http(remote, reg, &cas) {
        ClientProtocol::Http
    } else {
        ClientProtocol::Https
    };
    Client::new(ClientConfig {
        protocol,
        extra_root_certificates: cas,
        client_identity_pem: identity,
        max_concurrent_download: 3,
        // One request per blob (chunks each cost an auth check).
        use_monolithic_push: true,
        ..Default::default()
    })
}

/// Plain HTTP for loopback and insecure registries that `certs.d` names
/// no CA for (`cas`).
fn plain_http(remote: &Remote, reg: &Registries, cas: &[Certificate]) -> bool {
    cas.is_empty() && (remote.insecure(&reg.insecure) || reg.http_mirror(&remote.registry))
}

/// The tags of `remote`'s repository, as the registry lists them.
pub async fn tags(client: &Client, remote: &Remote, auth: &RegistryAuth) -> Result<Vec<String>, RegistryError> {
    match client.list_tags(&remote.oci(), auth, None, None).await {
        Ok(t) => Ok(t.tags),
        Err(e) => Err(match describe(e, remote) {
            RegistryError::NotFound(_) => RegistryError::NoRepository(remote.familiar.clone()),
            other => other,
        }),
    }
}

/// Whether `s` names a repository only (no tag, no digest): what
/// `--all-tags` sends.
pub fn name_only(s: &str) -> bool {
    reference::parse(s).is_ok_and(|r| r.tag.is_none() && r.digest.is_none())
}

/// `docker login`: check the credentials against the registry (a tag
/// listing needs them wherever the registry asks for any).
pub async fn login(registry: &str, creds: &Credentials, reg: &Registries) -> Result<(), RegistryError> {
    let remote = Remote::parse(&format!("{registry}/skiff/login-check")).map_err(|_| RegistryError::BadReference)?;
    let c = client(&remote, reg);
    let scheme = if plain_http(&remote, reg, &reg.cas(&remote.registry)) {
        "http"
    } else {
        "https"
    };
    let denied = || {
        RegistryError::Unauthorized(format!(
            "login attempt to {scheme}://{}/v2/ failed with status: 401 Unauthorized",
            remote.registry
        ))
    };
    match c.list_tags(&remote.oci(), &auth(Some(creds)), Some(1), None).await {
        Ok(_) => Ok(()),
        Err(OciDistributionError::UnauthorizedError { .. } | OciDistributionError::AuthenticationFailure(_)) => {
            Err(denied())
        }
        Err(e) => match describe(e, &remote) {
            RegistryError::Denied(_) => Err(denied()),
            RegistryError::NotFound(_) => Ok(()),
            other => Err(other),
        },
    }
}

pub fn auth(c: Option<&Credentials>) -> RegistryAuth {
    match c {
        Some(c) if !c.identity_token.is_empty() => RegistryAuth::Basic(c.username.clone(), c.identity_token.clone()),
        Some(c) if !c.username.is_empty() => RegistryAuth::Basic(c.username.clone(), c.password.clone()),
        _ => RegistryAuth::Anonymous,
    }
}

/// Media types a pull accepts for a manifest, index first.
pub const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
];

/// The image manifest to pull: the one the reference names, or the
/// platform's entry of the index it names. Returns the manifest, and the
/// digest of what the reference named (the repo digest Docker records).
pub async fn resolve(
    client: &Client,
    remote: &Remote,
    auth: &RegistryAuth,
    platform: &Platform,
) -> Result<(ImageManifest, String), RegistryError> {
    let (raw, top) = client
        .pull_manifest_raw(&remote.oci(), auth, MANIFEST_TYPES)
        .await
        .map_err(|e| describe(e, remote))?;
    let v: serde_json::Value =
        serde_json::from_slice(&raw).map_err(|e| RegistryError::Other(format!("manifest: {e}")))?;
    if v.get("manifests").is_some() {
        let index: ImageIndex =
            serde_json::from_slice(&raw).map_err(|e| RegistryError::Other(format!("manifest list: {e}")))?;
        let digest = pick(&index, platform).ok_or_else(|| RegistryError::NoPlatform(platform.to_string()))?;
        let (raw, _) = client
            .pull_manifest_raw(&remote.at(&digest), auth, &MANIFEST_TYPES[2..])
            .await
            .map_err(|e| describe(e, remote))?;
        return Ok((parse_manifest(&raw)?, top));
    }
    Ok((parse_manifest(&raw)?, top))
}

fn parse_manifest(raw: &[u8]) -> Result<ImageManifest, RegistryError> {
    let v: serde_json::Value =
        serde_json::from_slice(raw).map_err(|e| RegistryError::Other(format!("manifest: {e}")))?;
    if v.get("schemaVersion").and_then(|s| s.as_i64()) == Some(1) {
        return Err(RegistryError::Unsupported(
            "unsupported manifest format: Docker Image manifest v2, schema 1 is no longer supported".into(),
        ));
    }
    serde_json::from_slice(raw).map_err(|e| RegistryError::Other(format!("manifest: {e}")))
}

/// The index entry for `want`: same OS and architecture, and the variant
/// if one is asked for (arm64 entries without a variant count as v8).
fn pick(index: &ImageIndex, want: &Platform) -> Option<String> {
    index
        .manifests()
        .iter()
        .find(|m| {
            let Some(p) = m.platform() else { return false };
            let variant = p
                .variant()
                .clone()
                .or_else(|| (p.architecture().to_string() == "arm64").then(|| "v8".into()));
            p.os().to_string() == want.os
                && p.architecture().to_string() == want.architecture
                && (want.variant.is_none() || variant == want.variant)
        })
        .map(|m| m.digest().to_string())
}

/// Docker's words for a registry's answer.
pub fn describe(e: OciDistributionError, remote: &Remote) -> RegistryError {
    match &e {
        OciDistributionError::ImageManifestNotFoundError(_) => RegistryError::NotFound(remote.shown()),
        OciDistributionError::RegistryError { envelope, .. } => {
            let code = envelope.errors.first().map(|x| &x.code);
            match code {
                Some(OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown | OciErrorCode::NotFound) => {
                    RegistryError::NotFound(remote.shown())
                }
                Some(OciErrorCode::Denied | OciErrorCode::Unauthorized) => {
                    RegistryError::Denied(remote.familiar.clone())
                }
                _ => RegistryError::Other(format!("{e}")),
            }
        }
        OciDistributionError::UnauthorizedError { .. } | OciDistributionError::AuthenticationFailure(_) => {
            RegistryError::Denied(remote.familiar.clone())
        }
        OciDistributionError::ServerError { code: 404, .. } => RegistryError::NotFound(remote.shown()),
        _ => RegistryError::Other(format!("{e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_resolve_as_docker() {
        let r = Remote::parse("busybox").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("docker.io", "library/busybox")
        );
        assert_eq!(r.shown(), "busybox:latest");
        let r = Remote::parse("127.0.0.1:5000/team/app:v1").unwrap();
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.shown(), "127.0.0.1:5000/team/app:v1");
        assert!(r.insecure(&[]));
        let r = Remote::parse("registry.example:5000/app").unwrap();
        assert!(!r.insecure(&[]));
        assert!(r.insecure(&["registry.example:5000".into()]));
        assert!(Remote::parse("UPPER").is_err());
    }

    #[test]
    fn mirrors_serve_docker_hub_only() {
        let reg = Registries {
            mirrors: vec!["http://127.0.0.1:5000/".into(), "https://mirror.example/".into()],
            ..Default::default()
        };
        let hub = Remote::parse("busybox").unwrap();
        let eps: Vec<String> = reg.endpoints(&hub).iter().map(|r| r.registry.clone()).collect();
        assert_eq!(eps, ["127.0.0.1:5000", "mirror.example", "docker.io"]);
        assert!(reg.endpoints(&hub).iter().all(|r| r.repository == "library/busybox"));
        assert!(plain_http(&reg.endpoints(&hub)[0], &reg, &[]));
        assert!(!plain_http(&reg.endpoints(&hub)[1], &reg, &[]));
        let other = Remote::parse("quay.example/team/app").unwrap();
        assert_eq!(reg.endpoints(&other).len(), 1);
        assert!(name_only("127.0.0.1:5000/app"));
        assert!(!name_only("app:v1"));
        assert!(!name_only(&format!("app@sha256:{}", "a".repeat(64))));
    }

    #[test]
    fn platforms_parse() {
        let p = Platform::parse("linux/arm64/v8").unwrap();
        assert_eq!(p.to_string(), "linux/arm64/v8");
        assert!(Platform::parse("linux").is_err());
    }
}
