//! A fleet in one process, for the controller's scale benchmark: N agents
//! that join with a real token (CSR, certificate), hold real gRPC sessions
//! over mutual TLS with the agent's own session code, heartbeat and report
//! containers, and answer the controller's Docker calls from a stand-in
//! API that keeps containers in memory (no namespaces, no processes).
//!
//!   skiff-fleetsim --controller 127.0.0.1:7443[,…] --token SKTKN-… --certs DIR \
//!       --agents 100 --containers 10 --schedule 10000 --replicas 10000 \
//!       --controller-pid PID[,…] [--failover]
//!
//! With several controllers, `--controller-pid` lists their PIDs in raft
//! ID order; the leader's CPU and RSS are measured, and `--failover`
//! ends with a SIGKILL of the leader, timed until a new one is elected, a
//! write is acknowledged and every agent is back.
//! Prints one `key value` line per measurement.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::extract::{Path, Query, State};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

struct Flags {
    controller: String,
    token: String,
    admin: PathBuf,
    agents: usize,
    containers: usize,
    schedule: usize,
    replicas: u32,
    concurrency: usize,
    settle: u64,
    pids: Vec<u32>,
    failover: bool,
    work: PathBuf,
}

fn flags() -> Result<Flags> {
    let mut a = std::env::args().skip(1);
    let mut f = Flags {
        controller: "127.0.0.1:7443".into(),
        token: String::new(),
        admin: PathBuf::new(),
        agents: 100,
        containers: 10,
        schedule: 10_000,
        replicas: 10_000,
        concurrency: 64,
        settle: 20,
        pids: Vec::new(),
        failover: false,
        work: std::env::temp_dir().join("skiff-fleetsim"),
    };
    while let Some(k) = a.next() {
        let mut v = || a.next().context("flag without value");
        match k.as_str() {
            "--controller" => f.controller = v()?,
            "--token" => f.token = v()?,
            "--certs" => f.admin = v()?.into(),
            "--agents" => f.agents = v()?.parse()?,
            "--containers" => f.containers = v()?.parse()?,
            "--schedule" => f.schedule = v()?.parse()?,
            "--replicas" => f.replicas = v()?.parse()?,
            "--concurrency" => f.concurrency = v()?.parse()?,
            "--settle" => f.settle = v()?.parse()?,
            "--controller-pid" => {
                f.pids = v()?.split(',').map(str::parse).collect::<Result<_, _>>()?;
            }
            "--failover" => f.failover = true,
            "--work" => f.work = v()?.into(),
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    Ok(f)
}

/// One fake host's containers, and its events.
struct Host {
    containers: Mutex<Vec<Value>>,
    next: Mutex<u64>,
    events: Arc<skiff_common::events::Journal>,
}

fn container(id: String, name: &str, state: &str) -> Value {
    json!({
        "Id": id, "Names": [format!("/{name}")], "Image": "busybox", "ImageID": "sha256:0",
        "Command": "sleep 3000", "Created": 0, "Ports": [], "Labels": {}, "State": state,
        "Status": "", "HostConfig": {"NetworkMode": "default", "NanoCpus": 0, "Memory": 0},
        "NetworkSettings": {"Networks": {}}, "Mounts": []
    })
}

fn api(host: Arc<Host>, name: String) -> Router {
    Router::new()
        .route(
            "/info",
            get(move || {
                let name = name.clone();
                async move {
                    Json(json!({"NCPU": 8, "MemTotal": 32u64 << 30, "Name": name, "Labels": [],
                                "ServerVersion": "sim", "OperatingSystem": "fleetsim"}))
                }
            }),
        )
        .route(
            "/containers/json",
            get(|State(h): State<Arc<Host>>| async move { Json(h.containers.lock().unwrap().clone()) }),
        )
        .route(
            "/containers/create",
            post(
                |State(h): State<Arc<Host>>, Query(q): Query<HashMap<String, String>>, body: axum::body::Bytes| async move {
                    let n = {
                        let mut n = h.next.lock().unwrap();
                        *n += 1;
                        *n
                    };
                    let id = format!("{:064x}", (std::ptr::addr_of!(*h) as u64) << 20 | n);
                    let name = q.get("name").cloned().unwrap_or_else(|| format!("c{n}"));
                    let mut c = container(id.clone(), &name, "running");
                    // Service tasks are known by their labels.
                    if let Ok(spec) = serde_json::from_slice::<Value>(&body) {
                        if spec["Labels"].is_object() {
                            c["Labels"] = spec["Labels"].clone();
                        }
                    }
                    h.containers.lock().unwrap().push(c);
                    let attrs: std::collections::BTreeMap<String, String> = [
                        ("name".to_string(), name.clone()),
                        ("image".to_string(), "busybox".to_string()),
                    ]
                    .into();
                    for action in ["create", "start"] {
                        h.events
                            .push(skiff_api::events::Event::new("container", action, &id, attrs.clone()));
                    }
                    (axum::http::StatusCode::CREATED, Json(json!({"Id": id, "Warnings": []})))
                },
            ),
        )
        .route(
            "/containers/{id}/start",
            post(|| async { axum::http::StatusCode::NO_CONTENT }),
        )
        .route(
            "/containers/{id}",
            delete(|State(h): State<Arc<Host>>, Path(id): Path<String>| async move {
                h.containers.lock().unwrap().retain(|c| c["Id"] != id.as_str());
                axum::http::StatusCode::NO_CONTENT
            }),
        )
        .with_state(host)
}

/// (user+system CPU seconds, RSS bytes) of a process.
fn usage(pid: u32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = (f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?) as f64;
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok()??.max(1) as f64;
    let rss_pages: u64 = f.get(21)?.parse().ok()?;
    Some((ticks / hz, rss_pages * 4096))
}

/// A client of the controller with the admin certificate.
fn admin_client(f: &Flags) -> Result<skiff_client::Client> {
    let tls = skiff_client::TlsOptions::in_dir(&f.admin);
    Ok(skiff_client::Client::from_host(
        &format!("tcp://{}", f.controller),
        Some(tls),
    )?)
}

/// One client for every call, as an SDK keeps one (its connections are
/// kept open between requests).
static ADMIN: std::sync::OnceLock<skiff_client::Client> = std::sync::OnceLock::new();

async fn admin(f: &Flags, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
    if ADMIN.get().is_none() {
        let _ = ADMIN.set(admin_client(f)?);
    }
    let c = ADMIN.get().context("admin client")?;
    let body = match body {
        Some(b) => skiff_client::Body::Json(serde_json::to_vec(&b)?),
        None => skiff_client::Body::Empty,
    };
    Ok(c.json(method.parse()?, path, body).await?)
}

#[tokio::main]
async fn main() -> Result<()> {
    let f = Arc::new(flags()?);
    let _ = std::fs::remove_dir_all(&f.work);
    // Join: a CSR each, signed by the controller, recorded through raft.
    let t0 = Instant::now();
    let mut hosts = Vec::new();
    let sem = Arc::new(tokio::sync::Semaphore::new(32));
    let mut joins = Vec::new();
    for i in 0..f.agents {
        let (f, sem) = (f.clone(), sem.clone());
        joins.push(tokio::spawn(async move {
            let _p = sem.acquire().await;
            let dir = f.work.join(format!("a{i}"));
            let first = f.controller.split(',').next().unwrap_or_default();
            skiff_client::cluster::join(first, &f.token, &format!("sim{i}"), false, &dir)
                .await
                .map(|_| dir)
        }));
    }
    let mut dirs = Vec::new();
    for j in joins {
        dirs.push(j.await??);
    }
    let join_s = t0.elapsed().as_secs_f64();
    println!("agents {}", f.agents);
    println!("join_seconds {join_s:.2}");
    println!("joins_per_second {:.0}", f.agents as f64 / join_s);
    // Sessions: the agent's own session code, against a stand-in API.
    let t1 = Instant::now();
    for (i, dir) in dirs.iter().enumerate() {
        let host = Arc::new(Host {
            containers: Mutex::default(),
            next: Mutex::default(),
            events: Arc::new(skiff_common::events::Journal::open(&dir.join("events"), 1000)?),
        });
        {
            let mut list = host.containers.lock().unwrap();
            for k in 0..f.containers {
                list.push(container(
                    format!("{:064x}", (i as u64) << 32 | k as u64),
                    &format!("pre{i}x{k}"),
                    "running",
                ));
            }
        }
        let local = skiff_agent::cluster::Local {
            app: api(host.clone(), format!("sim{i}")),
            sock: None,
            events: Some(host.events.clone()),
            revoked: None,
        };
        skiff_agent::cluster::hold_session(&f.controller, dir, local, format!("sim{i}"))?;
        hosts.push(host);
    }
    loop {
        let nodes = admin(&f, "GET", "/nodes", None).await?;
        let ready = nodes
            .as_array()
            .map(|a| a.iter().filter(|n| n["Status"]["State"] == "ready").count())
            .unwrap_or(0);
        if ready >= f.agents {
            break;
        }
        anyhow::ensure!(
            t1.elapsed() < Duration::from_secs(300),
            "only {ready} of {} ready",
            f.agents
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("all_ready_seconds {:.2}", t1.elapsed().as_secs_f64());
    let leader = leader_pid(&f).await;
    // Steady state: heartbeats only.
    let measure = |label: &'static str, secs: u64| {
        let pid = leader;
        async move {
            let Some(pid) = pid else { return };
            let a = usage(pid);
            tokio::time::sleep(Duration::from_secs(secs)).await;
            if let (Some((c0, _)), Some((c1, rss))) = (a, usage(pid)) {
                println!("{label}_controller_cpu_percent {:.1}", (c1 - c0) * 100.0 / secs as f64);
                println!("{label}_controller_rss_mib {:.1}", rss as f64 / (1 << 20) as f64);
            }
        }
    };
    let beats = || async { metric(&f, "skiff_heartbeats_total").await };
    let (b0, t_idle) = (beats().await, Instant::now());
    measure("idle", f.settle).await;
    if let (Some(b0), Some(b1)) = (b0, beats().await) {
        println!(
            "idle_heartbeats_per_second {:.1}",
            (b1 - b0) / t_idle.elapsed().as_secs_f64()
        );
    }
    // Count the events that come out of the controller's /events meanwhile
    // (each placement makes two on its agent: create, start).
    let seen = Arc::new(std::sync::atomic::AtomicU64::new(0));
    {
        let (f, seen) = (f.clone(), seen.clone());
        let c = admin_client(&f)?;
        let resp = c.send(hyper::Method::GET, "/events", skiff_client::Body::Empty).await?;
        tokio::spawn(async move {
            use http_body_util::BodyExt;
            let mut body = resp.into_body();
            while let Some(Ok(fr)) = body.frame().await {
                if let Ok(d) = fr.into_data() {
                    let n = d.iter().filter(|b| **b == b'\n').count() as u64;
                    seen.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                }
            }
        });
    }
    // Schedule containers through the controller, `concurrency` at a time.
    let t2 = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(f.concurrency));
    let mut calls = Vec::new();
    for k in 0..f.schedule {
        let (f, sem) = (f.clone(), sem.clone());
        calls.push(tokio::spawn(async move {
            let _p = sem.acquire().await;
            let body = json!({"Image": "busybox", "Cmd": ["sleep", "3000"], "HostConfig": {}});
            admin(&f, "POST", &format!("/containers/create?name=s{k}"), Some(body)).await
        }));
    }
    let mut failed = 0;
    for c in calls {
        if c.await?.is_err() {
            failed += 1;
        }
    }
    let sched_s = t2.elapsed().as_secs_f64();
    let want = 2 * (f.schedule - failed) as u64;
    while seen.load(std::sync::atomic::Ordering::Relaxed) < want && t2.elapsed() < Duration::from_secs(600) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = seen.load(std::sync::atomic::Ordering::Relaxed);
    println!("placement_events_through_controller {got} of {want}");
    // A burst: 20,000 events spread over the hosts at once, timed until
    // the controller's /events reader has them all.
    let burst = 20_000usize;
    let before = seen.load(std::sync::atomic::Ordering::Relaxed);
    let t3 = Instant::now();
    for k in 0..burst {
        let h = &hosts[k % hosts.len()];
        h.events.push(skiff_api::events::Event::new(
            "container",
            "exec_start: true",
            &format!("{k:064x}"),
            Default::default(),
        ));
        if k % 1000 == 999 {
            tokio::task::yield_now().await;
        }
    }
    while seen.load(std::sync::atomic::Ordering::Relaxed) < before + burst as u64
        && t3.elapsed() < Duration::from_secs(300)
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let got = seen.load(std::sync::atomic::Ordering::Relaxed) - before;
    let secs = t3.elapsed().as_secs_f64();
    println!("burst_events_through_controller {got} of {burst}");
    println!("events_per_second {:.0}", got as f64 / secs);
    println!("scheduled {}", f.schedule - failed);
    println!("schedule_failed {failed}");
    println!("schedule_seconds {sched_s:.2}");
    println!("schedules_per_second {:.0}", f.schedule as f64 / sched_s);
    let per_host: Vec<usize> = hosts.iter().map(|h| h.containers.lock().unwrap().len()).collect();
    println!(
        "containers_per_host_min_max {} {}",
        per_host.iter().min().unwrap_or(&0),
        per_host.iter().max().unwrap_or(&0)
    );
    service_phase(&f, &hosts).await?;
    measure("loaded", f.settle).await;
    if f.failover {
        failover(&f, &hosts).await?;
    }
    let _ = std::fs::remove_dir_all(&f.work);
    Ok(())
}

/// A metric's value from the controller's `/metrics`.
async fn metric(f: &Flags, name: &str) -> Option<f64> {
    let c = admin_client(f).ok()?;
    let resp = c
        .send(hyper::Method::GET, "/metrics", skiff_client::Body::Empty)
        .await
        .ok()?;
    let text = String::from_utf8(skiff_client::body_bytes(resp).await.to_vec()).ok()?;
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// One service of `replicas` tasks on the fleet: how fast the controller
/// places them (recorded through raft), and how fast their containers
/// are made on the hosts.
async fn service_phase(f: &Flags, hosts: &[Arc<Host>]) -> Result<()> {
    if f.replicas == 0 {
        return Ok(());
    }
    let count = || hosts.iter().map(|h| h.containers.lock().unwrap().len()).sum::<usize>();
    let before = count();
    let spec = json!({"Name": "bench", "Replicas": f.replicas,
        "Container": {"Image": "busybox", "Cmd": ["sleep", "3000"], "HostConfig": {}}});
    let t = Instant::now();
    admin(f, "POST", "/services/create", Some(spec)).await?;
    let want = f.replicas as usize;
    let mut placed_s = None;
    loop {
        if placed_s.is_none() {
            let tasks = admin(f, "GET", "/tasks", None).await?;
            if tasks.as_array().map_or(0, Vec::len) >= want {
                placed_s = Some(t.elapsed().as_secs_f64());
            }
        }
        if placed_s.is_some() && count() - before >= want {
            break;
        }
        anyhow::ensure!(t.elapsed() < Duration::from_secs(600), "service not placed in 600 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let made_s = t.elapsed().as_secs_f64();
    let placed_s = placed_s.unwrap_or(made_s);
    println!("service_replicas {want}");
    println!("service_placed_seconds {placed_s:.2}");
    println!("service_tasks_placed_per_second {:.0}", want as f64 / placed_s);
    println!("service_containers_made_seconds {made_s:.2}");
    println!("service_containers_made_per_second {:.0}", want as f64 / made_s);
    let per_host: Vec<usize> = hosts.iter().map(|h| h.containers.lock().unwrap().len()).collect();
    println!(
        "after_service_containers_per_host_min_max {} {}",
        per_host.iter().min().unwrap_or(&0),
        per_host.iter().max().unwrap_or(&0)
    );
    Ok(())
}

/// The leader's raft ID, as any controller reports it.
async fn leader_id(f: &Flags) -> Option<u64> {
    let list = admin(f, "GET", "/cluster/controllers", None).await.ok()?;
    list.as_array()?
        .iter()
        .find(|c| c["ManagerStatus"] == "Leader")
        .and_then(|c| c["RaftID"].as_u64())
}

/// The leader's PID (`--controller-pid` lists them in raft ID order).
async fn leader_pid(f: &Flags) -> Option<u32> {
    let id = leader_id(f).await.unwrap_or(1) as usize;
    f.pids.get(id.checked_sub(1)?).copied()
}

/// SIGKILL the leader; time a new election, an acknowledged write (a
/// node label) and every agent back in session with the new leader;
/// count the containers that moved (none should).
async fn failover(f: &Flags, hosts: &[Arc<Host>]) -> Result<()> {
    let old = leader_id(f).await.context("no leader")?;
    let pid = leader_pid(f).await.context("no PID for the leader")?;
    let count = || hosts.iter().map(|h| h.containers.lock().unwrap().len()).sum::<usize>();
    let before = count();
    let node = admin(f, "GET", "/nodes", None).await?[0]["ID"]
        .as_str()
        .context("no node")?
        .to_string();
    let t = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )?;
    let elected = loop {
        if leader_id(f).await.is_some_and(|l| l != old) {
            break t.elapsed().as_secs_f64();
        }
        anyhow::ensure!(t.elapsed() < Duration::from_secs(60), "no new leader in 60 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let update = json!({"LabelsAdd": {"failover": "1"}});
    let body = skiff_client::Body::Json(serde_json::to_vec(&update)?);
    let c = ADMIN.get().context("admin client")?;
    c.send(hyper::Method::POST, &format!("/nodes/{node}/update"), body)
        .await?;
    let written = t.elapsed().as_secs_f64();
    loop {
        let nodes = admin(f, "GET", "/nodes", None).await.unwrap_or_default();
        let ready = nodes
            .as_array()
            .map_or(0, |a| a.iter().filter(|n| n["Status"]["State"] == "ready").count());
        if ready >= f.agents {
            break;
        }
        anyhow::ensure!(
            t.elapsed() < Duration::from_secs(300),
            "only {ready} agents back in 300 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let back = t.elapsed().as_secs_f64();
    println!("failover_elect_seconds {elected:.2}");
    println!("failover_write_acknowledged_seconds {written:.2}");
    println!("failover_all_agents_back_seconds {back:.2}");
    println!("failover_containers_moved {}", count().abs_diff(before));
    Ok(())
}
