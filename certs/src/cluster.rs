//! Cluster identities, after SwarmKit: every certificate the controller
//! signs names a node or client ID in CN, its role in OU and the cluster ID
//! in O. Joiners make their own key and send only a signing request; the
//! join token pins the CA by the SHA-256 of its DER, so the first
//! connection needs no other trust.

use std::fmt;
use std::sync::Arc;

use rcgen::{
    CertificateParams, CertificateSigningRequestParams, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};
use x509_parser::prelude::FromDer;

use crate::issue::Validity;
use crate::{CertError, Result};

/// What a certificate holder may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A host running skiff-agent; may hold a session, never act as a client.
    Agent,
    /// A client that may change anything.
    Admin,
    /// A client that may list and watch.
    Readonly,
    /// Another controller: a raft peer, which may also forward a caller's
    /// request (with the caller's identity) to the leader. Never a client.
    Controller,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Admin => "admin",
            Role::Readonly => "readonly",
            Role::Controller => "controller",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "agent" | "worker" => Some(Role::Agent),
            "admin" | "manager" => Some(Role::Admin),
            "readonly" | "read-only" => Some(Role::Readonly),
            "controller" => Some(Role::Controller),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who a verified certificate belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub id: String,
    pub role: Role,
    pub cluster: String,
}

impl Identity {
    /// Read CN, OU and O of a certificate; `None` if it is not one of ours.
    pub fn from_der(der: &[u8]) -> Option<Identity> {
        let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der).ok()?;
        let subject = cert.subject();
        let first = |it: &mut dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue>| {
            it.next().and_then(|a| a.as_str().ok()).map(str::to_string)
        };
        let who = Identity {
            id: first(&mut subject.iter_common_name())?,
            role: Role::parse(&first(&mut subject.iter_organizational_unit())?)?,
            cluster: first(&mut subject.iter_organization())?,
        };
        Some(who)
    }
}

/// Hex SHA-256 of a certificate's DER: what a join token pins.
pub fn fingerprint(der: &[u8]) -> String {
    hex(&Sha256::digest(der))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The DER of the first certificate in a PEM text.
pub fn pem_to_der(pem: &str) -> Result<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| CertError::Invalid(format!("certificate: {e}")))
}

/// A fresh key and a signing request for it: (key PEM, CSR PEM).
pub fn new_key_and_csr(name: &str) -> Result<(String, String)> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name.push(DnType::CommonName, name);
    let csr = p.serialize_request(&key)?;
    Ok((key.serialize_pem(), csr.pem()?))
}

/// A signing request for a key we already hold (renewing a certificate).
pub fn request_for_key(key_pem: &str, name: &str) -> Result<String> {
    let key = KeyPair::from_pem(key_pem)?;
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name.push(DnType::CommonName, name);
    Ok(p.serialize_request(&key)?.pem()?)
}

/// Does the certificate carry the public half of this key?
pub fn certifies_key(cert_pem: &str, key_pem: &str) -> Result<bool> {
    use rcgen::PublicKeyData;
    let key = KeyPair::from_pem(key_pem)?;
    let der = pem_to_der(cert_pem)?;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&der)
        .map_err(|e| CertError::Invalid(format!("certificate: {e}")))?;
    Ok(cert.public_key().subject_public_key.data.as_ref() == key.der_bytes())
}

/// When a PEM certificate starts and stops being valid (Unix seconds).
pub fn validity_of(cert_pem: &str) -> Result<(i64, i64)> {
    let der = pem_to_der(cert_pem)?;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&der)
        .map_err(|e| CertError::Invalid(format!("certificate: {e}")))?;
    let v = cert.validity();
    Ok((v.not_before.timestamp(), v.not_after.timestamp()))
}

/// The names and addresses a certificate serves TLS for (its DNS and IP
/// subject alternative names), as `sign_request_for` takes them.
pub fn sans_of(cert_pem: &str) -> Result<Vec<String>> {
    use x509_parser::extensions::GeneralName;
    let der = pem_to_der(cert_pem)?;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&der)
        .map_err(|e| CertError::Invalid(format!("certificate: {e}")))?;
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for name in &san.value.general_names {
        match name {
            GeneralName::DNSName(d) => out.push(d.to_string()),
            GeneralName::IPAddress(b) => match b.len() {
                4 => out.push(std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*b).expect("4 bytes")).to_string()),
                16 => out.push(std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*b).expect("16 bytes")).to_string()),
                _ => {}
            },
            _ => {}
        }
    }
    Ok(out)
}

/// Sign a joiner's request with the CA: the subject and usages are ours,
/// only the public key comes from the request (whose signature rcgen checks).
pub fn sign_request(
    ca_pem: &str,
    ca_key_pem: &str,
    csr_pem: &str,
    who: &Identity,
    validity: Validity,
) -> Result<String> {
    sign_request_for(ca_pem, ca_key_pem, csr_pem, who, &[], validity)
}

/// As [`sign_request`]; with `sans`, the certificate also serves TLS for
/// those names (a controller's: it listens and dials its peers with one
/// certificate).
pub fn sign_request_for(
    ca_pem: &str,
    ca_key_pem: &str,
    csr_pem: &str,
    who: &Identity,
    sans: &[String],
    validity: Validity,
) -> Result<String> {
    let issuer = Issuer::from_ca_cert_pem(ca_pem, KeyPair::from_pem(ca_key_pem)?)?;
    let mut csr = CertificateSigningRequestParams::from_pem(csr_pem)
        .map_err(|e| CertError::Invalid(format!("certificate signing request: {e}")))?;
    let mut p = CertificateParams::new(sans.to_vec())?;
    p.distinguished_name.push(DnType::CommonName, who.id.as_str());
    p.distinguished_name
        .push(DnType::OrganizationalUnitName, who.role.as_str());
    p.distinguished_name
        .push(DnType::OrganizationName, who.cluster.as_str());
    p.not_before = validity.not_before;
    p.not_after = validity.not_after;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    if !sans.is_empty() {
        p.key_usages.push(KeyUsagePurpose::KeyEncipherment);
        p.extended_key_usages.push(ExtendedKeyUsagePurpose::ServerAuth);
    }
    p.use_authority_key_identifier_extension = true;
    csr.params = p;
    Ok(csr.signed_by(&issuer)?.pem())
}

/// A client for a server whose CA we know only by fingerprint: the server
/// must present that CA in its chain, and its certificate must chain to it.
pub fn pinned_client_config(ca_fingerprint: &str) -> Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(PinnedCa {
        fingerprint: ca_fingerprint.to_ascii_lowercase(),
        provider: provider.clone(),
    });
    let cfg = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

#[derive(Debug)]
struct PinnedCa {
    fingerprint: String,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for PinnedCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let ca = intermediates
            .iter()
            .find(|c| fingerprint(c) == self.fingerprint)
            .ok_or_else(|| rustls::Error::General("the controller's CA does not match the join token".into()))?;
        let mut roots = RootCertStore::empty();
        roots.add(ca.clone().into_owned())?;
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
            .build()
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        inner.verify_server_cert(end_entity, &[], server_name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::issue::create_ca;

    #[test]
    fn a_signed_request_carries_our_identity_not_the_requested_one() {
        let dir = std::env::temp_dir().join(format!("skiff-cluster-certs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        create_ca(&dir, "test CA", Validity::days(1)).unwrap();
        let ca = std::fs::read_to_string(dir.join("ca.pem")).unwrap();
        let ca_key = std::fs::read_to_string(dir.join("ca-key.pem")).unwrap();
        let (_key, csr) = new_key_and_csr("i-want-to-be-admin").unwrap();
        let who = Identity {
            id: "n1abc".into(),
            role: Role::Agent,
            cluster: "c1".into(),
        };
        let pem = sign_request(&ca, &ca_key, &csr, &who, Validity::days(1)).unwrap();
        let der = pem_to_der(&pem).unwrap();
        assert_eq!(Identity::from_der(&der).as_ref(), Some(&who));
        assert_eq!(fingerprint(&pem_to_der(&ca).unwrap()).len(), 64);
        assert!(sign_request(
            &ca,
            &ca_key,
            "garbage",
            &Identity::from_der(&der).unwrap(),
            Validity::days(1)
        )
        .is_err());
        // A controller's certificate names what it serves; a renewal keeps it.
        let sans = vec!["10.0.0.2".to_string(), "ctl.example".to_string(), "fd00::2".to_string()];
        let pem = sign_request_for(&ca, &ca_key, &csr, &who, &sans, Validity::days(1)).unwrap();
        let mut got = sans_of(&pem).unwrap();
        got.sort();
        assert_eq!(got, sans);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
