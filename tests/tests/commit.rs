//! `diff` and `commit`: a container's changes, and images made from them.

use skiff_tests::Agent;

/// Runs `sh -c SCRIPT` in busybox as container `c`, to its end.
fn run_c(a: &Agent, script: &str) {
    a.skiff(&["run", "--name", "c", "busybox", "sh", "-c", script]).ok();
}

#[test]
fn diff_lists_changes_and_commit_makes_a_runnable_image() {
    let a = Agent::start();
    run_c(
        &a,
        "mkdir /data && echo hi > /data/f && rm /bin/ls && touch /etc/marker",
    );
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
    // A layer with a deletion (a whiteout) saves, loads back and keeps it.
    let saved = a.root.join("app.tar");
    a.skiff(&["save", "-o", saved.to_str().unwrap(), "app:v1"]).ok();
    a.skiff(&["rmi", "app:v1"]).ok();
    a.skiff(&["load", "-i", saved.to_str().unwrap()]).ok();
    assert_eq!(a.skiff(&["run", "--rm", "app:v1", "test", "-e", "/bin/ls"]).code, 1);
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

#[test]
fn history_reads_as_dockers_and_the_stock_client_shows_the_same() {
    let a = Agent::start();
    // About 100 kB in the new layer.
    run_c(&a, "dd if=/dev/zero of=/blob bs=1000 count=100 2>/dev/null");
    let id = a.skiff(&["commit", "-m", "made by a test", "c", "hist:v1"]).ok().stdout;
    let id = id.trim();

    let h = a.skiff(&["history", "hist:v1"]).ok().stdout;
    let lines: Vec<&str> = h.lines().collect();
    assert_eq!(lines.len(), 3, "{h}");
    let head: Vec<&str> = lines[0].split("   ").map(str::trim).filter(|s| !s.is_empty()).collect();
    assert_eq!(head, ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"], "{h}");
    assert!(lines[1].starts_with(&id[7..19]), "{h}");
    assert!(lines[1].contains("100kB"), "{h}");
    assert!(lines[1].trim_end().ends_with("made by a test"), "{h}");
    assert!(lines[1].contains(" ago "), "{h}");
    assert!(lines[2].starts_with("<missing>"), "{h}");

    let q = a.skiff(&["image", "history", "-q", "hist:v1"]).ok().stdout;
    assert_eq!(q, format!("{}\n<missing>\n", &id[7..19]));
    let raw = a
        .skiff(&[
            "history",
            "--no-trunc",
            "-H=false",
            "--format",
            "{{.ID}}|{{.Size}}|{{.CreatedSince}}",
            "hist:v1",
        ])
        .ok()
        .stdout;
    let top: Vec<&str> = raw.lines().next().unwrap_or_default().split('|').collect();
    assert_eq!(top[0], id, "{raw}");
    assert_eq!(top[1], "100000", "{raw}");
    assert!(top[2].contains('T') && top[2].len() >= 20, "{raw}");
    let t = a
        .skiff(&["history", "--format", "table {{.ID}}\t{{.Comment}}", "hist:v1"])
        .ok()
        .stdout;
    assert!(t.starts_with("IMAGE          COMMENT\n"), "{t}");

    // The stock docker client draws the same from the same API answer.
    for args in [
        &["history", "-H=false", "hist:v1"][..],
        &[
            "history",
            "--no-trunc",
            "--format",
            "{{.ID}}|{{.Size}}|{{.CreatedBy}}|{{.CreatedAt}}",
            "hist:v1",
        ][..],
        &["image", "history", "-q", "--no-trunc", "hist:v1"][..],
    ] {
        let d = a.docker(args);
        assert_eq!(d.code, 0, "{}", d.stderr);
        let mine = a.skiff(args).ok().stdout;
        let trimmed: String = d.stdout.lines().map(|l| format!("{}\n", l.trim_end())).collect();
        assert_eq!(trimmed, mine, "docker {args:?}");
    }
    let missing = a.skiff(&["history", "nope"]);
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("No such image: nope"), "{}", missing.stderr);
    a.skiff(&["rm", "c"]).ok();
    a.finish();
}
