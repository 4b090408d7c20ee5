//! Raw HTTP/1.1 over a unix socket: the exact status line, headers and
//! bytes a client gets, for tests that compare answers byte for byte
//! (exec framing, the differential suite against dockerd).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// One answer: status, headers in order (names lower-cased), and the body
/// (de-chunked; after a `101` it is the raw hijacked stream).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    /// The first header of that (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The head as text, for assertions on whole header lines.
    pub fn head(&self) -> String {
        self.headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }

    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// A request to send: method, path (with the version prefix, if any),
/// extra header lines, an optional body, and whether to ask for a hijack.
#[derive(Debug, Clone, Default)]
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: Option<&'a [u8]>,
    pub upgrade: bool,
}

/// Send one request on a fresh connection and read until the server
/// closes it (at most `timeout` per read).
pub fn call(sock: &Path, r: &Request, timeout: Duration) -> Answer {
    let mut s = UnixStream::connect(sock).unwrap_or_else(|e| panic!("connect {}: {e}", sock.display()));
    let conn = if r.upgrade {
        "Connection: Upgrade\r\nUpgrade: tcp\r\n"
    } else {
        "Connection: close\r\n"
    };
    let mut head = format!("{} {} HTTP/1.1\r\nHost: api\r\n{conn}", r.method, r.path);
    for (k, v) in r.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = r.body {
        if !r.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
            head.push_str("Content-Type: application/json\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).expect("write head");
    if let Some(b) = r.body {
        s.write_all(b).expect("write body");
    }
    s.set_read_timeout(Some(timeout)).expect("timeout");
    let mut raw = Vec::new();
    if let Err(e) = s.read_to_end(&mut raw) {
        // A stream that stays open (a hijack of a live container): what
        // arrived in time is the answer.
        assert!(!raw.is_empty(), "{} {}: read: {e}", r.method, r.path);
    }
    parse(&raw)
}

fn parse(raw: &[u8]) -> Answer {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(raw)))
        + 4;
    let text = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.get(9..12))
        .and_then(|s| s.parse().ok())
        .expect("status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"))
    {
        body = unchunk(&body);
    }
    Answer { status, headers, body }
}

fn unchunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size = String::from_utf8_lossy(&b[..eol]);
        let n = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        if n == 0 || b.len() < eol + 2 + n {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[(eol + 4 + n).min(b.len())..];
    }
    out
}

/// Docker's multiplexed stream as (stream, payload) frames; `None` when
/// the bytes are not such a stream.
pub fn frames(mut b: &[u8]) -> Option<Vec<(u8, Vec<u8>)>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        if b.len() < 8 || b[0] > 2 || b[1..4] != [0, 0, 0] {
            return None;
        }
        let n = u32::from_be_bytes([b[4], b[5], b[6], b[7]]) as usize;
        if b.len() < 8 + n {
            return None;
        }
        out.push((b[0], b[8..8 + n].to_vec()));
        b = &b[8 + n..];
    }
    Some(out)
}
