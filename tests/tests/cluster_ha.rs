//! Three controllers on raft, on real processes: each controller in a
//! network namespace of its own, agents and the CLI given every address.
//! The leader is killed in the middle of concurrent changes, a follower is
//! cut off the network and comes back, and every controller is restarted
//! in turn, while a service runs.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use skiff_tests::cluster::Cluster;

/// (raft ID, manager status, membership, lag) of every controller.
fn controllers(c: &Cluster) -> Vec<(u32, String, String, u64)> {
    let out = c.skiff(&[
        "cluster",
        "controllers",
        "--format",
        "{{.RaftID}} {{.ManagerStatus}} {{.Membership}} {{.Lag}}",
    ]);
    out.out()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((
                f.first()?.parse().ok()?,
                f.get(1)?.to_string(),
                f.get(2)?.to_string(),
                f.get(3)?.parse().ok()?,
            ))
        })
        .collect()
}

fn leader(c: &Cluster) -> Option<u32> {
    controllers(c).into_iter().find(|r| r.1 == "Leader").map(|r| r.0)
}

/// Every controller a voter, reachable from the leader, with no lag.
fn all_caught_up(c: &Cluster, n: usize) -> bool {
    let rows = controllers(c);
    rows.len() == n && rows.iter().all(|r| r.1 != "Unreachable" && r.2 == "voter" && r.3 == 0)
}

/// The IDs of the containers running on host hI, straight from its agent.
fn running_on(c: &Cluster, i: u32) -> BTreeSet<String> {
    c.skiff_on(i, &["ps", "-q", "--no-trunc"])
        .ok()
        .out()
        .lines()
        .map(String::from)
        .collect()
}

fn services(c: &Cluster) -> Vec<String> {
    c.skiff(&["service", "ls", "--format", "{{.Name}}"])
        .ok()
        .out()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn three_controllers_lose_no_acknowledged_change_and_keep_running_work() {
    let c = Cluster::up_ha(2, 3, &[]);
    assert!(all_caught_up(&c, 3), "{:?}", controllers(&c));
    assert_eq!(controllers(&c).iter().filter(|r| r.1 == "Leader").count(), 1);
    c.import_busybox();
    c.skiff(&[
        "service",
        "create",
        "--name",
        "web",
        "--replicas",
        "2",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
    ])
    .ok();
    c.eventually(30, "web's two tasks running", || {
        running_on(&c, 1).len() + running_on(&c, 2).len() == 2
    });
    let work = [running_on(&c, 1), running_on(&c, 2)];

    // 100 concurrent changes (service creates and node label updates);
    // the leader is killed while they run.
    let first = leader(&c).expect("a leader");
    let changes = std::thread::scope(|s| {
        let handles: Vec<_> = (0..100)
            .map(|k| {
                let c = &c;
                s.spawn(move || {
                    std::thread::sleep(Duration::from_millis(15 * k));
                    let name = format!("s{k}");
                    let label = format!("{name}=v");
                    let args: Vec<&str> = match k % 2 {
                        0 => vec![
                            "service",
                            "create",
                            "--name",
                            &name,
                            "--replicas",
                            "0",
                            "busybox",
                            "true",
                        ],
                        _ => vec!["node", "update", "--label-add", &label, "h1"],
                    };
                    let ok = c.skiff(&args).code == 0;
                    (name, ok)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(500));
        c.script(&["kill-controller", &first.to_string()]).ok();
        let killed = Instant::now();
        let mut elected = None;
        while killed.elapsed() < Duration::from_secs(10) {
            if leader(&c).is_some_and(|l| l != first) {
                elected = Some(killed.elapsed());
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let elected = elected.expect("a new leader after the old one was killed");
        assert!(elected < Duration::from_secs(5), "electing took {elected:?}");
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect::<Vec<_>>()
    });
    let acknowledged: Vec<&String> = changes.iter().filter(|(_, ok)| *ok).map(|(n, _)| n).collect();
    assert!(
        acknowledged.len() >= 60,
        "only {} of 100 changes went through",
        acknowledged.len()
    );
    let listed = services(&c);
    let labels = c.node("h1", "{{json .Spec.Labels}}");
    let labels: std::collections::BTreeMap<String, String> =
        serde_json::from_str(&labels).unwrap_or_else(|e| panic!("{labels}: {e}"));
    for name in &acknowledged {
        let k: u32 = name[1..].parse().expect("number");
        if k.is_multiple_of(2) {
            assert_eq!(listed.iter().filter(|l| l == name).count(), 1, "{name} in {listed:?}");
        } else {
            assert_eq!(labels.get(*name).map(String::as_str), Some("v"), "{name} in {labels:?}");
        }
    }

    // The agents move to a live controller by themselves; the running
    // work was never rescheduled.
    c.eventually(30, "both nodes ready again", || {
        c.skiff(&["node", "ls", "--format", "{{.Status.State}}"])
            .out()
            .matches("ready")
            .count()
            == 2
    });
    assert_eq!([running_on(&c, 1), running_on(&c, 2)], work);

    // The killed controller comes back and catches up.
    c.script(&["start-controller", &first.to_string()]).ok();
    c.eventually(20, "the restarted controller caught up", || all_caught_up(&c, 3));

    // A follower cut off the network misses a change, and catches up.
    let now = leader(&c).expect("a leader");
    let follower = (1..=3).find(|i| *i != now).expect("a follower");
    c.script(&["cut-controller", &follower.to_string()]).ok();
    c.skiff(&[
        "service",
        "create",
        "--name",
        "while-cut",
        "--replicas",
        "0",
        "busybox",
        "true",
    ])
    .ok();
    c.script(&["heal-controller", &follower.to_string()]).ok();
    c.eventually(20, "the cut-off controller caught up", || all_caught_up(&c, 3));

    // A rolling restart of every controller, one at a time.
    for i in 1..=3 {
        c.script(&["stop-controller", &i.to_string()]).ok();
        c.script(&["start-controller", &i.to_string()]).ok();
        c.eventually(30, "the controller back as a voter", || all_caught_up(&c, 3));
    }
    assert!(services(&c).iter().any(|s| s == "while-cut"));
    c.eventually(30, "both nodes ready after the restarts", || {
        c.skiff(&["node", "ls", "--format", "{{.Status.State}}"])
            .out()
            .matches("ready")
            .count()
            == 2
    });
    assert_eq!(
        [running_on(&c, 1), running_on(&c, 2)],
        work,
        "a controller restart touched running work"
    );
    c.finish();
}

#[test]
fn five_controllers_lose_no_acknowledged_change_when_two_of_them_die() {
    let c = Cluster::up_ha(1, 5, &[]);
    assert!(all_caught_up(&c, 5), "{:?}", controllers(&c));
    let create = |name: &str| {
        c.skiff(&[
            "service",
            "create",
            "--name",
            name,
            "--replicas",
            "0",
            "busybox",
            "true",
        ])
        .code
            == 0
    };
    // 20 concurrent changes; the leader and a follower are killed while
    // they run.
    let first = leader(&c).expect("a leader");
    let second = (1..=5).find(|i| *i != first).expect("a follower");
    let changes = std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|k| {
                let create = &create;
                s.spawn(move || {
                    std::thread::sleep(Duration::from_millis(50 * k));
                    let name = format!("f{k}");
                    let ok = create(&name);
                    (name, ok)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(400));
        c.script(&["kill-controller", &first.to_string()]).ok();
        c.script(&["kill-controller", &second.to_string()]).ok();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect::<Vec<_>>()
    });
    c.eventually(10, "a new leader among the three left", || {
        leader(&c).is_some_and(|l| l != first && l != second)
    });
    let acknowledged: Vec<&String> = changes.iter().filter(|(_, ok)| *ok).map(|(n, _)| n).collect();
    assert!(
        acknowledged.len() >= 10,
        "only {} of 20 went through",
        acknowledged.len()
    );
    let listed = services(&c);
    for name in &acknowledged {
        assert_eq!(listed.iter().filter(|l| l == name).count(), 1, "{name} in {listed:?}");
    }
    // Three of five still make a quorum: writes go on.
    assert!(create("after-two-died"));
    // Removing a live controller now would leave no quorum: refused.
    let now = leader(&c).expect("a leader");
    let live = (1..=5)
        .find(|i| ![first, second, now].contains(i))
        .expect("a live follower");
    let r = c.skiff(&["cluster", "controllers", "rm", &live.to_string()]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(r.stderr.contains("quorum"), "{}", r.stderr);
    // Both come back and catch up; nothing acknowledged was lost.
    for i in [first, second] {
        c.script(&["start-controller", &i.to_string()]).ok();
    }
    c.eventually(30, "all five caught up", || all_caught_up(&c, 5));
    let listed = services(&c);
    for name in acknowledged.iter().map(|n| n.as_str()).chain(["after-two-died"]) {
        assert!(listed.iter().any(|l| l == name), "{name} lost: {listed:?}");
    }
    c.finish();
}
