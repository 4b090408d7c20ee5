//! `ps --filter`: Docker's `volume=`, `network=`, `ancestor=`,
//! `publish=`/`expose=`, `is-task=`, `before=`/`since=`, and their errors.

use skiff_tests::Agent;

/// The sorted names `ps` lists with these flags.
fn ps(a: &Agent, flags: &[&str]) -> Vec<String> {
    let mut args = vec!["ps", "--format", "{{.Names}}"];
    for f in flags {
        args.extend(["--filter", f]);
    }
    let mut v: Vec<String> = a.skiff(&args).ok().stdout.lines().map(str::to_string).collect();
    v.sort();
    v
}

#[test]
fn ps_filters_by_volume_network_ancestor_ports_task_and_order() {
    let a = Agent::start();
    a.skiff(&["network", "create", "front"]).ok();
    let web = [
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "front",
        "-p",
        "127.0.0.1:8081:80",
        "--expose",
        "9000",
        "busybox",
        "sleep",
        "1000",
    ];
    a.skiff(&web).ok();
    a.skiff(&[
        "run",
        "-d",
        "--name",
        "db",
        "-v",
        "data:/data",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    a.skiff(&["run", "--name", "base", "busybox", "touch", "/derived"]).ok();
    a.skiff(&["commit", "base", "derived:v1"]).ok();
    a.skiff(&["run", "-d", "--name", "kid", "derived:v1", "sleep", "1000"])
        .ok();

    assert_eq!(ps(&a, &["volume=data"]), ["db"]);
    assert_eq!(ps(&a, &["volume=/data"]), ["db"]);
    assert_eq!(ps(&a, &["network=front"]), ["web"]);
    assert_eq!(ps(&a, &["network=bridge"]), ["db", "kid"]);
    let front = a.skiff(&["network", "inspect", "-f", "{{.Id}}", "front"]).ok().out()[..12].to_string();
    assert_eq!(ps(&a, &[&format!("network={front}")]), ["web"]);
    // An image's containers and those of the images built on it.
    assert_eq!(ps(&a, &["ancestor=busybox"]), ["db", "kid", "web"]);
    assert_eq!(ps(&a, &["ancestor=derived:v1"]), ["kid"]);
    assert_eq!(ps(&a, &["ancestor=nosuch"]), Vec::<String>::new());
    assert_eq!(ps(&a, &["publish=8081"]), ["web"]);
    assert_eq!(ps(&a, &["publish=8080-8090/tcp"]), ["web"]);
    assert_eq!(ps(&a, &["publish=80"]), Vec::<String>::new());
    assert_eq!(ps(&a, &["publish=8081/udp"]), Vec::<String>::new());
    assert_eq!(ps(&a, &["expose=80"]), ["web"]);
    assert_eq!(ps(&a, &["expose=9000"]), ["web"]);
    assert_eq!(ps(&a, &["is-task=false"]), ["db", "kid", "web"]);
    assert_eq!(ps(&a, &["is-task=true"]), Vec::<String>::new());
    assert_eq!(ps(&a, &["since=web"]), ["db", "kid"]);
    assert_eq!(ps(&a, &["before=db"]), ["web"]);
    assert_eq!(
        ps(&a, &["since=web", "network=bridge", "ancestor=busybox"]),
        ["db", "kid"]
    );

    for (filter, msg) in [
        ("publish=1:2", "filter for 'publish' should not contain ':': 1:2"),
        ("is-task=maybe", "invalid filter 'is-task=[maybe]'"),
        ("before=nosuch", "No such container: nosuch"),
    ] {
        let r = a.skiff(&["ps", "--filter", filter]);
        assert_ne!(r.code, 0, "{filter}: {r:?}");
        assert!(r.stderr.contains(msg), "{filter}: {r:?}");
    }
    a.finish();
}
