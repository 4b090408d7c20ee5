//! Docker's `syslog` log driver: each line a syslog message at priority
//! facility|info (stdout) or facility|err (stderr), sent to
//! `syslog-address` (`unix://`, `unixgram://`, `tcp://`, `udp://`; the
//! local `/dev/log` by default) in Docker's formats: the default
//! `<PRI>Mmm dd hh:mm:ss TAG[PID]: MSG`, `rfc3164` (with the hostname),
//! `rfc5424` and `rfc5424micro` (`<PRI>1 TIME HOST TAG PID TAG - MSG`).
//! Stream transports end each message with a newline, except rfc5424 over
//! `tcp+tls://`, which Docker frames with the octet count of RFC 5425
//! (`LEN MSG`). TLS itself is in `tls.rs`.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use super::net::{self, Conn};
use super::opts::Info;
use super::{Driver, LogError, Message};

const FACILITIES: &[(&str, u8)] = &[
    ("kern", 0),
    ("user", 1),
    ("mail", 2),
    ("daemon", 3),
    ("auth", 4),
    ("syslog", 5),
    ("lpr", 6),
    ("news", 7),
    ("uucp", 8),
    ("cron", 9),
    ("authpriv", 10),
    ("ftp", 11),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Format {
    Unix,
    Rfc3164,
    Rfc5424,
    Rfc5424Micro,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// (scheme, address); `None`: the local syslog socket.
    pub address: Option<(String, String)>,
    /// Already shifted: facility << 3.
    pub facility: u8,
    pub format: Format,
}

impl Config {
    pub fn from_opts(opts: &BTreeMap<String, String>) -> Result<Self, LogError> {
        let inv = |m: String| LogError::Invalid(m);
        let address = match opts.get("syslog-address").filter(|a| !a.is_empty()) {
            None => None,
            Some(a) => Some(parse_address(a)?),
        };
        let facility = match opts.get("syslog-facility").filter(|f| !f.is_empty()) {
            None => 3 << 3,
            Some(f) => match FACILITIES.iter().find(|(n, _)| n == f) {
                Some((_, v)) => v << 3,
                None => f
                    .parse::<u8>()
                    .ok()
                    .filter(|n| *n < 24)
                    .map(|n| n << 3)
                    .ok_or_else(|| inv("invalid syslog facility".into()))?,
            },
        };
        let format = match opts.get("syslog-format").map(String::as_str).unwrap_or("") {
            "" => Format::Unix,
            "rfc3164" => Format::Rfc3164,
            "rfc5424" => Format::Rfc5424,
            "rfc5424micro" => Format::Rfc5424Micro,
            _ => return Err(inv("Invalid syslog format".into())),
        };
        Ok(Self {
            address,
            facility,
            format,
        })
    }
}

fn parse_address(a: &str) -> Result<(String, String), LogError> {
    let inv = |m: String| LogError::Invalid(m);
    let (scheme, rest) = net::split_url(a).ok_or_else(|| inv(format!("unsupported scheme: '{a}'")))?;
    match scheme {
        "unix" | "unixgram" => {
            if let Err(e) = std::fs::metadata(rest) {
                return Err(inv(format!("stat {rest}: {}", net::go_text(&e))));
            }
            Ok((scheme.into(), rest.into()))
        }
        "udp" | "tcp" | "tcp+tls" => {
            let host = rest.trim_end_matches('/');
            let has_port = host.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) && !host.ends_with(']');
            let host = if has_port {
                host.to_string()
            } else {
                format!("{host}:514")
            };
            Ok((scheme.into(), host))
        }
        _ => Err(inv(format!("unsupported scheme: '{scheme}'"))),
    }
}

/// Connect to the configured destination, or the local syslog socket as
/// Go's syslog finds it (each path, datagram first).
fn connect(cfg: &Config, tls: Option<&Arc<rustls::ClientConfig>>) -> io::Result<Conn> {
    match &cfg.address {
        Some((scheme, addr)) => match scheme.as_str() {
            "tcp+tls" => {
                let tls = tls.ok_or_else(|| io::Error::other("tls: no client configuration"))?;
                super::tls::dial(addr, tls.clone()).map(|s| Conn::Tls(Box::new(s)))
            }
            "tcp" => net::dial_tcp(addr).map(Conn::Tcp),
            "udp" => net::dial_udp(addr).map(Conn::Udp),
            "unix" => net::dial_unix(addr).map(Conn::Unix),
            _ => net::dial_unixgram(addr).map(Conn::Unixgram),
        },
        None => {
            for p in ["/dev/log", "/var/run/syslog", "/var/run/log"] {
                if let Ok(s) = net::dial_unixgram(p) {
                    return Ok(Conn::Unixgram(s));
                }
                if let Ok(s) = net::dial_unix(p) {
                    return Ok(Conn::Unix(s));
                }
            }
            Err(io::Error::other("Unix syslog delivery error"))
        }
    }
}

pub struct Syslog {
    cfg: Config,
    /// For `tcp+tls://`.
    tls: Option<Arc<rustls::ClientConfig>>,
    conn: Option<Conn>,
    tag: String,
    hostname: String,
    pid: u32,
}

impl Syslog {
    /// Connect now; `strict` fails on an unreachable destination (the
    /// start check), otherwise the driver connects on the next line.
    pub fn open(opts: &BTreeMap<String, String>, info: &Info, strict: bool) -> Result<Self, LogError> {
        let cfg = Config::from_opts(opts)?;
        let tls = match cfg.address.as_ref().filter(|(s, _)| s == "tcp+tls") {
            Some(_) => Some(super::tls::config(opts).map_err(LogError::Init)?),
            None => None,
        };
        let conn = match connect(&cfg, tls.as_ref()) {
            Ok(c) => Some(c),
            Err(e) if strict => return Err(LogError::Init(e.to_string())),
            Err(_) => None,
        };
        Ok(Self {
            tag: info.tag(opts)?,
            hostname: super::opts::hostname(),
            pid: std::process::id(),
            cfg,
            tls,
            conn,
        })
    }

    pub fn format(&self, pri: u8, content: &str) -> String {
        let now = chrono::Local::now();
        let (tag, host, pid) = (&self.tag, &self.hostname, self.pid);
        match self.cfg.format {
            Format::Unix => format!("<{pri}>{} {tag}[{pid}]: {content}", now.format("%b %e %H:%M:%S")),
            Format::Rfc3164 => format!("<{pri}>{} {host} {tag}[{pid}]: {content}", now.format("%b %e %H:%M:%S")),
            Format::Rfc5424 => format!(
                "<{pri}>1 {} {host} {tag} {pid} {tag} - {content}",
                now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            Format::Rfc5424Micro => format!(
                "<{pri}>1 {} {host} {tag} {pid} {tag} - {content}",
                now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            ),
        }
    }
}

impl Syslog {
    /// rfc5424 over TLS: RFC 5425's `LEN MSG` framing, as Docker's.
    fn octet_counted(&self) -> bool {
        let tls = self.cfg.address.as_ref().is_some_and(|(s, _)| s == "tcp+tls");
        tls && matches!(self.cfg.format, Format::Rfc5424 | Format::Rfc5424Micro)
    }
}

impl Driver for Syslog {
    fn log(&mut self, m: &Message) -> io::Result<()> {
        let line = m.line.strip_suffix(b"\n").unwrap_or(m.line);
        if line.is_empty() {
            return Ok(());
        }
        let severity = if m.stream == 2 { 3 } else { 6 };
        let mut msg = self.format(self.cfg.facility | severity, &String::from_utf8_lossy(line));
        let octets = self.octet_counted();
        // One reconnect, as Go's syslog writer retries once.
        for attempt in 0..2 {
            if self.conn.is_none() {
                self.conn = Some(connect(&self.cfg, self.tls.as_ref())?);
            }
            let conn = self.conn.as_mut().expect("connected");
            if octets {
                if attempt == 0 {
                    msg = format!("{} {msg}", msg.len());
                }
            } else if conn.is_stream() && !msg.ends_with('\n') {
                msg.push('\n');
            }
            match conn.send(msg.as_bytes()) {
                Ok(()) => return Ok(()),
                Err(e) if attempt == 1 => return Err(e),
                Err(_) => self.conn = None,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn options() {
        let c = Config::from_opts(&o(&[
            ("syslog-address", "udp://127.0.0.1"),
            ("syslog-facility", "local3"),
        ]))
        .unwrap();
        assert_eq!(c.address, Some(("udp".into(), "127.0.0.1:514".into())));
        assert_eq!(c.facility, 19 << 3);
        let e = |p: &[(&str, &str)]| Config::from_opts(&o(p)).unwrap_err().to_string();
        assert_eq!(e(&[("syslog-address", "http://x")]), "unsupported scheme: 'http'");
        assert_eq!(e(&[("syslog-facility", "nope")]), "invalid syslog facility");
        assert_eq!(e(&[("syslog-format", "x")]), "Invalid syslog format");
        assert_eq!(
            e(&[("syslog-address", "unix:///nonexistent/sock")]),
            "stat /nonexistent/sock: no such file or directory"
        );
    }

    #[test]
    fn sends_udp_in_rfc5424() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = format!("udp://{}", rx.local_addr().unwrap());
        let info = Info {
            id: "ab".repeat(32),
            name: "web".into(),
            ..Default::default()
        };
        let opts = o(&[
            ("syslog-address", &addr),
            ("syslog-format", "rfc5424"),
            ("tag", "{{.Name}}"),
        ]);
        let mut d = Syslog::open(&opts, &info, true).unwrap();
        d.log(&Message {
            stream: 2,
            line: b"oops\n",
            time: crate::log::now(),
        })
        .unwrap();
        let mut buf = [0u8; 512];
        let n = rx.recv(&mut buf).unwrap();
        let s = String::from_utf8_lossy(&buf[..n]);
        assert!(s.starts_with("<27>1 "), "{s}");
        assert!(s.ends_with(&format!(" web {} web - oops", std::process::id())), "{s}");
    }
}
