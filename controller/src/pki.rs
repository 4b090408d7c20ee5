//! The cluster's certificate authority on the controller: the CA and the
//! controller's server certificate (made once at init), signing joiners'
//! requests, and the join tokens that pin the CA.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use skiff_certs::cluster::{fingerprint, pem_to_der, sign_request, Identity};
use skiff_certs::issue::{create_ca, issue, Role as CertRole, Validity};
use skiff_certs::{files, tls::TlsFiles};
use skiff_client::cluster::JoinToken;

/// Node and client certificates live 90 days by default, as SwarmKit's;
/// nodes renew theirs two thirds into that.
pub const CERT_EXPIRY: std::time::Duration = std::time::Duration::from_secs(90 * 86_400);

pub struct Pki {
    ca_pem: String,
    ca_key_pem: String,
    pub fingerprint: String,
    pub tls: TlsFiles,
    /// How long the certificates it signs last.
    pub expiry: std::time::Duration,
}

fn ca_dir(data: &Path) -> PathBuf {
    data.join("ca")
}

fn tls_dir(data: &Path) -> PathBuf {
    data.join("tls")
}

/// Where a controller keeps its identity for dialing peers (`ca.pem`,
/// `cert.pem`, `key.pem`: the layout the gRPC channel reads).
pub fn peer_dir(data: &Path) -> PathBuf {
    data.join("peer")
}

/// Whether this controller has its own controller-role certificate.
pub fn has_identity(data: &Path) -> bool {
    peer_dir(data).join(files::CLIENT_CERT).exists()
}

/// Write a controller's key and certificate as both its server
/// certificate (`tls/`) and its peer identity (`peer/`).
pub fn write_identity(data: &Path, key: &str, cert: &str, ca: &str) -> Result<()> {
    use skiff_common::fsutil::write_atomic_mode;
    for dir in [tls_dir(data), peer_dir(data)] {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    write_atomic_mode(&tls_dir(data).join(files::SERVER_KEY), key.as_bytes(), 0o600)?;
    write_atomic_mode(&tls_dir(data).join(files::SERVER_CERT), cert.as_bytes(), 0o644)?;
    write_atomic_mode(&peer_dir(data).join(files::CLIENT_KEY), key.as_bytes(), 0o600)?;
    write_atomic_mode(&peer_dir(data).join(files::CLIENT_CERT), cert.as_bytes(), 0o644)?;
    write_atomic_mode(&peer_dir(data).join(files::CA), ca.as_bytes(), 0o644)?;
    Ok(())
}

/// Put a joining controller's CA (with its key) in place.
pub fn write_ca(data: &Path, ca: &str, ca_key: &str) -> Result<()> {
    use skiff_common::fsutil::write_atomic_mode;
    let dir = ca_dir(data);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    write_atomic_mode(&dir.join(files::CA), ca.as_bytes(), 0o644)?;
    write_atomic_mode(&dir.join(files::CA_KEY), ca_key.as_bytes(), 0o600)?;
    Ok(())
}

impl Pki {
    /// Make (or take) the CA, and issue the controller's server
    /// certificate for `sans`.
    pub fn create(data: &Path, given: Option<(&Path, &Path)>, sans: &[String]) -> Result<()> {
        let ca = ca_dir(data);
        match given {
            Some((cert, key)) => {
                std::fs::create_dir_all(&ca)?;
                std::fs::copy(cert, ca.join(files::CA)).with_context(|| format!("reading {}", cert.display()))?;
                let k = std::fs::read(key).with_context(|| format!("reading {}", key.display()))?;
                skiff_common::fsutil::write_atomic_mode(&ca.join(files::CA_KEY), &k, 0o600)?;
            }
            None => create_ca(&ca, "skiff cluster CA", Validity::days(3650)).context("creating the cluster CA")?,
        }
        issue(
            &ca,
            &tls_dir(data),
            "skiff-controller",
            CertRole::Server { sans },
            Validity::days(825),
        )
        .context("issuing the controller's certificate")?;
        Ok(())
    }

    pub fn load(data: &Path) -> Result<Pki> {
        let ca = ca_dir(data);
        let read = |p: PathBuf| std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()));
        let ca_pem = read(ca.join(files::CA))?;
        let ca_key_pem = read(ca.join(files::CA_KEY))?;
        let fingerprint = fingerprint(&pem_to_der(&ca_pem)?);
        let tls = TlsFiles {
            ca: ca.join(files::CA),
            cert: tls_dir(data).join(files::SERVER_CERT),
            key: tls_dir(data).join(files::SERVER_KEY),
        };
        Ok(Pki {
            ca_pem,
            ca_key_pem,
            fingerprint,
            tls,
            expiry: CERT_EXPIRY,
        })
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    pub fn ca_key_pem(&self) -> &str {
        &self.ca_key_pem
    }

    /// Sign a controller's request: its identity, and a server
    /// certificate for `sans` in one (it listens and dials peers with it).
    pub fn sign_controller(
        &self,
        csr: &str,
        who: &Identity,
        sans: &[String],
    ) -> Result<String, skiff_certs::CertError> {
        skiff_certs::cluster::sign_request_for(
            &self.ca_pem,
            &self.ca_key_pem,
            csr,
            who,
            sans,
            Validity::lasting(self.expiry),
        )
    }

    /// Renew this controller's own certificate once it is two thirds into
    /// its life (every controller holds the CA key): same key, identity
    /// and names, written over the old one (the listener reads it at the
    /// next handshake, the peer channels at their next connection).
    /// Answers when the current one is due.
    pub fn renew_own(&self, data: &Path) -> Result<std::time::SystemTime> {
        let cert_path = peer_dir(data).join(files::CLIENT_CERT);
        let read = |p: &Path| std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()));
        let (cert, key) = (read(&cert_path)?, read(&peer_dir(data).join(files::CLIENT_KEY))?);
        // The same rule as agents and clients: two thirds into its life.
        let due = |pem: &str| skiff_client::cluster::renewal_due_of(pem).map_err(anyhow::Error::from);
        if due(&cert)? > std::time::SystemTime::now() {
            return due(&cert);
        }
        let der = skiff_certs::cluster::pem_to_der(&cert)?;
        let who = Identity::from_der(&der).context("this controller's certificate names no identity")?;
        let sans = skiff_certs::cluster::sans_of(&cert)?;
        let csr = skiff_certs::cluster::request_for_key(&key, "renewal")?;
        let fresh = self.sign_controller(&csr, &who, &sans)?;
        use skiff_common::fsutil::write_atomic_mode;
        write_atomic_mode(&tls_dir(data).join(files::SERVER_CERT), fresh.as_bytes(), 0o644)?;
        write_atomic_mode(&cert_path, fresh.as_bytes(), 0o644)?;
        tracing::info!(controller = %who.id, "controller certificate renewed");
        due(&fresh)
    }

    /// Give this controller its own identity certificate (at `init`, or
    /// for a cluster made before controllers had one).
    pub fn issue_own(&self, data: &Path, who: &Identity, sans: &[String]) -> Result<()> {
        let (key, csr) = skiff_certs::cluster::new_key_and_csr("controller")?;
        let cert = self.sign_controller(&csr, who, sans)?;
        write_identity(data, &key, &cert, &self.ca_pem)
    }

    /// Sign a joiner's (or renewer's) request for `who`.
    pub fn sign(&self, csr: &str, who: &Identity) -> Result<String, skiff_certs::CertError> {
        sign_request(&self.ca_pem, &self.ca_key_pem, csr, who, Validity::lasting(self.expiry))
    }

    pub fn token(&self, secret: &str) -> String {
        JoinToken {
            ca_fingerprint: self.fingerprint.clone(),
            secret: secret.to_string(),
        }
        .to_string()
    }
}

/// A random secret or ID: `n` lowercase letters and digits.
pub fn random_id(n: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}
