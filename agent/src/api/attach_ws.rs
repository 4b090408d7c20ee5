//! `GET /containers/{id}/attach/ws`: attach over a WebSocket (RFC 6455),
//! as Docker 20.10 serves it. Docker attaches stdin, stdout and stderr
//! whatever the query says (only `logs` and `stream` count), never
//! multiplexes, and sends one message per chunk of output: binary frames
//! from API 1.28 on, text frames before. `logs=1` replays the container's
//! whole log first. When the container exits (or, without `stream`, once
//! the logs are sent) it sends a close frame (1000) and hangs up. The
//! client's messages, text or binary, go to the container's stdin when
//! it has one open (`-i`). The container is looked up before the
//! handshake, so a missing one is Docker's JSON 404; a request that is no
//! WebSocket handshake gets `x/net/websocket`'s plain-text 400.

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use skiff_shim::log::read;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::streams::{await_connection, Relay};
use super::versions::PathVersion;
use super::{qbool, ApiResult, St, Q};
use crate::engine::Ctr;
use crate::runtime::protocol;

type Ws = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// What `x/net/websocket` finds wrong with a handshake, in its words.
fn handshake_error(h: &HeaderMap) -> Option<&'static str> {
    let get = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !get("upgrade").eq_ignore_ascii_case("websocket") || !get("connection").to_ascii_lowercase().contains("upgrade")
    {
        return Some("not websocket protocol");
    }
    if get("sec-websocket-key").is_empty() {
        return Some("mismatch challenge/response");
    }
    if get("sec-websocket-version") != "13" {
        return Some("missing or bad WebSocket Version");
    }
    None
}

fn refusal(why: &'static str) -> Response {
    let mut r = Response::builder()
        .status(StatusCode::BAD_REQUEST)
        .header(header::CONNECTION, "close");
    if why.starts_with("missing or bad") {
        r = r.header("Sec-WebSocket-Version", "13");
    }
    r.body(Body::from(why)).unwrap_or_default()
}

/// `GET /containers/{id}/attach/ws`.
pub async fn attach_ws(e: St, Path(id): Path<String>, q: Q, req: Request) -> ApiResult {
    let c = super::streams::attachable(&e, &id)?;
    if let Some(why) = handshake_error(req.headers()) {
        return Ok(refusal(why));
    }
    let key = req.headers()[header::SEC_WEBSOCKET_KEY].as_bytes().to_vec();
    let text = req.extensions().get::<PathVersion>().is_some_and(|v| v.below(1, 28));
    let (logs, stream) = (qbool(&q, "logs"), qbool(&q, "stream"));
    // Subscribe before answering so nothing printed after this is missed.
    let relay = Relay::subscribe(&c, true, true);
    let past = match logs.then(|| e.log_source(&c)) {
        Some(Ok(src)) => Some(Ok(src)),
        Some(Err(err)) => Some(Err(format!("Error attaching: {err}\n"))),
        None => None,
    };
    let on_upgrade = hyper::upgrade::on(req);
    let engine = e.0.clone();
    tokio::spawn(async move {
        let Ok(up) = on_upgrade.await else { return };
        let ws = WebSocketStream::from_raw_socket(TokioIo::new(up), Role::Server, None).await;
        let session = Session { c, text, relay };
        session.run(ws, past, stream, &engine).await;
    });
    Ok(Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::UPGRADE, "websocket")
        .header(header::CONNECTION, "Upgrade")
        .header(header::SEC_WEBSOCKET_ACCEPT, derive_accept_key(&key))
        .body(Body::empty())
        .unwrap_or_default())
}

/// One attached WebSocket client.
struct Session {
    c: std::sync::Arc<Ctr>,
    text: bool,
    relay: Relay,
}

impl Session {
    fn message(&self, data: Bytes) -> Message {
        if self.text {
            // Docker's text frames carry the bytes as they are, UTF-8 or not.
            Message::Frame(Frame::message(data, OpCode::Data(Data::Text), true))
        } else {
            Message::Binary(data)
        }
    }

    async fn run(
        mut self,
        ws: Ws,
        past: Option<Result<read::Source, String>>,
        stream: bool,
        engine: &crate::engine::Engine,
    ) {
        let (mut tx, rx) = ws.split();
        let mut ok = true;
        match past {
            Some(Ok(src)) => {
                let entries = tokio::task::spawn_blocking(move || read::read_all(&src))
                    .await
                    .unwrap_or_default();
                for en in entries {
                    ok = ok && tx.send(self.message(Bytes::from(en.log))).await.is_ok();
                }
            }
            Some(Err(text)) => {
                let _ = tx.send(self.message(Bytes::from(text))).await;
                ok = false;
            }
            None => {}
        }
        engine.emit_container(&self.c, "attach", &[]);
        if ok && stream {
            let stdin = {
                let cfg = &self.c.record().inspect.config;
                Stdin {
                    open: cfg.open_stdin,
                    once: cfg.stdin_once,
                }
            };
            let reader = tokio::spawn(pump_messages(rx, self.c.clone(), stdin));
            while let Some((_, data)) = self.relay.next().await {
                if tx.send(self.message(data)).await.is_err() {
                    break;
                }
            }
            reader.abort();
        }
        let bye = CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        };
        let _ = tx.send(Message::Close(Some(bye))).await;
        let _ = tx.close().await;
    }
}

/// The container's stdin as Docker treats it here.
struct Stdin {
    /// `-i`: without it the client's messages are read and dropped.
    open: bool,
    /// `StdinOnce`: the client's close closes the container's stdin.
    once: bool,
}

/// The client's messages to the container's stdin.
async fn pump_messages(mut rx: futures_util::stream::SplitStream<Ws>, c: std::sync::Arc<Ctr>, stdin: Stdin) {
    let conn = move || c.connection();
    while let Some(Ok(m)) = rx.next().await {
        if !stdin.open {
            continue;
        }
        let data: Bytes = match m {
            Message::Binary(b) => b,
            Message::Text(t) => Bytes::from(t.as_str().to_owned()),
            Message::Close(_) => break,
            _ => continue,
        };
        let Some(sink) = await_connection(&conn).await else {
            return;
        };
        if sink.send(protocol::STDIN, &data).await.is_err() {
            return;
        }
    }
    if stdin.open && stdin.once {
        if let Some(sink) = conn() {
            let _ = sink.send(protocol::STDIN_CLOSE, &[]).await;
        }
    }
}
