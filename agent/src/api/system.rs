//! `/_ping`, `/version`, `/info`.

use axum::http::header::{HeaderMap, HeaderValue};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;
use skiff_common::api::{go_arch, API_VERSION, MIN_API_VERSION};
use tokio_stream::StreamExt;

use super::St;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

fn kernel() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub async fn ping() -> impl IntoResponse {
    let mut h = HeaderMap::new();
    h.insert("API-Version", HeaderValue::from_static(API_VERSION));
    h.insert("OSType", HeaderValue::from_static("linux"));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert(
        "Cache-Control",
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(
        "Server",
        HeaderValue::from_static(concat!("skiff/", env!("CARGO_PKG_VERSION"), " (linux)")),
    );
    (h, "OK")
}

pub async fn version() -> impl IntoResponse {
    Json(json!({
        "Platform": {"Name": "skiff"},
        "Components": [{"Name": "Engine", "Version": VERSION, "Details": {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": "linux", "Arch": go_arch(), "KernelVersion": kernel()}}],
        "Version": VERSION,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": option_env!("SKIFF_GIT_COMMIT").unwrap_or("unknown"),
        "GoVersion": "n/a (Rust)",
        "Os": "linux",
        "Arch": go_arch(),
        "KernelVersion": kernel(),
        "BuildTime": "",
    }))
}

fn mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_string()))
        })
        .unwrap_or_else(|| "Linux".into())
}

pub async fn info(e: St) -> impl IntoResponse {
    let e = e.0;
    let all = e.all();
    let running = all.iter().filter(|c| c.is_running() && !c.state().paused).count();
    let paused = all.iter().filter(|c| c.state().paused).count();
    let cgv = if e.cgroup_v2 { "2" } else { "1" };
    Json(json!({
        "ID": "",
        "Containers": all.len(),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": all.len() - running - paused,
        "Images": e.images.ids().len(),
        "Driver": e.images.layers.driver.kind().name(),
        "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
        "DockerRootDir": e.cfg.data_root,
        "SystemStatus": null,
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "none"], "Log": ["json-file", "none"]},
        "MemoryLimit": true, "SwapLimit": true, "KernelMemory": false, "CpuCfsPeriod": true, "CpuCfsQuota": true,
        "CPUShares": true, "CPUSet": true, "PidsLimit": true, "IPv4Forwarding": true, "BridgeNfIptables": false,
        "BridgeNfIp6tables": false, "Debug": e.cfg.debug, "NFd": 0, "OomKillDisable": true, "NGoroutines": 0,
        "SystemTime": chrono::Utc::now().to_rfc3339(),
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgv,
        "NEventsListener": 0,
        "KernelVersion": kernel(),
        "OperatingSystem": os_name(),
        "OSVersion": "",
        "OSType": "linux",
        "Architecture": std::env::consts::ARCH,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": null,
        "NCPU": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "MemTotal": mem_total(),
        "GenericResources": null,
        "HttpProxy": "", "HttpsProxy": "", "NoProxy": "",
        "Name": e.cfg.node_name,
        "Labels": e.cfg.labels,
        "ExperimentalBuild": false,
        "ServerVersion": VERSION,
        "Runtimes": {"skiff": {"path": "libcontainer (embedded)"}},
        "DefaultRuntime": "skiff",
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "", "RemoteManagers": null},
        "LiveRestoreEnabled": true,
        "Isolation": "",
        "InitBinary": "",
        "ContainerdCommit": {"ID": "", "Expected": ""},
        "RuncCommit": {"ID": "", "Expected": ""},
        "InitCommit": {"ID": "", "Expected": ""},
        "SecurityOptions": [],
        "Warnings": [],
    }))
}

/// `GET /events?since=&until=&filters=`: past events from `since`, then
/// live ones until `until`, one JSON object per line.
pub async fn events(e: St, q: super::Q) -> super::ApiResult<axum::response::Response> {
    let (filters, since, until) =
        skiff_common::events::parse_query(&q.0).map_err(|m| super::ApiError(axum::http::StatusCode::BAD_REQUEST, m))?;
    let rx = e.events.stream(filters, since, until);
    let body = axum::body::Body::from_stream(
        tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok::<_, std::convert::Infallible>),
    );
    Ok(([("Content-Type", "application/json")], body).into_response())
}
