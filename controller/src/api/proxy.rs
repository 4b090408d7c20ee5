//! `skiff --node NAME …`: a Docker API call with the `X-Skiff-Node`
//! header goes down that node's session and its answer streams back
//! (so `logs -f` follows). Calls that upgrade the connection (attach,
//! exec) become a byte pipe both ways over the same session.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use skiff_common::cluster::proto::ApiRequest;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;

use super::ApiError;
use crate::server::Ctx;

/// Request bodies carried to an agent are read whole first (image loads
/// included), up to this size.
const MAX_BODY: usize = 4 << 30;

pub async fn forward(ctx: &Ctx, node: &str, req: Request) -> Response {
    match call(ctx, node, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// Calls that, without `--node`, go to every ready node: images reach the
/// fleet this way when there is no registry (`import`, `load`), and are
/// tagged fleet-wide.
pub fn is_fan_out(req: &Request) -> bool {
    let p = req.uri().path();
    let tag = p.starts_with("/images/") && p.ends_with("/tag");
    req.method() == axum::http::Method::POST && (p == "/images/load" || p == "/images/create" || tag)
}

/// Send the call to every ready node at once; answer with the first
/// node's response if all succeed, else name the nodes that failed.
pub async fn fan_out(ctx: &Ctx, req: Request) -> Response {
    let nodes = ctx.ready_nodes();
    if nodes.is_empty() {
        return ApiError(StatusCode::SERVICE_UNAVAILABLE, "no node is ready".into()).into_response();
    }
    let (mut parts, body) = req.into_parts();
    // One creation time for every node, so an import has one image ID.
    if parts.uri.path() == "/images/create" && !parts.uri.query().unwrap_or("").contains("created=") {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let pq = format!(
            "{}&created={}",
            parts.uri.path_and_query().map_or("", |p| p.as_str()),
            skiff_client::enc(&now)
        );
        if let Ok(u) = pq.replacen("create&", "create?", 1).parse() {
            parts.uri = u;
        }
    }
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return ApiError(StatusCode::BAD_REQUEST, format!("reading the request: {e}")).into_response(),
    };
    let calls = nodes.iter().map(|(id, _)| {
        let mut r = Request::from_parts(parts.clone(), Body::from(body.clone()));
        r.headers_mut().remove(header::UPGRADE);
        async move {
            let resp = call(ctx, id, r).await.map_err(|e| e.1)?;
            let status = resp.status();
            let data = axum::body::to_bytes(resp.into_body(), MAX_BODY)
                .await
                .map_err(|e| e.to_string())?;
            if !status.is_success() {
                let msg = serde_json::from_slice::<skiff_api::ErrorResponse>(&data)
                    .map(|e| e.message)
                    .unwrap_or_else(|_| String::from_utf8_lossy(&data).into_owned());
                return Err(msg);
            }
            Ok((status, data))
        }
    });
    let results = futures_util::future::join_all(calls).await;
    let failed: Vec<String> = results
        .iter()
        .zip(&nodes)
        .filter_map(|(r, (_, host))| r.as_ref().err().map(|e| format!("{host}: {e}")))
        .collect();
    if !failed.is_empty() {
        return ApiError(StatusCode::BAD_GATEWAY, failed.join("; ")).into_response();
    }
    match results.into_iter().next() {
        Some(Ok((status, data))) => (status, data).into_response(),
        _ => ApiError(StatusCode::BAD_GATEWAY, "no answer".into()).into_response(),
    }
}

/// The same read (a GET of `path_and_query`) from every ready node at
/// once: each answering node's hostname and JSON; nodes that fail are
/// left out.
pub async fn gather(ctx: &Ctx, path_and_query: &str) -> Vec<(String, serde_json::Value)> {
    const MAX_JSON: usize = 64 << 20;
    let nodes = ctx.ready_nodes();
    let calls = nodes.iter().map(|(id, host)| async move {
        let req = Request::get(path_and_query).body(Body::empty()).ok()?;
        let resp = call(ctx, id, req).await.ok()?;
        if !resp.status().is_success() {
            tracing::warn!(node = %host, path = path_and_query, status = %resp.status(), "node's answer left out");
            return None;
        }
        let data = axum::body::to_bytes(resp.into_body(), MAX_JSON).await.ok()?;
        Some((host.clone(), serde_json::from_slice(&data).ok()?))
    });
    futures_util::future::join_all(calls)
        .await
        .into_iter()
        .flatten()
        .collect()
}

pub(super) async fn call(ctx: &Ctx, key: &str, req: Request) -> Result<Response, ApiError> {
    let id = ctx
        .store
        .read()
        .find_node(key)
        .map(|n| n.id.clone())
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("node {key} not found")))?;
    let mut req = req;
    let upgrade = req.headers().contains_key(header::UPGRADE);
    let on_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("reading the request: {e}")))?;
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let ar = ApiRequest {
        id: 0,
        method: parts.method.to_string(),
        path,
        content_type,
        body: body.to_vec(),
        upgrade,
    };
    let (call, mut rx) = ctx
        .fleet
        .call(&id, ar)
        .await
        .map_err(|e| ApiError(StatusCode::BAD_GATEWAY, e.to_string()))?;
    let lost = || ApiError(StatusCode::BAD_GATEWAY, format!("node {key} went away during the call"));
    let first = rx.recv().await.ok_or_else(lost)?;
    let status = StatusCode::from_u16(first.status as u16).map_err(|_| lost())?;
    if let (StatusCode::SWITCHING_PROTOCOLS, Some(on_upgrade)) = (status, on_upgrade) {
        tokio::spawn(pipe(ctx.fleet.clone(), id, call, on_upgrade, rx));
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = status;
        let h = resp.headers_mut();
        h.insert(header::CONNECTION, header::HeaderValue::from_static("Upgrade"));
        h.insert(header::UPGRADE, header::HeaderValue::from_static("tcp"));
        if let Ok(v) = first.content_type.parse() {
            h.insert(header::CONTENT_TYPE, v);
        }
        return Ok(resp);
    }
    let mut resp = if first.end {
        Response::new(Body::from(first.body))
    } else {
        let rest = ReceiverStream::new(rx).map(|p| Ok::<_, std::io::Error>(bytes::Bytes::from(p.body)));
        let all = tokio_stream::once(Ok(bytes::Bytes::from(first.body))).chain(rest);
        Response::new(Body::from_stream(all))
    };
    *resp.status_mut() = status;
    if let Ok(v) = first.content_type.parse() {
        if !first.content_type.is_empty() {
            resp.headers_mut().insert(header::CONTENT_TYPE, v);
        }
    }
    Ok(resp)
}

/// Carry an upgraded call: the client's bytes go to the node as input, the
/// node's output comes back as response parts until either side ends.
async fn pipe(
    fleet: std::sync::Arc<crate::fleet::Fleet>,
    node: String,
    call: u64,
    on_upgrade: hyper::upgrade::OnUpgrade,
    mut rx: tokio::sync::mpsc::Receiver<skiff_common::cluster::proto::ApiResponse>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(up) = on_upgrade.await else {
        let _ = fleet.input(&node, call, Vec::new(), true).await;
        return;
    };
    let (mut rd, mut wr) = tokio::io::split(hyper_util::rt::TokioIo::new(up));
    let up_fleet = fleet.clone();
    let up_node = node.clone();
    let upstream = tokio::spawn(async move {
        let mut buf = vec![0u8; 32 << 10];
        loop {
            let n = rd.read(&mut buf).await.unwrap_or(0);
            if up_fleet.input(&up_node, call, buf[..n].to_vec(), n == 0).await.is_err() || n == 0 {
                return;
            }
        }
    });
    while let Some(part) = rx.recv().await {
        if wr.write_all(&part.body).await.is_err() || part.end {
            break;
        }
        let _ = wr.flush().await;
    }
    let _ = wr.shutdown().await;
    upstream.abort();
}
