//! Log drivers, in the container's monitor. The monitor hands every read
//! of the container's output to a `Copier`, which cuts it into lines as
//! Docker's log copier does (at newlines, and at 16 KiB) and gives each
//! line, stamped with the time, to the container's `Driver`. A driver is
//! one file here behind that trait; `open` is the only place that names
//! them.

pub mod jsonfile;

use std::io;

use crate::protocol::LogTarget;

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

/// Where a container's log lines go.
pub trait Driver {
    fn log(&mut self, m: &Message) -> io::Result<()>;
    /// The container is gone: flush and let go.
    fn close(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The driver for a container's log settings.
pub fn open(target: &LogTarget) -> io::Result<Copier> {
    let driver = jsonfile::Writer::open(&target.path, target.rotation.clone())?;
    Ok(Copier::new(Box::new(driver)))
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
    pub fn write(&mut self, stream: u8, data: &[u8]) -> io::Result<()> {
        let idx = usize::from(stream == 2);
        self.partial[idx].extend_from_slice(data);
        loop {
            let buf = &self.partial[idx];
            let cut = match buf.iter().position(|&b| b == b'\n') {
                Some(p) if p < MAX_LINE => p + 1,
                _ if buf.len() >= MAX_LINE => MAX_LINE,
                _ => break,
            };
            let line: Vec<u8> = self.partial[idx].drain(..cut).collect();
            self.send(stream, &line)?;
        }
        Ok(())
    }

    /// The streams ended: what is left without a newline goes out, then the
    /// driver closes.
    pub fn close(&mut self) -> io::Result<()> {
        for (idx, stream) in [(0usize, 1u8), (1, 2)] {
            if !self.partial[idx].is_empty() {
                let line = std::mem::take(&mut self.partial[idx]);
                self.send(stream, &line)?;
            }
        }
        self.driver.close()
    }

    fn send(&mut self, stream: u8, line: &[u8]) -> io::Result<()> {
        self.driver.log(&Message {
            stream,
            line,
            time: now(),
        })
    }
}

/// Now, as Docker prints times.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}
