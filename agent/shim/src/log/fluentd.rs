//! Docker's `fluentd` log driver: the Forward protocol's message mode, each
//! line a msgpack `[tag, time, record]` with the record
//! `{container_id, container_name, source, log}` (time in seconds, or an
//! EventTime with `fluentd-sub-second-precision`), over TCP or a unix
//! socket to `fluentd-address` (default `localhost:24224`).
//!
//! `fluentd-async`: the start does not wait for the server; lines wait in
//! a buffer of `fluentd-buffer-limit` bytes (1m; `ring.rs`, dropped when
//! full) that a thread sends, retrying every
//! `fluentd-async-reconnect-interval` when set. `fluentd-request-ack`: each message
//! carries `{"chunk": ID}` and counts as sent once the server answers
//! `{"ack": ID}` (within `fluentd-read-timeout`). `fluentd-write-timeout`
//! bounds each write (5 s when unset). Otherwise a failed write reconnects up to
//! `fluentd-max-retries` times, waiting `fluentd-retry-wait` doubled each
//! time (at most 60 s), async or not. Docker's default is effectively unbounded; the
//! monitor is single-threaded (a stuck driver stalls the container's
//! output, its signals and its reaping), so skiff defaults to 5 retries.
//!
//! The msgpack encoder is the few lines this needs (arrays, maps, strings,
//! u32 and one ext type): a msgpack crate would add serde plumbing to every
//! container's monitor for three types.

use std::collections::BTreeMap;
use std::io;
use std::time::Duration;

use super::net::{self, Conn};
use super::opts::{parse_bool, parse_duration, Info};
use super::{Driver, LogError, Message};

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// ("tcp", host:port) or ("unix", path).
    pub address: (String, String),
    pub is_async: bool,
    pub retry_wait: Duration,
    pub max_retries: u32,
    pub sub_second: bool,
    pub request_ack: bool,
    pub write_timeout: Option<Duration>,
    pub read_timeout: Option<Duration>,
    /// Async mode: the least time between two connection attempts.
    pub reconnect_interval: Duration,
}

impl Config {
    pub fn from_opts(opts: &BTreeMap<String, String>) -> Result<Self, LogError> {
        let inv = |m: String| LogError::Invalid(m);
        let raw = opts.get("fluentd-address").map(String::as_str).unwrap_or("");
        let address = parse_address(raw).map_err(|e| inv(format!("invalid fluentd-address ({raw}): {e}")))?;
        let flag = |k: &str| -> Result<bool, LogError> {
            match opts.get(k).filter(|v| !v.is_empty()) {
                None => Ok(false),
                Some(v) => parse_bool(v).ok_or_else(|| {
                    inv(format!(
                        "invalid value for {k}: strconv.ParseBool: parsing \"{v}\": invalid syntax"
                    ))
                }),
            }
        };
        let retry_wait = match opts.get("fluentd-retry-wait").filter(|v| !v.is_empty()) {
            None => Duration::from_secs(1),
            Some(v) => parse_duration(v).ok_or_else(|| {
                inv(format!(
                    "invalid value for fluentd-retry-wait: time: invalid duration \"{v}\""
                ))
            })?,
        };
        let max_retries = match opts.get("fluentd-max-retries").filter(|v| !v.is_empty()) {
            None => 5,
            Some(v) => v
                .parse::<u32>()
                .map_err(|_| inv("invalid fluentd-max-retries: value out of range".into()))?,
        };
        for k in ["fluentd-buffer-limit"] {
            if let Some(v) = opts.get(k).filter(|v| super::opts::parse_size(v).is_none()) {
                return Err(inv(format!("invalid value for {k}: {v}")));
            }
        }
        let duration = |k: &str| -> Result<Option<Duration>, LogError> {
            match opts.get(k).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) => parse_duration(v)
                    .map(Some)
                    .ok_or_else(|| inv(format!("invalid value for {k}: value must be a duration"))),
            }
        };
        let interval = duration("fluentd-async-reconnect-interval")?;
        if let Some(i) = interval.filter(|i| *i < Duration::from_millis(100) || *i > Duration::from_secs(10)) {
            return Err(inv(format!(
                "invalid value for fluentd-async-reconnect-interval: value ({i:?}) must be between 100ms and 10s"
            )));
        }
        Ok(Self {
            address,
            is_async: flag("fluentd-async")? || flag("fluentd-async-connect")?,
            retry_wait,
            max_retries,
            sub_second: flag("fluentd-sub-second-precision")?,
            request_ack: flag("fluentd-request-ack")?,
            write_timeout: duration("fluentd-write-timeout")?.filter(|d| !d.is_zero()),
            read_timeout: duration("fluentd-read-timeout")?.filter(|d| !d.is_zero()),
            reconnect_interval: interval.unwrap_or(Duration::ZERO),
        })
    }
}

fn parse_address(a: &str) -> Result<(String, String), String> {
    if a.is_empty() {
        return Ok(("tcp".into(), "127.0.0.1:24224".into()));
    }
    let (scheme, rest) = net::split_url(a).unwrap_or(("tcp", a));
    match scheme {
        "unix" if rest.trim_start_matches('/').is_empty() => Err("path is empty".into()),
        "unix" => Ok(("unix".into(), rest.into())),
        "tcp" => {
            if rest.contains('/') {
                return Err("should not contain a path element".into());
            }
            let (host, port) = match rest.rsplit_once(':') {
                Some((h, p)) => (h, p.parse::<u16>().map_err(|_| format!("invalid port: {p}"))?),
                None => (rest, 24224),
            };
            let host = if host.is_empty() { "127.0.0.1" } else { host };
            Ok(("tcp".into(), format!("{host}:{port}")))
        }
        other => Err(format!("unsupported scheme: '{other}'")),
    }
}

fn connect(cfg: &Config) -> io::Result<Conn> {
    let (scheme, addr) = &cfg.address;
    let conn = if scheme == "unix" {
        net::dial_unix(addr).map(Conn::Unix)?
    } else {
        net::dial_tcp(addr).map(Conn::Tcp)?
    };
    conn.set_timeouts(
        cfg.write_timeout.or(Some(net::TIMEOUT)),
        cfg.read_timeout.or(Some(net::TIMEOUT)),
    )?;
    Ok(conn)
}

/// Wait for the server's `{"ack": chunk}`.
fn await_ack(conn: &mut Conn, chunk: &str) -> io::Result<()> {
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !got.windows(chunk.len()).any(|w| w == chunk.as_bytes()) {
        let n = conn.recv(&mut buf)?;
        if n == 0 || got.len() > 4096 {
            return Err(io::Error::other(format!("fluent#send: no ack for chunk {chunk}")));
        }
        got.extend_from_slice(&buf[..n]);
    }
    Ok(())
}

// The msgpack encoding of the few types a Forward message has.
fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    match s.len() {
        n if n < 32 => out.push(0xa0 | n as u8),
        n if n < 256 => out.extend_from_slice(&[0xd9, n as u8]),
        n if n < 65536 => {
            out.push(0xda);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0xdb);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
    }
    out.extend_from_slice(s);
}

/// `[tag, time, {k: v, …}]`, or with `{"chunk": id}` as a fourth element.
pub fn encode(tag: &str, secs: u32, nanos: Option<u32>, record: &[(&str, &[u8])], chunk: Option<&str>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + record.iter().map(|(k, v)| k.len() + v.len() + 6).sum::<usize>());
    out.push(if chunk.is_some() { 0x94 } else { 0x93 });
    put_str(&mut out, tag.as_bytes());
    match nanos {
        // EventTime: ext type 0, seconds and nanoseconds as u32 BE.
        Some(ns) => {
            out.extend_from_slice(&[0xd7, 0x00]);
            out.extend_from_slice(&secs.to_be_bytes());
            out.extend_from_slice(&ns.to_be_bytes());
        }
        None => {
            out.push(0xce);
            out.extend_from_slice(&secs.to_be_bytes());
        }
    }
    if record.len() < 16 {
        out.push(0x80 | record.len() as u8);
    } else {
        out.push(0xde);
        out.extend_from_slice(&(record.len() as u16).to_be_bytes());
    }
    for (k, v) in record {
        put_str(&mut out, k.as_bytes());
        put_str(&mut out, v);
    }
    if let Some(id) = chunk {
        out.push(0x81);
        put_str(&mut out, b"chunk");
        put_str(&mut out, id.as_bytes());
    }
    out
}

pub struct Fluentd {
    cfg: Config,
    conn: Option<Conn>,
    tag: String,
    id: String,
    name: String,
    attrs: Vec<(String, String)>,
    sent: u64,
}

impl Fluentd {
    pub fn open(opts: &BTreeMap<String, String>, info: &Info, strict: bool) -> Result<Self, LogError> {
        let cfg = Config::from_opts(opts)?;
        let conn = match connect(&cfg) {
            Ok(c) => Some(c),
            Err(e) if strict && !cfg.is_async => return Err(LogError::Init(e.to_string())),
            Err(_) => None,
        };
        Ok(Self {
            tag: info.tag(opts)?,
            id: info.id.clone(),
            name: format!("/{}", info.name),
            attrs: info.attrs.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            sent: 0,
            cfg,
            conn,
        })
    }

    fn send(&mut self, data: &[u8], chunk: Option<&str>) -> io::Result<()> {
        // Async with a reconnect interval retries at that interval;
        // otherwise the wait doubles from retry-wait, up to a minute.
        let fixed = self.cfg.is_async && !self.cfg.reconnect_interval.is_zero();
        let (first, interval) = (self.cfg.retry_wait, self.cfg.reconnect_interval);
        let wait = |retry: u32| {
            if fixed {
                interval
            } else {
                first
                    .checked_mul(2u32.saturating_pow(retry - 1))
                    .map_or(Duration::from_secs(60), |w| w.min(Duration::from_secs(60)))
            }
        };
        let cfg = &self.cfg;
        super::net::send_with_retries(
            &mut self.conn,
            cfg.max_retries.saturating_add(1),
            wait,
            || connect(cfg),
            |conn| {
                conn.send(data)
                    .and_then(|()| chunk.map_or(Ok(()), |id| await_ack(conn, id)))
            },
        )
    }
}

impl Driver for Fluentd {
    fn log(&mut self, m: &Message) -> io::Result<()> {
        let line = m.line.strip_suffix(b"\n").unwrap_or(m.line);
        let t = chrono::DateTime::parse_from_rfc3339(&m.time).unwrap_or_default();
        let nanos = self.cfg.sub_second.then(|| t.timestamp_subsec_nanos());
        let mut record: Vec<(&str, &[u8])> = vec![
            ("container_id", self.id.as_bytes()),
            ("container_name", self.name.as_bytes()),
            ("source", m.stream_name().as_bytes()),
            ("log", line),
        ];
        record.extend(self.attrs.iter().map(|(k, v)| (k.as_str(), v.as_bytes())));
        self.sent += 1;
        let chunk = self.cfg.request_ack.then(|| {
            format!(
                "{:x}-{:x}-{}",
                std::process::id(),
                t.timestamp_nanos_opt().unwrap_or(0),
                self.sent
            )
        });
        let data = encode(&self.tag, t.timestamp() as u32, nanos, &record, chunk.as_deref());
        self.send(&data, chunk.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(parse_address("").unwrap(), ("tcp".into(), "127.0.0.1:24224".into()));
        assert_eq!(
            parse_address("fluent:1234").unwrap(),
            ("tcp".into(), "fluent:1234".into())
        );
        assert_eq!(parse_address("tcp://h").unwrap(), ("tcp".into(), "h:24224".into()));
        assert_eq!(parse_address("unix:///s").unwrap(), ("unix".into(), "/s".into()));
        assert!(parse_address("http://x").is_err());
    }

    #[test]
    fn msgpack_shape() {
        let m = encode("t", 1, None, &[("log", b"hi")], None);
        assert_eq!(
            m,
            vec![0x93, 0xa1, b't', 0xce, 0, 0, 0, 1, 0x81, 0xa3, b'l', b'o', b'g', 0xa2, b'h', b'i']
        );
        let long = vec![b'x'; 300];
        let m = encode("t", 1, Some(5), &[("log", &long)], None);
        assert_eq!(&m[3..5], &[0xd7, 0x00]);
        assert_eq!(&m[18..21], &[0xda, 0x01, 0x2c]);
    }

    #[test]
    fn request_ack_waits_for_the_servers_ack() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap();
            let msg = &buf[..n];
            assert_eq!(msg[0], 0x94, "four elements");
            let at = msg.windows(5).position(|w| w == b"chunk").unwrap() + 5;
            let id = &msg[at + 1..];
            let mut ack = vec![0x81, 0xa3, b'a', b'c', b'k', 0xa0 | id.len() as u8];
            ack.extend_from_slice(id);
            s.write_all(&ack).unwrap();
        });
        let opts: BTreeMap<String, String> = [("fluentd-address", addr.as_str()), ("fluentd-request-ack", "true")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut f = Fluentd::open(&opts, &Info::default(), true).unwrap();
        let m = Message {
            stream: 1,
            line: b"acked\n",
            time: crate::log::now(),
        };
        f.log(&m).unwrap();
        server.join().unwrap();
    }

    #[test]
    fn unreachable_is_the_start_error() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        drop(l);
        let opts: BTreeMap<String, String> = [("fluentd-address".to_string(), addr.clone())].into_iter().collect();
        let e = Fluentd::open(&opts, &Info::default(), true).err().unwrap().to_string();
        assert_eq!(e, format!("dial tcp {addr}: connect: connection refused"));
    }
}
