//! TLS for syslog's `tcp+tls://` (Docker's `syslog-tls-ca-cert`,
//! `syslog-tls-cert`, `syslog-tls-key`, `syslog-tls-skip-verify`): a
//! blocking rustls client over the monitor's plain TCP socket, with the
//! ring provider and TLS 1.2 as the least version, as Docker's
//! `tlsconfig.Client`. Without a CA file the host's bundle is trusted.

use std::collections::BTreeMap;
use std::io;
use std::net::TcpStream;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme, StreamOwned};

pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// The host's CA bundle (Debian's, then Red Hat's), for when no CA is named.
const SYSTEM_BUNDLES: &[&str] = &["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"];

/// A PEM file's error as Go's `tls.LoadX509KeyPair` and `os.ReadFile` word them.
fn pem_error(path: &str, e: rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(e) => format!("open {path}: {}", super::net::go_text(&e)),
        rustls::pki_types::pem::Error::NoItemsFound => format!("tls: failed to find any PEM data in {path}"),
        e => format!("{path}: {e:?}"),
    }
}

fn certs(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let all = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, e))?;
    if all.is_empty() {
        return Err(format!("tls: failed to find any PEM data in {path}"));
    }
    Ok(all)
}

fn roots(ca: Option<&str>) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    let files: Vec<&str> = match ca {
        Some(f) => vec![f],
        None => SYSTEM_BUNDLES
            .iter()
            .copied()
            .filter(|p| std::path::Path::new(p).exists())
            .collect(),
    };
    for f in files {
        for c in certs(f)? {
            store.add(c).map_err(|e| format!("{f}: {e}"))?;
        }
    }
    Ok(store)
}

/// The client configuration the options ask for; errors are Docker's
/// "failed to initialize logging driver" texts.
pub fn config(opts: &BTreeMap<String, String>) -> Result<Arc<ClientConfig>, String> {
    let get = |k: &str| opts.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let skip = match get("syslog-tls-skip-verify") {
        Some(v) => {
            super::opts::parse_bool(v).ok_or_else(|| format!("strconv.ParseBool: parsing \"{v}\": invalid syntax"))?
        }
        None => false,
    };
    let provider = Arc::new(ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = if skip {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(SkipVerify(provider.signature_verification_algorithms)))
    } else {
        builder.with_root_certificates(roots(get("syslog-tls-ca-cert"))?)
    };
    let cfg = match (get("syslog-tls-cert"), get("syslog-tls-key")) {
        (Some(cert), Some(key)) => {
            let chain = certs(cert)?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_error(key, e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("tls: {e}"))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err("tls: both syslog-tls-cert and syslog-tls-key are needed for a client certificate".into()),
    };
    Ok(Arc::new(cfg))
}

/// Connect to `addr` (`host:port`) and finish the handshake, so a bad
/// certificate fails here (the start check) rather than on a later line.
pub fn dial(addr: &str, cfg: Arc<ClientConfig>) -> io::Result<TlsStream> {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(host.to_string())
        .map_err(|e| io::Error::other(format!("tls: server name {host}: {e}")))?;
    let mut tcp = super::net::dial_tcp(addr)?;
    tcp.set_read_timeout(Some(super::net::TIMEOUT))?;
    let mut conn = ClientConnection::new(cfg, name).map_err(io::Error::other)?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).map_err(|e| handshake_error(addr, e))?;
    }
    Ok(StreamOwned::new(conn, tcp))
}

/// A failed handshake in Go's words where Go's are well known.
fn handshake_error(addr: &str, e: io::Error) -> io::Error {
    let text = e.to_string();
    let go = if text.contains("UnknownIssuer") {
        "x509: certificate signed by unknown authority".to_string()
    } else if text.contains("NotValidForName") {
        format!(
            "x509: certificate is not valid for {}",
            addr.rsplit_once(':').map_or(addr, |(h, _)| h)
        )
    } else {
        format!("remote error: {text}")
    };
    io::Error::new(e.kind(), go)
}

/// `syslog-tls-skip-verify`: any server certificate, but signatures still
/// checked against it.
#[derive(Debug)]
struct SkipVerify(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for SkipVerify {
    fn verify_server_cert(
        &self,
        _end: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}
