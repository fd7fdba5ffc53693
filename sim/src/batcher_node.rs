//! Node `batcher`: the real batcher (`rollsim::batcher`) with its ports bound to the world's
//! nodes, and its `[batcher]` scenario table.
//!
//! The node's init task builds a fresh batcher and starts it, so a restart of the node is a cold
//! restart: the batcher rebuilds its state from the rollup node's sync status, as op-batcher does.

use crate::{
    da::DaClient,
    l1::wallet::batcher_signer,
    l1::{forks::L1Fork, L1Client, L1Config},
    l2::rpc::SyncStatusMethod,
    l2::rpc::{L2BlockByNumber, SetMaxDASize},
    net::{RpcClient, RpcError},
};
use alloy_eips::{BlockNumHash, BlockNumberOrTag};
use alloy_primitives::{Address, Bytes, B256};
use op_alloy_consensus::OpBlock;
use rollsim::{
    batcher::{
        throttle::{ControllerType, ThrottleConfig},
        BatcherConfig, BatcherPorts, BatcherStats, DaType,
    },
    ports::{self, L1Header, PortError, PortResult, SyncStatus, TxReceipt},
    protocol::{batch::BatchType, compression::CompressionAlgo, compressor::CompressorKind},
    signer::LocalSigner,
    sync::lock,
};
use serde::Deserialize;

pub use rollsim::batcher::RollupParams;
use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    time::Duration,
};

/// The `[batcher]` table of a scenario: the settings that differ from op-batcher's defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatcherScenario {
    /// "calldata", "blobs", "auto" or "altda".
    pub da_type: String,
    pub target_num_frames: usize,
    /// "singular" or "span".
    pub batch_type: String,
    /// "zlib", "brotli-9", "brotli-10" or "brotli-11".
    pub compression_algo: String,
    /// "shadow", "ratio" or "none".
    pub compressor: String,
    /// L1 blocks; 0 = channels close only when full or near a timeout.
    pub max_channel_duration: u64,
    pub poll_interval_s: u64,
    pub max_pending_transactions: usize,
    pub num_confirmations: u64,
    pub resubmission_timeout_s: u64,
    pub sub_safety_margin: u64,
    /// "step", "linear", "quadratic" or "pid" (with upstream's default gains).
    pub throttle_controller: String,
    /// 0 disables throttling.
    pub throttle_lower_threshold_bytes: u64,
    pub throttle_upper_threshold_bytes: u64,
    /// When blob transactions start carrying cell proofs: "osaka" (the L1's Osaka time, as
    /// op-batcher fills in for known chains), "never", or a time after L1 genesis ("20m").
    pub cell_proof_time: String,
}

impl Default for BatcherScenario {
    fn default() -> Self {
        Self {
            da_type: "blobs".into(),
            target_num_frames: 1,
            batch_type: "singular".into(),
            compression_algo: "zlib".into(),
            compressor: "shadow".into(),
            max_channel_duration: 0,
            poll_interval_s: 6,
            max_pending_transactions: 1,
            num_confirmations: 10,
            resubmission_timeout_s: 48,
            sub_safety_margin: 10,
            throttle_controller: "quadratic".into(),
            throttle_lower_threshold_bytes: ThrottleConfig::default().lower_threshold_bytes,
            throttle_upper_threshold_bytes: ThrottleConfig::default().upper_threshold_bytes,
            cell_proof_time: "osaka".into(),
        }
    }
}

fn parse<T: std::str::FromStr>(field: &str, value: &str) -> Result<T, (String, String)>
where
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|e: T::Err| (field.to_owned(), e.to_string()))
}

impl BatcherScenario {
    /// The batcher's config for this rollup on `l1`; an error names the field (relative to
    /// `[batcher]`).
    pub fn config(&self, rollup: RollupParams, l1: &L1Config) -> Result<BatcherConfig, (String, String)> {
        let mut c = BatcherConfig::new(rollup);
        c.da_type = parse::<DaType>("da_type", &self.da_type)?;
        c.target_num_frames = self.target_num_frames;
        c.batch_type = match self.batch_type.as_str() {
            "singular" => BatchType::Singular,
            "span" => BatchType::Span,
            other => {
                return Err(("batch_type".into(), format!("unknown batch type {other:?} (singular or span)")))
            }
        };
        c.compression_algo = parse::<CompressionAlgo>("compression_algo", &self.compression_algo)?;
        c.compressor = match self.compressor.as_str() {
            "shadow" => CompressorKind::Shadow,
            "ratio" => CompressorKind::Ratio,
            "none" => CompressorKind::None,
            other => {
                return Err((
                    "compressor".into(),
                    format!("unknown compressor {other:?} (shadow, ratio or none)"),
                ))
            }
        };
        c.max_channel_duration = self.max_channel_duration;
        c.poll_interval = Duration::from_secs(self.poll_interval_s);
        c.max_pending_transactions = self.max_pending_transactions;
        c.sub_safety_margin = self.sub_safety_margin;
        c.txmgr.num_confirmations = self.num_confirmations;
        c.txmgr.resubmission_timeout = Duration::from_secs(self.resubmission_timeout_s);
        c.throttle.controller = parse::<ControllerType>("throttle_controller", &self.throttle_controller)?;
        c.throttle.lower_threshold_bytes = self.throttle_lower_threshold_bytes;
        c.throttle.upper_threshold_bytes = self.throttle_upper_threshold_bytes;
        c.txmgr.cell_proof_time = match self.cell_proof_time.as_str() {
            "osaka" => l1.activation_timestamp(L1Fork::Osaka),
            "never" => None,
            text => {
                let after = humantime::parse_duration(text).map_err(|e| {
                    (
                        "cell_proof_time".to_owned(),
                        format!("{text:?}: {e} (\"osaka\", \"never\" or e.g. \"20m\")"),
                    )
                })?;
                Some(l1.genesis_timestamp + after.as_secs())
            }
        };
        c.validate().map_err(|(field, reason)| (field.to_owned(), reason))?;
        Ok(c)
    }
}

fn port_error(error: RpcError) -> PortError {
    match error {
        RpcError::Server { method, code, message } => PortError::Server { method, code, message },
        RpcError::Timeout { method, .. } => PortError::Timeout { method },
        RpcError::Transport { method, reason } => PortError::Transport { method, reason },
    }
}

/// The batcher's L1 port over node `l1`.
#[derive(Clone, Debug)]
pub struct SimL1(pub L1Client);

impl ports::L1 for SimL1 {
    async fn head_header(&self) -> PortResult<L1Header> {
        let block =
            self.0.block_by_number(BlockNumberOrTag::Latest).await.map_err(port_error)?.ok_or_else(|| {
                PortError::BadAnswer { method: "eth_getBlockByNumber", reason: "no latest block".into() }
            })?;
        Ok(L1Header {
            number: block.number(),
            hash: block.hash,
            timestamp: block.header.timestamp,
            base_fee_per_gas: block.base_fee(),
        })
    }

    async fn nonce(&self, address: Address, pending: bool) -> PortResult<u64> {
        let tag = if pending { BlockNumberOrTag::Pending } else { BlockNumberOrTag::Latest };
        self.0.nonce(address, tag).await.map_err(port_error)
    }

    async fn suggest_tip(&self) -> PortResult<u128> {
        self.0.max_priority_fee().await.map_err(port_error)
    }

    async fn blob_base_fee(&self) -> PortResult<u128> {
        self.0.blob_base_fee().await.map_err(port_error)
    }

    async fn send_raw_transaction(&self, raw: Bytes) -> PortResult<B256> {
        self.0.send_raw_transaction(raw).await.map_err(port_error)
    }

    async fn receipt(&self, hash: B256) -> PortResult<Option<TxReceipt>> {
        let receipt = self.0.receipt(hash).await.map_err(port_error)?;
        Ok(receipt.map(|r| TxReceipt {
            tx_hash: r.tx_hash,
            block_hash: r.block_hash,
            block_number: r.block_number,
            status: r.status,
            gas_used: r.gas_used,
            effective_gas_price: r.effective_gas_price,
            blob_gas_used: r.blob_gas_used,
        }))
    }
}

/// The batcher's L2 port over node `sequencer`.
#[derive(Clone, Debug)]
pub struct SimL2(pub RpcClient);

impl ports::L2 for SimL2 {
    async fn block_by_number(&self, number: u64) -> PortResult<Option<Arc<OpBlock>>> {
        let block =
            self.0.call::<L2BlockByNumber>(BlockNumberOrTag::Number(number)).await.map_err(port_error)?;
        Ok(block.map(|b| Arc::new(b.block.clone())))
    }

    async fn set_max_da_size(&self, max_tx_bytes: u64, max_block_bytes: u64) -> PortResult<bool> {
        self.0.call::<SetMaxDASize>((max_tx_bytes, max_block_bytes)).await.map_err(port_error)
    }
}

/// The batcher's rollup-node port over node `rollup`.
#[derive(Clone, Debug)]
pub struct SimRollup(pub RpcClient);

impl ports::RollupNode for SimRollup {
    async fn sync_status(&self) -> PortResult<SyncStatus> {
        self.0.call::<SyncStatusMethod>(()).await.map_err(port_error)
    }
}

/// The batcher's AltDA port over node `da`.
#[derive(Clone, Debug)]
pub struct SimDa(pub DaClient);

impl ports::AltDa for SimDa {
    async fn put(&self, data: Bytes) -> PortResult<Bytes> {
        self.0.put(data).await.map_err(port_error)
    }
}

/// The ported batcher over the world's ports.
pub type SimBatcher = rollsim::batcher::Batcher<SimL1, SimL2, SimRollup, SimDa>;

/// A batcher's ports in the world: nodes `l1`, `sequencer` (also the one throttling endpoint),
/// `rollup` and, with `[da]`, `da`.
pub type SimPorts = BatcherPorts<SimL1, SimL2, SimRollup, SimDa>;

/// Every incarnation's counters: a restarted batcher starts from zero.
pub type SharedBatcherStats = Arc<Mutex<Vec<Arc<Mutex<BatcherStats>>>>>;

/// A batcher the world runs as node `batcher` when the scenario has a `[batcher]` table.
///
/// [`run`](BatcherSystem::run) is the node's init task: it runs at start and again at every
/// restart (a cold restart: state in memory is lost), and the node exits when its future ends.
/// The default is [`PortedBatcher`]; pass another in `RunOptions::batcher` to test your own.
pub trait BatcherSystem: Send + Sync + 'static {
    fn run(&self, node: BatcherNode) -> Pin<Box<dyn Future<Output = ()>>>;
}

/// What one incarnation of node `batcher` is given.
pub struct BatcherNode {
    /// The `[batcher]` table, as the ported batcher's config (op-batcher's settings).
    pub config: BatcherConfig,
    pub ports: SimPorts,
    /// The key the rollup's system config names as the batcher.
    pub signer: LocalSigner,
    /// For the batcher's own randomness (channel ids); another one at each restart.
    pub seed: u64,
    /// Notified at each flush a `batcher_flush` fault asks for.
    pub flush: Arc<tokio::sync::Notify>,
    incarnations: SharedBatcherStats,
}

impl BatcherNode {
    /// Hands the world this incarnation's counters. The invariants on the batcher's own account
    /// (resets explained, confirmation depth, replacement pricing, DA choice, timeouts) judge
    /// what it reports; those read from the chains judge any batcher.
    pub fn report(&self, stats: Arc<Mutex<BatcherStats>>) {
        lock(&self.incarnations).push(stats);
    }
}

/// The ported op-batcher (`rollsim::batcher`).
#[derive(Debug, Clone, Copy, Default)]
pub struct PortedBatcher;

impl BatcherSystem for PortedBatcher {
    fn run(&self, node: BatcherNode) -> Pin<Box<dyn Future<Output = ()>>> {
        Box::pin(async move {
            let mut batcher =
                SimBatcher::new(node.config.clone(), node.ports.clone(), node.signer.clone(), node.seed)
                    .expect("validated with the scenario");
            node.report(batcher.stats());
            batcher.start().await.expect("a new batcher starts");
            // The batcher's loops run as tasks of this node until it is killed; this task
            // answers the admin flushes.
            loop {
                node.flush.notified().await;
                batcher.flush().expect("the batcher runs until its node is killed");
            }
        })
    }
}

/// Node `batcher`'s init: a fresh incarnation of `system` at each start.
pub(crate) fn init(
    system: Arc<dyn BatcherSystem>,
    config: BatcherConfig,
    ports: SimPorts,
    seed: u64,
    flush: Arc<tokio::sync::Notify>,
    incarnations: SharedBatcherStats,
) -> impl Fn() -> Pin<Box<dyn Future<Output = ()>>> + Send + Sync + 'static {
    move || {
        let incarnation = lock(&incarnations).len() as u64;
        system.run(BatcherNode {
            config: config.clone(),
            ports: ports.clone(),
            signer: batcher_signer(),
            seed: seed.wrapping_add(incarnation),
            flush: flush.clone(),
            incarnations: incarnations.clone(),
        })
    }
}

/// Rollup parameters from the scenario alone, to validate `[batcher]` before a run; genesis
/// fields are placeholders that no validation rule reads.
pub fn scenario_rollup_params(l2: &crate::l2::L2Config) -> RollupParams {
    RollupParams {
        l1_chain_id: 1,
        l2_chain_id: l2.chain_id,
        batch_inbox: l2.batch_inbox,
        l2_genesis_timestamp: 0,
        l2_block_time_s: l2.block_time_s,
        seq_window_size: l2.seq_window_size,
        channel_timeout: l2.channel_timeout,
        genesis_l1: BlockNumHash::default(),
    }
}

/// The rollup parameters the batcher reads from the rollup config.
pub fn rollup_params(rollup: &kona_genesis::RollupConfig) -> RollupParams {
    RollupParams {
        l1_chain_id: rollup.l1_chain_id,
        l2_chain_id: rollup.l2_chain_id.id(),
        batch_inbox: rollup.batch_inbox_address,
        l2_genesis_timestamp: rollup.genesis.l2_time,
        l2_block_time_s: rollup.block_time,
        seq_window_size: rollup.seq_window_size,
        channel_timeout: rollup.granite_channel_timeout,
        genesis_l1: BlockNumHash::new(rollup.genesis.l1.number, rollup.genesis.l1.hash),
    }
}
