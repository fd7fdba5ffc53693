//! The batcher's configuration, with op-batcher's defaults, and its validation.

use super::throttle::ThrottleConfig;
use crate::protocol::{
    batch::BatchType, compression::CompressionAlgo, compressor::CompressorKind, frame::FRAME_OVERHEAD,
};
use alloy_primitives::Address;
use std::{fmt, str::FromStr, time::Duration};

/// Where channel data goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DaType {
    /// One frame per transaction, in calldata.
    Calldata,
    /// Blob transactions, one blob per frame.
    #[default]
    Blobs,
    /// Blobs or calldata, whichever is cheaper, decided before a channel submits anything.
    Auto,
    /// Frames go to an AltDA server; L1 carries the commitment.
    AltDa,
}

impl FromStr for DaType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "calldata" => Ok(Self::Calldata),
            "blobs" => Ok(Self::Blobs),
            "auto" => Ok(Self::Auto),
            "altda" => Ok(Self::AltDa),
            other => {
                Err(format!("unknown data availability type {other:?} (calldata, blobs, auto or altda)"))
            }
        }
    }
}

impl fmt::Display for DaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Calldata => "calldata",
            Self::Blobs => "blobs",
            Self::Auto => "auto",
            Self::AltDa => "altda",
        })
    }
}

/// The rollup's parameters the batcher needs (from the rollup config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollupParams {
    pub l1_chain_id: u64,
    pub l2_chain_id: u64,
    pub batch_inbox: Address,
    pub l2_genesis_timestamp: u64,
    pub l2_block_time_s: u64,
    /// In L1 blocks.
    pub seq_window_size: u64,
    /// In L1 blocks (50 from Granite).
    pub channel_timeout: u64,
    /// The L1 block the L2 genesis is anchored to: where a fresh batcher starts its channels.
    pub genesis_l1: alloy_eips::BlockNumHash,
}

/// The transaction manager's settings (op-service/txmgr defaults for the batcher).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxMgrConfig {
    pub num_confirmations: u64,
    pub fee_limit_multiplier: u64,
    /// Fees under this are never refused by the multiplier limit.
    pub fee_limit_threshold_wei: u128,
    pub min_tip_wei: u128,
    pub min_base_fee_wei: u128,
    pub min_blob_fee_wei: u128,
    /// Bump fees when a transaction is not mined for this long.
    pub resubmission_timeout: Duration,
    pub network_timeout: Duration,
    pub retry_interval: Duration,
    pub max_retries: u64,
    /// Give up when no transaction of a send reached the mempool for this long.
    pub not_in_mempool_timeout: Duration,
    pub receipt_query_interval: Duration,
    pub safe_abort_nonce_too_low_count: u64,
    /// L1 time (unix seconds, compared with the L1 head's timestamp) from which blob
    /// transactions carry EIP-7594 cell proofs; `None` never (upstream's default, `MaxUint64`,
    /// replaced by the Osaka time of known chains).
    pub cell_proof_time: Option<u64>,
}

impl Default for TxMgrConfig {
    fn default() -> Self {
        const GWEI: u128 = 1_000_000_000;
        Self {
            num_confirmations: 10,
            fee_limit_multiplier: 5,
            fee_limit_threshold_wei: 100 * GWEI,
            min_tip_wei: GWEI,
            min_base_fee_wei: GWEI,
            min_blob_fee_wei: GWEI,
            resubmission_timeout: Duration::from_secs(48),
            network_timeout: Duration::from_secs(10),
            retry_interval: Duration::from_secs(1),
            max_retries: 10,
            not_in_mempool_timeout: Duration::from_secs(120),
            receipt_query_interval: Duration::from_secs(12),
            safe_abort_nonce_too_low_count: 3,
            cell_proof_time: None,
        }
    }
}

/// Everything the batcher is started with.
#[derive(Debug, Clone)]
pub struct BatcherConfig {
    pub rollup: RollupParams,
    pub poll_interval: Duration,
    pub network_timeout: Duration,
    /// Transactions in flight at once; 0 = unbounded.
    pub max_pending_transactions: usize,
    /// Close a channel this many L1 blocks after the last one was submitted; 0 = never.
    pub max_channel_duration: u64,
    /// L1 blocks of margin kept before the sequencing window and channel timeout close.
    pub sub_safety_margin: u64,
    pub max_l1_tx_size_bytes: usize,
    /// Frames per blob transaction (one blob each).
    pub target_num_frames: usize,
    pub da_type: DaType,
    pub compressor: CompressorKind,
    pub compression_algo: CompressionAlgo,
    pub approx_compr_ratio: f64,
    pub batch_type: BatchType,
    /// 0 = no limit.
    pub max_blocks_per_span_batch: usize,
    /// AltDA requests in flight at once; 0 = unbounded.
    pub max_concurrent_da_requests: usize,
    pub txmgr: TxMgrConfig,
    pub throttle: ThrottleConfig,
}

/// Blob data per blob, minus the version byte of the batcher transaction.
pub const MAX_BLOB_FRAME_SIZE: usize = crate::protocol::blob::MAX_BLOB_DATA_SIZE - 1;
/// Prague's blob limit per block bounds frames per blob transaction.
pub const MAX_BLOBS_PER_TX_PRAGUE: usize = 9;
/// Osaka's limit per transaction (EIP-7594).
pub const MAX_BLOBS_PER_TX_OSAKA: usize = 6;

impl BatcherConfig {
    /// op-batcher's defaults for a rollup.
    pub fn new(rollup: RollupParams) -> Self {
        Self {
            rollup,
            poll_interval: Duration::from_secs(6),
            network_timeout: Duration::from_secs(10),
            max_pending_transactions: 1,
            max_channel_duration: 0,
            sub_safety_margin: 10,
            max_l1_tx_size_bytes: 120_000,
            target_num_frames: 1,
            da_type: DaType::Blobs,
            compressor: CompressorKind::Shadow,
            compression_algo: CompressionAlgo::Zlib,
            approx_compr_ratio: 0.6,
            batch_type: BatchType::Singular,
            max_blocks_per_span_batch: 0,
            max_concurrent_da_requests: 1,
            txmgr: TxMgrConfig::default(),
            throttle: ThrottleConfig::default(),
        }
    }

    /// The largest frame for `da`.
    pub fn max_frame_size(&self, da: DaType) -> usize {
        match da {
            DaType::Calldata => self.max_l1_tx_size_bytes - 1,
            DaType::Blobs | DaType::Auto | DaType::AltDa => MAX_BLOB_FRAME_SIZE,
        }
    }

    /// Rejects what op-batcher rejects at startup; the error names the field.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let fail = |field, reason: String| Err((field, reason));
        if self.poll_interval.is_zero() {
            return fail("poll_interval", "must be positive".into());
        }
        if self.rollup.channel_timeout <= self.sub_safety_margin {
            return fail(
                "sub_safety_margin",
                format!(
                    "must be below the channel timeout ({}), got {}",
                    self.rollup.channel_timeout, self.sub_safety_margin
                ),
            );
        }
        if self.rollup.seq_window_size <= self.sub_safety_margin {
            return fail(
                "sub_safety_margin",
                format!(
                    "must be below the sequencing window ({}), got {}",
                    self.rollup.seq_window_size, self.sub_safety_margin
                ),
            );
        }
        if self.max_l1_tx_size_bytes <= FRAME_OVERHEAD + 1 {
            return fail(
                "max_l1_tx_size_bytes",
                format!(
                    "must exceed {} (frame overhead), got {}",
                    FRAME_OVERHEAD + 1,
                    self.max_l1_tx_size_bytes
                ),
            );
        }
        if self.target_num_frames == 0 {
            return fail("target_num_frames", "must be at least 1".into());
        }
        // The limit of the fork the batcher will meet: once it sends cell proofs (Osaka), 6.
        // op-batcher checked against Prague's 9 only, so 7-9 frames were refused after Osaka.
        let (max_blobs, fork) = match self.txmgr.cell_proof_time {
            Some(_) => (MAX_BLOBS_PER_TX_OSAKA, "Osaka"),
            None => (MAX_BLOBS_PER_TX_PRAGUE, "Prague"),
        };
        if matches!(self.da_type, DaType::Blobs | DaType::Auto) && self.target_num_frames > max_blobs {
            return fail(
                "target_num_frames",
                format!(
                    "a blob transaction carries at most {max_blobs} blobs under {fork}, got {}",
                    self.target_num_frames
                ),
            );
        }
        if self.da_type == DaType::AltDa && self.target_num_frames != 1 {
            return fail("target_num_frames", "AltDA sends one frame per commitment: must be 1".into());
        }
        if !(self.approx_compr_ratio > 0.0 && self.approx_compr_ratio <= 1.0) {
            return fail("approx_compr_ratio", format!("must be in (0, 1], got {}", self.approx_compr_ratio));
        }
        if self.txmgr.num_confirmations == 0 {
            return fail("txmgr.num_confirmations", "must be at least 1".into());
        }
        if self.txmgr.safe_abort_nonce_too_low_count == 0 {
            return fail("txmgr.safe_abort_nonce_too_low_count", "must be at least 1".into());
        }
        if self.txmgr.fee_limit_multiplier == 0 {
            return fail("txmgr.fee_limit_multiplier", "must be at least 1".into());
        }
        if self.txmgr.resubmission_timeout.is_zero() || self.txmgr.receipt_query_interval.is_zero() {
            return fail("txmgr", "resubmission_timeout and receipt_query_interval must be positive".into());
        }
        self.throttle.validate().map_err(|(field, reason)| (field, format!("throttle: {reason}")))
    }
}
