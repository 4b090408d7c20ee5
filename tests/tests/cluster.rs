//! The cluster, end to end: real controller, real agents in their own
//! network and mount namespaces, real tokens and certificates, driven by
//! the `skiff` CLI against the controller.

use std::time::Duration;

use skiff_tests::cluster::Cluster;
use skiff_tests::{bin_dir, busybox_tar};

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("skiff-clt-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn agents_join_with_the_token_and_wrong_or_rotated_tokens_are_refused() {
    let c = Cluster::up(2);
    let ls = c.skiff(&["node", "ls"]).ok();
    let lines: Vec<&str> = ls.out().lines().collect();
    assert!(lines[0].starts_with("ID") && lines[0].contains("HOSTNAME") && lines[0].contains("HEARTBEAT"));
    assert_eq!(lines.len(), 3, "{}", ls.stdout);
    for (line, host) in lines[1..].iter().zip(["h1", "h2"]) {
        assert!(
            line.contains(host) && line.contains("Ready") && line.contains("Active"),
            "{line}"
        );
    }
    // What the agent reported: its address on the LAN, CPUs, labels.
    assert_eq!(
        c.node("h2", "{{index .Description.Addresses 0}}"),
        format!("{}.12", c.net)
    );
    assert_eq!(c.node("h1", "{{.Description.Engine.Labels.host}}"), "h1");
    let cpus: i64 = c.node("h1", "{{.Description.Resources.NanoCPUs}}").parse().unwrap();
    assert!(cpus >= 1_000_000_000);

    // A token with the right CA but a made-up secret.
    let good = c
        .skiff(&["cluster", "join-token", "agent", "-q"])
        .ok()
        .out()
        .to_string();
    let (prefix, _) = good.rsplit_once('-').unwrap();
    let forged = format!("{prefix}-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    let r = c.script(&["add-host", "3", &forged]);
    assert_ne!(r.code, 0);
    assert!(c.log().contains("a valid join token is necessary"), "{}", c.log());
    // A token pinning another CA: the agent refuses the controller.
    let other_ca = format!("SKTKN-1-{}-{}", "ab".repeat(32), "x".repeat(32));
    assert_ne!(c.script(&["add-host", "4", &other_ca]).code, 0);
    assert!(c.log().contains("does not match the join token"), "{}", c.log());

    // Rotation: the old token stops working, the new one joins.
    let rotated = c.skiff(&["cluster", "join-token", "--rotate", "agent"]).ok();
    assert!(rotated.stdout.contains("Successfully rotated agent join token"));
    let new = c
        .skiff(&["cluster", "join-token", "agent", "-q"])
        .ok()
        .out()
        .to_string();
    assert_ne!(new, good);
    assert_ne!(c.script(&["add-host", "5", &good]).code, 0);
    c.script(&["add-host", "6", &new]).ok();
    c.eventually(10, "h6 ready", || c.node("h6", "{{.Status.State}}") == "ready");
    assert_eq!(c.skiff(&["node", "ls", "-q"]).ok().out().lines().count(), 3);

    // An agent token is not a login; an admin token used by an agent is refused.
    let out = tmp("login-agent");
    let r = c.skiff(&[
        "cluster",
        "login",
        &new,
        &c.controller(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("agent join token"), "{}", r.stderr);
    c.finish();
}

#[test]
fn only_the_clusters_certificates_get_in_and_each_only_as_its_role() {
    let c = Cluster::up(1);
    let ca = c.admin_certs().join("ca.pem");
    // A client certificate from another CA.
    let other = tmp("other-ca");
    let skiff = bin_dir().join("skiff");
    let run = |args: &[&str]| {
        let r: skiff_tests::Run = std::process::Command::new(&skiff).args(args).output().unwrap().into();
        r
    };
    run(&["certs", "ca", "--out", other.join("ca").to_str().unwrap()]).ok();
    run(&[
        "certs",
        "client",
        "--ca",
        other.join("ca").to_str().unwrap(),
        "--out",
        other.join("cli").to_str().unwrap(),
        "--cn",
        "admin",
    ])
    .ok();
    std::fs::copy(&ca, other.join("cli/ca.pem")).unwrap();
    let r = c.skiff_with(&other.join("cli"), &["node", "ls"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("UnknownCA"), "{}", r.stderr);

    // The agent's own certificate is not a client certificate.
    let agent = c.agent_data(1).join("cluster");
    let r = c.skiff_with(&agent, &["node", "ls"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("agent's certificate cannot be used"), "{}", r.stderr);

    // No certificate at all: only joining is open.
    let r = std::process::Command::new("curl")
        .args(["-s", "--cacert", ca.to_str().unwrap()])
        .arg(format!("https://{}/v1.41/nodes", c.controller()))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&r.stdout).contains("a client certificate is required"));

    // A read-only login lists but does not change.
    let ro = tmp("ro");
    let r = c.login("readonly", &ro);
    assert!(r.stdout.contains("(readonly)"), "{}", r.stdout);
    assert!(c.skiff_with(&ro, &["node", "ls"]).ok().stdout.contains("h1"));
    let r = c.skiff_with(&ro, &["node", "drain", "h1"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("read-only"), "{}", r.stderr);
    let r = c.skiff_with(&ro, &["cluster", "join-token", "agent"]);
    assert_eq!(r.code, 1);

    // An admin login works like the init certificate.
    let adm = tmp("admin");
    c.login("admin", &adm);
    c.skiff_with(&adm, &["node", "update", "--label-add", "zone=a", "h1"])
        .ok();

    // A removed node's certificate is refused from then on, and the agent
    // loses its session.
    let id = c.node("h1", "{{.ID}}");
    let r = c.skiff(&["node", "rm", "h1"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("is not down"), "{}", r.stderr);
    c.skiff(&["node", "rm", "--force", "h1"]).ok();
    assert_eq!(c.skiff(&["node", "ls", "-q"]).ok().out(), "");
    let r = c.skiff_with(&agent, &["node", "ls"]);
    assert_ne!(r.code, 0);
    assert!(!r.stderr.contains("agent's certificate cannot be used"), "{}", r.stderr);
    let r = c.skiff(&["node", "inspect", &id]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("not found"));
    for d in [other, ro, adm] {
        let _ = std::fs::remove_dir_all(d);
    }
    c.finish();
}

#[test]
fn nodes_are_labelled_drained_and_seen_going_down_and_coming_back() {
    let c = Cluster::up(2);
    c.skiff(&[
        "node",
        "update",
        "--label-add",
        "zone=a",
        "--label-add",
        "ssd=yes",
        "h1",
    ])
    .ok();
    c.skiff(&["node", "update", "--label-rm", "ssd", "h1"]).ok();
    assert_eq!(c.node("h1", "{{.Spec.Labels}}"), "map[zone:a]");
    c.skiff(&["node", "drain", "h2"]).ok();
    assert_eq!(c.node("h2", "{{.Spec.Availability}}"), "drain");
    assert!(c.skiff(&["node", "ls"]).ok().stdout.contains("Drain"));
    c.skiff(&["node", "activate", "h2"]).ok();
    assert_eq!(c.node("h2", "{{.Spec.Availability}}"), "active");
    let r = c.skiff(&["node", "update", "--availability", "sideways", "h2"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("invalid availability"));
    // A key no node ID can begin with (IDs are [a-z0-9]): "h9" once did.
    let r = c.skiff(&["node", "inspect", "no-such-node"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("node no-such-node not found"), "{}", r.stderr);

    // An agent that stops heartbeating is down after the timeout (3 s here).
    c.script(&["stop-agent", "2"]).ok();
    c.eventually(10, "h2 down", || c.node("h2", "{{.Status.State}}") == "down");
    c.script(&["start-agent", "2"]).ok();
    c.eventually(15, "h2 ready again", || c.node("h2", "{{.Status.State}}") == "ready");
    c.finish();
}

#[test]
fn the_controller_keeps_its_state_across_restarts_and_agents_come_back() {
    let c = Cluster::up(2);
    c.skiff(&["node", "update", "--label-add", "zone=b", "h2"]).ok();
    c.skiff_on(1, &["import", busybox_tar().to_str().unwrap(), "busybox"])
        .ok();
    c.skiff_on(1, &["run", "-d", "--name", "keep", "busybox", "sleep", "300"])
        .ok();
    c.script(&["stop-controller"]).ok();
    // Agents without a controller keep their containers running.
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(
        c.skiff_on(1, &["inspect", "-f", "{{.State.Running}}", "keep"])
            .ok()
            .out(),
        "true"
    );
    c.script(&["start-controller"]).ok();
    assert_eq!(c.node("h2", "{{.Spec.Labels.zone}}"), "b");
    c.eventually(20, "both agents back", || {
        c.skiff(&["node", "ls", "--format", "{{.Status.State}}"]).stdout == "ready\nready\n"
    });
    c.eventually(10, "h1 reports its container", || {
        c.node("h1", "{{.Containers}}") == "1"
    });
    c.finish();
}

#[test]
fn node_flag_runs_any_command_on_that_host_through_the_controller() {
    let c = Cluster::up(2);
    // Without a registry, an import through the controller reaches every node.
    let tar = busybox_tar();
    let id = c
        .skiff(&["import", tar.to_str().unwrap(), "busybox"])
        .ok()
        .out()
        .to_string();
    assert!(id.starts_with("sha256:"), "{id}");
    for i in [1, 2] {
        let images = c.skiff_on(i, &["images", "busybox"]).ok();
        assert_eq!(images.out().lines().count(), 2, "h{i}: {}", images.stdout);
    }
    c.skiff(&[
        "--node",
        "h2",
        "run",
        "-d",
        "--name",
        "web",
        "busybox",
        "sh",
        "-c",
        "echo started; exec sleep 300",
    ])
    .ok();
    assert!(c.skiff(&["--node", "h2", "ps"]).ok().stdout.contains("web"));
    assert!(!c.skiff(&["--node", "h1", "ps", "-a"]).ok().stdout.contains("web"));
    // It really is on h2: its agent socket says so.
    assert!(c.skiff_on(2, &["ps"]).ok().stdout.contains("web"));
    c.eventually(10, "logs", || {
        c.skiff(&["--node", "h2", "logs", "web"]).stdout.contains("started")
    });
    // exec streams both ways and keeps the exit code.
    let r = c.skiff(&[
        "--node",
        "h2",
        "exec",
        "web",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!((r.code, r.stdout.as_str(), r.stderr.as_str()), (3, "out\n", "err\n"));
    let r = c
        .skiff(&["--node", "h2", "run", "--rm", "busybox", "echo", "attached"])
        .ok();
    assert_eq!(r.out(), "attached");
    // The node by ID works as well as by hostname; an unknown one is an error.
    let node_id = c.node("h2", "{{.ID}}");
    assert!(c.skiff(&["--node", &node_id, "ps", "-q"]).ok().out().len() >= 12);
    let r = c.skiff(&["--node", "nope", "ps"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("node nope not found"), "{}", r.stderr);
    c.skiff(&["--node", "h2", "rm", "-f", "web"]).ok();
    c.finish();
}

#[test]
fn run_against_the_controller_places_containers_by_spread_binpack_constraints_and_reservations() {
    let c = Cluster::up(3);
    c.import_busybox();
    c.skiff(&["node", "update", "--label-add", "zone=a", "h3"]).ok();
    // Spread: six containers land two on each host.
    for i in 1..=6 {
        c.skiff(&["run", "-d", "--name", &format!("s{i}"), "busybox", "sleep", "300"])
            .ok();
    }
    let placed = c.skiff(&["ps", "--format", "{{.Node}}"]).ok();
    for h in ["h1", "h2", "h3"] {
        assert_eq!(
            placed.stdout.lines().filter(|l| *l == h).count(),
            2,
            "{}",
            placed.stdout
        );
    }
    let ps = c.skiff(&["ps"]).ok();
    assert!(ps.stdout.lines().next().unwrap().ends_with("NODE"), "{}", ps.stdout);
    // Constraints: by label, by hostname (negated).
    c.skiff(&[
        "run",
        "-d",
        "--name",
        "za",
        "--constraint",
        "node.labels.zone==a",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    c.skiff(&[
        "run",
        "-d",
        "--name",
        "not1",
        "--memory",
        "256m",
        "--constraint",
        "node.hostname!=h1",
        "--constraint",
        "node.hostname!=h3",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    let on = |name: &str| {
        c.skiff(&["ps", "--filter", &format!("name={name}"), "--format", "{{.Node}}"])
            .ok()
            .out()
            .to_string()
    };
    assert_eq!(on("za"), "h3");
    assert_eq!(on("not1"), "h2");
    // Binpack: onto the fullest node that fits (h2 has memory reserved).
    c.skiff(&[
        "run",
        "-d",
        "--name",
        "bp",
        "--placement",
        "binpack",
        "--memory",
        "64m",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    assert_eq!(on("bp"), "h2");
    // Reservations no host can hold, and constraints no host meets.
    let r = c.skiff(&["run", "-d", "--cpus", "64", "busybox", "true"]);
    assert_eq!(r.code, 125);
    assert!(
        r.stderr.contains("no suitable node (insufficient CPU on 3 nodes)"),
        "{}",
        r.stderr
    );
    let r = c.skiff(&["run", "-d", "--constraint", "node.labels.zone==b", "busybox", "true"]);
    assert_eq!(r.code, 125);
    assert!(
        r.stderr.contains("scheduling constraints not satisfied on 3 nodes"),
        "{}",
        r.stderr
    );
    // Drained nodes take nothing new.
    c.skiff(&["node", "drain", "h1", "h2"]).ok();
    c.skiff(&["run", "-d", "--name", "d1", "busybox", "sleep", "300"]).ok();
    assert_eq!(on("d1"), "h3");
    // Names are unique in the cluster.
    let r = c.skiff(&["run", "-d", "--name", "s1", "busybox", "true"]);
    assert_eq!(r.code, 125);
    assert!(r.stderr.contains("already in use"), "{}", r.stderr);
    // Per-container commands find the container's host by name.
    let r = c.skiff(&["exec", "s1", "sh", "-c", "echo in; exit 4"]);
    assert_eq!((r.code, r.out()), (4, "in"));
    assert_eq!(
        c.skiff(&["inspect", "-f", "{{.State.Running}}", "s2"]).ok().out(),
        "true"
    );
    let r = c.skiff(&["run", "--rm", "busybox", "echo", "attached"]).ok();
    assert_eq!(r.out(), "attached");
    c.skiff(&["rm", "-f", "s1", "s2", "s3", "s4", "s5", "s6", "za", "not1", "bp", "d1"])
        .ok();
    assert_eq!(c.skiff(&["ps", "-aq"]).ok().out(), "");
    let r = c.skiff(&["logs", "s1"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("No such container: s1"), "{}", r.stderr);
    c.finish();
}

#[test]
fn stats_disk_usage_and_info_through_the_controller_cover_every_host() {
    let c = Cluster::up(3);
    c.import_busybox();
    // One import, one image ID on every node.
    let ids: Vec<String> = ["h1", "h2", "h3"]
        .iter()
        .map(|h| c.skiff(&["--node", h, "images", "-q"]).ok().out().to_string())
        .collect();
    assert!(ids[0].len() == 12 && ids.iter().all(|i| *i == ids[0]), "{ids:?}");
    for i in 1..=3 {
        c.skiff(&["run", "-d", "--name", &format!("u{i}"), "busybox", "sleep", "300"])
            .ok();
    }
    let r = c
        .skiff(&["stats", "--no-stream", "--format", "{{.Name}} {{.Node}} {{.PIDs}}"])
        .ok();
    let mut lines: Vec<&str> = r.stdout.lines().collect();
    lines.sort();
    let nodes: Vec<&str> = lines.iter().map(|l| l.split(' ').nth(1).unwrap()).collect();
    let mut sorted = nodes.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!((lines.len(), sorted), (3, vec!["h1", "h2", "h3"]), "{}", r.stdout);
    assert!(
        lines.iter().all(|l| l.ends_with(" 1")),
        "one process each: {}",
        r.stdout
    );
    let r = c.skiff(&["stats", "--no-stream"]).ok();
    assert!(r.stdout.lines().next().unwrap().ends_with("NODE"), "{}", r.stdout);
    let r = c.skiff(&["--node", nodes[0], "stats", "--no-stream"]).ok();
    assert_eq!(r.stdout.lines().count(), 2, "one host's container: {}", r.stdout);
    assert!(!r.stdout.contains("NODE"), "{}", r.stdout);

    let r = c.skiff(&["system", "df"]).ok();
    let row = |kind: &str| -> Vec<String> {
        let line = r.stdout.lines().find(|l| l.starts_with(kind)).expect("row");
        line.split("   ")
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(String::from)
            .collect()
    };
    assert_eq!(row("Images")[1..3], ["3", "3"], "{}", r.stdout);
    assert_eq!(row("Containers")[1..3], ["3", "3"], "{}", r.stdout);

    let r = c.skiff(&["info"]).ok();
    let cpus: usize = std::thread::available_parallelism().unwrap().get();
    for want in [
        "Containers: 3".to_string(),
        "Running: 3".into(),
        "Nodes: 3 (3 ready)".into(),
        format!("CPUs: {}", 3 * cpus),
        "h2: Ready, Active, 1 containers".into(),
    ] {
        assert!(r.stdout.contains(&want), "{want}: {}", r.stdout);
    }
    // Prometheus metrics, scraped over mutual TLS with a client certificate.
    let text = c.get("/metrics");
    for want in [
        "skiff_nodes{state=\"ready\"} 3.0",
        "skiff_node_containers{node=\"h2\",id=",
        "skiff_node_heartbeat_age_seconds{node=\"h1\"",
        "# TYPE skiff_events counter",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
    // The dashboard page reads the same API from the browser.
    let page = c.get("/dashboard");
    assert!(
        page.contains("<title>skiff cluster</title>") && page.contains("/events?since="),
        "{page}"
    );
    // A browser that holds the certificate cannot be made to change
    // anything by another site's page.
    let certs = c.admin_certs();
    let out = std::process::Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(certs.join("ca.pem"))
        .arg("--cert")
        .arg(certs.join("cert.pem"))
        .arg("--key")
        .arg(certs.join("key.pem"))
        .args([
            "-X",
            "POST",
            "-H",
            "Origin: https://elsewhere.example",
            "-H",
            "Content-Type: text/plain",
        ])
        .args(["--data", "{\"Image\":\"busybox\"}"])
        .arg(format!("https://{}/containers/create", c.controller()))
        .output()
        .expect("curl");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "403",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    c.skiff(&["rm", "-f", "u1", "u2", "u3"]).ok();
    c.finish();
}

/// Where a service's running tasks are: one node name per running task.
fn running_tasks(c: &Cluster, service: &str) -> Vec<String> {
    let ps = c.skiff(&["service", "ps", service]).ok();
    let mut nodes: Vec<String> = ps
        .stdout
        .lines()
        .skip(1)
        .filter(|l| l.contains("Running") && !l.contains("Shutdown"))
        .filter(|l| l.trim_end().ends_with("Running"))
        .filter_map(|l| l.split_whitespace().nth(3).map(String::from))
        .collect();
    nodes.sort();
    nodes
}

#[test]
fn services_keep_n_copies_through_scaling_host_failure_return_and_drain() {
    let c = Cluster::up(3);
    c.import_busybox();
    // Uneven load: h1 runs two plain containers. Replicas of one service
    // still go to different nodes first (fewest tasks of the service, then
    // fewest containers), also when placed in one pass.
    for name in ["bg1", "bg2"] {
        c.skiff_on(1, &["run", "-d", "--name", name, "busybox", "sleep", "3000"])
            .ok();
    }
    c.eventually(10, "h1's containers reported", || {
        c.skiff(&["ps", "-q"]).stdout.lines().count() == 2
    });
    let three = ["service", "create", "--replicas", "3", "busybox", "sleep", "3000"];
    c.skiff(&[&three[..2], &["--name", "spread"], &three[2..]].concat())
        .ok();
    c.eventually(15, "3 tasks of spread, one per host", || {
        running_tasks(&c, "spread") == ["h1", "h2", "h3"]
    });
    c.skiff_on(1, &["rm", "-f", "bg1", "bg2"]).ok();
    c.remove_service("spread");
    // A placement preference spreads over a label's values first: zone b
    // (one node) takes as many tasks as zone a (two nodes).
    for (h, z) in [("h1", "a"), ("h2", "a"), ("h3", "b")] {
        c.skiff(&["node", "update", "--label-add", &format!("zone={z}"), h])
            .ok();
    }
    let pref = ["--placement-pref", "spread=node.labels.zone"];
    c.skiff(
        &[
            &three[..2],
            &["--name", "zoned"],
            &pref,
            &["--replicas", "4"],
            &three[4..],
        ]
        .concat(),
    )
    .ok();
    c.eventually(15, "2 tasks in each zone", || {
        running_tasks(&c, "zoned") == ["h1", "h2", "h3", "h3"]
    });
    let r = c.skiff(
        &[
            &three[..2],
            &["--name", "bad", "--placement-pref", "spread=rack"],
            &three[4..],
        ]
        .concat(),
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("invalid placement preference"), "{}", r.stderr);
    // A placement change rolls the tasks over to where it now says.
    c.skiff(&["service", "update", "--constraint-add", "node.labels.zone==a", "zoned"])
        .ok();
    c.eventually(30, "every task in zone a", || {
        running_tasks(&c, "zoned") == ["h1", "h1", "h2", "h2"]
    });
    let r = c.skiff(&["service", "update", "--placement-pref-add", "spread=rack", "zoned"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("invalid placement preference"), "{}", r.stderr);
    c.remove_service("zoned");
    for h in ["h1", "h2", "h3"] {
        c.skiff(&["node", "update", "--label-rm", "zone", h]).ok();
    }
    // On an empty cluster too.
    c.skiff(&[&three[..2], &["--name", "web"], &three[2..]].concat()).ok();
    c.eventually(15, "3 tasks, one per host", || {
        running_tasks(&c, "web") == ["h1", "h2", "h3"]
    });
    let ls = c.skiff(&["service", "ls"]).ok();
    assert!(ls.stdout.contains("web") && ls.stdout.contains("3/3"), "{}", ls.stdout);
    // The tasks are ordinary containers, named after the service.
    let names = c.skiff(&["ps", "--format", "{{.Names}}"]).ok();
    assert_eq!(names.stdout.lines().filter(|n| n.starts_with("web.")).count(), 3);
    c.skiff(&["service", "scale", "web=5"]).ok();
    c.eventually(15, "5 tasks", || running_tasks(&c, "web").len() == 5);

    // h2 stops heartbeating (its containers keep running, unseen): after
    // the timeout its tasks run elsewhere.
    let on_h2 = running_tasks(&c, "web").iter().filter(|n| *n == "h2").count();
    assert!(on_h2 >= 1);
    c.script(&["stop-agent", "2"]).ok();
    c.eventually(20, "tasks moved off h2", || {
        let r = running_tasks(&c, "web");
        r.len() == 5 && !r.contains(&"h2".to_string())
    });
    // It comes back: the copies it still runs are removed, five remain.
    c.script(&["start-agent", "2"]).ok();
    c.eventually(20, "surplus copies on h2 removed", || {
        c.skiff_on(2, &["ps", "-q"]).stdout.trim().is_empty()
            && c.skiff(&["ps", "--format", "{{.Names}}"]).stdout.lines().count() == 5
    });

    // Draining a node moves its tasks off it.
    c.skiff(&["node", "drain", "h1"]).ok();
    c.eventually(20, "tasks moved off h1", || {
        let r = running_tasks(&c, "web");
        r.len() == 5 && !r.contains(&"h1".to_string())
    });
    c.eventually(10, "h1 empty", || c.skiff_on(1, &["ps", "-q"]).stdout.trim().is_empty());

    // A task's container that is removed by hand comes back.
    let victim = c
        .skiff_on(3, &["ps", "-q"])
        .ok()
        .out()
        .lines()
        .next()
        .unwrap()
        .to_string();
    c.skiff_on(3, &["rm", "-f", &victim]).ok();
    c.eventually(30, "5 copies again", || running_tasks(&c, "web").len() == 5);

    let r = c.skiff(&["service", "create", "--name", "web", "busybox", "true"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
    c.remove_service("web");
    assert_eq!(c.skiff(&["service", "ls", "-q"]).ok().out(), "");
    c.finish();
}

#[test]
fn a_host_that_loses_power_has_its_tasks_replaced_and_comes_back_clean() {
    let c = Cluster::up(3);
    c.import_busybox();
    c.skiff(&[
        "service",
        "create",
        "--name",
        "api",
        "--replicas",
        "4",
        "busybox",
        "sleep",
        "3000",
    ])
    .ok();
    c.eventually(15, "4 tasks", || running_tasks(&c, "api").len() == 4);
    let on_h1 = running_tasks(&c, "api").iter().filter(|n| *n == "h1").count();
    assert!(on_h1 >= 1);
    // Everything on h1 dies at once: agent, supervisors, containers, mounts.
    c.script(&["kill-host", "1"]).ok();
    c.eventually(20, "h1's tasks run elsewhere", || {
        let r = running_tasks(&c, "api");
        r.len() == 4 && !r.contains(&"h1".to_string())
    });
    let r = c
        .skiff(&["node", "ls", "--format", "{{.Description.Hostname}} {{.Status.State}}"])
        .ok();
    assert!(r.stdout.contains("h1 down"), "{}", r.stdout);
    // It boots again: its agent finds its containers dead, and what the
    // service no longer needs there is cleared away; four copies remain.
    c.script(&["boot-host", "1"]).ok();
    c.eventually(20, "h1 ready and holding no stale task", || {
        c.skiff(&["node", "ls", "--format", "{{.Description.Hostname}} {{.Status.State}}"])
            .stdout
            .contains("h1 ready")
            && c.skiff_on(1, &["ps", "-aq"]).stdout.trim().is_empty()
    });
    assert_eq!(running_tasks(&c, "api").len(), 4);
    assert_eq!(c.skiff(&["ps", "-q"]).ok().stdout.lines().count(), 4);
    // The host works as before.
    let r = c
        .skiff(&["--node", "h1", "run", "--rm", "busybox", "echo", "back"])
        .ok();
    assert_eq!(r.out(), "back");
    c.remove_service("api");
    c.finish();
}

#[test]
fn a_published_host_port_is_held_on_its_node_by_placement_and_services() {
    let c = Cluster::up(3);
    c.import_busybox();
    // Binpack would stack them; the host port sends each to another node.
    for i in 1..=3 {
        c.skiff(&[
            "run",
            "-d",
            "--name",
            &format!("p{i}"),
            "--placement",
            "binpack",
            "-p",
            "8080:80",
            "busybox",
            "sleep",
            "300",
        ])
        .ok();
    }
    let mut nodes: Vec<String> = c
        .skiff(&["ps", "--format", "{{.Node}}"])
        .ok()
        .stdout
        .lines()
        .map(String::from)
        .collect();
    nodes.sort();
    assert_eq!(nodes, ["h1", "h2", "h3"]);
    let r = c.skiff(&["run", "-d", "-p", "8080:80", "busybox", "true"]);
    assert_eq!(r.code, 125);
    assert!(
        r.stderr
            .contains("no suitable node (host port already in use on 3 nodes)"),
        "{}",
        r.stderr
    );
    // Another protocol, or a port the engine picks, still fits.
    c.skiff(&[
        "run",
        "-d",
        "--name",
        "udp",
        "-p",
        "8080:80/udp",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    c.skiff(&["run", "-d", "--name", "any", "-p", "80", "busybox", "sleep", "300"])
        .ok();
    c.skiff(&["rm", "-f", "p1", "p2", "p3", "udp", "any"]).ok();
    // A service asking for more copies than nodes: the rest wait, and say why.
    c.skiff(&[
        "service",
        "create",
        "--name",
        "edge",
        "--replicas",
        "4",
        "-p",
        "9090:80",
        "busybox",
        "sleep",
        "3000",
    ])
    .ok();
    c.eventually(15, "3 copies, one per node, one pending", || {
        running_tasks(&c, "edge") == ["h1", "h2", "h3"]
            && c.skiff(&["service", "ps", "edge"]).stdout.lines().any(|l| {
                l.contains("edge.")
                    && l.contains("Pending")
                    && l.ends_with("\"no suitable node (host port already in use on 3 nodes)\"")
            })
    });
    let ls = c.skiff(&["service", "ls"]).ok();
    assert!(ls.stdout.contains("3/4"), "{}", ls.stdout);
    c.skiff(&["service", "scale", "edge=3"]).ok();
    c.eventually(10, "nothing pending", || {
        !c.skiff(&["service", "ps", "edge"]).stdout.contains("Pending")
    });
    c.remove_service("edge");
    c.finish();
}

#[test]
fn certificates_are_renewed_before_they_expire_and_the_renewed_ones_are_used() {
    // Certificates that last 30 s: nodes renew theirs at two thirds.
    let c = Cluster::up_with(1, &[("SKIFF_CLUSTER_CERT_EXPIRY", "30s")]);
    let start = std::time::Instant::now();
    let node_cert = c.dir.join("h1/data/cluster/cert.pem");
    let admin_cert = c.admin_certs().join("cert.pem");
    let ctl_cert = c.dir.join("ctl/peer/cert.pem");
    let (node0, admin0) = (std::fs::read(&node_cert).unwrap(), std::fs::read(&admin_cert).unwrap());
    let ctl0 = std::fs::read(&ctl_cert).unwrap();
    c.eventually(40, "the node renewed its certificate", || {
        std::fs::read(&node_cert).unwrap() != node0
    });
    // The controller renews its own (it serves TLS with it).
    c.eventually(10, "the controller renewed its certificate", || {
        std::fs::read(&ctl_cert).unwrap() != ctl0
    });
    // A client renews its own.
    let r = c.skiff(&["cluster", "renew"]).ok();
    assert!(r.stdout.contains("renewed: valid until"), "{}", r.stdout);
    assert_ne!(std::fs::read(&admin_cert).unwrap(), admin0);
    // Past the first certificates' end, the renewed ones get in: the
    // admin's, and the node's when its agent reconnects.
    std::thread::sleep(Duration::from_secs(35).saturating_sub(start.elapsed()));
    c.script(&["stop-agent", "1"]).ok();
    c.script(&["start-agent", "1"]).ok();
    c.eventually(10, "h1 ready again", || c.node("h1", "{{.Status.State}}") == "ready");
    assert_eq!(c.skiff(&["--node", "h1", "ps", "-q"]).ok().out(), "");
    let log = std::fs::read_to_string(c.dir.join("h1/agent.log")).unwrap();
    let renewals = log.matches("node certificate renewed").count();
    assert!((1..=4).contains(&renewals), "renewed every 20 s or so: {log}");
    // Past its first certificate's end, the controller still gets in
    // (the CLI above checked its server certificate) and it renewed once
    // or twice, not in a loop.
    let log = std::fs::read_to_string(c.dir.join("controller.log")).unwrap();
    let renewals = log.matches("controller certificate renewed").count();
    assert!(
        (1..=3).contains(&renewals),
        "controller renewed every 20 s or so: {log}"
    );
    c.finish();
}

#[test]
fn service_updates_roll_tasks_over_to_the_new_spec_one_at_a_time() {
    let c = Cluster::up(3);
    c.import_busybox();
    c.skiff(&[
        "service",
        "create",
        "--name",
        "roll",
        "--replicas",
        "3",
        "busybox",
        "sleep",
        "3000",
    ])
    .ok();
    c.eventually(15, "3 tasks", || running_tasks(&c, "roll").len() == 3);
    // A tag made through the controller is on every node.
    c.skiff(&["tag", "busybox", "busybox:v2"]).ok();
    c.skiff(&[
        "service",
        "update",
        "--image",
        "busybox:v2",
        "--update-parallelism",
        "1",
        "--update-delay",
        "1s",
        "roll",
    ])
    .ok();
    let images = || -> Vec<String> {
        let mut v: Vec<String> = c
            .skiff(&["ps", "--format", "{{.Image}}"])
            .stdout
            .lines()
            .map(String::from)
            .collect();
        v.sort();
        v
    };
    // One task at a time: never fewer than two containers running while
    // it rolls (asked of the nodes themselves, not of the controller's
    // last reports).
    let mut fewest = 3;
    c.eventually(40, "every task on busybox:v2", || {
        let live = c.skiff(&["ps", "-q", "--filter", "name=roll."]).stdout.lines().count();
        fewest = fewest.min(live);
        images() == ["busybox:v2"; 3] && running_tasks(&c, "roll").len() == 3
    });
    assert!(fewest >= 2, "{fewest} running at the worst moment");
    assert_eq!(
        c.skiff(&["service", "inspect", "-f", "{{.Version}} {{.Updating}}", "roll"])
            .ok()
            .out(),
        "1 false"
    );
    // Environment changes and forced updates roll too.
    let ids = || c.skiff(&["service", "ps", "-q", "roll"]).ok().stdout;
    let before = ids();
    c.skiff(&[
        "service",
        "update",
        "--env-add",
        "MODE=fast",
        "--update-parallelism",
        "3",
        "roll",
    ])
    .ok();
    c.eventually(30, "every task has MODE=fast", || {
        let names = c.skiff(&["ps", "-q"]).stdout;
        names.lines().count() == 3
            && names.lines().all(|id| {
                c.skiff(&["inspect", "-f", "{{.Config.Env}}", id])
                    .stdout
                    .contains("MODE=fast")
            })
    });
    assert!(ids().lines().all(|id| !before.contains(id)), "new tasks");
    c.skiff(&["service", "update", "--force", "roll"]).ok();
    c.eventually(30, "forced: version 3, done", || {
        c.skiff(&["service", "inspect", "-f", "{{.Version}} {{.Updating}}", "roll"])
            .stdout
            .trim()
            == "3 false"
            && running_tasks(&c, "roll").len() == 3
    });
    c.remove_service("roll");
    c.finish();
}

#[test]
fn one_events_stream_carries_every_hosts_events_and_keeps_them_across_controller_restarts() {
    let c = Cluster::up(3);
    c.import_busybox();
    for i in 1..=3 {
        c.skiff(&[
            "--node",
            &format!("h{i}"),
            "run",
            "-d",
            "--name",
            &format!("ev{i}"),
            "busybox",
            "sleep",
            "300",
        ])
        .ok();
    }
    let starts = || {
        c.skiff(&[
            "events",
            "--since",
            "5m",
            "--until",
            "0s",
            "--filter",
            "event=start",
            "--format",
            "{{.node.Name}} {{.Actor.Attributes.name}}",
        ])
        .ok()
        .stdout
    };
    c.eventually(10, "three hosts' start events", || starts().lines().count() == 3);
    let mut got: Vec<String> = starts().lines().map(String::from).collect();
    got.sort();
    assert_eq!(got, ["h1 ev1", "h2 ev2", "h3 ev3"]);
    let r = c
        .skiff(&[
            "events",
            "--since",
            "5m",
            "--until",
            "0s",
            "--filter",
            "node=h2",
            "--filter",
            "type=container",
        ])
        .ok();
    assert!(
        r.stdout.lines().all(|l| l.contains("node=h2")) && r.stdout.contains("name=ev2"),
        "{}",
        r.stdout
    );
    // The history is the controller's own, on disk.
    c.script(&["stop-controller"]).ok();
    c.script(&["start-controller"]).ok();
    assert_eq!(starts().lines().count(), 3);
    c.finish();
}
