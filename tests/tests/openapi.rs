//! The running agent against its OpenAPI document (`api/openapi.yaml`):
//! schemathesis (PyPI; `deploy/setup.sh --with-docker-client` installs it)
//! sends generated requests to an agent listening on TCP on the loopback
//! of the test's network namespace, and checks every answer: no 5xx, only
//! documented status codes and content types, bodies that fit their
//! schemas, no answer slower than the bound. Scope: the read-only
//! operations, on real objects and on random names, and the creates and
//! removals of throw-away objects (containers from busybox, networks,
//! volumes, tags of busybox); nothing that starts a container, talks to a
//! registry or waits for ever (tags `Lifecycle`, `Registry`, `Blocking`).
//! Afterwards the agent must still be running and answer.
//!
//! `SKIFF_OPENAPI_EXAMPLES` sets the examples per operation (default 12),
//! `SKIFF_OPENAPI_SEED` hypothesis's seed (default fixed);
//! `deploy/api-fuzz.sh` runs the same with many more and a new seed.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use skiff_tests::{repo_dir, Agent};

const ADDR: &str = "127.0.0.1:2375";

/// What the fuzzing leaves out: starts, stops and connects (`Lifecycle`),
/// registries and build contexts (`Registry`), waits and follows
/// (`Blocking`, `Stream`), and Docker's deliberate 5xx refusals (`Swarm`,
/// `Session`, checked on their own).
const EXCLUDED: &str = "^(Blocking|Registry|Lifecycle|Stream|Swarm|Session)$";
const EXCLUDED_READS: &str = "^(Blocking|Registry|Stream|Swarm|Session)$";

const CONFORMANCE: &str = "status_code_conformance,content_type_conformance,response_schema_conformance";
const ALL_CHECKS: &str =
    "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance";

/// The schemathesis CLI: `SKIFF_SCHEMATHESIS`, the venv setup.sh makes, or `st`.
fn schemathesis() -> PathBuf {
    if let Ok(p) = std::env::var("SKIFF_SCHEMATHESIS") {
        return p.into();
    }
    let venv = PathBuf::from("/opt/skiff-schemathesis/bin/st");
    if venv.exists() {
        venv
    } else {
        "st".into()
    }
}

fn examples() -> String {
    std::env::var("SKIFF_OPENAPI_EXAMPLES").unwrap_or_else(|_| "12".into())
}

/// How long one run may take before it counts as hung: generous for the
/// examples asked (a run of 12 takes 1-30 s here).
fn run_limit() -> Duration {
    let n: u64 = examples().parse().unwrap_or(12);
    Duration::from_secs(120 + 4 * n)
}

/// One schemathesis run against the agent, inside its network namespace,
/// killed after `limit`. Returns whether it passed, and its report.
fn run(a: &Agent, name: &str, checks: &str, extra: &[&str], limit: Duration) -> (bool, String) {
    let report = a.root.join(format!("schemathesis-{name}.txt"));
    let out = std::fs::File::create(&report).expect("report file");
    let doc = repo_dir().join("api/openapi.yaml");
    let examples = examples();
    // A fixed seed unless told: CI sends the same requests every time.
    let seed = std::env::var("SKIFF_OPENAPI_SEED").unwrap_or_else(|_| "1741".into());
    let base = format!("http://{ADDR}/v1.41");
    let mut args = vec![
        "run",
        doc.to_str().expect("path"),
        "--base-url",
        &base,
        "--checks",
        checks,
        "--max-response-time",
        "10000",
        "--request-timeout",
        "20000",
        "--hypothesis-max-examples",
        &examples,
        "--hypothesis-seed",
        &seed,
        "--hypothesis-suppress-health-check",
        "all",
        "--experimental-no-failfast",
        "--show-trace",
        "--generation-allow-x00",
        "false",
        "--schemathesis-io-telemetry",
        "false",
    ];
    args.extend(extra);
    let mut child = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{}", a.netns))
        .arg(schemathesis())
        .args(&args)
        .env("PYTHONPATH", repo_dir().join("tests/schemathesis"))
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("report file"))
        .stderr(out)
        .spawn()
        .expect("start schemathesis (deploy/setup.sh --with-docker-client installs it)");
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = std::fs::read_to_string(&report).unwrap_or_default();
    match status {
        Some(s) => (s.success(), text),
        None => (
            false,
            format!("{text}\nschemathesis run {name} hung: killed after {limit:?}"),
        ),
    }
}

/// The named objects the read-only run inspects: a container `probe`, a
/// network `probe`, a volume `busybox`, next to the image `busybox`.
fn make_objects(a: &Agent) {
    a.skiff(&["create", "--name", "probe", "-l", "oapi=1", "busybox", "true"])
        .ok();
    a.skiff(&["network", "create", "probe"]).ok();
    a.skiff(&["volume", "create", "busybox"]).ok();
}

#[test]
fn the_agent_serves_what_its_openapi_document_says() {
    let a = Agent::start_with(&["-H", &format!("tcp://{ADDR}"), "--insecure-tcp"]);
    a.skiff(&["import", skiff_tests::busybox_tar().to_str().expect("path"), "busybox"])
        .ok();
    make_objects(&a);
    let started = Instant::now();
    let limit = run_limit();
    let runs: [(&str, Vec<&str>); 4] = [
        // Reads of real objects: every path parameter names one.
        (
            "reads",
            vec![
                "--include-method-regex",
                "^(GET|HEAD)$",
                "--exclude-tag-regex",
                EXCLUDED_READS,
                "--set-path",
                "id=probe",
                "--set-path",
                "name=busybox",
            ],
        ),
        // Everything in scope with generated names: reads, creates,
        // removals; valid requests and invalid ones (which must be refused
        // with a 4xx, never a 5xx).
        (
            "objects",
            vec!["--exclude-tag-regex", EXCLUDED, "--data-generation-method", "all"],
        ),
        // The event stream, bounded by a past `until`.
        (
            "events",
            vec!["--include-operation-id", "SystemEvents", "--set-query", "until=1"],
        ),
        // Docker's refusals (503 outside a swarm, 501 for a BuildKit
        // session): server errors by design, so only their shape is checked.
        ("refusals", vec!["--include-tag-regex", "^(Swarm|Session)$"]),
    ];
    let mut failed = Vec::new();
    for (name, extra) in &runs {
        let checks = if *name == "refusals" { CONFORMANCE } else { ALL_CHECKS };
        let (ok, report) = run(&a, name, checks, extra, limit);
        println!("=== schemathesis {name} ===\n{report}");
        if !ok {
            failed.push(*name);
        }
    }
    println!("schemathesis: {:?} for all runs", started.elapsed());
    // Still alive, still answering.
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", a.agent_pid())).unwrap_or_default();
    assert!(
        !stat.is_empty() && !stat.contains(") Z "),
        "the agent died: {}",
        a.log()
    );
    let ping = a.in_netns("curl", &["-sf", &format!("http://{ADDR}/_ping")], &[]);
    assert_eq!(ping.out(), "OK", "the agent does not answer /_ping: {ping:?}");
    assert!(
        failed.is_empty(),
        "schemathesis found failures in {failed:?} (reports above)"
    );
    a.finish();
}
