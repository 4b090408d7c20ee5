//! `GET /metrics`: the controller's Prometheus metrics (nodes by state,
//! each node's capacity, reservations, containers and heartbeat age,
//! services' desired and running replicas, tasks, events). Scraped over
//! mutual TLS like every other call; a read-only certificate will do.

use axum::response::IntoResponse;
use skiff_common::metrics::{Metrics, CONTENT_TYPE};

use super::{nodes, St};
use crate::orchestrator::task_running;

pub async fn metrics(s: St) -> impl IntoResponse {
    let ctx = &s.0;
    let mut m = Metrics::default();
    let st = ctx.store.read();
    let views: Vec<_> = st.nodes.values().map(|n| nodes::view(ctx, n)).collect();
    for state in ["ready", "down", "unknown"] {
        let n = views.iter().filter(|v| v.status.state == state).count();
        m.gauge("skiff_nodes", "Nodes by state", &[("state", state)], n as f64);
    }
    for v in &views {
        let l = [("node", v.description.hostname.as_str()), ("id", v.id.as_str())];
        let r = &v.description.resources;
        m.gauge("skiff_node_cpus", "CPUs of the node", &l, r.nano_cpus as f64 / 1e9);
        m.gauge(
            "skiff_node_memory_bytes",
            "Memory of the node",
            &l,
            r.memory_bytes as f64,
        );
        m.gauge(
            "skiff_node_reserved_cpus",
            "CPUs its running containers reserve",
            &l,
            v.reserved.nano_cpus as f64 / 1e9,
        );
        m.gauge(
            "skiff_node_reserved_memory_bytes",
            "Memory its running containers reserve",
            &l,
            v.reserved.memory_bytes as f64,
        );
        m.gauge(
            "skiff_node_containers",
            "Containers on the node",
            &l,
            v.containers as f64,
        );
        if let Some(ms) = v.heartbeat_age_ms {
            m.gauge(
                "skiff_node_heartbeat_age_seconds",
                "Time since the node's last heartbeat",
                &l,
                ms as f64 / 1000.0,
            );
        }
    }
    m.gauge("skiff_services", "Services", &[], st.services.len() as f64);
    for svc in st.services.values() {
        let l = [("service", svc.spec.name.as_str())];
        m.gauge(
            "skiff_service_replicas_desired",
            "Replicas the service asks for",
            &l,
            svc.spec.replicas as f64,
        );
        let running = st
            .tasks
            .values()
            .filter(|t| t.service == svc.id && t.desired == "running" && task_running(ctx, t))
            .count();
        m.gauge("skiff_service_replicas_running", "Replicas running", &l, running as f64);
    }
    for desired in ["running", "shutdown"] {
        let n = st.tasks.values().filter(|t| t.desired == desired).count();
        m.gauge(
            "skiff_tasks",
            "Tasks by desired state",
            &[("desired", desired)],
            n as f64,
        );
    }
    drop(st);
    m.counter(
        "skiff_heartbeats",
        "Heartbeats and container reports received from the nodes",
        &[],
        ctx.fleet.beats.load(std::sync::atomic::Ordering::Relaxed) as f64,
    );
    m.gauge(
        "skiff_heartbeat_period_seconds",
        "The period agents beat at now (stretched with the fleet's size)",
        &[],
        ctx.fleet.pace.period().as_secs_f64(),
    );
    m.counter(
        "skiff_events",
        "Events received from the nodes",
        &[],
        ctx.events.last_seq() as f64,
    );
    ([("Content-Type", CONTENT_TYPE)], m.render())
}
