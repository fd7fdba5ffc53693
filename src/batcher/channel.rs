//! A channel being built and submitted: op-batcher's `ChannelBuilder` and `channel` in one type.
//!
//! Blocks go in through the channel encoder; frames come out into a queue with a cursor; the
//! submission state (pending and confirmed transactions, inclusion blocks) decides when the
//! channel is fully submitted or timed out on chain.

use super::channel_config::ChannelConfig;
use crate::protocol::{
    channel_out::{self, ChannelOut, ChannelOutError},
    frame::{ChannelId, Frame, FRAME_OVERHEAD},
};
use alloy_eips::BlockNumHash;
use alloy_primitives::{hex, B256};
use op_alloy_consensus::OpBlock;
use rand::RngCore;
use std::{collections::BTreeMap, fmt, sync::Arc};

/// A block with what the batcher needs at hand.
#[derive(Debug, Clone)]
pub struct SizedBlock {
    pub block: Arc<OpBlock>,
    pub hash: B256,
    /// op-batcher's raw size: 70 + sum(tx size + 2).
    pub raw_size: u64,
    /// The block's DA footprint estimate (FastLZ-based, 70-byte overhead).
    pub estimated_da_bytes: u64,
}

impl SizedBlock {
    pub fn new(block: Arc<OpBlock>) -> Self {
        let hash = block.header.hash_slow();
        let sizes = crate::protocol::da_size::block_sizes(&block);
        Self { block, hash, raw_size: sizes.raw_bytes, estimated_da_bytes: sizes.estimated_da_bytes }
    }

    pub fn number(&self) -> u64 {
        self.block.header.number
    }

    pub fn id(&self) -> BlockNumHash {
        BlockNumHash::new(self.number(), self.hash)
    }
}

impl super::sync_actions::QueuedBlock for SizedBlock {
    fn id(&self) -> BlockNumHash {
        SizedBlock::id(self)
    }
}

/// Why a channel stopped taking blocks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FullReason {
    #[error("channel full: {0}")]
    Encoder(channel_out::FullReason),
    #[error("channel full: max frame index reached (uint16)")]
    MaxFrameIndex,
    #[error("channel full: max channel duration reached")]
    MaxDurationReached,
    #[error("channel full: close to channel timeout")]
    ChannelTimeoutClose,
    #[error("channel full: close to sequencer window timeout")]
    SeqWindowClose,
    #[error("channel full: channel terminated")]
    Terminated,
}

/// A frame and where it belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FrameId {
    pub channel: ChannelId,
    pub number: u16,
}

/// An encoded frame ready to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameData {
    pub id: FrameId,
    pub data: Vec<u8>,
}

/// The frames of one transaction: consecutive frames of one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TxId {
    pub channel: ChannelId,
    pub first_frame: u16,
    pub frames: u16,
}

impl fmt::Display for TxId {
    /// op-batcher's txID string: `chanhex:0+1+2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", hex::encode(self.channel), self.first_frame)?;
        for n in 1..self.frames {
            write!(f, "+{}", self.first_frame + n)?;
        }
        Ok(())
    }
}

/// What one batcher transaction carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxData {
    pub frames: Vec<FrameData>,
    pub as_blob: bool,
}

impl TxData {
    pub fn id(&self) -> TxId {
        let first = &self.frames[0].id;
        TxId { channel: first.channel, first_frame: first.number, frames: self.frames.len() as u16 }
    }

    /// Calldata form: version 0 ++ frames.
    pub fn call_data(&self) -> Vec<u8> {
        let mut data = Vec::with_capacity(1 + self.len());
        data.push(crate::protocol::tx_data::DERIVATION_VERSION_0);
        for frame in &self.frames {
            data.extend_from_slice(&frame.data);
        }
        data
    }

    /// Blob form: one blob per frame, each version 0 ++ frame.
    pub fn blobs(&self) -> Result<Vec<alloy_eips::eip4844::Blob>, crate::protocol::blob::BlobError> {
        self.frames
            .iter()
            .map(|frame| {
                let mut data = Vec::with_capacity(1 + frame.data.len());
                data.push(crate::protocol::tx_data::DERIVATION_VERSION_0);
                data.extend_from_slice(&frame.data);
                crate::protocol::blob::encode_blob(&data)
            })
            .collect()
    }

    /// Bytes of frame data.
    pub fn len(&self) -> usize {
        self.frames.iter().map(|f| f.data.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

/// A channel: its encoder, its frames, its submissions.
#[derive(Debug)]
pub struct Channel {
    cfg: ChannelConfig,
    out: ChannelOut,
    id: ChannelId,
    /// L1 block number at which the channel must close (0 = none yet), and why.
    timeout: u64,
    timeout_reason: Option<FullReason>,
    full: Option<FullReason>,
    blocks: Vec<SizedBlock>,
    latest_l1_origin: BlockNumHash,
    oldest_l1_origin: BlockNumHash,
    latest_l2: BlockNumHash,
    oldest_l2: BlockNumHash,
    frames: Vec<FrameData>,
    frame_cursor: usize,
    output_bytes: usize,
    pending_txs: BTreeMap<TxId, TxData>,
    confirmed_txs: BTreeMap<TxId, BlockNumHash>,
    min_inclusion_block: u64,
    max_inclusion_block: u64,
}

impl Channel {
    /// A new channel; `l1_origin_last_submitted` starts the max-duration clock.
    pub fn new(
        cfg: ChannelConfig,
        l1_origin_last_submitted: u64,
        rng: &mut impl RngCore,
    ) -> Result<Self, ChannelOutError> {
        let out = ChannelOut::new(&cfg.channel_out_config(), rng)?;
        let mut channel = Self {
            id: out.id(),
            cfg,
            out,
            timeout: 0,
            timeout_reason: None,
            full: None,
            blocks: Vec::new(),
            latest_l1_origin: BlockNumHash::default(),
            oldest_l1_origin: BlockNumHash::default(),
            latest_l2: BlockNumHash::default(),
            oldest_l2: BlockNumHash::default(),
            frames: Vec::new(),
            frame_cursor: 0,
            output_bytes: 0,
            pending_txs: BTreeMap::new(),
            confirmed_txs: BTreeMap::new(),
            min_inclusion_block: u64::MAX,
            max_inclusion_block: 0,
        };
        if cfg.max_channel_duration > 0 {
            channel.update_timeout(
                l1_origin_last_submitted + cfg.max_channel_duration,
                FullReason::MaxDurationReached,
            );
        }
        Ok(channel)
    }

    pub fn id(&self) -> ChannelId {
        self.id
    }

    pub fn config(&self) -> &ChannelConfig {
        &self.cfg
    }

    pub fn blocks(&self) -> &[SizedBlock] {
        &self.blocks
    }

    pub fn input_bytes(&self) -> usize {
        self.out.input_bytes()
    }

    pub fn ready_bytes(&self) -> usize {
        self.out.ready_bytes()
    }

    pub fn output_bytes(&self) -> usize {
        self.output_bytes
    }

    pub fn latest_l1_origin(&self) -> BlockNumHash {
        self.latest_l1_origin
    }

    pub fn oldest_l1_origin(&self) -> BlockNumHash {
        self.oldest_l1_origin
    }

    pub fn latest_l2(&self) -> BlockNumHash {
        self.latest_l2
    }

    pub fn oldest_l2(&self) -> BlockNumHash {
        self.oldest_l2
    }

    pub fn timeout(&self) -> u64 {
        self.timeout
    }

    pub fn is_full(&self) -> bool {
        self.full.is_some()
    }

    pub fn full_reason(&self) -> Option<&FullReason> {
        self.full.as_ref()
    }

    pub fn total_frames(&self) -> usize {
        self.frames.len()
    }

    pub fn pending_frames(&self) -> usize {
        self.frames.len() - self.frame_cursor
    }

    pub fn has_pending_frame(&self) -> bool {
        self.frame_cursor < self.frames.len()
    }

    /// Adds a block; `Full` when the channel did not take it because it is full.
    pub fn add_block(&mut self, block: &SizedBlock) -> Result<(), AddBlockError> {
        if let Some(reason) = &self.full {
            return Err(AddBlockError::Full(reason.clone()));
        }
        let l1_info = match self.out.add_block(&block.block) {
            Ok(info) => info,
            Err(ChannelOutError::Full(reason)) => {
                let reason = FullReason::Encoder(reason);
                self.full = Some(reason.clone());
                return Err(AddBlockError::Full(reason));
            }
            Err(error) => return Err(AddBlockError::Encoder(error)),
        };
        self.blocks.push(block.clone());
        let origin = BlockNumHash::new(l1_info.number, l1_info.hash);
        self.update_timeout(
            origin.number + self.cfg.seq_window_size - self.cfg.sub_safety_margin,
            FullReason::SeqWindowClose,
        );
        if origin.number > self.latest_l1_origin.number {
            self.latest_l1_origin = origin;
        }
        if self.oldest_l1_origin.number == 0 || origin.number < self.latest_l1_origin.number {
            self.oldest_l1_origin = origin;
        }
        if block.number() > self.latest_l2.number {
            self.latest_l2 = block.id();
        }
        if self.oldest_l2.number == 0 || block.number() < self.oldest_l2.number {
            self.oldest_l2 = block.id();
        }
        if let Some(error) = self.out.full_reason() {
            self.full = Some(FullReason::Encoder(error.clone()));
        }
        Ok(())
    }

    fn update_timeout(&mut self, block: u64, reason: FullReason) {
        if self.timeout == 0 || self.timeout > block {
            self.timeout = block;
            self.timeout_reason = Some(reason);
        }
    }

    /// A frame of this channel was included at L1 block `l1_block`: derivation drops the channel
    /// `channel_timeout` blocks later, so it must close before.
    fn frame_published(&mut self, l1_block: u64) {
        let timeout = l1_block + self.cfg.channel_timeout - self.cfg.sub_safety_margin;
        self.update_timeout(timeout, FullReason::ChannelTimeoutClose);
    }

    /// Marks the channel full when L1 reached its timeout.
    pub fn check_timeout(&mut self, l1_block: u64) {
        if self.timeout != 0 && self.full.is_none() && l1_block >= self.timeout {
            self.full = self.timeout_reason.clone();
        }
    }

    /// Stops the channel taking blocks (force publish).
    pub fn close(&mut self) {
        if self.full.is_none() {
            self.full = Some(FullReason::Terminated);
        }
    }

    /// Emits frames: all of them (the last one short) when full, else only full-size frames.
    pub fn output_frames(&mut self) -> Result<(), ChannelOutError> {
        if self.is_full() {
            if !self.out.is_closed() {
                self.out.close()?;
            }
            loop {
                if self.output_frame()? {
                    return Ok(());
                }
            }
        }
        while self.out.ready_bytes() + FRAME_OVERHEAD >= self.cfg.max_frame_size {
            if self.output_frame()? {
                break;
            }
        }
        Ok(())
    }

    /// Emits one frame; `true` when it was the last.
    fn output_frame(&mut self) -> Result<bool, ChannelOutError> {
        let (frame, last): (Frame, bool) = self.out.output_frame(self.cfg.max_frame_size)?;
        if frame.number == u16::MAX {
            self.full = Some(FullReason::MaxFrameIndex);
        }
        let data = frame.encode();
        self.output_bytes += data.len();
        self.frames.push(FrameData { id: FrameId { channel: self.id, number: frame.number }, data });
        Ok(last)
    }

    /// Ready to post a transaction: a full channel posts every frame as it comes; a filling
    /// blob channel waits for a whole transaction's worth.
    pub fn has_tx_data(&self) -> bool {
        if self.is_full() || !self.cfg.use_blobs {
            return self.has_pending_frame();
        }
        self.pending_frames() >= self.cfg.max_frames_per_tx()
    }

    /// The next transaction's frames, recorded as pending.
    pub fn next_tx_data(&mut self) -> TxData {
        let count = self.cfg.max_frames_per_tx().min(self.pending_frames());
        let frames = self.frames[self.frame_cursor..self.frame_cursor + count].to_vec();
        self.frame_cursor += count;
        let data = TxData { frames, as_blob: self.cfg.use_blobs };
        self.pending_txs.insert(data.id(), data.clone());
        data
    }

    /// A transaction failed: its frames go back to be sent again.
    pub fn tx_failed(&mut self, id: &TxId) {
        match self.pending_txs.remove(id) {
            Some(data) => {
                let first = usize::from(data.frames[0].id.number);
                assert!(
                    first < self.frames.len() && self.frames[first] == data.frames[0],
                    "rewind to a frame the channel did not produce"
                );
                self.frame_cursor = self.frame_cursor.min(first);
            }
            None => {
                tracing::warn!(target: "rollsim::batcher", tx = %id, "unknown transaction marked as failed")
            }
        }
    }

    /// A transaction was confirmed at `block`; `true` if the channel has now timed out on chain.
    pub fn tx_confirmed(&mut self, id: &TxId, block: BlockNumHash) -> bool {
        if self.pending_txs.remove(id).is_none() {
            tracing::warn!(target: "rollsim::batcher", tx = %id, "unknown transaction marked as confirmed");
            return false;
        }
        self.confirmed_txs.insert(*id, block);
        self.frame_published(block.number);
        self.min_inclusion_block = self.min_inclusion_block.min(block.number);
        self.max_inclusion_block = self.max_inclusion_block.max(block.number);
        self.is_timed_out()
    }

    /// Confirmed frames span more than the channel timeout: derivation dropped the channel.
    /// False with no confirmations (upstream bug 12363 read `max - min` of the sentinels).
    pub fn is_timed_out(&self) -> bool {
        #[cfg(feature = "planted-bugs")]
        if crate::planted::active("timeout-no-confirmations") {
            // The minimum read as its zero value: any confirmation past the timeout "times out".
            return self.max_inclusion_block >= self.cfg.channel_timeout;
        }
        !self.confirmed_txs.is_empty()
            && self.max_inclusion_block - self.min_inclusion_block >= self.cfg.channel_timeout
    }

    pub fn is_fully_submitted(&self) -> bool {
        self.is_full() && self.pending_txs.is_empty() && self.pending_frames() == 0
    }

    pub fn none_submitted(&self) -> bool {
        self.confirmed_txs.is_empty() && self.pending_txs.is_empty()
    }

    pub fn max_inclusion_block(&self) -> u64 {
        self.max_inclusion_block
    }

    pub fn pending_tx_ids(&self) -> impl Iterator<Item = &TxId> {
        self.pending_txs.keys()
    }
}

impl super::sync_actions::ChannelStatus for Channel {
    fn is_fully_submitted(&self) -> bool {
        Channel::is_fully_submitted(self)
    }
    fn is_timed_out(&self) -> bool {
        Channel::is_timed_out(self)
    }
    fn latest_l2(&self) -> BlockNumHash {
        self.latest_l2
    }
    fn max_inclusion_block(&self) -> u64 {
        self.max_inclusion_block
    }
}

/// Why a block did not go into a channel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddBlockError {
    #[error("{0}")]
    Full(FullReason),
    #[error("adding block to channel out: {0}")]
    Encoder(ChannelOutError),
}
