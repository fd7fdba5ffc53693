//! A test submitter in the style of op-e2e's `L2Batcher` actions: not the real batcher, a simple
//! one that buffers every new unsafe block, closes the channel and posts all of its frames, and
//! can post each of op-e2e's garbage kinds. It tests the L2 side before the real batcher runs, and
//! stays as the rogue sender of the garbage fault.
//!
//! Policy each round (every `interval_s`): read the sync status; if the safe head fell below what
//! was posted and derivation has moved past the last inclusion (the data was reorged out or
//! dropped), post again from the safe head; then post the blocks not yet posted.

use crate::{
    l1::{
        wallet::{Fees, Wallet},
        L1Client,
    },
    l2::rpc::L2BlockByNumber,
    l2::rpc::SyncStatusMethod,
    net::RpcClient,
};
use alloy_eips::BlockNumberOrTag;
use alloy_primitives::{Address, Bytes, B256};
use rand::{Rng, RngCore};
use rand_chacha::ChaCha8Rng;
use rollsim::protocol::{
    batch::BatchType,
    blob::encode_blob,
    channel_out::{ChannelOut, ChannelOutConfig, ChannelOutError, FJORD_MAX_RLP_BYTES_PER_CHANNEL},
    compression::{ChannelCompressor, CompressionAlgo},
    compressor::CompressorKind,
    frame::Frame,
    tx_data::DERIVATION_VERSION_0,
};
use rollsim::sync::lock;
use serde::Deserialize;
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

/// L1 blocks after a post by which its data must be derived; later, it is posted again. Long
/// enough for a backlog of channels to be included over several blocks.
const REPOST_AFTER_L1_BLOCKS: u64 = 8;

/// op-e2e's garbage kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GarbageKind {
    /// A frame without the derivation version byte.
    StripVersion,
    /// 1 to 512 random bytes.
    Random,
    /// A frame missing its last 4 bytes.
    TruncateEnd,
    /// A frame followed by 4 garbage bytes.
    DirtyAppend,
    /// A whole channel whose data is not zlib or brotli (a gzip header).
    InvalidCompression,
    /// A whole channel of valid zlib holding malformed RLP.
    MalformRlp,
}

impl GarbageKind {
    pub const ALL: [GarbageKind; 6] = [
        Self::StripVersion,
        Self::Random,
        Self::TruncateEnd,
        Self::DirtyAppend,
        Self::InvalidCompression,
        Self::MalformRlp,
    ];
}

/// Who sends a garbage transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GarbageSender {
    /// The batcher's key: derivation reads the transaction and must reject its contents.
    Batcher,
    /// Another key: derivation must ignore the transaction entirely.
    Stranger,
}

/// One garbage transaction of the schedule.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GarbageAt {
    #[serde(deserialize_with = "crate::units::duration")]
    pub at: Duration,
    pub kind: GarbageKind,
    pub sender: GarbageSender,
}

/// The `[submitter]` table: its presence starts node `submitter`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubmitterConfig {
    /// Seconds between rounds.
    pub interval_s: u64,
    /// Post frames as blobs (one per blob, up to `blobs_per_tx` per tx) or as calldata.
    pub blobs: bool,
    pub blobs_per_tx: usize,
    /// "singular" or "span".
    pub batch_type: String,
    pub garbage: Vec<GarbageAt>,
    /// Post only the garbage schedule (a rogue submitter next to the real batcher).
    pub garbage_only: bool,
}

impl Default for SubmitterConfig {
    fn default() -> Self {
        Self {
            interval_s: 24,
            blobs: false,
            blobs_per_tx: 3,
            batch_type: "singular".into(),
            garbage: Vec::new(),
            garbage_only: false,
        }
    }
}

impl SubmitterConfig {
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.interval_s == 0 {
            return Err(("interval_s".into(), "must be at least 1".into()));
        }
        if !(1..=6).contains(&self.blobs_per_tx) {
            return Err(("blobs_per_tx".into(), format!("must be in 1..=6, got {}", self.blobs_per_tx)));
        }
        self.batch_type()?;
        Ok(())
    }

    fn batch_type(&self) -> Result<BatchType, (String, String)> {
        match self.batch_type.as_str() {
            "singular" => Ok(BatchType::Singular),
            "span" => Ok(BatchType::Span),
            other => Err(("batch_type".into(), format!("unknown batch type {other:?} (singular or span)"))),
        }
    }
}

/// The running submitter.
pub struct Submitter {
    pub config: SubmitterConfig,
    pub l1: L1Client,
    pub sequencer: RpcClient,
    pub rollup: RpcClient,
    pub batcher: Wallet,
    pub stranger: Wallet,
    pub inbox: Address,
    pub l2_chain_id: u64,
    pub l2_genesis_timestamp: u64,
    pub rng: ChaCha8Rng,
    pub stats: Arc<Mutex<SubmitterStats>>,
}

/// What the submitter did (read by tests through the trace and stats).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubmitterStats {
    pub txs: u64,
    pub channels: u64,
    pub reposts: u64,
    pub garbage: u64,
    /// Garbage posted from the batcher's address: not the batcher's data.
    pub batcher_garbage_txs: Vec<B256>,
}

impl Submitter {
    fn channel_config(&self) -> ChannelOutConfig {
        ChannelOutConfig {
            max_frame_size: self.max_frame_size(),
            target_num_frames: if self.config.blobs { self.config.blobs_per_tx } else { 1 },
            compressor: CompressorKind::Shadow,
            algo: CompressionAlgo::Zlib,
            approx_compr_ratio: 0.6,
            batch_type: self.config.batch_type().expect("validated"),
            max_blocks_per_span_batch: 0,
            max_rlp_bytes_per_channel: FJORD_MAX_RLP_BYTES_PER_CHANNEL,
            chain_id: self.l2_chain_id,
            genesis_timestamp: self.l2_genesis_timestamp,
        }
    }

    fn max_frame_size(&self) -> usize {
        if self.config.blobs {
            rollsim::protocol::blob::MAX_BLOB_DATA_SIZE - 1
        } else {
            119_999
        }
    }

    /// Fees for the next transaction, and whether its blobs need cell proofs (the head is Osaka).
    async fn fees(&self) -> Option<(Fees, bool)> {
        let head = self.l1.block_by_number(BlockNumberOrTag::Latest).await.ok()??;
        let tip = self.l1.max_priority_fee().await.ok()?;
        let blob_fee = self.l1.blob_base_fee().await.ok()?;
        let fees = Fees {
            max_fee_per_gas: u128::from(head.base_fee()) * 2 + tip,
            max_priority_fee_per_gas: tip,
            max_fee_per_blob_gas: (blob_fee * 2).max(1),
        };
        Some((fees, head.fork.is_osaka()))
    }

    /// Sends one transaction of `frames` (calldata: one frame; blobs: one blob per frame).
    async fn send(
        &self,
        wallet: &Wallet,
        frames: &[Vec<u8>],
        blobs: bool,
        (fees, cell_proofs): (Fees, bool),
    ) -> Option<B256> {
        let nonce = self.l1.nonce(wallet.address(), BlockNumberOrTag::Pending).await.ok()?;
        let raw = if blobs {
            let blobs = frames.iter().map(|f| encode_blob(f).expect("a frame fits a blob")).collect();
            wallet.blob_tx(nonce, self.inbox, blobs, fees, cell_proofs)
        } else {
            wallet.call(nonce, self.inbox, Bytes::from(frames.concat()), fees)
        };
        match self.l1.send_raw_transaction(raw).await {
            Ok(hash) => Some(hash),
            Err(error) => {
                tracing::info!(target: "rollsim_sim::submitter", %error, "submitter tx refused");
                None
            }
        }
    }

    /// Posts blocks `from..=to` in as many channels as they need; the L2 block through which all
    /// were sent, or the last fully sent one on a failure.
    async fn post(&mut self, from: u64, to: u64, stats: &mut SubmitterStats) -> u64 {
        let Some(fees) = self.fees().await else { return from - 1 };
        let cfg = self.channel_config();
        let mut next = from;
        while next <= to {
            let mut channel = ChannelOut::new(&cfg, &mut self.rng).expect("valid channel config");
            let first = next;
            while next <= to {
                let Ok(Some(block)) =
                    self.sequencer.call::<L2BlockByNumber>(BlockNumberOrTag::Number(next)).await
                else {
                    break;
                };
                match channel.add_block(&block.block) {
                    Ok(_) => next += 1,
                    Err(ChannelOutError::Full(_)) => break,
                    Err(error) => panic!("the sequencer's block {next} does not batch: {error}"),
                }
                if channel.full_reason().is_some() {
                    break;
                }
            }
            if next == first {
                return first - 1;
            }
            channel.close().expect("a channel is closed once");
            let mut frames = Vec::new();
            loop {
                let (frame, last) =
                    channel.output_frame(cfg.max_frame_size).expect("frames of a closed channel");
                frames.push([&[DERIVATION_VERSION_0][..], &frame.encode()].concat());
                if last {
                    break;
                }
            }
            stats.channels += 1;
            let per_tx = if self.config.blobs { self.config.blobs_per_tx } else { 1 };
            for chunk in frames.chunks(per_tx) {
                let wallet = self.batcher.clone();
                if self.send(&wallet, chunk, self.config.blobs, fees).await.is_none() {
                    return first - 1;
                }
                stats.txs += 1;
            }
            tracing::info!(target: "rollsim_sim::submitter", first, last = next - 1, frames = frames.len(), "channel posted");
        }
        to
    }

    /// The garbage transaction data of `kind`, built around a frame of a real channel over block
    /// `block` (op-e2e corrupts the next output frame).
    async fn garbage(&mut self, kind: GarbageKind, block: u64) -> Option<Vec<u8>> {
        let valid = {
            let block =
                self.sequencer.call::<L2BlockByNumber>(BlockNumberOrTag::Number(block)).await.ok()??;
            let cfg = ChannelOutConfig { batch_type: BatchType::Singular, ..self.channel_config() };
            let mut channel = ChannelOut::new(&cfg, &mut self.rng).ok()?;
            channel.add_block(&block.block).ok()?;
            channel.close().ok()?;
            let (frame, _) = channel.output_frame(cfg.max_frame_size).ok()?;
            [&[DERIVATION_VERSION_0][..], &frame.encode()].concat()
        };
        let single_frame_channel = |data: Vec<u8>, rng: &mut ChaCha8Rng| {
            let mut id = [0u8; 16];
            rng.fill_bytes(&mut id);
            let frame = Frame { id, number: 0, data, is_last: true };
            [&[DERIVATION_VERSION_0][..], &frame.encode()].concat()
        };
        Some(match kind {
            GarbageKind::StripVersion => valid[1..].to_vec(),
            GarbageKind::Random => {
                let len = self.rng.gen_range(1..=512);
                let mut bytes = vec![0u8; len];
                self.rng.fill_bytes(&mut bytes);
                bytes
            }
            GarbageKind::TruncateEnd => valid[..valid.len() - 4].to_vec(),
            GarbageKind::DirtyAppend => [&valid[..], &[0xBA, 0xD0, 0xC0, 0xDE]].concat(),
            GarbageKind::InvalidCompression => {
                // A gzip member: its first byte's low nibble (0xf) reads as zlib, then fails.
                let mut data = vec![0x1f, 0x8b, 0x08, 0x00];
                data.extend((0..64).map(|_| self.rng.gen::<u8>()));
                single_frame_channel(data, &mut self.rng)
            }
            GarbageKind::MalformRlp => {
                // A string header announcing 255 bytes, followed by 3.
                let mut compressor = ChannelCompressor::new(CompressionAlgo::Zlib);
                compressor.write(&[0xb8, 0xff, 0x01, 0x02, 0x03]).ok()?;
                compressor.close().ok()?;
                let mut data = Vec::new();
                compressor.read_into(usize::MAX, &mut data);
                single_frame_channel(data, &mut self.rng)
            }
        })
    }

    /// Runs forever on node `submitter`.
    pub async fn run(mut self) {
        let mut stats = lock(&self.stats).clone();
        // The L2 block through which data was posted, and each post not yet safe: (through, L1
        // head when posted).
        let mut posted = 0u64;
        let mut unsafe_posts: std::collections::VecDeque<(u64, u64)> = Default::default();
        let mut garbage = self.config.garbage.clone();
        garbage.sort_by_key(|g| g.at);
        let mut garbage = garbage.into_iter().peekable();
        let interval = Duration::from_secs(self.config.interval_s);
        loop {
            tokio::time::sleep(interval).await;
            let Ok(status) = self.rollup.call::<SyncStatusMethod>(()).await else { continue };
            let safe = status.local_safe_l2.block_info.number;
            let unsafe_head = status.unsafe_l2.block_info.number;
            posted = posted.max(safe);
            while unsafe_posts.front().is_some_and(|(through, _)| *through <= safe) {
                unsafe_posts.pop_front();
            }
            // Derivation went `REPOST_AFTER_L1_BLOCKS` past the oldest post not yet safe: its data is gone
            // (reorged out or dropped). Post again from the safe head.
            if unsafe_posts
                .front()
                .is_some_and(|(_, l1)| status.current_l1.number >= l1 + REPOST_AFTER_L1_BLOCKS)
            {
                tracing::info!(target: "rollsim_sim::submitter", safe, posted, "safe head behind posted data: reposting");
                stats.reposts += 1;
                posted = safe;
                unsafe_posts.clear();
            }
            while let Some(g) = garbage.next_if(|g| g.at <= crate::clock::sim_now()) {
                let Some(data) = self.garbage(g.kind, posted.max(1)).await else { continue };
                let Some(fees) = self.fees().await else { continue };
                let wallet = match g.sender {
                    GarbageSender::Batcher => self.batcher.clone(),
                    GarbageSender::Stranger => self.stranger.clone(),
                };
                if let Some(hash) = self.send(&wallet, &[data], false, fees).await {
                    stats.garbage += 1;
                    if g.sender == GarbageSender::Batcher {
                        stats.batcher_garbage_txs.push(hash);
                    }
                    tracing::info!(target: "rollsim_sim::submitter", kind = ?g.kind, sender = ?g.sender, %hash, "garbage posted");
                }
            }
            if unsafe_head > posted && !self.config.garbage_only {
                let through = self.post(posted + 1, unsafe_head, &mut stats).await;
                if through > posted {
                    posted = through;
                    unsafe_posts.push_back((through, status.head_l1.number));
                }
            }
            *lock(&self.stats) = stats.clone();
        }
    }
}
