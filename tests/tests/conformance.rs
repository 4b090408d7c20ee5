//! Conformance with Docker where users' tools notice: the answers of
//! endpoints skiff does not serve (swarm), JSON `null`s SDKs send, the
//! CLI acting on many containers at once, and CLI verbs and flags.

use std::process::Command;
use std::time::Instant;

use skiff_tests::{Agent, Run};

/// A raw API call over the agent's socket: (status, body).
fn curl(a: &Agent, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let sock = a.sock();
    let url = format!("http://skiff/v1.41{path}");
    let mut args = vec![
        "-s",
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
        "--unix-socket",
        sock.to_str().expect("sock"),
        "-X",
        method,
    ];
    if let Some(b) = body {
        args.extend(["-H", "Content-Type: application/json", "-d", b]);
    }
    args.push(&url);
    let r: Run = Command::new("curl").args(&args).output().expect("curl").into();
    let (body, code) = r.stdout.rsplit_once('\n').expect("status line");
    (code.trim().parse().expect("status"), body.to_string())
}

const NOT_MANAGER: &str = r#"{"message":"This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again."}"#;

#[test]
fn swarm_endpoints_answer_as_docker_outside_a_swarm() {
    let a = Agent::start_bare();
    let (code, body) = curl(&a, "POST", "/swarm/leave?force=1", None);
    assert_eq!(
        (code, body.trim()),
        (503, r#"{"message":"This node is not part of a swarm"}"#)
    );
    for (m, p) in [
        ("GET", "/swarm"),
        ("GET", "/swarm/unlockkey"),
        ("POST", "/swarm/update?version=1"),
        ("GET", "/nodes"),
        ("GET", "/nodes/abc"),
        ("GET", "/services"),
        ("GET", "/services/web/logs"),
        ("GET", "/tasks"),
        ("GET", "/secrets"),
        ("DELETE", "/secrets/x"),
        ("GET", "/configs"),
        ("POST", "/configs/create"),
    ] {
        let (code, body) = curl(&a, m, p, None);
        assert_eq!((code, body.trim()), (503, NOT_MANAGER), "{m} {p}");
    }
    // Unknown paths and plugins answer as Docker 20.10 does.
    let (code, body) = curl(&a, "GET", "/no/such/endpoint", None);
    assert_eq!((code, body.trim()), (404, r#"{"message":"page not found"}"#));
    let (code, body) = curl(&a, "GET", "/images/busybox/nonsense", None);
    assert_eq!((code, body.trim()), (404, r#"{"message":"page not found"}"#));
    let (code, body) = curl(&a, "GET", "/plugins", None);
    assert_eq!((code, body.trim()), (200, "[]"));
    let (code, body) = curl(&a, "GET", "/plugins/vieux/sshfs/json", None);
    assert_eq!(
        (code, body.trim()),
        (404, r#"{"message":"plugin \"vieux/sshfs\" not found"}"#)
    );
    let r = a.docker(&["plugin", "ls"]).ok();
    assert_eq!(r.stdout.trim(), "ID        NAME      DESCRIPTION   ENABLED");
    // The stock docker CLI sees Docker's message too.
    let r = a.docker(&["swarm", "leave", "--force"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("This node is not part of a swarm"), "{}", r.stderr);
    a.finish();
}

#[test]
fn nulls_sdks_send_are_accepted() {
    let a = Agent::start();
    let body = r#"{"Name":"n1","CheckDuplicate":null,"Driver":null,"Internal":null,"Attachable":null,"EnableIPv6":null,
        "IPAM":{"Driver":null,"Options":null,"Config":[{"Subnet":"10.77.0.0/24","IPRange":null,"Gateway":null,"AuxiliaryAddresses":null}]},
        "Options":null,"Labels":null}"#;
    let (code, body) = curl(&a, "POST", "/networks/create", Some(body));
    assert_eq!(code, 201, "{body}");
    assert_eq!(
        a.inspect("n1", "{{.Driver}} {{range .IPAM.Config}}{{.Subnet}}{{end}}"),
        "bridge 10.77.0.0/24"
    );
    let body = r#"{"Image":"busybox","Cmd":["true"],"Hostname":null,"User":null,"Env":null,"Labels":null,"Tty":null,
        "OpenStdin":null,"WorkingDir":null,"Entrypoint":null,"ExposedPorts":null,"Volumes":null,
        "HostConfig":{"Binds":null,"NetworkMode":null,"RestartPolicy":null,"Memory":null,"CpuShares":null,
        "Privileged":null,"PortBindings":null,"Dns":null,"LogConfig":null,"AutoRemove":null},
        "NetworkingConfig":null}"#;
    let (code, body) = curl(&a, "POST", "/containers/create?name=c1", Some(body));
    assert_eq!(code, 201, "{body}");
    let (code, body) = curl(
        &a,
        "POST",
        "/containers/create?name=c2",
        Some(r#"{"Image":"busybox","Cmd":["true"],"HostConfig":null}"#),
    );
    assert_eq!(code, 201, "{body}");
    // Go's map[string]*EndpointSettings with a nil entry.
    let (code, body) = curl(
        &a,
        "POST",
        "/containers/create?name=c3",
        Some(
            r#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"NetworkMode":"n1"},"NetworkingConfig":{"EndpointsConfig":{"n1":null}}}"#,
        ),
    );
    assert_eq!(code, 201, "{body}");
    assert_eq!(
        a.inspect("c3", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}"),
        "n1"
    );
    a.skiff(&["rm", "c1", "c2", "c3"]).ok();
    a.skiff(&["network", "rm", "n1"]).ok();
    a.finish();
}

#[test]
fn stop_acts_on_containers_in_parallel_and_reports_in_order() {
    let a = Agent::start();
    let names: Vec<String> = (0..10).map(|i| format!("p{i}")).collect();
    for n in &names {
        // PID 1 ignores SIGTERM: each stop waits out its timeout.
        a.skiff(&["run", "-d", "--name", n, "busybox", "sleep", "300"]).ok();
    }
    let mut args = vec!["stop", "-t", "1"];
    args.extend(names.iter().map(String::as_str));
    args.insert(3, "nosuch");
    let t = Instant::now();
    let r = a.skiff(&args);
    let took = t.elapsed();
    assert_eq!(r.code, 1, "{r:?}");
    assert!(took.as_secs_f64() < 6.0, "stop of 10 took {took:?}");
    assert_eq!(r.stdout, names.iter().map(|n| format!("{n}\n")).collect::<String>());
    assert!(r.stderr.contains("No such container: nosuch"), "{}", r.stderr);
    let mut args = vec!["rm"];
    args.extend(names.iter().map(String::as_str));
    a.skiff(&args).ok();
    a.finish();
}

#[test]
fn container_verbs_exist_under_container() {
    let a = Agent::start();
    a.skiff(&["container", "create", "--name", "v1", "busybox", "sleep", "300"])
        .ok();
    assert_eq!(a.skiff(&["container", "start", "v1"]).ok().out(), "v1");
    assert_eq!(a.skiff(&["container", "pause", "v1"]).ok().out(), "v1");
    assert_eq!(a.inspect("v1", "{{.State.Status}}"), "paused");
    assert_eq!(a.skiff(&["container", "unpause", "v1"]).ok().out(), "v1");
    assert!(a.skiff(&["container", "top", "v1"]).ok().out().contains("sleep 300"));
    let r = a.skiff(&["container", "exec", "v1", "echo", "hi"]).ok();
    assert_eq!(r.out(), "hi");
    a.skiff(&["container", "rename", "v1", "v2"]).ok();
    assert_eq!(a.skiff(&["container", "restart", "-t", "0", "v2"]).ok().out(), "v2");
    assert_eq!(a.skiff(&["container", "kill", "v2"]).ok().out(), "v2");
    assert_eq!(a.skiff(&["container", "wait", "v2"]).ok().out(), "137");
    a.skiff(&["container", "port", "v2"]).ok();
    a.skiff(&["container", "logs", "v2"]).ok();
    a.skiff(&["container", "diff", "v2"]).ok();
    assert_eq!(a.skiff(&["container", "rm", "v2"]).ok().out(), "v2");
    a.finish();
}

#[test]
fn system_events_logs_details_and_inspect_type() {
    let a = Agent::start();
    let id = a
        .skiff(&[
            "run",
            "--name",
            "d1",
            "--label",
            "app=web",
            "--log-opt",
            "labels=app",
            "-e",
            "FOO=a b",
            "--log-opt",
            "env=FOO",
            "busybox",
            "echo",
            "hi",
        ])
        .ok()
        .stdout;
    assert_eq!(id, "hi\n");
    assert_eq!(
        a.skiff(&["logs", "--details", "d1"]).ok().stdout,
        "FOO=a+b,app=web hi\n"
    );
    a.skiff(&["run", "--name", "d2", "busybox", "echo", "hi"]).ok();
    assert_eq!(a.skiff(&["container", "logs", "--details", "d2"]).ok().stdout, " hi\n");
    assert_eq!(a.skiff(&["logs", "d2"]).ok().stdout, "hi\n");
    let now = chrono_now();
    let r = a
        .skiff(&[
            "system",
            "events",
            "--since",
            "0",
            "--until",
            &now,
            "--filter",
            "container=d2",
        ])
        .ok();
    assert!(r.stdout.contains(" container create "), "{}", r.stdout);
    assert!(r.stdout.contains(" container die "), "{}", r.stdout);
    // inspect --type picks the kind of object; a wrong type is refused.
    a.skiff(&["volume", "create", "d1"]).ok();
    let r = a
        .skiff(&["inspect", "--type", "volume", "-f", "{{.Name}} {{.Driver}}", "d1"])
        .ok();
    assert_eq!(r.out(), "d1 local");
    let r = a
        .skiff(&["inspect", "--type", "container", "-f", "{{.Name}}", "d1"])
        .ok();
    assert_eq!(r.out(), "/d1");
    let r = a
        .skiff(&["inspect", "--type", "network", "-f", "{{.Name}}", "bridge"])
        .ok();
    assert_eq!(r.out(), "bridge");
    // (A name that is no hex ID prefix: "d1" may begin a network's ID.)
    let r = a.skiff(&["inspect", "--type", "network", "d1-volume"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("No such network: d1-volume"), "{}", r.stderr);
    let r = a.skiff(&["inspect", "--type", "bogus", "d1"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("\"bogus\" is not a valid value for --type"),
        "{}",
        r.stderr
    );
    a.skiff(&["rm", "d1", "d2"]).ok();
    a.skiff(&["volume", "rm", "d1"]).ok();
    a.finish();
}

fn chrono_now() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock");
    (t.as_secs() + 1).to_string()
}

#[test]
fn images_filters_digests_all_and_format() {
    let a = Agent::start();
    let tar = skiff_tests::busybox_tar();
    let tar = tar.to_str().expect("path");
    a.skiff(&["import", "-c", "LABEL tier=db", tar, "lab:1"]).ok();
    a.skiff(&["tag", "busybox", "other:2"]).ok();
    // `-a` lists the same (the CREATED column may cross a second between
    // the two calls: compare again then).
    let same = || a.skiff(&["images"]).ok().stdout == a.skiff(&["images", "-a"]).ok().stdout;
    assert!(same() || same(), "images -a differs from images");
    let plain = a.skiff(&["images"]).ok().stdout;
    assert!(plain.starts_with("REPOSITORY   TAG "), "{plain}");
    let r = a
        .skiff(&[
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}}",
            "-f",
            "reference=busy*",
        ])
        .ok();
    assert_eq!(r.out(), "busybox:latest");
    let r = a
        .skiff(&[
            "image",
            "ls",
            "--format",
            "{{.Repository}}:{{.Tag}}",
            "--filter",
            "label=tier=db",
        ])
        .ok();
    assert_eq!(r.out(), "lab:1");
    let r = a
        .skiff(&["images", "--format", "{{.Repository}}", "--filter", "label=tier"])
        .ok();
    assert_eq!(r.out(), "lab");
    assert_eq!(a.skiff(&["images", "-q", "-f", "dangling=true"]).ok().out(), "");
    let r = a
        .skiff(&["images", "-f", "reference=other", "--format", "{{.ID}} {{.Tag}}"])
        .ok();
    let busybox_id = a.skiff(&["images", "-q", "busybox"]).ok().stdout;
    assert_eq!(r.out(), format!("{} 2", busybox_id.trim()));
    let r = a.skiff(&["images", "--digests", "lab"]).ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines[0].starts_with("REPOSITORY   TAG       DIGEST    IMAGE ID"),
        "{}",
        r.stdout
    );
    assert!(
        lines[1].starts_with("lab          1         <none>    "),
        "{}",
        r.stdout
    );
    let r = a.skiff(&["images", "-f", "bogus=1"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("invalid filter 'bogus'"), "{}", r.stderr);
    a.finish();
}

#[test]
fn nulls_in_volume_and_exec_requests_are_accepted() {
    let a = Agent::start();
    let (code, body) = curl(
        &a,
        "POST",
        "/volumes/create",
        Some(r#"{"Name":"v1","Driver":null,"DriverOpts":null,"Labels":null}"#),
    );
    assert_eq!(code, 201, "{body}");
    a.skiff(&["run", "-d", "--name", "e1", "busybox", "sleep", "300"]).ok();
    let (code, body) = curl(
        &a,
        "POST",
        "/containers/e1/exec",
        Some(
            r#"{"Cmd":["true"],"Env":null,"User":null,"WorkingDir":null,"Tty":null,"Privileged":null,"AttachStdout":null,"AttachStderr":null,"AttachStdin":null,"DetachKeys":null}"#,
        ),
    );
    assert_eq!(code, 201, "{body}");
    a.skiff(&["rm", "-f", "e1"]).ok();
    a.skiff(&["volume", "rm", "v1"]).ok();
    a.finish();
}

#[test]
fn the_agent_serves_sockets_passed_by_systemd_socket_activation() {
    let mut a = Agent::start();
    a.skiff(&["run", "-d", "--name", "keep", "busybox", "sleep", "300"])
        .ok();
    // As under systemd: the socket is made by someone else and passed as
    // descriptor 3 (LISTEN_FDS/LISTEN_PID); `-H fd://` serves it.
    let activated = a.root.join("activated.sock");
    let path = activated.display().to_string();
    // systemd-socket-activate execs the agent at the first connection.
    let knock = |p: std::path::PathBuf| {
        std::thread::spawn(move || {
            for _ in 0..400 {
                if std::os::unix::net::UnixStream::connect(&p).is_ok() {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
        })
    };
    a.kill9();
    let k = knock(activated.clone());
    a.launch_wrapped(&["systemd-socket-activate", "-l", &path], &["-H", "fd://"]);
    k.join().unwrap();
    let host = format!("unix://{path}");
    let skiff = skiff_tests::bin_dir().join("skiff").display().to_string();
    let r = a
        .in_netns(&skiff, &["-H", &host, "ps", "--format", "{{.Names}}"], &[])
        .ok();
    assert_eq!(r.out(), "keep");
    let docker = skiff_tests::docker_bin().display().to_string();
    let r = a
        .in_netns(
            &docker,
            &["-H", &host, "run", "--rm", "busybox", "echo", "activated"],
            &[],
        )
        .ok();
    assert_eq!(r.out(), "activated");
    // The same socket named by its descriptor.
    a.kill9();
    let _ = std::fs::remove_file(&activated);
    let k = knock(activated.clone());
    a.launch_wrapped(&["systemd-socket-activate", "-l", &path], &["-H", "fd://3"]);
    k.join().unwrap();
    a.in_netns(&skiff, &["-H", &host, "version"], &[]).ok();
    assert!(a.log().contains("API listening on fd://3"), "{}", a.log());
    let _ = std::fs::remove_file(&activated);
    a.finish();
}

/// `POST /session` answers as Docker 20.10's session manager does to a
/// request it cannot take (400, its words); skiff has no BuildKit
/// sessions, so an h2c upgrade gets a 501 that says so.
#[test]
fn session_endpoint_answers_as_docker_without_buildkit_sessions() {
    let a = Agent::start_bare();
    let (code, body) = curl(&a, "POST", "/session", None);
    assert_eq!(
        (code, body.trim()),
        (400, r#"{"message":"no upgrade proto in request"}"#)
    );
    let sock = a.sock();
    let upgrade = |proto: &str| -> String {
        let r: Run = Command::new("curl")
            .args(["-s", "-i", "--max-time", "5", "-X", "POST", "--unix-socket"])
            .arg(&sock)
            .args(["-H", &format!("Upgrade: {proto}"), "-H", "Connection: Upgrade"])
            .args(["-H", "X-Docker-Expose-Session-Uuid: abc", "http://skiff/v1.41/session"])
            .output()
            .expect("curl")
            .into();
        r.stdout.replace('\r', "")
    };
    let r = upgrade("tcp");
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    assert!(r.ends_with(r#"{"message":"protocol tcp not supported"}"#), "{r}");
    let r = upgrade("h2c");
    assert!(r.starts_with("HTTP/1.1 501"), "{r}");
    assert!(
        r.ends_with(r#"{"message":"BuildKit sessions are not supported by this daemon: build with the classic builder (DOCKER_BUILDKIT=0)"}"#),
        "{r}"
    );
    // Other methods: Docker's 404.
    let (code, body) = curl(&a, "GET", "/session", None);
    assert_eq!((code, body.trim()), (404, r#"{"message":"page not found"}"#));
    a.finish();
}
