//! The channel manager and its channels: reorg detection on add, invalidation of a timed-out
//! channel and every newer one, frame rewind on a failed transaction, the timeouts that close a
//! channel, force publish with no current channel (upstream bug 18701), and the timed-out check
//! with no confirmations (upstream bug 12363).

use alloy_consensus::{Block, BlockBody, Header};
use alloy_eips::BlockNumHash;
use alloy_primitives::B256;
use op_alloy_consensus::OpBlock;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rollsim::{
    batcher::{
        channel::{Channel, FullReason, SizedBlock, TxData},
        channel_config::ChannelConfig,
        channel_manager::{ChannelManager, ChannelManagerError, PubInfo},
    },
    protocol::{batch::BatchType, compression::CompressionAlgo, compressor::CompressorKind},
};
use std::sync::Arc;

const SEQ_WINDOW: u64 = 3600;
const CHANNEL_TIMEOUT: u64 = 50;
const MARGIN: u64 = 10;

fn config(max_frame_size: usize, use_blobs: bool, max_channel_duration: u64) -> ChannelConfig {
    ChannelConfig {
        seq_window_size: SEQ_WINDOW,
        channel_timeout: CHANNEL_TIMEOUT,
        max_channel_duration,
        sub_safety_margin: MARGIN,
        max_frame_size,
        target_num_frames: 1,
        use_blobs,
        batch_type: BatchType::Singular,
        max_blocks_per_span_batch: 0,
        compressor: CompressorKind::Shadow,
        compression_algo: CompressionAlgo::Zlib,
        approx_compr_ratio: 0.6,
        l2_chain_id: crate::protocol_common::CHAIN_ID,
        l2_genesis_timestamp: crate::protocol_common::GENESIS_TIME,
    }
}

/// A linked chain of `count` blocks after `parent`, each with a few incompressible user txs,
/// all on L1 origin `epoch`.
fn chain(seed: u64, parent: B256, first: u64, count: usize, epoch: u64) -> Vec<SizedBlock> {
    use rand::Rng;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut parent = parent;
    (0..count as u64)
        .map(|i| {
            let number = first + i;
            let timestamp =
                crate::protocol_common::GENESIS_TIME + crate::protocol_common::BLOCK_TIME * number;
            let mut transactions = vec![crate::protocol_common::l1_info_deposit(
                epoch,
                B256::with_last_byte(epoch as u8),
                timestamp - 1,
                i,
            )];
            transactions
                .extend((0..rng.gen_range(2..5)).map(|_| crate::protocol_common::user_tx(&mut rng, 600)));
            let block: OpBlock = Block {
                header: Header { parent_hash: parent, number, timestamp, ..Default::default() },
                body: BlockBody { transactions, ommers: vec![], withdrawals: None },
            };
            let sized = SizedBlock::new(Arc::new(block));
            parent = sized.hash;
            sized
        })
        .collect()
}

fn drain(manager: &mut ChannelManager, l1_head: u64, rng: &mut ChaCha8Rng) -> Vec<TxData> {
    let mut out = Vec::new();
    while let Some(data) = manager.tx_data(l1_head, PubInfo::default(), rng, |c| *c).expect("tx data") {
        out.push(data);
    }
    out
}

#[test]
fn a_block_that_does_not_extend_the_tip_is_a_reorg() {
    let mut manager = ChannelManager::new(config(1_000, false, 0));
    let blocks = chain(1, B256::ZERO, 1, 3, 7);
    for block in &blocks[..2] {
        manager.add_l2_block(block.clone()).unwrap();
    }
    let other = chain(2, B256::repeat_byte(9), 3, 1, 7).remove(0);
    let error = manager.add_l2_block(other).unwrap_err();
    assert!(matches!(error, ChannelManagerError::Reorg { number: 3, .. }), "{error}");
    assert_eq!(manager.blocks().len(), 2, "the refused block is not queued");
    manager.add_l2_block(blocks[2].clone()).expect("the real child extends the tip");
}

#[test]
fn a_timed_out_channel_is_dropped_with_every_newer_one_and_its_blocks_requeued() {
    let mut manager = ChannelManager::new(ChannelConfig { target_num_frames: 3, ..config(1_000, false, 0) });
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for block in chain(4, B256::ZERO, 1, 16, 7) {
        manager.add_l2_block(block).unwrap();
    }
    let txs = drain(&mut manager, 100, &mut rng);
    let channels: Vec<_> = manager.channels().iter().map(|c| (c.id(), c.oldest_l2().number)).collect();
    assert!(channels.len() >= 3, "small frames: several channels, got {}", channels.len());
    // Confirm the first channel fully, then two txs of the second channel CHANNEL_TIMEOUT apart.
    let (second, second_first_block) = channels[1];
    for tx in txs.iter().filter(|t| t.frames[0].id.channel == channels[0].0) {
        manager.tx_confirmed(&tx.id(), BlockNumHash::new(101, B256::ZERO));
    }
    let second_txs: Vec<_> = txs.iter().filter(|t| t.frames[0].id.channel == second).collect();
    let first_tx = second_txs[0].id();
    manager.tx_confirmed(&first_tx, BlockNumHash::new(101, B256::ZERO));
    assert_eq!(manager.channels().len(), channels.len(), "one confirmation times nothing out");
    assert!(second_txs.len() >= 2, "three-frame channels, one frame per calldata tx");
    let later = second_txs[1].id();
    manager.tx_confirmed(&later, BlockNumHash::new(101 + CHANNEL_TIMEOUT, B256::ZERO));
    let remaining: Vec<_> = manager.channels().iter().map(|c| c.id()).collect();
    assert_eq!(remaining, vec![channels[0].0], "the timed-out channel and every newer one are dropped");
    assert_eq!(
        manager.blocks()[manager.block_cursor()].number(),
        second_first_block,
        "the cursor rewinds to the dropped channel's first block"
    );
    let rebuilt = drain(&mut manager, 200, &mut rng);
    assert!(!rebuilt.is_empty() && rebuilt.iter().all(|t| t.frames[0].id.channel != second), "new channels");
}

#[test]
fn a_failed_transaction_rewinds_its_frames() {
    let mut manager = ChannelManager::new(config(1_000, false, 0));
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for block in chain(6, B256::ZERO, 1, 4, 7) {
        manager.add_l2_block(block).unwrap();
    }
    let first = manager.tx_data(100, PubInfo::default(), &mut rng, |c| *c).unwrap().expect("data");
    let second = manager.tx_data(100, PubInfo::default(), &mut rng, |c| *c).unwrap().expect("data");
    assert_ne!(first.id(), second.id());
    manager.tx_failed(&first.id());
    let again = manager.tx_data(100, PubInfo::default(), &mut rng, |c| *c).unwrap().expect("data");
    assert_eq!(again, first, "the failed tx's frames come back, byte for byte");
    manager.tx_failed(&first.id());
    manager.tx_failed(&first.id());
    let again = manager.tx_data(100, PubInfo::default(), &mut rng, |c| *c).unwrap().expect("data");
    assert_eq!(again, first, "an unknown id fails nothing");
}

#[test]
fn max_duration_closes_a_channel_from_the_last_submitted_origin() {
    // Blob channel with a big frame: never full from these blocks, so only a timeout closes it.
    let mut manager = ChannelManager::new(config(130_043, true, 2));
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    manager.clear(BlockNumHash::new(10, B256::ZERO));
    let mut blocks = chain(8, B256::ZERO, 1, 3, 7).into_iter();
    // As upstream, the timeout is checked when new blocks go into the channel.
    manager.add_l2_block(blocks.next().unwrap()).unwrap();
    assert!(manager.tx_data(11, PubInfo::default(), &mut rng, |c| *c).unwrap().is_none(), "not yet");
    manager.add_l2_block(blocks.next().unwrap()).unwrap();
    let ignore = PubInfo { ignore_max_channel_duration: true, ..Default::default() };
    assert!(
        manager.tx_data(12, ignore, &mut rng, |c| *c).unwrap().is_none(),
        "ignored while loading a backlog"
    );
    manager.add_l2_block(blocks.next().unwrap()).unwrap();
    let data = manager.tx_data(12, PubInfo::default(), &mut rng, |c| *c).unwrap().expect("closed at 10 + 2");
    assert!(data.as_blob);
    let channel = &manager.channels()[0];
    assert_eq!(channel.full_reason(), Some(&FullReason::MaxDurationReached));
}

#[test]
fn the_sequencing_window_and_channel_timeout_close_a_channel_with_margin() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut channel = Channel::new(config(130_043, true, 0), 0, &mut rng).unwrap();
    let epoch = 40;
    channel.add_block(&chain(10, B256::ZERO, 1, 1, epoch)[0]).unwrap();
    assert_eq!(channel.timeout(), epoch + SEQ_WINDOW - MARGIN);
    channel.check_timeout(epoch + SEQ_WINDOW - MARGIN - 1);
    assert!(!channel.is_full());
    channel.check_timeout(epoch + SEQ_WINDOW - MARGIN);
    assert_eq!(channel.full_reason(), Some(&FullReason::SeqWindowClose));

    let mut manager = ChannelManager::new(config(1_000, false, 0));
    for block in chain(11, B256::ZERO, 1, 3, 7) {
        manager.add_l2_block(block).unwrap();
    }
    let tx = manager.tx_data(100, PubInfo::default(), &mut rng, |c| *c).unwrap().unwrap();
    manager.tx_confirmed(&tx.id(), BlockNumHash::new(500, B256::ZERO));
    let timeout = manager.channels()[0].timeout();
    assert_eq!(timeout, 500 + CHANNEL_TIMEOUT - MARGIN, "a confirmed frame starts the channel timeout");
}

#[test]
fn force_publish_with_no_current_channel_is_a_no_op() {
    // Upstream 18701: getReadyChannel dereferenced a nil current channel on force publish.
    let mut manager = ChannelManager::new(config(1_000, false, 0));
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let force = PubInfo { force_publish: true, ..Default::default() };
    assert_eq!(manager.tx_data(5, force, &mut rng, |c| *c).unwrap(), None);
    // With blocks but a full (closed) current channel pruned away, force publish opens and closes.
    let mut manager = ChannelManager::new(config(130_043, true, 0));
    for block in chain(12, B256::ZERO, 1, 2, 7) {
        manager.add_l2_block(block).unwrap();
    }
    assert!(manager.tx_data(5, PubInfo::default(), &mut rng, |c| *c).unwrap().is_none(), "filling");
    let data = manager.tx_data(5, force, &mut rng, |c| *c).unwrap().expect("force-closed");
    assert_eq!(manager.channels()[0].full_reason(), Some(&FullReason::Terminated));
    assert!(data.frames.last().is_some());
}

#[test]
fn a_channel_with_no_confirmations_is_not_timed_out() {
    // Upstream 12363: max - min inclusion block over no confirmations read the sentinels.
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let channel = Channel::new(config(1_000, false, 0), 0, &mut rng).unwrap();
    assert!(!channel.is_timed_out());
    assert!(!channel.is_fully_submitted());
}

#[test]
fn unsafe_da_bytes_count_pending_blocks_then_channel_output() {
    let mut manager = ChannelManager::new(config(1_000, false, 0));
    let mut rng = ChaCha8Rng::seed_from_u64(15);
    let blocks = chain(16, B256::ZERO, 1, 5, 7);
    let estimated: u64 = blocks.iter().map(|b| b.estimated_da_bytes).sum();
    for block in blocks {
        manager.add_l2_block(block).unwrap();
    }
    assert_eq!(manager.unsafe_da_bytes(), estimated, "all blocks pending");
    drain(&mut manager, 100, &mut rng);
    let output: u64 = manager.channels().iter().map(|c| c.output_bytes() as u64).sum();
    let open: u64 = manager
        .channels()
        .iter()
        .filter(|c| c.total_frames() == 0)
        .flat_map(|c| c.blocks())
        .map(|b| b.estimated_da_bytes)
        .sum();
    let pending: u64 =
        manager.blocks().iter().skip(manager.block_cursor()).map(|b| b.estimated_da_bytes).sum();
    assert_eq!(manager.unsafe_da_bytes(), output + open + pending);
    manager.clear(BlockNumHash::default());
    assert_eq!(manager.unsafe_da_bytes(), 0, "nothing pending after clear (upstream 14518)");
}
