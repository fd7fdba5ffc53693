//! `compute_sync_actions`: every case of op-batcher's `TestBatchSubmitter_computeSyncActions`,
//! under upstream's names, with upstream's inputs and expectations.

use alloy_eips::BlockNumHash;
use alloy_primitives::B256;
use kona_protocol::{BlockInfo, L2BlockInfo, SyncStatus};
use rollsim::batcher::sync_actions::{compute_sync_actions, ChannelStatus, SyncActions, SyncReason};
use std::collections::VecDeque;

struct TestChannel {
    latest_l2: BlockNumHash,
    inclusion_block: u64,
    fully_submitted: bool,
    timed_out: bool,
}

impl ChannelStatus for TestChannel {
    fn is_fully_submitted(&self) -> bool {
        self.fully_submitted
    }
    fn is_timed_out(&self) -> bool {
        self.timed_out
    }
    fn latest_l2(&self) -> BlockNumHash {
        self.latest_l2
    }
    fn max_inclusion_block(&self) -> u64 {
        self.inclusion_block
    }
}

/// Upstream's blocks are headers with only a number: their hashes differ by number.
fn block(number: u64) -> BlockNumHash {
    BlockNumHash::new(number, B256::with_last_byte(number as u8))
}

fn l1(number: u64) -> BlockInfo {
    BlockInfo { number, ..Default::default() }
}

fn l2(number: u64, hash: B256, origin: u64) -> L2BlockInfo {
    L2BlockInfo {
        block_info: BlockInfo { number, hash, ..Default::default() },
        l1_origin: BlockNumHash::new(origin, B256::ZERO),
        seq_num: 0,
    }
}

/// Every field zero, as Go's `eth.SyncStatus{}`.
fn empty_status() -> SyncStatus {
    SyncStatus {
        current_l1: BlockInfo::default(),
        current_l1_finalized: BlockInfo::default(),
        head_l1: BlockInfo::default(),
        safe_l1: BlockInfo::default(),
        finalized_l1: BlockInfo::default(),
        unsafe_l2: L2BlockInfo::default(),
        safe_l2: L2BlockInfo::default(),
        finalized_l2: L2BlockInfo::default(),
        cross_unsafe_l2: L2BlockInfo::default(),
        local_safe_l2: L2BlockInfo::default(),
    }
}

fn status(head_l1: u64, current_l1: u64, local_safe: L2BlockInfo, unsafe_number: u64) -> SyncStatus {
    SyncStatus {
        head_l1: l1(head_l1),
        current_l1: l1(current_l1),
        local_safe_l2: local_safe,
        unsafe_l2: l2(unsafe_number, B256::ZERO, 0),
        ..empty_status()
    }
}

fn channel103() -> TestChannel {
    TestChannel { latest_l2: block(103), inclusion_block: 1, fully_submitted: true, timed_out: false }
}

fn channel104() -> TestChannel {
    TestChannel { latest_l2: block(104), inclusion_block: 1, fully_submitted: false, timed_out: false }
}

fn blocks(numbers: &[u64]) -> VecDeque<BlockNumHash> {
    numbers.iter().map(|n| block(*n)).collect()
}

fn run(
    status: &SyncStatus,
    prev_current_l1: u64,
    blocks: VecDeque<BlockNumHash>,
    channels: Vec<TestChannel>,
) -> (Option<SyncActions>, SyncReason) {
    compute_sync_actions(status, prev_current_l1, &blocks, &channels.into_iter().collect())
}

fn afresh(origin: u64, load: Option<std::ops::RangeInclusive<u64>>) -> SyncActions {
    SyncActions {
        clear_state: Some(BlockNumHash::new(origin, B256::ZERO)),
        blocks_to_load: load,
        ..Default::default()
    }
}

#[test]
fn empty_sync_status() {
    let result = run(&empty_status(), 0, blocks(&[]), vec![]);
    assert_eq!(result, (None, SyncReason::EmptySyncStatus));
}

#[test]
fn current_l1_reversed() {
    let s = status(2, 1, l2(100, B256::ZERO, 0), 101);
    assert_eq!(run(&s, 2, blocks(&[]), vec![]), (None, SyncReason::CurrentL1Reversed));
}

#[test]
fn gap_between_safe_chain_and_state() {
    let s = status(6, 1, l2(100, B256::ZERO, 1), 109);
    let result = run(&s, 1, blocks(&[102, 103]), vec![channel103()]);
    assert_eq!(result, (Some(afresh(1, Some(101..=109))), SyncReason::GapBelowState));
}

#[test]
fn unexpectedly_good_progress() {
    let s = status(6, 2, l2(104, B256::ZERO, 1), 109);
    let result = run(&s, 1, blocks(&[101, 102, 103]), vec![channel103()]);
    assert_eq!(result, (Some(afresh(1, Some(105..=109))), SyncReason::SafeAboveState));
}

#[test]
fn safe_chain_reorg() {
    let s = status(5, 2, l2(103, block(101).hash, 1), 109);
    let result = run(&s, 1, blocks(&[101, 102, 103]), vec![channel103()]);
    assert_eq!(result, (Some(afresh(1, Some(104..=109))), SyncReason::SafeChainReorg));
}

#[test]
fn failed_to_make_expected_progress() {
    let s = status(3, 2, l2(101, block(101).hash, 1), 109);
    let result = run(&s, 1, blocks(&[101, 102, 103]), vec![channel103()]);
    assert_eq!(result, (Some(afresh(1, Some(102..=109))), SyncReason::ExpectedProgressMissing));
}

#[test]
fn failed_to_make_expected_progress_unsafe_eq_safe() {
    let s = status(3, 2, l2(101, block(101).hash, 1), 101);
    let result = run(&s, 1, blocks(&[102, 103]), vec![channel103()]);
    assert_eq!(result, (Some(afresh(1, None)), SyncReason::ExpectedProgressMissing));
}

#[test]
fn no_progress() {
    let s = status(4, 1, l2(100, B256::ZERO, 0), 109);
    let result = run(&s, 1, blocks(&[101, 102, 103]), vec![channel103()]);
    let expected = SyncActions { blocks_to_load: Some(104..=109), ..Default::default() };
    assert_eq!(result, (Some(expected), SyncReason::HappyPath));
}

#[test]
fn no_blocks() {
    let s = status(5, 2, l2(103, block(103).hash, 0), 109);
    let result = run(&s, 1, blocks(&[]), vec![]);
    let expected = SyncActions { blocks_to_load: Some(104..=109), ..Default::default() };
    assert_eq!(result, (Some(expected), SyncReason::NoBlocks));
}

#[test]
fn happy_path() {
    let s = status(5, 2, l2(103, block(103).hash, 0), 109);
    let result = run(&s, 1, blocks(&[101, 102, 103]), vec![channel103()]);
    let expected = SyncActions {
        blocks_to_prune: 3,
        channels_to_prune: 1,
        blocks_to_load: Some(104..=109),
        clear_state: None,
    };
    assert_eq!(result, (Some(expected), SyncReason::HappyPath));
}

#[test]
fn happy_path_multiple_channels() {
    let s = status(5, 2, l2(103, block(103).hash, 0), 109);
    let result = run(&s, 1, blocks(&[101, 102, 103, 104]), vec![channel103(), channel104()]);
    let expected = SyncActions {
        blocks_to_prune: 3,
        channels_to_prune: 1,
        blocks_to_load: Some(105..=109),
        clear_state: None,
    };
    assert_eq!(result, (Some(expected), SyncReason::HappyPath));
}

#[test]
fn no_progress_unsafe_eq_safe() {
    let s = status(5, 2, l2(100, B256::ZERO, 0), 100);
    assert_eq!(run(&s, 1, blocks(&[]), vec![]), (Some(SyncActions::default()), SyncReason::NoBlocks));
}

#[test]
fn no_progress_unsafe_eq_safe_blocks_in_state() {
    let s = status(5, 2, l2(101, block(101).hash, 0), 101);
    let result = run(&s, 1, blocks(&[101]), vec![]);
    let expected = SyncActions { blocks_to_prune: 1, ..Default::default() };
    assert_eq!(result, (Some(expected), SyncReason::HappyPath));
}

#[test]
fn local_safe_l2_above_safe_l2_no_blocks_in_state() {
    let mut s = status(5, 2, l2(104, block(104).hash, 0), 109);
    s.safe_l2 = l2(103, block(103).hash, 0);
    let expected = SyncActions { blocks_to_load: Some(105..=109), ..Default::default() };
    assert_eq!(run(&s, 1, blocks(&[]), vec![]), (Some(expected), SyncReason::NoBlocks));
}

#[test]
fn local_safe_l2_zero_safe_l2_nonzero() {
    let mut s = status(5, 2, L2BlockInfo::default(), 109);
    s.safe_l2 = l2(104, block(104).hash, 0);
    assert_eq!(run(&s, 1, blocks(&[]), vec![]), (None, SyncReason::EmptySyncStatus));
}
