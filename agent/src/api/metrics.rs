//! `GET /metrics`: the agent's Prometheus metrics (containers by state,
//! images, events, and each running container's CPU, memory, network and
//! PIDs from the same samples `stats` shows), on the API sockets and, with
//! `--metrics-addr`, on a plain HTTP port of its own as Docker's.

use axum::response::IntoResponse;
use skiff_common::metrics::{Metrics, CONTENT_TYPE};

use super::St;
use crate::engine::Engine;

pub fn render(e: &Engine) -> String {
    let mut m = Metrics::default();
    m.gauge(
        "skiff_engine_info",
        "The agent's version",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );
    let all = e.all();
    // One look at each container's state, so the counts add up.
    let states: Vec<_> = all.iter().map(|c| c.state()).collect();
    let paused = states.iter().filter(|s| s.running && s.paused).count();
    let running = states.iter().filter(|s| s.running && !s.paused).count();
    for (state, n) in [
        ("running", running),
        ("paused", paused),
        ("stopped", states.len() - running - paused),
    ] {
        m.gauge("skiff_containers", "Containers by state", &[("state", state)], n as f64);
    }
    m.gauge("skiff_images", "Images", &[], e.images.ids().len() as f64);
    m.counter("skiff_events", "Events recorded", &[], e.events.last_seq() as f64);
    for (c, _) in all.iter().zip(&states).filter(|(_, s)| s.running) {
        let s = e.sample(c);
        let name = c.name();
        let image = c.record().inspect.config.image.clone();
        let l = [("id", &c.id[..12]), ("name", name.as_str()), ("image", image.as_str())];
        m.counter(
            "skiff_container_cpu_usage_seconds",
            "CPU time the container used",
            &l,
            s.cpu_stats.cpu_usage.total_usage as f64 / 1e9,
        );
        m.gauge(
            "skiff_container_memory_usage_bytes",
            "Memory in use, page cache left out",
            &l,
            s.mem_usage() as f64,
        );
        m.gauge(
            "skiff_container_memory_limit_bytes",
            "Memory limit (the host's memory when unlimited)",
            &l,
            s.memory_stats.limit as f64,
        );
        let (rx, tx) = s.net_io();
        m.counter("skiff_container_network_receive_bytes", "Bytes received", &l, rx as f64);
        m.counter("skiff_container_network_transmit_bytes", "Bytes sent", &l, tx as f64);
        m.gauge("skiff_container_pids", "Processes", &l, s.pids_stats.current as f64);
    }
    m.render()
}

pub async fn metrics(e: St) -> impl IntoResponse {
    let e = e.0.clone();
    let text = tokio::task::spawn_blocking(move || render(&e))
        .await
        .unwrap_or_default();
    ([("Content-Type", CONTENT_TYPE)], text)
}

/// `--metrics-addr`: serve only `/metrics`, over plain HTTP.
pub async fn serve(addr: &str, e: std::sync::Arc<Engine>) -> anyhow::Result<()> {
    use anyhow::Context;
    let app = axum::Router::new()
        .route("/metrics", axum::routing::get(metrics))
        .with_state(e);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("metrics address {addr}"))?;
    tracing::info!("metrics on http://{addr}/metrics");
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            tracing::warn!("metrics server: {err}");
        }
    });
    Ok(())
}
