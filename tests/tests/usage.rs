//! What containers use: `skiff stats` (CPU, memory, network, PIDs from
//! the container's cgroup and namespace) and `skiff system df`, through
//! skiff and through the stock docker CLI.

use skiff_tests::Agent;

/// The `{{.Name}}|…` line of one container in a `--no-stream` sample.
fn stat_line(a: &Agent, name: &str) -> Vec<String> {
    let fmt = "{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.MemPerc}}|{{.NetIO}}|{{.PIDs}}";
    let r = a.skiff(&["stats", "--no-stream", "--format", fmt, name]).ok();
    r.stdout.trim().split('|').map(String::from).collect()
}

fn percent(s: &str) -> f64 {
    s.trim_end_matches('%').parse().expect("a percentage")
}

#[test]
fn stats_show_cpu_memory_network_and_pids_of_running_containers() {
    let a = Agent::start();
    a.skiff(&[
        "run",
        "-d",
        "--name",
        "hog",
        "--cpus",
        "0.5",
        "busybox",
        "sh",
        "-c",
        "while :; do :; done",
    ])
    .ok();
    // 20 MiB in the container's tmpfs is charged to its memory cgroup; two
    // pings to the bridge's gateway cross its interface; three processes.
    let script = "dd if=/dev/zero of=/dev/shm/fill bs=1M count=20 2>/dev/null; \
                  ping -c 2 $(ip route | awk '/default/ {print $3}') >/dev/null; \
                  sleep 1000 & sleep 1000 & wait";
    a.skiff(&["run", "-d", "--name", "mem", "-m", "64m", "busybox", "sh", "-c", script])
        .ok();
    a.eventually("the pings are done", || {
        let top = a.skiff(&["top", "mem"]).stdout;
        top.lines().filter(|l| l.ends_with(" sleep 1000")).count() == 2
    });

    let hog = stat_line(&a, "hog");
    assert_eq!(hog[0], "hog");
    let cpu = percent(&hog[1]);
    assert!(cpu > 5.0 && cpu < 80.0, "--cpus 0.5 caps a busy loop near 50%: {hog:?}");

    let mem = stat_line(&a, "mem");
    let (used, limit) = mem[2].split_once(" / ").expect("usage / limit");
    assert_eq!(limit, "64MiB", "{mem:?}");
    assert!(
        used.ends_with("MiB") && used.trim_end_matches("MiB").parse::<f64>().unwrap() >= 20.0,
        "{mem:?}"
    );
    assert!(percent(&mem[3]) >= 30.0, "{mem:?}");
    let (rx, tx) = mem[4].split_once(" / ").expect("rx / tx");
    assert!(rx != "0B" && tx != "0B", "pings went out and came back: {mem:?}");
    assert_eq!(mem[5], "3", "sh and two sleeps: {mem:?}");

    // The table, as Docker lays it out; a stopped container only with -a.
    a.skiff(&["run", "--name", "done", "busybox", "true"]).ok();
    let r = a.skiff(&["stats", "--no-stream"]).ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    let head: Vec<&str> = lines[0].split("   ").map(str::trim).filter(|c| !c.is_empty()).collect();
    assert_eq!(
        head,
        [
            "CONTAINER ID",
            "NAME",
            "CPU %",
            "MEM USAGE / LIMIT",
            "MEM %",
            "NET I/O",
            "BLOCK I/O",
            "PIDS"
        ],
        "{}",
        r.stdout
    );
    assert_eq!(lines.len(), 3, "{}", r.stdout);
    let r = a.skiff(&["stats", "--no-stream", "-a"]).ok();
    assert!(r.stdout.contains("done "), "{}", r.stdout);

    // Streaming redraws the screen each second.
    let out = std::process::Command::new("timeout")
        .arg("3")
        .arg(skiff_tests::bin_dir().join("skiff"))
        .args(["-H", &a.host(), "stats", "hog"])
        .output()
        .expect("timeout");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.matches("\x1b[2J\x1b[H").count() >= 2, "{shown:?}");

    let r = a.skiff(&["stats", "--no-stream", "nosuch"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("No such container: nosuch"), "{}", r.stderr);

    // The stock docker CLI reads the same stream.
    let r = a
        .docker(&["stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", "mem"])
        .ok();
    assert!(
        r.stdout.starts_with("mem ") && r.stdout.contains("/ 64MiB"),
        "{}",
        r.stdout
    );

    a.skiff(&["rm", "-f", "hog", "mem", "done"]).ok();
    a.finish();
}

#[test]
fn system_df_counts_images_and_what_containers_changed() {
    let a = Agent::start();
    a.skiff(&[
        "run",
        "--name",
        "writer",
        "busybox",
        "dd",
        "if=/dev/zero",
        "of=/big",
        "bs=1k",
        "count=300",
    ])
    .ok();
    a.skiff(&["run", "-d", "--name", "idle", "busybox", "sleep", "1000"])
        .ok();
    let r = a.skiff(&["system", "df"]).ok();
    let rows: Vec<Vec<&str>> = r
        .stdout
        .lines()
        .map(|l| l.split("   ").map(str::trim).filter(|c| !c.is_empty()).collect())
        .collect();
    assert_eq!(
        rows[0],
        ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
        "{}",
        r.stdout
    );
    assert_eq!(rows[1][..3], ["Images", "1", "1"], "{}", r.stdout);
    assert_eq!(
        rows[2],
        ["Containers", "2", "1", "307.2kB", "307.2kB (100%)"],
        "the stopped writer's 300 KiB can be reclaimed: {}",
        r.stdout
    );
    assert_eq!(rows[3], ["Local Volumes", "0", "0", "0B", "0B"], "{}", r.stdout);

    let r = a.skiff(&["system", "df", "-v"]).ok();
    assert!(
        r.stdout.contains("Images space usage:") && r.stdout.contains("busybox"),
        "{}",
        r.stdout
    );
    let writer = r.stdout.lines().find(|l| l.ends_with("writer")).expect("writer's row");
    assert!(writer.contains("307.2kB"), "{}", r.stdout);

    let r = a.docker(&["system", "df"]).ok();
    assert!(r.stdout.contains("307.2kB (100%)"), "{}", r.stdout);

    a.skiff(&["rm", "-f", "writer", "idle"]).ok();
    a.finish();
}

#[test]
fn metrics_report_containers_and_their_usage_on_the_metrics_address() {
    let a = Agent::start_with(&["--metrics-addr", "127.0.0.1:9323"]);
    a.skiff(&["import", skiff_tests::busybox_tar().to_str().unwrap(), "busybox"])
        .ok();
    a.skiff(&["run", "-d", "--name", "m1", "-m", "32m", "busybox", "sleep", "1000"])
        .ok();
    a.skiff(&["run", "--name", "m2", "busybox", "true"]).ok();
    let r = a
        .in_netns(
            "timeout",
            &["5", "busybox", "wget", "-qO-", "http://127.0.0.1:9323/metrics"],
            &[],
        )
        .ok();
    let text = r.stdout;
    for want in [
        "skiff_containers{state=\"running\"} 1.0",
        "skiff_containers{state=\"stopped\"} 1.0",
        "skiff_images{} 1.0",
        "# TYPE skiff_container_cpu_usage_seconds counter",
        "skiff_container_memory_limit_bytes{id=",
        "name=\"m1\",image=\"busybox\"} 33554432.0",
        "skiff_container_pids{",
        "# EOF",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
    a.skiff(&["rm", "-f", "m1", "m2"]).ok();
    a.finish();
}
