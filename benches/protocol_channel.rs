//! Channel building throughput (MiB/s of L2 transaction bytes) and frame fill of full channels.
//!
//! Workload: the baseline's mix, 20 user txs per block, 70% transfers and 30% calldata txs of
//! 200-2,000 bytes, with incompressible signatures. Compares shadow+zlib and shadow+brotli-10 channel
//! building with one-shot zlib-9 of the same batch bytes (the shadow compressor compresses twice).
//! Run natively: `RUSTFLAGS= cargo bench -p rollsim --bench protocol_channel`.

use alloy_consensus::{Block, BlockBody, Header, SignableTransaction, TxEip1559};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, Bytes, Sealed, Signature, TxKind, B256, U256};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use op_alloy_consensus::{OpBlock, OpTxEnvelope, TxDeposit};
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

fn blocks() -> Vec<OpBlock> {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    (0..BLOCKS as u64)
        .map(|n| {
            let mut calldata = vec![0u8; 164];
            calldata[..4].copy_from_slice(&[0x44, 0x0a, 0x5e, 0x20]);
            calldata[28..36].copy_from_slice(&(n / 6).to_be_bytes());
            calldata[100..132].copy_from_slice(&[(n / 6) as u8; 32]);
            let deposit = TxDeposit { input: calldata.into(), ..Default::default() };
            let mut txs = vec![OpTxEnvelope::Deposit(Sealed::new_unchecked(deposit, B256::ZERO))];
            for _ in 0..20 {
                let input: Bytes = if rng.gen_ratio(3, 10) {
                    let len = rng.gen_range(200..2_000);
                    (0..len).map(|i| if i % 32 < 20 { 0 } else { rng.gen() }).collect::<Vec<u8>>().into()
                } else {
                    Bytes::new()
                };
                let tx = TxEip1559 {
                    chain_id: 901,
                    nonce: rng.gen_range(0..10_000),
                    gas_limit: 21_000 + 16 * input.len() as u64,
                    max_fee_per_gas: 1_000_000_000 + rng.gen_range(0..1_000),
                    max_priority_fee_per_gas: 1_000_000,
                    to: TxKind::Call(Address::with_last_byte(rng.gen())),
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
