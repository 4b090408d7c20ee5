//! Log drivers, in the container's monitor. The monitor hands every read
//! of the container's output to a `Copier`, which cuts it into lines as
//! Docker's log copier does (at newlines, and at 16 KiB) and gives each
//! line, stamped with the time, to the container's `Driver`. A driver is
//! one file here behind that trait; `open` is the only place that builds
//! them, `opts` checks their options and `read` knows which can be read
//! back. Drivers that send lines away keep a `local` cache beside them
//! for `logs` (Docker 20.10's dual logging).

pub mod fluentd;
pub mod gelf;
pub mod journald;
pub mod jsonfile;
pub mod local;
pub mod net;
pub mod opts;
pub mod read;
pub mod ring;
pub mod syslog;
pub mod tls;

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use opts::Info;

/// Why a log driver cannot be used, in Docker's words.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// Bad driver name or options (rejected at create).
    #[error("{0}")]
    Invalid(String),
    /// The driver cannot reach its destination (fails the start).
    #[error("{0}")]
    Init(String),
    #[error("configured logging driver does not support reading")]
    NotReadable,
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// A container's log settings, as the monitor gets them: the driver, its
/// options, the container's directory (where the file drivers and the
/// cache write) and what the drivers say about the container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogTarget {
    pub driver: String,
    #[serde(default)]
    pub opts: BTreeMap<String, String>,
    pub dir: PathBuf,
    pub info: Info,
}

/// Docker splits log lines at 16 KiB.
const MAX_LINE: usize = 16 * 1024;

/// One line of a container's output (with its newline, unless it was cut
/// at 16 KiB or the stream ended without one).
pub struct Message<'a> {
    /// 1 stdout, 2 stderr.
    pub stream: u8,
    pub line: &'a [u8],
    /// RFC 3339 with nanoseconds, when the line was read.
    pub time: String,
}

impl Message<'_> {
    pub fn stream_name(&self) -> &'static str {
        if self.stream == 2 {
            "stderr"
        } else {
            "stdout"
        }
    }
}

/// Where a container's log lines go (`Send`: `mode=non-blocking` runs it
/// on a thread of its own).
pub trait Driver: Send {
    fn log(&mut self, m: &Message) -> io::Result<()>;
    /// The container is gone: flush and let go.
    fn close(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The driver for a container's log settings (`None` for `none`), with
/// its cache when it has one. `strict`: fail when a remote destination
/// cannot be reached now (the agent's check before a start); the monitor
/// opens leniently and connects on a later line instead.
pub fn open(t: &LogTarget, strict: bool) -> Result<Option<Copier>, LogError> {
    let (o, info) = (&t.opts, &t.info);
    // The drivers see their own options, not the delivery mode's or the cache's.
    let own = opts::driver_opts(o);
    let driver: Box<dyn Driver> = match t.driver.as_str() {
        "none" => return Ok(None),
        "json-file" | "" => {
            let rotation = jsonfile::Rotation::from_opts(&own).map_err(LogError::Invalid)?;
            let mut w = jsonfile::Writer::open(&read::json_path(&t.dir, &info.id), rotation)?;
            w.attrs = info.attrs.clone();
            Box::new(w)
        }
        "local" => Box::new(open_local(&local::path(&t.dir), &own, info)?),
        "syslog" => Box::new(syslog::Syslog::open(&own, info, strict)?),
        "journald" => Box::new(journald::Journald::open(&own, info)?),
        "gelf" => Box::new(gelf::Gelf::open(&own, info, strict)?),
        "fluentd" => Box::new(fluentd::Fluentd::open(&own, info, strict)?),
        other => {
            return Err(LogError::Invalid(format!(
                "logger: no log driver named '{other}' is registered"
            )))
        }
    };
    // Non-blocking, and fluentd's async mode: the driver drains a buffer
    // (`max-buffer-size`, `fluentd-buffer-limit`) on its own thread; the
    // cache beside it is a local file, written in line.
    // Fluentd's async mode, as Docker's (ForceStopAsyncSend), lets the
    // container's exit go without waiting long for the server.
    let buffer = if t.driver == "fluentd" && fluentd::Config::from_opts(o)?.is_async {
        Some((o.get("fluentd-buffer-limit"), std::time::Duration::from_millis(500)))
    } else if o.get("mode").map(String::as_str) == Some("non-blocking") {
        Some((o.get("max-buffer-size"), ring::DRAIN))
    } else {
        None
    };
    let driver: Box<dyn Driver> = match buffer {
        Some((size, drain)) if !strict => {
            let max = size
                .and_then(|v| opts::parse_size(v))
                .map_or(ring::DEFAULT_MAX, |n| n as usize);
            Box::new(ring::NonBlocking::new(driver, max, drain)?)
        }
        _ => driver,
    };
    if !opts::uses_cache(&t.driver, o) {
        return Ok(Some(Copier::new(driver)));
    }
    let cache = open_local(&local::cache_path(&t.dir), &opts::cache_opts(o), info)
        .map_err(|e| LogError::Init(format!("error setting up local container log cache: {e}")))?;
    Ok(Some(Copier::new(Box::new(WithCache {
        remote: driver,
        cache: Box::new(cache),
    }))))
}

fn open_local(path: &std::path::Path, o: &BTreeMap<String, String>, info: &Info) -> Result<local::Writer, LogError> {
    let cfg = local::Config::from_opts(o)?;
    let tag = match o.get("tag").filter(|t| !t.is_empty()) {
        Some(_) => Some(info.tag(o)?),
        None => None,
    };
    let mut attrs: Vec<(&str, &str)> = info.attrs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    if let Some(t) = tag.as_deref() {
        attrs.push(("tag", t));
        attrs.sort();
    }
    Ok(local::Writer::open(path, cfg, &attrs)?)
}

/// A remote driver with its local cache: the cache gets every line even
/// when the remote end fails it.
struct WithCache {
    remote: Box<dyn Driver>,
    cache: Box<dyn Driver>,
}

impl Driver for WithCache {
    fn log(&mut self, m: &Message) -> io::Result<()> {
        let remote = self.remote.log(m);
        self.cache.log(m)?;
        remote
    }
    fn close(&mut self) -> io::Result<()> {
        let remote = self.remote.close();
        self.cache.close()?;
        remote
    }
}

/// Cuts output into lines for a driver.
pub struct Copier {
    driver: Box<dyn Driver>,
    partial: [Vec<u8>; 2],
}

impl Copier {
    pub fn new(driver: Box<dyn Driver>) -> Self {
        Self {
            driver,
            partial: [Vec::new(), Vec::new()],
        }
    }

    /// Take output of `stream` (1 stdout, 2 stderr); complete lines go to
    /// the driver.
    /// Every complete line goes to the driver even when one fails (a
    /// remote end that refuses a line must not hold the rest back); the
    /// first failure is returned.
    pub fn write(&mut self, stream: u8, data: &[u8]) -> io::Result<()> {
        let idx = usize::from(stream == 2);
        self.partial[idx].extend_from_slice(data);
        let mut first_err = None;
        loop {
            let buf = &self.partial[idx];
            let cut = match buf.iter().position(|&b| b == b'\n') {
                Some(p) if p < MAX_LINE => p + 1,
                _ if buf.len() >= MAX_LINE => MAX_LINE,
                _ => break,
            };
            let line: Vec<u8> = self.partial[idx].drain(..cut).collect();
            if let Err(e) = self.send(stream, &line) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// The streams ended: what is left without a newline goes out, then the
    /// driver closes.
    pub fn close(&mut self) -> io::Result<()> {
        let mut first_err = None;
        for (idx, stream) in [(0usize, 1u8), (1, 2)] {
            if !self.partial[idx].is_empty() {
                let line = std::mem::take(&mut self.partial[idx]);
                if let Err(e) = self.send(stream, &line) {
                    first_err.get_or_insert(e);
                }
            }
        }
        let closed = self.driver.close();
        first_err.map_or(closed, Err)
    }

    fn send(&mut self, stream: u8, line: &[u8]) -> io::Result<()> {
        self.driver.log(&Message {
            stream,
            line,
            time: now(),
        })
    }
}

/// Reports a driver's failures on the monitor's stderr (`shim.log`, on
/// the exec root's tmpfs) at most once a minute, with how many were not
/// reported, so a destination that is down for days cannot fill memory.
#[derive(Default)]
pub struct ErrorReport {
    last: Option<std::time::Instant>,
    quiet: u64,
}

impl ErrorReport {
    pub fn report(&mut self, e: &dyn std::fmt::Display) {
        if self
            .last
            .is_some_and(|t| t.elapsed() < std::time::Duration::from_secs(60))
        {
            self.quiet += 1;
            return;
        }
        let more = match std::mem::take(&mut self.quiet) {
            0 => String::new(),
            n => format!(" ({n} more failures since the last report)"),
        };
        eprintln!("skiff-shim: log driver: {e}{more}");
        self.last = Some(std::time::Instant::now());
    }
}

/// Now, as Docker prints times.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A driver that refuses every other line and keeps the rest.
    struct Flaky(Arc<Mutex<Vec<String>>>, u32);

    impl Driver for Flaky {
        fn log(&mut self, m: &Message) -> io::Result<()> {
            self.1 += 1;
            self.0
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(m.line).into_owned());
            if self.1 % 2 == 1 {
                return Err(io::Error::other("refused"));
            }
            Ok(())
        }
    }

    #[test]
    fn a_failing_line_does_not_hold_the_others_back() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let mut c = Copier::new(Box::new(Flaky(got.clone(), 0)));
        assert!(c.write(1, b"a\nb\nc\nd").is_err());
        assert!(c.close().is_ok());
        assert_eq!(*got.lock().unwrap(), ["a\n", "b\n", "c\n", "d"]);
    }
}
