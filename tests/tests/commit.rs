//! `diff` and `commit`: a container's changes, and images made from them.

use skiff_tests::Agent;

#[test]
fn diff_lists_changes_and_commit_makes_a_runnable_image() {
    let a = Agent::start();
    a.skiff(&[
        "run",
        "--name",
        "c",
        "busybox",
        "sh",
        "-c",
        "mkdir /data && echo hi > /data/f && rm /bin/ls && touch /etc/marker",
    ])
    .ok();
    let d = a.skiff(&["diff", "c"]).ok();
    let lines: Vec<&str> = d.stdout.lines().collect();
    for want in ["C /bin", "D /bin/ls", "A /data", "A /data/f", "C /etc", "A /etc/marker"] {
        assert!(lines.contains(&want), "{want} missing from:\n{}", d.stdout);
    }
    let r = a
        .skiff(&[
            "commit",
            "-m",
            "first",
            "-a",
            "me",
            "-c",
            "CMD [\"cat\", \"/data/f\"]",
            "-c",
            "ENV X=1",
            "c",
            "app:v1",
        ])
        .ok();
    assert!(
        r.stdout.starts_with("sha256:") && r.stdout.trim().len() == 71,
        "{}",
        r.stdout
    );
    assert_eq!(a.skiff(&["run", "--rm", "app:v1"]).ok().stdout, "hi\n");
    assert_eq!(a.skiff(&["run", "--rm", "app:v1", "test", "-e", "/bin/ls"]).code, 1);
    assert_eq!(
        a.skiff(&["run", "--rm", "app:v1", "sh", "-c", "echo $X"]).ok().stdout,
        "1\n"
    );
    assert_eq!(a.inspect("app:v1", "{{.Comment}} {{.Author}}"), "first me");
    assert_eq!(a.inspect("app:v1", "{{len .RootFS.Layers}}"), "2");
    assert_eq!(
        a.skiff(&["image", "inspect", "-f", "{{.Id}}", "app:v1"])
            .ok()
            .stdout
            .trim(),
        r.stdout.trim()
    );

    // A running container is paused for the commit, and runs on after.
    a.skiff(&[
        "run",
        "-d",
        "--name",
        "live",
        "busybox",
        "sh",
        "-c",
        "echo up > /up; sleep 600",
    ])
    .ok();
    a.eventually("file written", || {
        a.skiff(&["exec", "live", "cat", "/up"]).stdout == "up\n"
    });
    a.skiff(&["container", "commit", "live", "live:snap"]).ok();
    assert_eq!(a.inspect("live", "{{.State.Status}}"), "running");
    assert_eq!(a.skiff(&["run", "--rm", "live:snap", "cat", "/up"]).ok().stdout, "up\n");

    // The stock docker client.
    let dd = a.docker(&["diff", "c"]);
    assert!(dd.stdout.contains("A /data/f"), "{}{}", dd.stdout, dd.stderr);
    let dc = a.docker(&[
        "commit",
        "--change",
        "CMD [\"cat\", \"/etc/marker\"]",
        "c",
        "app:docker",
    ]);
    assert_eq!(dc.code, 0, "{}", dc.stderr);
    assert_eq!(a.skiff(&["run", "--rm", "app:docker"]).code, 0);
    a.skiff(&["rm", "-f", "live"]).ok();
    a.finish();
}
