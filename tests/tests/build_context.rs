//! Incremental build contexts: `skiff build` of a directory the agent
//! already keeps sends only what changed, and what the image gets is
//! always what the directory holds.

use std::path::{Path, PathBuf};

use skiff_tests::{Agent, Run};

fn context(name: &str, files: &[(&str, &[u8])]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("skiff-bctx-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (p, content) in files {
        let f = dir.join(p);
        std::fs::create_dir_all(f.parent().expect("parent")).expect("mkdir");
        std::fs::write(f, content).expect("write");
    }
    dir
}

/// `skiff build` with classic output (it names the bytes sent).
fn build(a: &Agent, dir: &Path, args: &[&str]) -> Run {
    let host = a.host();
    let mut all = vec!["-H", host.as_str(), "build"];
    all.extend_from_slice(args);
    all.push(dir.to_str().expect("path"));
    std::process::Command::new(skiff_tests::bin_dir().join("skiff"))
        .env("SKIFF_BUILD_PROGRESS", "classic")
        .args(&all)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("skiff build")
        .into()
}

/// The bytes of `Sending build context to Docker daemon  1.05MB`.
fn sent(r: &Run) -> f64 {
    let line = r
        .stdout
        .lines()
        .find(|l| l.starts_with("Sending build context"))
        .unwrap_or_else(|| panic!("no context line:\n{}", r.stdout));
    let size = line.rsplit(' ').next().expect("size");
    let (num, unit) = size.split_at(size.find(|c: char| c.is_ascii_alphabetic()).expect("unit"));
    let n: f64 = num.parse().expect("number");
    n * match unit {
        "B" => 1.0,
        "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        u => panic!("unit {u}"),
    }
}

#[test]
fn only_what_changed_is_sent_and_images_keep_what_they_copied() {
    let a = Agent::start();
    let big: Vec<u8> = (0..2_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let dir = context(
        "delta",
        &[
            ("Dockerfile", b"FROM busybox\nCOPY d/ /new/\nCMD cat /new/f; ls /new\n"),
            ("d/f", b"one\n"),
            ("d/g", b"gee\n"),
            ("d/big", &big),
        ],
    );
    // Files changed in the last two seconds are always sent again.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let first = build(&a, &dir, &["-t", "v1"]).ok();
    assert!(sent(&first) > 2e6, "{}", first.stdout);
    assert_eq!(a.skiff(&["run", "--rm", "v1"]).ok().out(), "one\nbig\nf\ng");
    // Nothing changed: a manifest is all that goes, and every step hits.
    let again = build(&a, &dir, &["-t", "v1"]).ok();
    assert!(sent(&again) < 1e5, "{}", again.stdout);
    assert!(again.stdout.contains("Using cache"), "{}", again.stdout);
    // Same size, new content: sent, copied, and the first image keeps
    // what it copied.
    std::fs::write(dir.join("d/f"), "two\n").unwrap();
    let changed = build(&a, &dir, &["-t", "v2"]).ok();
    assert!(sent(&changed) < 1e5, "{}", changed.stdout);
    assert_eq!(a.skiff(&["run", "--rm", "v2"]).ok().out(), "two\nbig\nf\ng");
    assert_eq!(a.skiff(&["run", "--rm", "v1"]).ok().out(), "one\nbig\nf\ng");
    // A file removed and one added.
    std::fs::remove_file(dir.join("d/g")).unwrap();
    std::fs::write(dir.join("d/h"), "aitch\n").unwrap();
    build(&a, &dir, &["-t", "v3"]).ok();
    assert_eq!(a.skiff(&["run", "--rm", "v3"]).ok().out(), "two\nbig\nf\nh");
    // A writable bind of the context: the step sees its writes, nothing
    // else does (not the next build, not the images).
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM busybox\nCOPY d/ /new/\nRUN --mount=type=bind,target=/ctx,rw echo scribbled > /ctx/d/f && cat /ctx/d/f > /seen\nCMD cat /seen /new/f\n",
    )
    .unwrap();
    build(&a, &dir, &["-t", "v4"]).ok();
    assert_eq!(a.skiff(&["run", "--rm", "v4"]).ok().out(), "scribbled\ntwo");
    std::fs::write(dir.join("Dockerfile"), "FROM busybox\nCOPY d/ /new/\nCMD cat /new/f\n").unwrap();
    build(&a, &dir, &["-t", "v5"]).ok();
    assert_eq!(a.skiff(&["run", "--rm", "v5"]).ok().out(), "two");
    assert_eq!(a.skiff(&["run", "--rm", "v2"]).ok().out(), "two\nbig\nf\ng");
    // `builder prune -a` drops the kept context: the next build sends it
    // whole.
    a.skiff(&["builder", "prune", "-a", "-f"]).ok();
    let whole = build(&a, &dir, &["-t", "v5"]).ok();
    assert!(sent(&whole) > 2e6, "{}", whole.stdout);
    assert_eq!(a.skiff(&["run", "--rm", "v5"]).ok().out(), "two");
    let _ = std::fs::remove_dir_all(&dir);
    a.finish();
}

#[test]
fn builds_of_one_context_side_by_side_both_get_it() {
    let a = Agent::start();
    let dir = context(
        "side",
        &[
            ("Dockerfile", b"FROM busybox\nCOPY f /f\nRUN sleep 1\nCMD cat /f\n"),
            ("f", b"first"),
        ],
    );
    build(&a, &dir, &["-t", "s"]).ok();
    std::fs::write(dir.join("f"), "second").unwrap();
    // Both ask for the kept context; one finds it held by the other and
    // its base gone, and sends the context whole.
    let (x, y) = std::thread::scope(|s| {
        let x = s.spawn(|| build(&a, &dir, &["--no-cache", "-t", "s1"]));
        let y = s.spawn(|| build(&a, &dir, &["--no-cache", "-t", "s2"]));
        (x.join().expect("x"), y.join().expect("y"))
    });
    x.ok();
    y.ok();
    for t in ["s1", "s2"] {
        assert_eq!(a.skiff(&["run", "--rm", t]).ok().out(), "second");
    }
    let _ = std::fs::remove_dir_all(&dir);
    a.finish();
}

#[test]
fn a_kept_context_stays_true_to_the_directory() {
    let a = Agent::start();
    let dir = context(
        "true",
        &[
            ("Dockerfile", b"FROM busybox\nCOPY d/ /new/\nCMD cat /new/f\n"),
            (".dockerignore", b"Dockerfile\n.dockerignore\n"),
            ("d/f", b"file\n"),
        ],
    );
    std::thread::sleep(std::time::Duration::from_millis(2100));
    build(&a, &dir, &["-t", "t1"]).ok();
    // The agent drops an excluded Dockerfile from the kept context after
    // reading it: the next build sends it again rather than miss it.
    let again = build(&a, &dir, &["-t", "t1"]).ok();
    assert!(again.stdout.contains("Using cache"), "{}", again.stdout);
    // A heredoc beside a directory in one COPY writes its own file, never
    // into a file an earlier image shares with the kept context.
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM busybox\nCOPY d/ <<f /new2/\nheredoc\nf\nCMD cat /new2/f\n",
    )
    .unwrap();
    build(&a, &dir, &["-t", "t2"]).ok();
    assert_eq!(a.skiff(&["run", "--rm", "t2"]).ok().out(), "heredoc");
    assert_eq!(a.skiff(&["run", "--rm", "t1"]).ok().out(), "file");
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM busybox\nCOPY d/ /new3/\nCMD cat /new3/f\n",
    )
    .unwrap();
    build(&a, &dir, &["-t", "t3"]).ok();
    assert_eq!(a.skiff(&["run", "--rm", "t3"]).ok().out(), "file");
    let _ = std::fs::remove_dir_all(&dir);
    a.finish();
}
