//! `/_ping`, `/version`, `/info`, `/system/df`, `/events`.

use axum::http::header::{HeaderMap, HeaderValue};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;
use skiff_api::{go_arch, API_VERSION, MIN_API_VERSION};
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
        "Components": [{"Name": "Engine", "Version": VERSION, "Details": {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": "linux", "Arch": go_arch(), "KernelVersion": kernel(), "GitCommit": option_env!("SKIFF_GIT_COMMIT").unwrap_or("unknown"), "GoVersion": "n/a (Rust)", "BuildTime": "", "Experimental": "false"}}],
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
    let sys = crate::engine::limits::sysinfo(e.cgroup_v2);
    Json(json!({
        "ID": "",
        "Containers": all.len(),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": all.len() - running - paused,
        "Images": e.images.ids().len(),
        "Driver": e.images.layers.driver.kind().name(),
        "DriverStatus": crate::images::driver::status(e.images.layers.driver.kind()),
        "DockerRootDir": e.cfg.data_root,
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "none"], "Authorization": null, "Log": skiff_shim::log::opts::DRIVERS},
        "MemoryLimit": sys.memory_limit, "SwapLimit": sys.swap_limit, "KernelMemory": sys.kernel_memory,
        "KernelMemoryTCP": sys.kernel_memory_tcp, "CpuCfsPeriod": sys.cpu_cfs, "CpuCfsQuota": sys.cpu_cfs,
        "CPUShares": sys.cpu_shares, "CPUSet": sys.cpuset, "PidsLimit": sys.pids_limit, "IPv4Forwarding": true,
        "BridgeNfIptables": false, "BridgeNfIp6tables": false, "Debug": e.cfg.debug, "NFd": 0,
        "OomKillDisable": sys.oom_kill_disable, "NGoroutines": 0,
        "SystemTime": chrono::Utc::now().to_rfc3339(),
        "LoggingDriver": e.cfg.log_driver,
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgv,
        "NEventsListener": 0,
        "KernelVersion": kernel(),
        "OperatingSystem": os_name(),
        "OSVersion": "",
        "OSType": "linux",
        "Architecture": std::env::consts::ARCH,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": registry_config(&e.cfg),
        "NCPU": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "MemTotal": crate::runtime::cgroups::host_memory(),
        "GenericResources": null,
        "HttpProxy": "", "HttpsProxy": "", "NoProxy": "",
        "Name": e.cfg.node_name,
        "Labels": e.cfg.labels,
        "ExperimentalBuild": false,
        "ServerVersion": VERSION,
        "Runtimes": {crate::runtime::RUNTIME_NAME: {"path": "libcontainer (embedded)"}},
        "DefaultRuntime": crate::runtime::RUNTIME_NAME,
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "", "RemoteManagers": null},
        "LiveRestoreEnabled": true,
        "Isolation": "",
        "InitBinary": "",
        "ContainerdCommit": {"ID": "", "Expected": ""},
        "RuncCommit": {"ID": "", "Expected": ""},
        "InitCommit": {"ID": "", "Expected": ""},
        "SecurityOptions": crate::engine::security::info_options(
            e.cgroup_v2,
            e.cfg.no_new_privileges,
            !e.cfg.idmap.is_identity(),
        ),
        "Warnings": skiff_api::Nil::null_if_empty(sys.warnings()),
    }))
}

/// `/info`'s `RegistryConfig` in Docker's shape: loopback and the
/// `insecure-registries` CIDRs, an index entry per insecure host and one
/// for Docker Hub with its mirrors.
fn registry_config(cfg: &crate::config::Config) -> serde_json::Value {
    let mut cidrs = vec!["127.0.0.0/8".to_string()];
    let mut indexes = serde_json::Map::new();
    for i in &cfg.insecure_registries {
        if i.parse::<ipnet::IpNet>().is_ok() {
            cidrs.push(i.clone());
        } else {
            indexes.insert(
                i.clone(),
                json!({"Name": i, "Mirrors": [], "Secure": false, "Official": false}),
            );
        }
    }
    indexes.insert(
        "docker.io".into(),
        json!({"Name": "docker.io", "Mirrors": cfg.registry_mirrors, "Secure": true, "Official": true}),
    );
    json!({
        "AllowNondistributableArtifactsCIDRs": [],
        "AllowNondistributableArtifactsHostnames": [],
        "InsecureRegistryCIDRs": cidrs,
        "IndexConfigs": indexes,
        "Mirrors": cfg.registry_mirrors,
    })
}

/// `GET /events?since=&until=&filters=`: past events from `since`, then
/// live ones until `until`, one JSON object per line.
pub async fn events(e: St, q: super::Q) -> super::ApiResult<axum::response::Response> {
    let (filters, since, until) =
        skiff_api::events::parse_query(&q.0).map_err(|m| super::ApiError(axum::http::StatusCode::BAD_REQUEST, m))?;
    let rx = e.events.stream(filters, since, until);
    let body = axum::body::Body::from_stream(
        tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok::<_, std::convert::Infallible>),
    );
    Ok(([("Content-Type", "application/json")], body).into_response())
}

/// `GET /system/df`: images (with the bytes they share with other
/// images), containers with the sizes of their changes, volumes with
/// their users and sizes, and the build cache's records.
pub async fn df(e: St) -> super::ApiResult<Json<skiff_api::DiskUsage>> {
    let e = e.0.clone();
    tokio::task::spawn_blocking(move || {
        let layers = e.images.layers.all();
        let images: Vec<_> = e.images.ids().iter().filter_map(|id| e.images.load(id).ok()).collect();
        let mut users: std::collections::HashMap<String, usize> = Default::default();
        for img in &images {
            for chain in img.chain_ids() {
                *users.entry(chain).or_default() += 1;
            }
        }
        let size_of = |chain: &str| layers.iter().find(|l| l.chain_id == chain).map_or(0, |l| l.size as i64);
        let mut image_rows: Vec<_> = images
            .iter()
            .map(|img| {
                let mut row = super::images::summary(&e, img);
                row.shared_size = img
                    .chain_ids()
                    .iter()
                    .filter(|c| users.get(*c).copied().unwrap_or(0) > 1)
                    .map(|c| size_of(c))
                    .sum();
                row
            })
            .collect();
        image_rows.sort_by_key(|i| std::cmp::Reverse(i.created));
        let mut containers = e.all();
        containers.sort_by_key(|c| std::cmp::Reverse(c.record().inspect.created.clone()));
        let cache = build_cache(&e);
        skiff_api::DiskUsage {
            layers_size: layers.iter().map(|l| l.size as i64).sum(),
            images: image_rows,
            containers: containers
                .iter()
                .map(|c| super::containers::with_size(&e, super::containers::summary(c)))
                .collect(),
            volumes: e
                .volume_usage()
                .iter()
                .filter_map(|v| serde_json::to_value(v).ok())
                .collect(),
            builder_size: cache.iter().filter_map(|r| r["Size"].as_i64()).sum(),
            build_cache: skiff_api::Nil::null_if_empty(cache),
        }
    })
    .await
    .map(Json)
    .map_err(|err| super::ApiError(axum::http::StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))
}

/// The build cache as Docker's `BuildCache` records: a record is `Shared`
/// while an image uses its layer (removing it would free nothing).
fn build_cache(e: &crate::engine::Engine) -> Vec<serde_json::Value> {
    let used: std::collections::HashSet<String> = e
        .images
        .ids()
        .iter()
        .filter_map(|id| e.images.load(id).ok())
        .flat_map(|i| i.chain_ids())
        .collect();
    e.images
        .cache
        .all()
        .into_iter()
        .map(|r| {
            json!({
                "ID": &r.key[..25.min(r.key.len())],
                "Type": "regular",
                "Description": r.description,
                "InUse": false,
                "Shared": used.contains(&r.chain),
                "Size": r.size,
                "CreatedAt": r.created,
                "LastUsedAt": r.last_used,
                "UsageCount": 1,
            })
        })
        .collect()
}
