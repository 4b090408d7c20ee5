//! A request body read by blocking code (`docker cp` into a container,
//! a build context). The body is forwarded in ~1 MiB pieces to a blocking
//! `Read`; whatever the reader leaves unread is drained before the handler
//! answers. Tar readers stop at the first end-of-archive block, while the
//! client is still sending the rest: answering then would close the
//! connection under it, and the client reports a broken pipe instead of
//! the answer.

use std::io::{self, Read};

use axum::body::{Body, Bytes};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Write `body` to a new file `to` (an upload to spool: an import, a
/// load). A write that fails (a full disk) stops the writing but not the
/// reading: the rest is drained before the error is answered, or the
/// client would see a broken pipe instead of it.
pub async fn spool(body: Body, to: &std::path::Path) -> Result<(), SpoolError> {
    use std::io::Write;
    let mut file = std::fs::File::create(to).map_err(SpoolError::Write)?;
    let mut stream = body.into_data_stream();
    let mut failed = None;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| SpoolError::Read(e.to_string()))?;
        if failed.is_none() {
            failed = file.write_all(&chunk).err();
        }
    }
    match failed {
        Some(e) => Err(SpoolError::Write(e)),
        None => Ok(()),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The client's body broke off.
    #[error("{0}")]
    Read(String),
    #[error("{0}")]
    Write(io::Error),
}

impl From<SpoolError> for skiff_common::http::ApiError {
    fn from(e: SpoolError) -> Self {
        use axum::http::StatusCode;
        match e {
            SpoolError::Read(m) => skiff_common::http::ApiError(StatusCode::BAD_REQUEST, m),
            SpoolError::Write(e) => skiff_common::http::ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        }
    }
}

/// One wake-up of the blocking reader per MiB, not per socket read.
const PIECE: usize = 1 << 20;

/// Start forwarding `body`. The reader goes to a blocking task; await the
/// handle (after that task is done) before answering.
pub fn start(body: Body) -> (BodyReader, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(16);
    let forward = tokio::spawn(async move {
        let mut stream = body.into_data_stream();
        let mut piece = bytes::BytesMut::new();
        let mut reading = true;
        while let Some(chunk) = stream.next().await {
            if !reading {
                continue; // drain: the reader has stopped
            }
            match chunk {
                Ok(c) => {
                    piece.extend_from_slice(&c);
                    if piece.len() >= PIECE && tx.send(Ok(piece.split().freeze())).await.is_err() {
                        reading = false;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(io::Error::other(e))).await;
                    return;
                }
            }
        }
        if reading && !piece.is_empty() {
            let _ = tx.send(Ok(piece.freeze())).await;
        }
    });
    (BodyReader { rx, cur: Bytes::new() }, forward)
}

/// A blocking `Read` over the forwarded pieces.
pub struct BodyReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    cur: Bytes,
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.cur = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur.split_to(n));
        Ok(n)
    }
}
