//! Fullness rules: shadow channels fill their target, the first block always fits, span channels
//! revert the block that overflows, ratio channels stop at target / ratio.

use crate::common::{build_channel, chain, config, ChainShape};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rollsim::protocol::{
    batch::BatchType,
    channel_out::{ChannelOut, ChannelOutError, FullReason},
    compression::CompressionAlgo,
    compressor::{Compressor, CompressorConfig, CompressorError, CompressorKind},
};

/// Three blob-sized frames, so one block is a small part of a channel (fill is lost at block
/// granularity); realistic txs (signatures incompressible, calldata partly so).
#[test]
fn shadow_channels_fill_their_target() {
    let blocks = chain(7, ChainShape { blocks: 1_000, max_txs: 10, max_data_bytes: 1_000 });
    for batch_type in [BatchType::Singular, BatchType::Span] {
        for algo in [CompressionAlgo::Zlib, CompressionAlgo::Brotli10] {
            let cfg = config(batch_type, algo, CompressorKind::Shadow, 130_043, 3);
            let (accepted, frames) = build_channel(&cfg, &blocks, 1);
            assert!(accepted < blocks.len(), "{batch_type:?} {algo}: channel never filled");
            let out: usize = frames.iter().map(|f| f.data.len()).sum();
            let fill = out as f64 / cfg.target_output_bytes() as f64;
            assert!(out <= cfg.target_output_bytes(), "{batch_type:?} {algo}: {out} over target");
            println!("{batch_type:?} {algo}: {accepted} blocks, fill {fill:.4}");
            assert!(fill >= 0.99, "{batch_type:?} {algo}: fill {fill:.4}");
        }
    }
}

/// A first block larger than the whole target is accepted (and fills the channel), for every
/// algorithm, compressor and batch type: otherwise the batcher would loop on empty channels.
#[test]
fn first_block_always_accepted() {
    let big = chain(3, ChainShape { blocks: 2, max_txs: 40, max_data_bytes: 4_000 });
    for batch_type in [BatchType::Singular, BatchType::Span] {
        for algo in CompressionAlgo::ALL {
            for kind in CompressorKind::ALL {
                let cfg = config(batch_type, algo, kind, 200, 1);
                let mut channel = ChannelOut::new(&cfg, &mut ChaCha8Rng::seed_from_u64(0)).unwrap();
                channel.add_block(&big[0]).expect("first block accepted");
                // The none compressor measures only flushed output, so it may notice later.
                if kind != CompressorKind::None || batch_type == BatchType::Span {
                    assert!(channel.full_reason().is_some(), "{batch_type:?} {algo} {kind}: not full");
                    assert!(matches!(channel.add_block(&big[1]), Err(ChannelOutError::Full(_))));
                    assert_eq!(channel.block_count(), 1);
                }
            }
        }
    }
}

/// Span channels: when a block pushes the output past the target it is reverted, and the output
/// stays within the target.
#[test]
fn span_channel_reverts_the_overflowing_block() {
    let blocks = chain(11, ChainShape { blocks: 400, max_txs: 10, max_data_bytes: 1_000 });
    let cfg = config(BatchType::Span, CompressionAlgo::Zlib, CompressorKind::Shadow, 20_000, 1);
    let mut channel = ChannelOut::new(&cfg, &mut ChaCha8Rng::seed_from_u64(0)).unwrap();
    let mut added = 0;
    let err = loop {
        match channel.add_block(&blocks[added]) {
            Ok(_) => added += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(err, ChannelOutError::Full(FullReason::CompressorFull));
    assert_eq!(channel.block_count(), added);
    assert!(channel.ready_bytes() <= cfg.target_output_bytes());
    assert!(channel.ready_bytes() > 0);
}

/// Span batches respect the per-batch block limit: the channel holds several span batches.
#[test]
fn span_batches_split_at_max_blocks() {
    let blocks = chain(5, ChainShape { blocks: 10, max_txs: 3, max_data_bytes: 100 });
    let mut cfg = config(BatchType::Span, CompressionAlgo::Zlib, CompressorKind::Shadow, 130_043, 1);
    cfg.max_blocks_per_span_batch = 4;
    let (accepted, frames) = build_channel(&cfg, &blocks, 0);
    assert_eq!(accepted, 10);
    let mut ch = rollsim::protocol::channel_in::ChannelIn::new(frames[0].id);
    frames.into_iter().for_each(|f| ch.add_frame(f).unwrap());
    let batches = ch.read_batches(1 << 20).unwrap();
    let sizes: Vec<usize> = batches
        .iter()
        .map(|b| match b {
            rollsim::protocol::batch::Batch::Span(s) => s.block_count(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(sizes, vec![4, 4, 2]);
}

/// The ratio compressor is full once input reaches target / ratio; the RLP limit stops channels.
#[test]
fn ratio_threshold_and_rlp_limit() {
    let cfg = CompressorConfig {
        target_output_bytes: 600,
        approx_compr_ratio: 0.6,
        kind: CompressorKind::Ratio,
        algo: CompressionAlgo::Zlib,
    };
    let mut c = Compressor::new(&cfg);
    c.write(&[0; 999]).unwrap();
    assert!(!c.is_full());
    c.write(&[0; 1]).unwrap();
    assert!(c.is_full());
    assert_eq!(c.write(&[0]), Err(CompressorError::Full));

    let blocks = chain(9, ChainShape { blocks: 50, max_txs: 5, max_data_bytes: 500 });
    let mut cfg = config(BatchType::Singular, CompressionAlgo::Zlib, CompressorKind::Shadow, 130_043, 1);
    cfg.max_rlp_bytes_per_channel = 5_000;
    let mut channel = ChannelOut::new(&cfg, &mut ChaCha8Rng::seed_from_u64(0)).unwrap();
    let err = blocks.iter().find_map(|b| channel.add_block(b).err()).unwrap();
    assert_eq!(err, ChannelOutError::Full(FullReason::TooManyRlpBytes));
    assert!(channel.input_bytes() <= 5_000);
}

/// Channel ids come from the caller's RNG: the same seed gives the same frames, byte for byte.
#[test]
fn channels_are_deterministic_in_the_seed() {
    let blocks = chain(2, ChainShape { blocks: 30, max_txs: 5, max_data_bytes: 300 });
    let cfg = config(BatchType::Span, CompressionAlgo::Brotli10, CompressorKind::Shadow, 1_000, 2);
    let (_, a) = build_channel(&cfg, &blocks, 42);
    let (_, b) = build_channel(&cfg, &blocks, 42);
    let (_, c) = build_channel(&cfg, &blocks, 43);
    assert_eq!(a, b);
    assert_ne!(a[0].id, c[0].id);
}
