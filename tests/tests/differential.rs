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
