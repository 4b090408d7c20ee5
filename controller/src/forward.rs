//! Any controller answers: a follower sends each request it gets (REST,
//! the agents' gRPC sessions, upgraded attach/exec streams) on to the
//! leader over mutual TLS with its own controller certificate, and names
//! the caller's verified identity in a header that the leader believes
//! only from a controller. Only raft's own calls and `/_ping` are served
//! where they arrive.

use std::sync::Arc;

use axum::body::Body;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use skiff_certs::cluster::{Identity, Role};

use crate::server::{Ctx, Peer};

/// The caller a forwarded request is made for: `role/id/cluster`, or
/// `anonymous` (a joiner without a certificate yet).
pub const FORWARDED_FOR: &str = "x-skiff-forwarded-for";

/// Requests every controller serves itself.
pub fn is_local(path: &str) -> bool {
    path.starts_with("/skiff.cluster.v1.Raft/")
        || path == "/_ping"
        || (path.starts_with("/v1.") && path.ends_with("/_ping"))
}

/// On the receiving side: the identity to act for. A controller's own
/// connection may name its caller; anyone else's header is ignored.
pub fn caller(req: &mut Request<Incoming>, conn: &Peer) -> Peer {
    let Some(v) = req.headers_mut().remove(FORWARDED_FOR) else {
        return conn.clone();
    };
    if conn.0.as_ref().map(|w| w.role) != Some(Role::Controller) {
        return conn.clone();
    }
    let v = v.to_str().unwrap_or("");
    let mut parts = v.splitn(3, '/');
    match (parts.next().and_then(Role::parse), parts.next(), parts.next()) {
        (Some(role), Some(id), Some(cluster)) => Peer(Some(Identity {
            id: id.to_string(),
            role,
            cluster: cluster.to_string(),
        })),
        _ => Peer(None),
    }
}

fn unavailable(msg: &str) -> Response<Body> {
    let body = serde_json::json!({ "message": msg }).to_string();
    Response::builder()
        .status(StatusCode::SERVICE_UNAVAILABLE)
        .header("Content-Type", "application/json")
        .body(Body::from(body))
        .unwrap_or_default()
}

/// Send `req` to the leader and its answer back.
pub async fn to_leader(ctx: Arc<Ctx>, mut req: Request<Incoming>, conn: &Peer) -> Response<Body> {
    if req.headers().contains_key(FORWARDED_FOR) {
        // Forwarded to us, but we are not the leader (any more).
        return unavailable("the controller leadership changed while this request was forwarded: retry");
    }
    let Some(leader) = ctx.store.leader_record().filter(|l| l.raft_id != ctx.store.raft_id()) else {
        return unavailable(
            "no controller is the leader now (an election is under way, or a majority of controllers is down): retry",
        );
    };
    let who = match &conn.0 {
        Some(w) => format!("{}/{}/{}", w.role, w.id, w.cluster),
        None => "anonymous".into(),
    };
    let Ok(value) = who.parse() else {
        return unavailable("unforwardable caller identity");
    };
    req.headers_mut().insert(FORWARDED_FOR, value);
    match send(&ctx, &leader.addr, req).await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(leader = %leader.addr, "forwarding to the leader: {e:#}");
            unavailable(&format!("the leader controller at {} did not answer: {e}", leader.addr))
        }
    }
}

async fn send(ctx: &Ctx, addr: &str, mut req: Request<Incoming>) -> anyhow::Result<Response<Body>> {
    let h2 = req.version() == hyper::Version::HTTP_2;
    let mut cfg =
        (*skiff_certs::tls::client_config(&ctx.pki.tls.ca, Some((&ctx.pki.tls.cert, &ctx.pki.tls.key)))?).clone();
    cfg.alpn_protocols = vec![if h2 { b"h2".to_vec() } else { b"http/1.1".to_vec() }];
    let name = skiff_certs::tls::server_name(addr)?;
    let tcp = tokio::time::timeout(std::time::Duration::from_secs(1), tokio::net::TcpStream::connect(addr)).await??;
    tcp.set_nodelay(true)?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await?;
    let io = TokioIo::new(tls);
    let client_upgrade = hyper::upgrade::on(&mut req);
    let mut resp = if h2 {
        let (mut send, conn) = hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io).await?;
        tokio::spawn(conn);
        let pq = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .to_string();
        *req.uri_mut() = format!("https://{addr}{pq}").parse()?;
        send.send_request(req).await?
    } else {
        let (mut send, conn) = hyper::client::conn::http1::handshake(io).await?;
        tokio::spawn(async move {
            let _ = conn.with_upgrades().await;
        });
        send.send_request(req).await?
    };
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        let leader_upgrade = hyper::upgrade::on(&mut resp);
        tokio::spawn(async move {
            if let (Ok(a), Ok(b)) = (client_upgrade.await, leader_upgrade.await) {
                let (mut a, mut b) = (TokioIo::new(a), TokioIo::new(b));
                let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
            }
        });
    }
    Ok(resp.map(Body::new))
}
