//! The Docker Engine API (v1.41) over HTTP on unix sockets: routing,
//! errors, and the accept loop. Handlers live in `system`, `containers`,
//! `images`, `networks`, `volumes` and `streams` (attach, logs, exec: the
//! hijacked streams).

mod archive;
mod attach_ws;
mod build;
mod commit;
mod container_filters;
mod containers;
mod distribution;
mod image_archive;
mod image_filters;
mod images;
mod listen;
mod metrics;
mod networks;
mod prune;
#[cfg(test)]
mod routes;
mod streams;
mod swarm;
mod system;
mod upload;
mod versions;
mod volumes;

use std::sync::Arc;

use anyhow::Result;
use axum::http::{StatusCode, Uri};
use axum::routing::{delete, get, post};
use axum::Router;

pub use skiff_common::http::{qbool, ApiError, ApiResult, Q};

use crate::config::{Config, Listen};
use crate::engine::{Engine, EngineError};

pub type St = axum::extract::State<Arc<Engine>>;

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let code = match &e {
            EngineError::NotFound(_) => StatusCode::NOT_FOUND,
            EngineError::Conflict(_) => StatusCode::CONFLICT,
            EngineError::BadRequest(_) => StatusCode::BAD_REQUEST,
            EngineError::NotModified => StatusCode::NOT_MODIFIED,
            EngineError::Forbidden(_) => StatusCode::FORBIDDEN,
            EngineError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(code, e.to_string())
    }
}

impl From<crate::images::store::ImageError> for ApiError {
    fn from(e: crate::images::store::ImageError) -> Self {
        EngineError::from(e).into()
    }
}

pub fn router(engine: Arc<Engine>) -> Router {
    swarm::routes(Router::new())
        .route("/_ping", get(system::ping).head(system::ping))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/events", get(system::events))
        .route("/system/df", get(system::df))
        .route("/metrics", get(metrics::metrics))
        .route("/containers/json", get(containers::list))
        .route("/containers/create", post(containers::create))
        .route("/containers/prune", post(containers::prune))
        .route("/containers/{id}/json", get(containers::inspect))
        .route("/containers/{id}/start", post(containers::start))
        .route("/containers/{id}/stop", post(containers::stop))
        .route("/containers/{id}/restart", post(containers::restart))
        .route("/containers/{id}/kill", post(containers::kill))
        .route("/containers/{id}/wait", post(containers::wait))
        .route("/containers/{id}/pause", post(containers::pause))
        .route("/containers/{id}/unpause", post(containers::unpause))
        .route("/containers/{id}/rename", post(containers::rename))
        .route("/containers/{id}/update", post(containers::update))
        .route(
            "/containers/{id}/archive",
            get(archive::get).head(archive::head).put(archive::put),
        )
        .route("/containers/{id}/top", get(containers::top))
        .route("/containers/{id}/stats", get(containers::stats))
        .route("/containers/{id}/resize", post(streams::resize))
        .route("/containers/{id}/attach", post(streams::attach))
        .route(
            "/containers/{id}/attach/ws",
            get(attach_ws::attach_ws).fallback(page_not_found),
        )
        .route("/containers/{id}/logs", get(streams::logs))
        .route("/containers/{id}/export", get(containers::export))
        .route("/containers/{id}/changes", get(commit::changes))
        .route("/commit", post(commit::commit))
        .route("/build", post(build::build))
        .route("/build/prune", post(build::prune))
        .route("/build/context/{key}", get(build::context_kept))
        .route("/containers/{id}/exec", post(streams::exec_create))
        .route("/containers/{id}", delete(containers::remove))
        .route("/exec/{id}/start", post(streams::exec_start))
        .route("/exec/{id}/resize", post(streams::exec_resize))
        .route("/exec/{id}/json", get(streams::exec_inspect))
        .route("/networks", get(networks::list))
        .route("/networks/create", post(networks::create))
        .route("/networks/prune", post(networks::prune))
        .route("/networks/{id}", get(networks::inspect).delete(networks::remove))
        .route("/networks/{id}/connect", post(networks::connect))
        .route("/networks/{id}/disconnect", post(networks::disconnect))
        .route("/volumes", get(volumes::list))
        .route("/volumes/create", post(volumes::create))
        .route("/volumes/prune", post(volumes::prune))
        .route("/volumes/{name}", get(volumes::inspect).delete(volumes::remove))
        .route("/auth", post(distribution::login))
        .route("/distribution/{*rest}", get(distribution::inspect))
        .route("/images/json", get(images::list))
        .route("/images/prune", post(images::prune))
        .route("/images/create", post(images::create))
        .route("/images/get", get(image_archive::save_many))
        .route("/images/load", post(image_archive::load))
        .route("/images/search", get(distribution::search))
        .route(
            "/images/{*rest}",
            get(images::get_dispatch)
                .post(images::post_dispatch)
                .delete(images::remove),
        )
        .fallback(|uri: Uri| async move {
            tracing::debug!(path = %uri.path(), "no such endpoint");
            page_not_found().await
        })
        .with_state(engine)
}

/// Docker's answer for a path (or a method on it) it does not serve.
/// It goes out without the daemon's headers, as Docker's does.
pub(crate) async fn page_not_found() -> axum::response::Response {
    let mut r = axum::response::IntoResponse::into_response(ApiError(StatusCode::NOT_FOUND, "page not found".into()));
    r.extensions_mut().insert(versions::Bare);
    r
}

/// Open the engine, re-adopt containers, and serve until SIGTERM/SIGINT.
/// Containers keep running when the agent stops (live restore). SIGHUP
/// reloads the TLS certificates.
pub async fn serve(cfg: Config) -> Result<()> {
    let engine = Engine::open(cfg.clone())?;
    engine.networks.init(cfg.bip.as_deref()).await?;
    engine.recover().await;
    let app = router(engine.clone());
    // Joining comes first: an agent that cannot join does not start.
    let revoked = crate::cluster::Revoked::load(&crate::cluster::dir(&cfg));
    crate::cluster::start(&cfg, app.clone(), engine.events.clone(), revoked.clone()).await?;
    if let Some(addr) = &cfg.metrics_addr {
        metrics::serve(addr, engine.clone()).await?;
    }
    let tls = cfg
        .tls
        .clone()
        .map(|files| listen::TlsState::load(files, revoked))
        .transpose()?;
    for l in &cfg.listen {
        match l {
            Listen::Unix(path) => listen::unix(path, app.clone(), cfg.debug)?,
            Listen::Tcp(addr) => listen::tcp(addr, tls.clone(), app.clone(), cfg.debug).await?,
            Listen::Fd(which) => listen::activated(*which, tls.clone(), app.clone(), cfg.debug)?,
        }
    }
    // Started: what start-up alone ran need not stay counted.
    crate::trim::release_start_text();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            _ = hup.recv() => if let Some(t) = &tls { t.reload() },
        }
    }
    tracing::info!("shutting down; containers keep running");
    for l in &cfg.listen {
        if let Listen::Unix(path) = l {
            let _ = std::fs::remove_file(path);
        }
    }
    Ok(())
}
