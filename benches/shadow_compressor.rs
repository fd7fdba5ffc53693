//! Compression time per channel of the shadow compressor at a 3-blob target, native only:
//! `RUSTFLAGS= cargo bench -p rollsim --bench shadow_compressor`.
//!
//! Blocks as the baseline workload makes them (sim/src/l2/workload.rs): 20 user txs, 40% transfers,
//! 45% contract calls (a selector and two ABI words), 15% calldata txs of 200-2,000 random bytes of
//! which about 35% are zero (`calldata_zero_share`), every tx with an incompressible signature. One
//! iteration fills one channel from the same blocks: singular channel entries written until the
//! compressor is full, frames read as they become ready, then the stream closed and drained.

use alloy_consensus::{Block, BlockBody, Header, SignableTransaction, TxEip1559};
use alloy_primitives::{Address, Bytes, Sealed, Signature, TxKind, B256, U256};
use criterion::{criterion_group, criterion_main, Criterion};
use op_alloy_consensus::{OpBlock, OpTxEnvelope, TxDeposit};
use rand::{Rng, SeedableRng};
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
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    (0..BLOCKS)
        .map(|n| {
            // The L1-info deposit: a selector, then the origin's number and hash at their offsets.
            let mut calldata = vec![0u8; 164];
            calldata[..4].copy_from_slice(&[0x44, 0x0a, 0x5e, 0x20]);
            calldata[28..36].copy_from_slice(&(n / 6).to_be_bytes());
            calldata[100..132].copy_from_slice(&[(n / 6) as u8; 32]);
            let deposit = TxDeposit { input: calldata.into(), ..Default::default() };
            let mut txs = vec![OpTxEnvelope::Deposit(Sealed::new_unchecked(deposit, B256::ZERO))];
            for _ in 0..TXS_PER_BLOCK {
                let input = input(&mut rng);
                let tx = TxEip1559 {
                    chain_id: 901,
                    nonce: rng.gen_range(0..10_000),
                    gas_limit: 21_000 + 16 * input.len() as u64,
                    max_fee_per_gas: 1_000_000_000 + rng.gen_range(0..1_000),
                    max_priority_fee_per_gas: 1_000_000,
                    to: TxKind::Call(Address::from(rng.gen::<[u8; 20]>())),
                    value: U256::from(rng.gen::<u64>()),
                    access_list: Default::default(),
                    input,
                };
                let sig = Signature::new(
                    U256::from_be_bytes(rng.gen::<[u8; 32]>()),
                    U256::from_be_bytes(rng.gen::<[u8; 32]>()),
                    rng.gen(),
                );
                txs.push(OpTxEnvelope::Eip1559(tx.into_signed(sig)));
            }
            let header = Header { number: n, timestamp: 1_000 + 2 * n, ..Default::default() };
            Block { header, body: BlockBody { transactions: txs, ommers: vec![], withdrawals: None } }
        })
        .collect()
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
