//! A Docker Engine API client over a unix socket (HTTP/1.1 via hyper),
//! including hijacked (upgraded) connections for attach and exec.

use std::path::PathBuf;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use tokio::net::UnixStream;

use crate::api::{ErrorResponse, API_VERSION};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("Cannot connect to the skiff agent at unix://{0}. Is the skiff agent running?")]
    Connect(String),
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

#[derive(Clone, Debug)]
pub struct Client {
    socket: PathBuf,
}

/// A body to send: empty, JSON, or raw bytes with a content type.
pub enum Body {
    Empty,
    Json(Vec<u8>),
    Raw(Vec<u8>, &'static str),
}

impl Client {
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Self { socket: socket.into() }
    }

    /// Parse `-H unix:///path` (the only transport so far).
    pub fn from_host(host: &str) -> Result<Self> {
        match host.strip_prefix("unix://") {
            Some(p) => Ok(Self::new(p)),
            None if host.starts_with('/') => Ok(Self::new(host)),
            None => Err(ClientError::Other(format!(
                "unsupported host {host}: only unix:// for now (tcp with --tlsverify comes with TLS support)"
            ))),
        }
    }

    async fn connect(&self, upgrades: bool) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
        let stream = UnixStream::connect(&self.socket)
            .await
            .map_err(|_| ClientError::Connect(self.socket.display().to_string()))?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(other)?;
        tokio::spawn(async move {
            if upgrades {
                let _ = conn.with_upgrades().await;
            } else {
                let _ = conn.await;
            }
        });
        Ok(sender)
    }

    fn build(&self, method: Method, path: &str, body: Body, upgrade: bool) -> Result<Request<Full<Bytes>>> {
        let mut b = Request::builder()
            .method(method)
            .uri(format!("/v{API_VERSION}{path}"))
            .header("Host", "skiff");
        if upgrade {
            b = b.header("Connection", "Upgrade").header("Upgrade", "tcp");
        }
        let (data, ct) = match body {
            Body::Empty => (Vec::new(), None),
            Body::Json(d) => (d, Some("application/json")),
            Body::Raw(d, ct) => (d, Some(ct)),
        };
        if let Some(ct) = ct {
            b = b.header("Content-Type", ct);
        }
        b.body(Full::new(Bytes::from(data))).map_err(other)
    }

    /// Send a request; non-2xx answers become `ClientError::Api`.
    pub async fn send(&self, method: Method, path: &str, body: Body) -> Result<Response<Incoming>> {
        let mut s = self.connect(false).await?;
        let resp = s
            .send_request(self.build(method, path, body, false)?)
            .await
            .map_err(other)?;
        check(resp).await
    }

    pub async fn json<T: DeserializeOwned>(&self, method: Method, path: &str, body: Body) -> Result<T> {
        let resp = self.send(method, path, body).await?;
        let data = resp.into_body().collect().await.map_err(other)?.to_bytes();
        serde_json::from_slice(&data).map_err(|e| ClientError::Other(format!("bad answer from daemon: {e}")))
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.json(Method::GET, path, Body::Empty).await
    }

    /// POST and ignore the body.
    pub async fn post(&self, path: &str, body: Body) -> Result<()> {
        let resp = self.send(Method::POST, path, body).await?;
        let _ = resp.into_body().collect().await;
        Ok(())
    }

    /// Send a request that switches to a raw stream (attach, exec start).
    pub async fn hijack(&self, path: &str, body: Body) -> Result<TokioIo<hyper::upgrade::Upgraded>> {
        let mut s = self.connect(true).await?;
        let resp = s
            .send_request(self.build(Method::POST, path, body, true)?)
            .await
            .map_err(other)?;
        let resp = check(resp).await?;
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Err(ClientError::Other(format!(
                "daemon did not switch protocols ({})",
                resp.status()
            )));
        }
        let up = hyper::upgrade::on(resp).await.map_err(other)?;
        Ok(TokioIo::new(up))
    }
}

async fn check(resp: Response<Incoming>) -> Result<Response<Incoming>> {
    let status = resp.status();
    if status.is_success() || status == StatusCode::SWITCHING_PROTOCOLS || status == StatusCode::NOT_MODIFIED {
        return Ok(resp);
    }
    let data = resp
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let message = serde_json::from_slice::<ErrorResponse>(&data)
        .map(|e| e.message)
        .unwrap_or_else(|_| String::from_utf8_lossy(&data).trim().to_string());
    Err(ClientError::Api { status, message })
}

/// Percent-encode a query value.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
