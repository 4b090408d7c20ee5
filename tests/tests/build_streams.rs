//! `skiff build`'s two streams: the context going in (read as a stream, so
//! one over 1 GiB builds) and the progress coming out (a live view of the
//! steps running in parallel on a terminal, plain lines otherwise).

use std::path::PathBuf;

use skiff_tests::Agent;

fn context(name: &str, dockerfile: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("skiff-build-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("Dockerfile"), dockerfile).expect("Dockerfile");
    dir
}

#[test]
fn a_context_over_a_gibibyte_builds() {
    let a = Agent::start();
    let dir = context("big", "FROM busybox\nCOPY big /big\n");
    // 1.1 GiB of zeros (sparse here; the tar stream carries every byte).
    let size: u64 = 1100 << 20;
    std::fs::File::create(dir.join("big"))
        .and_then(|f| f.set_len(size))
        .expect("big file");
    a.skiff(&["build", "-q", "-t", "big", dir.to_str().expect("path")]).ok();
    let r = a.skiff(&["run", "--rm", "big", "stat", "-c", "%s", "/big"]).ok();
    assert_eq!(r.out(), size.to_string());
    a.skiff(&["rmi", "big"]).ok();
    let _ = std::fs::remove_dir_all(&dir);
    a.finish();
}

/// The frames of a live view: each redraw starts with the header line and
/// ends where the next erase begins.
fn frames(out: &str) -> Vec<&str> {
    out.split("[+] Building")
        .skip(1)
        .map(|f| f.split('\x1b').next().unwrap_or(f))
        .collect()
}

#[test]
fn a_terminal_shows_parallel_steps_live_and_a_pipe_gets_plain_lines() {
    let a = Agent::start();
    let dockerfile = "FROM busybox AS a\nRUN sleep 2 && echo a > /a\n\
                      FROM busybox AS b\nRUN sleep 2 && echo b > /b\n\
                      FROM busybox\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n";
    let dir = context("live", dockerfile);
    let cmd = format!("{} build --progress tty -t live {}", a.skiff_cmdline(), dir.display());
    let r = a.in_pty(&cmd, "");
    assert_eq!(r.code, 0, "{r:?}");
    // Redrawn in place: cursor up, erase below.
    assert!(r.stdout.contains("A\x1b[J"), "{:?}", r.stdout);
    let fr = frames(&r.stdout);
    assert!(fr.len() > 3, "{:?}", r.stdout);
    // At some moment both stages' RUN steps run, each with its timer.
    assert!(
        fr.iter()
            .any(|f| f.contains("=> [a 2/7] RUN sleep 2") && f.contains("=> [b 4/7] RUN sleep 2")),
        "no frame shows both stages running: {fr:#?}"
    );
    assert!(r.stdout.contains("(7/7) FINISHED"), "{:?}", r.stdout);
    assert!(
        r.stdout.contains("naming to docker.io/library/live:latest done"),
        "{:?}",
        r.stdout
    );

    // Off a terminal: BuildKit's plain lines, no escape codes.
    let r = a
        .skiff(&["build", "--no-cache", "-t", "live", dir.to_str().expect("path")])
        .ok();
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(!all.contains('\x1b'), "{all:?}");
    assert!(all.contains(" [a 2/7] RUN sleep 2 && echo a > /a"), "{all}");
    assert!(
        all.lines().any(|l| l.starts_with('#') && l.contains(" DONE 2.")),
        "{all}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    a.finish();
}
