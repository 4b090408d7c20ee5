//! Docker's default confinement: every container runs under Docker's
//! default seccomp profile (`Seccomp: 2` in its `/proc/1/status`), which
//! `--security-opt seccomp=unconfined` and `--privileged` lift; a custom
//! profile applies; `no-new-privileges` sets the bit (per container or as
//! the agent's default); bad options and profiles get Docker's messages and
//! exit 125 with nothing created; `info` and `inspect` show it all.

use std::process::Command;

use skiff_tests::{Agent, Run};

/// Raw `clone` calls with namespace flags, and `clone3`: what Docker's
/// profile decides by argument (busybox has no applet that does this).
const CLONE_TEST: &str = r#"
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
static void try(const char *what, unsigned long flags) {
    long r = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
    if (r == 0) _exit(0);
    if (r < 0) { printf("%s: %s\n", what, strerror(errno)); return; }
    waitpid(r, 0, 0);
    printf("%s: ok\n", what);
}
int main(void) {
    try("plain", 0);
    try("newuser", CLONE_NEWUSER);
    long r = syscall(435 /* clone3 */, 0, 0);
    printf("clone3: %s\n", r < 0 ? strerror(errno) : "ok");
    return 0;
}
"#;

fn run(a: &Agent, opts: &[&str], cmd: &[&str]) -> Run {
    a.skiff(&[&["run", "--rm"], opts, &["busybox"], cmd].concat())
}

/// A field of `/proc/<which>/status` inside a new container.
fn status(a: &Agent, opts: &[&str], which: &str, field: &str) -> String {
    let r = run(
        a,
        opts,
        &["grep", &format!("^{field}:"), &format!("/proc/{which}/status")],
    )
    .ok();
    r.out()
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no {field} in {r:?}"))
        .to_string()
}

#[test]
fn containers_run_filtered_unless_unconfined_or_privileged() {
    let a = Agent::start();
    assert_eq!(status(&a, &[], "1", "Seccomp"), "2");
    assert_eq!(
        status(&a, &["--security-opt", "seccomp=unconfined"], "1", "Seccomp"),
        "0"
    );
    assert_eq!(status(&a, &["--privileged"], "1", "Seccomp"), "0");
    // --privileged wins over a profile, as in Docker.
    let p = a.root.join("deny-mkdir.json");
    std::fs::write(
        &p,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#,
    )
    .unwrap();
    let prof = format!("seccomp={}", p.display());
    assert_eq!(
        status(&a, &["--privileged", "--security-opt", &prof], "1", "Seccomp"),
        "0"
    );
    // Forks and pipes work under the profile's clone rule (clone3 answers
    // ENOSYS, clone without namespace flags is allowed).
    let r = run(&a, &[], &["sh", "-c", "echo forked | cat; (exit 3); echo $?"]).ok();
    assert_eq!(r.out(), "forked\n3");
    // An exec'd process gets the filter too.
    a.skiff(&["run", "-d", "--name", "long", "busybox", "sleep", "60"]).ok();
    let r = a
        .skiff(&["exec", "long", "grep", "^Seccomp:", "/proc/self/status"])
        .ok();
    assert!(r.out().ends_with('2'), "{r:?}");
    // ... and ends with the container's capabilities: what was lifted to
    // load the filter (CAP_SYS_ADMIN, and CAP_SETPCAP when dropped) is gone.
    let caps = |ctr: &str, user: &str, of: &str| {
        let grep = [
            "exec",
            "-u",
            user,
            ctr,
            "grep",
            "-E",
            "^(Seccomp|Cap(Bnd|Eff|Prm)):",
            of,
        ];
        a.skiff(&grep).ok().stdout
    };
    assert_eq!(
        caps("long", "0", "/proc/self/status"),
        caps("long", "0", "/proc/1/status")
    );
    a.skiff(&[
        "run",
        "-d",
        "--name",
        "nosetpcap",
        "--cap-drop",
        "SETPCAP",
        "busybox",
        "sleep",
        "60",
    ])
    .ok();
    let own = caps("nosetpcap", "0", "/proc/self/status");
    assert_eq!(own, caps("nosetpcap", "0", "/proc/1/status"));
    assert!(own.contains("Seccomp:\t2\n"), "{own}");
    let bounding = |status: &str| {
        status
            .lines()
            .find(|l| l.starts_with("CapBnd:"))
            .unwrap_or("")
            .to_string()
    };
    let user = caps("long", "1000", "/proc/self/status");
    assert!(user.contains("Seccomp:\t2\n"), "{user}");
    assert_eq!(bounding(&user), bounding(&caps("long", "0", "/proc/1/status")));
    // A container run as a non-root user ends with no effective
    // capabilities, as under Docker, and with Docker's default set as root.
    a.skiff(&["run", "-d", "--name", "u", "-u", "1000", "busybox", "sleep", "60"])
        .ok();
    let init = caps("u", "1000", "/proc/1/status");
    assert!(init.contains("CapEff:\t0000000000000000\n"), "{init}");
    assert!(init.contains("Seccomp:\t2\n"), "{init}");
    let root = caps("long", "0", "/proc/1/status");
    assert!(root.contains("CapEff:\t00000000a80425fb"), "{root}");
    a.finish();
}

#[test]
fn the_default_profile_blocks_a_user_namespace_that_needs_no_capability() {
    let a = Agent::start();
    // unshare(CLONE_NEWUSER) needs no capability: only the filter stops it.
    let r = run(&a, &[], &["unshare", "-U", "true"]);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("Operation not permitted"), "{r:?}");
    run(
        &a,
        &["--security-opt", "seccomp=unconfined"],
        &["unshare", "-U", "true"],
    )
    .ok();
    // With CAP_SYS_ADMIN the profile opens unshare (Docker's caps rule).
    run(&a, &["--cap-add", "SYS_ADMIN"], &["unshare", "-U", "true"]).ok();
    // personality() is allowed for Docker's values only; PER_LINUX32 is one.
    run(&a, &[], &["linux32", "true"]).ok();
    a.finish();
}

#[test]
fn clone_is_allowed_only_without_namespace_flags() {
    let a = Agent::start();
    let dir = a.root.join("clonetest");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("clonetest.c"), CLONE_TEST).unwrap();
    let cc = Command::new("cc")
        .args(["-static", "-O1", "-o"])
        .arg(dir.join("clonetest"))
        .arg(dir.join("clonetest.c"))
        .output()
        .expect("cc (a static C toolchain builds the probe)");
    assert!(cc.status.success(), "{}", String::from_utf8_lossy(&cc.stderr));
    let vol = format!("{}:/t:ro", dir.display());
    let probe = |opts: &[&str]| {
        run(
            &a,
            &[&["-v", vol.as_str()], opts].concat(),
            &["sh", "-c", "/t/clonetest"],
        )
        .ok()
    };
    // Docker's rule: clone with CLONE_NEWUSER (no capability needed) is
    // refused by the mask on its flags; clone3 answers ENOSYS so libc
    // falls back to clone.
    assert_eq!(
        probe(&[]).out(),
        "plain: ok\nnewuser: Operation not permitted\nclone3: Function not implemented"
    );
    assert_eq!(
        probe(&["--security-opt", "seccomp=unconfined"]).out(),
        "plain: ok\nnewuser: ok\nclone3: Invalid argument"
    );
    assert_eq!(
        probe(&["--cap-add", "SYS_ADMIN"]).out(),
        "plain: ok\nnewuser: ok\nclone3: Invalid argument"
    );
    a.finish();
}

#[test]
fn a_custom_profile_applies_and_is_shown_as_given() {
    let a = Agent::start();
    let p = a.root.join("deny-mkdir.json");
    std::fs::write(
        &p,
        "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n  \"syscalls\": [\n    {\"names\": [\"mkdir\", \"mkdirat\"], \"action\": \"SCMP_ACT_ERRNO\"}\n  ]\n}\n",
    )
    .unwrap();
    let prof = format!("seccomp={}", p.display());
    let r = run(&a, &["--security-opt", &prof], &["mkdir", "/x"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("Operation not permitted"), "{r:?}");
    run(&a, &[], &["mkdir", "/x"]).ok();
    // inspect shows the option as the CLI sent it: the file's compact JSON.
    a.skiff(&[
        "create",
        "--name",
        "c",
        "--security-opt",
        &prof,
        "--security-opt",
        "label=disable",
        "busybox",
        "true",
    ])
    .ok();
    assert_eq!(
        a.inspect("c", "{{json .HostConfig.SecurityOpt}}"),
        r#"["seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"mkdir\",\"mkdirat\"],\"action\":\"SCMP_ACT_ERRNO\"}]}","label=disable"]"#
    );
    a.skiff(&["create", "--name", "d", "busybox", "true"]).ok();
    assert_eq!(a.inspect("d", "{{json .HostConfig.SecurityOpt}}"), "null");
    a.finish();
}

#[test]
fn no_new_privileges_per_container_and_as_the_agents_default() {
    let a = Agent::start();
    assert_eq!(status(&a, &[], "self", "NoNewPrivs"), "0");
    assert_eq!(
        status(&a, &["--security-opt", "no-new-privileges"], "self", "NoNewPrivs"),
        "1"
    );
    assert_eq!(
        status(&a, &["--security-opt", "no-new-privileges=true"], "1", "NoNewPrivs"),
        "1"
    );
    // Its exec'd processes get it too, and still the filter.
    a.skiff(&[
        "run",
        "-d",
        "--name",
        "n",
        "--security-opt",
        "no-new-privileges",
        "busybox",
        "sleep",
        "60",
    ])
    .ok();
    let r = a
        .skiff(&["exec", "n", "grep", "-E", "^(NoNewPrivs|Seccomp):", "/proc/self/status"])
        .ok();
    let got: Vec<&str> = r
        .out()
        .lines()
        .map(|l| l.split_whitespace().nth(1).unwrap_or(""))
        .collect();
    assert_eq!(got, ["1", "2"], "{r:?}");
    a.finish();

    let b = Agent::start_with(&["--no-new-privileges"]);
    b.skiff(&["import", skiff_tests::busybox_tar().to_str().unwrap(), "busybox"])
        .ok();
    assert_eq!(status(&b, &[], "self", "NoNewPrivs"), "1");
    assert_eq!(
        status(&b, &["--security-opt", "no-new-privileges=false"], "self", "NoNewPrivs"),
        "0"
    );
    let info = b.skiff(&["info"]).ok();
    assert!(info.stdout.contains("  no-new-privileges\n"), "{}", info.stdout);
    b.finish();
}

#[test]
fn bad_options_and_profiles_exit_125_and_create_nothing() {
    let a = Agent::start();
    let p = a.root.join("broken.json");
    std::fs::write(&p, "{\"defaultAction\": ").unwrap();
    let r = run(&a, &["--security-opt", &format!("seccomp={}", p.display())], &["true"]);
    assert_eq!(r.code, 125, "{r:?}");
    assert!(
        r.stderr
            .contains(&format!("compacting json for seccomp profile ({}) failed", p.display())),
        "{r:?}"
    );
    let r = run(&a, &["--security-opt", "seccomp=/nonexistent.json"], &["true"]);
    assert_eq!(r.code, 125, "{r:?}");
    assert!(
        r.stderr.contains(
            "opening seccomp profile (/nonexistent.json) failed: open /nonexistent.json: no such file or directory"
        ),
        "{r:?}"
    );
    std::fs::write(&p, r#"{"defaultAction":"SCMP_ACT_MAYBE"}"#).unwrap();
    let r = run(&a, &["--security-opt", &format!("seccomp={}", p.display())], &["true"]);
    assert_eq!(r.code, 125, "{r:?}");
    assert!(r.stderr.contains("unknown action \"SCMP_ACT_MAYBE\""), "{r:?}");
    std::fs::write(&p, r#"{"defaultAction":["SCMP_ACT_ALLOW"]}"#).unwrap();
    let r = run(&a, &["--security-opt", &format!("seccomp={}", p.display())], &["true"]);
    assert_eq!(r.code, 125, "{r:?}");
    assert!(r.stderr.contains("Decoding seccomp profile failed"), "{r:?}");
    let r = run(&a, &["--security-opt", "bogus"], &["true"]);
    assert_eq!(r.code, 125, "{r:?}");
    assert!(r.stderr.contains("Invalid --security-opt: \"bogus\""), "{r:?}");
    let r = run(&a, &["--security-opt", "foo=bar"], &["true"]);
    assert_eq!(r.code, 125, "{r:?}");
    assert!(r.stderr.contains("invalid --security-opt 2: \"foo=bar\""), "{r:?}");
    let r = run(&a, &["--security-opt", "no-new-privileges=maybe"], &["true"]);
    assert_eq!(r.code, 125, "{r:?}");
    if !std::path::Path::new("/sys/module/apparmor/parameters/enabled").exists() {
        let r = run(&a, &["--security-opt", "apparmor=docker-default"], &["true"]);
        assert_eq!(r.code, 125, "{r:?}");
        assert!(r.stderr.contains("AppArmor is not enabled on this host"), "{r:?}");
        run(&a, &["--security-opt", "apparmor=unconfined"], &["true"]).ok();
    }
    assert_eq!(a.skiff(&["ps", "-aq"]).ok().out(), "");
    a.finish();
}

#[test]
fn info_shows_the_default_profile_as_docker_does() {
    let a = Agent::start();
    for out in [a.skiff(&["info"]).ok().stdout, a.docker(&["info"]).ok().stdout] {
        assert!(
            out.contains(" Security Options:\n  seccomp\n   Profile: default\n"),
            "{out}"
        );
    }
    assert_eq!(
        a.docker(&["info", "--format", "{{json .SecurityOptions}}"]).ok().out(),
        r#"["name=seccomp,profile=default"]"#
    );
    // Docker's own client reads a profile file and sends its content too.
    let p = a.root.join("deny-mkdir.json");
    std::fs::write(
        &p,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", p.display());
    let r = a.docker(&["run", "--rm", "--security-opt", &opt, "busybox", "mkdir", "/x"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("Operation not permitted"), "{r:?}");
    a.finish();
}

/// The mount options of what a container sees at and under
/// `/sys/fs/cgroup`: per mount point the topmost mount (the last one in
/// the table), as (mount point, `ro` or `rw`).
fn cgroup_mounts(a: &Agent, opts: &[&str]) -> Vec<(String, String)> {
    let r = run(a, opts, &["cat", "/proc/self/mountinfo"]).ok();
    let mut seen: Vec<(String, String)> = Vec::new();
    for l in r.stdout.lines() {
        let mut f = l.split_whitespace();
        let (Some(point), Some(opts)) = (f.nth(4), f.next()) else {
            continue;
        };
        let mode = opts.split(',').next().unwrap_or_default().to_string();
        if point.starts_with("/sys/fs/cgroup") {
            seen.retain(|(p, _)| p != point);
            seen.push((point.to_string(), mode));
        }
    }
    seen
}

#[test]
fn containers_see_their_own_cgroups_read_only() {
    let a = Agent::start();
    let mounts = cgroup_mounts(&a, &[]);
    assert!(mounts.iter().any(|(p, _)| p == "/sys/fs/cgroup"), "{mounts:?}");
    assert!(mounts.iter().all(|(_, m)| m == "ro"), "{mounts:?}");
    // Their own limits are there to read, as under Docker; writes fail.
    let script = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; \
                  echo 1 > /sys/fs/cgroup/pids/pids.max || echo 1 > /sys/fs/cgroup/pids.max; \
                  mkdir /sys/fs/cgroup/x";
    let r = run(&a, &["--memory", "64m"], &["sh", "-c", script]);
    assert_eq!(r.stdout.lines().next(), Some("67108864"), "{r:?}");
    assert!(r.stderr.contains("Read-only file system"), "{r:?}");
    assert_ne!(r.code, 0);
    // Privileged containers get them writable.
    let mounts = cgroup_mounts(&a, &["--privileged"]);
    assert!(mounts.iter().any(|(p, _)| p == "/sys/fs/cgroup"), "{mounts:?}");
    assert!(mounts.iter().all(|(_, m)| m == "rw"), "{mounts:?}");
    a.finish();
}

#[test]
fn containers_start_with_no_signal_ignored() {
    let a = Agent::start();
    // The agent's own SIGPIPE (ignored, as in every Rust program) must not
    // reach the container: `yes | head` ends when head does.
    assert_eq!(status(&a, &[], "self", "SigIgn"), "0000000000000000");
    let id = a
        .skiff(&[
            "run",
            "-d",
            "busybox",
            "sh",
            "-c",
            "yes line | head -n 20000 > /dev/null",
        ])
        .ok()
        .out()
        .to_string();
    let w = Command::new("timeout")
        .args([
            "20",
            skiff_tests::bin_dir().join("skiff").to_str().unwrap(),
            "-H",
            &a.host(),
            "wait",
            &id,
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&w.stdout).trim(),
        "0",
        "the pipeline never ended"
    );
    let c = a.skiff(&["run", "-d", "busybox", "sleep", "60"]).ok().out().to_string();
    let r = a.skiff(&["exec", &c, "grep", "SigIgn", "/proc/self/status"]).ok();
    assert_eq!(r.out(), "SigIgn:\t0000000000000000");
    a.finish();
}
