//! No leaks: many create/start/exec/stop/rm cycles leave the host as they
//! found it and the agent no bigger.
//!
//! CI runs 150 cycles after a warm-up of 20. The soak runs 1,000:
//!
//! ```text
//! SKIFF_SOAK=1 cargo test -p skiff-tests --test leaks -- --nocapture
//! ```

use skiff_tests::host::{self, Snapshot};
use skiff_tests::Agent;

const WARM_UP: usize = 20;

fn cycles() -> usize {
    if std::env::var_os("SKIFF_SOAK").is_some() {
        1_000
    } else {
        150
    }
}

/// The network alias the `i`-th cycle's container answers to (on user
/// network cycles).
fn alias(i: usize) -> String {
    format!("svc{i}")
}

/// One cycle, in one of three shapes: the default bridge with a published
/// port and a named volume; a user network with a network alias; the
/// default bridge with an anonymous volume removed with `rm -v`. Each
/// container runs an exec before it is stopped and removed.
fn cycle(a: &Agent, i: usize, check_dns: bool) {
    let name = format!("cyc{i}");
    let vol = format!("relvol{i}");
    let alias = alias(i);
    let vol_arg = format!("{vol}:/data");
    let mut args = vec!["create", "--name", &name];
    match i % 3 {
        0 => args.extend(["-p", "127.0.0.1::8080", "-v", &vol_arg]),
        1 => args.extend(["--network", "relnet", "--net-alias", &alias]),
        _ => args.extend(["-v", "/data"]),
    }
    args.extend(["busybox", "sleep", "300"]);
    a.skiff(&args).ok();
    a.skiff(&["start", &name]).ok();
    let echo = a.skiff(&["exec", &name, "sh", "-c", "echo $HOSTNAME > /tmp/x && cat /tmp/x"]);
    assert!(!echo.ok().out().is_empty());
    if check_dns && i % 3 == 1 {
        // While it runs, its alias resolves: the later check that a removed
        // alias does not resolve proves something.
        a.skiff(&["exec", "prober", "nslookup", &alias]).ok();
    }
    a.skiff(&["stop", "-t", "0", &name]).ok();
    a.skiff(&["rm", "-v", &name]).ok();
    if i.is_multiple_of(3) {
        a.skiff(&["volume", "rm", &vol]).ok();
    }
}

fn rss(a: &Agent) -> u64 {
    host::rss_kib(a.agent_pid())
}

#[test]
fn create_start_exec_stop_rm_cycles_leave_nothing_behind() {
    let a = Agent::start();
    a.skiff(&["network", "create", "relnet"]).ok();
    // A long-lived container on the user network asks the DNS questions.
    a.skiff(&[
        "run",
        "-d",
        "--name",
        "prober",
        "--network",
        "relnet",
        "busybox",
        "sleep",
        "3600",
    ])
    .ok();
    for i in 0..WARM_UP {
        cycle(&a, i, i < 3);
    }
    let before = Snapshot::quiet(&a);
    let (rss0, fds0, threads0) = (rss(&a), host::fds(a.agent_pid()), host::threads(a.agent_pid()));
    let n = cycles();
    let t0 = std::time::Instant::now();
    for i in WARM_UP..WARM_UP + n {
        cycle(&a, i, false);
    }
    let per = t0.elapsed() / n as u32;
    let diff = Snapshot::settled_diff(&a, &before);
    let rss1 = rss(&a);
    let (fds1, threads1) = (host::fds(a.agent_pid()), host::threads(a.agent_pid()));
    eprintln!(
        "{n} cycles ({per:?} each): agent RSS {rss0} -> {rss1} KiB, fds {fds0} -> {fds1}, threads {threads0} -> {threads1}"
    );
    assert!(diff.is_empty(), "after {n} cycles:\n{}", diff.join("\n"));
    // Nothing of the cycles in skiff's own answers either.
    assert_eq!(a.skiff(&["ps", "-a", "--format", "{{.Names}}"]).ok().out(), "prober");
    let vols = a.skiff(&["volume", "ls", "-q"]).ok();
    assert!(vols.out().is_empty(), "volumes left: {}", vols.stdout);
    let on_net = a
        .skiff(&["network", "inspect", "-f", "{{len .Containers}}", "relnet"])
        .ok();
    assert_eq!(on_net.out(), "1");
    // A removed container's alias no longer resolves; a live one still does.
    let last = (WARM_UP..WARM_UP + n)
        .rev()
        .find(|i| i % 3 == 1)
        .expect("a user network cycle");
    let gone = a.skiff(&["exec", "prober", "nslookup", &alias(last)]);
    assert_ne!(gone.code, 0, "removed alias still resolves: {}", gone.stdout);
    a.skiff(&["exec", "prober", "nslookup", "prober"]).ok();
    // Memory: within 10 % (and 1.5 MiB of allocator noise) of the warm-up.
    let limit = rss0 + rss0 / 10 + 1536;
    assert!(
        rss1 <= limit,
        "agent RSS grew from {rss0} to {rss1} KiB over {n} cycles (limit {limit})"
    );
    assert!(fds1 <= fds0 + 4, "agent fds grew from {fds0} to {fds1}");
    a.finish();
}
