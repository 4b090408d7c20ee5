//! Container lifecycle as a Docker user sees it, through the `skiff` CLI.

use skiff_tests::Agent;

#[test]
fn run_prints_output_and_returns_the_containers_exit_code() {
    let a = Agent::start();
    let r = a.skiff(&["run", "--rm", "busybox", "echo", "hello"]).ok();
    assert_eq!(r.stdout, "hello\n");
    assert_eq!(a.skiff(&["run", "busybox", "sh", "-c", "exit 3"]).code, 3);
    let r = a.skiff(&["run", "--rm", "busybox", "no-such-command"]);
    assert_eq!(r.code, 127, "{}", r.stderr);
    assert!(r.stderr.contains("executable file not found"), "{}", r.stderr);
    let r = a.skiff(&["run", "--rm", "busybox", "/etc/passwd"]);
    assert_eq!(r.code, 126, "{}", r.stderr);
    assert!(
        r.stderr.contains("exec: \"/etc/passwd\": permission denied"),
        "{}",
        r.stderr
    );
    let r = a.skiff(&["run", "--name", "dir", "busybox", "/etc"]);
    assert_eq!(r.code, 126, "{}", r.stderr);
    let code = a.skiff(&["inspect", "-f", "{{.State.ExitCode}}", "dir"]).ok();
    assert_eq!(code.stdout.trim(), "126");
    a.skiff(&["rm", "dir"]).ok();
    // (Without --pull never, run would try Docker Hub; tests stay offline.)
    let r = a.skiff(&["run", "--rm", "--pull", "never", "nosuchimage", "true"]);
    assert_eq!(r.code, 125);
    assert!(r.stderr.contains("No such image"), "{}", r.stderr);
    assert_eq!(a.skiff(&["run", "--no-such-flag", "busybox"]).code, 125);
    // --rm containers are gone; the others stay.
    let ps = a.skiff(&["ps", "-a", "--format", "{{.Command}} {{.Status}}"]).ok();
    assert_eq!(ps.stdout.lines().count(), 1, "{}", ps.stdout);
    assert!(ps.stdout.contains("Exited (3)"), "{}", ps.stdout);
    a.finish();
}

#[test]
fn detached_containers_log_list_stop_and_remove() {
    let a = Agent::start();
    let id = a
        .skiff(&[
            "run",
            "-d",
            "--name",
            "ticker",
            "busybox",
            "sh",
            "-c",
            "trap 'exit 0' TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done",
        ])
        .ok();
    let id = id.out().to_string();
    assert_eq!(id.len(), 64, "run -d prints the full ID: {id}");
    a.eventually("two log lines", || {
        a.skiff(&["logs", "ticker"]).stdout.lines().count() >= 2
    });
    let logs = a.skiff(&["logs", "--tail", "1", &id[..6]]).ok();
    assert_eq!(logs.stdout.lines().count(), 1);
    assert!(logs.stdout.starts_with("tick "));
    let ts = a.skiff(&["logs", "-t", "--tail", "1", "ticker"]).ok();
    assert!(ts.stdout.contains('T') && ts.stdout.contains("Z tick"), "{}", ts.stdout);
    let ps = a.skiff(&["ps"]).ok();
    let header = ps.stdout.lines().next().unwrap_or_default();
    for col in [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ] {
        assert!(header.contains(col), "{header}");
    }
    assert!(
        ps.stdout.contains(&id[..12]) && ps.stdout.contains("Up "),
        "{}",
        ps.stdout
    );
    assert_eq!(
        a.inspect("ticker", "{{.State.Status}} {{.Config.Hostname}}"),
        format!("running {}", &id[..12])
    );
    // Name conflicts and removing a running container are refused.
    let r = a.skiff(&["run", "-d", "--name", "ticker", "busybox", "true"]);
    assert_eq!(r.code, 125);
    assert!(r.stderr.contains("is already in use"), "{}", r.stderr);
    let r = a.skiff(&["rm", "ticker"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("cannot remove a running container"), "{}", r.stderr);
    assert_eq!(a.inspect("ticker", "{{.State.Status}}"), "running");
    assert_eq!(a.skiff(&["stop", "ticker"]).ok().out(), "ticker");
    assert_eq!(a.inspect("ticker", "{{.State.Status}} {{.State.ExitCode}}"), "exited 0");
    assert_eq!(a.skiff(&["wait", "ticker"]).ok().out(), "0");
    a.skiff(&["rm", "ticker"]).ok();
    let r = a.skiff(&["rm", "ticker"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("No such container: ticker"), "{}", r.stderr);
    a.finish();
}

#[test]
fn kill_stop_timeout_restart_pause_rename_top() {
    let a = Agent::start();
    a.skiff(&["run", "-d", "--name", "stubborn", "busybox", "sleep", "300"])
        .ok();
    // sleep as PID 1 ignores SIGTERM: stop falls back to SIGKILL after -t.
    let t = std::time::Instant::now();
    a.skiff(&["stop", "-t", "1", "stubborn"]).ok();
    assert!(t.elapsed().as_secs_f64() < 5.0);
    assert_eq!(a.inspect("stubborn", "{{.State.ExitCode}}"), "137");
    // kill -s delivers the named signal (to a PID 1 that handles it).
    a.skiff(&[
        "run",
        "-d",
        "--name",
        "trapper",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 9' USR1; echo ready; while true; do sleep 0.1; done",
    ])
    .ok();
    // A PID 1 without a handler ignores USR1: signal once the trap is set.
    a.eventually("the trap set", || {
        a.skiff(&["logs", "trapper"]).stdout.contains("ready")
    });
    a.skiff(&["kill", "-s", "USR1", "trapper"]).ok();
    a.eventually("exit after SIGUSR1", || {
        a.inspect("trapper", "{{.State.Status}}") == "exited"
    });
    assert_eq!(a.inspect("trapper", "{{.State.ExitCode}}"), "9");
    assert_eq!(
        a.skiff(&["kill", "trapper"]).code,
        1,
        "killing a stopped container is an error"
    );
    a.skiff(&["rm", "trapper"]).ok();
    a.skiff(&["restart", "-t", "0", "stubborn"]).ok();
    assert_eq!(a.inspect("stubborn", "{{.State.Status}}"), "running");
    let top = a.skiff(&["top", "stubborn"]).ok();
    assert!(
        top.stdout.contains("PID") && top.stdout.contains("sleep 300"),
        "{}",
        top.stdout
    );
    a.skiff(&["pause", "stubborn"]).ok();
    assert_eq!(
        a.inspect("stubborn", "{{.State.Status}} {{.State.Paused}}"),
        "paused true"
    );
    assert!(a.skiff(&["ps"]).stdout.contains("(Paused)"));
    a.skiff(&["unpause", "stubborn"]).ok();
    assert_eq!(a.inspect("stubborn", "{{.State.Status}}"), "running");
    a.skiff(&["rename", "stubborn", "renamed"]).ok();
    assert_eq!(a.inspect("renamed", "{{.Name}}"), "/renamed");
    a.skiff(&["rm", "-f", "renamed"]).ok();
    assert!(a.skiff(&["ps", "-aq"]).out().is_empty());
    a.finish();
}

#[test]
fn stdin_tty_env_user_workdir_and_flags() {
    let a = Agent::start();
    let r = a
        .skiff_stdin(&["run", "-i", "--rm", "busybox", "cat"], "piped through\n")
        .ok();
    assert_eq!(r.stdout, "piped through\n");
    let r = a
        .skiff(&[
            "run",
            "--rm",
            "-e",
            "A=1",
            "-e",
            "B=two",
            "-w",
            "/tmp/work",
            "-u",
            "nobody",
            "--hostname",
            "box",
            "busybox",
            "sh",
            "-c",
            "echo $A $B $(pwd) $(id -un) $(hostname)",
        ])
        .ok();
    assert_eq!(r.out(), "1 two /tmp/work nobody box");
    let r = a
        .skiff(&["run", "--rm", "--entrypoint", "echo", "busybox", "via", "entrypoint"])
        .ok();
    assert_eq!(r.out(), "via entrypoint");
    let r = a.skiff(&["run", "--rm", "--read-only", "busybox", "touch", "/x"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("Read-only file system"), "{}", r.stderr);
    let r = a.skiff(&[
        "run",
        "--rm",
        "--cap-drop",
        "CHOWN",
        "busybox",
        "chown",
        "nobody",
        "/tmp",
    ]);
    assert_ne!(r.code, 0);
    let r = a.skiff(&["run", "--rm", "--cap-add", "bogus", "busybox", "true"]);
    assert_eq!(r.code, 125);
    // A real pty: the shell sees a terminal.
    let r = a.in_pty(
        &format!("{} run -it --rm busybox sh", a.skiff_cmdline()),
        "tty; echo $((6*7)); exit 5\n",
    );
    assert!(
        r.stdout.contains("/dev/pts/0") && r.stdout.contains("42"),
        "{}",
        r.stdout
    );
    assert_eq!(r.code, 5, "{}", r.stdout);
    a.finish();
}

#[test]
fn exec_runs_in_the_container_with_its_exit_code() {
    let a = Agent::start();
    a.skiff(&[
        "run",
        "-d",
        "--name",
        "host",
        "-e",
        "FROM_RUN=yes",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    let r = a.skiff(&["exec", "host", "sh", "-c", "echo $FROM_RUN $HOSTNAME; exit 4"]);
    assert_eq!(r.code, 4);
    assert!(r.stdout.starts_with("yes "), "{}", r.stdout);
    let r = a
        .skiff(&[
            "exec",
            "-e",
            "X=1",
            "-w",
            "/tmp",
            "-u",
            "nobody",
            "host",
            "sh",
            "-c",
            "echo $X $(pwd) $(id -u)",
        ])
        .ok();
    assert_eq!(r.out(), "1 /tmp 65534");
    let r = a.skiff_stdin(&["exec", "-i", "host", "cat"], "in\n").ok();
    assert_eq!(r.stdout, "in\n");
    let r = a.skiff(&["exec", "host", "nosuch"]);
    assert_eq!(r.code, 126, "{}", r.stderr);
    a.skiff(&["exec", "-d", "host", "touch", "/tmp/detached"]).ok();
    a.eventually("detached exec ran", || {
        a.skiff(&["exec", "host", "test", "-f", "/tmp/detached"]).code == 0
    });
    let r = a.in_pty(&format!("{} exec -it host sh", a.skiff_cmdline()), "tty; exit 7\n");
    assert!(r.stdout.contains("/dev/pts/"), "{}", r.stdout);
    assert_eq!(r.code, 7);
    a.finish();
}

#[test]
fn restart_policies_are_honoured() {
    let a = Agent::start();
    a.skiff(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "exit 1",
    ])
    .ok();
    a.eventually("two restarts", || {
        a.inspect("flaky", "{{.RestartCount}} {{.State.Status}}") == "2 exited"
    });
    a.skiff(&[
        "run",
        "-d",
        "--name",
        "always",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "sleep 0.2; exit 0",
    ])
    .ok();
    a.eventually("restarted", || {
        a.inspect("always", "{{.RestartCount}}").parse::<i64>().unwrap_or(0) >= 1
    });
    // A user's stop is final, whatever the policy.
    a.skiff(&["stop", "-t", "1", "always"]).ok();
    let n = a.inspect("always", "{{.RestartCount}}");
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert_eq!(
        a.inspect("always", "{{.RestartCount}} {{.State.Status}}"),
        format!("{n} exited")
    );
    let r = a.skiff(&["run", "--restart", "sometimes", "busybox", "true"]);
    assert_eq!(r.code, 125);
    // A refused create leaves no layer and no container directory behind.
    let entries = |dir: &str| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(a.root.join(dir))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let before = (entries("data/overlay2"), entries("data/containers"));
    let r = a.skiff(&["run", "--rm", "--restart", "always", "busybox", "true"]);
    assert_eq!(r.code, 125);
    assert!(
        r.stderr.contains("conflicting options: --restart and --rm"),
        "{}",
        r.stderr
    );
    assert_eq!((entries("data/overlay2"), entries("data/containers")), before);
    a.finish();
}

#[test]
fn json_file_logs_rotate() {
    let a = Agent::start();
    a.skiff(&[
        "run",
        "--name",
        "chatty",
        "--log-opt",
        "max-size=2k",
        "--log-opt",
        "max-file=2",
        "busybox",
        "sh",
        "-c",
        "for i in $(seq 1 200); do echo line $i; done",
    ])
    .ok();
    let log = a.inspect("chatty", "{{.LogPath}}");
    let first = std::fs::read_to_string(&log).unwrap();
    let line: serde_json::Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    assert_eq!(line["stream"], "stdout");
    assert!(line["log"].as_str().unwrap().starts_with("line "));
    assert!(line["time"].as_str().unwrap().ends_with('Z'));
    assert!(std::path::Path::new(&format!("{log}.1")).exists());
    assert!(!std::path::Path::new(&format!("{log}.2")).exists());
    assert!(std::fs::metadata(&log).unwrap().len() <= 2048);
    let out = a.skiff(&["logs", "chatty"]).ok();
    assert!(out.stdout.ends_with("line 200\n"));
    a.finish();
}

#[test]
fn init_runs_as_pid_one_and_passes_the_exit_code() {
    let a = Agent::start();
    let r = a
        .skiff(&[
            "run",
            "--rm",
            "--init",
            "busybox",
            "sh",
            "-c",
            "tr '\\0' ' ' < /proc/1/cmdline",
        ])
        .ok();
    assert!(r.stdout.starts_with("/sbin/docker-init -- sh"), "{}", r.stdout);
    assert_eq!(
        a.skiff(&["run", "--rm", "--init", "busybox", "sh", "-c", "exit 3"])
            .code,
        3
    );
    // tini forwards SIGTERM to the command, which a bare PID 1 would ignore.
    a.skiff(&["run", "-d", "--init", "--name", "inited", "busybox", "sleep", "300"])
        .ok();
    let t = std::time::Instant::now();
    a.skiff(&["stop", "inited"]).ok();
    assert!(t.elapsed().as_secs() < 5, "stop waited for the timeout");
    assert_eq!(a.inspect("inited", "{{.State.ExitCode}}"), "143");
    a.finish();
}

#[test]
fn logs_follow_streams_until_the_container_exits() {
    let a = Agent::start();
    a.skiff(&[
        "run",
        "-d",
        "--name",
        "f",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do echo n$i; sleep 0.3; done",
    ])
    .ok();
    let r = a.skiff(&["logs", "-f", "f"]).ok();
    assert_eq!(r.stdout, "n1\nn2\nn3\nn4\nn5\n");
    let r = a.skiff(&["logs", "--since", "0", "--until", "1", "f"]).ok();
    assert_eq!(r.stdout, "", "nothing was logged before 1970-01-01T00:00:01");
    a.finish();
}

#[test]
fn memory_and_cpus_limit_the_containers_cgroup() {
    let a = Agent::start();
    let id = a
        .skiff(&[
            "run", "-d", "--memory", "64m", "--cpus", "0.5", "busybox", "sleep", "60",
        ])
        .ok()
        .out()
        .to_string();
    assert_eq!(
        a.inspect(&id, "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}"),
        "67108864 500000000"
    );
    let read = |p: String| std::fs::read_to_string(&p).map(|s| s.trim().to_string()).ok();
    let v1_mem = read(format!("/sys/fs/cgroup/memory/{}/{id}/memory.limit_in_bytes", a.name));
    let v2_mem = read(format!("/sys/fs/cgroup/{}/{id}/memory.max", a.name));
    assert!(
        v1_mem.as_deref() == Some("67108864") || v2_mem.as_deref() == Some("67108864"),
        "{v1_mem:?} {v2_mem:?}"
    );
    let v1_cpu = read(format!("/sys/fs/cgroup/cpu/{}/{id}/cpu.cfs_quota_us", a.name))
        .or_else(|| read(format!("/sys/fs/cgroup/cpu,cpuacct/{}/{id}/cpu.cfs_quota_us", a.name)));
    let v2_cpu = read(format!("/sys/fs/cgroup/{}/{id}/cpu.max", a.name));
    assert!(
        v1_cpu.as_deref() == Some("50000") || v2_cpu.as_deref() == Some("50000 100000"),
        "{v1_cpu:?} {v2_cpu:?}"
    );
    let r = a.skiff(&["run", "--rm", "--memory", "lots", "busybox", "true"]);
    assert_eq!(r.code, 125);
    assert!(r.stderr.contains("invalid size"), "{}", r.stderr);
    a.finish();
}

#[test]
fn creates_run_side_by_side_and_names_stay_unique() {
    let a = Agent::start();
    // Eight creates at once asking for one name: one gets it, the others
    // are told it is taken, as Docker does.
    let runs: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|_| s.spawn(|| a.skiff(&["create", "--name", "same", "busybox", "true"])))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(runs.iter().filter(|r| r.code == 0).count(), 1, "{runs:?}");
    for r in runs.iter().filter(|r| r.code != 0) {
        assert_eq!(r.code, 125, "{r:?}");
        assert!(r.stderr.contains("is already in use"), "{}", r.stderr);
    }
    // Unnamed creates at once all get distinct names.
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| a.skiff(&["create", "busybox", "true"]).ok());
        }
    });
    let names = a.skiff(&["ps", "-a", "--format", "{{.Names}}"]).ok();
    let mut list: Vec<&str> = names.stdout.lines().collect();
    assert_eq!(list.len(), 9, "{}", names.stdout);
    list.sort();
    list.dedup();
    assert_eq!(list.len(), 9, "{}", names.stdout);
    a.skiff(&["rm", "same"]).ok();
    a.finish();
}

#[test]
fn bind_mounts_write_through_and_read_only_ones_refuse() {
    let a = Agent::start();
    let host = a.root.join("bind");
    let spec = format!("{}:/data", host.display());
    // The host directory is made when missing; writes land on the host.
    a.skiff(&["run", "--rm", "-v", &spec, "busybox", "sh", "-c", "echo hi > /data/f"])
        .ok();
    assert_eq!(std::fs::read_to_string(host.join("f")).unwrap(), "hi\n");
    let ro = format!("{spec}:ro");
    let r = a.skiff(&["run", "--rm", "-v", &ro, "busybox", "sh", "-c", "echo x > /data/g"]);
    assert_ne!(r.code, 0);
    assert!(!host.join("g").exists());
    a.skiff(&["create", "--name", "m", "-v", &ro, "busybox", "true"]).ok();
    let mounts = a.inspect("m", "{{json .Mounts}}");
    let v: serde_json::Value = serde_json::from_str(&mounts).unwrap();
    assert_eq!(v[0]["Type"], "bind");
    assert_eq!(v[0]["Destination"], "/data");
    assert_eq!(v[0]["RW"], false);
    assert_eq!(v[0]["Mode"], "ro");
    // A malformed spec: Docker's error and exit code.
    let r = a.skiff(&["run", "--rm", "-v", "/a:/b:ro:x", "busybox", "true"]);
    assert_eq!(r.code, 125, "{}", r.stderr);
    assert!(r.stderr.contains("invalid volume specification"), "{}", r.stderr);
    a.finish();
}
