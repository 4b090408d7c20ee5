//! `POST /build`: the query as Docker's CLI writes it (moby client's
//! `imageBuildOptionsToQuery`: keys in sorted order, `t` and `extrahosts`
//! repeated, maps and lists as JSON), the context streamed as the body, and
//! the answer read back as one [`BuildEvent`] per JSON line.

use base64::Engine as _;
use hyper::Method;
use std::collections::BTreeMap;

use serde_json::Value;
use skiff_api::{BuildOptions, BuildProgress};

use crate::{Body, Client, Lines, Query, Result};

/// One message of a build's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum BuildEvent {
    /// Classic text (`Step 1/3 : FROM busybox\n`, ` ---> Using cache\n`),
    /// newlines and all.
    Stream(String),
    /// A `status` line (a pull the build does, say).
    Status(String),
    /// skiff's step events (`skiffprogress=1`).
    Progress(BuildProgress),
    /// `aux: {"ID": "sha256:…"}`: the image built.
    Image(String),
    /// Another `aux` object.
    Aux(Value),
    /// `error`/`errorDetail`: the build failed; nothing follows.
    Error(String),
}

impl BuildEvent {
    /// Read one line of the answer; `None` for a line that is no message.
    pub fn parse(line: &[u8]) -> Option<BuildEvent> {
        let v: Value = serde_json::from_slice(line).ok()?;
        if let Some(msg) = v["errorDetail"]["message"].as_str().or_else(|| v["error"].as_str()) {
            return Some(BuildEvent::Error(msg.to_string()));
        }
        if let Some(aux) = v.get("aux").filter(|a| a.is_object()) {
            if let Ok(p) = serde_json::from_value::<BuildProgress>(aux.clone()) {
                return Some(BuildEvent::Progress(p));
            }
            if let Some(id) = aux["ID"].as_str() {
                return Some(BuildEvent::Image(id.to_string()));
            }
            return Some(BuildEvent::Aux(aux.clone()));
        }
        if let Some(s) = v["stream"].as_str() {
            return Some(BuildEvent::Stream(s.to_string()));
        }
        let status = v["status"].as_str()?;
        Some(BuildEvent::Status(match v["id"].as_str() {
            Some(id) if !id.is_empty() => format!("{id}: {status}"),
            _ => status.to_string(),
        }))
    }
}

/// The answer of `POST /build`, a message at a time.
pub struct BuildStream {
    lines: Lines,
}

impl BuildStream {
    /// The next message, or `None` when the answer ends.
    pub async fn next(&mut self) -> Option<BuildEvent> {
        loop {
            let line = self.lines.next().await?;
            if let Some(e) = BuildEvent::parse(&line) {
                return Some(e);
            }
        }
    }
}

/// A JSON text of `v` (maps and lists as Go's `json.Marshal` writes them).
fn json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// The path and query of `POST /build` for these options, as Docker's CLI
/// writes them (`url.Values.Encode`: keys sorted).
pub fn build_path(o: &BuildOptions) -> String {
    let mut q = Query::new()
        .add("buildargs", json(&o.build_args))
        .add("cachefrom", json(&o.cache_from))
        .add("dockerfile", &o.dockerfile);
    for h in &o.extra_hosts {
        q = q.add("extrahosts", h);
    }
    q = q
        .opt("forcerm", o.force_remove.then_some(1))
        .add("labels", json(&o.labels))
        .add("networkmode", &o.network_mode)
        .opt("nocache", o.no_cache.then_some(1))
        .opt("platform", (!o.platform.is_empty()).then_some(&o.platform))
        .opt("pull", o.pull.then_some(1))
        .opt("q", o.quiet.then_some(1))
        .flag("rm", o.remove)
        .opt("skiffbase", (!o.context_key.is_empty()).then_some(&o.context_base))
        .opt("skiffcontext", (!o.context_key.is_empty()).then_some(&o.context_key))
        .opt("skiffprogress", o.skiff_progress.then_some(1));
    for t in &o.tags {
        q = q.add("t", t);
    }
    q.add("target", &o.target).on("/build")
}

/// `X-Registry-Config`: the credentials of every registry, as Docker's CLI
/// sends them (URL-safe base64 of a JSON object keyed by registry).
pub fn registry_config(auths: &serde_json::Map<String, Value>) -> String {
    base64::engine::general_purpose::URL_SAFE.encode(Value::Object(auths.clone()).to_string())
}

/// The [`skiff_api::SECRETS_HEADER`] value for `secrets` (id, content).
pub fn secrets_header(secrets: &BTreeMap<String, Vec<u8>>) -> String {
    use base64::engine::general_purpose::STANDARD;
    let m: serde_json::Map<String, Value> = secrets
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(STANDARD.encode(v))))
        .collect();
    STANDARD.encode(Value::Object(m).to_string())
}

impl Client {
    /// `POST /build` with the context as `body` (a tar, usually
    /// `Body::Stream`): the messages of the build as they come.
    /// `registry_config` is the `X-Registry-Config` value ([`registry_config`]).
    pub async fn image_build(&self, opts: &BuildOptions, body: Body, registry_config: String) -> Result<BuildStream> {
        self.image_build_with(opts, body, registry_config, None).await
    }

    /// [`Client::image_build`] with build secrets: a
    /// [`skiff_api::SECRETS_HEADER`] value ([`secrets_header`]).
    pub async fn image_build_with(
        &self,
        opts: &BuildOptions,
        body: Body,
        registry_config: String,
        secrets: Option<String>,
    ) -> Result<BuildStream> {
        let mut headers = vec![("X-Registry-Config", registry_config)];
        if let Some(s) = secrets {
            headers.push((skiff_api::SECRETS_HEADER, s));
        }
        let resp = self.send_with(Method::POST, &build_path(opts), body, headers).await?;
        Ok(BuildStream {
            lines: Lines::new(resp),
        })
    }
}

impl Client {
    /// `GET /build/context/{key}`: the manifest the agent keeps for the
    /// context `key` (an empty token when it keeps none), or `None` when
    /// the daemon has no incremental contexts (Docker's, an older skiff).
    pub async fn build_context_base(&self, key: &str) -> Option<skiff_api::ContextManifest> {
        self.get(&format!("/build/context/{key}")).await.ok()
    }

    /// `POST /build/prune`: build cache no image uses (all of it with
    /// `all`), last used before `until` when given. `CachesDeleted`,
    /// `SpaceReclaimed`.
    pub async fn build_prune(&self, all: bool, until: Option<&str>) -> Result<Value> {
        let mut filters: std::collections::BTreeMap<&str, Vec<&str>> = std::collections::BTreeMap::new();
        if let Some(u) = until {
            filters.insert("until", vec![u]);
        }
        let q = Query::new().opt("all", all.then_some(1)).filters(&filters);
        self.json(Method::POST, &q.on("/build/prune"), Body::Empty).await
    }
}

#[cfg(test)]
mod tests {
    use super::{build_path, registry_config, BuildEvent};
    use skiff_api::{BuildOptions, BuildStatus};

    #[test]
    fn the_query_is_dockers() {
        let o = BuildOptions {
            remove: true,
            dockerfile: "Dockerfile".into(),
            ..Default::default()
        };
        assert_eq!(
            build_path(&o),
            "/build?buildargs=%7B%7D&cachefrom=%5B%5D&dockerfile=Dockerfile&labels=%7B%7D&networkmode=&rm=1&target="
        );
        let mut o = BuildOptions {
            tags: vec!["a:1".into(), "b".into()],
            dockerfile: ".dockerfile.0a1b".into(),
            no_cache: true,
            pull: true,
            cache_from: vec!["c".into()],
            network_mode: "host".into(),
            extra_hosts: vec!["h:1.2.3.4".into(), "g:5.6.7.8".into()],
            quiet: true,
            remove: false,
            force_remove: true,
            platform: "linux/amd64".into(),
            skiff_progress: true,
            target: "build".into(),
            ..Default::default()
        };
        o.build_args.insert("A".into(), Some("1".into()));
        o.build_args.insert("B".into(), None);
        o.labels.insert("l".into(), "v".into());
        let want = [
            "/build?buildargs=%7B%22A%22%3A%221%22%2C%22B%22%3Anull%7D",
            "cachefrom=%5B%22c%22%5D",
            "dockerfile=.dockerfile.0a1b",
            "extrahosts=h%3A1.2.3.4",
            "extrahosts=g%3A5.6.7.8",
            "forcerm=1",
            "labels=%7B%22l%22%3A%22v%22%7D",
            "networkmode=host",
            "nocache=1",
            "platform=linux%2Famd64",
            "pull=1",
            "q=1",
            "rm=0",
            "skiffprogress=1",
            "t=a%3A1",
            "t=b",
            "target=build",
        ];
        assert_eq!(build_path(&o), want.join("&"));
    }

    /// Read a chunked body off `r` (after the head): its bytes.
    async fn dechunk(r: &mut (impl tokio::io::AsyncBufRead + Unpin)) -> Vec<u8> {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt};
        let mut body = Vec::new();
        loop {
            let mut size = String::new();
            r.read_line(&mut size).await.unwrap();
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).await.unwrap();
            if n == 0 {
                return body;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }

    #[tokio::test]
    async fn a_streamed_context_goes_chunked_and_the_answer_comes_back_in_events() {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let sock = std::env::temp_dir().join(format!("skiff-build-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&sock);
        let listener = tokio::net::UnixListener::bind(&sock).unwrap();
        let server = tokio::spawn(async move {
            let (conn, _) = listener.accept().await.unwrap();
            let mut r = BufReader::new(conn);
            let mut head = Vec::new();
            loop {
                let mut line = String::new();
                r.read_line(&mut line).await.unwrap();
                if line == "\r\n" {
                    break;
                }
                head.push(line.trim_end().to_string());
            }
            let body = dechunk(&mut r).await;
            let answer = "{\"stream\":\"Step 1/1 : FROM scratch\\n\"}\r\n{\"aux\":{\"ID\":\"sha256:ab\"}}";
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
                answer.len()
            );
            r.get_mut().write_all(reply.as_bytes()).await.unwrap();
            (head, body)
        });
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        for part in ["one ", "two ", "three"] {
            tx.send(Ok(bytes::Bytes::from(part))).await.unwrap();
        }
        drop(tx);
        let o = BuildOptions {
            tags: vec!["x".into()],
            remove: true,
            ..Default::default()
        };
        let c = crate::Client::new(&sock);
        let mut s = c
            .image_build(
                &o,
                crate::Body::Stream(rx, "application/x-tar"),
                registry_config(&Default::default()),
            )
            .await
            .unwrap();
        assert_eq!(
            s.next().await,
            Some(BuildEvent::Stream("Step 1/1 : FROM scratch\n".into()))
        );
        assert_eq!(s.next().await, Some(BuildEvent::Image("sha256:ab".into())));
        assert_eq!(s.next().await, None);
        let (head, body) = server.await.unwrap();
        let _ = std::fs::remove_file(&sock);
        assert!(head[0].starts_with("POST /v1.41/build?buildargs="), "{head:?}");
        let has = |h: &str| head.iter().any(|l| l.eq_ignore_ascii_case(h));
        assert!(has("transfer-encoding: chunked"), "{head:?}");
        assert!(has("content-type: application/x-tar"), "{head:?}");
        assert!(has("x-registry-config: e30="), "{head:?}");
        assert_eq!(body, b"one two three");
    }

    #[test]
    fn no_credentials_is_an_empty_object() {
        assert_eq!(registry_config(&Default::default()), "e30=");
    }

    #[test]
    fn answers_parse_into_events() {
        let parse = |s: &str| BuildEvent::parse(s.as_bytes());
        assert_eq!(
            parse(r#"{"stream":"Step 1/2 : FROM busybox\n"}"#),
            Some(BuildEvent::Stream("Step 1/2 : FROM busybox\n".into()))
        );
        assert_eq!(
            parse(r#"{"aux":{"ID":"sha256:ab"}}"#),
            Some(BuildEvent::Image("sha256:ab".into()))
        );
        assert_eq!(
            parse(r#"{"errorDetail":{"message":"boom"},"error":"boom"}"#),
            Some(BuildEvent::Error("boom".into()))
        );
        assert_eq!(
            parse(r#"{"status":"Pulling fs layer","id":"ab12"}"#),
            Some(BuildEvent::Status("ab12: Pulling fs layer".into()))
        );
        let p = r#"{"aux":{"step":2,"total":3,"stage":"0","instruction":"RUN echo hi","status":"log","log":"hi"}}"#;
        match parse(p) {
            Some(BuildEvent::Progress(p)) => {
                assert_eq!((p.step, p.status, p.log.as_deref()), (2, BuildStatus::Log, Some("hi")))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(parse("not json"), None);
    }
}
