//! Per-channel settings, and the choice between blobs and calldata for `auto` DA.

use super::{
    config::{BatcherConfig, DaType},
    txmgr::GasPriceCaps,
};
use crate::protocol::{
    batch::BatchType, blob::MAX_BLOB_DATA_SIZE, channel_out::ChannelOutConfig, compression::CompressionAlgo,
    compressor::CompressorKind, frame::FRAME_OVERHEAD,
};

/// The settings a channel is built with; fixed for its life.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChannelConfig {
    pub seq_window_size: u64,
    pub channel_timeout: u64,
    pub max_channel_duration: u64,
    pub sub_safety_margin: u64,
    pub max_frame_size: usize,
    pub target_num_frames: usize,
    pub use_blobs: bool,
    pub batch_type: BatchType,
    pub max_blocks_per_span_batch: usize,
    pub compressor: CompressorKind,
    pub compression_algo: CompressionAlgo,
    pub approx_compr_ratio: f64,
    pub l2_chain_id: u64,
    pub l2_genesis_timestamp: u64,
}

impl ChannelConfig {
    /// The channel config for `da` from the batcher's config.
    pub fn new(config: &BatcherConfig, da: DaType) -> Self {
        let calldata = da == DaType::Calldata;
        Self {
            seq_window_size: config.rollup.seq_window_size,
            channel_timeout: config.rollup.channel_timeout,
            max_channel_duration: config.max_channel_duration,
            sub_safety_margin: config.sub_safety_margin,
            max_frame_size: config.max_frame_size(da),
            target_num_frames: if calldata { 1 } else { config.target_num_frames },
            use_blobs: matches!(da, DaType::Blobs | DaType::Auto),
            batch_type: config.batch_type,
            max_blocks_per_span_batch: config.max_blocks_per_span_batch,
            compressor: config.compressor,
            compression_algo: config.compression_algo,
            approx_compr_ratio: config.approx_compr_ratio,
            l2_chain_id: config.rollup.l2_chain_id,
            l2_genesis_timestamp: config.rollup.l2_genesis_timestamp,
        }
    }

    /// Frames per transaction: calldata carries one, a blob transaction the target number.
    pub fn max_frames_per_tx(&self) -> usize {
        if self.use_blobs {
            self.target_num_frames
        } else {
            1
        }
    }

    /// Compressed bytes a channel aims for: every frame full.
    pub fn target_output_size(&self) -> usize {
        self.target_num_frames * (self.max_frame_size - FRAME_OVERHEAD)
    }

    pub fn channel_out_config(&self) -> ChannelOutConfig {
        ChannelOutConfig {
            max_frame_size: self.max_frame_size,
            target_num_frames: self.target_num_frames,
            compressor: self.compressor,
            algo: self.compression_algo,
            approx_compr_ratio: self.approx_compr_ratio,
            batch_type: self.batch_type,
            max_blocks_per_span_batch: self.max_blocks_per_span_batch,
            max_rlp_bytes_per_channel: crate::protocol::channel_out::FJORD_MAX_RLP_BYTES_PER_CHANNEL,
            chain_id: self.l2_chain_id,
            genesis_timestamp: self.l2_genesis_timestamp,
        }
    }
}

/// Gas per blob (EIP-4844).
const BLOB_GAS_PER_BLOB: u128 = 131_072;
/// EIP-7623's floor cost per calldata token, which Pectra makes the price of batcher calldata.
const FLOOR_COST_PER_TOKEN: u128 = 10;
const TX_GAS: u128 = 21_000;

/// `auto` DA's choice (op-batcher's `DynamicEthChannelConfig`): the cheaper of one full calldata
/// transaction and one full blob transaction per byte of data; blobs while throttling.
pub fn auto_uses_blobs(
    blob: &ChannelConfig,
    calldata: &ChannelConfig,
    caps: &GasPriceCaps,
    is_throttling: bool,
) -> bool {
    if is_throttling {
        return true;
    }
    let calldata_bytes = calldata.max_frame_size as u128 + 1;
    let tokens = calldata_bytes * 4;
    let price = caps.base_fee + caps.tip;
    let calldata_cost = (TX_GAS + tokens * FLOOR_COST_PER_TOKEN) * price;
    let blobs = blob.target_num_frames as u128;
    let blob_cost = TX_GAS * price + BLOB_GAS_PER_BLOB * blobs * caps.blob_base_fee;
    let blob_bytes = MAX_BLOB_DATA_SIZE as u128 * blobs;
    // blob_cost / blob_bytes > calldata_cost / calldata_bytes  =>  calldata
    blob_cost * calldata_bytes <= calldata_cost * blob_bytes
}
