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

/// EIP-7918's `BLOB_BASE_COST`: from Osaka a blob's price is held up to this much execution gas.
const BLOB_BASE_COST: u128 = 1 << 13;

/// The blob base fee a blob transaction should be judged at. From Osaka (EIP-7918) the blob
/// fee market is anchored to a reserve price of `BLOB_BASE_COST * base_fee / BLOB_GAS_PER_BLOB`:
/// while the blob fee is below it, excess blob gas only rises, so the reserve is where the blob
/// fee is heading, and a batcher comparing at the bare blob fee picks blobs the chain is pricing up.
pub fn reserve_priced_blob_fee(caps: &GasPriceCaps, osaka: bool) -> u128 {
    if !osaka {
        return caps.blob_base_fee;
    }
    caps.blob_base_fee.max(BLOB_BASE_COST * caps.base_fee / BLOB_GAS_PER_BLOB)
}

/// `auto` DA's choice (op-batcher's `DynamicEthChannelConfig`): the cheaper of one full calldata
/// transaction and one full blob transaction per byte of data, blobs priced at
/// [`reserve_priced_blob_fee`]; blobs while throttling.
pub fn auto_uses_blobs(
    blob: &ChannelConfig,
    calldata: &ChannelConfig,
    caps: &GasPriceCaps,
    osaka: bool,
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
    let blob_cost = TX_GAS * price + BLOB_GAS_PER_BLOB * blobs * reserve_priced_blob_fee(caps, osaka);
    let blob_bytes = MAX_BLOB_DATA_SIZE as u128 * blobs;
    // blob_cost / blob_bytes > calldata_cost / calldata_bytes  =>  calldata
    blob_cost * calldata_bytes <= calldata_cost * blob_bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    const GWEI: u128 = 1_000_000_000;

    fn configs() -> (ChannelConfig, ChannelConfig) {
        let mut config = BatcherConfig::new(crate::batcher::config::RollupParams {
            l1_chain_id: 1,
            l2_chain_id: 10,
            batch_inbox: Default::default(),
            l2_genesis_timestamp: 0,
            l2_block_time_s: 2,
            seq_window_size: 3600,
            channel_timeout: 50,
            genesis_l1: Default::default(),
        });
        config.target_num_frames = 6;
        (ChannelConfig::new(&config, DaType::Blobs), ChannelConfig::new(&config, DaType::Calldata))
    }

    fn caps(base_fee: u128, blob_base_fee: u128) -> GasPriceCaps {
        GasPriceCaps { tip: GWEI, base_fee, blob_tip: GWEI, blob_base_fee, l1_timestamp: 0 }
    }

    #[test]
    fn the_reserve_price_binds_from_osaka_when_blobs_are_cheap() {
        // Reserve at a 10 gwei base fee: 8192 * 10 gwei / 131072 = 0.625 gwei.
        let c = caps(10 * GWEI, 1);
        assert_eq!(reserve_priced_blob_fee(&c, false), 1);
        assert_eq!(reserve_priced_blob_fee(&c, true), 625_000_000);
        assert_eq!(reserve_priced_blob_fee(&caps(10 * GWEI, GWEI), true), GWEI);
    }

    #[test]
    fn auto_switches_to_calldata_where_the_blob_fee_crosses_the_calldata_price() {
        let (blob, calldata) = configs();
        // Calldata costs 40 gas per byte at the floor; a blob byte costs about 1 blob gas, so the
        // break-even blob fee is near 40 * (base fee + tip).
        let price = 2 * GWEI;
        assert!(auto_uses_blobs(&blob, &calldata, &caps(GWEI, 30 * price), false, false));
        assert!(!auto_uses_blobs(&blob, &calldata, &caps(GWEI, 50 * price), false, false));
        assert!(auto_uses_blobs(&blob, &calldata, &caps(GWEI, 50 * price), false, true), "throttling");
    }
}
