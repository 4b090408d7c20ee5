//! A blocking writer whose bytes become an async stream of chunks: what
//! `save`, `export` and `cp` write becomes the response body, what `push`
//! gzips becomes the upload's body. The reader going away reads as a
//! broken pipe. Nothing is sent on drop: the writer's user flushes it.

use std::io::{self, Write};

use bytes::Bytes;
use tokio::sync::mpsc;

/// Bytes handed on at once.
const CHUNK: usize = 256 * 1024;

pub type Chunks = mpsc::Receiver<io::Result<Bytes>>;

/// Writes into a bounded channel; `flush` sends what is buffered.
pub struct ChunkWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChunkWriter {
    /// A writer and the receiving end, `depth` chunks apart at most.
    pub fn channel(depth: usize) -> (ChunkWriter, Chunks) {
        let (tx, rx) = mpsc::channel(depth);
        let w = ChunkWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        };
        (w, rx)
    }

    /// A second sender into the same stream, for ending it with an error
    /// after the writer is gone.
    pub fn sender(&self) -> mpsc::Sender<io::Result<Bytes>> {
        self.tx.clone()
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the reader went away"))
    }
}
