//! Crash points: the agent killed (SIGKILL, via `SKIFF_CRASH_AT`) at each
//! step of create, stop, exit, rm, import and network connect where a
//! crash could leave state half made. A new agent must start cleanly and
//! agree with the host (processes, supervisors, mounts, cgroups,
//! namespaces, veths); the operation can be repeated or undone; nothing is
//! orphaned. The start path's points are in `live_restore.rs`.

use skiff_tests::host::{self, Snapshot};
use skiff_tests::{busybox_tar, Agent, Run};

/// Run `op` on an agent that dies at `point`, then start a normal agent.
fn crash_during(a: &mut Agent, point: &str, op: &[&str]) -> Run {
    a.kill9();
    a.launch_env(&[("SKIFF_CRASH_AT", point)]);
    let r = a.skiff(op);
    assert_ne!(r.code, 0, "the agent was to die at {point}: {r:?}");
    a.eventually(&format!("the agent dead at {point}"), || {
        !host::alive(&a.agent_pid().to_string()) || is_zombie(a.agent_pid())
    });
    a.kill9();
    a.launch();
    let off = host::settled_disagreements(a);
    assert!(off.is_empty(), "after a crash at {point}: {off:#?}\n{}", a.log());
    r
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
}

/// Layer directories of the graph driver (evidence of orphaned layers).
fn layers(a: &Agent) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(a.data.join("overlay2"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn status(a: &Agent, name: &str) -> String {
    a.inspect(name, "{{.State.Status}}")
}

/// A create cut short after its layer was made: no container, no layer,
/// no record directory; the same name can be used again.
fn create(a: &mut Agent) {
    let (before, layers0) = (Snapshot::quiet(a), layers(a));
    crash_during(
        a,
        "create-layer-made",
        &["create", "--name", "half", "busybox", "sleep", "300"],
    );
    // (`--type container` and a name that is not hex: `inspect c1` would
    // also match a network or image whose random ID starts with c1.)
    let listed = a.skiff(&["inspect", "--type", "container", "half"]);
    assert_ne!(listed.code, 0, "a half-made container is listed");
    assert_eq!(layers(a), layers0, "orphaned layers");
    assert_eq!(Snapshot::settled_diff(a, &before), Vec::<String>::new());
    a.skiff(&["run", "-d", "--name", "half", "busybox", "sleep", "300"])
        .ok();
    a.skiff(&["rm", "-f", "half"]).ok();
}

/// A stop cut short after the signal (which `sleep` as PID 1 ignores):
/// still running, re-adopted, and the stop can be repeated.
fn stop(a: &mut Agent) {
    a.skiff(&["run", "-d", "--name", "s1", "busybox", "sleep", "300"]).ok();
    let pid = a.inspect("s1", "{{.State.Pid}}");
    crash_during(a, "stop-signalled", &["stop", "-t", "5", "s1"]);
    assert_eq!(
        a.inspect("s1", "{{.State.Status}} {{.State.Pid}}"),
        format!("running {pid}")
    );
    a.skiff(&["stop", "-t", "0", "s1"]).ok();
    assert!(!host::alive(&pid));
    assert_eq!(status(a, "s1"), "exited");
    a.skiff(&["rm", "s1"]).ok();
}

/// An exit recorded only halfway (torn down, record not yet written):
/// exited with its code, and it starts again.
fn exit(a: &mut Agent) {
    a.skiff(&["run", "-d", "--name", "exiter", "busybox", "sleep", "300"])
        .ok();
    let pid = a.inspect("exiter", "{{.State.Pid}}");
    crash_during(a, "exit-torn-down", &["stop", "-t", "0", "exiter"]);
    assert!(!host::alive(&pid));
    assert_eq!(
        a.inspect("exiter", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 137"
    );
    a.skiff(&["start", "exiter"]).ok();
    assert_eq!(status(a, "exiter"), "running");
    a.skiff(&["rm", "-f", "exiter"]).ok();
}

/// A removal cut short (at `point`): the container is still listed, or
/// gone entirely; `rm` can be repeated and leaves nothing.
fn rm(a: &mut Agent, point: &str) {
    let before = Snapshot::quiet(a);
    let layers0 = layers(a);
    a.skiff(&["run", "-d", "--name", "r1", "-v", "/data", "busybox", "sleep", "300"])
        .ok();
    crash_during(a, point, &["rm", "-f", "-v", "r1"]);
    if a.skiff(&["inspect", "r1"]).code == 0 {
        assert_ne!(status(a, "r1"), "running");
        a.skiff(&["rm", "-v", "r1"]).ok();
    }
    assert_eq!(layers(a), layers0, "orphaned layers after {point}");
    assert_eq!(
        Snapshot::settled_diff(a, &before),
        Vec::<String>::new(),
        "after {point}"
    );
}

/// An import cut short after its layer was extracted: no image, no layer
/// left; the import can be repeated.
fn import(a: &mut Agent) {
    let layers0 = layers(a);
    let tar = busybox_tar();
    let tar = tar.to_str().expect("path");
    crash_during(a, "import-layer-extracted", &["import", tar, "other:1"]);
    assert_ne!(a.skiff(&["image", "inspect", "other:1"]).code, 0);
    assert_eq!(layers(a), layers0, "orphaned layers");
    a.skiff(&["import", tar, "other:1"]).ok();
    a.skiff(&["run", "--rm", "other:1", "true"]).ok();
    a.skiff(&["rmi", "other:1"]).ok();
}

/// A connect cut short after the interface was plumbed: the container
/// runs, on its old networks only (the stray interface is gone); connect
/// and disconnect work again.
fn connect(a: &mut Agent) {
    a.skiff(&["network", "create", "n1"]).ok();
    a.skiff(&["run", "-d", "--name", "k1", "busybox", "sleep", "300"]).ok();
    let pid = a.inspect("k1", "{{.State.Pid}}");
    crash_during(a, "connect-plumbed", &["network", "connect", "n1", "k1"]);
    assert_eq!(
        a.inspect("k1", "{{.State.Status}} {{.State.Pid}}"),
        format!("running {pid}")
    );
    let ifaces: Vec<String> = host::links_of_pid(&pid).into_iter().collect();
    assert_eq!(ifaces, ["eth0"], "interfaces inside k1");
    let on = a.skiff(&["network", "inspect", "-f", "{{len .Containers}}", "n1"]).ok();
    assert_eq!(on.out(), "0");
    a.skiff(&["network", "connect", "n1", "k1"]).ok();
    assert_eq!(host::links_of_pid(&pid).len(), 2);
    // Its name answers on the new network (asked of the embedded DNS).
    a.skiff(&["exec", "k1", "nslookup", "k1", "127.0.0.11"]).ok();
    a.skiff(&["network", "disconnect", "n1", "k1"]).ok();
    assert_eq!(host::links_of_pid(&pid).len(), 1);
    a.skiff(&["rm", "-f", "k1"]).ok();
    a.skiff(&["network", "rm", "n1"]).ok();
}

#[test]
fn the_agent_killed_at_each_step_restarts_consistent_and_orphans_nothing() {
    let mut a = Agent::start();
    // A bystander runs throughout: every crash must leave it adopted.
    a.skiff(&["run", "-d", "--name", "bystander", "busybox", "sleep", "3600"])
        .ok();
    let pid = a.inspect("bystander", "{{.State.Pid}}");
    create(&mut a);
    stop(&mut a);
    exit(&mut a);
    rm(&mut a, "rm-torn-down");
    rm(&mut a, "rm-layer-released");
    import(&mut a);
    connect(&mut a);
    assert_eq!(
        a.inspect("bystander", "{{.State.Status}} {{.State.Pid}}"),
        format!("running {pid}")
    );
    a.skiff(&["exec", "bystander", "true"]).ok();
    a.finish();
}
