//! Gzip for pushed layers: one deflate stream whose level follows the
//! data. Each 256 KiB chunk is sampled; a chunk that looks random
//! (already compressed: media, archives, encrypted data) is stored, the
//! rest gets level 2. On random data even level 1 costs 9x the time of
//! storing and makes it 5% larger; on an executable level 2 is 16% smaller
//! than level 1 for 1.8x its time (zlib-rs; ARCHITECTURE.md, Choices).
//!
//! Two raw deflate compressors (flate2 over zlib-rs), one storing and one
//! compressing, take turns: each ends its turn with a full flush, so its
//! output is byte-aligned and never refers back past it, and their outputs
//! joined are one valid stream. flate2's `set_level` cannot do this: with
//! zlib-rs it fails once data has passed. The RFC 1952 header and trailer
//! (18 bytes) are written here.

use std::io::{self, Write};

use flate2::{Compress, Compression, FlushCompress, Status};

/// Bytes judged at once; a switch costs one flushed block.
const CHUNK: usize = 256 * 1024;
/// Bytes sampled per chunk, in four slices spread over it.
const SAMPLE: usize = 64 * 1024;
/// Order-0 entropy (bits per byte) above which a chunk is stored:
/// random data samples at about 7.997 here, text and executables at 5-6.5,
/// JPEG and gzip at 7.95 or more, where deflate gains at most a few percent.
const RANDOM_BITS: f64 = 7.95;
/// Gzip member header: deflate, no name or time, OS unknown.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// A gzip writer with a per-chunk level; `finish` ends the stream and
/// returns the inner writer.
pub struct AdaptiveGzip<W: Write> {
    inner: W,
    /// The compressing (level 2) and the storing compressor.
    fast: Compress,
    store: Compress,
    storing: bool,
    crc: crc32fast::Hasher,
    size: u64,
    pending: Vec<u8>,
    out: Vec<u8>,
}

impl<W: Write> AdaptiveGzip<W> {
    pub fn new(mut inner: W) -> io::Result<Self> {
        inner.write_all(&HEADER)?;
        Ok(AdaptiveGzip {
            inner,
            fast: Compress::new(Compression::new(2), false),
            store: Compress::new(Compression::none(), false),
            storing: false,
            crc: crc32fast::Hasher::new(),
            size: 0,
            pending: Vec::with_capacity(CHUNK),
            out: Vec::with_capacity(CHUNK + CHUNK / 8),
        })
    }

    /// Compress the pending chunk with the compressor its sample calls for.
    fn chunk(&mut self) -> io::Result<()> {
        let storing = looks_random(&self.pending);
        if storing != self.storing {
            self.run(&[], FlushCompress::Full)?;
            self.storing = storing;
        }
        let data = std::mem::take(&mut self.pending);
        self.crc.update(&data);
        self.size += data.len() as u64;
        self.run(&data, FlushCompress::None)?;
        self.pending = data;
        self.pending.clear();
        Ok(())
    }

    /// Feed `input` (all of it) with `flush` to the current compressor,
    /// writing what comes out.
    fn run(&mut self, mut input: &[u8], flush: FlushCompress) -> io::Result<()> {
        let finishing = matches!(flush, FlushCompress::Finish);
        let z = if self.storing { &mut self.store } else { &mut self.fast };
        loop {
            self.out.clear();
            let before = z.total_in();
            let status = z.compress_vec(input, &mut self.out, flush).map_err(io::Error::other)?;
            let used = (z.total_in() - before) as usize;
            input = &input[used..];
            self.inner.write_all(&self.out)?;
            let full = self.out.len() == self.out.capacity();
            if status == Status::StreamEnd || (input.is_empty() && !full && !finishing) {
                return Ok(());
            }
            if used == 0 && self.out.is_empty() {
                return Err(io::Error::other("gzip: the compressor made no progress"));
            }
        }
    }

    /// End the stream: the last chunk, the final block, the trailer.
    pub fn finish(mut self) -> io::Result<W> {
        if !self.pending.is_empty() {
            self.chunk()?;
        }
        self.run(&[], FlushCompress::Finish)?;
        let crc = self.crc.clone().finalize();
        self.inner.write_all(&crc.to_le_bytes())?;
        self.inner.write_all(&(self.size as u32).to_le_bytes())?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for AdaptiveGzip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(CHUNK - self.pending.len());
        self.pending.extend_from_slice(&buf[..n]);
        if self.pending.len() == CHUNK {
            self.chunk()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Whether `chunk`'s bytes are spread so evenly that deflate can gain
/// next to nothing: the order-0 entropy of four slices spread over it.
fn looks_random(chunk: &[u8]) -> bool {
    let mut counts = [0u32; 256];
    let slice = SAMPLE / 4;
    let mut n = 0usize;
    if chunk.len() <= SAMPLE {
        chunk.iter().for_each(|&b| counts[b as usize] += 1);
        n = chunk.len();
    } else {
        let step = (chunk.len() - slice) / 3;
        for i in 0..4 {
            let s = &chunk[i * step..i * step + slice];
            s.iter().for_each(|&b| counts[b as usize] += 1);
            n += s.len();
        }
    }
    if n < 4096 {
        return false;
    }
    let total = n as f64;
    let bits: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / total;
            -p * p.log2()
        })
        .sum();
    bits > RANDOM_BITS
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn random(n: usize) -> Vec<u8> {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    fn text(n: usize) -> Vec<u8> {
        (0..).flat_map(|i: u32| format!("{i}\n").into_bytes()).take(n).collect()
    }

    fn gzip(data: &[u8], write: usize) -> Vec<u8> {
        let mut gz = AdaptiveGzip::new(Vec::new()).unwrap();
        for part in data.chunks(write) {
            gz.write_all(part).unwrap();
        }
        gz.finish().unwrap()
    }

    fn gunzip(gz: &[u8]) -> Vec<u8> {
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(gz).read_to_end(&mut back).unwrap();
        back
    }

    #[test]
    fn random_is_stored_and_text_is_compressed() {
        let r = random(3 * CHUNK + 17);
        let gz = gzip(&r, 100_000);
        assert_eq!(gunzip(&gz), r);
        assert!(gz.len() < r.len() + r.len() / 500, "stored, not expanded: {}", gz.len());
        let t = text(2 * CHUNK);
        let gz = gzip(&t, 4096);
        assert_eq!(gunzip(&gz), t);
        assert!(gz.len() < t.len() / 2, "compressed: {}", gz.len());
    }

    #[test]
    fn mixed_chunks_switch_levels_in_one_stream() {
        let mut data = text(CHUNK + 1000);
        data.extend(random(2 * CHUNK));
        data.extend(text(CHUNK / 2));
        data.extend(random(CHUNK));
        data.extend(text(10));
        for write in [1 << 20, 8191, 3] {
            assert_eq!(gunzip(&gzip(&data, write)), data);
        }
        assert_eq!(gunzip(&gzip(&[], 1)), Vec::<u8>::new());
    }

    #[test]
    fn small_and_skewed_chunks_are_not_judged_random() {
        assert!(!looks_random(&random(1000)));
        assert!(!looks_random(&text(CHUNK)));
        assert!(looks_random(&random(CHUNK)));
        let base64ish: Vec<u8> = random(CHUNK).iter().map(|b| b'A' + b % 64).collect();
        assert!(!looks_random(&base64ish));
    }
}
