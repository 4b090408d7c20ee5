//! Docker's `gelf` log driver: each line a GELF 1.1 JSON message
//! (`version`, `host`, `short_message`, `timestamp` in seconds with
//! milliseconds, `level` 6 or 3, and Docker's extra fields `_container_id`,
//! `_container_name`, `_image_id`, `_image_name`, `_command`, `_tag`,
//! `_created`) to `gelf-address`: over UDP compressed (`gelf-compression-type`
//! gzip, the default, zlib or none; `gelf-compression-level`, default 1)
//! and cut into GELF chunks above 1420 bytes (magic 0x1e 0x0f, 8-byte
//! message ID, sequence number, count; at most 128); over TCP uncompressed,
//! each message ended by a NUL byte.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde_json::{json, Map, Value};

use super::net::{self, Conn};
use super::opts::Info;
use super::{Driver, LogError, Message};

const CHUNK_SIZE: usize = 1420;
const CHUNK_HEADER: usize = 12;
const MAX_CHUNKS: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Compression {
    Gzip,
    Zlib,
    None,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub udp: bool,
    /// host:port.
    pub address: String,
    pub compression: Compression,
    pub level: u32,
    /// TCP: reconnects per message (`gelf-tcp-max-reconnect`, 3) and the
    /// seconds between them (`gelf-tcp-reconnect-delay`, 1).
    pub max_reconnect: u32,
    pub reconnect_delay: u32,
}

impl Config {
    pub fn from_opts(opts: &BTreeMap<String, String>) -> Result<Self, LogError> {
        let inv = |m: String| Err(LogError::Invalid(m));
        let Some(address) = opts.get("gelf-address").filter(|a| !a.is_empty()) else {
            return inv("gelf-address is a required parameter".into());
        };
        let (scheme, host) = match net::split_url(address) {
            Some((s @ ("udp" | "tcp"), h)) => (s, h.trim_end_matches('/')),
            _ => return inv("gelf: endpoint needs to be TCP or UDP".into()),
        };
        if host.rsplit_once(':').is_none_or(|(_, p)| p.parse::<u16>().is_err()) {
            return inv("gelf: please provide gelf-address as proto://host:port".into());
        }
        let mut cfg = Config {
            udp: scheme == "udp",
            address: host.into(),
            compression: Compression::Gzip,
            level: 1,
            max_reconnect: 3,
            reconnect_delay: 1,
        };
        for (key, val) in opts {
            let bad = || format!("unknown value {val:?} for log opt {key:?} for gelf log driver");
            match key.as_str() {
                "gelf-address" | "labels" | "labels-regex" | "env" | "env-regex" | "tag" => {}
                "gelf-compression-level" | "gelf-compression-type" if !cfg.udp => {
                    return inv("compression is only supported on UDP".into())
                }
                "gelf-compression-level" => match val.parse::<i32>() {
                    Ok(-1) => cfg.level = 6,
                    Ok(n @ 0..=9) => cfg.level = n as u32,
                    _ => return inv(bad()),
                },
                "gelf-compression-type" => {
                    cfg.compression = match val.as_str() {
                        "gzip" => Compression::Gzip,
                        "zlib" => Compression::Zlib,
                        "none" => Compression::None,
                        _ => return inv(bad()),
                    }
                }
                "gelf-tcp-max-reconnect" | "gelf-tcp-reconnect-delay" => {
                    if cfg.udp {
                        return inv(format!("{key:?} is only valid for TCP"));
                    }
                    let Ok(n) = val.parse::<u32>() else {
                        return inv(format!("{key:?} must be a positive integer"));
                    };
                    if key == "gelf-tcp-max-reconnect" {
                        cfg.max_reconnect = n;
                    } else {
                        cfg.reconnect_delay = n;
                    }
                }
                _ => return inv(format!("unknown log opt {key:?} for gelf log driver")),
            }
        }
        Ok(cfg)
    }
}

pub struct Gelf {
    cfg: Config,
    conn: Option<Conn>,
    host: String,
    extra: Map<String, Value>,
    /// Message IDs for chunks: a counter mixed with the process ID.
    next_id: u64,
}

impl Gelf {
    pub fn open(opts: &BTreeMap<String, String>, info: &Info, strict: bool) -> Result<Self, LogError> {
        let cfg = Config::from_opts(opts)?;
        let conn = match connect(&cfg) {
            Ok(c) => Some(c),
            Err(e) if strict => {
                return Err(LogError::Init(format!(
                    "gelf: cannot connect to GELF endpoint: {} {e}",
                    cfg.address
                )))
            }
            Err(_) => None,
        };
        let mut extra = Map::new();
        for (k, v) in [
            ("_container_id", &info.id),
            ("_container_name", &info.name),
            ("_image_id", &info.image_id),
            ("_image_name", &info.image_name),
            ("_command", &info.command),
            ("_tag", &info.tag(opts)?),
            ("_created", &info.created),
        ] {
            extra.insert(k.into(), Value::String(v.clone()));
        }
        for (k, v) in &info.attrs {
            let key = if k.starts_with('_') { k.clone() } else { format!("_{k}") };
            extra.insert(key, Value::String(v.clone()));
        }
        Ok(Self {
            cfg,
            conn,
            host: super::opts::hostname(),
            extra,
            next_id: u64::from(std::process::id()) << 32,
        })
    }

    fn message(&self, m: &Message, line: &[u8]) -> Vec<u8> {
        let millis = chrono::DateTime::parse_from_rfc3339(&m.time)
            .map(|t| t.timestamp_millis())
            .unwrap_or(0);
        let mut v = json!({
            "version": "1.1",
            "host": self.host,
            "short_message": String::from_utf8_lossy(line),
            "timestamp": millis as f64 / 1000.0,
            "level": if m.stream == 2 { 3 } else { 6 },
        });
        let obj = v.as_object_mut().expect("object");
        obj.extend(self.extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        serde_json::to_vec(&v).expect("json")
    }

    fn compress(&self, data: &[u8]) -> io::Result<Vec<u8>> {
        let level = flate2::Compression::new(self.cfg.level);
        Ok(match self.cfg.compression {
            Compression::None => data.to_vec(),
            Compression::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), level);
                e.write_all(data)?;
                e.finish()?
            }
            Compression::Zlib => {
                let mut e = flate2::write::ZlibEncoder::new(Vec::new(), level);
                e.write_all(data)?;
                e.finish()?
            }
        })
    }

    fn send(&mut self, packets: &[Vec<u8>]) -> io::Result<()> {
        let reconnects = if self.cfg.udp { 0 } else { self.cfg.max_reconnect };
        let delay = std::time::Duration::from_secs(self.cfg.reconnect_delay.into());
        let cfg = &self.cfg;
        super::net::send_with_retries(
            &mut self.conn,
            reconnects.saturating_add(1),
            |_| delay,
            || connect(cfg),
            |conn| packets.iter().try_for_each(|p| conn.send(p)),
        )
    }
}

fn connect(cfg: &Config) -> io::Result<Conn> {
    if cfg.udp {
        net::dial_udp(&cfg.address).map(Conn::Udp)
    } else {
        net::dial_tcp(&cfg.address).map(Conn::Tcp)
    }
}

/// GELF chunks of `data` under message `id`.
pub fn chunks(data: &[u8], id: u64) -> io::Result<Vec<Vec<u8>>> {
    if data.len() <= CHUNK_SIZE {
        return Ok(vec![data.to_vec()]);
    }
    let per = CHUNK_SIZE - CHUNK_HEADER;
    let count = data.len().div_ceil(per);
    if count > MAX_CHUNKS {
        return Err(io::Error::other("msg too large, would need more than 128 chunks"));
    }
    Ok(data
        .chunks(per)
        .enumerate()
        .map(|(i, part)| {
            let mut c = Vec::with_capacity(CHUNK_HEADER + part.len());
            c.extend_from_slice(&[0x1e, 0x0f]);
            c.extend_from_slice(&id.to_be_bytes());
            c.push(i as u8);
            c.push(count as u8);
            c.extend_from_slice(part);
            c
        })
        .collect())
}

impl Driver for Gelf {
    fn log(&mut self, m: &Message) -> io::Result<()> {
        let line = m.line.strip_suffix(b"\n").unwrap_or(m.line);
        if line.is_empty() {
            return Ok(());
        }
        let mut msg = self.message(m, line);
        let packets = if self.cfg.udp {
            self.next_id = self.next_id.wrapping_add(1);
            chunks(&self.compress(&msg)?, self.next_id)?
        } else {
            msg.push(0);
            vec![msg]
        };
        self.send(&packets)
            .map_err(|e| io::Error::other(format!("gelf: cannot send GELF message: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn udp_gzip_chunked() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let opts: BTreeMap<String, String> = [(
            "gelf-address".to_string(),
            format!("udp://{}", rx.local_addr().unwrap()),
        )]
        .into_iter()
        .collect();
        let info = Info {
            id: "c".repeat(64),
            ..Default::default()
        };
        let mut g = Gelf::open(&opts, &info, true).unwrap();
        g.cfg.compression = Compression::None;
        let long = "y".repeat(3000) + "\n";
        g.log(&Message {
            stream: 1,
            line: long.as_bytes(),
            time: crate::log::now(),
        })
        .unwrap();
        let mut whole = Vec::new();
        let mut buf = [0u8; 2048];
        for i in 0..3 {
            let n = rx.recv(&mut buf).unwrap();
            assert_eq!((buf[0], buf[1], buf[10], buf[11]), (0x1e, 0x0f, i, 3));
            whole.extend_from_slice(&buf[12..n]);
        }
        let v: Value = serde_json::from_slice(&whole).unwrap();
        assert_eq!(v["short_message"].as_str().unwrap().len(), 3000);
        assert_eq!(v["_container_id"], "c".repeat(64));
        g.cfg.compression = Compression::Gzip;
        g.log(&Message {
            stream: 2,
            line: b"hi\n",
            time: crate::log::now(),
        })
        .unwrap();
        let n = rx.recv(&mut buf).unwrap();
        let mut s = String::new();
        flate2::read::GzDecoder::new(&buf[..n]).read_to_string(&mut s).unwrap();
        let v: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(
            (v["short_message"].as_str(), v["level"].as_i64()),
            (Some("hi"), Some(3))
        );
    }
}
