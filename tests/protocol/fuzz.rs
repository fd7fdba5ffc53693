//! Arbitrary and mutated bytes into every decoder: typed errors, never a panic.

use crate::common::{build_channel, chain, config, ChainShape, BLOCK_TIME, CHAIN_ID, GENESIS_TIME};
use alloy_eips::eip4844::Blob;
use proptest::prelude::*;
use rollsim::protocol::{
    batch::{Batch, BatchType, SingularBatch},
    blob::decode_blob,
    channel_in::ChannelIn,
    compression::{decompress, CompressionAlgo},
    compressor::CompressorKind,
    frame::{parse_frames, Frame},
    span_batch::{RawSpanBatch, SpanBatchBuilder},
    tx_data::{parse_alt_da, parse_tx_data},
};

fn every_decoder(data: &[u8]) {
    let _ = parse_frames(data);
    let _ = Frame::decode(data);
    let _ = parse_tx_data(data);
    let _ = parse_alt_da(data);
    let _ = decompress(data, 1 << 20);
    let _ = SingularBatch::decode_rlp(data);
    let _ = Batch::decode(data);
    let _ = Batch::decode_channel(data);
    if let Ok(raw) = RawSpanBatch::decode(data) {
        let _ = raw.derive(BLOCK_TIME, GENESIS_TIME, CHAIN_ID);
    }
    let mut blob = Blob::ZERO;
    let n = data.len().min(blob.len());
    blob[..n].copy_from_slice(&data[..n]);
    let _ = decode_blob(&blob);
}

/// A valid span batch and a valid compressed channel to mutate.
fn valid_inputs(seed: u64) -> Vec<Vec<u8>> {
    let blocks = chain(seed, ChainShape { blocks: 4, max_txs: 4, max_data_bytes: 64 });
    let mut span = SpanBatchBuilder::new(GENESIS_TIME, CHAIN_ID);
    for b in &blocks {
        let (batch, l1) = SingularBatch::from_block(b).unwrap();
        span.append(&batch, l1.sequence_number).unwrap();
    }
    let mut span_bytes = vec![BatchType::Span as u8];
    span.raw().encode(&mut span_bytes);
    let cfg = config(BatchType::Singular, CompressionAlgo::Zlib, CompressorKind::Shadow, 100_000, 1);
    let (_, frames) = build_channel(&cfg, &blocks, seed);
    vec![span_bytes, frames[0].data.clone(), frames[0].encode()]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..2_000)) {
        every_decoder(&data);
    }

    #[test]
    fn mutated_encodings_never_panic(seed in 0u64..8, which in 0usize..3, edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4), cut in any::<prop::sample::Index>()) {
        let mut data = valid_inputs(seed).swap_remove(which);
        for (at, byte) in edits {
            let i = at.index(data.len());
            data[i] = byte;
        }
        every_decoder(&data);
        every_decoder(&data[..cut.index(data.len() + 1)]);
        let mut ch = ChannelIn::new([0; 16]);
        if let Ok((frame, _)) = Frame::decode(&data) {
            let mut frame = frame;
            frame.id = [0; 16];
            frame.number = 0;
            frame.is_last = true;
            let _ = ch.add_frame(frame);
            let _ = ch.read_batches(1 << 20);
        }
    }
}
