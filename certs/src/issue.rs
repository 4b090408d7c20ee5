//! Issuing: a self-signed CA (ECDSA P-256), and server and client
//! certificates signed by it, written with Docker's file names; private
//! keys are created with mode 0600.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256,
};
use time::{Duration, OffsetDateTime};

use crate::{files, CertError, Result};

/// When a certificate is valid.
#[derive(Clone, Copy, Debug)]
pub struct Validity {
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl Validity {
    /// From a minute ago (clock skew) for `days` days.
    pub fn days(days: i64) -> Self {
        Self::lasting(std::time::Duration::from_secs(days.max(0) as u64 * 86_400))
    }

    /// For `life` from now, starting a little earlier for clock skew (a
    /// minute, or a tenth of a short life, so renewal at two thirds of
    /// the whole still falls after issue).
    pub fn lasting(life: std::time::Duration) -> Self {
        let now = OffsetDateTime::now_utc();
        let skew = (life / 10).min(std::time::Duration::from_secs(60));
        Self {
            not_before: now - Duration::new(skew.as_secs() as i64, skew.subsec_nanos() as i32),
            not_after: now + Duration::new(life.as_secs() as i64, life.subsec_nanos() as i32),
        }
    }
}

fn write(dir: &Path, name: &str, data: &str, mode: u32) -> Result<()> {
    let path = dir.join(name);
    let io = |source| CertError::Io {
        path: path.display().to_string(),
        source,
    };
    let _ = fs::remove_file(&path);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&path)
        .map_err(io)?;
    f.write_all(data.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)
}

fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|source| CertError::Io {
        path: path.display().to_string(),
        source,
    })
}

fn params(cn: &str, sans: &[String], validity: Validity) -> Result<CertificateParams> {
    let mut p = CertificateParams::new(sans.to_vec())?;
    p.distinguished_name.push(DnType::CommonName, cn);
    p.not_before = validity.not_before;
    p.not_after = validity.not_after;
    Ok(p)
}

/// Create a CA in `out`: `ca.pem` and `ca-key.pem`.
pub fn create_ca(out: &Path, cn: &str, validity: Validity) -> Result<()> {
    fs::create_dir_all(out).map_err(|source| CertError::Io {
        path: out.display().to_string(),
        source,
    })?;
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut p = params(cn, &[], validity)?;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = p.self_signed(&key)?;
    write(out, files::CA_KEY, &key.serialize_pem(), 0o600)?;
    write(out, files::CA, &cert.pem(), 0o644)
}

/// What a certificate is for.
pub enum Role<'a> {
    /// A server, valid for these DNS names and IP addresses.
    Server { sans: &'a [String] },
    /// A client, identified by its common name.
    Client,
}

/// Issue a certificate signed by the CA in `ca_dir` into `out`, with the
/// CA's certificate beside it: `server-cert.pem`/`server-key.pem` or
/// `cert.pem`/`key.pem`, and `ca.pem`.
pub fn issue(ca_dir: &Path, out: &Path, cn: &str, role: Role, validity: Validity) -> Result<()> {
    let ca_pem = read(&ca_dir.join(files::CA))?;
    let ca_key = KeyPair::from_pem(&read(&ca_dir.join(files::CA_KEY))?)?;
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key)?;
    fs::create_dir_all(out).map_err(|source| CertError::Io {
        path: out.display().to_string(),
        source,
    })?;
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let (sans, eku, cert_name, key_name): (&[String], _, _, _) = match role {
        Role::Server { sans } => {
            if sans.is_empty() {
                return Err(CertError::Invalid(
                    "a server certificate needs at least one --san".into(),
                ));
            }
            (
                sans,
                ExtendedKeyUsagePurpose::ServerAuth,
                files::SERVER_CERT,
                files::SERVER_KEY,
            )
        }
        Role::Client => (
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
            files::CLIENT_CERT,
            files::CLIENT_KEY,
        ),
    };
    let mut p = params(cn, sans, validity)?;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    p.extended_key_usages = vec![eku];
    p.use_authority_key_identifier_extension = true;
    let cert = p.signed_by(&key, &issuer)?;
    write(out, key_name, &key.serialize_pem(), 0o600)?;
    write(out, cert_name, &cert.pem(), 0o644)?;
    if out.join(files::CA) != ca_dir.join(files::CA) {
        write(out, files::CA, &ca_pem, 0o644)?;
    }
    Ok(())
}
