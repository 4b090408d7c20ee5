//! `skiff --node NAME …`: a Docker API call with the `X-Skiff-Node`
//! header goes down that node's session and its answer streams back
//! (so `logs -f` follows). Calls that upgrade the connection (interactive
//! attach and exec) are not carried yet.

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

async fn call(ctx: &Ctx, key: &str, req: Request) -> Result<Response, ApiError> {
    let id = ctx
        .store
        .read()
        .find_node(key)
        .map(|n| n.id.clone())
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("node {key} not found")))?;
    if req.headers().contains_key(header::UPGRADE) {
        return Err(ApiError(
            StatusCode::NOT_IMPLEMENTED,
            "interactive attach and exec through the controller are not supported yet: \
             use the agent's own API (-H tcp://NODE:2376), or exec -d"
                .into(),
        ));
    }
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
    };
    let mut rx = ctx
        .fleet
        .call(&id, ar)
        .await
        .map_err(|e| ApiError(StatusCode::BAD_GATEWAY, e.to_string()))?;
    let lost = || ApiError(StatusCode::BAD_GATEWAY, format!("node {key} went away during the call"));
    let first = rx.recv().await.ok_or_else(lost)?;
    let status = StatusCode::from_u16(first.status as u16).map_err(|_| lost())?;
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
