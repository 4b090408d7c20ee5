//! `GET /containers/{id}/attach/ws` as Docker 20.10 serves it (each fact
//! checked against a real dockerd): stdin in, output out un-multiplexed,
//! one binary message per chunk (text frames before API 1.28), the log
//! replayed with `logs=1`, a close frame (1000) when the container exits,
//! and Docker's answers for a missing container or a request that is no
//! WebSocket handshake.

use std::process::Command;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use skiff_tests::{Agent, Run};
use tokio::net::UnixStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

type Ws = WebSocketStream<UnixStream>;

async fn connect(a: &Agent, path: &str) -> Ws {
    let sock = UnixStream::connect(a.sock()).await.expect("agent socket");
    let (ws, resp) = tokio_tungstenite::client_async(format!("ws://localhost{path}"), sock)
        .await
        .expect("websocket handshake");
    assert_eq!(resp.status(), 101);
    ws
}

/// The next message that is not a ping or pong, within 10 s.
async fn next(ws: &mut Ws) -> Option<Message> {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message within 10 s");
        match m {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(m)) => return Some(m),
            _ => return None,
        }
    }
}

/// Reads until the close frame: what came before it, and its code.
async fn until_close(ws: &mut Ws) -> (Vec<Message>, Option<CloseCode>) {
    let mut got = Vec::new();
    while let Some(m) = next(ws).await {
        if let Message::Close(f) = m {
            return (got, f.map(|f| f.code));
        }
        got.push(m);
    }
    (got, None)
}

fn bin(s: &str) -> Message {
    Message::Binary(s.as_bytes().to_vec().into())
}

fn curl(a: &Agent, path: &str, headers: &[&str]) -> String {
    let sock = a.sock();
    let mut args = vec![
        "-s",
        "-i",
        "--max-time",
        "5",
        "--unix-socket",
        sock.to_str().expect("sock"),
    ];
    for h in headers {
        args.extend(["-H", h]);
    }
    let url = format!("http://skiff{path}");
    args.push(&url);
    let r: Run = Command::new("curl").args(&args).output().expect("curl").into();
    r.stdout.replace('\r', "")
}

#[test]
fn websocket_attach_is_dockers() {
    let a = Agent::start();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    a.skiff(&["run", "-d", "-i", "--name", "cat", "busybox", "cat"]).ok();
    a.skiff(&[
        "run",
        "-d",
        "--name",
        "late",
        "busybox",
        "sh",
        "-c",
        "sleep 3; echo late",
    ])
    .ok();
    let q = "stream=1&stdin=1&stdout=1&stderr=1";
    rt.block_on(async {
        // stdin in, the same bytes out, as a binary message.
        let mut ws = connect(&a, &format!("/v1.41/containers/cat/attach/ws?{q}")).await;
        ws.send(Message::Binary(b"hello\n".to_vec().into()))
            .await
            .expect("send");
        assert_eq!(next(&mut ws).await, Some(bin("hello\n")));
        // Text frames before API 1.28; a text message feeds stdin too.
        let mut old = connect(&a, &format!("/v1.27/containers/cat/attach/ws?{q}")).await;
        old.send(Message::Text("again\n".into())).await.expect("send");
        assert_eq!(next(&mut old).await, Some(Message::Text("again\n".into())));
        assert_eq!(next(&mut ws).await, Some(bin("again\n")));
        drop(old);

        // A running echo's output reaches the client; the exit closes
        // the socket with 1000. Docker ignores stdout=0 here.
        let mut ws = connect(&a, "/containers/late/attach/ws?stream=1&stdout=0").await;
        let (got, code) = until_close(&mut ws).await;
        assert_eq!((got, code), (vec![bin("late\n")], Some(CloseCode::Normal)));

        // logs=1 replays stdout and stderr, then the live output follows.
        a.skiff(&[
            "run",
            "-d",
            "--name",
            "past",
            "busybox",
            "sh",
            "-c",
            "echo one; echo two >&2; sleep 2; echo three",
        ])
        .ok();
        a.eventually("two lines logged", || a.skiff(&["logs", "past"]).stderr.contains("two"));
        let mut ws = connect(&a, "/containers/past/attach/ws?stream=1&logs=1").await;
        let (got, code) = until_close(&mut ws).await;
        assert_eq!(got, vec![bin("one\n"), bin("two\n"), bin("three\n")]);
        assert_eq!(code, Some(CloseCode::Normal));
        // Without stream: the log, then the close at once.
        let mut ws = connect(&a, "/containers/past/attach/ws?logs=1").await;
        let (got, code) = until_close(&mut ws).await;
        assert_eq!(got.len(), 3);
        assert_eq!(code, Some(CloseCode::Normal));
    });

    // Docker's refusals: the container is looked up first (JSON 404),
    // then x/net/websocket's plain 400 for a request that is no handshake.
    let r = curl(&a, "/v1.41/containers/nope/attach/ws?stream=1", &[]);
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");
    assert!(
        r.trim_end().ends_with(r#"{"message":"No such container: nope"}"#),
        "{r}"
    );
    let r = curl(&a, "/v1.41/containers/cat/attach/ws?stream=1", &[]);
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    assert!(r.ends_with("\n\nnot websocket protocol"), "{r}");
    let ws_headers = [
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    ];
    let r = curl(&a, "/containers/cat/attach/ws", &ws_headers);
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    assert!(r.contains("sec-websocket-version: 13\n"), "{r}");
    assert!(r.ends_with("missing or bad WebSocket Version"), "{r}");
    a.skiff(&["rm", "-f", "cat"]).ok();
    a.finish();
}
