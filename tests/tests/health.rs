//! Health checks as a Docker user sees them: `--health-*` probes run in
//! the container, `State.Health` with its log, `(healthy)` and friends in
//! `ps`, `health_status` events, `ps --filter health=`, timeouts, the
//! probe loop ending with the container and resuming after an agent
//! restart, and bad input.

use std::time::Duration;

use skiff_tests::{Agent, Run};

fn json(r: &Run) -> serde_json::Value {
    serde_json::from_str(r.out()).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

fn health(a: &Agent, name: &str) -> serde_json::Value {
    json(&a.skiff(&["inspect", "-f", "{{json .State.Health}}", name]).ok())
}

fn status(a: &Agent, name: &str) -> String {
    health(a, name)["Status"].as_str().unwrap_or("").to_string()
}

fn ps_names(a: &Agent, filter: &str) -> Vec<String> {
    let r = a
        .skiff(&["ps", "-a", "--filter", filter, "--format", "{{.Names}}"])
        .ok();
    r.stdout.lines().map(String::from).collect()
}

#[test]
fn a_probe_makes_it_healthy_then_unhealthy_with_events_ps_and_filters() {
    let a = Agent::start();
    a.skiff(&[
        "run",
        "-d",
        "--name",
        "web",
        "--health-cmd",
        "test -f /tmp/ok && echo fine",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        "busybox",
        "sh",
        "-c",
        "touch /tmp/ok; exec sleep 1000",
    ])
    .ok();
    a.skiff(&["run", "-d", "--name", "plain", "busybox", "sleep", "1000"])
        .ok();
    a.skiff(&[
        "run",
        "-d",
        "--name",
        "slow",
        "--health-cmd",
        "true",
        "--health-interval",
        "1h",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    // Until the first probe: starting.
    assert_eq!(status(&a, "slow"), "starting");
    let st = a
        .skiff(&["ps", "--filter", "name=slow", "--format", "{{.Status}}"])
        .ok();
    assert!(st.out().ends_with("(health: starting)"), "{}", st.stdout);
    a.eventually("web healthy", || status(&a, "web") == "healthy");
    let h = health(&a, "web");
    assert_eq!(h["FailingStreak"], 0);
    let last = h["Log"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["ExitCode"].as_i64(), last["Output"].as_str()),
        (Some(0), Some("fine\n"))
    );
    assert!(last["Start"].as_str().unwrap() <= last["End"].as_str().unwrap());
    let st = a.skiff(&["ps", "--filter", "name=web", "--format", "{{.Status}}"]).ok();
    assert!(
        st.out().starts_with("Up ") && st.out().ends_with("(healthy)"),
        "{}",
        st.stdout
    );
    assert_eq!(ps_names(&a, "health=healthy"), ["web"]);
    assert_eq!(ps_names(&a, "health=none"), ["plain"]);
    assert_eq!(ps_names(&a, "health=starting"), ["slow"]);
    let r = a.skiff(&["ps", "--filter", "health=sick"]);
    assert!(
        r.stderr.contains("Unrecognised filter value for health: sick"),
        "{}",
        r.stderr
    );
    // Failing twice in a row: unhealthy.
    a.skiff(&["exec", "web", "rm", "/tmp/ok"]).ok();
    a.eventually("web unhealthy", || status(&a, "web") == "unhealthy");
    let h = health(&a, "web");
    assert!(h["FailingStreak"].as_i64().unwrap() >= 2, "{h}");
    let log = h["Log"].as_array().unwrap();
    assert!(log.len() <= 5 && log.last().unwrap()["ExitCode"] == 1, "{h}");
    a.eventually("five probes logged", || {
        health(&a, "web")["Log"].as_array().unwrap().len() == 5
    });
    let st = a.skiff(&["ps", "--filter", "name=web", "--format", "{{.Status}}"]).ok();
    assert!(st.out().ends_with("(unhealthy)"), "{}", st.stdout);
    let ev = a.past_events(&["container=web", "event=health_status"], "{{.Action}}");
    let actions: Vec<&str> = ev.stdout.lines().collect();
    assert_eq!(actions, ["health_status: healthy", "health_status: unhealthy"]);
    // Probes are execs that leave no instance behind (the one is `rm`).
    let execs = json(&a.skiff(&["inspect", "-f", "{{json .ExecIDs}}", "web"]).ok());
    assert_eq!(execs.as_array().map(Vec::len), Some(1), "{execs}");
    a.finish();
}

#[test]
fn a_probe_that_hangs_times_out_and_the_loop_ends_with_the_container() {
    let a = Agent::start();
    a.skiff(&[
        "run",
        "-d",
        "--name",
        "hang",
        "--health-cmd",
        "sleep 5",
        "--health-timeout",
        "300ms",
        "--health-interval",
        "200ms",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    a.eventually("unhealthy by timeout", || status(&a, "hang") == "unhealthy");
    let h = health(&a, "hang");
    let last = h["Log"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["ExitCode"], -1);
    assert_eq!(last["Output"], "Health check exceeded timeout (300ms)");
    // The timed-out probe's process was killed: only PID 1 keeps running.
    a.eventually("no probe left", || {
        a.skiff(&["top", "hang"])
            .stdout
            .lines()
            .filter(|l| l.contains("sleep 5"))
            .count()
            <= 1
    });
    a.skiff(&["stop", "-t", "0", "hang"]).ok();
    let count = || {
        a.past_events(&["container=hang", "event=exec_start"], "")
            .stdout
            .lines()
            .count()
    };
    let before = count();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(count(), before, "probes after the container stopped");
    // A new start: starting again, failures counted afresh.
    a.skiff(&["start", "hang"]).ok();
    let h = health(&a, "hang");
    assert_eq!(
        (h["Status"].as_str(), h["FailingStreak"].as_i64()),
        (Some("starting"), Some(0))
    );
    a.finish();
}

#[test]
fn probing_resumes_after_an_agent_restart() {
    let mut a = Agent::start();
    a.skiff(&[
        "run",
        "-d",
        "--name",
        "keep",
        "--health-cmd",
        "true",
        "--health-interval",
        "200ms",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    a.eventually("healthy", || status(&a, "keep") == "healthy");
    a.kill9();
    a.launch();
    let probes = || {
        health(&a, "keep")["Log"].as_array().unwrap().last().unwrap()["Start"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let last = probes();
    a.eventually("a new probe", || probes() > last);
    a.eventually("healthy again", || status(&a, "keep") == "healthy");
    a.finish();
}

#[test]
fn health_flags_and_the_docker_client() {
    let a = Agent::start();
    let r = a.skiff(&[
        "run",
        "--rm",
        "--no-healthcheck",
        "--health-cmd",
        "true",
        "busybox",
        "true",
    ]);
    assert_eq!(
        (r.code, r.stderr.trim()),
        (
            125,
            "skiff: --no-healthcheck conflicts with --health-* options.\nSee 'skiff run --help'."
        )
    );
    let r = a.skiff(&[
        "run",
        "--rm",
        "--health-interval",
        "10ns",
        "--health-cmd",
        "true",
        "busybox",
        "true",
    ]);
    assert_eq!(r.code, 125);
    assert!(
        r.stderr.contains("Interval in Healthcheck cannot be less than 1ms"),
        "{}",
        r.stderr
    );
    let r = a.skiff(&["run", "--rm", "--health-interval", "5", "busybox", "true"]);
    assert!(
        r.stderr.contains("time: missing unit in duration \"5\""),
        "{}",
        r.stderr
    );
    a.skiff(&["create", "--name", "off", "--no-healthcheck", "busybox", "true"])
        .ok();
    let hc = |name: &str| json(&a.skiff(&["inspect", "-f", "{{json .Config.Healthcheck}}", name]).ok());
    assert_eq!(hc("off"), serde_json::json!({"Test": ["NONE"]}));
    a.skiff(&[
        "create",
        "--name",
        "cfg",
        "--health-cmd",
        "true",
        "--health-interval",
        "1m30s",
        "--health-timeout",
        "2s",
        "--health-start-period",
        "5s",
        "--health-retries",
        "4",
        "busybox",
        "true",
    ])
    .ok();
    assert_eq!(
        hc("cfg"),
        serde_json::json!({"Test": ["CMD-SHELL", "true"], "Interval": 90_000_000_000i64, "Timeout": 2_000_000_000,
                           "StartPeriod": 5_000_000_000i64, "Retries": 4})
    );
    assert_eq!(a.inspect("cfg", "{{json .State.Health}}"), "null");
    // The stock client: its flags, its ps and inspect.
    a.docker(&[
        "run",
        "-d",
        "--name",
        "dk",
        "--health-cmd",
        "true",
        "--health-interval",
        "200ms",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    a.eventually("healthy through docker", || {
        a.docker(&["inspect", "-f", "{{.State.Health.Status}}", "dk"]).out() == "healthy"
    });
    let r = a
        .docker(&["ps", "--filter", "health=healthy", "--format", "{{.Names}} {{.Status}}"])
        .ok();
    assert!(
        r.out().starts_with("dk Up") && r.out().ends_with("(healthy)"),
        "{}",
        r.stdout
    );
    a.finish();
}
