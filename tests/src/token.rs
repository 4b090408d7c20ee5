//! A bearer-token issuer for the registry's `auth: token` mode (the flow
//! Docker Hub and most registries use): it listens in a test agent's
//! network namespace, checks basic credentials, and answers each
//! `GET /token?service=&scope=…` with an ES256 JWT whose `x5c` header
//! carries its self-signed certificate, the one the registry's
//! `rootcertbundle` trusts. Anonymous callers get a token granting nothing.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

use crate::Agent;

pub const ADDR: &str = "127.0.0.1:5001";
pub const SERVICE: &str = "skiff-test-registry";
pub const ISSUER: &str = "skiff-test-issuer";

pub struct TokenIssuer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// The certificate (PEM) the registry trusts for tokens.
    pub cert: PathBuf,
    /// What was asked for: `user scope…` per token request.
    pub requests: Arc<Mutex<Vec<String>>>,
}

struct Signer {
    key: EcdsaKeyPair,
    cert_der: Vec<u8>,
    user: (String, String),
}

fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

impl TokenIssuer {
    /// Start the issuer in `a`'s network namespace at `ADDR`, accepting
    /// `user` (name, password); its certificate goes under `dir`.
    pub fn start(a: &Agent, dir: &Path, user: (&str, &str)) -> TokenIssuer {
        std::fs::create_dir_all(dir).expect("token dir");
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let params = rcgen::CertificateParams::new(vec!["skiff-token-issuer".to_string()]).expect("params");
        let cert = params.self_signed(&kp).expect("certificate");
        let cert_path = dir.join("token-issuer.pem");
        std::fs::write(&cert_path, cert.pem()).expect("cert file");
        let rng = ring::rand::SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &kp.serialize_der(), &rng).expect("key");
        let signer = Signer {
            key,
            cert_der: cert.der().to_vec(),
            user: (user.0.to_string(), user.1.to_string()),
        };
        let netns = std::fs::File::open(format!("/run/netns/{}", a.netns)).expect("netns");
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop2, requests2) = (stop.clone(), requests.clone());
        let thread = std::thread::spawn(move || {
            // This thread alone enters the namespace; its socket lives there.
            // SAFETY: setns on a valid descriptor affects only this thread.
            let rc = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&netns), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            let listener = TcpListener::bind(ADDR).expect("token issuer bind");
            listener.set_nonblocking(true).expect("nonblocking");
            ready_tx.send(()).expect("ready");
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((s, _)) => signer.serve(s, &requests2),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        ready_rx.recv_timeout(Duration::from_secs(10)).expect("token issuer up");
        TokenIssuer {
            stop,
            thread: Some(thread),
            cert: cert_path,
            requests,
        }
    }

    /// The registry's `auth:` section for this issuer.
    pub fn registry_auth(&self) -> String {
        format!(
            "auth:\n  token:\n    realm: http://{ADDR}/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
            self.cert.display()
        )
    }
}

impl Drop for TokenIssuer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Signer {
    fn serve(&self, s: TcpStream, requests: &Mutex<Vec<String>>) {
        let _ = s.set_nonblocking(false);
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let mut r = BufReader::new(&s);
        let mut line = String::new();
        if r.read_line(&mut line).is_err() {
            return;
        }
        let target = line.split_whitespace().nth(1).unwrap_or_default().to_string();
        let mut auth = None;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("authorization") {
                    auth = Some(v.trim().to_string());
                }
            }
        }
        let query = target.split_once('?').map_or("", |(_, q)| q);
        let mut scopes = Vec::new();
        for kv in query.split('&') {
            if let Some(("scope", v)) = kv.split_once('=') {
                scopes.extend(percent_decode(v).split(' ').map(String::from));
            }
        }
        let user = match auth.as_deref().and_then(|a| a.strip_prefix("Basic ")) {
            None => None,
            Some(b) => {
                let raw = base64::engine::general_purpose::STANDARD.decode(b).unwrap_or_default();
                let text = String::from_utf8_lossy(&raw).into_owned();
                if text != format!("{}:{}", self.user.0, self.user.1) {
                    let body = r#"{"errors":[{"code":"UNAUTHORIZED","message":"invalid credentials"}]}"#;
                    respond(&s, "401 Unauthorized", body);
                    return;
                }
                Some(self.user.0.clone())
            }
        };
        requests.lock().unwrap_or_else(|e| e.into_inner()).push(format!(
            "{} {}",
            user.as_deref().unwrap_or("-"),
            scopes.join(" ")
        ));
        let access: Vec<serde_json::Value> = if user.is_some() {
            scopes.iter().filter_map(|sc| access_of(sc)).collect()
        } else {
            Vec::new()
        };
        let token = self.token(user.as_deref().unwrap_or(""), access);
        let body = serde_json::json!({"token": token, "access_token": token, "expires_in": 300}).to_string();
        respond(&s, "200 OK", &body);
    }

    fn token(&self, sub: &str, access: Vec<serde_json::Value>) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let header = serde_json::json!({"typ": "JWT", "alg": "ES256",
            "x5c": [base64::engine::general_purpose::STANDARD.encode(&self.cert_der)]});
        let claims = serde_json::json!({"iss": ISSUER, "sub": sub, "aud": SERVICE, "exp": now + 300,
            "nbf": now - 10, "iat": now, "jti": format!("{now}-{}", access.len()), "access": access});
        let input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let rng = ring::rand::SystemRandom::new();
        let sig = self.key.sign(&rng, input.as_bytes()).expect("sign");
        format!("{input}.{}", b64url(sig.as_ref()))
    }
}

/// `repository:team/box:pull,push` → the JWT's access entry.
fn access_of(scope: &str) -> Option<serde_json::Value> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    Some(serde_json::json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
}

fn respond(mut s: &TcpStream, status: &str, body: &str) {
    let _ = write!(
        s,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = s.flush();
}
