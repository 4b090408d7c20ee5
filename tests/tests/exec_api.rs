//! `exec` over the Engine API as SDKs drive it: with and without a hijack,
//! framing by the start request's `Tty`, detached runs keeping their
//! environment and user. Raw HTTP over the agent's socket, so the test
//! sees the exact status line, headers and bytes a client gets.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use skiff_tests::Agent;

struct Answer {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

/// One request on a fresh connection, read until the agent closes it.
fn call(a: &Agent, method: &str, path: &str, body: &str, upgrade: bool) -> Answer {
    let mut s = UnixStream::connect(a.sock()).expect("connect");
    let conn = if upgrade {
        "Connection: Upgrade\r\nUpgrade: tcp\r\n"
    } else {
        "Connection: close\r\n"
    };
    let req = format!(
        "{method} /v1.41{path} HTTP/1.1\r\nHost: skiff\r\nContent-Type: application/json\r\n{conn}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .expect("timeout");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("head") + 4;
    let headers = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = headers[9..12].parse().expect("status");
    let mut body = raw[split..].to_vec();
    if headers.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = unchunk(&body);
    }
    Answer { status, headers, body }
}

fn unchunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).expect("chunk size");
        if n == 0 {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[eol + 2 + n + 2..];
    }
    out
}

fn exec_create(a: &Agent, ctr: &str, body: &str) -> String {
    let r = call(a, "POST", &format!("/containers/{ctr}/exec"), body, false);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    v["Id"].as_str().expect("Id").to_string()
}

/// Docker's multiplexed frame: stream, three zero bytes, length, payload.
fn frame(stream: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![stream, 0, 0, 0];
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

#[test]
fn exec_start_answers_as_docker_with_and_without_a_hijack() {
    let a = Agent::start();
    a.skiff(&["run", "-d", "--name", "box", "busybox", "sleep", "300"]).ok();
    let echo = r#"{"AttachStdout":true,"AttachStderr":true,"Cmd":["echo","hello"]}"#;

    // No Upgrade header: a 200 whose body is the multiplexed output.
    let id = exec_create(&a, "box", echo);
    let r = call(
        &a,
        "POST",
        &format!("/exec/{id}/start"),
        r#"{"Detach":false,"Tty":false}"#,
        false,
    );
    assert_eq!(r.status, 200, "{}", r.headers);
    assert!(r.headers.contains("application/vnd.docker.raw-stream"), "{}", r.headers);
    assert_eq!(r.body, frame(1, b"hello\n"));

    // Hijacked: 101, then the same frames and nothing else.
    let id = exec_create(&a, "box", echo);
    let r = call(
        &a,
        "POST",
        &format!("/exec/{id}/start"),
        r#"{"Detach":false,"Tty":false}"#,
        true,
    );
    assert_eq!(r.status, 101, "{}", r.headers);
    assert!(r.headers.contains("application/vnd.docker.raw-stream"), "{}", r.headers);
    assert_eq!(r.body, frame(1, b"hello\n"));

    // The start request's Tty decides the framing: created with a TTY
    // but started without one, the output is framed (docker-py's default).
    let tty = r#"{"AttachStdout":true,"Tty":true,"Cmd":["echo","hello"]}"#;
    let id = exec_create(&a, "box", tty);
    let r = call(&a, "POST", &format!("/exec/{id}/start"), r#"{"Tty":false}"#, true);
    assert_eq!(r.body, frame(1, b"hello\r\n"));
    // And the other way round: raw.
    let id = exec_create(&a, "box", echo);
    let r = call(&a, "POST", &format!("/exec/{id}/start"), r#"{"Tty":true}"#, true);
    assert_eq!(r.body, b"hello\n");

    // A start with no body at all frames as the exec was created.
    let id = exec_create(&a, "box", tty);
    let r = call(&a, "POST", &format!("/exec/{id}/start"), "", true);
    assert_eq!(r.body, b"hello\r\n");
    a.finish();
}

#[test]
fn a_detached_exec_keeps_its_environment_and_user() {
    let a = Agent::start();
    a.skiff(&["run", "-d", "--name", "box", "busybox", "sleep", "300"]).ok();
    let id = exec_create(
        &a,
        "box",
        r#"{"Cmd":["sh","-c","echo $FOO $(id -u) > /tmp/o"],"Env":["FOO=bar"],"User":"1000"}"#,
    );
    let r = call(&a, "POST", &format!("/exec/{id}/start"), r#"{"Detach":true}"#, false);
    assert_eq!(r.status, 200, "{}", r.headers);
    a.eventually("the exec finishes", || {
        let r = call(&a, "GET", &format!("/exec/{id}/json"), "", false);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
        v["Running"] == false && v["ExitCode"] == 0
    });
    assert_eq!(a.skiff(&["exec", "box", "cat", "/tmp/o"]).ok().out(), "bar 1000");
    a.finish();
}

#[test]
fn attach_without_an_upgrade_gets_the_output_as_the_body() {
    let a = Agent::start();
    a.skiff(&[
        "run",
        "-d",
        "--name",
        "talk",
        "busybox",
        "sh",
        "-c",
        "sleep 1; echo hi; echo oops >&2",
    ])
    .ok();
    let r = call(
        &a,
        "POST",
        "/containers/talk/attach?stream=1&stdout=1&stderr=1",
        "",
        false,
    );
    assert_eq!(r.status, 200, "{}", r.headers);
    assert!(r.headers.contains("application/vnd.docker.raw-stream"), "{}", r.headers);
    assert_eq!(r.body, [frame(1, b"hi\n"), frame(2, b"oops\n")].concat());
    a.finish();
}
