//! `build`: Dockerfile builds against a real agent, through the stock
//! `docker` client (classic builder API) and `skiff build`.

use std::path::{Path, PathBuf};

use skiff_tests::{Agent, Run};

/// A build context directory with `files` (path, content).
fn context(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("skiff-build-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (p, content) in files {
        let f = dir.join(p);
        std::fs::create_dir_all(f.parent().expect("parent")).expect("mkdir");
        std::fs::write(f, content).expect("write");
    }
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}

/// `docker build` (classic builder) of `dir` with `args`.
fn docker_build(a: &Agent, dir: &Path, args: &[&str]) -> Run {
    let mut all = vec!["build"];
    all.extend_from_slice(args);
    let d = dir.to_str().expect("path");
    all.push(d);
    std::process::Command::new(skiff_tests::docker_bin())
        .env("DOCKER_HOST", a.host())
        .env("DOCKER_BUILDKIT", "0")
        .args(&all)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("docker build")
        .into()
}

#[test]
fn docker_build_makes_a_runnable_image_with_classic_output() {
    let a = Agent::start();
    let dir = context(
        "basic",
        &[
            (
                "Dockerfile",
                "FROM busybox\nARG GREETING=hello\nENV WHO=world\nWORKDIR /app\nCOPY msg.txt ./\nRUN echo \"$GREETING $WHO\" > out.txt && cat msg.txt\nLABEL k=v\nCMD [\"cat\", \"/app/out.txt\"]\n",
            ),
            ("msg.txt", "from the context\n"),
        ],
    );
    let r = docker_build(&a, &dir, &["-t", "app:v1", "--build-arg", "GREETING=hi"]).ok();
    for want in [
        "Step 1/8 : FROM busybox",
        "Step 6/8 : RUN echo \"$GREETING $WHO\" > out.txt && cat msg.txt",
        "from the context",
        "Successfully built ",
        "Successfully tagged app:v1",
    ] {
        assert!(r.stdout.contains(want), "{want:?} missing from:\n{}", r.stdout);
    }
    let out = a.skiff(&["run", "--rm", "app:v1"]).ok();
    assert_eq!(out.out(), "hi world");
    assert_eq!(
        a.inspect("app:v1", "{{.Config.WorkingDir}} {{index .Config.Labels \"k\"}}"),
        "/app v"
    );
    // Again: every step from the cache, the same image.
    let id1 = a.inspect("app:v1", "{{.Id}}");
    let r = docker_build(&a, &dir, &["-t", "app:v1", "--build-arg", "GREETING=hi"]).ok();
    assert!(r.stdout.contains(" ---> Using cache"), "{}", r.stdout);
    assert!(!r.stdout.contains("from the context"), "RUN ran again:\n{}", r.stdout);
    assert_eq!(a.inspect("app:v1", "{{.Id}}"), id1);
    let _ = std::fs::remove_dir_all(&dir);
    a.finish();
}

#[test]
fn a_failing_run_reports_the_command_and_its_code() {
    let a = Agent::start();
    let dir = context("fail", &[("Dockerfile", "FROM busybox\nRUN echo before\nRUN exit 3\n")]);
    let r = docker_build(&a, &dir, &["-t", "broken"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .contains("The command '/bin/sh -c exit 3' returned a non-zero code: 3"),
        "{r:?}"
    );
    assert!(a.skiff(&["image", "inspect", "broken"]).code != 0);
    // As Docker's classic builder: the failed step's container stays...
    let left = a.skiff(&["ps", "-aq"]).ok().stdout;
    assert_eq!(left.lines().count(), 1, "{left}");
    a.skiff(&["rm", left.trim()]).ok();
    // ...unless --force-rm.
    let r = docker_build(&a, &dir, &["--force-rm", "-t", "broken"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(a.skiff(&["ps", "-aq"]).ok().out(), "");
    let _ = std::fs::remove_dir_all(&dir);
    a.finish();
}

/// `skiff build` of `dir` with `args`.
fn skiff_build(a: &Agent, dir: &Path, args: &[&str]) -> Run {
    let mut all = vec!["build"];
    all.extend_from_slice(args);
    all.push(dir.to_str().expect("path"));
    a.skiff(&all)
}

#[test]
fn independent_stages_build_in_parallel_and_target_picks_what_it_needs() {
    let a = Agent::start();
    let dir = context(
        "stages",
        &[(
            "Dockerfile",
            "FROM busybox AS one\nRUN sleep 1 && echo one > /one\n\
             FROM busybox AS two\nRUN sleep 1 && echo two > /two\n\
             FROM busybox AS unused\nRUN exit 9\n\
             FROM busybox AS final\nCOPY --from=one /one /got/\nCOPY --from=two /two /got/\nCMD cat /got/one /got/two\n",
        )],
    );
    let t0 = std::time::Instant::now();
    let r = skiff_build(&a, &dir, &["--progress", "plain", "--target", "final", "-t", "multi"]).ok();
    let took = t0.elapsed();
    assert!(
        took.as_secs_f64() < 1.8,
        "two 1 s stages took {took:?}: not in parallel\n{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("exit 9"),
        "a stage the target does not need ran:\n{}",
        r.stderr
    );
    assert_eq!(a.skiff(&["run", "--rm", "multi"]).ok().out(), "one\ntwo");
    // --target stops at a stage.
    let r = skiff_build(&a, &dir, &["-q", "--target", "two", "-t", "second"]).ok();
    assert!(r.out().starts_with("sha256:"), "{r:?}");
    assert_eq!(a.skiff(&["run", "--rm", "second", "cat", "/two"]).ok().out(), "two");
    let bad = skiff_build(&a, &dir, &["--target", "nope"]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr.contains("failed to reach build target nope in Dockerfile"),
        "{bad:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    a.finish();
}

#[test]
fn the_cache_follows_content_not_times() {
    let a = Agent::start();
    let dir = context(
        "cache",
        &[
            (
                "Dockerfile",
                "FROM busybox\nCOPY data.txt /data.txt\nRUN echo ran-$((1+1)) && cat /data.txt > /copy\n",
            ),
            ("data.txt", "one\n"),
        ],
    );
    let first = skiff_build(&a, &dir, &["--progress", "plain", "-t", "c"]).ok();
    assert!(first.stderr.contains("ran-2"), "{}", first.stderr);
    // Touched but unchanged: every step from the cache.
    let f = dir.join("data.txt");
    std::fs::write(&f, "one\n").unwrap();
    let again = skiff_build(&a, &dir, &["--progress", "plain", "-t", "c"]).ok();
    assert!(!again.stderr.contains("ran-2"), "RUN ran again:\n{}", again.stderr);
    assert!(again.stderr.contains("CACHED"), "{}", again.stderr);
    // Changed: COPY and what follows run again.
    std::fs::write(&f, "two\n").unwrap();
    let changed = skiff_build(&a, &dir, &["--progress", "plain", "-t", "c"]).ok();
    assert!(changed.stderr.contains("ran-2"), "{}", changed.stderr);
    assert_eq!(a.skiff(&["run", "--rm", "c", "cat", "/copy"]).ok().out(), "two");
    // --no-cache runs everything.
    let nc = skiff_build(&a, &dir, &["--progress", "plain", "--no-cache", "-t", "c"]).ok();
    assert!(nc.stderr.contains("ran-2"), "{}", nc.stderr);
    // builder prune drops what no image uses.
    let p = a.skiff(&["builder", "prune", "-a", "-f"]).ok();
    assert!(p.stdout.contains("Total reclaimed space"), "{p:?}");
    let _ = std::fs::remove_dir_all(&dir);
    a.finish();
}

#[test]
fn dockerignore_keeps_files_out_of_the_context() {
    let a = Agent::start();
    let dir = context(
        "ignore",
        &[
            (
                "Dockerfile",
                "FROM busybox\nCOPY . /ctx/\nRUN find /ctx -type f | sort\n",
            ),
            (".dockerignore", "*.log\nsecret/\n!keep.log\n"),
            ("a.txt", "a"),
            ("x.log", "x"),
            ("keep.log", "k"),
            ("secret/key", "k"),
            ("sub/b.txt", "b"),
        ],
    );
    skiff_build(&a, &dir, &["-t", "ign"]).ok();
    let files = a
        .skiff(&["run", "--rm", "ign", "find", "/ctx", "-type", "f"])
        .ok()
        .stdout;
    let mut got: Vec<&str> = files.lines().collect();
    got.sort();
    assert_eq!(
        got,
        [
            "/ctx/.dockerignore",
            "/ctx/Dockerfile",
            "/ctx/a.txt",
            "/ctx/keep.log",
            "/ctx/sub/b.txt"
        ]
    );
    // Excluded, the Dockerfile and .dockerignore are still read, never copied.
    std::fs::write(
        dir.join(".dockerignore"),
        "*.log\nsecret/\n!keep.log\nDockerfile\n.dockerignore\n",
    )
    .unwrap();
    skiff_build(&a, &dir, &["-t", "ign"]).ok();
    let files = a
        .skiff(&["run", "--rm", "ign", "find", "/ctx", "-type", "f"])
        .ok()
        .stdout;
    let mut got: Vec<&str> = files.lines().collect();
    got.sort();
    assert_eq!(got, ["/ctx/a.txt", "/ctx/keep.log", "/ctx/sub/b.txt"]);
    let _ = std::fs::remove_dir_all(&dir);
    a.finish();
}

#[test]
fn bad_dockerfiles_get_clear_errors_and_store_nothing() {
    let a = Agent::start();
    let before = a.skiff(&["images", "-q"]).ok().stdout;
    for (df, want) in [
        ("FROM busybox\nFOO bar\n", "line 2"),
        ("FROM busybox\nCOPY missing.txt /\n", "missing.txt"),
        (
            "FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nCOPY --from=a /y /y\n",
            "circular dependency detected on stage: b",
        ),
        (
            "FROM busybox\nRUN --mount=type=nope,target=/x true\n",
            "unsupported mount type",
        ),
    ] {
        let dir = context("bad", &[("Dockerfile", df)]);
        let r = skiff_build(&a, &dir, &["--progress", "plain", "-t", "bad"]);
        assert_eq!(r.code, 1, "{df}: {r:?}");
        assert!(r.stderr.contains(want), "{df}: {want:?} missing from {r:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert_eq!(a.skiff(&["images", "-q"]).ok().stdout, before);
    a.finish();
}
