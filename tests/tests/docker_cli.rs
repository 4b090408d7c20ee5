//! The stock Docker client works against the agent's API.

use skiff_tests::Agent;

#[test]
fn docker_client_runs_lists_logs_and_execs() {
    let a = Agent::start();
    let r = a.docker(&["run", "--rm", "busybox", "echo", "hello"]).ok();
    assert_eq!(r.stdout, "hello\n");
    assert_eq!(a.docker(&["run", "busybox", "sh", "-c", "exit 3"]).code, 3);
    assert_eq!(a.docker(&["run", "--rm", "busybox", "nosuch"]).code, 127);
    a.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "busybox",
        "sh",
        "-c",
        "echo started; sleep 300",
    ])
    .ok();
    let ps = a.docker(&["ps"]).ok();
    assert!(ps.stdout.contains("web") && ps.stdout.contains("Up"), "{}", ps.stdout);
    a.eventually("log line", || a.docker(&["logs", "web"]).stdout == "started\n");
    let r = a.docker(&["exec", "web", "sh", "-c", "echo in exec; exit 2"]);
    assert_eq!((r.code, r.stdout.as_str()), (2, "in exec\n"));
    let r = a.in_pty(
        &format!(
            "DOCKER_HOST={} {} run -it --rm busybox sh",
            a.host(),
            skiff_tests::docker_bin().display()
        ),
        "tty; exit 6\n",
    );
    assert!(r.stdout.contains("/dev/pts/0"), "{}", r.stdout);
    assert_eq!(r.code, 6);
    let images = a.docker(&["images"]).ok();
    assert!(
        images.stdout.contains("busybox") && images.stdout.contains("latest"),
        "{}",
        images.stdout
    );
    let insp = a
        .docker(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.HostConfig.RestartPolicy.Name}}",
            "web",
        ])
        .ok();
    assert_eq!(insp.out(), "running no");
    a.docker(&["stop", "-t", "1", "web"]).ok();
    a.docker(&["rm", "web"]).ok();
    a.finish();
}

#[test]
fn docker_client_manages_networks_and_ports() {
    let a = Agent::start();
    a.docker(&["network", "create", "--subnet", "10.66.0.0/24", "dnet"])
        .ok();
    let ls = a.docker(&["network", "ls"]).ok();
    assert!(
        ls.stdout.contains("dnet") && ls.stdout.contains("bridge"),
        "{}",
        ls.stdout
    );
    a.docker(&[
        "run",
        "-d",
        "--name",
        "dweb",
        "--network",
        "dnet",
        "--network-alias",
        "svc",
        "-p",
        "8088:80",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    // As against dockerd 20.10: the port on all IPv4 and all IPv6 addresses.
    assert_eq!(
        a.docker(&["port", "dweb"]).ok().out(),
        "80/tcp -> 0.0.0.0:8088\n80/tcp -> :::8088"
    );
    let ps = a.docker(&["ps"]).ok();
    assert!(ps.stdout.contains("0.0.0.0:8088->80/tcp"), "{}", ps.stdout);
    let ip = a
        .docker(&[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            "dweb",
        ])
        .ok();
    assert_eq!(ip.out(), "10.66.0.2");
    let r = a
        .docker(&["run", "--rm", "--network", "dnet", "busybox", "nslookup", "svc"])
        .ok();
    assert!(r.stdout.contains("10.66.0.2"), "{}", r.stdout);
    a.docker(&["network", "connect", "bridge", "dweb"]).ok();
    let r = a.docker(&["exec", "dweb", "ip", "-o", "-4", "addr"]).ok();
    assert!(r.stdout.contains("eth1"), "{}", r.stdout);
    a.docker(&["network", "disconnect", "bridge", "dweb"]).ok();
    a.docker(&["rm", "-f", "dweb"]).ok();
    a.docker(&["network", "rm", "dnet"]).ok();
    a.finish();
}
