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
    assert_eq!(a.inspect("app:v1", "{{.Config.WorkingDir}} {{index .Config.Labels \"k\"}}"), "/app v");
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
        r.stderr.contains("The command '/bin/sh -c exit 3' returned a non-zero code: 3"),
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
