//! Channel compression: zlib (RFC 1950, level 9) and brotli (a 0x01 version byte, then the stream).
//!
//! [`ChannelCompressor`] is a streaming writer with op-node's `ChannelCompressor` semantics: `len` is
//! the compressed bytes produced and not yet read out into frames, `flush` forces everything written
//! so far into the output (the shadow compressor measures with it), `close` ends the stream. A zlib
//! stream can be [forked](ChannelCompressor::fork) into two that continue independently.
//! [`decompress`] is the reader side, detecting the algorithm from the first byte as op-node does and
//! bounding the output by the channel's RLP-bytes limit.

use libz_rs_sys::{
    z_stream, Z_BUF_ERROR, Z_DEFAULT_STRATEGY, Z_DEFLATED, Z_FINISH, Z_NO_FLUSH, Z_OK, Z_STREAM_END,
    Z_SYNC_FLUSH,
};
use std::{
    ffi::{c_int, c_uint},
    fmt,
    io::Read,
    io::Write,
    ptr,
    str::FromStr,
};
use thiserror::Error;

/// First byte of a brotli channel.
pub const CHANNEL_VERSION_BROTLI: u8 = 0x01;
/// zlib level op-batcher uses (Go's `BestCompression`), also the highest there is.
pub const ZLIB_LEVEL: u8 = 9;
/// zlib's window (log2) and memory level: its defaults, which flate2 used before.
const ZLIB_WINDOW_BITS: c_int = 15;
const ZLIB_MEM_LEVEL: c_int = 8;
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
    /// zlib-rs: about twice miniz_oxide's speed at level 9, and zlib at level 9 is most of a busy
    /// simulated hour's wall time.
    Zlib { stream: Deflate, out: Vec<u8>, closed: bool },
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

    /// A zlib compressor at `level` (0 = stored blocks, for the none compressor; above 9 = 9).
    pub fn zlib(level: u8) -> Self {
        Self {
            engine: Engine::Zlib { stream: Deflate::new(level), out: Vec::new(), closed: false },
            read_bytes: 0,
        }
    }

    /// An independent copy of the stream as it is now (compressor state, output, read position):
    /// both continue exactly as this one would. zlib only: the brotli crate offers no copy of its
    /// encoder state, and replaying the input into a new stream would cost what a copy saves.
    pub fn fork(&mut self) -> Result<Self, CompressionError> {
        match &mut self.engine {
            Engine::Zlib { stream, out, closed } => Ok(Self {
                engine: Engine::Zlib { stream: stream.try_clone()?, out: out.clone(), closed: *closed },
                read_bytes: self.read_bytes,
            }),
            Engine::Brotli { .. } => {
                Err(CompressionError::Internal("a brotli stream cannot be forked".into()))
            }
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

    /// Compressed bytes produced since the stream started, read or not.
    pub fn output_bytes(&self) -> usize {
        self.output().len()
    }

    /// Compresses `data` (the output may lag until a flush or close).
    pub fn write(&mut self, data: &[u8]) -> Result<(), CompressionError> {
        match &mut self.engine {
            Engine::Zlib { closed: true, .. } | Engine::Brotli { writer: None, .. } => {
                Err(CompressionError::Closed)
            }
            Engine::Zlib { stream, out, .. } => deflate(stream, out, data, Z_NO_FLUSH),
            Engine::Brotli { writer: Some(w), .. } => {
                w.write_all(data).map_err(|e| CompressionError::Internal(e.to_string()))
            }
        }
    }

    /// Forces all input so far into the output, keeping the stream open.
    pub fn flush(&mut self) -> Result<(), CompressionError> {
        match &mut self.engine {
            Engine::Zlib { closed: true, .. } | Engine::Brotli { writer: None, .. } => Ok(()),
            Engine::Zlib { stream, out, .. } => deflate(stream, out, &[], Z_SYNC_FLUSH),
            Engine::Brotli { writer: Some(w), .. } => {
                w.flush().map_err(|e| CompressionError::Internal(e.to_string()))
            }
        }
    }

    /// Ends the stream; later writes fail, closing again does nothing.
    pub fn close(&mut self) -> Result<(), CompressionError> {
        match &mut self.engine {
            Engine::Zlib { closed: true, .. } | Engine::Brotli { writer: None, .. } => Ok(()),
            Engine::Zlib { stream, out, closed } => {
                *closed = true;
                deflate(stream, out, &[], Z_FINISH)
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
            Engine::Zlib { stream, out, closed } => {
                stream.reset();
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
    stream: &mut Deflate,
    out: &mut Vec<u8>,
    mut input: &[u8],
    flush: c_int,
) -> Result<(), CompressionError> {
    loop {
        // A flush gets room for everything the compressor buffers, so its marker is written once.
        let room = match flush {
            Z_NO_FLUSH => input.len() + ZLIB_WRITE_SLACK_BYTES,
            _ => input.len() + ZLIB_FLUSH_ROOM_BYTES,
        };
        out.reserve(room);
        let (consumed, produced, code) = stream.deflate(input, out, flush);
        input = &input[consumed..];
        match code {
            Z_STREAM_END => return Ok(()),
            // Input consumed, and output space left over or nothing more produced: all is out.
            Z_OK | Z_BUF_ERROR if input.is_empty() && (out.len() < out.capacity() || produced == 0) => {
                return Ok(())
            }
            Z_BUF_ERROR if consumed == 0 && produced == 0 => {
                return Err(CompressionError::Internal("deflate made no progress".into()))
            }
            Z_OK | Z_BUF_ERROR => {}
            code => return Err(CompressionError::Internal(format!("deflate returned {code}"))),
        }
    }
}

/// A zlib-rs deflate stream driven through its zlib C API (libz-rs-sys), for `deflateCopy`: the
/// safe `zlib_rs::Deflate`, and flate2's `Compress` over it, cannot be copied.
///
/// Invariant: `strm` was initialised by `deflateInit2_` (or `deflateCopy`) and is ended only by
/// `drop`; between calls `next_in`/`next_out` are null, so no pointer outlives a call's buffers.
struct Deflate {
    /// Boxed so the stream zlib initialised never moves.
    strm: Box<z_stream>,
}

// SAFETY: the stream's state is a heap allocation reached only through this value (`&mut self`
// for every call into zlib), and it holds no pointer into other data between calls. zlib-rs
// declares its own stream type `Send` for the same reason.
unsafe impl Send for Deflate {}

impl Deflate {
    fn new(level: u8) -> Self {
        let mut strm = Box::new(z_stream::default());
        // SAFETY: `strm` is a valid z_stream with the allocator `z_stream::default` sets, and the
        // version and size are the library's own.
        let code = unsafe {
            libz_rs_sys::deflateInit2_(
                &mut *strm,
                c_int::from(level.min(ZLIB_LEVEL)),
                Z_DEFLATED,
                ZLIB_WINDOW_BITS,
                ZLIB_MEM_LEVEL,
                Z_DEFAULT_STRATEGY,
                libz_rs_sys::zlibVersion(),
                size_of::<z_stream>() as c_int,
            )
        };
        // The parameters are valid, so only a failed allocation is left: zlib-rs's own
        // constructor (what flate2 called) asserts the same.
        assert_eq!(code, Z_OK, "zlib could not allocate a deflate stream");
        Self { strm }
    }

    /// One `deflate` call from `input` into `out`'s spare capacity; returns the input bytes
    /// consumed, the output bytes produced and zlib's return code.
    fn deflate(&mut self, input: &[u8], out: &mut Vec<u8>, flush: c_int) -> (usize, usize, c_int) {
        let spare = out.spare_capacity_mut();
        let avail_in = c_uint::try_from(input.len()).unwrap_or(c_uint::MAX);
        let avail_out = c_uint::try_from(spare.len()).unwrap_or(c_uint::MAX);
        self.strm.next_in = input.as_ptr();
        self.strm.avail_in = avail_in;
        self.strm.next_out = spare.as_mut_ptr().cast();
        self.strm.avail_out = avail_out;
        // SAFETY: the stream is initialised (type invariant); `next_in`/`avail_in` describe
        // `input` and `next_out`/`avail_out` the spare capacity of `out` (which zlib-rs may
        // write uninitialised), both borrowed for the whole call.
        let code = unsafe { libz_rs_sys::deflate(&mut *self.strm, flush) };
        let consumed = (avail_in - self.strm.avail_in) as usize;
        let produced = (avail_out - self.strm.avail_out) as usize;
        self.strm.next_in = ptr::null();
        self.strm.avail_in = 0;
        self.strm.next_out = ptr::null_mut();
        self.strm.avail_out = 0;
        // SAFETY: zlib wrote the first `produced` bytes of the spare capacity.
        unsafe { out.set_len(out.len() + produced) };
        (consumed, produced, code)
    }

    /// A copy of the stream's whole state (`deflateCopy`).
    fn try_clone(&mut self) -> Result<Self, CompressionError> {
        let mut strm = Box::new(z_stream::default());
        // SAFETY: `strm` is writable z_stream memory holding no allocation (a failed copy leaves
        // it to be dropped as plain memory, never ended), and `self.strm` is initialised.
        let code = unsafe { libz_rs_sys::deflateCopy(&mut *strm, &mut *self.strm) };
        match code {
            Z_OK => Ok(Self { strm }),
            code => Err(CompressionError::Internal(format!("deflateCopy returned {code}"))),
        }
    }

    /// Starts a new stream with the same settings, keeping the allocation.
    fn reset(&mut self) {
        // SAFETY: the stream is initialised. deflateReset fails only for a stream that is not,
        // so its return code carries nothing.
        unsafe { libz_rs_sys::deflateReset(&mut *self.strm) };
    }
}

impl Drop for Deflate {
    fn drop(&mut self) {
        // SAFETY: the stream is initialised and ended only here. Its Z_DATA_ERROR for a stream
        // ended before it finished is no error for a dropped one.
        unsafe { libz_rs_sys::deflateEnd(&mut *self.strm) };
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

    /// A fork and its original continue exactly as a stream that was never forked, whether it
    /// forks before any write, mid-stream after reads and flushes, or once closed; brotli cannot.
    #[test]
    fn forked_zlib_streams_continue_as_the_original() {
        let data: Vec<u8> =
            (0..300_000u32).map(|i| if i % 7 < 3 { 0 } else { (i.wrapping_mul(i) >> 5) as u8 }).collect();
        let chunks: Vec<&[u8]> = data.chunks(37_000).collect();
        for fork_at in [0, 1, 4, chunks.len()] {
            let mut whole = ChannelCompressor::new(CompressionAlgo::Zlib);
            let mut original = ChannelCompressor::new(CompressionAlgo::Zlib);
            let mut fork = None;
            for (i, chunk) in chunks.iter().enumerate() {
                if i == fork_at {
                    fork = Some(original.fork().unwrap());
                }
                let streams = [Some(&mut whole), Some(&mut original), fork.as_mut()];
                for stream in streams.into_iter().flatten() {
                    stream.write(chunk).unwrap();
                    if i % 3 == 2 {
                        stream.flush().unwrap();
                    }
                    stream.read_into(1_000, &mut Vec::new());
                }
                assert_eq!(original.output(), whole.output(), "fork at {fork_at}, chunk {i}");
                if let Some(fork) = &fork {
                    assert_eq!(
                        (fork.output(), fork.len()),
                        (whole.output(), whole.len()),
                        "fork at {fork_at}"
                    );
                }
            }
            whole.close().unwrap();
            original.close().unwrap();
            let mut fork = fork.unwrap_or_else(|| original.fork().unwrap());
            fork.close().unwrap();
            assert_eq!(fork.write(b"x"), Err(CompressionError::Closed));
            for stream in [&original, &fork] {
                assert_eq!(stream.output(), whole.output(), "fork at {fork_at}, closed");
            }
            assert_eq!(decompress(whole.output(), data.len()).unwrap(), data);
        }
        assert!(ChannelCompressor::new(CompressionAlgo::Brotli9).fork().is_err());
    }
}
