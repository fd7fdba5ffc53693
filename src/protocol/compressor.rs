//! op-batcher's compressors: a compression stream plus the rule that says when a channel is full.
//!
//! A channel should fill its target output size (frames x frame data) as closely as possible without
//! exceeding it, but the compressed size of a stream is only known after a flush, and flushing the
//! real stream costs ratio. So:
//! - [`ShadowCompressor`] (the default) writes everything into the real stream and into a shadow
//!   stream it flushes to measure once a cheap upper bound passes the target. A write is rejected
//!   when the measured size would pass the target, except the channel's first write, which is
//!   always accepted (upstream bug 18485: counting brotli's version byte as content made a large first
//!   block never fit, and the batcher looped on empty channels). Until either stream is first
//!   flushed the two are equal, so zlib compresses once and forks the shadow off there.
//! - [`RatioCompressor`] assumes a fixed compression ratio and is full once its input reaches
//!   `target / ratio`.
//! - [`NonCompressor`] (tests) stores data uncompressed in a zlib stream and is full past the target.

use super::compression::{ChannelCompressor, CompressionAlgo, CompressionError};
use std::{fmt, str::FromStr};
use thiserror::Error;

/// Initial upper bound on the shadow stream's size, in bytes: zlib's worst case for empty input.
const SAFE_COMPRESSION_OVERHEAD_BYTES: usize = 51;
/// Bytes closing a zlib stream can add after a flush.
const CLOSE_OVERHEAD_ZLIB_BYTES: usize = 9;

/// Which compressor decides fullness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CompressorKind {
    #[default]
    Shadow,
    Ratio,
    None,
}

impl CompressorKind {
    /// Every kind.
    pub const ALL: [CompressorKind; 3] = [Self::Shadow, Self::Ratio, Self::None];
}

impl fmt::Display for CompressorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Shadow => "shadow",
            Self::Ratio => "ratio",
            Self::None => "none",
        })
    }
}

/// An unknown compressor kind name.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown compressor kind {0:?} (shadow, ratio, none)")]
pub struct UnknownKind(pub String);

impl FromStr for CompressorKind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "shadow" => Ok(Self::Shadow),
            "ratio" => Ok(Self::Ratio),
            "none" => Ok(Self::None),
            other => Err(UnknownKind(other.to_string())),
        }
    }
}

/// Why a write was not taken.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CompressorError {
    /// The compressor is full; the data was not written.
    #[error("compressor is full")]
    Full,
    #[error(transparent)]
    Compression(#[from] CompressionError),
}

/// Compressor settings: op-batcher's `compressor.Config`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompressorConfig {
    pub target_output_bytes: usize,
    pub approx_compr_ratio: f64,
    pub kind: CompressorKind,
    pub algo: CompressionAlgo,
}

/// One of the three compressors.
#[derive(Debug)]
pub enum Compressor {
    Shadow(ShadowCompressor),
    Ratio(RatioCompressor),
    None(NonCompressor),
}

impl Compressor {
    /// The compressor `cfg.kind` names.
    pub fn new(cfg: &CompressorConfig) -> Self {
        match cfg.kind {
            CompressorKind::Shadow => Self::Shadow(ShadowCompressor::new(cfg.target_output_bytes, cfg.algo)),
            CompressorKind::Ratio => {
                Self::Ratio(RatioCompressor::new(cfg.target_output_bytes, cfg.approx_compr_ratio, cfg.algo))
            }
            CompressorKind::None => Self::None(NonCompressor::new(cfg.target_output_bytes)),
        }
    }

    fn stream(&self) -> &ChannelCompressor {
        match self {
            Self::Shadow(c) => &c.real,
            Self::Ratio(c) => &c.stream,
            Self::None(c) => &c.stream,
        }
    }

    fn stream_mut(&mut self) -> &mut ChannelCompressor {
        match self {
            Self::Shadow(c) => &mut c.real,
            Self::Ratio(c) => &mut c.stream,
            Self::None(c) => &mut c.stream,
        }
    }

    /// Writes `data` unless the compressor is (or would become) full.
    pub fn write(&mut self, data: &[u8]) -> Result<(), CompressorError> {
        match self {
            Self::Shadow(c) => c.write(data),
            Self::Ratio(c) => c.write(data),
            Self::None(c) => c.write(data),
        }
    }

    /// Whether the compressor takes no more data.
    pub fn is_full(&self) -> bool {
        match self {
            Self::Shadow(c) => c.full,
            Self::Ratio(c) => c.input_bytes >= c.input_threshold_bytes(),
            Self::None(c) => c.full,
        }
    }

    /// Compressed bytes ready to be read into frames.
    pub fn len(&self) -> usize {
        self.stream().len()
    }

    /// Whether no compressed bytes are ready.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Flushes the real stream so frames can be cut from everything written.
    pub fn flush(&mut self) -> Result<(), CompressionError> {
        match self {
            Self::Shadow(c) => c.flush(),
            Self::Ratio(c) => c.stream.flush(),
            Self::None(c) => c.stream.flush(),
        }
    }

    /// Ends the real stream.
    pub fn close(&mut self) -> Result<(), CompressionError> {
        self.stream_mut().close()
    }

    /// Reads up to `max_bytes` compressed bytes into `dst`.
    pub fn read_into(&mut self, max_bytes: usize, dst: &mut Vec<u8>) -> usize {
        self.stream_mut().read_into(max_bytes, dst)
    }

    /// Empties the compressor for a new channel.
    pub fn reset(&mut self) {
        match self {
            Self::Shadow(c) => c.reset(),
            Self::Ratio(c) => {
                c.stream.reset();
                c.input_bytes = 0;
            }
            Self::None(c) => {
                c.stream.reset();
                c.full = false;
            }
        }
    }
}

/// Compresses into a real and a shadow stream; full when the flushed shadow passes the target.
#[derive(Debug)]
pub struct ShadowCompressor {
    target_output_bytes: usize,
    algo: CompressionAlgo,
    real: ChannelCompressor,
    /// The shadow stream, or `None` while the real stream stands in for it: until either is flushed
    /// both have had the same input with the same settings, so their states and outputs are equal.
    /// zlib forks the shadow off at the first flush; brotli has its own from the start, its encoder
    /// state having no copy.
    shadow: Option<ChannelCompressor>,
    full: bool,
    /// Best known upper bound on the real stream's size once closed.
    bound_bytes: usize,
    /// Input bytes accepted into the real stream.
    input_bytes: usize,
}

impl ShadowCompressor {
    pub fn new(target_output_bytes: usize, algo: CompressionAlgo) -> Self {
        Self {
            target_output_bytes,
            algo,
            real: ChannelCompressor::new(algo),
            shadow: new_shadow(algo),
            full: false,
            bound_bytes: SAFE_COMPRESSION_OVERHEAD_BYTES,
            input_bytes: 0,
        }
    }

    fn write(&mut self, data: &[u8]) -> Result<(), CompressorError> {
        if self.full {
            return Err(CompressorError::Full);
        }
        let mut bound = self.bound_bytes + data.len();
        if bound > self.target_output_bytes {
            // The measuring flush parts the streams: fork before the write, which the real stream
            // takes only if it is accepted.
            let shadow = self.own_shadow()?;
            shadow.write(data)?;
            shadow.flush()?;
            // All the shadow's output counts: frames read from the real stream do not shrink it.
            bound = shadow.output_bytes() + CLOSE_OVERHEAD_ZLIB_BYTES;
            if bound > self.target_output_bytes {
                self.full = true;
                // Upstream keeps the first write by comparing the real stream's length with its
                // static header bytes; that depends on when the encoder emits output, so count input.
                if self.input_bytes > 0 {
                    return Err(CompressorError::Full);
                }
                // Upstream's check before the fix: any stream bytes count as content, so brotli's
                // version byte makes a first write that does not fit rejected too.
                #[cfg(feature = "planted-bugs")]
                if crate::planted::active("brotli-empty-batch-loop") && !self.real.is_empty() {
                    return Err(CompressorError::Full);
                }
            }
        } else if let Some(shadow) = &mut self.shadow {
            shadow.write(data)?;
        }
        self.bound_bytes = bound;
        self.input_bytes += data.len();
        Ok(self.real.write(data)?)
    }

    /// The shadow stream, forked from the real one if it still stands in for it.
    fn own_shadow(&mut self) -> Result<&mut ChannelCompressor, CompressionError> {
        let shadow = match self.shadow.take() {
            Some(shadow) => shadow,
            None => self.real.fork()?,
        };
        Ok(self.shadow.insert(shadow))
    }

    /// Flushes the real stream; the shadow, not flushed upstream, forks off first.
    fn flush(&mut self) -> Result<(), CompressionError> {
        self.own_shadow()?;
        self.real.flush()
    }

    fn reset(&mut self) {
        self.real.reset();
        self.shadow = new_shadow(self.algo);
        self.full = false;
        self.bound_bytes = SAFE_COMPRESSION_OVERHEAD_BYTES;
        self.input_bytes = 0;
    }
}

/// A channel's first shadow: none for zlib (it forks off the real stream when they part), its own
/// stream for brotli.
fn new_shadow(algo: CompressionAlgo) -> Option<ChannelCompressor> {
    (algo != CompressionAlgo::Zlib).then(|| ChannelCompressor::new(algo))
}

/// Full once the input reaches `target / approx_compr_ratio`.
#[derive(Debug)]
pub struct RatioCompressor {
    target_output_bytes: usize,
    approx_compr_ratio: f64,
    stream: ChannelCompressor,
    input_bytes: usize,
}

impl RatioCompressor {
    pub fn new(target_output_bytes: usize, approx_compr_ratio: f64, algo: CompressionAlgo) -> Self {
        Self { target_output_bytes, approx_compr_ratio, stream: ChannelCompressor::new(algo), input_bytes: 0 }
    }

    /// Input bytes after which the compressor is full.
    pub fn input_threshold_bytes(&self) -> usize {
        // Truncation as upstream's uint64(float64(target) / ratio).
        (self.target_output_bytes as f64 / self.approx_compr_ratio) as usize
    }

    fn write(&mut self, data: &[u8]) -> Result<(), CompressorError> {
        if self.input_bytes >= self.input_threshold_bytes() {
            return Err(CompressorError::Full);
        }
        self.input_bytes += data.len();
        Ok(self.stream.write(data)?)
    }
}

/// A zlib stream of stored blocks; full once its output passes the target.
#[derive(Debug)]
pub struct NonCompressor {
    target_output_bytes: usize,
    stream: ChannelCompressor,
    full: bool,
}

impl NonCompressor {
    pub fn new(target_output_bytes: usize) -> Self {
        Self { target_output_bytes, stream: ChannelCompressor::zlib(0), full: false }
    }

    fn write(&mut self, data: &[u8]) -> Result<(), CompressorError> {
        // Flushing before each write keeps `len` exact up to the previous write, as upstream.
        self.stream.flush()?;
        self.stream.write(data)?;
        if self.stream.len() > self.target_output_bytes {
            self.full = true;
        }
        Ok(())
    }
}
