//! Docker's `mode=non-blocking`: lines go into a buffer of at most
//! `max-buffer-size` bytes (1m by default) that a thread of the monitor
//! drains into the driver, so a slow or absent destination never holds
//! up the container's output; when the buffer is full, lines are dropped
//! (counted, and reported on the monitor's stderr at close).

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

use super::{Driver, Message};

pub const DEFAULT_MAX: usize = 1 << 20;

/// How long the close waits for the buffer to drain (Docker's ring logger
/// drains on close too); after that the monitor exits and the rest is lost.
pub const DRAIN: Duration = Duration::from_secs(5);

struct Owned {
    stream: u8,
    line: Vec<u8>,
    time: String,
}

pub struct NonBlocking {
    tx: Option<Sender<Owned>>,
    done: Receiver<()>,
    queued: Arc<AtomicUsize>,
    max: usize,
    dropped: u64,
    drain: Duration,
}

impl NonBlocking {
    /// `drain`: how long `close` waits for what is buffered to go out.
    pub fn new(mut inner: Box<dyn Driver>, max: usize, drain: Duration) -> io::Result<Self> {
        // Bounded by bytes (`queued`), not by a channel capacity: a bounded
        // std channel allocates all its slots up front (megabytes).
        let (tx, rx) = mpsc::channel::<Owned>();
        let (done_tx, done) = mpsc::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let q = queued.clone();
        // A small stack: the drivers keep their buffers on the heap.
        let thread = std::thread::Builder::new()
            .name("log-writer".into())
            .stack_size(256 << 10);
        thread.spawn(move || {
            let mut errors = super::ErrorReport::default();
            for m in rx {
                q.fetch_sub(m.line.len(), Ordering::Relaxed);
                let msg = Message {
                    stream: m.stream,
                    line: &m.line,
                    time: m.time,
                };
                if let Err(e) = inner.log(&msg) {
                    errors.report(&e);
                }
            }
            let _ = inner.close();
            let _ = done_tx.send(());
        })?;
        Ok(Self {
            tx: Some(tx),
            done,
            queued,
            max: max.max(1),
            dropped: 0,
            drain,
        })
    }
}

impl Driver for NonBlocking {
    fn log(&mut self, m: &Message) -> io::Result<()> {
        let n = m.line.len();
        let Some(tx) = &self.tx else { return Ok(()) };
        if self.queued.load(Ordering::Relaxed) + n > self.max {
            self.dropped += 1;
            return Ok(());
        }
        self.queued.fetch_add(n, Ordering::Relaxed);
        let owned = Owned {
            stream: m.stream,
            line: m.line.to_vec(),
            time: m.time.clone(),
        };
        if tx.send(owned).is_err() {
            self.queued.fetch_sub(n, Ordering::Relaxed);
            self.dropped += 1;
        }
        Ok(())
    }

    fn close(&mut self) -> io::Result<()> {
        self.tx = None;
        let _ = self.done.recv_timeout(self.drain);
        if self.dropped > 0 {
            eprintln!(
                "skiff-shim: log driver: {} lines dropped (non-blocking mode, buffer full)",
                self.dropped
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Instant;

    /// A driver as slow as a far-away server.
    struct Slow(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Driver for Slow {
        fn log(&mut self, m: &Message) -> io::Result<()> {
            std::thread::sleep(Duration::from_millis(20));
            self.0.lock().unwrap().push(m.line.to_vec());
            Ok(())
        }
    }

    #[test]
    fn never_waits_and_drops_when_full() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let mut nb = NonBlocking::new(Box::new(Slow(got.clone())), 100, DRAIN).unwrap();
        let t0 = Instant::now();
        for i in 0..50 {
            nb.log(&Message {
                stream: 1,
                line: format!("line {i:02}\n").as_bytes(),
                time: crate::log::now(),
            })
            .unwrap();
        }
        assert!(t0.elapsed() < Duration::from_millis(200), "{:?}", t0.elapsed());
        nb.close().unwrap();
        let got = got.lock().unwrap();
        assert!(got.len() < 50 && !got.is_empty(), "{}", got.len());
        assert_eq!(got[0], b"line 00\n");
        assert!(nb.dropped > 0);
    }
}
