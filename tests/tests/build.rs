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
                "FROM busybox\nCOPY data.txt /data.txt\nRUN echo noop-$((5+5))\nRUN echo ran-$((1+1)) && cat /data.txt > /copy\n",
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
    // A RUN that changed no file is cached too.
    assert!(
        !again.stderr.contains("noop-10"),
        "the no-op RUN ran again:\n{}",
        again.stderr
    );
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

#[test]
fn every_instruction_sets_what_docker_sets() {
    let a = Agent::start();
    // An image with an ONBUILD trigger, then one built FROM it.
    let base = context(
        "onbuild",
        &[("Dockerfile", "FROM busybox\nONBUILD RUN echo triggered > /trigger\n")],
    );
    skiff_build(&a, &base, &["-t", "withtrigger"]).ok();
    let dir = context(
        "instructions",
        &[
            (
                "Dockerfile",
                "# escape=\\\n\
                 ARG TAG=withtrigger\n\
                 FROM ${TAG}\n\
                 ARG TAG\n\
                 ARG N=3\n\
                 SHELL [\"/bin/sh\", \"-e\", \"-c\"]\n\
                 ENV A=1 B=\"two words\"\n\
                 ENV C=$A-${B:+set}\n\
                 LABEL org.test=\"x y\" from=$TAG\n\
                 WORKDIR /w\n\
                 WORKDIR sub\n\
                 COPY --chown=7:8 --chmod=640 f.txt ./\n\
                 ADD files.tar.gz /unpacked/\n\
                 COPY <<EOT /etc/greeting\nhello $A\nEOT\n\
                 RUN <<EOF\necho n=$N > /w/sub/run.txt\nEOF\n\
                 RUN --mount=type=cache,target=/cache echo x >> /cache/hits && wc -l < /cache/hits > /w/sub/hits\n\
                 RUN --mount=type=bind,source=f.txt,target=/mnt/f.txt cp /mnt/f.txt /w/sub/bound\n\
                 RUN --mount=type=tmpfs,target=/scratch touch /scratch/x && test -f /scratch/x\n\
                 USER 1000:1000\n\
                 EXPOSE 80 53/udp\n\
                 VOLUME /data\n\
                 STOPSIGNAL SIGUSR1\n\
                 HEALTHCHECK --interval=5s --retries=2 CMD true\n\
                 ENTRYPOINT [\"/bin/sh\", \"-c\"]\n\
                 CMD [\"echo default\"]\n",
            ),
            ("f.txt", "file\n"),
        ],
    );
    // A tar.gz for ADD to unpack.
    let tgz = dir.join("files.tar.gz");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "cd {} && mkdir -p t/in && echo packed > t/in/p.txt && tar -czf {} -C t in && rm -r t",
            dir.display(),
            tgz.display()
        ))
        .status()
        .unwrap();
    assert!(status.success());
    let r = skiff_build(
        &a,
        &dir,
        &["--progress", "plain", "-t", "all", "--build-arg", "UNUSED=1"],
    )
    .ok();
    assert!(
        r.stderr.contains("build-args [UNUSED] were not consumed"),
        "{}",
        r.stderr
    );
    let i = |f: &str| a.inspect("all", f);
    assert_eq!(i("{{.Config.WorkingDir}}"), "/w/sub");
    assert_eq!(i("{{.Config.User}}"), "1000:1000");
    let env = i("{{json .Config.Env}}");
    assert!(env.ends_with(r#""A=1","B=two words","C=1-set"]"#), "{env}");
    assert_eq!(
        i("{{index .Config.Labels \"org.test\"}} {{index .Config.Labels \"from\"}}"),
        "x y withtrigger"
    );
    assert_eq!(i("{{json .Config.ExposedPorts}}"), r#"{"53/udp":{},"80/tcp":{}}"#);
    assert_eq!(i("{{json .Config.Volumes}}"), r#"{"/data":{}}"#);
    assert_eq!(i("{{.Config.StopSignal}}"), "SIGUSR1");
    assert_eq!(i("{{json .Config.Shell}}"), r#"["/bin/sh","-e","-c"]"#);
    assert_eq!(
        i("{{json .Config.Healthcheck.Test}} {{.Config.Healthcheck.Retries}}"),
        r#"["CMD-SHELL","true"] 2"#
    );
    assert_eq!(
        i("{{json .Config.Entrypoint}} {{json .Config.Cmd}}"),
        r#"["/bin/sh","-c"] ["echo default"]"#
    );
    let run = |cmd: &str| {
        a.skiff(&["run", "--rm", "--user", "0", "all", cmd])
            .ok()
            .out()
            .to_string()
    };
    assert_eq!(run("cat /trigger"), "triggered");
    assert_eq!(run("stat -c '%u:%g %a' /w/sub/f.txt"), "7:8 640");
    assert_eq!(run("cat /unpacked/in/p.txt"), "packed");
    assert_eq!(run("cat /etc/greeting"), "hello 1");
    assert_eq!(run("cat /w/sub/run.txt"), "n=3");
    assert_eq!(run("cat /w/sub/bound"), "file");
    assert_eq!(run("cat /w/sub/hits"), "1");
    assert_eq!(run("ls -A /scratch 2>/dev/null | wc -l"), "0");
    assert_eq!(a.skiff(&["run", "--rm", "all"]).ok().out(), "default");
    // The cache mount persists between builds (the RUN itself re-runs
    // with --no-cache).
    skiff_build(&a, &dir, &["--no-cache", "-t", "all"]).ok();
    assert_eq!(run("cat /w/sub/hits"), "2");
    for d in [&dir, &base] {
        let _ = std::fs::remove_dir_all(d);
    }
    a.finish();
}

#[test]
fn docker_compose_builds_against_an_agent() {
    let a = Agent::start();
    let dir = context(
        "compose",
        &[
            ("docker-compose.yml", "version: \"3\"\nservices:\n  web:\n    build:\n      context: ./web\n      args:\n        MSG: composed\n    image: composed-web:latest\n"),
            ("web/Dockerfile", "FROM busybox\nARG MSG\nRUN echo $MSG > /msg\nCMD cat /msg\n"),
        ],
    );
    let r: Run = std::process::Command::new("docker-compose")
        .current_dir(&dir)
        .env("DOCKER_HOST", a.host())
        .args(["build"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("docker-compose (Debian's, installed by deploy/setup.sh --with-docker-client)")
        .into();
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(a.skiff(&["run", "--rm", "composed-web"]).ok().out(), "composed");
    let _ = std::fs::remove_dir_all(&dir);
    a.finish();
}

#[test]
fn contexts_from_stdin_a_tar_and_a_dockerfile_elsewhere() {
    let a = Agent::start();
    // `build -`: a Dockerfile on stdin, no context.
    let r = a
        .skiff_stdin(
            &["build", "-q", "-t", "fromstdin", "-"],
            "FROM busybox\nRUN echo piped > /p\n",
        )
        .ok();
    assert!(r.out().starts_with("sha256:"), "{r:?}");
    assert_eq!(a.skiff(&["run", "--rm", "fromstdin", "cat", "/p"]).ok().out(), "piped");
    // `-f` outside the context directory, and a tar file as the context.
    let dir = context("elsewhere", &[("data.txt", "in the context\n")]);
    let df = std::env::temp_dir().join(format!("skiff-df-{}", std::process::id()));
    std::fs::write(&df, "FROM busybox\nCOPY data.txt /\n").unwrap();
    skiff_build(&a, &dir, &["-q", "-f", df.to_str().unwrap(), "-t", "outside"]).ok();
    assert_eq!(
        a.skiff(&["run", "--rm", "outside", "cat", "/data.txt"]).ok().out(),
        "in the context"
    );
    std::fs::write(dir.join("Dockerfile"), "FROM busybox\nCOPY data.txt /from-tar\n").unwrap();
    let tar = std::env::temp_dir().join(format!("skiff-ctx-{}.tar", std::process::id()));
    let ok = std::process::Command::new("tar")
        .args(["-cf", tar.to_str().unwrap(), "-C", dir.to_str().unwrap(), "."])
        .status()
        .unwrap();
    assert!(ok.success());
    a.skiff(&["build", "-q", "-t", "fromtar", tar.to_str().unwrap()]).ok();
    assert_eq!(
        a.skiff(&["run", "--rm", "fromtar", "cat", "/from-tar"]).ok().out(),
        "in the context"
    );
    // A body that is not a tar is refused with a clear error.
    let bad = a.skiff_stdin(&["build", "-t", "x", "-"], "");
    assert_ne!(bad.code, 0);
    for p in [&df, &tar] {
        let _ = std::fs::remove_file(p);
    }
    let _ = std::fs::remove_dir_all(&dir);
    a.finish();
}
/// `busybox httpd` serving `dir` on 127.0.0.1:`port` inside the agent's
/// network namespace (where the agent downloads from); stopped on drop.
struct Httpd(std::process::Child);

impl Httpd {
    fn start(a: &Agent, dir: &Path, port: u16) -> Self {
        let child = std::process::Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", a.netns))
            .args(["busybox", "httpd", "-f", "-p", &format!("127.0.0.1:{port}"), "-h"])
            .arg(dir)
            .stdin(std::process::Stdio::null())
            .spawn()
            .expect("busybox httpd");
        let url = format!("http://127.0.0.1:{port}/");
        a.eventually("httpd answers", || {
            let r = a.in_netns("busybox", &["wget", "-q", "-O", "/dev/null", &url], &[]);
            !r.stderr.contains("refused")
        });
        Httpd(child)
    }
}

impl Drop for Httpd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn add_downloads_urls_with_dockers_rules() {
    let a = Agent::start();
    let www = context("www", &[("hello.txt", "hello over http\n")]);
    let hello = www.join("hello.txt");
    let touch = |secs: &str| {
        let ok = std::process::Command::new("touch")
            .args(["-d", &format!("@{secs}")])
            .arg(&hello)
            .status()
            .expect("touch");
        assert!(ok.success());
    };
    touch("1600000000");
    let server = Httpd::start(&a, &www, 18123);
    // sha256 of "hello over http\n".
    let sum = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(b"hello over http\n"))
    };
    let url = "http://127.0.0.1:18123/hello.txt";
    let dir = context(
        "addurl",
        &[(
            "Dockerfile",
            &format!(
                "FROM busybox\nADD {url} /dl/\nADD --checksum=sha256:{sum} {url} /named.txt\n\
                 RUN echo ran-$((2+2)) > /ran && cat /ran && stat -c '%a %Y %s' /dl/hello.txt /named.txt\n"
            ),
        )],
    );
    let first = skiff_build(&a, &dir, &["--progress", "plain", "-t", "dl"]).ok();
    assert!(first.stderr.contains("ran-4"), "{}", first.stderr);
    assert_eq!(
        a.skiff(&[
            "run",
            "--rm",
            "dl",
            "stat",
            "-c",
            "%n %a %Y",
            "/dl/hello.txt",
            "/named.txt"
        ])
        .ok()
        .out(),
        "/dl/hello.txt 600 1600000000\n/named.txt 600 1600000000"
    );
    assert_eq!(
        a.skiff(&["run", "--rm", "dl", "cat", "/named.txt"]).ok().out(),
        "hello over http"
    );
    // Downloaded again, unchanged: from the cache.
    let again = skiff_build(&a, &dir, &["--progress", "plain", "-t", "dl"]).ok();
    assert!(!again.stderr.contains("ran-4"), "RUN ran again:\n{}", again.stderr);
    assert!(
        again.stderr.contains("#2 CACHED") && again.stderr.contains("#3 CACHED"),
        "{}",
        again.stderr
    );
    // Changed on the server: the first ADD misses; the checksum no longer holds.
    std::fs::write(&hello, "changed\n").unwrap();
    touch("1600000000");
    let changed = skiff_build(&a, &dir, &["--progress", "plain", "-t", "dl"]);
    assert_eq!(changed.code, 1, "{changed:?}");
    assert!(changed.stderr.contains("digest mismatch"), "{}", changed.stderr);
    // A missing file: the URL and the status.
    let missing = context(
        "addurl404",
        &[("Dockerfile", "FROM busybox\nADD http://127.0.0.1:18123/nope.txt /\n")],
    );
    let r = skiff_build(&a, &missing, &["-t", "dl404"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .contains("failed to GET http://127.0.0.1:18123/nope.txt with status 404"),
        "{}",
        r.stderr
    );
    drop(server);
    for d in [&www, &dir, &missing] {
        let _ = std::fs::remove_dir_all(d);
    }
    a.finish();
}

#[test]
fn build_secrets_reach_run_and_stay_out_of_the_image() {
    let a = Agent::start();
    let dir = context(
        "secrets",
        &[
            (
                "Dockerfile",
                "FROM busybox\n\
                 RUN --mount=type=secret,id=tok tr a-z A-Z < /run/secrets/tok && stat -c ' mode=%a' /run/secrets/tok\n\
                 RUN --mount=type=secret,id=envtok,target=/tmp/e,required tr a-z A-Z < /tmp/e && echo ' env-ok' > /made\n",
            ),
            ("tok.txt", "file-s3cret"),
        ],
    );
    let tok = dir.join("tok.txt");
    // Kept out of the context: only --secret hands it over.
    std::fs::write(dir.join(".dockerignore"), "tok.txt\n").unwrap();
    let args = [
        "build",
        "--progress",
        "plain",
        "--secret",
        &format!("id=tok,src={}", tok.display()),
        "--secret",
        "id=envtok,env=SKIFF_TEST_SECRET",
        "-t",
        "sec",
        dir.to_str().expect("path"),
    ];
    let r: skiff_tests::Run = std::process::Command::new(skiff_tests::bin_dir().join("skiff"))
        .arg("-H")
        .arg(a.host())
        .args(args)
        .env("SKIFF_TEST_SECRET", "env-s3cret")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("skiff build")
        .into();
    let r = r.ok();
    for want in ["FILE-S3CRET", " mode=400", "ENV-S3CRET"] {
        assert!(r.stderr.contains(want), "{want:?} missing:\n{}", r.stderr);
    }
    // Neither in a layer nor in the config (its history), and the mount
    // point is gone.
    let saved = a.root.join("sec.tar");
    a.skiff(&["save", "-o", saved.to_str().expect("path"), "sec"]).ok();
    let bytes = std::fs::read(&saved).unwrap();
    for secret in [&b"file-s3cret"[..], b"env-s3cret", b"FILE-S3CRET", b"ENV-S3CRET"] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret),
            "a secret is in the saved image"
        );
    }
    let _ = std::fs::remove_file(&saved);
    let ls = a
        .skiff(&["run", "--rm", "sec", "sh", "-c", "ls /run/secrets /tmp/e 2>&1; true"])
        .ok();
    assert!(
        !ls.stdout.contains("tok") && ls.stdout.contains("No such file"),
        "{}",
        ls.stdout
    );
    // No secret files outlive the build.
    let leftovers: Vec<_> = std::fs::read_dir(a.root.join("data/build"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("secrets-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // A required secret not given: a clear error.
    let tok_only = format!("id=tok,src={}", tok.display());
    let missing = a.skiff(&[
        "build",
        "--no-cache",
        "--secret",
        &tok_only,
        "-t",
        "sec2",
        dir.to_str().expect("path"),
    ]);
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(
        missing.stderr.contains("secret envtok: not found"),
        "{}",
        missing.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
    a.finish();
}

#[test]
fn cache_from_reuses_the_layers_of_a_loaded_image() {
    let a = Agent::start();
    let dir = context(
        "cachefrom",
        &[
            (
                "Dockerfile",
                "FROM busybox\nENV K=v\nCOPY a.txt /a.txt\nRUN echo ran-$((3+3)) && cat /a.txt > /b\nCMD cat /b\n",
            ),
            ("a.txt", "cached content\n"),
        ],
    );
    skiff_build(&a, &dir, &["-q", "-t", "cf"]).ok();
    let layers = a.inspect("cf", "{{json .RootFS.Layers}}");
    let saved = a.root.join("cf.tar");
    let tar = saved.to_str().expect("path");
    a.skiff(&["save", "-o", tar, "cf"]).ok();
    a.skiff(&["rmi", "cf"]).ok();
    a.skiff(&["builder", "prune", "-a", "-f"]).ok();
    a.skiff(&["load", "-i", tar]).ok();
    let r = skiff_build(&a, &dir, &["--progress", "plain", "--cache-from", "cf", "-t", "cf2"]).ok();
    assert!(
        !r.stderr.contains("ran-6"),
        "RUN ran despite --cache-from:\n{}",
        r.stderr
    );
    assert!(r.stderr.contains("CACHED"), "{}", r.stderr);
    assert_eq!(a.inspect("cf2", "{{json .RootFS.Layers}}"), layers);
    assert_eq!(a.skiff(&["run", "--rm", "cf2"]).ok().out(), "cached content");
    // A changed file: that step and the next run.
    std::fs::write(dir.join("a.txt"), "changed\n").unwrap();
    let r = skiff_build(&a, &dir, &["--progress", "plain", "--cache-from", "cf", "-t", "cf3"]).ok();
    assert!(r.stderr.contains("ran-6"), "{}", r.stderr);
    let _ = std::fs::remove_file(&saved);
    let _ = std::fs::remove_dir_all(&dir);
    a.finish();
}

#[test]
fn from_platform_takes_linux_amd64_and_the_platform_args() {
    let a = Agent::start();
    let dir = context(
        "platform",
        &[(
            "Dockerfile",
            "ARG P=linux/amd64\nFROM --platform=$BUILDPLATFORM busybox AS one\nRUN true\n\
             FROM --platform=${TARGETPLATFORM} one AS two\nFROM --platform=$P busybox\nCOPY --from=two /bin/true /t\n",
        )],
    );
    skiff_build(&a, &dir, &["-q", "-t", "plat"]).ok();
    let bad = context(
        "platformbad",
        &[("Dockerfile", "FROM --platform=linux/arm64 busybox\n")],
    );
    let r = skiff_build(&a, &bad, &["-t", "plat2"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("FROM --platform=linux/arm64"), "{}", r.stderr);
    for d in [&dir, &bad] {
        let _ = std::fs::remove_dir_all(d);
    }
    a.finish();
}

#[test]
fn check_directive_governs_the_from_as_casing_warning() {
    let a = Agent::start();
    let body = "FROM busybox as base\nRUN true\n";
    let warned = context("check", &[("Dockerfile", body)]);
    let r = skiff_build(&a, &warned, &["--progress", "plain", "-t", "chk"]).ok();
    assert!(r.stderr.contains("FromAsCasing"), "{}", r.stderr);
    let skipped = context("checkskip", &[("Dockerfile", &format!("# check=skip=all\n{body}"))]);
    let r = skiff_build(&a, &skipped, &["--progress", "plain", "-t", "chk"]).ok();
    assert!(!r.stderr.contains("FromAsCasing"), "{}", r.stderr);
    let strict = context("checkerr", &[("Dockerfile", &format!("# check=error=true\n{body}"))]);
    let r = skiff_build(&a, &strict, &["-t", "chk2"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("FromAsCasing"), "{}", r.stderr);
    for d in [&warned, &skipped, &strict] {
        let _ = std::fs::remove_dir_all(d);
    }
    a.finish();
}

#[test]
fn symlinks_in_the_context_never_reach_outside_it() {
    let a = Agent::start();
    let dir = context("symlinks", &[("Dockerfile", "FROM busybox\nCOPY abs/hostname /got\n")]);
    std::os::unix::fs::symlink("/etc", dir.join("abs")).unwrap();
    std::os::unix::fs::symlink("../../../../../../etc/hostname", dir.join("up")).unwrap();
    // `abs` points at the context's own /etc, which has no hostname.
    let r = skiff_build(&a, &dir, &["-t", "escape"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("abs/hostname"), "{r:?}");
    std::fs::write(dir.join("Dockerfile"), "FROM busybox\nCOPY up /got\n").unwrap();
    let r = skiff_build(&a, &dir, &["-t", "escape"]);
    assert_eq!(r.code, 1, "the host's /etc/hostname was copied: {r:?}");
    assert!(a.skiff(&["image", "inspect", "escape"]).code != 0);
    let _ = std::fs::remove_dir_all(&dir);
    a.finish();
}
