//! op-batcher's `channelManager`: the queue of unsafe blocks, the channels built from them, and
//! the map from in-flight transactions to their channels.
//!
//! Invariants (asserted in debug builds after every mutation):
//! - `blocks` are consecutive and each block's parent is the previous block;
//! - `block_cursor <= blocks.len()`: blocks before it are in a channel;
//! - the current channel, if any, is the last of `channels`;
//! - every entry of `tx_channels` names a channel in the queue with that tx pending.

use super::{
    channel::{AddBlockError, Channel, FullReason, SizedBlock, TxData, TxId},
    channel_config::ChannelConfig,
};
use crate::protocol::{
    channel_out::{self, ChannelOutError},
    frame::ChannelId,
};
use alloy_eips::BlockNumHash;
use alloy_primitives::B256;
use rand::RngCore;
use std::collections::{BTreeMap, VecDeque};

/// Why a block was not added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelManagerError {
    /// The block's parent is not the newest block in state: the unsafe chain reorged.
    #[error("block {number} does not extend existing chain (parent {parent}, tip {tip})")]
    Reorg { number: u64, parent: B256, tip: B256 },
    #[error("creating channel out: {0}")]
    NewChannel(ChannelOutError),
    #[error("adding block {number} to channel builder: {source}")]
    AddBlock { number: u64, source: AddBlockError },
    #[error("creating frames with channel builder: {0}")]
    Frames(ChannelOutError),
}

/// Publishing options (op-batcher's `pubInfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PubInfo {
    /// Close the current channel even if not full (the admin `flushBatcher`).
    pub force_publish: bool,
    /// Skip the L1-head timeout check: set while loading a long backlog, so that channels fill
    /// up instead of closing half-empty on max duration (upstream issue 18092).
    pub ignore_max_channel_duration: bool,
}

/// How full the channels that closed because their compressor filled up are: the figure that
/// says whether DA space is used well (op-batcher's target is every frame full).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FillStats {
    pub channels: u64,
    /// Bytes posted: every frame with its version byte.
    pub bytes: u64,
    /// Room those frames had: frames x (max frame size + version byte).
    pub capacity_bytes: u64,
}

/// A transaction's worth of frames, or nothing to send.
pub type TxDataResult = Result<Option<TxData>, ChannelManagerError>;

#[derive(Debug)]
pub struct ChannelManager {
    default_cfg: ChannelConfig,
    blocks: VecDeque<SizedBlock>,
    block_cursor: usize,
    l1_origin_last_submitted: BlockNumHash,
    tip: B256,
    current: Option<ChannelId>,
    channels: VecDeque<Channel>,
    tx_channels: BTreeMap<TxId, ChannelId>,
    fill: FillStats,
    /// Planted bug "stuck-pending-da-bytes": pending bytes of cleared state, still counted.
    #[cfg(feature = "planted-bugs")]
    stale_da_bytes: u64,
}

impl ChannelManager {
    pub fn new(default_cfg: ChannelConfig) -> Self {
        Self {
            default_cfg,
            blocks: VecDeque::new(),
            block_cursor: 0,
            l1_origin_last_submitted: BlockNumHash::default(),
            tip: B256::ZERO,
            current: None,
            channels: VecDeque::new(),
            tx_channels: BTreeMap::new(),
            fill: FillStats::default(),
            #[cfg(feature = "planted-bugs")]
            stale_da_bytes: 0,
        }
    }

    pub fn fill_stats(&self) -> FillStats {
        self.fill
    }

    pub fn default_config(&self) -> &ChannelConfig {
        &self.default_cfg
    }

    pub fn blocks(&self) -> &VecDeque<SizedBlock> {
        &self.blocks
    }

    pub fn channels(&self) -> &VecDeque<Channel> {
        &self.channels
    }

    pub fn block_cursor(&self) -> usize {
        self.block_cursor
    }

    pub fn pending_blocks(&self) -> usize {
        self.blocks.len() - self.block_cursor
    }

    pub fn tx_count(&self) -> usize {
        self.tx_channels.len()
    }

    /// The newest block in state.
    pub fn last_stored_block(&self) -> Option<BlockNumHash> {
        self.blocks.back().map(SizedBlock::id)
    }

    /// Forgets everything; new channels count their duration from `l1_origin_last_submitted`.
    /// Returns the channels dropped that had sent frames.
    pub fn clear(&mut self, l1_origin_last_submitted: BlockNumHash) -> Vec<ChannelId> {
        #[cfg(feature = "planted-bugs")]
        if crate::planted::active("stuck-pending-da-bytes") {
            self.stale_da_bytes = self.unsafe_da_bytes();
        }
        let sent = self.channels.iter().filter(|c| !c.none_submitted()).map(Channel::id).collect();
        self.blocks.clear();
        self.block_cursor = 0;
        self.l1_origin_last_submitted = l1_origin_last_submitted;
        self.tip = B256::ZERO;
        self.current = None;
        self.channels.clear();
        self.tx_channels.clear();
        sent
    }

    /// Appends an unsafe block; refuses a block that does not extend the newest one.
    pub fn add_l2_block(&mut self, block: SizedBlock) -> Result<(), ChannelManagerError> {
        let parent = block.block.header.parent_hash;
        if self.tip != B256::ZERO && self.tip != parent {
            return Err(ChannelManagerError::Reorg { number: block.number(), parent, tip: self.tip });
        }
        self.tip = block.hash;
        self.blocks.push_back(block);
        self.debug_check();
        Ok(())
    }

    /// Drops `count` blocks that became safe.
    pub fn prune_safe_blocks(&mut self, count: usize) {
        assert!(count <= self.blocks.len(), "sync actions prune at most the blocks in state");
        self.blocks.drain(..count);
        self.block_cursor = self.block_cursor.saturating_sub(count);
        self.debug_check();
    }

    /// Drops `count` channels whose blocks are all safe.
    pub fn prune_channels(&mut self, count: usize) {
        assert!(count <= self.channels.len(), "sync actions prune at most the channels in state");
        for channel in self.channels.drain(..count) {
            if self.current == Some(channel.id()) {
                self.current = None;
            }
            self.tx_channels.retain(|_, id| *id != channel.id());
        }
        self.debug_check();
    }

    fn channel_mut(&mut self, id: &ChannelId) -> Option<&mut Channel> {
        self.channels.iter_mut().find(|c| c.id() == *id)
    }

    /// A transaction failed: its frames will be sent again.
    pub fn tx_failed(&mut self, id: &TxId) {
        match self.tx_channels.remove(id) {
            Some(channel) => {
                if let Some(channel) = self.channel_mut(&channel) {
                    channel.tx_failed(id);
                }
            }
            None => {
                tracing::warn!(target: "rollsim::batcher", tx = %id, "transaction from unknown channel marked as failed")
            }
        }
        self.debug_check();
    }

    /// A transaction was confirmed at `block`. If its channel timed out on chain, the channel and
    /// every newer one are dropped and their blocks requeued; returns whether that happened.
    pub fn tx_confirmed(&mut self, id: &TxId, block: BlockNumHash) -> bool {
        let Some(channel_id) = self.tx_channels.remove(id) else {
            tracing::warn!(target: "rollsim::batcher", tx = %id, "transaction from unknown channel marked as confirmed");
            return false;
        };
        let timed_out = self.channel_mut(&channel_id).is_some_and(|c| c.tx_confirmed(id, block));
        if timed_out {
            tracing::warn!(target: "rollsim::batcher", channel = %alloy_primitives::hex::encode(channel_id), tx = %id, "channel timed out on chain");
            self.handle_channel_invalidated(&channel_id);
        }
        self.debug_check();
        timed_out
    }

    /// Drops channel `id` and every newer channel; rewinds the block cursor to its first block.
    pub fn handle_channel_invalidated(&mut self, id: &ChannelId) {
        let Some(index) = self.channels.iter().position(|c| c.id() == *id) else { return };
        if let Some(first) = self.channels[index].blocks().first() {
            let offset = first.number() - self.blocks[0].number();
            let offset = usize::try_from(offset).expect("block offsets fit in memory");
            assert!(
                offset < self.block_cursor && self.blocks[offset].hash == first.hash,
                "a channel's blocks are in the queue before the cursor"
            );
            self.block_cursor = offset;
        }
        for dropped in self.channels.drain(index..) {
            tracing::warn!(
                target: "rollsim::batcher",
                channel = %alloy_primitives::hex::encode(dropped.id()),
                none_submitted = dropped.none_submitted(),
                fully_submitted = dropped.is_fully_submitted(),
                timed_out = dropped.is_timed_out(),
                oldest_l2 = dropped.oldest_l2().number,
                latest_l2 = dropped.latest_l2().number,
                "dropped channel"
            );
            self.tx_channels.retain(|_, channel| *channel != dropped.id());
        }
        self.current = None;
    }

    fn next_tx_data(&mut self, id: ChannelId) -> Option<TxData> {
        let channel = self.channel_mut(&id)?;
        if !channel.has_tx_data() {
            return None;
        }
        let data = channel.next_tx_data();
        let origin = channel.latest_l1_origin();
        if origin.number > self.l1_origin_last_submitted.number {
            self.l1_origin_last_submitted = origin;
        }
        self.tx_channels.insert(data.id(), id);
        Some(data)
    }

    /// The next transaction to send, if any. Before a channel submits anything its DA type is
    /// re-evaluated by `choose_config`; a change requeues its blocks into a new channel.
    pub fn tx_data(
        &mut self,
        l1_head: u64,
        pi: PubInfo,
        rng: &mut impl RngCore,
        choose_config: impl FnOnce(&ChannelConfig) -> ChannelConfig,
    ) -> TxDataResult {
        let Some(id) = self.ready_channel(l1_head, pi, rng)? else { return Ok(None) };
        let channel = self.channel_mut(&id).expect("ready channel is in the queue");
        if !channel.none_submitted() {
            return Ok(self.next_tx_data(id));
        }
        let new_cfg = choose_config(&self.default_cfg);
        if new_cfg.use_blobs == self.default_cfg.use_blobs {
            return Ok(self.next_tx_data(id));
        }
        tracing::info!(
            target: "rollsim::batcher", use_blobs_before = self.default_cfg.use_blobs, use_blobs_after = new_cfg.use_blobs,
            "switching DA type, requeueing blocks"
        );
        self.handle_channel_invalidated(&id);
        self.default_cfg = new_cfg;
        match self.ready_channel(l1_head, pi, rng)? {
            Some(id) => Ok(self.next_tx_data(id)),
            None => Ok(None),
        }
    }

    /// op-batcher's `getReadyChannel`.
    fn ready_channel(
        &mut self,
        l1_head: u64,
        pi: PubInfo,
        rng: &mut impl RngCore,
    ) -> Result<Option<ChannelId>, ChannelManagerError> {
        // Force publish only with a current channel (upstream bug 18701: a nil dereference).
        #[cfg(feature = "planted-bugs")]
        if pi.force_publish && self.current.is_none() && crate::planted::active("force-publish-no-channel") {
            panic!("runtime error: invalid memory address or nil pointer dereference (getReadyChannel: force publish without a current channel)");
        }
        if pi.force_publish {
            if let Some(id) = self.current {
                let channel = self.channel_mut(&id).expect("current channel is in the queue");
                if channel.total_frames() == 0 {
                    tracing::info!(target: "rollsim::batcher", channel = %alloy_primitives::hex::encode(id), "force-closing channel");
                    channel.close();
                    channel.output_frames().map_err(ChannelManagerError::Frames)?;
                }
            }
        }
        if let Some(channel) = self.channels.iter().find(|c| c.has_tx_data()) {
            return Ok(Some(channel.id()));
        }
        if self.pending_blocks() == 0 {
            return Ok(None);
        }
        let id = self.ensure_channel_with_space(l1_head, rng)?;
        self.process_blocks(id)?;
        let channel = self.channel_mut(&id).expect("current channel is in the queue");
        if !pi.ignore_max_channel_duration {
            channel.check_timeout(l1_head);
        }
        self.output_frames(id)?;
        let channel = self.channel_mut(&id).expect("current channel is in the queue");
        Ok(channel.has_tx_data().then_some(id))
    }

    fn ensure_channel_with_space(
        &mut self,
        l1_head: u64,
        rng: &mut impl RngCore,
    ) -> Result<ChannelId, ChannelManagerError> {
        if let Some(id) = self.current {
            if self.channels.back().is_some_and(|c| c.id() == id && !c.is_full()) {
                return Ok(id);
            }
        }
        let channel = Channel::new(self.default_cfg, self.l1_origin_last_submitted.number, rng)
            .map_err(ChannelManagerError::NewChannel)?;
        let id = channel.id();
        tracing::info!(
            target: "rollsim::batcher", channel = %alloy_primitives::hex::encode(id), l1_head,
            blocks_pending = self.pending_blocks(), use_blobs = self.default_cfg.use_blobs,
            "channel opened"
        );
        self.channels.push_back(channel);
        self.current = Some(id);
        Ok(id)
    }

    fn process_blocks(&mut self, id: ChannelId) -> Result<(), ChannelManagerError> {
        let index = self.channels.iter().position(|c| c.id() == id).expect("current channel is in the queue");
        let channel = &mut self.channels[index];
        let mut added = 0;
        for block in self.blocks.iter().skip(self.block_cursor) {
            match channel.add_block(block) {
                Ok(()) => added += 1,
                Err(AddBlockError::Full(_)) => break,
                Err(source) => {
                    self.block_cursor += added;
                    return Err(ChannelManagerError::AddBlock { number: block.number(), source });
                }
            }
            if channel.is_full() {
                break;
            }
        }
        self.block_cursor += added;
        Ok(())
    }

    fn output_frames(&mut self, id: ChannelId) -> Result<(), ChannelManagerError> {
        let pending = self.pending_blocks();
        let index = self.channels.iter().position(|c| c.id() == id).expect("current channel is in the queue");
        // Indexing the field (not `channel_mut`) leaves `self.fill` borrowable.
        let channel = &mut self.channels[index];
        channel.output_frames().map_err(ChannelManagerError::Frames)?;
        if let Some(reason) = channel.full_reason() {
            if matches!(reason, FullReason::Encoder(channel_out::FullReason::CompressorFull)) {
                let frames = channel.total_frames() as u64;
                self.fill.channels += 1;
                self.fill.bytes += channel.output_bytes() as u64 + frames;
                self.fill.capacity_bytes += frames * (channel.config().max_frame_size as u64 + 1);
            }
            tracing::info!(
                target: "rollsim::batcher",
                channel = %alloy_primitives::hex::encode(id),
                blocks_pending = pending,
                frames = channel.total_frames(),
                input_bytes = channel.input_bytes(),
                output_bytes = channel.output_bytes(),
                oldest_l2 = channel.oldest_l2().number,
                latest_l2 = channel.latest_l2().number,
                reason = %reason,
                "channel closed"
            );
        }
        Ok(())
    }

    /// DA bytes not yet safe: blocks not in a channel, blocks of channels with no frames yet, and
    /// the output of channels with frames (op-batcher's `UnsafeDABytes`).
    pub fn unsafe_da_bytes(&self) -> u64 {
        let pending: u64 = self.blocks.iter().skip(self.block_cursor).map(|b| b.estimated_da_bytes).sum();
        let channels: u64 = self
            .channels
            .iter()
            .map(|c| {
                if c.total_frames() == 0 {
                    c.blocks().iter().map(|b| b.estimated_da_bytes).sum()
                } else {
                    c.output_bytes() as u64
                }
            })
            .sum();
        #[cfg(feature = "planted-bugs")]
        if crate::planted::active("stuck-pending-da-bytes") {
            return pending + channels + self.stale_da_bytes;
        }
        pending + channels
    }

    fn debug_check(&self) {
        if !cfg!(debug_assertions) {
            return;
        }
        assert!(self.block_cursor <= self.blocks.len(), "block cursor past the queue");
        for pair in self.blocks.iter().zip(self.blocks.iter().skip(1)) {
            assert_eq!(pair.0.number() + 1, pair.1.number(), "queued blocks are consecutive");
            assert_eq!(pair.0.hash, pair.1.block.header.parent_hash, "queued blocks form a chain");
        }
        if let Some(current) = self.current {
            assert!(
                self.channels.back().is_some_and(|c| c.id() == current),
                "the current channel is the newest"
            );
        }
        for (tx, channel) in &self.tx_channels {
            let channel = self.channels.iter().find(|c| c.id() == *channel);
            assert!(
                channel.is_some_and(|c| c.pending_tx_ids().any(|t| t == tx)),
                "tx {tx} maps to a channel that has it pending"
            );
        }
    }
}
