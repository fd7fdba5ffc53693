//! Channel compression: zlib (RFC 1950, level 9) and brotli (a 0x01 version byte, then the stream).
//!
//! [`ChannelCompressor`] is a streaming writer with op-node's `ChannelCompressor` semantics: `len` is
//! the compressed bytes produced and not yet read out into frames, `flush` forces everything written
//! so far into the output (the shadow compressor measures with it), `close` ends the stream.
//! [`decompress`] is the reader side, detecting the algorithm from the first byte as op-node does and
//! bounding the output by the channel's RLP-bytes limit.

use flate2::{Compress, Compression, FlushCompress, Status};
use std::{fmt, io::Read, io::Write, str::FromStr};
use thiserror::Error;

/// First byte of a brotli channel.
pub const CHANNEL_VERSION_BROTLI: u8 = 0x01;
/// zlib level op-batcher uses (Go's `BestCompression`).
pub const ZLIB_LEVEL: u8 = 9;
/// Brotli window (log2), the Go encoder's default.
const BROTLI_LGWIN: u32 = 22;
const BROTLI_BUFFER_BYTES: usize = 4096;
/// Output space offered to zlib for a flush: more than its internal buffers hold.
const ZLIB_FLUSH_ROOM_BYTES: usize = 128 * 1024;
/// Output space beyond the input offered to zlib for a plain write.
const ZLIB_WRITE_SLACK_BYTES: usize = 4 * 1024;

/// The compression of a channel's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CompressionAlgo {
    #[default]
    Zlib,
    Brotli9,
    Brotli10,
    Brotli11,
}

impl CompressionAlgo {
    /// Every algorithm, in declaration order.
    pub const ALL: [CompressionAlgo; 4] = [Self::Zlib, Self::Brotli9, Self::Brotli10, Self::Brotli11];

    /// The brotli quality, or `None` for zlib.
    pub fn brotli_level(self) -> Option<u32> {
        match self {
            Self::Zlib => None,
            Self::Brotli9 => Some(9),
            Self::Brotli10 => Some(10),
            Self::Brotli11 => Some(11),
        }
    }
}

impl fmt::Display for CompressionAlgo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.brotli_level() {
            None => f.write_str("zlib"),
            Some(level) => write!(f, "brotli-{level}"),
        }
    }
}

/// An unknown compression algorithm name.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown compression algorithm {0:?} (zlib, brotli, brotli-9, brotli-10, brotli-11)")]
pub struct UnknownAlgo(pub String);

impl FromStr for CompressionAlgo {
    type Err = UnknownAlgo;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "zlib" => Ok(Self::Zlib),
            "brotli-9" => Ok(Self::Brotli9),
            // op-batcher's "brotli" is level 10.
            "brotli" | "brotli-10" => Ok(Self::Brotli10),
            "brotli-11" => Ok(Self::Brotli11),
            other => Err(UnknownAlgo(other.to_string())),
        }
    }
}

/// Why compression or decompression failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CompressionError {
    #[error("empty compressed data")]
    Empty,
    #[error("unknown compression type byte {0:#04x}")]
    UnknownType(u8),
    #[error("corrupt or truncated {0} stream")]
    Corrupt(&'static str),
    #[error("decompressed data exceeds {max_bytes} bytes")]
    TooLarge { max_bytes: usize },
    #[error("compressor is closed")]
    Closed,
    #[error("compressor failed: {0}")]
    Internal(String),
}

enum Engine {
    /// zlib-rs (through flate2): about twice miniz_oxide's speed at level 9, and zlib at level 9
    /// is most of a busy simulated hour's wall time.
    Zlib { state: Box<Compress>, out: Vec<u8>, closed: bool },
    /// The writer's sink starts with the version byte, as op-node's buffer does.
    Brotli { level: u32, writer: Option<Box<brotli::CompressorWriter<Vec<u8>>>>, finished: Vec<u8> },
}

/// A streaming channel compressor over zlib or brotli.
pub struct ChannelCompressor {
    engine: Engine,
    /// Output bytes already handed out by [`ChannelCompressor::read`].
    read_bytes: usize,
}

impl fmt::Debug for ChannelCompressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelCompressor").field("len", &self.len()).finish_non_exhaustive()
    }
}

impl ChannelCompressor {
    /// A compressor for `algo` (zlib at level 9).
    pub fn new(algo: CompressionAlgo) -> Self {
        match algo.brotli_level() {
            None => Self::zlib(ZLIB_LEVEL),
            Some(level) => Self {
                engine: Engine::Brotli { level, writer: Some(new_brotli(level)), finished: Vec::new() },
                read_bytes: 0,
            },
        }
    }

    /// A zlib compressor at `level` (0 = stored blocks, for the none compressor).
    pub fn zlib(level: u8) -> Self {
        Self {
            engine: Engine::Zlib {
                state: Box::new(Compress::new(Compression::new(u32::from(level)), true)),
                out: Vec::new(),
                closed: false,
            },
            read_bytes: 0,
        }
    }

    /// Bytes of the output that are fixed regardless of input: brotli's version byte.
    pub fn static_bytes_len(&self) -> usize {
        match self.engine {
            Engine::Zlib { .. } => 0,
            Engine::Brotli { .. } => 1,
        }
    }

    fn output(&self) -> &[u8] {
        match &self.engine {
            Engine::Zlib { out, .. } => out,
            Engine::Brotli { writer: Some(w), .. } => w.get_ref(),
            Engine::Brotli { writer: None, finished, .. } => finished,
        }
    }

    /// Compressed bytes produced and not yet read.
    pub fn len(&self) -> usize {
        self.output().len() - self.read_bytes
    }

    /// Whether no compressed bytes are waiting to be read.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Compresses `data` (the output may lag until a flush or close).
    pub fn write(&mut self, data: &[u8]) -> Result<(), CompressionError> {
        match &mut self.engine {
            Engine::Zlib { closed: true, .. } | Engine::Brotli { writer: None, .. } => {
                Err(CompressionError::Closed)
            }
            Engine::Zlib { state, out, .. } => deflate(state, out, data, FlushCompress::None),
            Engine::Brotli { writer: Some(w), .. } => {
                w.write_all(data).map_err(|e| CompressionError::Internal(e.to_string()))
            }
        }
    }

    /// Forces all input so far into the output, keeping the stream open.
    pub fn flush(&mut self) -> Result<(), CompressionError> {
        match &mut self.engine {
            Engine::Zlib { closed: true, .. } | Engine::Brotli { writer: None, .. } => Ok(()),
            Engine::Zlib { state, out, .. } => deflate(state, out, &[], FlushCompress::Sync),
            Engine::Brotli { writer: Some(w), .. } => {
                w.flush().map_err(|e| CompressionError::Internal(e.to_string()))
            }
        }
    }

    /// Ends the stream; later writes fail, closing again does nothing.
    pub fn close(&mut self) -> Result<(), CompressionError> {
        match &mut self.engine {
            Engine::Zlib { closed: true, .. } | Engine::Brotli { writer: None, .. } => Ok(()),
            Engine::Zlib { state, out, closed } => {
                *closed = true;
                deflate(state, out, &[], FlushCompress::Finish)
            }
            Engine::Brotli { writer, finished, .. } => {
                if let Some(w) = writer.take() {
                    *finished = w.into_inner();
                }
                Ok(())
            }
        }
    }

    /// Starts a new, empty stream.
    pub fn reset(&mut self) {
        self.read_bytes = 0;
        match &mut self.engine {
            Engine::Zlib { state, out, closed } => {
                state.reset();
                out.clear();
                *closed = false;
            }
            Engine::Brotli { level, writer, finished } => {
                *writer = Some(new_brotli(*level));
                finished.clear();
            }
        }
    }

    /// Reads up to `max_bytes` of the unread output, appending them to `dst`; returns the count.
    pub fn read_into(&mut self, max_bytes: usize, dst: &mut Vec<u8>) -> usize {
        let start = self.read_bytes;
        let n = max_bytes.min(self.len());
        dst.extend_from_slice(&self.output()[start..start + n]);
        self.read_bytes += n;
        n
    }
}

fn new_brotli(level: u32) -> Box<brotli::CompressorWriter<Vec<u8>>> {
    Box::new(brotli::CompressorWriter::new(
        vec![CHANNEL_VERSION_BROTLI],
        BROTLI_BUFFER_BYTES,
        level,
        BROTLI_LGWIN,
    ))
}

/// Runs zlib until `input` is consumed and, for a flush, all pending output is out.
fn deflate(
    state: &mut Compress,
    out: &mut Vec<u8>,
    mut input: &[u8],
    flush: FlushCompress,
) -> Result<(), CompressionError> {
    loop {
        // A flush gets room for everything the compressor buffers, so its marker is written once.
        let room = match flush {
            FlushCompress::None => input.len() + ZLIB_WRITE_SLACK_BYTES,
            _ => input.len() + ZLIB_FLUSH_ROOM_BYTES,
        };
        out.reserve(room);
        let (before_in, before_out) = (state.total_in(), out.len());
        let status = state
            .compress_vec(input, out, flush)
            .map_err(|e| CompressionError::Internal(format!("deflate: {e}")))?;
        let consumed = usize::try_from(state.total_in() - before_in).expect("bounded by the input");
        let produced = out.len() - before_out;
        input = &input[consumed..];
        match status {
            Status::StreamEnd => return Ok(()),
            // Input consumed, and output space left over or nothing more produced: all is out.
            _ if input.is_empty() && (out.len() < out.capacity() || produced == 0) => return Ok(()),
            Status::BufError if consumed == 0 && produced == 0 => {
                return Err(CompressionError::Internal("deflate made no progress".into()))
            }
            Status::Ok | Status::BufError => {}
        }
    }
}

/// zlib's compression-method nibble values op-node accepts as "this is zlib".
const ZLIB_DEFLATE_METHOD: u8 = 8;
const ZLIB_RESERVED_METHOD: u8 = 15;

/// Decompresses a channel, detecting zlib or brotli from the first byte; at most `max_out` bytes.
pub fn decompress(data: &[u8], max_out: usize) -> Result<Vec<u8>, CompressionError> {
    let &first = data.first().ok_or(CompressionError::Empty)?;
    if matches!(first & 0x0F, ZLIB_DEFLATE_METHOD | ZLIB_RESERVED_METHOD) {
        use miniz_oxide::inflate::{decompress_to_vec_zlib_with_limit, TINFLStatus};
        return decompress_to_vec_zlib_with_limit(data, max_out).map_err(|e| match e.status {
            TINFLStatus::HasMoreOutput => CompressionError::TooLarge { max_bytes: max_out },
            _ => CompressionError::Corrupt("zlib"),
        });
    }
    if first != CHANNEL_VERSION_BROTLI {
        return Err(CompressionError::UnknownType(first));
    }
    let mut out = Vec::new();
    let limit = u64::try_from(max_out).unwrap_or(u64::MAX).saturating_add(1);
    brotli::Decompressor::new(&data[1..], BROTLI_BUFFER_BYTES)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|_| CompressionError::Corrupt("brotli"))?;
    if out.len() > max_out {
        return Err(CompressionError::TooLarge { max_bytes: max_out });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for algo in CompressionAlgo::ALL {
            assert_eq!(algo.to_string().parse::<CompressionAlgo>(), Ok(algo));
        }
        assert_eq!("brotli".parse(), Ok(CompressionAlgo::Brotli10));
        assert!("gzip".parse::<CompressionAlgo>().is_err());
    }

    #[test]
    fn streams_round_trip_across_flushes_and_resets() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8 ^ (i / 7000) as u8).collect();
        for algo in CompressionAlgo::ALL {
            let mut c = ChannelCompressor::new(algo);
            c.write(b"discarded").unwrap();
            c.reset();
            for chunk in data.chunks(30_000) {
                c.write(chunk).unwrap();
                c.flush().unwrap();
            }
            c.close().unwrap();
            assert_eq!(c.write(b"x"), Err(CompressionError::Closed));
            let mut out = Vec::new();
            c.read_into(usize::MAX, &mut out);
            assert_eq!(decompress(&out, data.len()).unwrap(), data, "{algo}");
            assert_eq!(
                decompress(&out, data.len() - 1),
                Err(CompressionError::TooLarge { max_bytes: data.len() - 1 })
            );
            assert!(
                decompress(&out[..out.len() / 2], data.len()).is_err(),
                "{algo}: truncated stream accepted"
            );
        }
    }
}
