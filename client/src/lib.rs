//! One client for skiff's HTTP APIs: the Docker Engine API of an agent and
//! the REST API of a controller, over a unix socket, TCP or mutual TLS
//! (HTTP/1.1 via hyper), including hijacked (upgraded) connections for
//! attach and exec. `cluster`: joining and renewing certificates.
//!
//! Every API path is spelled here, once, behind a typed method of
//! [`Client`]: `containers` (containers and exec), `images`, `networks`,
//! `volumes`, `system` (version, info, events, disk usage) and `controller` (the
//! controller's cluster, nodes, services and tasks). Callers never write a
//! path or a query string.

pub mod archive;
pub mod build;
pub mod build_context;
pub mod cluster;
pub mod containers;
pub mod context_sync;
pub mod controller;
pub mod dockerignore;
pub mod images;
pub mod networks;
pub mod system;
pub mod volumes;

pub use build::{BuildEvent, BuildStream};
pub use containers::{CommitOptions, CreateOptions, ListOptions, LogsOptions};
pub use controller::ServiceUpdate;
pub use images::ImportOptions;
pub use system::EventsOptions;

use std::collections::BTreeMap;
use std::path::PathBuf;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::rustls;

use skiff_api::{ErrorResponse, API_VERSION};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("Cannot connect to the skiff agent at {0}. Is the skiff agent running?")]
    Connect(String),
    #[error("error during connect: {0}")]
    Tls(String),
    #[error("Error response from daemon: {message}")]
    Api { status: StatusCode, message: String },
    #[error("{0}")]
    Other(String),
}

impl ClientError {
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, ClientError>;

fn other(e: impl std::fmt::Display) -> ClientError {
    ClientError::Other(e.to_string())
}

/// An error with its causes ("connection error: received fatal alert: …").
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(&format!(": {c}"));
        cur = c.source();
    }
    s
}

/// How to reach the daemon.
#[derive(Clone)]
enum Transport {
    Unix(PathBuf),
    Tcp(String),
    /// One address, or several (`tcp://a:7443,b:7443`: a cluster's
    /// controllers, any of which answers): tried in turn from the last
    /// one that answered.
    Tls {
        addrs: Vec<(String, ServerName<'static>)>,
        config: Arc<rustls::ClientConfig>,
        answered: Arc<std::sync::atomic::AtomicUsize>,
    },
}

/// Any stream a request can travel on.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

#[derive(Clone)]
pub struct Client {
    transport: Transport,
    shown: String,
    /// Through a controller, the node every request goes to (`--node`).
    node: Option<String>,
    /// The certificate and key presented (mutual TLS), if any.
    identity: Option<(PathBuf, PathBuf)>,
    /// Connections whose last answer was read to the end, kept open for
    /// the next request (a TLS handshake per request would cost more
    /// than most requests), shared by clones.
    idle: Pool,
}

type Sender = hyper::client::conn::http1::SendRequest<ReqBody>;
type Pool = Arc<std::sync::Mutex<Vec<Sender>>>;

/// Idle connections kept per client.
const IDLE_KEPT: usize = 16;

/// `--tlsverify` settings of a client.
pub struct TlsOptions {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsOptions {
    /// The usual files of a certificate directory: ca.pem, cert.pem, key.pem.
    pub fn in_dir(dir: &std::path::Path) -> Self {
        use skiff_certs::files;
        Self {
            ca: dir.join(files::CA),
            cert: dir.join(files::CLIENT_CERT),
            key: dir.join(files::CLIENT_KEY),
        }
    }
}

/// A body to send: empty, JSON, raw bytes with a content type, or a
/// stream of chunks with a content type (sent chunked, as they come; an
/// `Err` chunk aborts the request).
pub enum Body {
    Empty,
    Json(Vec<u8>),
    Raw(Vec<u8>, &'static str),
    Stream(tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>, &'static str),
}

impl Body {
    /// The same body again, unless it is a stream.
    fn try_clone(&self) -> Option<Body> {
        match self {
            Body::Empty => Some(Body::Empty),
            Body::Json(b) => Some(Body::Json(b.clone())),
            Body::Raw(b, t) => Some(Body::Raw(b.clone(), t)),
            Body::Stream(..) => None,
        }
    }
}

/// A controller's answer while no leader is known or reachable yet.
fn leader_moving(e: &ClientError) -> bool {
    matches!(e, ClientError::Api { status, message }
        if *status == hyper::StatusCode::SERVICE_UNAVAILABLE
            && (message.starts_with("no controller is the leader now")
                || message.starts_with("the leader controller at")
                || message.starts_with("the controller leadership changed")))
}

/// The body of a request on the wire: whole, or streamed from a channel.
type ReqBody = http_body_util::Either<Full<Bytes>, ChannelBody>;

/// A copy of a request whose body is whole (not a stream).
fn clone_request(req: &Request<ReqBody>) -> Option<Request<ReqBody>> {
    let body = match req.body() {
        http_body_util::Either::Left(full) => http_body_util::Either::Left(full.clone()),
        http_body_util::Either::Right(_) => return None,
    };
    let mut copy = Request::new(body);
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.headers_mut() = req.headers().clone();
    Some(copy)
}

/// A request body read from a channel of chunks (`Body::Stream`); it ends
/// when every sender is gone.
pub struct ChannelBody(tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<std::result::Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| c.map(hyper::body::Frame::data)))
    }
}

impl Body {
    /// A typed request body, as JSON.
    pub fn json<T: Serialize>(v: &T) -> Result<Body> {
        serde_json::to_vec(v).map(Body::Json).map_err(other)
    }
}

/// Docker's `filters` query: each key with the values any of which may match.
pub type Filters = BTreeMap<String, Vec<String>>;

/// A hijacked connection (attach, exec start): raw stream both ways.
pub type Hijacked = TokioIo<hyper::upgrade::Upgraded>;

/// A query string built a pair at a time, each value percent-encoded;
/// `on` appends it to a path (no `?` when there is no pair).
#[derive(Default)]
pub(crate) struct Query(Vec<String>);

impl Query {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn add(mut self, key: &str, value: impl std::fmt::Display) -> Self {
        self.0.push(format!("{key}={}", enc(&value.to_string())));
        self
    }

    /// `key=1` or `key=0`.
    pub(crate) fn flag(self, key: &str, on: bool) -> Self {
        self.add(key, u8::from(on))
    }

    pub(crate) fn opt(self, key: &str, value: Option<impl std::fmt::Display>) -> Self {
        match value {
            Some(v) => self.add(key, v),
            None => self,
        }
    }

    /// `filters=` with Docker's JSON, unless there is no filter.
    pub(crate) fn filters<K: Serialize + Ord, V: Serialize>(self, filters: &BTreeMap<K, V>) -> Self {
        if filters.is_empty() {
            return self;
        }
        self.add("filters", serde_json::to_string(filters).unwrap_or_default())
    }

    pub(crate) fn on(self, path: &str) -> String {
        if self.0.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{}", self.0.join("&"))
        }
    }
}

impl Client {
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        let socket = socket.into();
        Self {
            shown: format!("unix://{}", socket.display()),
            transport: Transport::Unix(socket),
            node: None,
            identity: None,
            idle: Pool::default(),
        }
    }

    /// `-H unix:///path` or `-H tcp://host:port`; TCP with `tls` verifies the
    /// daemon's certificate against the CA and presents ours.
    pub fn from_host(host: &str, tls: Option<TlsOptions>) -> Result<Self> {
        if let Some(p) = host.strip_prefix("unix://") {
            return Ok(Self::new(p));
        }
        if host.starts_with('/') {
            return Ok(Self::new(host));
        }
        let Some(addr) = host.strip_prefix("tcp://") else {
            return Err(ClientError::Other(format!(
                "unsupported host {host}: use unix:///path or tcp://host:port"
            )));
        };
        let addr = addr.trim_end_matches('/').to_string();
        let addr = if addr.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
            addr
        } else {
            format!("{addr}:{}", if tls.is_some() { 2376 } else { 2375 })
        };
        let shown = format!("tcp://{addr}");
        let Some(t) = tls else {
            return Ok(Self {
                transport: Transport::Tcp(addr),
                shown,
                node: None,
                identity: None,
                idle: Pool::default(),
            });
        };
        let mut addrs = Vec::new();
        for a in addr.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            let a = if a.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
                a.to_string()
            } else {
                format!("{a}:2376")
            };
            let host_part = a
                .rsplit_once(':')
                .map(|(h, _)| h)
                .unwrap_or(&a)
                .trim_matches(|c| c == '[' || c == ']');
            let name = ServerName::try_from(host_part.to_string())
                .map_err(|e| ClientError::Other(format!("invalid host name {host_part}: {e}")))?;
            addrs.push((a, name));
        }
        let config = skiff_certs::tls::client_config(&t.ca, Some((&t.cert, &t.key)))
            .map_err(|e| ClientError::Other(format!("could not read TLS settings: {e}")))?;
        Ok(Self {
            transport: Transport::Tls {
                addrs,
                config,
                answered: Arc::default(),
            },
            shown,
            node: None,
            identity: Some((t.cert, t.key)),
            idle: Pool::default(),
        })
    }

    /// A client of the controller at `host:port` that has no certificate
    /// yet: it trusts the server if the CA it presents has this fingerprint.
    pub fn pinned(addr: &str, ca_fingerprint: &str) -> Result<Self> {
        let name = skiff_certs::tls::server_name(addr).map_err(|e| ClientError::Other(e.to_string()))?;
        let config = skiff_certs::cluster::pinned_client_config(ca_fingerprint)
            .map_err(|e| ClientError::Other(format!("TLS settings: {e}")))?;
        Ok(Self {
            transport: Transport::Tls {
                addrs: vec![(addr.to_string(), name)],
                config,
                answered: Arc::default(),
            },
            shown: format!("tcp://{addr}"),
            node: None,
            identity: None,
            idle: Pool::default(),
        })
    }

    /// Send every request to this node through the controller.
    pub fn with_node(mut self, node: Option<String>) -> Self {
        self.node = node;
        self
    }

    /// The certificate and key files this client presents.
    pub fn identity(&self) -> Option<(&std::path::Path, &std::path::Path)> {
        self.identity.as_ref().map(|(c, k)| (c.as_path(), k.as_path()))
    }

    /// Where this client connects, as the user would write it.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    async fn stream(&self) -> Result<Box<dyn Io>> {
        let refused = |_| ClientError::Connect(self.shown.clone());
        Ok(match &self.transport {
            Transport::Unix(p) => Box::new(UnixStream::connect(p).await.map_err(refused)?),
            Transport::Tcp(a) => Box::new(TcpStream::connect(a).await.map_err(refused)?),
            Transport::Tls {
                addrs,
                config,
                answered,
            } => {
                let (tcp, name) = connect_any(addrs, answered).await.map_err(refused)?;
                let tls = tokio_rustls::TlsConnector::from(config.clone())
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| ClientError::Tls(format!("TLS with {}: {e}", self.shown)))?;
                Box::new(tls)
            }
        })
    }

    /// A request that died on the wire; over TLS that is how a refused
    /// client certificate shows (TLS 1.3 refuses after the handshake).
    fn failed(&self, e: &hyper::Error) -> ClientError {
        match self.transport {
            Transport::Tls { .. } => ClientError::Tls(format!("{}: {}", self.shown, chain(e))),
            _ => ClientError::Other(chain(e)),
        }
    }

    async fn connect(&self, upgrades: bool) -> Result<hyper::client::conn::http1::SendRequest<ReqBody>> {
        let stream = self.stream().await?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.failed(&e))?;
        tokio::spawn(async move {
            if upgrades {
                let _ = conn.with_upgrades().await;
            } else {
                let _ = conn.await;
            }
        });
        Ok(sender)
    }

    fn build(&self, method: Method, path: &str, body: Body, upgrade: bool) -> Result<Request<ReqBody>> {
        let mut b = Request::builder()
            .method(method)
            .uri(format!("/v{API_VERSION}{path}"))
            .header("Host", "skiff");
        if upgrade {
            b = b.header("Connection", "Upgrade").header("Upgrade", "tcp");
        }
        if let Some(n) = &self.node {
            b = b.header(skiff_api::cluster::NODE_HEADER, n.as_str());
        }
        use http_body_util::Either;
        let (body, ct) = match body {
            Body::Empty => (Either::Left(Full::default()), None),
            Body::Json(d) => (Either::Left(Full::from(d)), Some("application/json")),
            Body::Raw(d, ct) => (Either::Left(Full::from(d)), Some(ct)),
            Body::Stream(rx, ct) => (Either::Right(ChannelBody(rx)), Some(ct)),
        };
        if let Some(ct) = ct {
            b = b.header("Content-Type", ct);
        }
        b.body(body).map_err(other)
    }

    /// Send a request; non-2xx answers become `ClientError::Api`.
    pub async fn send(&self, method: Method, path: &str, body: Body) -> Result<Response<Incoming>> {
        // A controller answers 503 while the leadership moves (an election
        // takes a second or two): a request whose body can be sent again
        // is, for up to 10 s.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut body = body;
        loop {
            let again = body.try_clone();
            let resp = self
                .request(self.build(method.clone(), path, body, false)?, again.is_some())
                .await?;
            match (check(resp).await, again) {
                (Err(e), Some(b)) if leader_moving(&e) && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    body = b;
                }
                (r, _) => return r,
            }
        }
    }

    /// `send` with extra request headers (`X-Registry-Auth`).
    pub async fn send_with(
        &self,
        method: Method,
        path: &str,
        body: Body,
        headers: Vec<(&'static str, String)>,
    ) -> Result<Response<Incoming>> {
        let mut req = self.build(method, path, body, false)?;
        for (k, v) in headers {
            req.headers_mut()
                .insert(k, hyper::header::HeaderValue::from_str(&v).map_err(other)?);
        }
        check(self.request(req, false).await?).await
    }

    /// Send one request on an idle connection when there is one (only
    /// when `again`: the body can be sent again should the server have
    /// closed it meanwhile), else on a new one; the connection goes back
    /// to the idle ones once its answer has been read.
    async fn request(&self, req: Request<ReqBody>, again: bool) -> Result<Response<Incoming>> {
        let idle = again.then(|| self.idle_sender()).flatten();
        let (mut s, req) = match idle {
            Some(mut s) => {
                let copy = clone_request(&req);
                match (s.send_request(req).await, copy) {
                    (Ok(resp), _) => {
                        self.recycle(s);
                        return Ok(resp);
                    }
                    // Closed by the server while idle, before it read the
                    // request: again, on a new connection.
                    (Err(e), Some(copy)) if e.is_canceled() || e.is_incomplete_message() => {
                        (self.connect(false).await?, copy)
                    }
                    (Err(e), _) => return Err(self.failed(&e)),
                }
            }
            None => (self.connect(false).await?, req),
        };
        let resp = s.send_request(req).await.map_err(|e| self.failed(&e))?;
        self.recycle(s);
        Ok(resp)
    }

    fn idle_sender(&self) -> Option<Sender> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(s) = idle.pop() {
            if s.is_ready() {
                return Some(s);
            }
        }
        None
    }

    /// Keep `s` once its answer has been read (a connection whose answer
    /// is dropped unread is closed by hyper and never comes back).
    fn recycle(&self, mut s: Sender) {
        let idle = self.idle.clone();
        tokio::spawn(async move {
            if s.ready().await.is_ok() {
                let mut idle = idle.lock().unwrap_or_else(|e| e.into_inner());
                if idle.len() < IDLE_KEPT {
                    idle.push(s);
                }
            }
        });
    }

    pub async fn json<T: DeserializeOwned>(&self, method: Method, path: &str, body: Body) -> Result<T> {
        let resp = self.send(method, path, body).await?;
        let data = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| self.failed(&e))?
            .to_bytes();
        serde_json::from_slice(&data).map_err(|e| ClientError::Other(format!("bad answer from daemon: {e}")))
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.json(Method::GET, path, Body::Empty).await
    }

    /// POST and ignore the body.
    pub async fn post(&self, path: &str, body: Body) -> Result<()> {
        self.call(Method::POST, path, body).await
    }

    /// Send a request and ignore the body of the answer.
    pub(crate) async fn call(&self, method: Method, path: &str, body: Body) -> Result<()> {
        let resp = self.send(method, path, body).await?;
        let _ = body_bytes(resp).await;
        Ok(())
    }

    /// Send a request that switches to a raw stream (attach, exec start).
    pub async fn hijack(&self, path: &str, body: Body) -> Result<Hijacked> {
        let mut s = self.connect(true).await?;
        let resp = s
            .send_request(self.build(Method::POST, path, body, true)?)
            .await
            .map_err(|e| self.failed(&e))?;
        let resp = check(resp).await?;
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Err(ClientError::Other(format!(
                "daemon did not switch protocols ({})",
                resp.status()
            )));
        }
        let up = hyper::upgrade::on(resp).await.map_err(|e| self.failed(&e))?;
        Ok(TokioIo::new(up))
    }
}

async fn check(resp: Response<Incoming>) -> Result<Response<Incoming>> {
    let status = resp.status();
    if status.is_success() || status == StatusCode::SWITCHING_PROTOCOLS || status == StatusCode::NOT_MODIFIED {
        return Ok(resp);
    }
    let data = body_bytes(resp).await;
    let message = serde_json::from_slice::<ErrorResponse>(&data)
        .map(|e| e.message)
        .unwrap_or_else(|_| String::from_utf8_lossy(&data).trim().to_string());
    Err(ClientError::Api { status, message })
}

/// Percent-encode a path segment or query value (RFC 3986 unreserved kept).
pub fn enc(s: &str) -> String {
    const RESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, RESERVED).to_string()
}

/// A streamed answer read a line at a time (`/events`, `/stats`).
pub struct Lines {
    body: Incoming,
    buf: Vec<u8>,
}

impl Lines {
    pub fn new(resp: Response<Incoming>) -> Self {
        Self {
            body: resp.into_body(),
            buf: Vec::new(),
        }
    }

    /// The next whole line (without its newline), or `None` at the end.
    pub async fn next(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(nl) = self.buf.iter().position(|b| *b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=nl).collect();
                line.pop();
                return Some(line);
            }
            let Some(frame) = self.body.frame().await else {
                // A last line without its newline.
                return (!self.buf.is_empty()).then(|| std::mem::take(&mut self.buf));
            };
            if let Ok(data) = frame.ok()?.into_data() {
                self.buf.extend_from_slice(&data);
            }
        }
    }
}

/// The whole body of a response (empty if the connection fails mid-way).
pub async fn body_bytes(resp: Response<Incoming>) -> Bytes {
    resp.into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default()
}

/// Connect to the first of `addrs` that answers, starting from the one
/// that answered last; with several, each gets a short connect timeout
/// (a controller cut off the network never refuses, it just is silent).
async fn connect_any<'a>(
    addrs: &'a [(String, ServerName<'static>)],
    answered: &std::sync::atomic::AtomicUsize,
) -> std::io::Result<(TcpStream, &'a ServerName<'static>)> {
    use std::sync::atomic::Ordering;
    let first = answered.load(Ordering::Relaxed);
    let mut last = std::io::Error::other("no address");
    for i in 0..addrs.len() {
        let at = (first + i) % addrs.len();
        let (addr, name) = &addrs[at];
        let attempt = TcpStream::connect(addr.as_str());
        let r = if addrs.len() > 1 {
            tokio::time::timeout(std::time::Duration::from_millis(1500), attempt)
                .await
                .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
        } else {
            attempt.await
        };
        match r {
            Ok(tcp) => {
                answered.store(at, Ordering::Relaxed);
                return Ok((tcp, name));
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_values_keep_unreserved_characters_only() {
        assert_eq!(super::enc("web-1_a.b~c"), "web-1_a.b~c");
        assert_eq!(super::enc("a b/c:d={}"), "a%20b%2Fc%3Ad%3D%7B%7D");
        assert_eq!(super::enc("é"), "%C3%A9");
    }

    #[test]
    fn queries_encode_values_and_leave_out_an_empty_one() {
        use super::{Filters, Query};
        assert_eq!(
            Query::new().opt("t", None::<i64>).on("/containers/a/stop"),
            "/containers/a/stop"
        );
        let mut f = Filters::new();
        f.entry("name".into()).or_default().push("web 1".into());
        let q = Query::new()
            .flag("all", true)
            .opt("limit", Some(3))
            .add("signal", "SIG INT")
            .filters(&f)
            .on("/containers/json");
        assert_eq!(
            q,
            "/containers/json?all=1&limit=3&signal=SIG%20INT&filters=%7B%22name%22%3A%5B%22web%201%22%5D%7D"
        );
        assert_eq!(Query::new().filters(&Filters::new()).on("/events"), "/events");
    }
}
