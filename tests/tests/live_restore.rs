//! Containers outlive the agent: SIGKILL it, start a new one, and it
//! re-adopts them with logs, stop and exit codes intact.

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
