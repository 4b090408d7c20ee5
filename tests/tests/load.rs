//! Load: 40 concurrent API clients (CI, 15 s; soak: 200 for 60 s) each
//! looping create, start, inspect, logs and remove through the project's
//! own client. No errors but Docker's conflicts; the p50/p99 latency is
//! reported; the agent's descriptors and threads come back to where they
//! were.
//!
//! ```text
//! SKIFF_SOAK=1 cargo test -p skiff-tests --test load -- --nocapture
//! ```

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use skiff_client::{body_bytes, Body, Client, ClientError};
use skiff_tests::{host, Agent};

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: Vec<String>,
    cycles: usize,
}

/// One request, timed; Docker's conflicts (409) are answers, not errors.
async fn call(c: &Client, t: &Mutex<Tally>, m: Method, path: &str, body: Body) -> Option<Vec<u8>> {
    let t0 = Instant::now();
    let r = c.send(m, path, body).await;
    let r = match r {
        Ok(resp) => Ok(body_bytes(resp).await.to_vec()),
        Err(e) => Err(e),
    };
    let mut tally = t.lock().unwrap_or_else(|e| e.into_inner());
    tally.latencies.push(t0.elapsed());
    match r {
        Ok(b) => Some(b),
        Err(ClientError::Api { status, .. }) if status == StatusCode::CONFLICT => None,
        Err(e) => {
            tally.errors.push(format!("{path}: {e}"));
            None
        }
    }
}

async fn client(sock: std::path::PathBuf, me: usize, until: Instant, t: Arc<Mutex<Tally>>) {
    let c = Client::new(sock);
    let spec = serde_json::json!({"Image": "busybox", "Cmd": ["echo", "hi"]});
    let mut n = 0;
    while Instant::now() < until {
        n += 1;
        let path = format!("/containers/create?name=load{me}x{n}");
        let Some(made) = call(&c, &t, Method::POST, &path, Body::json(&spec).expect("json")).await else {
            continue;
        };
        let v: serde_json::Value = serde_json::from_slice(&made).unwrap_or_default();
        let id = v["Id"].as_str().unwrap_or_default().to_string();
        call(&c, &t, Method::POST, &format!("/containers/{id}/start"), Body::Empty).await;
        call(&c, &t, Method::GET, &format!("/containers/{id}/json"), Body::Empty).await;
        let logs = format!("/containers/{id}/logs?stdout=1&stderr=1");
        call(&c, &t, Method::GET, &logs, Body::Empty).await;
        call(
            &c,
            &t,
            Method::DELETE,
            &format!("/containers/{id}?force=1"),
            Body::Empty,
        )
        .await;
        t.lock().unwrap_or_else(|e| e.into_inner()).cycles += 1;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

#[test]
fn concurrent_clients_get_answers_and_the_agent_stays_bounded() {
    let soak = std::env::var_os("SKIFF_SOAK").is_some();
    let (clients, secs) = if soak { (200, 60) } else { (40, 15) };
    let a = Agent::start();
    let pid = a.agent_pid();
    let (fds0, threads0) = (host::fds(pid), host::threads(pid));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let until = Instant::now() + Duration::from_secs(secs);
    rt.block_on(async {
        let tasks: Vec<_> = (0..clients)
            .map(|me| tokio::spawn(client(a.sock(), me, until, tally.clone())))
            .collect();
        for task in tasks {
            task.await.expect("client");
        }
    });
    let (fds1, threads1) = (host::fds(pid), host::threads(pid));
    let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
    t.latencies.sort();
    let (p50, p99) = (percentile(&t.latencies, 0.50), percentile(&t.latencies, 0.99));
    eprintln!(
        "{clients} clients, {secs} s: {} cycles, {} requests, p50 {p50:?}, p99 {p99:?}; \
         agent fds {fds0} -> {fds1}, threads {threads0} -> {threads1} at the end of the load",
        t.cycles,
        t.latencies.len()
    );
    assert!(
        t.errors.is_empty(),
        "{} errors, first: {:?}",
        t.errors.len(),
        &t.errors[..t.errors.len().min(5)]
    );
    assert!(t.cycles >= clients, "only {} cycles", t.cycles);
    // Once the load is gone, the agent gives back what it took (tokio's
    // blocking threads linger 10 s).
    a.eventually("the agent's descriptors back", || host::fds(pid) <= fds0 + 4);
    a.eventually("the agent's threads back", || host::threads(pid) <= threads0 + 4);
    assert!(a.skiff(&["ps", "-aq"]).ok().out().is_empty());
    let off = host::settled_disagreements(&a);
    assert!(off.is_empty(), "{off:#?}");
    a.finish();
}
