//! `computeSyncActions`: what the batcher does with its state after reading the rollup node's
//! sync status. A pure function of its inputs, one decision-table row per outcome (see
//! op-batcher's `sync_actions.go`).
//!
//! The safe head used is `local_safe_l2`, never the cross-safe `safe_l2`: the batcher must not
//! depend on interop's cross-chain safety.

use alloy_eips::BlockNumHash;
use kona_protocol::SyncStatus;
use std::{collections::VecDeque, ops::RangeInclusive};

/// A block in the batcher's queue, as sync actions see it.
pub trait QueuedBlock {
    fn id(&self) -> BlockNumHash;
}

impl QueuedBlock for BlockNumHash {
    fn id(&self) -> BlockNumHash {
        *self
    }
}

/// A channel in the batcher's queue, as sync actions see it.
pub trait ChannelStatus {
    /// Full, and every frame sent and confirmed.
    fn is_fully_submitted(&self) -> bool;
    /// Its confirmed frames span more than the channel timeout: derivation dropped it.
    fn is_timed_out(&self) -> bool;
    /// The newest L2 block in the channel.
    fn latest_l2(&self) -> BlockNumHash;
    /// The newest L1 block that included one of its frames.
    fn max_inclusion_block(&self) -> u64;
}

/// What to do with the state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncActions {
    /// Drop every block and channel; the new channels start from this L1 origin.
    pub clear_state: Option<BlockNumHash>,
    /// Blocks to drop from the front of the queue (now safe).
    pub blocks_to_prune: usize,
    /// Channels to drop from the front of the queue (all their blocks are safe).
    pub channels_to_prune: usize,
    /// L2 blocks to load from the sequencer, inclusive on both ends.
    pub blocks_to_load: Option<RangeInclusive<u64>>,
}

/// Which decision-table row produced the actions: traced, and asserted by the tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncReason {
    /// A head in the sync status is zero (node recovering from a reorg or restarting).
    EmptySyncStatus,
    /// `current_l1` went backwards (sequencer restarted or switched).
    CurrentL1Reversed,
    /// Nothing in state: load every unsafe block.
    NoBlocks,
    /// The next safe block is below the oldest block in state (e.g. after an L1 reorg).
    GapBelowState,
    /// The safe head is above the newest block in state (e.g. another batcher's data derived).
    SafeAboveState,
    /// The safe block in state has another hash: the safe chain reorged.
    SafeChainReorg,
    /// A fully submitted channel's blocks should be safe by now but are not (e.g. a Holocene
    /// ordering violation dropped it).
    ExpectedProgressMissing,
    /// Prune what became safe, load what is new.
    HappyPath,
}

/// The decision. `None` actions mean the sequencer is out of sync: change nothing and do not
/// remember `current_l1`.
pub fn compute_sync_actions<B: QueuedBlock, C: ChannelStatus>(
    status: &SyncStatus,
    prev_current_l1: u64,
    blocks: &VecDeque<B>,
    channels: &VecDeque<C>,
) -> (Option<SyncActions>, SyncReason) {
    let safe = status.local_safe_l2;
    let unsafe_head = status.unsafe_l2;
    let empty_l2 = safe == Default::default() || unsafe_head == Default::default();
    // Before upstream 16298 only an empty L1 head was recognised.
    #[cfg(feature = "planted-bugs")]
    let empty_l2 = empty_l2 && !crate::planted::active("sync-status-zero-heads");
    if empty_l2 || status.head_l1 == Default::default() {
        return (None, SyncReason::EmptySyncStatus);
    }
    if status.current_l1.number < prev_current_l1 {
        return (None, SyncReason::CurrentL1Reversed);
    }

    let safe_number = safe.block_info.number;
    let all_unsafe = (unsafe_head.block_info.number > safe_number)
        .then(|| safe_number + 1..=unsafe_head.block_info.number);
    let (Some(oldest), Some(newest)) = (blocks.front(), blocks.back()) else {
        let actions = SyncActions { blocks_to_load: all_unsafe, ..Default::default() };
        return (Some(actions), SyncReason::NoBlocks);
    };
    let start_afresh = |reason| {
        (
            Some(SyncActions {
                clear_state: Some(safe.l1_origin),
                blocks_to_load: all_unsafe.clone(),
                ..Default::default()
            }),
            reason,
        )
    };

    let next_safe = safe_number + 1;
    let oldest = oldest.id().number;
    if next_safe < oldest {
        return start_afresh(SyncReason::GapBelowState);
    }
    let to_dequeue = next_safe - oldest;
    if to_dequeue > blocks.len() as u64 {
        return start_afresh(SyncReason::SafeAboveState);
    }
    let to_dequeue = to_dequeue as usize;
    if to_dequeue > 0 && blocks[to_dequeue - 1].id().hash != safe.block_info.hash {
        return start_afresh(SyncReason::SafeChainReorg);
    }

    let progress_missing = channels.iter().any(|channel| {
        channel.is_fully_submitted()
            && !channel.is_timed_out()
            && status.current_l1.number > channel.max_inclusion_block()
            && safe_number < channel.latest_l2().number
    });
    if progress_missing {
        return start_afresh(SyncReason::ExpectedProgressMissing);
    }

    let channels_to_prune =
        channels.iter().take_while(|channel| channel.latest_l2().number <= safe_number).count();
    let newest = newest.id().number;
    let blocks_to_load =
        (unsafe_head.block_info.number > newest).then(|| newest + 1..=unsafe_head.block_info.number);
    let actions =
        SyncActions { blocks_to_prune: to_dequeue, channels_to_prune, blocks_to_load, clear_state: None };
    (Some(actions), SyncReason::HappyPath)
}
