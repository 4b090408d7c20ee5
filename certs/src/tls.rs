//! The TLS rules, in one place for servers and clients: TLS 1.2+ through
//! rustls (ring), certificates chained to the given CA, and client
//! certificates required (Docker's `--tlsverify`).

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};

use crate::{CertError, Result};

/// The files of one side of a mutual-TLS connection.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub ca: std::path::PathBuf,
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn pem_err(path: &Path, e: impl std::fmt::Display) -> CertError {
    CertError::Pem {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_err(path, e))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| pem_err(path, e))?;
    if certs.is_empty() {
        return Err(pem_err(path, "no certificate in file"));
    }
    Ok(certs)
}

fn key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| pem_err(path, e))
}

fn roots(ca: &Path) -> Result<Arc<RootCertStore>> {
    let mut store = RootCertStore::empty();
    for c in certs(ca)? {
        store.add(c)?;
    }
    Ok(Arc::new(store))
}

/// A server that requires a client certificate signed by `files.ca`.
/// Docker's `--tlsverify` server: a client certificate chained to the CA
/// is required. One that carries a cluster identity must also pass
/// `admit` (an agent refuses revoked cluster certificates); one without
/// (`skiff certs client`, Docker's model) needs nothing more.
pub fn server_config(files: &TlsFiles, admit: Admission) -> Result<Arc<ServerConfig>> {
    let inner = WebPkiClientVerifier::builder_with_provider(roots(&files.ca)?, provider()).build()?;
    let verifier = Arc::new(Admitting {
        inner,
        admit,
        cluster_only: false,
    });
    let cfg = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(&files.cert)?, key(&files.key)?)?;
    Ok(Arc::new(cfg))
}

/// Decides whether a verified cluster identity is still allowed in.
pub type Admission = Arc<dyn Fn(&crate::cluster::Identity) -> bool + Send + Sync>;

/// The controller's listener: a client certificate is optional (joiners
/// have none yet), but one that is presented must chain to the CA, carry a
/// cluster identity and pass `admit` (revoked nodes fail the handshake).
/// The server sends the CA after its own certificate so that joiners can
/// pin it by fingerprint.
pub fn cluster_server_config(files: &TlsFiles, admit: Admission) -> Result<Arc<ServerConfig>> {
    let inner = WebPkiClientVerifier::builder_with_provider(roots(&files.ca)?, provider())
        .allow_unauthenticated()
        .build()?;
    let verifier = Arc::new(Admitting {
        inner,
        admit,
        cluster_only: true,
    });
    let resolver = Reloading::new(files)?;
    let mut cfg = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(resolver));
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// The server certificate, read again when its file changes (a renewal
/// writes it atomically, the key stays): new handshakes present the new
/// one without a restart. One `stat` per handshake.
#[derive(Debug)]
struct Reloading {
    files: TlsFiles,
    current: std::sync::Mutex<(Option<std::time::SystemTime>, Arc<rustls::sign::CertifiedKey>)>,
}

impl Reloading {
    fn new(files: &TlsFiles) -> Result<Reloading> {
        let files = files.clone();
        let loaded = Reloading::load(&files)?;
        Ok(Reloading {
            current: std::sync::Mutex::new(loaded),
            files,
        })
    }

    fn load(files: &TlsFiles) -> Result<(Option<std::time::SystemTime>, Arc<rustls::sign::CertifiedKey>)> {
        let modified = std::fs::metadata(&files.cert).and_then(|m| m.modified()).ok();
        let mut chain = certs(&files.cert)?;
        chain.extend(certs(&files.ca)?);
        let signer = provider()
            .key_provider
            .load_private_key(key(&files.key)?)
            .map_err(|e| pem_err(&files.key, e))?;
        Ok((modified, Arc::new(rustls::sign::CertifiedKey::new(chain, signer))))
    }
}

impl rustls::server::ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: rustls::server::ClientHello<'_>) -> Option<Arc<rustls::sign::CertifiedKey>> {
        let mut cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let modified = std::fs::metadata(&self.files.cert).and_then(|m| m.modified()).ok();
        if modified != cur.0 {
            // A half-written pair (never with atomic writes) keeps the old one.
            if let Ok(fresh) = Reloading::load(&self.files) {
                *cur = fresh;
            }
        }
        Some(cur.1.clone())
    }
}

struct Admitting {
    inner: Arc<dyn ClientCertVerifier>,
    admit: Admission,
    /// The controller's listener: a certificate is optional (joiners have
    /// none yet), but one presented must carry a cluster identity. An
    /// agent's: a certificate is required, the identity is optional.
    cluster_only: bool,
}

impl std::fmt::Debug for Admitting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Admitting")
    }
}

impl ClientCertVerifier for Admitting {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        !self.cluster_only
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> std::result::Result<ClientCertVerified, rustls::Error> {
        let ok = self.inner.verify_client_cert(end_entity, intermediates, now)?;
        let who = match crate::cluster::Identity::from_der(end_entity) {
            Some(who) => who,
            None if !self.cluster_only => return Ok(ok),
            None => return Err(rustls::Error::General("certificate carries no cluster identity".into())),
        };
        if !(self.admit)(&who) {
            return Err(rustls::Error::InvalidCertificate(rustls::CertificateError::Revoked));
        }
        Ok(ok)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A client that trusts only `ca` and presents `cert`/`key` when given.
pub fn client_config(ca: &Path, identity: Option<(&Path, &Path)>) -> Result<Arc<ClientConfig>> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots(ca)?);
    let cfg = match identity {
        Some((cert, k)) => builder.with_client_auth_cert(certs(cert)?, key(k)?)?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(cfg))
}

/// The TLS server name of `host:port`.
pub fn server_name(addr: &str) -> std::io::Result<rustls_pki_types::ServerName<'static>> {
    let host = addr
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(addr)
        .trim_matches(|c| c == '[' || c == ']');
    rustls_pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| std::io::Error::other(format!("invalid host name {host}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files;
    use crate::issue::{create_ca, issue, Role, Validity};

    #[test]
    fn issued_certificates_load_into_both_sides() {
        let dir = std::env::temp_dir().join(format!("skiff-certs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        create_ca(&dir.join("ca"), "test CA", Validity::days(1)).unwrap();
        issue(
            &dir.join("ca"),
            &dir.join("srv"),
            "srv",
            Role::Server {
                sans: &["127.0.0.1".into(), "host1".into()],
            },
            Validity::days(1),
        )
        .unwrap();
        issue(
            &dir.join("ca"),
            &dir.join("cli"),
            "alice",
            Role::Client,
            Validity::days(1),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("cli").join(files::CLIENT_KEY))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        server_config(
            &TlsFiles {
                ca: dir.join("srv/ca.pem"),
                cert: dir.join("srv").join(files::SERVER_CERT),
                key: dir.join("srv").join(files::SERVER_KEY),
            },
            Arc::new(|_| true),
        )
        .unwrap();
        client_config(
            &dir.join("cli/ca.pem"),
            Some((&dir.join("cli/cert.pem"), &dir.join("cli/key.pem"))),
        )
        .unwrap();
        assert!(issue(
            &dir.join("ca"),
            &dir.join("x"),
            "x",
            Role::Server { sans: &[] },
            Validity::days(1)
        )
        .is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
