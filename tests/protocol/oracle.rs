//! Cross-checks with kona-protocol: what we encode, kona decodes to the same blocks, and where kona
//! can encode, its bytes equal ours.

use crate::common::{build_channel, chain, config, ChainShape, BLOCK_TIME, CHAIN_ID, GENESIS_TIME};
use alloy_primitives::FixedBytes;
use alloy_rlp::Encodable;
use kona_genesis::{ChainGenesis, HardForkConfig, RollupConfig};
use kona_protocol::{Batch as KonaBatch, BatchReader, BlockInfo, Channel, SingleBatch, SpanBatch};
use op_alloy_consensus::OpBlock;
use proptest::prelude::*;
use rollsim::protocol::{
    batch::{l1_info_from_calldata, Batch, BatchType, SingularBatch},
    channel_in::ChannelIn,
    channel_out::FJORD_MAX_RLP_BYTES_PER_CHANNEL,
    compression::CompressionAlgo,
    compressor::CompressorKind,
    frame::{parse_frames, Frame},
    span_batch::{RawSpanBatch, SpanBatchBuilder},
    tx_data::calldata_from_frames,
};

fn rollup_config() -> RollupConfig {
    RollupConfig {
        genesis: ChainGenesis { l2_time: GENESIS_TIME, ..Default::default() },
        block_time: BLOCK_TIME,
        l2_chain_id: CHAIN_ID.into(),
        hardforks: HardForkConfig { fjord_time: Some(0), ..Default::default() },
        ..Default::default()
    }
}

fn kona_single(b: &SingularBatch) -> SingleBatch {
    SingleBatch {
        parent_hash: b.parent_hash,
        epoch_num: b.epoch_num,
        epoch_hash: b.epoch_hash,
        timestamp: b.timestamp,
        transactions: b.transactions.clone(),
    }
}

fn singular_batches(blocks: &[OpBlock]) -> Vec<(SingularBatch, u64)> {
    blocks
        .iter()
        .map(|b| {
            let (batch, l1) = SingularBatch::from_block(b).expect("block converts");
            (batch, l1.sequence_number)
        })
        .collect()
}

/// Reads one channel's frames with kona (frame parser, `Channel`, `BatchReader`) and checks that
/// it returns exactly `blocks`' batches: epoch, timestamp, transactions, and the parent hash where
/// the batch carries one (singular batches). `Err` says what differed.
pub fn kona_reads_channel(frames: &[Frame], blocks: &[OpBlock]) -> Result<(), String> {
    let first = frames.first().ok_or("no frames")?;
    let mut channel = Channel::new(first.id, BlockInfo::default());
    for frame in frames {
        let parsed = kona_protocol::Frame::parse_frames(&calldata_from_frames(std::slice::from_ref(frame)))
            .map_err(|e| format!("kona cannot parse frame {}: {e:?}", frame.number))?;
        if parsed.len() != 1 || parsed[0].data != frame.data {
            return Err(format!("kona parses frame {} differently", frame.number));
        }
        channel
            .add_frame(parsed[0].clone(), BlockInfo::default())
            .map_err(|e| format!("kona refuses frame {}: {e:?}", frame.number))?;
    }
    if !channel.is_ready() {
        return Err("kona's channel is not ready".into());
    }
    let data = channel.frame_data().ok_or("kona's channel holds no data")?;
    let mut reader = BatchReader::new(data.to_vec(), FJORD_MAX_RLP_BYTES_PER_CHANNEL);
    let rollup = rollup_config();
    let mut read = Vec::new();
    while let Some(batch) = reader.next_batch(&rollup) {
        match batch {
            KonaBatch::Single(b) => {
                read.push((b.epoch_num, b.timestamp, b.transactions, Some(b.parent_hash)))
            }
            KonaBatch::Span(s) => {
                read.extend(s.batches.into_iter().map(|e| (e.epoch_num, e.timestamp, e.transactions, None)))
            }
        }
    }
    if read.len() != blocks.len() {
        return Err(format!("kona read {} blocks of {}", read.len(), blocks.len()));
    }
    for (i, ((epoch, ts, txs, parent), (b, _))) in read.iter().zip(singular_batches(blocks)).enumerate() {
        if (*epoch, *ts, txs) != (b.epoch_num, b.timestamp, &b.transactions)
            || parent.is_some_and(|p| p != b.parent_hash)
        {
            return Err(format!("kona reads block {i} differently"));
        }
    }
    Ok(())
}

fn algo() -> impl Strategy<Value = CompressionAlgo> {
    prop::sample::select(CompressionAlgo::ALL.to_vec())
}

fn kind() -> impl Strategy<Value = CompressorKind> {
    prop::sample::select(CompressorKind::ALL.to_vec())
}

fn batch_type() -> impl Strategy<Value = BatchType> {
    prop_oneof![Just(BatchType::Singular), Just(BatchType::Span)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Channels of random blocks, every batch type, algorithm, compressor and frame size: kona
    /// parses the frames, assembles the channel and reads back exactly the accepted blocks' batches;
    /// our `ChannelIn` reads the same.
    #[test]
    fn channel_out_decodes_with_kona(
        seed in any::<u64>(),
        blocks in 1usize..24,
        max_txs in 0usize..8,
        batch_type in batch_type(),
        algo in algo(),
        kind in kind(),
        max_frame_size in 100usize..3_000,
        target_num_frames in 1usize..4,
    ) {
        let blocks = chain(seed, ChainShape { blocks, max_txs, max_data_bytes: 400 });
        let cfg = config(batch_type, algo, kind, max_frame_size, target_num_frames);
        let (accepted, frames) = build_channel(&cfg, &blocks, seed);
        prop_assert!(accepted >= 1, "the first block is always accepted");
        let expected = singular_batches(&blocks[..accepted]);

        prop_assert_eq!(kona_reads_channel(&frames, &blocks[..accepted]), Ok(()));

        let mut ours = ChannelIn::new(frames[0].id);
        for frame in &frames {
            ours.add_frame(frame.clone()).expect("we take the frame");
        }
        let mut our_blocks = Vec::new();
        for batch in ours.read_batches(FJORD_MAX_RLP_BYTES_PER_CHANNEL).expect("we read our channel") {
            match batch {
                Batch::Singular(b) => our_blocks.push(b),
                Batch::Span(raw) => our_blocks.extend(
                    raw.derive(BLOCK_TIME, GENESIS_TIME, CHAIN_ID).expect("derives").into_iter().map(|e| SingularBatch {
                        parent_hash: Default::default(),
                        epoch_num: e.epoch_num,
                        epoch_hash: Default::default(),
                        timestamp: e.timestamp,
                        transactions: e.transactions,
                    }),
                ),
            }
        }
        prop_assert_eq!(our_blocks.len(), accepted);
        for (got, (want, _)) in our_blocks.iter().zip(&expected) {
            prop_assert_eq!((got.epoch_num, got.timestamp, &got.transactions), (want.epoch_num, want.timestamp, &want.transactions));
        }
    }

    /// Span batches: our encoding equals kona's byte for byte, and each side decodes the other's to
    /// the same blocks.
    #[test]
    fn span_batch_bytes_equal_kona(seed in any::<u64>(), blocks in 1usize..12, max_txs in 0usize..10) {
        let batches = singular_batches(&chain(seed, ChainShape { blocks, max_txs, max_data_bytes: 300 }));
        let mut ours = SpanBatchBuilder::new(GENESIS_TIME, CHAIN_ID);
        let mut kona = SpanBatch { genesis_timestamp: GENESIS_TIME, chain_id: CHAIN_ID, ..Default::default() };
        for (batch, seq) in &batches {
            ours.append(batch, *seq).expect("append");
            kona.append_singular_batch(kona_single(batch), *seq).expect("kona append");
        }
        let mut our_bytes = Vec::new();
        ours.raw().encode(&mut our_bytes);
        let mut kona_bytes = Vec::new();
        kona.to_raw_span_batch().expect("raw").encode(&mut kona_bytes).expect("kona encode");
        prop_assert_eq!(&our_bytes, &kona_bytes);

        let mut typed = vec![BatchType::Span as u8];
        typed.extend_from_slice(&our_bytes);
        let KonaBatch::Span(decoded) = KonaBatch::decode(&mut typed.as_slice(), &rollup_config()).expect("kona decodes") else {
            panic!("kona read a singular batch");
        };
        let ours_decoded = RawSpanBatch::decode(&kona_bytes).expect("we decode kona's bytes");
        prop_assert_eq!(&ours_decoded, ours.raw());
        let elements = ours_decoded.derive(BLOCK_TIME, GENESIS_TIME, CHAIN_ID).expect("derive");
        prop_assert_eq!(elements.len(), decoded.batches.len());
        for ((e, k), (b, _)) in elements.iter().zip(&decoded.batches).zip(&batches) {
            prop_assert_eq!((e.epoch_num, e.timestamp, &e.transactions), (k.epoch_num, k.timestamp, &k.transactions));
            prop_assert_eq!(&e.transactions, &b.transactions);
        }
        prop_assert_eq!(decoded.parent_check, FixedBytes::<20>::from_slice(&batches[0].0.parent_hash[..20]));
    }

    /// Singular batches and frames encode as kona encodes them; L1-info deposits as kona writes
    /// them decode to the same origin.
    #[test]
    fn singular_batch_and_frame_bytes_equal_kona(seed in any::<u64>(), data in prop::collection::vec(any::<u8>(), 0..500), number: u16, is_last: bool) {
        let blocks = chain(seed, ChainShape { blocks: 3, max_txs: 6, max_data_bytes: 200 });
        for (block, (batch, seq)) in blocks.iter().zip(singular_batches(&blocks)) {
            let mut ours = Vec::new();
            batch.encode_rlp(&mut ours);
            let mut kona = Vec::new();
            kona_single(&batch).encode(&mut kona);
            prop_assert_eq!(&ours, &kona);
            prop_assert_eq!(SingularBatch::decode_rlp(&kona).expect("decodes"), batch.clone());
            let op_alloy_consensus::OpTxEnvelope::Deposit(deposit) = &block.body.transactions[0] else { panic!() };
            let info = l1_info_from_calldata(&deposit.input).expect("l1 info");
            let kona_info = kona_protocol::L1BlockInfoTx::decode_calldata(&deposit.input).expect("kona l1 info");
            prop_assert_eq!((info.number, info.hash, info.sequence_number), (kona_info.id().number, kona_info.id().hash, kona_info.sequence_number()));
            prop_assert_eq!(seq, info.sequence_number);
        }
        let frame = Frame { id: [seed as u8; 16], number, data: data.clone(), is_last };
        let kona = kona_protocol::Frame { id: frame.id, number, data, is_last };
        prop_assert_eq!(frame.encode(), kona.encode());
        prop_assert_eq!(parse_frames(&kona.encode()).expect("parses"), vec![frame]);
    }
}
