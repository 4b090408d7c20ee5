//! Streaming endpoints: attach and exec (hijacked connections, upgraded to
//! raw TCP as Docker does), logs (chunked), resize.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use skiff_api::{stream, ExecConfig, ExecStart, IdResponse};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::{qbool, ApiError, ApiResult, St, Q};
use crate::engine::Ctr;
use crate::runtime::protocol;
use crate::runtime::supervisor::{Connection, Event};
use skiff_shim::log::{jsonfile, read};

/// What Docker 20.10 (API 1.41) names every hijacked stream, framed or
/// not; `multiplexed-stream` came with API 1.42.
const RAW_STREAM: &str = "application/vnd.docker.raw-stream";

fn upgrade_response() -> Response {
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONTENT_TYPE, RAW_STREAM)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "tcp")
        .body(Body::empty())
        .unwrap_or_default()
}

fn encode(tty: bool, s: u8, data: &[u8]) -> Vec<u8> {
    if tty {
        data.to_vec()
    } else {
        stream::frame(s, data)
    }
}

/// The connection `conn()` yields, waiting up to 30 s for it (the
/// container may not be started yet when attach begins).
pub(super) async fn await_connection<F>(conn: &F) -> Option<Connection>
where
    F: Fn() -> Option<Connection>,
{
    for _ in 0..600 {
        if let Some(c) = conn() {
            return Some(c);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Copy the client's stdin to whatever connection `conn()` yields.
fn pump_stdin<R, F>(mut rd: R, conn: F)
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
    F: Fn() -> Option<Connection> + Send + Sync + 'static,
{
    tokio::spawn(async move {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = rd.read(&mut buf).await.unwrap_or(0);
            let Some(c) = await_connection(&conn).await else { return };
            if n == 0 {
                let _ = c.send(protocol::STDIN_CLOSE, &[]).await;
                return;
            }
            if c.send(protocol::STDIN, &buf[..n]).await.is_err() {
                return;
            }
        }
    });
}

/// The container an attach (hijacked or websocket) names, if it can be
/// attached to: not while paused or restarting, as Docker.
pub(super) fn attachable(e: &St, id: &str) -> Result<Arc<Ctr>, ApiError> {
    let c = e.get(id)?;
    let st = c.state();
    if st.paused {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!("container {id} is paused, unpause the container before attach"),
        ));
    }
    if st.restarting {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!("container {id} is restarting, wait until the container is running"),
        ));
    }
    Ok(c)
}

/// `POST /containers/{id}/attach`.
pub async fn attach(e: St, Path(id): Path<String>, q: Q, req: Request) -> ApiResult {
    let c = attachable(&e, &id)?;
    let (want_in, want_out, want_err) = (qbool(&q, "stdin"), qbool(&q, "stdout"), qbool(&q, "stderr"));
    e.emit_container(&c, "attach", &[]);
    // Subscribe before answering so nothing printed after this is missed.
    let mut relay = Relay::subscribe(&c, want_out, want_err);
    // As Docker: `logs=1` replays the log first, and live output comes only
    // with `stream=1` (from a stopped container: once it runs again).
    if qbool(&q, "logs") {
        relay.history = log_history(&e, &c, relay.tty, want_out, want_err).await;
    }
    relay.live = qbool(&q, "stream");
    if !req.headers().contains_key(header::UPGRADE) {
        // As Docker: no upgrade asked, a 200 whose body is the stream
        // (stdin cannot be fed).
        let (w, r) = tokio::io::duplex(64 * 1024);
        tokio::spawn(relay.run(w));
        let body = Body::from_stream(tokio_util::io::ReaderStream::new(r));
        return Ok(([(header::CONTENT_TYPE, RAW_STREAM)], body).into_response());
    }
    let on_upgrade = hyper::upgrade::on(req);
    let c2: Arc<Ctr> = c.clone();
    tokio::spawn(async move {
        let Ok(up) = on_upgrade.await else { return };
        let (rd, wr) = tokio::io::split(TokioIo::new(up));
        if want_in {
            let c3 = c2.clone();
            pump_stdin(rd, move || c3.connection());
        }
        relay.run(wr).await;
    });
    let mut resp = upgrade_response();
    resp.extensions_mut().insert(super::versions::Bare);
    Ok(resp)
}

/// An attached client's view of a container's output, until it exits.
pub(super) struct Relay {
    /// The log replayed before live output (`logs=1`), encoded.
    history: Vec<Vec<u8>>,
    live: bool,
    out: tokio::sync::broadcast::Receiver<(u8, Bytes)>,
    exits: tokio::sync::watch::Receiver<crate::engine::container::Exits>,
    seen: u64,
    tty: bool,
    want_out: bool,
    want_err: bool,
    ended: bool,
}

impl Relay {
    /// Subscribe to `c`'s output from now on (stdout and stderr as asked).
    pub(super) fn subscribe(c: &Ctr, want_out: bool, want_err: bool) -> Self {
        let exits = c.exits.subscribe();
        let seen = exits.borrow().count;
        Relay {
            out: c.output.subscribe(),
            exits,
            seen,
            tty: c.record().inspect.config.tty,
            want_out,
            want_err,
            ended: false,
            history: Vec::new(),
            live: true,
        }
    }

    /// The next wanted chunk of output, `None` once the container has
    /// exited (or gone) and what it printed before is passed on.
    pub(super) async fn next(&mut self) -> Option<(u8, Bytes)> {
        let wanted = |r: &Self, s: u8| (s == stream::STDOUT && r.want_out) || (s == stream::STDERR && r.want_err);
        while !self.ended {
            tokio::select! {
                m = self.out.recv() => match m {
                    Ok((s, data)) if wanted(self, s) => return Some((s, data)),
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => self.ended = true,
                },
                _ = exited_after(&mut self.exits, self.seen) => self.ended = true,
            }
        }
        // Exit is published after all output: drain what is queued.
        while let Ok((s, data)) = self.out.try_recv() {
            if wanted(self, s) {
                return Some((s, data));
            }
        }
        None
    }

    async fn run<W: tokio::io::AsyncWrite + Unpin>(mut self, mut wr: W) {
        for chunk in std::mem::take(&mut self.history) {
            if wr.write_all(&chunk).await.is_err() {
                return;
            }
        }
        while self.live {
            let Some((s, data)) = self.next().await else { break };
            if wr.write_all(&encode(self.tty, s, &data)).await.is_err() {
                return;
            }
        }
        let _ = wr.shutdown().await;
    }
}

/// A container's log as an attach with `logs=1` replays it, encoded for
/// the client (nothing when its log driver cannot be read back).
async fn log_history(e: &St, c: &Arc<Ctr>, tty: bool, want_out: bool, want_err: bool) -> Vec<Vec<u8>> {
    let Ok(src) = e.log_source(c) else { return Vec::new() };
    let entries = tokio::task::spawn_blocking(move || read::read_all(&src))
        .await
        .unwrap_or_default();
    entries
        .iter()
        .filter_map(|en| {
            let s = if en.stream == "stderr" {
                stream::STDERR
            } else {
                stream::STDOUT
            };
            let wanted = (s == stream::STDOUT && want_out) || (s == stream::STDERR && want_err);
            wanted.then(|| encode(tty, s, en.log.as_bytes()))
        })
        .collect()
}

/// Resolves once the container has exited `seen` times or is removed.
async fn exited_after(rx: &mut tokio::sync::watch::Receiver<crate::engine::container::Exits>, seen: u64) {
    let _ = rx.wait_for(|x| x.count > seen || x.removed).await.map(|_| ());
}

pub async fn resize(e: St, Path(id): Path<String>, q: Q) -> ApiResult {
    let c = e.get(&id)?;
    let (h, w) = dims(&q)?;
    if let Some(conn) = c.connection() {
        conn.resize(h, w).await?;
    }
    Ok(StatusCode::OK.into_response())
}

/// `h` and `w`, refused in Go's words as Docker does.
fn dims(q: &Q) -> Result<(u16, u16), ApiError> {
    let num = |k: &str| {
        let v = q.get(k).map(String::as_str).unwrap_or_default();
        v.parse::<u16>().map_err(|_| {
            ApiError(
                StatusCode::BAD_REQUEST,
                format!("strconv.Atoi: parsing {v:?}: invalid syntax"),
            )
        })
    };
    Ok((num("h")?, num("w")?))
}

/// Parse Docker's since/until: unix seconds (with fraction) or RFC 3339.
fn parse_time(v: Option<&String>) -> Option<chrono::DateTime<chrono::Utc>> {
    let v = v?.trim();
    if v.is_empty() || v == "0" {
        return None;
    }
    if let Ok(f) = v.parse::<f64>() {
        return chrono::DateTime::from_timestamp(f.trunc() as i64, (f.fract() * 1e9) as u32);
    }
    chrono::DateTime::parse_from_rfc3339(v)
        .ok()
        .map(|d| d.with_timezone(&chrono::Utc))
}

/// `logs --details`: the attributes the log options name (`labels`,
/// `env`: keys whose values come from the container's labels and
/// environment), as Docker writes them before each line: sorted
/// `key=value` pairs, comma-separated, then a space.
fn detail_prefix(c: &skiff_api::ContainerInspect) -> String {
    let opts = &c.host_config.log_config.config;
    let keys = |o: &str| -> Vec<String> {
        opts.get(o)
            .map(|v| v.split(',').filter(|k| !k.is_empty()).map(str::to_string).collect())
            .unwrap_or_default()
    };
    let mut attrs = std::collections::BTreeMap::new();
    for k in keys("labels") {
        if let Some(v) = c.config.labels.get(&k) {
            attrs.insert(k, v.clone());
        }
    }
    for k in keys("env") {
        let found = c.config.env.iter().find_map(|e| e.strip_prefix(&format!("{k}=")));
        if let Some(v) = found {
            attrs.insert(k, v.to_string());
        }
    }
    let pairs: Vec<String> = attrs.iter().map(|(k, v)| format!("{k}={}", query_escape(v))).collect();
    format!("{} ", pairs.join(","))
}

/// Go's `url.QueryEscape`, which Docker applies to attribute values.
fn query_escape(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `GET /containers/{id}/logs`: from the log its driver can be read back
/// from (`skiff_shim::log::read`), following it (by polling for growth
/// and rotation) while the container runs.
pub async fn logs(e: St, Path(id): Path<String>, q: Q) -> ApiResult {
    let c = e.get(&id)?;
    let rec = c.record().clone();
    let src = e
        .log_source(&c)
        .map_err(|err| ApiError(StatusCode::NOT_IMPLEMENTED, err.to_string()))?;
    let tty = rec.inspect.config.tty;
    let (want_out, want_err) = (qbool(&q, "stdout"), qbool(&q, "stderr"));
    let (follow, ts) = (qbool(&q, "follow"), qbool(&q, "timestamps"));
    let since = parse_time(q.get("since"));
    let until = parse_time(q.get("until"));
    let tail: Option<usize> = q.get("tail").and_then(|t| t.parse().ok());
    let details = qbool(&q, "details").then(|| detail_prefix(&rec.inspect));
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let emit = move |en: &jsonfile::Entry| -> Option<Vec<u8>> {
        let s = if en.stream == "stderr" {
            stream::STDERR
        } else {
            stream::STDOUT
        };
        if (s == stream::STDOUT && !want_out) || (s == stream::STDERR && !want_err) {
            return None;
        }
        let t = chrono::DateTime::parse_from_rfc3339(&en.time)
            .ok()
            .map(|d| d.with_timezone(&chrono::Utc));
        if since.is_some_and(|s| t.is_some_and(|t| t < s)) || until.is_some_and(|u| t.is_some_and(|t| t > u)) {
            return None;
        }
        let mut line = Vec::new();
        if ts {
            line.extend_from_slice(en.time.as_bytes());
            line.push(b' ');
        }
        if let Some(d) = &details {
            line.extend_from_slice(d.as_bytes());
        }
        line.extend_from_slice(en.log.as_bytes());
        Some(encode(tty, s, &line))
    };
    let exits = c.exits.subscribe();
    let c2 = c.clone();
    tokio::spawn(async move {
        // The past: all files, then the tail.
        let entries = tokio::task::spawn_blocking({
            let src = src.clone();
            move || read::read_all(&src)
        })
        .await
        .unwrap_or_default();
        let mut chunks: Vec<Vec<u8>> = entries.iter().filter_map(&emit).collect();
        if let Some(n) = tail {
            let skip = chunks.len().saturating_sub(n);
            chunks.drain(..skip);
        }
        for ch in chunks {
            if tx.send(Ok(ch.into())).await.is_err() {
                return;
            }
        }
        if !follow || !(c2.is_running() || c2.state().restarting) {
            return;
        }
        // The future: what is appended, until the container stops.
        let mut follower = Some(read::Follower::new(src));
        let seen = exits.borrow().count;
        loop {
            let done = exits.borrow().count > seen || exits.borrow().removed;
            let Some(mut f) = follower.take() else { return };
            let Ok((f, es)) = tokio::task::spawn_blocking(move || {
                let es = f.poll();
                (f, es)
            })
            .await
            else {
                return;
            };
            follower = Some(f);
            for en in &es {
                if let Some(ch) = emit(en) {
                    if tx.send(Ok(ch.into())).await.is_err() {
                        return;
                    }
                }
            }
            if done || tx.is_closed() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    // Docker 20.10 sends logs with no Content-Type (clients frame by the
    // container's Tty); the types came with API 1.42.
    Ok(Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx)).into_response())
}

pub async fn exec_create(e: St, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let cfg: ExecConfig = serde_json::from_slice(&body)
        .map_err(|err| ApiError(StatusCode::BAD_REQUEST, format!("invalid exec config: {err}")))?;
    let id = e.exec_create(&id, cfg)?;
    Ok((StatusCode::CREATED, Json(IdResponse { id })).into_response())
}

/// `POST /exec/{id}/start`, as Docker 20.10 answers it: detached, a plain
/// 200; otherwise the connection is taken over (101 when the client asked
/// to upgrade, else 200 with the output as the body), the answer's head
/// goes out first and only then the process is launched, so a client
/// that reads the head never finds output mixed into it. The start body's
/// `Tty` decides the framing (the create's decides the terminal).
pub async fn exec_start(e: St, Path(id): Path<String>, req: Request) -> ApiResult {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .map_err(|err| ApiError(StatusCode::BAD_REQUEST, err.to_string()))?;
    let start: ExecStart = if bytes.is_empty() {
        ExecStart::default()
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|err| ApiError(StatusCode::BAD_REQUEST, format!("invalid exec start: {err}")))?
    };
    let prepared = match e.exec_start(&id).await {
        Ok(p) => p,
        // As Docker: once the exec exists, an attached start answers (or
        // upgrades) first and reports a conflict in the stream.
        Err(crate::engine::EngineError::Conflict(msg)) if !start.detach => {
            return Ok(error_in_stream(parts, start.tty.unwrap_or(false), msg));
        }
        Err(err) => return Err(err.into()),
    };
    if start.detach {
        let mut events = prepared.launch().await?;
        tokio::spawn(async move { while events.recv().await.is_some() {} });
        return Ok(StatusCode::OK.into_response());
    }
    let cfg = prepared.inst.config.clone();
    let tty = start.tty.unwrap_or(cfg.tty);
    let wanted = move |s: u8| (s == stream::STDOUT && cfg.attach_stdout) || (s == stream::STDERR && cfg.attach_stderr);
    if !parts.headers.contains_key(header::UPGRADE) {
        // No hijack: the output is the body; stdin cannot be fed.
        let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);
        tokio::spawn(async move {
            let inst = prepared.inst.clone();
            let mut events = match prepared.launch().await {
                Ok(ev) => ev,
                Err(err) => {
                    let _ = tx
                        .send(Ok(encode(tty, stream::STDOUT, format!("{err}\r\n").as_bytes()).into()))
                        .await;
                    return;
                }
            };
            let conn = inst.conn.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some(conn) = conn {
                let _ = conn.send(protocol::STDIN_CLOSE, &[]).await;
            }
            let mut open = true;
            while let Some(ev) = events.recv().await {
                if let Event::Output(s, data) = ev {
                    if open && wanted(s) {
                        open = tx.send(Ok(encode(tty, s, &data).into())).await.is_ok();
                    }
                }
            }
        });
        let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
        return Ok(([(header::CONTENT_TYPE, RAW_STREAM)], body).into_response());
    }
    let on_upgrade = hyper::upgrade::on(Request::from_parts(parts, Body::empty()));
    tokio::spawn(async move {
        let Ok(up) = on_upgrade.await else { return };
        let (rd, mut wr) = tokio::io::split(TokioIo::new(up));
        let inst = prepared.inst.clone();
        let mut events = match prepared.launch().await {
            Ok(ev) => ev,
            Err(err) => {
                let _ = wr
                    .write_all(&encode(tty, stream::STDOUT, format!("{err}\r\n").as_bytes()))
                    .await;
                let _ = wr.shutdown().await;
                return;
            }
        };
        if inst.config.attach_stdin {
            let i2 = inst.clone();
            pump_stdin(rd, move || i2.conn.lock().unwrap_or_else(|e| e.into_inner()).clone());
        }
        let mut open = true;
        while let Some(ev) = events.recv().await {
            if let Event::Output(s, data) = ev {
                if open && wanted(s) {
                    open = wr.write_all(&encode(tty, s, &data)).await.is_ok();
                }
            }
        }
        let _ = wr.shutdown().await;
    });
    Ok(upgrade_response())
}

/// An attached exec start that failed after Docker would have answered:
/// the error as the stream's only output.
fn error_in_stream(parts: axum::http::request::Parts, tty: bool, msg: String) -> Response {
    let frame = encode(tty, stream::STDOUT, format!("{msg}\r\n").as_bytes());
    if !parts.headers.contains_key(header::UPGRADE) {
        return ([(header::CONTENT_TYPE, RAW_STREAM)], frame).into_response();
    }
    let on_upgrade = hyper::upgrade::on(Request::from_parts(parts, Body::empty()));
    tokio::spawn(async move {
        let Ok(up) = on_upgrade.await else { return };
        let mut io = TokioIo::new(up);
        let _ = io.write_all(&frame).await;
        let _ = io.shutdown().await;
    });
    upgrade_response()
}

pub async fn exec_resize(e: St, Path(id): Path<String>, q: Q) -> ApiResult {
    let inst = e.execs.get(&id)?;
    let (h, w) = dims(&q)?;
    let conn = inst.conn.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some(conn) = conn {
        conn.resize(h, w).await?;
    }
    Ok(StatusCode::OK.into_response())
}

pub async fn exec_inspect(e: St, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let inst = e.execs.get(&id)?;
    let code = *inst.exit.borrow();
    let running = *inst.started.lock().unwrap_or_else(|e| e.into_inner()) && code.is_none();
    let cfg = &inst.config;
    let mut process = json!({"tty": cfg.tty, "entrypoint": cfg.cmd.first(), "arguments": cfg.cmd.get(1..).unwrap_or_default(), "privileged": cfg.privileged});
    // Docker leaves an empty user out.
    if !cfg.user.is_empty() {
        process["user"] = json!(cfg.user);
    }
    Ok(Json(json!({
        "ID": inst.id,
        "Running": running,
        "ExitCode": code,
        "ProcessConfig": process,
        "OpenStdin": cfg.attach_stdin,
        "OpenStderr": cfg.attach_stderr,
        "OpenStdout": cfg.attach_stdout,
        "CanRemove": false,
        "ContainerID": inst.container,
        "DetachKeys": "",
        "Pid": *inst.pid.lock().unwrap_or_else(|e| e.into_inner()),
    })))
}
