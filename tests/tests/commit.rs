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

#[test]
fn image_prune_removes_dangling_then_unused_images() {
    let a = Agent::start();
    a.skiff(&["run", "--name", "c", "busybox", "sh", "-c", "echo x > /x"])
        .ok();
    let dangling = a.skiff(&["commit", "c"]).ok().stdout.trim().to_string();
    a.skiff(&["commit", "c", "kept:v1"]).ok();
    let r = a.skiff(&["image", "prune", "-f"]).ok();
    assert!(r.stdout.starts_with("Deleted Images:\n"), "{}", r.stdout);
    assert!(r.stdout.contains(&format!("deleted: {dangling}")), "{}", r.stdout);
    assert!(r.stdout.contains("Total reclaimed space: "), "{}", r.stdout);
    assert_ne!(a.skiff(&["image", "inspect", &dangling]).code, 0);
    // -a: every image no container uses; busybox is used by `c`.
    let r = a.skiff(&["image", "prune", "-a", "-f"]).ok();
    assert!(r.stdout.contains("untagged: kept:v1"), "{}", r.stdout);
    assert_ne!(a.skiff(&["image", "inspect", "kept:v1"]).code, 0);
    assert_eq!(a.skiff(&["images", "-q"]).ok().stdout.lines().count(), 1);
    a.skiff(&["image", "inspect", "busybox"]).ok();
    a.skiff(&["rm", "c"]).ok();
    a.finish();
}
