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
