//! Certificates and TLS for every skiff component: a CA and the server and
//! client certificates it signs (`issue`, with rcgen), and the one rustls
//! configuration used by the agent's listener and by every client
//! (`tls`). File names follow Docker's `--tlsverify` convention so a
//! directory works as `DOCKER_CERT_PATH` too.

pub mod cluster;
pub mod issue;
pub mod tls;

/// Docker's file names.
pub mod files {
    pub const CA: &str = "ca.pem";
    pub const CA_KEY: &str = "ca-key.pem";
    pub const CLIENT_CERT: &str = "cert.pem";
    pub const CLIENT_KEY: &str = "key.pem";
    pub const SERVER_CERT: &str = "server-cert.pem";
    pub const SERVER_KEY: &str = "server-key.pem";
}

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: {message}")]
    Pem { path: String, message: String },
    #[error("certificate: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    #[error("TLS client verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, CertError>;
