//! The channel encoder: blocks in, frames out.
//!
//! A port of op-node's `SingularChannelOut` and `SpanChannelOut` with op-batcher's fullness rules
//! (kona's `ChannelOut` is not usable for batching). The singular channel streams each block's batch
//! into a [`Compressor`], which decides when it is full. The span channel keeps one growing span
//! batch, so it cannot stream: it re-encodes and recompresses the whole channel whenever the new
//! data could reach the target, and if the result passes the target it reverts the last block by
//! recompressing the previous encoding (double-buffered), unless that block is the channel's first.
//! Channel ids come from the caller's seeded RNG.

use super::{
    batch::{encode_channel_entry, singular_channel_entry, BatchError, BatchType, L1Info, SingularBatch},
    compression::{ChannelCompressor, CompressionAlgo, CompressionError},
    compressor::{Compressor, CompressorConfig, CompressorError, CompressorKind},
    frame::{ChannelId, Frame, FRAME_OVERHEAD},
    span_batch::{SpanBatchBuilder, SpanBatchError},
};
use op_alloy_consensus::OpBlock;
use rand::RngCore;
use thiserror::Error;

/// The derivation's limit on a channel's decompressed size from Fjord.
pub const FJORD_MAX_RLP_BYTES_PER_CHANNEL: usize = 100_000_000;

/// Channel encoder settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChannelOutConfig {
    /// Largest frame (with its 23-byte overhead) the channel is cut into.
    pub max_frame_size: usize,
    /// Frames a full channel should fill: its target output is this times the frame data size.
    pub target_num_frames: usize,
    pub compressor: CompressorKind,
    pub algo: CompressionAlgo,
    /// Assumed output/input ratio of the ratio compressor.
    pub approx_compr_ratio: f64,
    pub batch_type: BatchType,
    /// Blocks per span batch before a new one starts in the same channel (0 = no limit).
    pub max_blocks_per_span_batch: usize,
    /// Limit on the channel's uncompressed batch bytes (the derivation rejects larger channels).
    pub max_rlp_bytes_per_channel: usize,
    pub chain_id: u64,
    pub genesis_timestamp: u64,
}

/// An invalid [`ChannelOutConfig`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("max frame size {0} leaves no room for data after the {FRAME_OVERHEAD}-byte overhead")]
    FrameTooSmall(usize),
    #[error("target number of frames must be at least 1")]
    NoFrames,
    #[error("approximate compression ratio must be positive and finite")]
    BadRatio,
    #[error("max RLP bytes per channel must be positive")]
    NoRlpBytes,
}

impl ChannelOutConfig {
    /// Compressed bytes a full channel aims for: `target_num_frames * (max_frame_size - 23)`.
    pub fn target_output_bytes(&self) -> usize {
        self.target_num_frames.saturating_mul(self.max_frame_size.saturating_sub(FRAME_OVERHEAD))
    }

    /// Checks the settings as op-batcher's `ChannelConfig.Check`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_frame_size <= FRAME_OVERHEAD {
            return Err(ConfigError::FrameTooSmall(self.max_frame_size));
        }
        if self.target_num_frames == 0 {
            return Err(ConfigError::NoFrames);
        }
        if !(self.approx_compr_ratio.is_finite() && self.approx_compr_ratio > 0.0) {
            return Err(ConfigError::BadRatio);
        }
        if self.max_rlp_bytes_per_channel == 0 {
            return Err(ConfigError::NoRlpBytes);
        }
        Ok(())
    }
}

/// Why a channel takes no more blocks.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FullReason {
    #[error("compressor is full")]
    CompressorFull,
    #[error("batch would push the channel's RLP bytes over the limit")]
    TooManyRlpBytes,
    #[error("max frame index reached (u16)")]
    MaxFrameIndex,
}

/// Why a channel operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChannelOutError {
    /// The block was not added: the channel is full.
    #[error("channel full: {0}")]
    Full(FullReason),
    #[error("channel already closed")]
    Closed,
    #[error("max frame size {0} does not fit the frame overhead")]
    FrameTooSmall(usize),
    #[error("no frame number left")]
    FrameIndexOverflow,
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Batch(#[from] BatchError),
    #[error(transparent)]
    Span(#[from] SpanBatchError),
    #[error(transparent)]
    Compression(#[from] CompressionError),
}

/// A channel being built.
#[derive(Debug)]
pub struct ChannelOut {
    id: ChannelId,
    max_rlp_bytes: usize,
    next_frame: u32,
    blocks: usize,
    closed: bool,
    full: Option<FullReason>,
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Singular { compressor: Compressor, rlp_bytes: usize },
    Span(Box<SpanOut>),
}

impl ChannelOut {
    /// A new, empty channel with a random id drawn from `rng`.
    pub fn new(cfg: &ChannelOutConfig, rng: &mut impl RngCore) -> Result<Self, ChannelOutError> {
        cfg.validate()?;
        let mut id = ChannelId::default();
        rng.fill_bytes(&mut id);
        let inner = match cfg.batch_type {
            BatchType::Singular => Inner::Singular {
                compressor: Compressor::new(&CompressorConfig {
                    target_output_bytes: cfg.target_output_bytes(),
                    approx_compr_ratio: cfg.approx_compr_ratio,
                    kind: cfg.compressor,
                    algo: cfg.algo,
                }),
                rlp_bytes: 0,
            },
            BatchType::Span => Inner::Span(Box::new(SpanOut::new(cfg))),
        };
        Ok(Self {
            id,
            max_rlp_bytes: cfg.max_rlp_bytes_per_channel,
            next_frame: 0,
            blocks: 0,
            closed: false,
            full: None,
            inner,
        })
    }

    pub fn id(&self) -> ChannelId {
        self.id
    }

    /// Blocks accepted.
    pub fn block_count(&self) -> usize {
        self.blocks
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Why the channel is full, if it is.
    pub fn full_reason(&self) -> Option<&FullReason> {
        self.full.as_ref()
    }

    /// Adds a block; returns its L1 origin. A full channel rejects the block with
    /// [`ChannelOutError::Full`]; a block can also be accepted and leave the channel full.
    pub fn add_block(&mut self, block: &OpBlock) -> Result<L1Info, ChannelOutError> {
        if self.closed {
            return Err(ChannelOutError::Closed);
        }
        if let Some(reason) = &self.full {
            return Err(ChannelOutError::Full(reason.clone()));
        }
        let (batch, l1) = SingularBatch::from_block(block)?;
        let result = match &mut self.inner {
            Inner::Singular { compressor, rlp_bytes } => {
                add_singular(compressor, rlp_bytes, self.max_rlp_bytes, &batch)
            }
            Inner::Span(span) => span.add(&batch, l1.sequence_number, self.max_rlp_bytes),
        };
        match result {
            Ok(()) => {
                self.blocks += 1;
                self.full = match &self.inner {
                    Inner::Singular { compressor, .. } => {
                        compressor.is_full().then_some(FullReason::CompressorFull)
                    }
                    Inner::Span(span) => span.full.then_some(FullReason::CompressorFull),
                };
                Ok(l1)
            }
            Err(ChannelOutError::Full(reason)) => {
                self.full = Some(reason.clone());
                Err(ChannelOutError::Full(reason))
            }
            Err(e) => Err(e),
        }
    }

    /// Uncompressed batch bytes in the channel.
    pub fn input_bytes(&self) -> usize {
        match &self.inner {
            Inner::Singular { rlp_bytes, .. } => *rlp_bytes,
            Inner::Span(span) => span.rlp[span.active].len(),
        }
    }

    /// Compressed bytes ready to be cut into frames.
    pub fn ready_bytes(&self) -> usize {
        match &self.inner {
            Inner::Singular { compressor, .. } => compressor.len(),
            // A span channel's output is only final once it is full or closed.
            Inner::Span(span) if self.closed || span.full => span.compressor.len(),
            Inner::Span(_) => 0,
        }
    }

    /// Makes everything added so far ready for frames (singular channels; span channels need none).
    pub fn flush(&mut self) -> Result<(), ChannelOutError> {
        match &mut self.inner {
            Inner::Singular { compressor, .. } => Ok(compressor.flush()?),
            Inner::Span(_) => Ok(()),
        }
    }

    /// Ends the channel: no more blocks, and the last frame will say so.
    pub fn close(&mut self) -> Result<(), ChannelOutError> {
        if self.closed {
            return Err(ChannelOutError::Closed);
        }
        self.closed = true;
        match &mut self.inner {
            Inner::Singular { compressor, .. } => Ok(compressor.close()?),
            Inner::Span(span) if span.full => Ok(()),
            Inner::Span(span) => span.compress(),
        }
    }

    /// Cuts the next frame, of at most `max_size` bytes with overhead; `true` with the last frame.
    pub fn output_frame(&mut self, max_size: usize) -> Result<(Frame, bool), ChannelOutError> {
        if max_size < FRAME_OVERHEAD {
            return Err(ChannelOutError::FrameTooSmall(max_size));
        }
        let number = u16::try_from(self.next_frame).map_err(|_| ChannelOutError::FrameIndexOverflow)?;
        let ready = self.ready_bytes();
        let len = (max_size - FRAME_OVERHEAD).min(ready);
        let is_last = self.closed && len == ready;
        let mut data = Vec::with_capacity(len);
        match &mut self.inner {
            Inner::Singular { compressor, .. } => compressor.read_into(len, &mut data),
            Inner::Span(span) => span.compressor.read_into(len, &mut data),
        };
        self.next_frame += 1;
        if number == u16::MAX && self.full.is_none() {
            self.full = Some(FullReason::MaxFrameIndex);
        }
        Ok((Frame { id: self.id, number, data, is_last }, is_last))
    }
}

fn add_singular(
    compressor: &mut Compressor,
    rlp_bytes: &mut usize,
    max_rlp_bytes: usize,
    batch: &SingularBatch,
) -> Result<(), ChannelOutError> {
    let entry = singular_channel_entry(batch);
    if *rlp_bytes + entry.len() > max_rlp_bytes {
        return Err(ChannelOutError::Full(FullReason::TooManyRlpBytes));
    }
    match compressor.write(&entry) {
        Ok(()) => {
            *rlp_bytes += entry.len();
            Ok(())
        }
        Err(CompressorError::Full) => Err(ChannelOutError::Full(FullReason::CompressorFull)),
        Err(CompressorError::Compression(e)) => Err(e.into()),
    }
}

/// op-node's `SpanChannelOut` state.
#[derive(Debug)]
struct SpanOut {
    genesis_timestamp: u64,
    chain_id: u64,
    target_output_bytes: usize,
    max_blocks_per_span_batch: usize,
    span: SpanBatchBuilder,
    /// Double buffer of the channel's entries: the active one with the last block, the other without.
    rlp: [Vec<u8>; 2],
    active: usize,
    /// Entry bytes of span batches already sealed by the per-batch block limit.
    sealed_rlp_bytes: usize,
    /// Uncompressed size of the last compressed encoding.
    last_compressed_rlp_bytes: usize,
    compressor: ChannelCompressor,
    full: bool,
    scratch: Vec<u8>,
}

impl SpanOut {
    fn new(cfg: &ChannelOutConfig) -> Self {
        Self {
            genesis_timestamp: cfg.genesis_timestamp,
            chain_id: cfg.chain_id,
            target_output_bytes: cfg.target_output_bytes(),
            max_blocks_per_span_batch: cfg.max_blocks_per_span_batch,
            span: SpanBatchBuilder::new(cfg.genesis_timestamp, cfg.chain_id),
            rlp: [Vec::new(), Vec::new()],
            active: 0,
            sealed_rlp_bytes: 0,
            last_compressed_rlp_bytes: 0,
            compressor: ChannelCompressor::new(cfg.algo),
            full: false,
            scratch: Vec::new(),
        }
    }

    fn add(
        &mut self,
        batch: &SingularBatch,
        seq_num: u64,
        max_rlp_bytes: usize,
    ) -> Result<(), ChannelOutError> {
        self.ensure_open_span_batch();
        self.span.append(batch, seq_num)?;
        self.scratch.clear();
        self.scratch.push(BatchType::Span as u8);
        self.span.raw().encode(&mut self.scratch);
        self.active ^= 1;
        let active = &mut self.rlp[self.active];
        active.truncate(self.sealed_rlp_bytes);
        encode_channel_entry(&self.scratch, active);
        if active.len() > max_rlp_bytes {
            self.active ^= 1;
            self.compress()?;
            return Err(ChannelOutError::Full(FullReason::TooManyRlpBytes));
        }
        let growth = active.len().saturating_sub(self.last_compressed_rlp_bytes);
        if self.compressor.len() + growth < self.target_output_bytes {
            return Ok(());
        }
        self.compress()?;
        if !self.full
            || (self.sealed_rlp_bytes == 0 && self.span.block_count() == 1)
            || self.compressor.len() == self.target_output_bytes
        {
            return Ok(());
        }
        // Over the target with more than one block: compress the encoding without the last block.
        self.active ^= 1;
        self.compress()?;
        Err(ChannelOutError::Full(FullReason::CompressorFull))
    }

    /// Seals a span batch that reached the block limit; the next block starts a new one.
    fn ensure_open_span_batch(&mut self) {
        if self.max_blocks_per_span_batch == 0 || self.span.block_count() < self.max_blocks_per_span_batch {
            return;
        }
        self.sealed_rlp_bytes = self.rlp[self.active].len();
        let (a, b) = self.rlp.split_at_mut(1);
        let (active, inactive) = if self.active == 0 { (&a[0], &mut b[0]) } else { (&b[0], &mut a[0]) };
        inactive.clone_from(active);
        self.span = SpanBatchBuilder::new(self.genesis_timestamp, self.chain_id);
    }

    /// Compresses the active encoding from scratch into a closed stream.
    fn compress(&mut self) -> Result<(), ChannelOutError> {
        self.compressor.reset();
        let rlp = &self.rlp[self.active];
        self.compressor.write(rlp)?;
        self.last_compressed_rlp_bytes = rlp.len();
        self.compressor.close()?;
        if self.compressor.len() >= self.target_output_bytes {
            self.full = true;
        }
        Ok(())
    }
}
