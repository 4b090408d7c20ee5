//! One TLS port for everything: agents' gRPC sessions (HTTP/2) and the
//! REST API of the CLI and joiners (HTTP/1.1), told apart by hyper. Each
//! request carries the verified identity of its connection (`Peer`).

use std::sync::Arc;

use anyhow::{Context, Result};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use skiff_certs::cluster::Identity;
use tower_service::Service;

use crate::fleet::{Fleet, Health};
use crate::forward;
use crate::pki::Pki;
use crate::state::Store;

/// What every handler shares.
pub struct Ctx {
    pub store: Arc<Store>,
    pub pki: Pki,
    pub fleet: Arc<Fleet>,
    /// Every node's events, tagged with the node (bounded, on disk).
    pub events: skiff_common::events::Journal,
    /// Services with replicas no node can take now, and why (kept by the
    /// orchestrator each pass; `service ps` shows them as pending).
    pub unplaced: std::sync::Mutex<std::collections::HashMap<String, String>>,
    /// Placement, on views of the fleet kept between placements.
    pub placer: crate::scheduler::Placer,
}

impl Ctx {
    /// The nodes that answer now: (ID, hostname).
    pub fn ready_nodes(&self) -> Vec<(String, String)> {
        let st = self.store.read();
        st.nodes
            .values()
            .filter(|n| self.fleet.health(&n.id).0 == Health::Ready)
            .map(|n| (n.id.clone(), n.description.hostname.clone()))
            .collect()
    }
}

/// The certificate identity of the connection a request came on (`None`
/// for a client without a certificate: only joining is open to it).
#[derive(Clone, Debug)]
pub struct Peer(pub Option<Identity>);

/// RFC 3339 with nanoseconds, as Docker prints times.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Accept TLS connections on `listen` and serve `app` on them.
pub async fn serve(listen: &str, ctx: Arc<Ctx>, app: Router) -> Result<()> {
    let admit_ctx = ctx.clone();
    let admit: skiff_certs::tls::Admission = Arc::new(move |who: &Identity| {
        let st = admit_ctx.store.read();
        if st.id.is_empty() {
            // A joining controller, before the leader's snapshot arrives:
            // only a controller (the leader bringing it) may come in.
            return who.role == skiff_certs::cluster::Role::Controller;
        }
        st.admits(&who.id, &who.cluster)
    });
    let tls = skiff_certs::tls::cluster_server_config(&ctx.pki.tls, admit).context("loading the controller's TLS")?;
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let l = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    tracing::info!("controller listening on {listen} (mutual TLS)");
    loop {
        let (tcp, addr) = match l.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, app, ctx) = (acceptor.clone(), app.clone(), ctx.clone());
        tokio::spawn(async move {
            let accept = tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(tcp));
            let tls = match accept.await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::info!(%addr, "TLS handshake refused: {e}");
                    return;
                }
                Err(_) => return,
            };
            let who = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|c| Identity::from_der(c));
            let conn = Peer(who);
            let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                let mut app = app.clone();
                let ctx = ctx.clone();
                let conn = conn.clone();
                async move {
                    if !forward::is_local(req.uri().path()) && !ctx.store.is_leader() {
                        return Ok(forward::to_leader(ctx, req, &conn).await);
                    }
                    let peer = forward::caller(&mut req, &conn);
                    req.extensions_mut().insert(peer);
                    if let Some(u) = skiff_api::strip_version(req.uri()) {
                        *req.uri_mut() = u;
                    }
                    app.call(req).await
                }
            });
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder
                .http2()
                .timer(hyper_util::rt::TokioTimer::new())
                .keep_alive_interval(Some(std::time::Duration::from_secs(20)));
            let _ = builder.serve_connection_with_upgrades(TokioIo::new(tls), svc).await;
        });
    }
}
