//! `system prune [-a] [--volumes] [--filter until=|label=]`: Docker's
//! confirmation and report, through skiff and the stock docker CLI.

use skiff_tests::Agent;

fn names(a: &Agent, args: &[&str]) -> Vec<String> {
    let out = a.skiff(args).ok().stdout;
    out.lines().map(str::to_string).collect()
}

fn containers(a: &Agent) -> Vec<String> {
    names(a, &["ps", "-a", "--format", "{{.Names}}"])
}

fn networks(a: &Agent) -> Vec<String> {
    names(a, &["network", "ls", "--format", "{{.Name}}"])
}

#[test]
fn system_prune_asks_then_removes_what_nothing_uses() {
    let a = Agent::start();
    a.skiff(&["network", "create", "--label", "keep=no", "spare-net"]).ok();
    a.skiff(&["network", "create", "busy-net"]).ok();
    a.skiff(&["volume", "create", "spare-vol"]).ok();
    let up = [
        "run",
        "-d",
        "--name",
        "up",
        "--network",
        "busy-net",
        "-v",
        "held-vol:/v",
        "busybox",
        "sleep",
        "1000",
    ];
    a.skiff(&up).ok();
    a.skiff(&["run", "--name", "old", "--label", "keep=no", "busybox", "true"])
        .ok();
    a.skiff(&["run", "--name", "kept", "--label", "keep=yes", "busybox", "true"])
        .ok();
    let dangling = a.skiff(&["commit", "kept"]).ok().out().to_string();
    a.skiff(&["commit", "kept", "extra:v1"]).ok();

    // Docker's question; anything but yes keeps everything.
    let r = a.skiff_stdin(&["system", "prune"], "n\n").ok();
    assert_eq!(
        r.stdout,
        "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all dangling images\n  - all dangling build cache\n\nAre you sure you want to continue? [y/N] "
    );
    assert_eq!(containers(&a).len(), 3);
    let r = a.skiff(&["system", "prune", "-f", "--volumes", "--filter", "until=1h"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(
        r.stderr.trim(),
        "ERROR: The \"until\" filter is not supported with \"--volumes\""
    );

    // Filters: only what carries the label, nothing made within the hour.
    let r = a.skiff(&["system", "prune", "-f", "--filter", "until=1h"]).ok();
    assert_eq!(r.stdout, "Total reclaimed space: 0B\n");
    let old = a.inspect("old", "{{.Id}}");
    let r = a.skiff(&["system", "prune", "-f", "--filter", "label=keep=no"]).ok();
    assert!(
        r.stdout.starts_with(&format!(
            "Deleted Containers:\n{old}\n\nDeleted Networks:\nspare-net\n\n"
        )),
        "{r:?}"
    );
    assert!(r.stdout.ends_with("Total reclaimed space: 0B\n"), "{r:?}");
    assert_eq!(containers(&a), ["kept", "up"]);

    // Without filters: stopped containers, unused networks, dangling images.
    let r = a.skiff(&["system", "prune", "-f"]).ok();
    assert!(r.stdout.contains("Deleted Containers:\n"), "{r:?}");
    assert!(
        r.stdout.contains(&format!("Deleted Images:\ndeleted: {dangling}\n")),
        "{r:?}"
    );
    assert!(r.stdout.contains("Total reclaimed space: "), "{r:?}");
    assert_eq!(containers(&a), ["up"]);
    assert!(networks(&a).contains(&"busy-net".to_string()));
    assert_ne!(a.skiff(&["image", "inspect", &dangling]).code, 0);
    a.skiff(&["image", "inspect", "extra:v1"]).ok();
    assert_eq!(names(&a, &["volume", "ls", "-q"]).len(), 2);

    // -a --volumes: unused tagged images and unused volumes too.
    let r = a.skiff(&["system", "prune", "-a", "-f", "--volumes"]).ok();
    assert!(r.stdout.contains("Deleted Volumes:\nspare-vol\n\n"), "{r:?}");
    assert!(r.stdout.contains("untagged: extra:v1\n"), "{r:?}");
    assert_eq!(names(&a, &["volume", "ls", "-q"]), ["held-vol"]);
    a.skiff(&["image", "inspect", "busybox"]).ok();

    // The stock docker CLI goes through the same prunes.
    a.skiff(&["rm", "-f", "up"]).ok();
    let r = a.docker(&["system", "prune", "-f"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("Deleted Networks:\nbusy-net\n"), "{r:?}");
    assert!(!networks(&a).contains(&"busy-net".to_string()));
    a.finish();
}
