//! Docker's `journald` log driver: each line one datagram of journald's
//! native protocol (`KEY=value\n` fields; a value with a newline as
//! `KEY\n`, its length as u64 LE, the bytes, `\n`) to
//! `/run/systemd/journal/socket`, with Docker's fields: MESSAGE,
//! CONTAINER_ID, CONTAINER_ID_FULL, CONTAINER_NAME, CONTAINER_TAG,
//! IMAGE_NAME, SYSLOG_IDENTIFIER, SYSLOG_TIMESTAMP, CONTAINER_LOG_ORDINAL,
//! PRIORITY 6 (stdout) or 3 (stderr).
//!
//! `SKIFF_JOURNAL_SOCKET`, in the agent's environment (which its
//! supervisors inherit), points the driver at another socket: the tests
//! use it to receive the datagrams themselves.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::net::UnixDatagram;

use super::opts::Info;
use super::{Driver, LogError, Message};

pub const SOCKET: &str = "/run/systemd/journal/socket";

pub fn socket_path() -> String {
    std::env::var("SKIFF_JOURNAL_SOCKET").unwrap_or_else(|_| SOCKET.into())
}

pub struct Journald {
    sock: UnixDatagram,
    path: String,
    /// The fields every entry carries, encoded.
    fixed: Vec<u8>,
    ordinal: u64,
}

fn field(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    out.extend_from_slice(key.as_bytes());
    if value.contains(&b'\n') {
        out.push(b'\n');
        out.extend_from_slice(&(value.len() as u64).to_le_bytes());
    } else {
        out.push(b'=');
    }
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// A journal field name from an attribute's (Docker's `sanitizeKeyMod`):
/// upper case, letters, digits and underscores, no leading underscore.
fn sanitize(key: &str) -> Option<String> {
    let s: String = key
        .trim_start_matches('_')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    (!s.is_empty()).then_some(s)
}

impl Journald {
    pub fn open(opts: &BTreeMap<String, String>, info: &Info) -> Result<Self, LogError> {
        let path = socket_path();
        // Go's journal.Enabled: the socket is there and takes a connection.
        let sock = UnixDatagram::unbound().map_err(|e| LogError::Init(e.to_string()))?;
        if sock.connect(&path).is_err() {
            return Err(LogError::Init("journald is not enabled on this host".into()));
        }
        let tag = info.tag(opts)?;
        let mut fixed = Vec::new();
        for (k, v) in [
            ("CONTAINER_ID", info.short_id()),
            ("CONTAINER_ID_FULL", &info.id),
            ("CONTAINER_NAME", &info.name),
            ("CONTAINER_TAG", &tag),
            ("IMAGE_NAME", &info.image_name),
            ("SYSLOG_IDENTIFIER", &tag),
        ] {
            field(&mut fixed, k, v.as_bytes());
        }
        for (k, v) in &info.attrs {
            if let Some(key) = sanitize(k) {
                field(&mut fixed, &key, v.as_bytes());
            }
        }
        Ok(Self {
            sock,
            path,
            fixed,
            ordinal: 0,
        })
    }
}

impl Driver for Journald {
    fn log(&mut self, m: &Message) -> io::Result<()> {
        let line = m.line.strip_suffix(b"\n").unwrap_or(m.line);
        self.ordinal += 1;
        let mut dgram = Vec::with_capacity(line.len() + self.fixed.len() + 128);
        field(&mut dgram, "MESSAGE", line);
        field(&mut dgram, "PRIORITY", if m.stream == 2 { b"3" } else { b"6" });
        dgram.extend_from_slice(&self.fixed);
        field(&mut dgram, "SYSLOG_TIMESTAMP", m.time.as_bytes());
        field(&mut dgram, "CONTAINER_LOG_ORDINAL", self.ordinal.to_string().as_bytes());
        match self.sock.send(&dgram) {
            Ok(_) => Ok(()),
            // journald restarted: its socket is a new one.
            Err(_) => {
                let sock = UnixDatagram::unbound()?;
                sock.connect(&self.path)?;
                self.sock = sock;
                self.sock.send(&dgram).map(drop)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_fields_for_newlines() {
        let mut out = Vec::new();
        field(&mut out, "A", b"x");
        field(&mut out, "B", b"1\n2");
        let mut want = b"A=x\nB\n".to_vec();
        want.extend_from_slice(&3u64.to_le_bytes());
        want.extend_from_slice(b"1\n2\n");
        assert_eq!(out, want);
    }
}
