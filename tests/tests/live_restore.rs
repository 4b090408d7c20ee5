//! Containers outlive the agent: SIGKILL it, start a new one, and it
//! re-adopts them with logs, stop and exit codes intact.

use skiff_tests::host::{self, Snapshot};
use skiff_tests::Agent;

#[test]
fn containers_survive_agent_sigkill_and_are_readopted() {
    let mut a = Agent::start();
    a.skiff(&[
        "run",
        "-d",
        "--name",
        "survivor",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 42' TERM; while true; do echo alive; sleep 0.1; done",
    ])
    .ok();
    a.skiff(&["run", "-d", "--name", "short", "busybox", "sh", "-c", "sleep 1; exit 7"])
        .ok();
    let pid = a.inspect("survivor", "{{.State.Pid}}");
    a.kill9();
    // While no agent runs, the containers carry on.
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    std::thread::sleep(std::time::Duration::from_millis(1500));
    a.launch();
    assert_eq!(
        a.inspect("survivor", "{{.State.Status}} {{.State.Pid}}"),
        format!("running {pid}")
    );
    // "short" exited while the agent was away: its exit code was kept.
    assert_eq!(a.inspect("short", "{{.State.Status}} {{.State.ExitCode}}"), "exited 7");
    let before = a.skiff(&["logs", "survivor"]).ok().stdout.lines().count();
    a.eventually("logs keep growing", || {
        a.skiff(&["logs", "survivor"]).stdout.lines().count() > before + 3
    });
    a.skiff(&["stop", "survivor"]).ok();
    assert_eq!(a.inspect("survivor", "{{.State.ExitCode}}"), "42");
    a.finish();
}

#[test]
fn after_a_host_reboot_stale_state_is_reconciled_and_policies_apply() {
    let mut a = Agent::start();
    a.skiff(&["run", "-d", "--name", "plain", "busybox", "sleep", "300"])
        .ok();
    a.skiff(&[
        "run",
        "-d",
        "--name",
        "always",
        "--restart",
        "always",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    a.simulate_reboot();
    a.launch();
    // Dead containers are marked exited; "always" comes back by itself.
    assert_eq!(
        a.inspect("plain", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 255"
    );
    a.eventually("always restarted", || {
        a.inspect("always", "{{.State.Status}}") == "running"
    });
    assert_eq!(a.skiff(&["exec", "always", "echo", "ok"]).ok().out(), "ok");
    a.skiff(&["start", "plain"]).ok();
    assert_eq!(a.inspect("plain", "{{.State.Status}}"), "running");
    a.finish();
}

/// The agent dies at a crash point of the start path; a new one must
/// adopt the container its supervisor made, never forget it.
fn start_cut_short(a: &mut Agent, point: &str, name: &str) -> String {
    a.kill9();
    a.launch_env(&[("SKIFF_CRASH_AT", point)]);
    let r = a.skiff(&["run", "-d", "--name", name, "busybox", "sleep", "300"]);
    assert_ne!(r.code, 0, "the agent was to die at {point}");
    a.kill9();
    a.launch();
    a.eventually("the cut-short container adopted", || {
        a.inspect(name, "{{.State.Status}}") == "running"
    });
    let pid = a.inspect(name, "{{.State.Pid}}");
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists(), "pid {pid}");
    pid
}

#[test]
fn a_start_cut_short_by_an_agent_crash_is_adopted_and_rm_f_kills_it() {
    let mut a = Agent::start();
    // Killed after the supervisor reported the container's PID, before the
    // record said "running".
    let pid = start_cut_short(&mut a, "supervisor-reported", "cut");
    // Killed right after the supervisor was spawned: it goes on creating
    // the container alone, and the new agent finds it.
    let pid2 = start_cut_short(&mut a, "supervisor-spawned", "cut2");
    // The adopted container keeps its address: the next one gets another.
    let ip = a.inspect("cut", "{{.NetworkSettings.IPAddress}}");
    assert!(!ip.is_empty());
    a.skiff(&["run", "-d", "--name", "next", "busybox", "sleep", "300"])
        .ok();
    assert_ne!(a.inspect("next", "{{.NetworkSettings.IPAddress}}"), ip);
    assert_eq!(a.skiff(&["exec", "cut", "echo", "ok"]).ok().out(), "ok");
    // rm -f kills what runs before it removes the record.
    a.skiff(&["rm", "-f", "cut", "cut2", "next"]).ok();
    for p in [pid, pid2] {
        a.eventually("the adopted containers killed", || {
            !std::path::Path::new(&format!("/proc/{p}")).exists()
        });
    }
    a.finish();
}

/// Live restore at scale: 30 running containers (soak: 100), the agent
/// SIGKILLed and restarted 3 times in a row (soak: 10). Every container is
/// re-adopted with its process, its log has no gap, and `stats` and `stop`
/// work afterwards.
///
/// ```text
/// SKIFF_SOAK=1 cargo test -p skiff-tests --test live_restore -- many_containers --nocapture
/// ```
#[test]
fn many_containers_survive_repeated_agent_sigkills() {
    let soak = std::env::var_os("SKIFF_SOAK").is_some();
    let (n, kills) = if soak { (100, 10) } else { (30, 3) };
    let mut a = Agent::start();
    let names: Vec<String> = (0..n).map(|i| format!("many{i}")).collect();
    for name in &names {
        a.skiff(&[
            "run",
            "-d",
            "--name",
            name,
            "busybox",
            "sh",
            "-c",
            "i=0; while true; do i=$((i+1)); echo $i; sleep 0.5; done",
        ])
        .ok();
    }
    let pids: Vec<String> = names.iter().map(|c| a.inspect(c, "{{.State.Pid}}")).collect();
    for k in 0..kills {
        let before = a.skiff(&["logs", &names[0]]).ok().stdout.lines().count();
        a.kill9();
        a.launch();
        for (c, pid) in names.iter().zip(&pids) {
            let st = a.inspect(c, "{{.State.Status}} {{.State.Pid}} {{.State.Error}}");
            let logs = a.skiff(&["logs", "--tail", "3", c]).stdout;
            assert_eq!(
                st.trim(),
                format!("running {pid}"),
                "{c} after kill {k} ({logs}); agent log:\n{}",
                a.log()
            );
        }
        let off = skiff_tests::host::settled_disagreements(&a);
        assert!(off.is_empty(), "after kill {k}: {off:#?}");
        a.eventually("the log goes on", || {
            a.skiff(&["logs", &names[0]]).stdout.lines().count() > before + 2
        });
    }
    // Every log counts 1, 2, 3, … with no gap across the agent's deaths.
    for c in &names {
        let logs = a.skiff(&["logs", c]).ok().stdout;
        let got: Vec<u64> = logs.lines().filter_map(|l| l.trim().parse().ok()).collect();
        let want: Vec<u64> = (1..=got.len() as u64).collect();
        assert_eq!(got, want, "{c}'s log");
    }
    let stats = a.skiff(&["stats", "--no-stream", "--format", "{{.Name}}"]).ok();
    assert_eq!(stats.stdout.lines().count(), n, "{}", stats.stdout);
    let mut stop = vec!["stop", "-t", "0"];
    stop.extend(names.iter().map(String::as_str));
    a.skiff(&stop).ok();
    for pid in &pids {
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    }
    a.finish();
}

/// A supervisor killed with SIGKILL while the agent runs: the agent sees
/// its connection drop, kills the container with its cgroup, records the
/// exit, and once the container is removed nothing of it is left (its
/// socket included).
#[test]
fn a_supervisor_killed_under_a_running_agent_takes_its_container_and_leaves_nothing() {
    let a = Agent::start();
    let before = Snapshot::quiet(&a);
    a.skiff(&[
        "run",
        "-d",
        "--name",
        "lost",
        "-p",
        "127.0.0.1::80",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
    ])
    .ok();
    let pid = a.inspect("lost", "{{.State.Pid}}");
    let sups = host::procs_under(&format!("skiff-shim --socket {}/", a.root.display()), None);
    assert_eq!(sups.len(), 1, "{sups:?}");
    host::kill9(&sups);
    a.eventually("the container to be recorded as exited", || {
        a.inspect("lost", "{{.State.Status}} {{.State.ExitCode}}") == "exited 255"
    });
    // Killed with its cgroup: gone, or a zombie its new parent reaps.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let state = status.lines().find(|l| l.starts_with("State:")).unwrap_or("gone");
    let ppid = status.lines().find(|l| l.starts_with("PPid:")).unwrap_or("");
    assert!(
        !host::alive(&pid) || state.contains("zombie"),
        "the container's process {pid} outlived its supervisor: {state} {ppid}"
    );
    a.skiff(&["rm", "lost"]).ok();
    let diff = Snapshot::settled_diff(&a, &before);
    assert!(diff.is_empty(), "{}", diff.join("\n"));
    a.finish();
}

/// The same for an exec's monitor: killed with SIGKILL, its process goes
/// (the agent sees the exec end) and nothing of it is left once the
/// container is removed.
#[test]
fn an_exec_monitor_killed_with_sigkill_leaves_nothing_behind() {
    let a = Agent::start();
    let before = Snapshot::quiet(&a);
    a.skiff(&["run", "-d", "--name", "host", "busybox", "sleep", "300"])
        .ok();
    a.skiff(&["exec", "-d", "host", "sleep", "301"]).ok();
    let needle = format!("skiff-shim --socket {}/run/s/x", a.root.display());
    let mut mons = Default::default();
    a.eventually("the exec's monitor", || {
        mons = host::procs_under(&needle, None);
        mons.len() == 1
    });
    host::kill9(&mons);
    a.skiff(&["rm", "-f", "host"]).ok();
    let diff = Snapshot::settled_diff(&a, &before);
    assert!(diff.is_empty(), "{}", diff.join("\n"));
    a.finish();
}
