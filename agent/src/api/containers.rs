//! Container endpoints that are plain request/response.

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use skiff_api::{ContainerSummary, CreateRequest, CreateResponse, UpdateConfig, UpdateResponse, WaitResponse};

use super::{qbool, ApiError, ApiResult, St, Q};
use crate::engine::container::status_text;
use crate::engine::Ctr;

/// Docker's `filters` query: `{"k":["v"]}` or `{"k":{"v":true}}`.
pub fn parse_filters(q: &HashMap<String, String>) -> Result<HashMap<String, Vec<String>>, ApiError> {
    let Some(raw) = q.get("filters").filter(|s| !s.is_empty()) else {
        return Ok(HashMap::new());
    };
    let v: Value =
        serde_json::from_str(raw).map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("invalid filters: {e}")))?;
    let mut out = HashMap::new();
    if let Value::Object(m) = v {
        for (k, v) in m {
            let vals = match v {
                Value::Array(a) => a.into_iter().filter_map(|x| x.as_str().map(String::from)).collect(),
                Value::Object(o) => o
                    .into_iter()
                    .filter(|(_, b)| b.as_bool() == Some(true))
                    .map(|(k, _)| k)
                    .collect(),
                _ => Vec::new(),
            };
            out.insert(k, vals);
        }
    }
    Ok(out)
}

pub fn summary(c: &Ctr) -> ContainerSummary {
    let r = c.record();
    let ins = &r.inspect;
    let mut cmd = vec![ins.path.clone()];
    cmd.extend(ins.args.iter().cloned());
    ContainerSummary {
        id: ins.id.clone(),
        names: vec![ins.name.clone()],
        image: ins.config.image.clone(),
        image_id: ins.image.clone(),
        command: cmd.join(" "),
        created: chrono::DateTime::parse_from_rfc3339(&ins.created)
            .map(|d| d.timestamp())
            .unwrap_or(0),
        ports: port_list(&ins.network_settings.ports),
        labels: ins.config.labels.clone().into(),
        state: ins.state.status.clone(),
        status: status_text(&ins.state),
        // Docker gives only NetworkMode; the reservations and host ports
        // are skiff's own, for the controller's scheduler.
        host_config: json!({
            "NetworkMode": ins.host_config.network_mode,
            "NanoCpus": ins.host_config.resources.nano_cpus,
            "Memory": ins.host_config.resources.memory,
            "PortBindings": ins.host_config.port_bindings,
        }),
        network_settings: json!({"Networks": ins.network_settings.networks}),
        mounts: crate::engine::mounts::listed(&r.mounts),
        ..Default::default()
    }
}

/// A summary with the sizes of the container's changes and of its whole
/// filesystem (a walk of its writable layer: slow for big ones).
pub fn with_size(e: &crate::engine::Engine, mut s: ContainerSummary) -> ContainerSummary {
    let driver = &e.images.layers.driver;
    let image = e
        .images
        .load(&s.image_id)
        .map(|i| e.images.size(&i) as i64)
        .unwrap_or(0);
    let mut rw = driver.usage(&s.id) as i64;
    // A vfs layer or btrfs snapshot is the whole image plus the changes.
    if driver.kind() != crate::images::driver::DriverKind::Overlay2 {
        rw = (rw - image).max(0);
    }
    s.size_rw = Some(rw);
    s.size_root_fs = Some(rw + image);
    s
}

/// Docker's `Ports` of a summary: published ports with their host side,
/// exposed ones without.
pub(super) fn port_list(ports: &std::collections::BTreeMap<String, Option<Vec<skiff_api::PortBinding>>>) -> Vec<Value> {
    let mut out = Vec::new();
    for (key, binds) in ports {
        let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
        let private: u16 = port.parse().unwrap_or(0);
        match binds {
            Some(bs) if !bs.is_empty() => {
                for b in bs {
                    out.push(json!({
                        "IP": b.host_ip,
                        "PrivatePort": private,
                        "PublicPort": b.host_port.parse::<u16>().unwrap_or(0),
                        "Type": proto,
                    }));
                }
            }
            _ => out.push(json!({"PrivatePort": private, "Type": proto})),
        }
    }
    out
}

pub async fn list(e: St, q: Q) -> ApiResult<Json<Vec<ContainerSummary>>> {
    let filters = super::container_filters::ListFilter::parse(&e.0, parse_filters(&q)?)?;
    let all = qbool(&q, "all");
    let limit: i64 = q.get("limit").and_then(|v| v.parse().ok()).unwrap_or(-1);
    let mut cs = e.all();
    cs.sort_by_key(|c| std::cmp::Reverse(c.record().inspect.created.clone()));
    let mut out = Vec::new();
    for c in cs.iter() {
        if limit > 0 && out.len() as i64 >= limit {
            break;
        }
        // `-n`/`-l` imply all, as in Docker.
        if !all && limit <= 0 && !c.is_running() && !filters.has("status") {
            continue;
        }
        if filters.matches(c) {
            out.push(summary(c));
        }
    }
    if qbool(&q, "size") {
        let e = e.0.clone();
        out = tokio::task::spawn_blocking(move || out.into_iter().map(|s| with_size(&e, s)).collect())
            .await
            .map_err(|err| ApiError(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))?;
    }
    Ok(Json(out))
}

pub async fn create(e: St, q: Q, body: Bytes) -> ApiResult<Response> {
    let req: CreateRequest = serde_json::from_slice(&body)
        .map_err(|err| ApiError(StatusCode::BAD_REQUEST, format!("invalid container config: {err}")))?;
    // Making layers and the record is blocking file work.
    let name = q.get("name").cloned();
    let engine = e.0.clone();
    let (id, warnings) = tokio::task::spawn_blocking(move || engine.create(name.as_deref(), req))
        .await
        .map_err(|err| ApiError(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))??;
    Ok((StatusCode::CREATED, Json(CreateResponse { id, warnings })).into_response())
}

pub async fn inspect(e: St, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let c = e.get(&id)?;
    let mut ins = c.inspect();
    let execs = e.execs.for_container(&c.id);
    ins.exec_ids = (!execs.is_empty()).then_some(execs);
    let mut v = serde_json::to_value(&ins).map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    v["Mounts"] = json!(crate::engine::mounts::listed(&c.record().mounts));
    Ok(Json(v))
}

/// `POST /containers/{id}/update`: new limits or restart policy.
pub async fn update(e: St, Path(id): Path<String>, body: Bytes) -> ApiResult<Json<UpdateResponse>> {
    let upd: UpdateConfig = serde_json::from_slice(&body)
        .map_err(|err| ApiError(StatusCode::BAD_REQUEST, format!("invalid update config: {err}")))?;
    let warnings = e.update(&id, upd).await?;
    Ok(Json(UpdateResponse {
        warnings: skiff_api::Nil::null_if_empty(warnings),
    }))
}

pub async fn start(e: St, Path(id): Path<String>) -> ApiResult {
    e.start(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn stop(e: St, Path(id): Path<String>, q: Q) -> ApiResult {
    e.stop(&id, q.get("t").and_then(|t| t.parse().ok())).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn restart(e: St, Path(id): Path<String>, q: Q) -> ApiResult {
    e.restart(&id, q.get("t").and_then(|t| t.parse().ok())).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn kill(e: St, Path(id): Path<String>, q: Q) -> ApiResult {
    e.kill(&id, q.get("signal").map(String::as_str).filter(|s| !s.is_empty()))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /containers/{id}/wait`. Headers go out at once (the Docker CLI
/// starts the container only after seeing them); the body when it exits.
pub async fn wait(e: St, Path(id): Path<String>, q: Q) -> ApiResult {
    let cond = q
        .get("condition")
        .map(String::as_str)
        .unwrap_or("not-running")
        .to_string();
    if !matches!(cond.as_str(), "not-running" | "next-exit" | "removed") {
        return Err(ApiError(StatusCode::BAD_REQUEST, format!("invalid condition: {cond}")));
    }
    let c = e.get(&id)?;
    let engine = e.0.clone();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
    tokio::spawn(async move {
        let body = match engine.wait(&c.id, &cond).await {
            Ok(code) => json!(WaitResponse {
                status_code: code,
                error: None
            }),
            Err(err) => json!({"StatusCode": -1, "Error": {"Message": err.to_string()}}),
        };
        let _ = tx.send(Ok(Bytes::from(format!("{body}\n")))).await;
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    Ok(([("Content-Type", "application/json")], body).into_response())
}

pub async fn pause(e: St, Path(id): Path<String>) -> ApiResult {
    e.pause(&id, true)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn unpause(e: St, Path(id): Path<String>) -> ApiResult {
    e.pause(&id, false)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn rename(e: St, Path(id): Path<String>, q: Q) -> ApiResult {
    let name = q.get("name").cloned().unwrap_or_default();
    e.rename(&id, &name)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn remove(e: St, Path(id): Path<String>, q: Q) -> ApiResult {
    e.remove(&id, qbool(&q, "force"), qbool(&q, "v")).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /containers/prune?filters=`: stopped containers that pass
/// `until`, `label` and `label!`.
pub async fn prune(e: St, q: Q) -> ApiResult<Json<Value>> {
    let f = super::prune::PruneFilter::parse(&q, &[])?;
    let gone = e
        .prune(|c| {
            let ins = &c.record().inspect;
            f.allows(&ins.created, &ins.config.labels)
        })
        .await;
    Ok(Json(
        json!({"ContainersDeleted": skiff_api::Nil::null_if_empty(gone), "SpaceReclaimed": 0}),
    ))
}

/// `top`: run `ps` on the host and keep the container's processes, as Docker does.
pub async fn top(e: St, Path(id): Path<String>, q: Q) -> ApiResult<Json<Value>> {
    let c = e.get(&id)?;
    if !c.is_running() {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!("Container {} is not running", c.id),
        ));
    }
    let pids = e.pids(&c);
    let args = q.get("ps_args").cloned().unwrap_or_else(|| "-ef".into());
    let out = tokio::process::Command::new("ps")
        .args(args.split_whitespace())
        .output()
        .await
        .map_err(|err| ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("running ps: {err}")))?;
    if !out.status.success() {
        return Err(ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("ps: {}", String::from_utf8_lossy(&out.stderr).trim()),
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    let pid_col = header.iter().position(|h| h == "PID").ok_or_else(|| {
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Couldn't find PID field in ps output".into(),
        )
    })?;
    let n = header.len();
    let procs: Vec<Vec<String>> = lines
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let pid: i32 = f.get(pid_col)?.parse().ok()?;
            if !pids.contains(&pid) {
                return None;
            }
            let mut row: Vec<String> = f.iter().take(n - 1).map(|s| s.to_string()).collect();
            row.push(f.iter().skip(n - 1).cloned().collect::<Vec<_>>().join(" "));
            Some(row)
        })
        .collect();
    Ok(Json(json!({"Titles": header, "Processes": procs})))
}

/// `export`: the container's filesystem as a tar stream.
pub async fn export(e: St, Path(id): Path<String>) -> ApiResult {
    let c = e.get(&id)?;
    let engine = e.0.clone();
    let (w, rx) = crate::images::chunks::ChunkWriter::channel(16);
    let tx = w.sender();
    let cid = c.id.clone();
    tokio::task::spawn_blocking(move || match engine.export(&cid, w) {
        Ok(mut w) => {
            let _ = std::io::Write::flush(&mut w);
        }
        Err(err) => {
            let _ = tx.blocking_send(Err(std::io::Error::other(err.to_string())));
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    Ok(([("Content-Type", "application/octet-stream")], body).into_response())
}

/// `GET /containers/{id}/stats?stream=&one-shot=`: a sample a second
/// while the client listens (ending when the container is removed), or
/// one. A single sample carries the CPU reading of 200 ms before it, so
/// CPU % needs no second call (`one-shot` skips that wait, as in Docker).
pub async fn stats(e: St, Path(id): Path<String>, q: Q) -> ApiResult<Response> {
    use std::time::Duration;
    use tokio_stream::StreamExt;
    let c = e.get(&id)?;
    let engine = e.0.clone();
    let stream = q.get("stream").is_none_or(|_| qbool(&q, "stream"));
    let first = Duration::from_millis(200);
    if !stream {
        let mut s = engine.sample(&c);
        if !qbool(&q, "one-shot") && c.is_running() {
            tokio::time::sleep(first).await;
            let pre = std::mem::replace(&mut s, engine.sample(&c));
            s.precpu_stats = pre.cpu_stats;
            s.preread = pre.read;
        }
        return Ok(Json(s).into_response());
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
    tokio::spawn(async move {
        let mut pre = engine.sample(&c);
        let mut wait = first;
        loop {
            tokio::time::sleep(wait).await;
            wait = Duration::from_secs(1);
            if c.exits.borrow().removed {
                break;
            }
            let mut s = engine.sample(&c);
            s.precpu_stats = pre.cpu_stats.clone();
            s.preread = pre.read.clone();
            let mut line = serde_json::to_vec(&s).unwrap_or_default();
            line.push(b'\n');
            if tx.send(Bytes::from(line)).await.is_err() {
                break;
            }
            pre = s;
        }
    });
    let body =
        Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok::<_, std::convert::Infallible>));
    Ok(([("Content-Type", "application/json")], body).into_response())
}
