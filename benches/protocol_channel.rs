//! Channel building throughput (MiB/s of L2 transaction bytes) and frame fill of full channels.
//!
//! Workload: the baseline's mix, 20 user txs per block, 70% transfers and 30% calldata txs of
//! 200-2,000 bytes, with incompressible signatures. Compares shadow+zlib and shadow+brotli-10 channel
//! building with one-shot zlib-9 of the same batch bytes (the shadow compressor compresses twice).
//! Run natively: `RUSTFLAGS= cargo bench -p rollsim --bench protocol_channel`.

mod common;

use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, Bytes};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use op_alloy_consensus::OpBlock;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rollsim::protocol::{
    batch::{singular_channel_entry, BatchType, SingularBatch},
    channel_out::{ChannelOut, ChannelOutConfig, ChannelOutError, FJORD_MAX_RLP_BYTES_PER_CHANNEL},
    compression::CompressionAlgo,
    compressor::CompressorKind,
};

const BLOCKS: usize = 600;
const MAX_FRAME_SIZE: usize = 130_043;

/// 70% transfers, 30% calldata of 200-2,000 bytes (12 zero bytes of each 32-byte word).
fn blocks() -> Vec<OpBlock> {
    let input = |rng: &mut ChaCha8Rng| -> Bytes {
        if !rng.gen_ratio(3, 10) {
            return Bytes::new();
        }
        let len = rng.gen_range(200..2_000);
        (0..len).map(|i| if i % 32 < 20 { 0 } else { rng.gen() }).collect::<Vec<u8>>().into()
    };
    common::blocks(BLOCKS as u64, 20, input, |rng| Address::with_last_byte(rng.gen()))
}

fn config(algo: CompressionAlgo) -> ChannelOutConfig {
    ChannelOutConfig {
        max_frame_size: MAX_FRAME_SIZE,
        target_num_frames: 1,
        compressor: CompressorKind::Shadow,
        algo,
        approx_compr_ratio: 0.6,
        batch_type: BatchType::Singular,
        max_blocks_per_span_batch: 0,
        max_rlp_bytes_per_channel: FJORD_MAX_RLP_BYTES_PER_CHANNEL,
        chain_id: 901,
        genesis_timestamp: 1_000,
    }
}

/// Builds channels over all blocks; returns the fill (output / target) of each full channel.
fn build_all(cfg: &ChannelOutConfig, blocks: &[OpBlock]) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut fills = Vec::new();
    let mut next = 0;
    while next < blocks.len() {
        let mut channel = ChannelOut::new(cfg, &mut rng).expect("config");
        while next < blocks.len() && channel.full_reason().is_none() {
            match channel.add_block(&blocks[next]) {
                Ok(_) => next += 1,
                Err(ChannelOutError::Full(_)) => break,
                Err(e) => panic!("{e}"),
            }
        }
        let full = channel.full_reason().is_some();
        channel.close().expect("close");
        let mut out_bytes = 0;
        loop {
            let (frame, last) = channel.output_frame(cfg.max_frame_size).expect("frame");
            out_bytes += frame.data.len();
            if last {
                break;
            }
        }
        if full {
            fills.push(out_bytes as f64 / cfg.target_output_bytes() as f64);
        }
    }
    fills
}

fn bench(c: &mut Criterion) {
    let blocks = blocks();
    let tx_bytes: usize =
        blocks.iter().flat_map(|b| &b.body.transactions[1..]).map(|tx| tx.encode_2718_len()).sum();
    let entries: Vec<u8> = blocks
        .iter()
        .flat_map(|b| singular_channel_entry(&SingularBatch::from_block(b).expect("block").0))
        .collect();
    for algo in [CompressionAlgo::Zlib, CompressionAlgo::Brotli10] {
        let fills = build_all(&config(algo), &blocks);
        let mean = fills.iter().sum::<f64>() / fills.len() as f64;
        println!("frame fill {algo}: {:.2}% mean over {} full channels", 100.0 * mean, fills.len());
    }
    let mut group = c.benchmark_group("channel");
    group.throughput(Throughput::Bytes(tx_bytes as u64));
    group.sample_size(10);
    for algo in [CompressionAlgo::Zlib, CompressionAlgo::Brotli10] {
        let cfg = config(algo);
        group.bench_function(format!("shadow+{algo}"), |b| b.iter(|| build_all(&cfg, &blocks)));
    }
    group.bench_function("one-shot zlib-9", |b| {
        b.iter(|| miniz_oxide::deflate::compress_to_vec_zlib(&entries, 9))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
