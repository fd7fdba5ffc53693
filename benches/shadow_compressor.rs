//! Compression time per channel of the shadow compressor at a 3-blob target, native only:
//! `RUSTFLAGS= cargo bench -p rollsim --bench shadow_compressor`.
//!
//! Blocks as the baseline workload makes them (sim/src/l2/workload.rs): 20 user txs, 40% transfers,
//! 45% contract calls (a selector and two ABI words), 15% calldata txs of 200-2,000 random bytes of
//! which about 35% are zero (`calldata_zero_share`), every tx with an incompressible signature. One
//! iteration fills one channel from the same blocks: singular channel entries written until the
//! compressor is full, frames read as they become ready, then the stream closed and drained.

mod common;

use alloy_primitives::{Address, Bytes};
use criterion::{criterion_group, criterion_main, Criterion};
use op_alloy_consensus::OpBlock;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rollsim::protocol::{
    batch::{singular_channel_entry, SingularBatch},
    blob::MAX_BLOB_DATA_SIZE,
    compression::CompressionAlgo,
    compressor::{Compressor, CompressorConfig, CompressorError, CompressorKind},
    frame::FRAME_OVERHEAD,
};
use std::hint::black_box;

const BLOCKS: u64 = 300;
const TXS_PER_BLOCK: usize = 20;
/// A blob frame: the blob's data less the tx data version byte.
const FRAME_DATA_BYTES: usize = MAX_BLOB_DATA_SIZE - 1 - FRAME_OVERHEAD;
const TARGET_OUTPUT_BYTES: usize = 3 * FRAME_DATA_BYTES;
/// Bytes below this become zero: 35% of uniformly random bytes.
const ZERO_BELOW: u8 = (0.35 * 256.0) as u8;

fn input(rng: &mut ChaCha8Rng) -> Bytes {
    let draw: f64 = rng.gen();
    if draw < 0.4 {
        return Bytes::new();
    }
    let mut data = rng.gen::<[u8; 4]>().to_vec();
    if draw < 0.85 {
        // An address and an amount, ABI-padded.
        data.extend([0u8; 12]);
        data.extend(rng.gen::<[u8; 20]>());
        data.extend([0u8; 24]);
        data.extend(rng.gen::<[u8; 8]>());
    } else {
        let len = rng.gen_range(200..=2_000);
        data.extend((0..len).map(|_| rng.gen::<u8>()).map(|b| if b < ZERO_BELOW { 0 } else { b }));
    }
    data.into()
}

fn blocks() -> Vec<OpBlock> {
    common::blocks(BLOCKS, TXS_PER_BLOCK, input, |rng| Address::from(rng.gen::<[u8; 20]>()))
}

/// Fills one channel from `entries`; returns the blocks accepted and the channel's bytes.
fn fill_channel(algo: CompressionAlgo, entries: &[Vec<u8>]) -> (usize, usize) {
    let mut c = Compressor::new(&CompressorConfig {
        target_output_bytes: TARGET_OUTPUT_BYTES,
        approx_compr_ratio: 0.6,
        kind: CompressorKind::Shadow,
        algo,
    });
    let mut frames = Vec::with_capacity(TARGET_OUTPUT_BYTES);
    let mut accepted = 0;
    for entry in entries {
        match c.write(entry) {
            Ok(()) => accepted += 1,
            Err(CompressorError::Full) => break,
            Err(e) => panic!("{e}"),
        }
        while c.len() >= FRAME_DATA_BYTES {
            c.read_into(FRAME_DATA_BYTES, &mut frames);
        }
        if c.is_full() {
            break;
        }
    }
    c.close().expect("close");
    c.read_into(usize::MAX, &mut frames);
    (accepted, frames.len())
}

fn bench(c: &mut Criterion) {
    let entries: Vec<Vec<u8>> = blocks()
        .iter()
        .map(|b| singular_channel_entry(&SingularBatch::from_block(b).expect("block").0))
        .collect();
    let mut group = c.benchmark_group("shadow_channel_3_blobs");
    group.sample_size(20);
    for algo in [CompressionAlgo::Zlib, CompressionAlgo::Brotli10] {
        let (accepted, out_bytes) = fill_channel(algo, &entries);
        assert!(accepted < entries.len(), "{algo}: the channel never filled");
        let in_bytes: usize = entries[..accepted].iter().map(Vec::len).sum();
        println!(
            "{algo}: {accepted} blocks, {in_bytes} bytes in, {out_bytes} out ({:.2}% of the target)",
            100.0 * out_bytes as f64 / TARGET_OUTPUT_BYTES as f64
        );
        group.bench_function(algo.to_string(), |b| b.iter(|| fill_channel(algo, black_box(&entries))));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
