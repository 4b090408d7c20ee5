//! The fleet's totals: `/info` (nodes, containers, images, CPUs and
//! memory summed over the ready nodes) and `/system/df` (every ready
//! node's images and containers, each with its node).

use axum::Json;
use serde_json::{json, Value};
use skiff_api::DiskUsage;

use super::{nodes, proxy, St};

/// Fields of the nodes' `/info` that add up.
const SUMMED: [&str; 7] = [
    "Containers",
    "ContainersRunning",
    "ContainersPaused",
    "ContainersStopped",
    "Images",
    "NCPU",
    "MemTotal",
];

pub async fn info(s: St) -> Json<Value> {
    let ctx = &s.0;
    let infos = proxy::gather(ctx, "/info").await;
    let (id, nodes) = {
        let st = ctx.store.read();
        let nodes: Vec<_> = st.nodes.values().map(|n| nodes::view(ctx, n)).collect();
        (st.id.clone(), nodes)
    };
    let ready = nodes.iter().filter(|n| n.status.state == "ready").count();
    let hostname = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut v = json!({
        "ID": id,
        "Name": hostname,
        "ServerVersion": env!("CARGO_PKG_VERSION"),
        "OSType": "linux",
        "Architecture": std::env::consts::ARCH,
        "Swarm": {
            "LocalNodeState": "active",
            "ControlAvailable": true,
            "Cluster": {"ID": id},
            "Managers": 1,
            "Nodes": nodes.len(),
            "NodesReady": ready,
        },
        "Nodes": nodes,
    });
    for k in SUMMED {
        let total: i64 = infos.iter().map(|(_, i)| i[k].as_i64().unwrap_or(0)).sum();
        v[k] = json!(total);
    }
    Json(v)
}

pub async fn df(s: St) -> Json<DiskUsage> {
    let mut total = DiskUsage::default();
    for (host, v) in proxy::gather(&s.0, "/system/df").await {
        let Ok(d) = serde_json::from_value::<DiskUsage>(v) else {
            continue;
        };
        total.layers_size += d.layers_size;
        total.images.extend(d.images.into_iter().map(|mut i| {
            i.node = Some(host.clone());
            i
        }));
        total.containers.extend(d.containers.into_iter().map(|mut c| {
            c.node = Some(host.clone());
            c
        }));
        total.volumes.extend(d.volumes);
        total.build_cache.extend(d.build_cache);
    }
    Json(total)
}
