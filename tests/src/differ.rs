//! The differential suite's engine: the same request goes to a skiff agent
//! and to a real dockerd; their answers are compared after normalising
//! what must differ (IDs, digests, times, addresses, data roots, PIDs and
//! sizes). Status, the headers clients read, JSON shapes (Docker's `null`s
//! included), string and boolean values, and the framing of streams must
//! match, or the difference must be on a short, justified allow-list.

use std::time::Duration;

use regex::Regex;
use serde_json::Value;

use crate::dockerd::Dockerd;
use crate::wire::{call, frames, Answer, Request};
use crate::Agent;

/// How strictly a body is compared.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    /// Shapes, strings and booleans (after normalising), numbers but
    /// volatile ones.
    Values,
    /// Shapes only: keys, types and nulls (`/info`, stats).
    Shape,
    /// Status and headers only (archives, whose bytes carry times).
    Head,
}

/// Numbers that differ between any two daemons or runs.
const VOLATILE: &[&str] = &[
    "Pid",
    "Created",
    "time",
    "timeNano",
    "Size",
    "VirtualSize",
    "SharedSize",
    "SizeRw",
    "SizeRootFs",
    "RefCount",
    "Containers",
    "ContainersRunning",
    "ContainersStopped",
    "ContainersPaused",
    "Images",
    "LayersSize",
    "ExitCode",
    "PublicPort",
    "IPPrefixLen",
    "MemTotal",
    "NCPU",
    "NFd",
    "NGoroutines",
    "UsageData",
];

/// The headers a client reads, compared by value.
const HEADERS: &[&str] = &["content-type", "api-version", "docker-experimental", "ostype"];

struct Norm {
    digest: Regex,
    id: Regex,
    short: Regex,
    time: Regex,
    ip: Regex,
    mac: Regex,
}

impl Norm {
    fn new() -> Self {
        let re = |s: &str| Regex::new(s).expect("regex");
        Norm {
            digest: re(r"sha256:[0-9a-f]{64}"),
            id: re(r"[0-9a-f]{64}"),
            short: re(r"\b[0-9a-f]{12}\b"),
            time: re(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)"),
            ip: re(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(/\d+)?\b"),
            mac: re(r"\b[0-9a-f]{2}(:[0-9a-f]{2}){5}\b"),
        }
    }

    fn text(&self, s: &str, roots: &[String]) -> String {
        let mut s = s.to_string();
        for r in roots.iter().filter(|r| !r.is_empty()) {
            s = s.replace(r.as_str(), "<root>");
        }
        let s = self.digest.replace_all(&s, "<digest>");
        let s = self.id.replace_all(&s, "<id>");
        let s = self.short.replace_all(&s, "<id>");
        let s = self.time.replace_all(&s, |c: &regex::Captures| {
            if c[0].starts_with("0001-01-01") {
                c[0].to_string()
            } else {
                "<time>".to_string()
            }
        });
        let s = self.ip.replace_all(&s, "<ip>");
        self.mac.replace_all(&s, "<mac>").to_string()
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn brief(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 80 {
        format!("{}…", first(&s, 80))
    } else {
        s
    }
}

struct Cmp<'a> {
    mode: Mode,
    norm: &'a Norm,
    roots: [Vec<String>; 2],
    out: Vec<String>,
}

impl Cmp<'_> {
    fn json(&mut self, path: &str, a: &Value, d: &Value) {
        let key = path.rsplit('.').next().unwrap_or("");
        match (a, d) {
            (Value::Object(a), Value::Object(d)) => {
                let keys: std::collections::BTreeSet<&String> = a.keys().chain(d.keys()).collect();
                for k in keys {
                    let p = format!("{path}.{k}");
                    match (a.get(k), d.get(k)) {
                        (Some(x), Some(y)) => self.json(&p, x, y),
                        (None, Some(y)) => self.out.push(format!("{p}: missing (docker: {})", brief(y))),
                        (Some(x), None) => self.out.push(format!("{p}: extra (skiff: {})", brief(x))),
                        (None, None) => {}
                    }
                }
            }
            (Value::Array(a), Value::Array(d)) => {
                // Shapes: the first items' (how many there are is the
                // run's, e.g. the devices a container has done I/O on).
                if self.mode == Mode::Shape {
                    if let (Some(x), Some(y)) = (a.first(), d.first()) {
                        self.json(&format!("{path}[0]"), x, y);
                    }
                    return;
                }
                if a.len() != d.len() {
                    self.out.push(format!("{path}: {} items vs {}", a.len(), d.len()));
                }
                for (i, (x, y)) in a.iter().zip(d).enumerate() {
                    self.json(&format!("{path}[{i}]"), x, y);
                }
            }
            (Value::String(x), Value::String(y)) if self.mode == Mode::Values => {
                let (x, y) = (self.norm.text(x, &self.roots[0]), self.norm.text(y, &self.roots[1]));
                if x != y {
                    self.out.push(format!("{path}: {x:?} vs {y:?}"));
                }
            }
            (Value::Bool(x), Value::Bool(y)) if self.mode == Mode::Values && x != y => {
                self.out.push(format!("{path}: {x} vs {y}"));
            }
            (Value::Number(x), Value::Number(y)) if self.mode == Mode::Values && x != y && !VOLATILE.contains(&key) => {
                self.out.push(format!("{path}: {x} vs {y}"));
            }
            _ if kind(a) != kind(d) => self.out.push(format!(
                "{path}: {} vs {} ({} vs {})",
                kind(a),
                kind(d),
                brief(a),
                brief(d)
            )),
            _ => {}
        }
    }

    fn body(&mut self, a: &Answer, d: &Answer) {
        if let (Some(x), Some(y)) = (a.json(), d.json()) {
            return self.json("", &x, &y);
        }
        if let (Some(x), Some(y)) = (json_lines(&a.body), json_lines(&d.body)) {
            return self.json("", &Value::Array(x), &Value::Array(y));
        }
        // Docker 20.10 sends logs with no Content-Type: a body that parses
        // as frames on both sides is a multiplexed stream.
        let framed = |x: &Answer| !x.body.is_empty() && frames(&x.body).is_some();
        let stream = |x: &Answer| {
            x.header("content-type")
                .is_some_and(|t| t.contains("multiplexed") || t.contains("raw-stream"))
                || x.status == 101
        };
        if stream(a) || stream(d) || (framed(a) && framed(d)) {
            return self.frames(a, d);
        }
        let (x, y) = (
            self.norm.text(&a.text(), &self.roots[0]),
            self.norm.text(&d.text(), &self.roots[1]),
        );
        if x.trim_end() != y.trim_end() {
            self.out.push(format!(" body: {x:?} vs {y:?}"));
        }
    }

    /// Streams compare by what each stream carried: how stdout and stderr
    /// interleave is up to the process and the scheduler.
    fn frames(&mut self, a: &Answer, d: &Answer) {
        let show = |f: &Option<Vec<(u8, Vec<u8>)>>, raw: &[u8]| match f {
            Some(f) => (0..=2u8)
                .map(|s| {
                    let text: Vec<u8> = f.iter().filter(|(k, _)| *k == s).flat_map(|(_, p)| p.clone()).collect();
                    if text.is_empty() {
                        String::new()
                    } else {
                        format!("[{s}]{}", String::from_utf8_lossy(&text))
                    }
                })
                .collect::<String>(),
            None => format!("raw {:?}", String::from_utf8_lossy(raw)),
        };
        let (x, y) = (frames(&a.body), frames(&d.body));
        let x = self.norm.text(&show(&x, &a.body), &self.roots[0]);
        let y = self.norm.text(&show(&y, &d.body), &self.roots[1]);
        if x != y {
            self.out.push(format!(" stream: {x:?} vs {y:?}"));
        }
    }
}

fn json_lines(b: &[u8]) -> Option<Vec<Value>> {
    let text = std::str::from_utf8(b).ok()?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.len() < 2 {
        return None;
    }
    lines.iter().map(|l| serde_json::from_str(l).ok()).collect()
}

/// The differences between skiff's answer `a` and Docker's `d`, one line
/// each, as `PATH: what` (an empty path is the body itself).
fn compare(mode: Mode, roots: [Vec<String>; 2], a: &Answer, d: &Answer) -> Vec<String> {
    let norm = Norm::new();
    let mut c = Cmp {
        mode,
        norm: &norm,
        roots,
        out: Vec::new(),
    };
    if a.status != d.status {
        c.out.push(format!(
            " status: {} vs {} ({:?} vs {:?})",
            a.status,
            d.status,
            first(&a.text(), 120),
            first(&d.text(), 120)
        ));
        return c.out;
    }
    for h in HEADERS {
        if a.header(h) != d.header(h) {
            c.out
                .push(format!(" header {h}: {:?} vs {:?}", a.header(h), d.header(h)));
        }
    }
    if mode != Mode::Head {
        c.body(a, d);
    }
    c.out
}

fn first(s: &str, n: usize) -> &str {
    let mut n = n.min(s.len());
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    &s[..n]
}

/// `*` matches any run of characters; everything else itself.
pub fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(tail) = text.strip_prefix(head) else {
                return false;
            };
            (0..=tail.len())
                .filter(|&i| tail.is_char_boundary(i))
                .any(|i| glob(rest, &tail[i..]))
        }
    }
}

/// A skiff agent and a dockerd side by side, and the differences seen so far.
pub struct Pair {
    pub agent: Agent,
    pub docker: Dockerd,
    diffs: Vec<String>,
}

impl Pair {
    /// An agent, and a dockerd in the agent's network namespace.
    pub fn start() -> Self {
        let agent = Agent::start();
        let docker = Dockerd::start_in(&agent.netns);
        Pair {
            agent,
            docker,
            diffs: Vec::new(),
        }
    }

    fn roots(&self) -> [Vec<String>; 2] {
        [
            vec![
                self.agent.root.display().to_string(),
                self.agent.data.display().to_string(),
            ],
            vec![self.docker.root.display().to_string()],
        ]
    }

    /// The same request to both; differences recorded as `METHOD PATH …`.
    pub fn both(&mut self, mode: Mode, method: &str, path: &str, body: Option<&str>) -> (Answer, Answer) {
        self.each(mode, &format!("{method} {path}"), method, [path, path], body, false)
    }

    /// A request whose path differs per side (an exec ID, say), recorded
    /// under `label`; `upgrade` asks for a hijack.
    pub fn each(
        &mut self,
        mode: Mode,
        label: &str,
        method: &str,
        paths: [&str; 2],
        body: Option<&str>,
        upgrade: bool,
    ) -> (Answer, Answer) {
        let r = Request {
            method,
            path: "",
            headers: &[],
            body: body.map(str::as_bytes),
            upgrade,
        };
        self.exchange(mode, label, [&r, &r], paths)
    }

    /// The same request with a raw body (a tar) of type `content_type`.
    pub fn both_raw(
        &mut self,
        mode: Mode,
        method: &str,
        path: &str,
        body: &[u8],
        content_type: &str,
    ) -> (Answer, Answer) {
        let headers = [("Content-Type", content_type)];
        let r = Request {
            method,
            path: "",
            headers: &headers,
            body: Some(body),
            upgrade: false,
        };
        self.exchange(mode, &format!("{method} {path}"), [&r, &r], [path, path])
    }

    /// Send `reqs[0]` to the agent and `reqs[1]` to dockerd, at `paths`;
    /// differences recorded under `label`.
    pub fn exchange(&mut self, mode: Mode, label: &str, reqs: [&Request; 2], paths: [&str; 2]) -> (Answer, Answer) {
        let send = |sock: &std::path::Path, r: &Request, path: &str| {
            let r = Request { path, ..r.clone() };
            call(sock, &r, Duration::from_secs(60))
        };
        let a = send(&self.agent.sock(), reqs[0], paths[0]);
        let d = send(&self.docker.sock(), reqs[1], paths[1]);
        for line in compare(mode, self.roots(), &a, &d) {
            self.diffs.push(format!("{label}{line}"));
        }
        (a, d)
    }

    /// Fail on any difference not on `allow` (pattern, reason), and on any
    /// allow-list entry that no longer matches (so the list stays true).
    /// Then check the agent left nothing behind.
    pub fn verdict(self, allow: &[(&str, &str)]) {
        let Pair { agent, docker, diffs } = self;
        drop(docker);
        let unexplained: Vec<&String> = diffs
            .iter()
            .filter(|d| !allow.iter().any(|(p, _)| glob(p, d)))
            .collect();
        let unused: Vec<&str> = allow
            .iter()
            .filter(|(p, _)| !diffs.iter().any(|d| glob(p, d)))
            .map(|(p, _)| *p)
            .collect();
        assert!(
            unexplained.is_empty() && unused.is_empty(),
            "skiff answers differently from dockerd:\n  {}\nallow-list entries that match nothing:\n  {}\n({} differences in all)",
            unexplained.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n  "),
            unused.join("\n  "),
            diffs.len()
        );
        agent.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, ct: &str, body: &str) -> Answer {
        Answer {
            status,
            headers: vec![("content-type".into(), ct.into())],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn globs_match_runs() {
        assert!(glob(
            "GET /*/info .Runtimes*",
            "GET /v1.41/info .Runtimes.runc: missing"
        ));
        assert!(!glob("GET /info", "GET /info .x"));
        assert!(glob("*", ""));
    }

    #[test]
    fn nulls_types_and_values_differ_but_ids_and_times_do_not() {
        let a = answer(
            200,
            "application/json",
            r#"{"Id":"0123456789ab","Env":[],"T":"2026-01-01T00:00:00.5Z","X":true,"Pid":3}"#,
        );
        let d = answer(
            200,
            "application/json",
            r#"{"Id":"ba9876543210","Env":null,"T":"2025-02-02T01:00:00Z","X":false,"Pid":9,"New":1}"#,
        );
        let out = compare(Mode::Values, [vec![], vec![]], &a, &d);
        assert_eq!(
            out,
            vec![
                ".Env: array vs null ([] vs null)",
                ".New: missing (docker: 1)",
                ".X: true vs false"
            ]
        );
    }

    #[test]
    fn streams_compare_by_frame() {
        let mut a = answer(200, "application/vnd.docker.multiplexed-stream", "");
        a.body = [vec![1, 0, 0, 0, 0, 0, 0, 3], b"hi\n".to_vec()].concat();
        let mut d = a.clone();
        assert!(compare(Mode::Values, [vec![], vec![]], &a, &d).is_empty());
        d.body[0] = 2;
        assert_eq!(compare(Mode::Values, [vec![], vec![]], &a, &d).len(), 1);
    }
}
