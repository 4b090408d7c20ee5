//! Resource limits on this machine's real cgroups: a memory hog is
//! OOM-killed (137, `OOMKilled`, an `oom` event), a CPU hog is held to its
//! quota, a fork loop stops at the pids limit, `update` changes live
//! limits (read back from the cgroup files and proven by behaviour),
//! `inspect` shows Docker's HostConfig values, and bad input gets
//! Docker's messages with nothing created.

use std::time::{Duration, Instant};

use skiff_tests::{Agent, Run};

fn json(r: &Run) -> serde_json::Value {
    serde_json::from_str(r.out()).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

/// A cgroup file of container `id`: v1 `controller/PARENT/ID/file`, or the
/// v2 `PARENT/ID/file` (`v2` names the v2 file when it differs).
fn cg(a: &Agent, id: &str, controller: &str, v1: &str, v2: &str) -> Option<String> {
    let read = |p: String| std::fs::read_to_string(p).ok().map(|s| s.trim().to_string());
    let names: Vec<&str> = match controller {
        "cpu" => vec!["cpu", "cpu,cpuacct"],
        "cpuacct" => vec!["cpuacct", "cpu,cpuacct"],
        c => vec![c],
    };
    names
        .iter()
        .find_map(|c| read(format!("/sys/fs/cgroup/{c}/{}/{id}/{v1}", a.name)))
        .or_else(|| read(format!("/sys/fs/cgroup/{}/{id}/{v2}", a.name)))
}

/// How many periods the kernel has throttled the container (cpu.stat).
fn throttled(a: &Agent, id: &str) -> u64 {
    let stat = cg(a, id, "cpu", "cpu.stat", "cpu.stat").unwrap_or_default();
    stat.lines()
        .find_map(|l| l.strip_prefix("nr_throttled "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

fn v2() -> bool {
    std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// CPU time the container used, in nanoseconds.
fn cpu_ns(a: &Agent, id: &str) -> u64 {
    if v2() {
        let stat = cg(a, id, "", "", "cpu.stat").unwrap_or_default();
        let us: u64 = stat
            .lines()
            .find_map(|l| l.strip_prefix("usage_usec "))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        return us * 1000;
    }
    cg(a, id, "cpuacct", "cpuacct.usage", "")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn run_id(a: &Agent, args: &[&str]) -> String {
    a.skiff(&[&["run", "-d"], args].concat()).ok().out().to_string()
}

#[test]
fn a_memory_hog_is_oom_killed_with_137_and_an_oom_event() {
    let a = Agent::start();
    let r = a.skiff(&[
        "run",
        "--name",
        "hog",
        "--memory",
        "16m",
        "busybox",
        "sh",
        "-c",
        "x=0123456789; while :; do x=$x$x; done",
    ]);
    assert_eq!(r.code, 137, "{r:?}");
    assert_eq!(
        a.inspect("hog", "{{.State.OOMKilled}} {{.State.ExitCode}} {{.State.Status}}"),
        "true 137 exited"
    );
    assert_eq!(
        a.inspect("hog", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}"),
        "16777216 33554432"
    );
    let ev = a.past_events(&["container=hog"], "{{.Action}}");
    let actions: Vec<&str> = ev.stdout.lines().collect();
    let oom = actions.iter().position(|x| *x == "oom");
    let die = actions.iter().position(|x| *x == "die");
    assert!(oom.is_some() && oom < die, "{actions:?}");
    // A start clears it; a clean exit leaves it false.
    a.skiff(&["start", "-a", "hog"]);
    a.skiff(&["rm", "hog"]).ok();
    a.skiff(&["run", "--name", "calm", "--memory", "16m", "busybox", "true"])
        .ok();
    assert_eq!(a.inspect("calm", "{{.State.OOMKilled}}"), "false");
    a.finish();
}

#[test]
fn a_cpu_hog_gets_about_half_a_cpu_with_cpus_half() {
    let a = Agent::start();
    let id = run_id(&a, &["--cpus", "0.5", "busybox", "sh", "-c", "while :; do :; done"]);
    let quota = cg(&a, &id, "cpu", "cpu.cfs_quota_us", "cpu.max").unwrap();
    assert!(quota == "50000" || quota == "50000 100000", "{quota}");
    std::thread::sleep(Duration::from_millis(300));
    let (t0, u0) = (Instant::now(), cpu_ns(&a, &id));
    std::thread::sleep(Duration::from_secs(2));
    let used = (cpu_ns(&a, &id) - u0) as f64 / t0.elapsed().as_nanos() as f64;
    assert!((0.3..=0.7).contains(&used), "used {used:.2} CPUs");
    // Raised live to a whole CPU: the quota file and the usage follow.
    a.skiff(&["update", "--cpus", "1", &id]).ok();
    let quota = cg(&a, &id, "cpu", "cpu.cfs_quota_us", "cpu.max").unwrap();
    assert!(quota == "100000" || quota == "100000 100000", "{quota}");
    let (t0, u0, n0) = (Instant::now(), cpu_ns(&a, &id), throttled(&a, &id));
    std::thread::sleep(Duration::from_secs(2));
    let after = (cpu_ns(&a, &id) - u0) as f64 / t0.elapsed().as_nanos() as f64;
    let throttled_after = throttled(&a, &id) - n0;
    // Other tests share these two cores, so the hog may get no more CPU
    // than before; then the kernel's own count proves the quota no longer
    // holds it back (one thread cannot use more than a whole CPU).
    assert!(
        after > used + 0.1 || throttled_after <= 2,
        "used {used:.2} CPUs, then {after:.2} after update --cpus 1, throttled {throttled_after} times"
    );
    assert_eq!(a.inspect(&id, "{{.HostConfig.NanoCpus}}"), "1000000000");
    a.finish();
}

#[test]
fn a_fork_loop_stops_at_the_pids_limit_and_update_raises_it() {
    let a = Agent::start();
    let id = run_id(&a, &["--pids-limit", "20", "busybox", "sleep", "1000"]);
    // The shell forks until the kernel refuses (and ash gives up).
    let r = a.skiff(&["exec", &id, "sh", "-c", "for i in $(seq 40); do sleep 1000 & done"]);
    assert!(r.code != 0 && r.stderr.contains("can't fork"), "{r:?}");
    assert_eq!(cg(&a, &id, "pids", "pids.max", "pids.max").as_deref(), Some("20"));
    let current = || {
        cg(&a, &id, "pids", "pids.current", "pids.current")
            .unwrap()
            .parse::<u32>()
            .unwrap()
    };
    assert!((18..=20).contains(&current()), "{}", current());
    assert_eq!(a.inspect(&id, "{{.HostConfig.PidsLimit}}"), "20");
    // Live: ten more fit now.
    a.skiff(&["update", "--pids-limit", "30", &id]).ok();
    assert_eq!(cg(&a, &id, "pids", "pids.max", "pids.max").as_deref(), Some("30"));
    a.skiff(&[
        "exec",
        "-d",
        &id,
        "sh",
        "-c",
        "for i in $(seq 5); do sleep 1000 & done; sleep 1000",
    ])
    .ok();
    a.eventually("more processes than the old limit", || current() > 20);
    assert_eq!(a.inspect(&id, "{{.HostConfig.PidsLimit}}"), "30");
    // -1 lifts it.
    a.skiff(&["update", "--pids-limit", "-1", &id]).ok();
    assert_eq!(cg(&a, &id, "pids", "pids.max", "pids.max").as_deref(), Some("max"));
    assert_eq!(a.inspect(&id, "{{json .HostConfig.PidsLimit}}"), "null");
    a.finish();
}

#[test]
fn update_memory_changes_the_live_limit_and_survives_a_restart() {
    let a = Agent::start();
    let id = run_id(&a, &["--name", "m", "--memory", "16m", "busybox", "sleep", "1000"]);
    let limit = || cg(&a, &id, "memory", "memory.limit_in_bytes", "memory.max").unwrap();
    assert_eq!(limit(), "16777216");
    // Docker's rule: above the memory+swap limit, swap must come along.
    let r = a.skiff(&["update", "--memory", "48m", "m"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr.trim(),
        format!("Error response from daemon: Cannot update container {id}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time")
    );
    let r = a
        .skiff(&["update", "--memory", "48m", "--memory-swap", "96m", "m"])
        .ok();
    assert_eq!(r.stdout, "m\n");
    assert_eq!(limit(), "50331648");
    if !v2() {
        assert_eq!(
            cg(&a, &id, "memory", "memory.memsw.limit_in_bytes", "").as_deref(),
            Some("100663296")
        );
    }
    // 24 MiB in /dev/shm (tmpfs pages count against the limit) would not
    // have fit under 16 MiB.
    a.skiff(&["exec", "m", "dd", "if=/dev/zero", "of=/dev/shm/f", "bs=1M", "count=24"])
        .ok();
    assert_eq!(a.inspect("m", "{{.State.Running}} {{.State.OOMKilled}}"), "true false");
    assert_eq!(
        a.inspect("m", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}"),
        "50331648 100663296"
    );
    // A stopped container takes it in its record; the next start applies it.
    a.skiff(&["stop", "-t", "0", "m"]).ok();
    a.skiff(&["update", "--memory", "32m", "m"]).ok();
    a.skiff(&["start", "m"]).ok();
    assert_eq!(limit(), "33554432");
    a.skiff(&["restart", "-t", "0", "m"]).ok();
    assert_eq!(limit(), "33554432");
    // The stock docker client speaks the same API.
    let r = a.docker(&["update", "--cpu-shares", "512", "--restart", "on-failure:3", "m"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        cg(&a, &id, "cpu", "cpu.shares", "cpu.weight").as_deref(),
        Some(if v2() { "59" } else { "512" })
    );
    assert_eq!(
        a.inspect("m", "{{.HostConfig.CpuShares}} {{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}"),
        "512 on-failure 3"
    );
    let ev = a.past_events(&["event=update"], "{{.Action}}");
    assert_eq!(ev.stdout.lines().count(), 3, "{}", ev.stdout);
    // And its create: Docker's defaults and shapes in its own inspect.
    a.docker(&[
        "run",
        "-d",
        "--name",
        "d",
        "--memory",
        "32m",
        "--pids-limit",
        "10",
        "busybox",
        "sleep",
        "100",
    ])
    .ok();
    let fmt = "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.PidsLimit}} {{.HostConfig.MemorySwappiness}} {{.HostConfig.ShmSize}} {{.HostConfig.OomKillDisable}}";
    let r = a.docker(&["inspect", "-f", fmt, "d"]).ok();
    assert_eq!(r.out(), "33554432 67108864 10 <nil> 67108864 false");
    let r = a.skiff(&["update", "m"]);
    assert_eq!(
        (r.code, r.stderr.trim()),
        (1, "You must provide one or more flags when using this command.")
    );
    a.finish();
}

#[test]
fn inspect_shows_host_config_values_and_the_process_gets_them() {
    let a = Agent::start();
    let cpus = std::fs::read_to_string("/sys/fs/cgroup/cpuset/cpuset.cpus")
        .or_else(|_| std::fs::read_to_string("/sys/fs/cgroup/cpuset.cpus.effective"))
        .unwrap_or_default();
    let first_cpu = cpus.trim().split([',', '-']).next().unwrap_or("0").to_string();
    let args = [
        "--name",
        "lim",
        "--memory",
        "64m",
        "--memory-reservation",
        "32m",
        "--cpu-shares",
        "512",
        "--cpus",
        "1.5",
        "--cpuset-cpus",
        &first_cpu,
        "--pids-limit",
        "50",
        "--ulimit",
        "nofile=512:1024",
        "--shm-size",
        "8m",
        "--oom-score-adj",
        "300",
        "--sysctl",
        "net.ipv4.ip_forward=1",
        "--group-add",
        "wheel",
        "--group-add",
        "1234",
        "--device",
        "/dev/null:/dev/mynull:rw",
        "--oom-kill-disable",
        "busybox",
        "sleep",
        "1000",
    ];
    let id = run_id(&a, &args);
    let hc = json(&a.skiff(&["inspect", "-f", "{{json .HostConfig}}", "lim"]).ok());
    assert_eq!(hc["Memory"], 64 << 20);
    assert_eq!(hc["MemorySwap"], 128 << 20);
    assert_eq!(hc["MemoryReservation"], 32 << 20);
    assert_eq!(
        (hc["CpuShares"].as_i64(), hc["NanoCpus"].as_i64()),
        (Some(512), Some(1_500_000_000))
    );
    assert_eq!(hc["CpusetCpus"], first_cpu.as_str());
    assert_eq!(
        (hc["PidsLimit"].as_i64(), hc["ShmSize"].as_i64()),
        (Some(50), Some(8 << 20))
    );
    assert_eq!(
        hc["Ulimits"],
        serde_json::json!([{"Name": "nofile", "Hard": 1024, "Soft": 512}])
    );
    assert_eq!(
        (hc["OomScoreAdj"].as_i64(), hc["OomKillDisable"].as_bool()),
        (Some(300), Some(true))
    );
    assert_eq!(hc["Sysctls"], serde_json::json!({"net.ipv4.ip_forward": "1"}));
    assert_eq!(hc["GroupAdd"], serde_json::json!(["wheel", "1234"]));
    assert_eq!(
        hc["Devices"],
        serde_json::json!([{"PathOnHost": "/dev/null", "PathInContainer": "/dev/mynull", "CgroupPermissions": "rw"}])
    );
    for (k, zero) in [
        ("CpuPeriod", "0"),
        ("CpuQuota", "0"),
        ("KernelMemory", "0"),
        ("BlkioWeight", "0"),
        ("CpusetMems", "\"\""),
    ] {
        assert_eq!(hc[k].to_string(), zero, "{k}");
    }
    for k in ["BlkioDeviceReadBps", "MemorySwappiness", "DeviceCgroupRules"] {
        assert!(hc.get(k).is_some_and(|v| v.is_null()), "{k}: {hc}");
    }
    // What the process sees.
    let sh = |cmd: &str| a.skiff(&["exec", "lim", "sh", "-c", cmd]).ok().stdout;
    let nofile = sh("grep 'Max open files' /proc/1/limits");
    assert_eq!(
        nofile.split_whitespace().collect::<Vec<_>>()[3..5],
        ["512", "1024"],
        "{nofile}"
    );
    assert_eq!(sh("cat /proc/1/oom_score_adj"), "300\n");
    assert_eq!(sh("cat /proc/sys/net/ipv4/ip_forward"), "1\n");
    let groups = sh("grep Groups /proc/1/status");
    assert!(
        groups.split_whitespace().any(|g| g == "1234") && groups.contains("10"),
        "{groups}"
    );
    assert!(sh("ls -l /dev/mynull").starts_with('c'));
    assert!(sh("df -k /dev/shm").contains("8192"), "{}", sh("df -k /dev/shm"));
    assert_eq!(cg(&a, &id, "pids", "pids.max", "pids.max").as_deref(), Some("50"));
    if !v2() {
        assert_eq!(cg(&a, &id, "cpu", "cpu.shares", "").as_deref(), Some("512"));
        assert_eq!(
            cg(&a, &id, "memory", "memory.soft_limit_in_bytes", "").as_deref(),
            Some("33554432")
        );
        assert!(cg(&a, &id, "memory", "memory.oom_control", "")
            .unwrap()
            .contains("oom_kill_disable 1"));
        assert_eq!(
            cg(&a, &id, "cpuset", "cpuset.cpus", "").as_deref(),
            Some(first_cpu.as_str())
        );
    }
    a.finish();
}

#[test]
fn bad_limits_get_dockers_messages_and_create_nothing() {
    let a = Agent::start();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cases: Vec<(Vec<&str>, String)> = vec![
        (vec!["--memory", "4m"], "Minimum memory limit allowed is 6MB".into()),
        (
            vec!["--memory", "16m", "--memory-swap", "8m"],
            "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
        ),
        (
            vec!["--memory-swap", "32m"],
            "You should always set the Memory limit when using Memoryswap limit, see usage".into(),
        ),
        (
            vec!["--cpus", "0.5", "--cpu-quota", "50000"],
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set".into(),
        ),
        (
            vec!["--cpus", "64"],
            format!("Range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available"),
        ),
        (vec!["--cpuset-cpus", "0-63"], "Requested CPUs are not available - requested 0-63, available:".into()),
        (
            vec!["--cpu-period", "500"],
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)".into(),
        ),
        (
            vec!["--oom-score-adj", "2000"],
            "Invalid value 2000, range for oom score adj is [-1000, 1000]".into(),
        ),
        (
            vec!["--device", "/dev/nonexistent"],
            "error gathering device information while adding custom device \"/dev/nonexistent\": no such file or directory".into(),
        ),
        (vec!["--ulimit", "bogus=1"], "invalid ulimit type: bogus".into()),
    ];
    // Without CAP_SYS_RESOURCE (as on this machine) these cannot be granted.
    let caps = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let eff = caps
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap_or(0));
    let mut cases = cases;
    if eff.is_some_and(|c| c & (1 << 24) == 0) {
        cases.push((
            vec!["--oom-score-adj", "-500"],
            "--oom-score-adj -500: lowering the OOM score below the agent's own".into(),
        ));
        cases.push((
            vec!["--ulimit", "nofile=100000"],
            "ulimit nofile: hard limit 100000 is above the agent's own".into(),
        ));
    }
    for (flags, msg) in &cases {
        let r = a.skiff(&[&["run", "--rm"], &flags[..], &["busybox", "true"]].concat());
        assert_eq!(r.code, 125, "{flags:?}: {r:?}");
        assert!(
            r.stderr.contains(&format!("Error response from daemon: {msg}")),
            "{flags:?}: {}",
            r.stderr
        );
    }
    // Caught by the CLI, as Docker's.
    let r = a.skiff(&["run", "--rm", "--sysctl", "vm.swappiness=1", "busybox", "true"]);
    assert_eq!(r.code, 125);
    assert!(
        r.stderr.contains("sysctl 'vm.swappiness=1' is not whitelisted"),
        "{}",
        r.stderr
    );
    let r = a.skiff(&["run", "--rm", "--ulimit", "nofile=2:1", "busybox", "true"]);
    assert!(
        r.stderr
            .contains("ulimit soft limit must be less than or equal to hard limit: 2 > 1"),
        "{}",
        r.stderr
    );
    assert_eq!(a.skiff(&["ps", "-aq"]).ok().out(), "");
    // Warnings, not errors: the deprecated kernel memory flag.
    let r = a.skiff(&["create", "--kernel-memory", "64m", "busybox", "true"]).ok();
    assert!(
        r.stderr.contains(
            "WARNING: Specifying a kernel memory limit is deprecated and will be removed in a future release."
        ),
        "{}",
        r.stderr
    );
    // `info` claims what the host has, and warns about the rest.
    let r: Run = std::process::Command::new("curl")
        .args([
            "-s",
            "--unix-socket",
            a.sock().to_str().unwrap(),
            "http://skiff/v1.41/info",
        ])
        .output()
        .unwrap()
        .into();
    let info = json(&r);
    let has = |p: &str| std::path::Path::new(p).exists();
    if !v2() {
        assert_eq!(
            info["SwapLimit"],
            has("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
        );
        assert_eq!(info["OomKillDisable"], has("/sys/fs/cgroup/memory/memory.oom_control"));
        assert_eq!(info["PidsLimit"], has("/sys/fs/cgroup/pids"));
        let weight = has("/sys/fs/cgroup/blkio/blkio.weight") || has("/sys/fs/cgroup/blkio/blkio.bfq.weight");
        // As Docker 20.10's daemon: no blkio weight warning in `info` on
        // cgroup v1 (it lists only the throttle ones there).
        assert!(!info["Warnings"].to_string().contains("weight"), "{}", info["Warnings"]);
        if !weight {
            let r = a.skiff(&["create", "--blkio-weight", "300", "busybox", "true"]).ok();
            assert!(
                r.stderr.contains("WARNING: Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."),
                "{}",
                r.stderr
            );
        }
    }
    assert_eq!(info["KernelMemory"], false);
    a.finish();
}

/// The whole disk under `path` (`/dev/vda`), if it is a block device.
fn disk_of(path: &std::path::Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::metadata(path).ok()?.dev();
    let sys = std::path::PathBuf::from(format!("/sys/dev/block/{}:{}", libc_major(dev), libc_minor(dev)));
    let sys = std::fs::canonicalize(sys).ok()?;
    // A partition's queue (and throttle rules) belong to its disk.
    let disk = if sys.join("partition").exists() {
        sys.parent()?.to_path_buf()
    } else {
        sys
    };
    let name = disk.file_name()?.to_str()?.to_string();
    let dev = format!("/dev/{name}");
    std::path::Path::new(&dev).exists().then_some(dev)
}

/// A directory `sub` under the agent's root, the disk it lives on and a
/// `-v` bind of it at `/d`; `None` (said on stderr) off a block device.
fn block_dir(a: &Agent, sub: &str) -> Option<(String, String)> {
    let dir = a.root.join(sub);
    std::fs::create_dir_all(&dir).unwrap();
    let Some(disk) = disk_of(&dir) else {
        eprintln!("skipped: {} is not on a block device", dir.display());
        return None;
    };
    Some((disk, format!("{}:/d", dir.display())))
}

/// How long `skiff run --rm -v BIND [OPTS] CMD` takes.
fn timed_run(a: &Agent, bind: &str, opts: &[&str], cmd: &[&str]) -> Duration {
    let t0 = Instant::now();
    a.skiff(&[&["run", "--rm", "-v", bind], opts, cmd].concat()).ok();
    t0.elapsed()
}

fn libc_major(dev: u64) -> u64 {
    ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)
}

fn libc_minor(dev: u64) -> u64 {
    ((dev >> 12) & 0xffff_ff00) | (dev & 0xff)
}

#[test]
fn direct_io_writes_are_throttled_to_the_bps_limit() {
    let a = Agent::start();
    let Some((disk, bind)) = block_dir(&a, "io") else {
        a.finish();
        return;
    };
    let limit = format!("{disk}:1mb");
    let dd = [
        "busybox",
        "dd",
        "if=/dev/zero",
        "of=/d/f",
        "bs=64k",
        "count=32",
        "oflag=direct",
    ];
    // 2 MiB at 1 MiB/s: about two seconds; unthrottled, a blink.
    let throttled = timed_run(&a, &bind, &["--device-write-bps", &limit], &dd);
    assert!(throttled >= Duration::from_millis(1500), "{throttled:?}");
    let free = timed_run(&a, &bind, &[], &dd);
    assert!(free < throttled, "{free:?} unthrottled vs {throttled:?}");
    let id = run_id(&a, &["--device-write-bps", &limit, "busybox", "sleep", "100"]);
    let rule = cg(&a, &id, "blkio", "blkio.throttle.write_bps_device", "io.max").unwrap_or_default();
    assert!(rule.contains("1048576"), "{rule}");
    assert_eq!(
        a.inspect(&id, "{{json .HostConfig.BlkioDeviceWriteBps}}"),
        format!("[{{\"Path\":\"{disk}\",\"Rate\":1048576}}]")
    );
    a.finish();
}

#[test]
fn direct_io_is_throttled_to_the_iops_limits() {
    let a = Agent::start();
    let Some((disk, bind)) = block_dir(&a, "iops") else {
        a.finish();
        return;
    };
    let limit = format!("{disk}:20");
    // 40 direct 4 KiB writes at 20 per second: about two seconds.
    let write = [
        "busybox",
        "dd",
        "if=/dev/zero",
        "of=/d/f",
        "bs=4k",
        "count=40",
        "oflag=direct",
    ];
    let writes = timed_run(&a, &bind, &["--device-write-iops", &limit], &write);
    assert!(writes >= Duration::from_millis(1500), "writes took {writes:?}");
    let free = timed_run(&a, &bind, &[], &write);
    assert!(free < writes, "{free:?} unthrottled vs {writes:?}");
    // The same 40 blocks read back directly (past the page cache).
    let read = ["busybox", "dd", "if=/d/f", "of=/dev/null", "bs=4k", "iflag=direct"];
    let t0 = Instant::now();
    let r = a
        .skiff(&[&["run", "--rm", "-v", &bind, "--device-read-iops", &limit], &read[..]].concat())
        .ok();
    let reads = t0.elapsed();
    assert!(r.stderr.contains("40+0 records in"), "{}", r.stderr);
    assert!(reads >= Duration::from_millis(1500), "reads took {reads:?}");
    let opts = ["--device-read-iops", &limit, "--device-write-iops", &limit];
    let id = run_id(&a, &[&opts[..], &["busybox", "sleep", "100"]].concat());
    let rule = |v1: &str| cg(&a, &id, "blkio", v1, "io.max").unwrap_or_default();
    let (r, w) = (
        rule("blkio.throttle.read_iops_device"),
        rule("blkio.throttle.write_iops_device"),
    );
    assert!(r.ends_with(" 20") || r.contains("riops=20"), "{r}");
    assert!(w.ends_with(" 20") || w.contains("wiops=20"), "{w}");
    assert_eq!(
        a.inspect(&id, "{{json .HostConfig.BlkioDeviceReadIOps}}"),
        format!("[{{\"Path\":\"{disk}\",\"Rate\":20}}]")
    );
    assert_eq!(
        a.inspect(&id, "{{json .HostConfig.BlkioDeviceWriteIOps}}"),
        format!("[{{\"Path\":\"{disk}\",\"Rate\":20}}]")
    );
    a.finish();
}
