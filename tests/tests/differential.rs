//! The differential conformance suite: the same API calls go to a skiff
//! agent and to a real Docker 20.10 daemon (its own namespace and roots),
//! in the API versions clients ask for, and the answers must match after
//! normalising what must differ (see `skiff_tests::differ`). What still
//! differs on purpose is on each test's allow-list, with the reason.

use skiff_tests::differ::{Mode, Pair};

/// Old clients (docker-py's default), the newest 20.10 speaks, and none.
const VERSIONS: &[&str] = &["/v1.24", "/v1.41", ""];

/// What skiff answers differently on purpose, and why. Each entry must
/// still match something, so the list stays short and true.
const IMAGES_ALLOW: &[(&str, &str)] = &[
    (
        "GET */images/*/json.DockerVersion: *",
        "the Docker version that made the image: skiff is not Docker, and says so with an empty string",
    ),
    (
        "GET */images/*/json.Metadata.LastTagTime: *",
        "skiff does not record when an image was last tagged (Docker's zero time stands for never)",
    ),
    (
        "GET */info.Runtimes.io.containerd.*: missing*",
        "containerd's runtime aliases: skiff has one runtime, runc-compatible libcontainer, listed as runc",
    ),
    (
        "GET /v1.24/info.ExecutionDriver: missing*",
        "a field Docker adds for clients older than 1.25, always \"<not supported>\"; no client reads it",
    ),
];

const TRANSPORT_ALLOW: &[(&str, &str)] = &[
    (
        "DELETE */images/*[0].Untagged: \"<ip>:5000/bb:*\" vs \"<ip>:5000/bb:*\"",
        "the test's own tags: each side pushes and pulls its own",
    ),
    (
        "DELETE */images/REPO:TAG: 1 items vs 2",
        "after a push Docker keeps the repository's digest reference and untags it too; skiff records digests from pulls only",
    ),
    (
        "GET */images/made:1/*",
        "commit metadata Docker keeps from its legacy image format (Container, ContainerConfig, Parent, parents' IDs and tags in history): skiff keeps no parent chain",
    ),
    (
        "POST /images/load.error*: \"invalid archive: * vs \"Error processing tar file*",
        "the loader's own words for a truncated archive (Docker's come from its tar child process)",
    ),
];

const EXTRAS_ALLOW: &[(&str, &str)] = &[
    (
        "GET */images/built:1/json.*",
        "classic-build metadata from Docker's intermediate images (Container, ContainerConfig, Parent, DockerVersion, LastTagTime): skiff's builder keeps a content-keyed cache instead of intermediate images",
    ),
    (
        "DELETE */images/built:1: 2 items vs 4",
        "Docker also deletes the build's intermediate images, which skiff does not make",
    ),
    (
        "POST */build/prune.CachesDeleted: *",
        "skiff's builder keeps a build cache of its steps; Docker's classic builder keeps none",
    ),
];

const CONTAINERS_ALLOW: &[(&str, &str)] = &[
    (
        "GET */containers/c*/json.HostConfig.MaskedPaths: 11 items vs 10",
        "skiff also masks /sys/devices/virtual/powercap (CVE-2020-8694), as Docker does from 24.0.7 on",
    ),
    (
        "GET */containers/json*HostConfig.*: extra*",
        "the reservations and host ports the controller's scheduler reads from each agent's list",
    ),
    (
        "GET */containers/*Networks.bridge.NetworkID: \"<id>\" vs \"\"",
        "skiff resolves a created container's networks at create, Docker at start",
    ),
    (
        "GET */containers/c*/top.Processes[0][*]: *",
        "PIDs and CPU use of the processes, which differ between any two runs",
    ),
];

#[test]
fn system_and_image_endpoints_answer_as_docker() {
    let mut p = Pair::start();
    for v in VERSIONS {
        p.both(Mode::Values, "GET", &format!("{v}/_ping"), None);
        p.both(Mode::Values, "HEAD", &format!("{v}/_ping"), None);
        p.both(Mode::Shape, "GET", &format!("{v}/version"), None);
        p.both(Mode::Shape, "GET", &format!("{v}/info"), None);
        p.both(Mode::Values, "GET", &format!("{v}/images/json"), None);
        p.both(Mode::Values, "GET", &format!("{v}/images/busybox/json"), None);
        p.both(Mode::Values, "GET", &format!("{v}/images/busybox/history"), None);
        p.both(Mode::Values, "GET", &format!("{v}/images/nope/json"), None);
        p.both(
            Mode::Values,
            "GET",
            &format!("{v}/images/json?filters=%7B%22dangling%22%3A%5B%22true%22%5D%7D"),
            None,
        );
        p.both(
            Mode::Values,
            "POST",
            &format!("{v}/images/busybox/tag?repo=other&tag=t1"),
            None,
        );
        p.both(Mode::Values, "GET", &format!("{v}/images/other:t1/json"), None);
        p.both(Mode::Values, "DELETE", &format!("{v}/images/other:t1"), None);
        p.both(Mode::Values, "DELETE", &format!("{v}/images/other:t1"), None);
        p.both(Mode::Shape, "GET", &format!("{v}/system/df"), None);
        p.both(Mode::Values, "GET", &format!("{v}/nothing/here"), None);
        p.both(Mode::Values, "POST", &format!("{v}/swarm/leave?force=1"), None);
        p.both(Mode::Values, "GET", &format!("{v}/plugins"), None);
    }
    // Clients newer than 1.41 and older than the minimum.
    p.both(Mode::Values, "GET", "/v1.43/version", None);
    p.both(Mode::Values, "GET", "/v1.11/version", None);
    p.verdict(IMAGES_ALLOW);
}

#[test]
fn container_endpoints_answer_as_docker() {
    let mut p = Pair::start();
    for (i, v) in VERSIONS.iter().enumerate() {
        let c = format!("c{i}");
        let create = format!("{v}/containers/create?name={c}");
        p.both(
            Mode::Values,
            "POST",
            &create,
            Some(r#"{"Image":"busybox","Cmd":["sleep","100"]}"#),
        );
        p.both(
            Mode::Values,
            "POST",
            &create,
            Some(r#"{"Image":"busybox","Cmd":["sleep","100"]}"#),
        );
        p.both(
            Mode::Values,
            "POST",
            &format!("{v}/containers/create"),
            Some(r#"{"Image":"nope:1"}"#),
        );
        p.both(
            Mode::Values,
            "POST",
            &format!("{v}/containers/create?name=a%2Fb"),
            Some(r#"{"Image":"busybox"}"#),
        );
        p.both(Mode::Values, "GET", &format!("{v}/containers/{c}/json"), None);
        p.both(Mode::Values, "GET", &format!("{v}/containers/json?all=1"), None);
        p.both(Mode::Values, "POST", &format!("{v}/containers/{c}/start"), None);
        p.both(Mode::Values, "POST", &format!("{v}/containers/{c}/start"), None);
        p.both(Mode::Values, "GET", &format!("{v}/containers/{c}/json"), None);
        p.both(Mode::Values, "GET", &format!("{v}/containers/json"), None);
        p.both(Mode::Values, "GET", &format!("{v}/containers/{c}/top"), None);
        p.both(Mode::Shape, "GET", &format!("{v}/containers/{c}/stats?stream=0"), None);
        p.both(Mode::Values, "POST", &format!("{v}/containers/{c}/pause"), None);
        p.both(Mode::Values, "POST", &format!("{v}/containers/{c}/pause"), None);
        p.both(Mode::Values, "POST", &format!("{v}/containers/{c}/unpause"), None);
        p.both(
            Mode::Values,
            "POST",
            &format!("{v}/containers/{c}/kill?signal=NOPE"),
            None,
        );
        p.both(Mode::Values, "DELETE", &format!("{v}/containers/{c}"), None);
        p.both(Mode::Values, "POST", &format!("{v}/containers/{c}/stop?t=1"), None);
        p.both(Mode::Values, "POST", &format!("{v}/containers/{c}/wait"), None);
        p.both(Mode::Values, "GET", &format!("{v}/containers/{c}/json"), None);
        p.both(
            Mode::Values,
            "POST",
            &format!("{v}/containers/{c}/rename?name={c}x"),
            None,
        );
        p.both(Mode::Values, "DELETE", &format!("{v}/containers/{c}x"), None);
        p.both(Mode::Values, "DELETE", &format!("{v}/containers/{c}x"), None);
        p.both(Mode::Values, "GET", &format!("{v}/containers/nope/json"), None);
        // A published port, on the default (IPv4) bridge.
        let pc = format!("p{i}");
        let publish = format!(
            r#"{{"Image":"busybox","Cmd":["sleep","100"],"ExposedPorts":{{"80/tcp":{{}}}},"HostConfig":{{"PortBindings":{{"80/tcp":[{{"HostPort":"{}"}}]}}}}}}"#,
            18080 + i
        );
        p.both(
            Mode::Values,
            "POST",
            &format!("{v}/containers/create?name={pc}"),
            Some(&publish),
        );
        p.both(Mode::Values, "POST", &format!("{v}/containers/{pc}/start"), None);
        p.both(
            Mode::Values,
            "GET",
            &format!("{v}/containers/json?filters=%7B%22name%22%3A%5B%22{pc}%22%5D%7D"),
            None,
        );
        p.both(Mode::Values, "DELETE", &format!("{v}/containers/{pc}?force=1"), None);
    }
    p.verdict(CONTAINERS_ALLOW);
}

#[test]
fn network_and_volume_endpoints_answer_as_docker() {
    let mut p = Pair::start();
    for (i, v) in VERSIONS.iter().enumerate() {
        let n = format!("n{i}");
        p.both(Mode::Values, "GET", &format!("{v}/networks/none"), None);
        p.both(Mode::Values, "GET", &format!("{v}/networks/host"), None);
        p.both(
            Mode::Values,
            "POST",
            &format!("{v}/networks/create"),
            Some(&format!(r#"{{"Name":"{n}","CheckDuplicate":true}}"#)),
        );
        p.both(
            Mode::Values,
            "POST",
            &format!("{v}/networks/create"),
            Some(&format!(r#"{{"Name":"{n}","CheckDuplicate":true}}"#)),
        );
        p.both(Mode::Values, "GET", &format!("{v}/networks/{n}"), None);
        p.both(
            Mode::Values,
            "GET",
            &format!("{v}/networks?filters=%7B%22name%22%3A%5B%22{n}%22%5D%7D"),
            None,
        );
        p.both(
            Mode::Values,
            "POST",
            &format!("{v}/containers/create?name=nc{i}"),
            Some(r#"{"Image":"busybox","Cmd":["sleep","100"]}"#),
        );
        p.both(
            Mode::Values,
            "POST",
            &format!("{v}/networks/{n}/connect"),
            Some(&format!(r#"{{"Container":"nc{i}"}}"#)),
        );
        p.both(
            Mode::Values,
            "POST",
            &format!("{v}/networks/{n}/connect"),
            Some(&format!(r#"{{"Container":"nc{i}"}}"#)),
        );
        p.both(
            Mode::Values,
            "POST",
            &format!("{v}/networks/{n}/disconnect"),
            Some(&format!(r#"{{"Container":"nc{i}"}}"#)),
        );
        p.both(Mode::Values, "DELETE", &format!("{v}/containers/nc{i}"), None);
        p.both(Mode::Values, "DELETE", &format!("{v}/networks/{n}"), None);
        p.both(Mode::Values, "DELETE", &format!("{v}/networks/{n}"), None);
        let vol = format!("v{i}");
        p.both(
            Mode::Values,
            "POST",
            &format!("{v}/volumes/create"),
            Some(&format!(r#"{{"Name":"{vol}","Labels":{{"a":"b"}}}}"#)),
        );
        p.both(Mode::Values, "GET", &format!("{v}/volumes/{vol}"), None);
        p.both(Mode::Values, "GET", &format!("{v}/volumes"), None);
        p.both(Mode::Values, "DELETE", &format!("{v}/volumes/{vol}"), None);
        p.both(Mode::Values, "DELETE", &format!("{v}/volumes/{vol}"), None);
        p.both(Mode::Values, "POST", &format!("{v}/volumes/prune"), None);
    }
    p.verdict(&[]);
}

#[test]
fn streams_are_framed_as_docker() {
    let mut p = Pair::start();
    for (i, v) in VERSIONS.iter().enumerate() {
        let c = format!("s{i}");
        let body = r#"{"Image":"busybox","Cmd":["sh","-c","echo out; echo err >&2"]}"#;
        p.both(
            Mode::Values,
            "POST",
            &format!("{v}/containers/create?name={c}"),
            Some(body),
        );
        p.both(Mode::Values, "POST", &format!("{v}/containers/{c}/start"), None);
        p.both(Mode::Values, "POST", &format!("{v}/containers/{c}/wait"), None);
        p.both(
            Mode::Values,
            "GET",
            &format!("{v}/containers/{c}/logs?stdout=1&stderr=1"),
            None,
        );
        p.both(Mode::Values, "GET", &format!("{v}/containers/{c}/logs?stdout=1"), None);
        let label = format!("POST {v}/containers/{c}/attach (hijack)");
        let path = format!("{v}/containers/{c}/attach?logs=1&stdout=1&stderr=1");
        p.each(Mode::Values, &label, "POST", [&path, &path], None, true);
        let t = format!("t{i}");
        let tty = r#"{"Image":"busybox","Tty":true,"Cmd":["echo","tty"]}"#;
        p.both(
            Mode::Values,
            "POST",
            &format!("{v}/containers/create?name={t}"),
            Some(tty),
        );
        p.both(Mode::Values, "POST", &format!("{v}/containers/{t}/start"), None);
        p.both(Mode::Values, "POST", &format!("{v}/containers/{t}/wait"), None);
        p.both(Mode::Values, "GET", &format!("{v}/containers/{t}/logs?stdout=1"), None);
        let e = format!("e{i}");
        p.both(
            Mode::Values,
            "POST",
            &format!("{v}/containers/create?name={e}"),
            Some(r#"{"Image":"busybox","Cmd":["sleep","100"]}"#),
        );
        p.both(Mode::Values, "POST", &format!("{v}/containers/{e}/start"), None);
        let exec = r#"{"AttachStdout":true,"AttachStderr":true,"Cmd":["sh","-c","echo hi; echo oops >&2; exit 3"]}"#;
        let (a, d) = p.both(Mode::Values, "POST", &format!("{v}/containers/{e}/exec"), Some(exec));
        let ids = [id_of(&a), id_of(&d)];
        let start = [0, 1].map(|k| format!("{v}/exec/{}/start", ids[k]));
        let json = [0, 1].map(|k| format!("{v}/exec/{}/json", ids[k]));
        let label = format!("POST {v}/exec/ID/start");
        p.each(Mode::Values, &label, "POST", [&start[0], &start[1]], Some("{}"), true);
        p.each(
            Mode::Values,
            &format!("GET {v}/exec/ID/json"),
            "GET",
            [&json[0], &json[1]],
            None,
            false,
        );
        p.each(Mode::Values, &label, "POST", [&start[0], &start[1]], Some("{}"), false);
        p.both(Mode::Values, "GET", &format!("{v}/exec/nope/json"), None);
        p.both(Mode::Values, "DELETE", &format!("{v}/containers/{e}?force=1"), None);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    p.both(
        Mode::Shape,
        "GET",
        &format!(
            "/events?since={}&until={now}&filters=%7B%22type%22%3A%5B%22container%22%5D%7D",
            now - 600
        ),
        None,
    );
    p.verdict(&[]);
}

fn id_of(a: &skiff_tests::wire::Answer) -> String {
    a.json()
        .and_then(|v| v["Id"].as_str().map(String::from))
        .unwrap_or_default()
}

/// Push, pull, distribution, login, save, load, commit and history, with a
/// real registry on the namespace's loopback that both daemons reach.
#[test]
fn image_transport_endpoints_answer_as_docker() {
    let mut p = Pair::start();
    let reg = skiff_tests::registry::Registry::start(&p.agent);
    for v in ["/v1.41", ""] {
        let tag = |side: &str| format!("{v}/images/busybox/tag?repo=127.0.0.1:5000/bb&tag={side}");
        p.each(
            Mode::Values,
            &format!("POST {v}/images/busybox/tag"),
            "POST",
            [&tag("s"), &tag("d")],
            None,
            false,
        );
        // Docker's clients always send X-Registry-Auth with a push ("{}").
        let auth = [("X-Registry-Auth", "e30=")];
        let push = skiff_tests::wire::Request {
            method: "POST",
            path: "",
            headers: &auth,
            ..Default::default()
        };
        let paths = ["s", "d"].map(|side| format!("{v}/images/127.0.0.1:5000/bb/push?tag={side}"));
        p.exchange(
            Mode::Shape,
            &format!("POST {v}/images/REPO/push"),
            [&push, &push],
            [&paths[0], &paths[1]],
        );
        let nothing = format!("{v}/images/127.0.0.1:5000/nothing/push?tag=1");
        p.exchange(
            Mode::Values,
            &format!("POST {nothing}"),
            [&push, &push],
            [&nothing, &nothing],
        );
        let untag = ["s", "d"].map(|side| format!("{v}/images/127.0.0.1:5000/bb:{side}"));
        p.each(
            Mode::Values,
            &format!("DELETE {v}/images/REPO:TAG"),
            "DELETE",
            [&untag[0], &untag[1]],
            None,
            false,
        );
        p.both(
            Mode::Values,
            "GET",
            &format!("{v}/distribution/127.0.0.1:5000/bb:s/json"),
            None,
        );
        p.both(
            Mode::Values,
            "GET",
            &format!("{v}/distribution/127.0.0.1:5000/nothing:1/json"),
            None,
        );
        // Each pulls what the other pushed (an image it does not have).
        let pull = ["d", "s"].map(|side| format!("{v}/images/create?fromImage=127.0.0.1:5000/bb&tag={side}"));
        p.each(
            Mode::Shape,
            &format!("POST {v}/images/create?fromImage=REPO"),
            "POST",
            [&pull[0], &pull[1]],
            None,
            false,
        );
        p.both(
            Mode::Values,
            "POST",
            &format!("{v}/images/create?fromImage=127.0.0.1:5000/nothing&tag=1"),
            None,
        );
        let rm = ["d", "s"].map(|side| format!("{v}/images/127.0.0.1:5000/bb:{side}"));
        p.each(
            Mode::Values,
            &format!("DELETE {v}/images/PULLED"),
            "DELETE",
            [&rm[0], &rm[1]],
            None,
            false,
        );
        p.both(
            Mode::Values,
            "POST",
            &format!("{v}/auth"),
            Some(r#"{"serveraddress":"127.0.0.1:5000","username":"u","password":"p"}"#),
        );
        p.both(Mode::Head, "GET", &format!("{v}/images/busybox/get"), None);
        p.both(Mode::Head, "GET", &format!("{v}/images/get?names=busybox"), None);
        p.both(
            Mode::Values,
            "POST",
            &format!("{v}/containers/create?name=m{}", v.len()),
            Some(r#"{"Image":"busybox","Cmd":["sh","-c","echo x > /made"]}"#),
        );
        p.both(
            Mode::Values,
            "POST",
            &format!("{v}/containers/m{}/start", v.len()),
            None,
        );
        p.both(Mode::Values, "POST", &format!("{v}/containers/m{}/wait", v.len()), None);
        p.both(
            Mode::Values,
            "GET",
            &format!("{v}/containers/m{}/changes", v.len()),
            None,
        );
        let commit = format!("{v}/commit?container=m{}&repo=made&tag=1&comment=c&author=a", v.len());
        p.both(Mode::Values, "POST", &commit, Some(r#"{"Labels":{"k":"v"}}"#));
        p.both(Mode::Values, "GET", &format!("{v}/images/made:1/json"), None);
        p.both(Mode::Values, "GET", &format!("{v}/images/made:1/history"), None);
        p.both(Mode::Values, "DELETE", &format!("{v}/containers/m{}", v.len()), None);
        p.both(Mode::Values, "DELETE", &format!("{v}/images/made:1"), None);
    }
    // Each side loads what it saved: Docker's archive and skiff's.
    let saved = [&p.agent.sock(), &p.docker.sock()].map(|s| {
        let r = skiff_tests::wire::Request {
            method: "GET",
            path: "/images/get?names=busybox",
            ..Default::default()
        };
        skiff_tests::wire::call(s, &r, std::time::Duration::from_secs(60)).body
    });
    let tar = [("Content-Type", "application/x-tar")];
    let load = [0, 1].map(|k| skiff_tests::wire::Request {
        method: "POST",
        path: "",
        headers: &tar,
        body: Some(&saved[k]),
        upgrade: false,
    });
    let [a, d] = &load;
    p.exchange(
        Mode::Values,
        "POST /images/load?quiet=1",
        [a, d],
        ["/images/load?quiet=1"; 2],
    );
    p.both_raw(Mode::Values, "POST", "/images/load", b"not a tar", "application/x-tar");
    drop(reg);
    p.verdict(TRANSPORT_ALLOW);
}

/// The rest of a container's endpoints: restart, update, resize,
/// archives, export, the prunes and a classic build.
#[test]
fn container_extras_answer_as_docker() {
    let mut p = Pair::start();
    for v in ["/v1.24", ""] {
        let c = format!("x{}", v.len());
        p.both(
            Mode::Values,
            "POST",
            &format!("{v}/containers/create?name={c}"),
            Some(r#"{"Image":"busybox","Cmd":["sleep","100"],"OpenStdin":true,"Tty":true}"#),
        );
        p.both(Mode::Values, "POST", &format!("{v}/containers/{c}/start"), None);
        p.both(Mode::Values, "POST", &format!("{v}/containers/{c}/restart?t=1"), None);
        p.both(
            Mode::Values,
            "POST",
            &format!("{v}/containers/{c}/update"),
            Some(r#"{"Memory":67108864,"MemorySwap":-1,"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":2}}"#),
        );
        p.both(
            Mode::Values,
            "POST",
            &format!("{v}/containers/{c}/resize?h=10&w=20"),
            None,
        );
        p.both(Mode::Values, "POST", &format!("{v}/containers/{c}/resize?h=x"), None);
        p.both(
            Mode::Head,
            "HEAD",
            &format!("{v}/containers/{c}/archive?path=/etc/hostname"),
            None,
        );
        p.both(
            Mode::Values,
            "HEAD",
            &format!("{v}/containers/{c}/archive?path=/nothing"),
            None,
        );
        p.both(
            Mode::Head,
            "GET",
            &format!("{v}/containers/{c}/archive?path=/etc/hostname"),
            None,
        );
        let tar = skiff_tests::registry::tar_of(&[("put.txt", "hello\n")]);
        p.both_raw(
            Mode::Values,
            "PUT",
            &format!("{v}/containers/{c}/archive?path=/tmp"),
            &tar,
            "application/x-tar",
        );
        p.both_raw(
            Mode::Values,
            "PUT",
            &format!("{v}/containers/{c}/archive?path=/nothing"),
            &tar,
            "application/x-tar",
        );
        p.both(Mode::Head, "GET", &format!("{v}/containers/{c}/export"), None);
        p.both(Mode::Values, "DELETE", &format!("{v}/containers/{c}?force=1"), None);
        p.both(
            Mode::Values,
            "POST",
            &format!("{v}/containers/create?name=dead{}", v.len()),
            Some(r#"{"Image":"busybox"}"#),
        );
        p.both(Mode::Values, "POST", &format!("{v}/containers/prune"), None);
        p.both(
            Mode::Values,
            "POST",
            &format!("{v}/networks/create"),
            Some(r#"{"Name":"unused"}"#),
        );
        p.both(Mode::Values, "POST", &format!("{v}/networks/prune"), None);
        p.both(Mode::Values, "POST", &format!("{v}/images/prune"), None);
        let ctx = skiff_tests::registry::tar_of(&[("Dockerfile", "FROM busybox\nRUN echo built > /b\nLABEL k=v\n")]);
        p.both_raw(
            Mode::Shape,
            "POST",
            &format!("{v}/build?t=built:1&rm=1"),
            &ctx,
            "application/x-tar",
        );
        p.both(Mode::Values, "GET", &format!("{v}/images/built:1/json"), None);
        let bad = skiff_tests::registry::tar_of(&[("Dockerfile", "FROM busybox\nRUN exit 7\n")]);
        p.both_raw(
            Mode::Shape,
            "POST",
            &format!("{v}/build?rm=1"),
            &bad,
            "application/x-tar",
        );
        p.both(Mode::Values, "DELETE", &format!("{v}/images/built:1"), None);
        p.both(Mode::Shape, "POST", &format!("{v}/build/prune"), None);
    }
    p.verdict(EXTRAS_ALLOW);
}
