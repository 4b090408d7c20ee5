//! `skiff events`: what the agent did, as Docker reports it, filtered,
//! replayed from `--since`, and still there after the agent restarts.

use skiff_tests::Agent;

fn actions(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.split_whitespace().nth(2).map(String::from))
        .collect()
}

#[test]
fn events_report_container_image_and_network_changes_and_survive_a_restart() {
    let mut a = Agent::start();
    a.skiff(&["run", "--name", "ev1", "busybox", "sh", "-c", "exit 3"]);
    a.skiff(&["rm", "ev1"]).ok();
    a.skiff(&["tag", "busybox", "mine:1"]).ok();
    a.skiff(&["network", "create", "evnet"]).ok();
    let past = ["events", "--since", "1m", "--until", "0s"];
    let r = a.skiff(&[&past[..], &["--filter", "container=ev1"]].concat()).ok();
    assert_eq!(
        actions(&r.stdout),
        ["create", "attach", "start", "die", "destroy"],
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("exitCode=3") && r.stdout.contains("name=ev1"),
        "{}",
        r.stdout
    );
    let r = a
        .skiff(
            &[
                &past[..],
                &[
                    "--filter",
                    "type=image",
                    "--format",
                    "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
                ],
            ]
            .concat(),
        )
        .ok();
    assert!(
        r.stdout.contains("image import") && r.stdout.contains("image tag mine:1"),
        "{}",
        r.stdout
    );
    let r = a
        .skiff(&[&past[..], &["--filter", "type=network", "--filter", "event=create"]].concat())
        .ok();
    assert!(
        r.stdout.contains("network create") && r.stdout.contains("name=evnet"),
        "{}",
        r.stdout
    );
    // Starting and exiting connect and disconnect the container's
    // networks; an exec's end is reported with its exit code.
    let id = a
        .skiff(&["run", "-d", "--name", "ev3", "busybox", "sleep", "100"])
        .ok()
        .out()
        .to_string();
    assert_eq!(a.skiff(&["exec", "ev3", "sh", "-c", "exit 5"]).code, 5);
    a.skiff(&["rm", "-f", "ev3"]).ok();
    let r = a
        .skiff(
            &[
                &past[..],
                &[
                    "--filter",
                    "type=network",
                    "--filter",
                    "event=connect",
                    "--filter",
                    "event=disconnect",
                ],
            ]
            .concat(),
        )
        .ok();
    let mine: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.contains(&format!("container={id}")))
        .collect();
    assert_eq!(mine.len(), 2, "{}", r.stdout);
    assert!(
        mine[0].contains("network connect") && mine[1].contains("network disconnect"),
        "{}",
        r.stdout
    );
    assert!(mine[0].contains("name=bridge"), "{}", r.stdout);
    let r = a
        .skiff(&[&past[..], &["--filter", "container=ev3", "--filter", "event=exec_die"]].concat())
        .ok();
    assert!(
        r.stdout.contains("container exec_die") && r.stdout.contains("exitCode=5"),
        "{}",
        r.stdout
    );
    // A live reader sees what happens next, and stops at --until.
    let until = (chrono_now() + 3).to_string();
    let reader = std::process::Command::new(skiff_tests::bin_dir().join("skiff"))
        .args(["-H", &a.host(), "events", "--until", &until, "--filter", "event=start"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    a.skiff(&["run", "--rm", "--name", "ev2", "busybox", "true"]).ok();
    let out = reader.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&out.stdout);
    assert_eq!(actions(&out), ["start"], "{out}");
    assert!(out.contains("name=ev2"));
    // Kept on disk: a restarted agent still has them.
    a.kill9();
    a.launch();
    let r = a.skiff(&[&past[..], &["--filter", "container=ev1"]].concat()).ok();
    assert_eq!(actions(&r.stdout).len(), 5, "{}", r.stdout);
    let r = a.skiff(&["events", "--filter", "colour=red", "--until", "0s"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("invalid filter 'colour'"), "{}", r.stderr);
    a.skiff(&["network", "rm", "evnet"]).ok();
    a.finish();
}

fn chrono_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
