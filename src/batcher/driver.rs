//! op-batcher's driver (`BatchSubmitter`): four loops and the channels between them.
//!
//! - block loading (every poll interval, under the graceful `shutdown` token): reads the rollup
//!   node's sync status, prunes or clears state by [`compute_sync_actions`], loads new unsafe
//!   blocks, and signals the other loops; it is the only producer, so when it stops both
//!   channels close;
//! - publishing (under the forced `kill` token): on each signal, turns ready channel data into
//!   transactions until there is none, through the tx queue;
//! - receipts: applies each send's outcome to the channel manager and tracks the txpool state;
//! - throttling (if enabled): maps unsafe DA bytes to the sequencers' DA limits.
//!
//! Signals to publishing and throttling are non-blocking sends into one-slot channels, dropped
//! when full, exactly as upstream. Differences from upstream, each named where it is made: AltDA
//! with no free request slot ends the publishing round instead of spinning; `auto` DA reads fee
//! suggestions before taking the channel-manager lock (an async call cannot run under it); startup
//! does not scan L1 for recent batcher transactions (`CheckRecentTxsDepth`, off by default).

use super::{
    channel::{SizedBlock, TxData, TxId},
    channel_config::{auto_uses_blobs, ChannelConfig},
    channel_manager::{ChannelManager, ChannelManagerError, FillStats, PubInfo},
    config::{BatcherConfig, DaType},
    sync_actions::{compute_sync_actions, SyncReason},
    throttle::{ThrottleController, ThrottleParams},
    txmgr::{FeeBump, TxCandidate, TxManager, TxQueue, TxResult},
};
use crate::{
    cancel::Cancel,
    ports::{with_timeout, AltDa, PortError, RollupNode, SyncStatus, L1, L2},
    protocol::{blob::BlobError, frame::ChannelId, tx_data::ALT_DA_VERSION},
    signer::LocalSigner,
    sync::lock,
};
use alloy_eips::BlockNumHash;
use alloy_primitives::Bytes;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::{
    ops::RangeInclusive,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::{
    sync::{mpsc, Semaphore},
    task::JoinHandle,
    time::{interval_at, sleep, Instant, MissedTickBehavior},
};

/// What the batcher talks to.
#[derive(Debug, Clone)]
pub struct BatcherPorts<A, B, C, D> {
    pub l1: A,
    /// The sequencer's execution client: blocks come from here.
    pub l2: B,
    pub rollup: C,
    pub alt_da: Option<D>,
    /// Every execution client whose DA limits the throttling loop sets (usually `l2` alone).
    pub throttle_endpoints: Vec<B>,
}

/// Why the batcher did not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatcherError {
    #[error("invalid batcher config: {field}: {reason}")]
    Config { field: &'static str, reason: String },
    #[error("batcher is already running")]
    AlreadyRunning,
    #[error("batcher is not running")]
    NotRunning,
}

/// Why a round of publishing stopped early (logged; the next signal starts another round).
#[derive(Debug, thiserror::Error)]
enum PublishError {
    #[error("getting latest L1 block: {0}")]
    L1Head(PortError),
    #[error(transparent)]
    ChannelManager(#[from] ChannelManagerError),
    #[error("could not create blob tx candidate: {0}")]
    Blobs(BlobError),
}

/// Why loading L2 blocks stopped (logged; the next tick retries, a reorg clears the state first).
#[derive(Debug, thiserror::Error)]
enum LoadError {
    #[error("getting L2 block {number}: {source}")]
    Fetch { number: u64, source: PortError },
    #[error("L2 block {number} not found")]
    Missing { number: u64 },
    #[error(transparent)]
    ChannelManager(ChannelManagerError),
}

/// A critical error that stopped the batcher.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FatalError {
    #[error(
        "miner_setMaxDASize unavailable at endpoint {endpoint}, either enable it or disable throttling: {source}"
    )]
    ThrottlingUnavailable { endpoint: usize, source: PortError },
}

/// Counters and gauges the world reads (op-batcher's metrics, the ones tests assert on).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatcherStats {
    pub blocks_loaded: u64,
    pub reorgs_detected: u64,
    pub state_clears: u64,
    pub txs_sent: u64,
    pub txs_confirmed: u64,
    pub txs_failed: u64,
    pub cancellations_sent: u64,
    pub da_requests_failed: u64,
    pub blob_txs_confirmed: u64,
    pub calldata_txs_confirmed: u64,
    /// The last unsafe-DA-bytes figure sent to the throttling loop.
    pub unsafe_da_bytes: u64,
    /// The limits the throttling loop computed last.
    pub throttle: Option<ThrottleParams>,
    /// A critical error that stopped the batcher (e.g. `miner_setMaxDASize` unavailable).
    pub fatal: Option<FatalError>,
    /// Fill of the channels closed full.
    pub fill: FillStats,
    /// Channels dropped because their confirmed frames were judged timed out on chain.
    pub timed_out_channels: Vec<ChannelId>,
    /// Every time the channel state was thrown away (op-batcher's `clearState`), with why: what
    /// an oracle needs to tell a recovery the world caused from one the batcher caused itself.
    pub resets: Vec<StateReset>,
    /// Every choice `auto` DA made on fee suggestions: what an oracle prices against the L1's.
    pub da_choices: Vec<DaChoice>,
    /// When each transaction was taken as confirmed, and the L1 block that included it.
    pub confirmations: Vec<(Instant, u64)>,
    /// The txmgr's fee bumps, collected as send results arrive (those after the last result of
    /// an incarnation are not): what an oracle checks against the pool's replacement rule.
    pub fee_bumps: Vec<FeeBump>,
}

/// One `auto` DA decision for a new channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DaChoice {
    pub at: Instant,
    pub use_blobs: bool,
}

/// Why the batcher threw its channel state away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetCause {
    /// `startBatcher`: a (re)started batcher begins from the rollup node's safe head.
    Start,
    /// A loaded block did not extend the newest one: the unsafe chain reorged.
    UnsafeReorg,
    /// Sync actions started afresh, for this decision-table row.
    Sync(SyncReason),
}

/// One state clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateReset {
    pub at: Instant,
    pub cause: ResetCause,
    /// The local-safe L2 block number of the sync status acted on.
    pub safe_l2: u64,
    /// Channels thrown away with frames already sent: their data goes out again.
    pub sent_channels_dropped: Vec<ChannelId>,
}

/// The reference a queued send carries back with its result (upstream `txRef`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TxRef {
    /// `None` for a cancellation transaction.
    id: Option<TxId>,
    is_cancel: bool,
    is_blob: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxpoolState {
    Good,
    /// A send failed with "already reserved": a transaction of the other type is stuck.
    Blocked {
        blob: bool,
    },
    CancelPending {
        blob: bool,
    },
}

struct Inner<A, B, C, D> {
    config: BatcherConfig,
    ports: BatcherPorts<A, B, C, D>,
    txmgr: TxManager<A>,
    blob_cfg: ChannelConfig,
    calldata_cfg: ChannelConfig,
    // Grouped by what they guard, as upstream's mutexes. Lock order: `channels`, then
    // `txpool`, then `throttle`, then `stats`; `stats` is a leaf (nothing is locked while it is
    // held). No lock is held across an await.
    /// Upstream's `channelMgrMutex`: the channel manager and what is read and written with it.
    channels: Mutex<Channels>,
    /// Upstream's `txpoolMutex`: whether a transaction of the other type blocks the pool.
    txpool: Mutex<TxpoolState>,
    /// The throttling controller (upstream's own lock inside it).
    throttle: Mutex<ThrottleController>,
    /// Counters, shared with whoever holds [`Batcher::stats`].
    stats: Arc<Mutex<BatcherStats>>,
}

/// What `channelMgrMutex` guards.
struct Channels {
    manager: ChannelManager,
    /// Draws the channel ids.
    rng: ChaCha8Rng,
    /// The rollup node's current L1 at the previous sync (upstream's `prevCurrentL1`).
    prev_current_l1: u64,
}

struct Running {
    shutdown: Cancel,
    kill: Cancel,
    publish: mpsc::Sender<PubInfo>,
    tasks: Vec<JoinHandle<()>>,
}

/// The batch submitter.
pub struct Batcher<A, B, C, D> {
    inner: Arc<Inner<A, B, C, D>>,
    running: Option<Running>,
}

const TARGET: &str = "rollsim::batcher";
/// Upstream loads in steps of 100 blocks, signalling publishing and throttling after each.
const LOAD_SIGNAL_EVERY_BLOCKS: u64 = 100;
const THROTTLE_RETRY: Duration = Duration::from_secs(10);
const CLEAR_STATE_RETRY: Duration = Duration::from_secs(5);
const ROLLUP_SYNC_POLL: Duration = Duration::from_secs(12);

/// EIP-7623's floor data gas: what a batcher transaction with no execution costs.
pub fn floor_data_gas(data: &[u8]) -> u64 {
    let zeros = data.iter().filter(|b| **b == 0).count() as u64;
    let tokens = zeros + (data.len() as u64 - zeros) * 4;
    21_000 + tokens * 10
}

impl<A: L1, B: L2, C: RollupNode, D: AltDa> Batcher<A, B, C, D> {
    /// A stopped batcher. `channel_id_seed` seeds the channel ids (a real deployment passes OS
    /// entropy; a simulation derives it from the run seed).
    pub fn new(
        config: BatcherConfig,
        ports: BatcherPorts<A, B, C, D>,
        signer: LocalSigner,
        channel_id_seed: u64,
    ) -> Result<Self, BatcherError> {
        config.validate().map_err(|(field, reason)| BatcherError::Config { field, reason })?;
        if config.da_type == DaType::AltDa && ports.alt_da.is_none() {
            return Err(BatcherError::Config {
                field: "da_type",
                reason: "altda needs an AltDA server port".into(),
            });
        }
        let txmgr = TxManager::new(ports.l1.clone(), signer, config.rollup.l1_chain_id, config.txmgr);
        let blob_cfg = ChannelConfig::new(&config, DaType::Blobs);
        let calldata_cfg = ChannelConfig::new(&config, DaType::Calldata);
        let default_cfg = ChannelConfig::new(&config, config.da_type);
        let inner = Inner {
            txmgr,
            blob_cfg,
            calldata_cfg,
            channels: Mutex::new(Channels {
                manager: ChannelManager::new(default_cfg),
                rng: ChaCha8Rng::seed_from_u64(channel_id_seed),
                prev_current_l1: 0,
            }),
            throttle: Mutex::new(ThrottleController::new(config.throttle)),
            txpool: Mutex::new(TxpoolState::Good),
            stats: Arc::default(),
            config,
            ports,
        };
        Ok(Self { inner: Arc::new(inner), running: None })
    }

    /// The batcher's counters, shared: stays readable after the batcher is dropped.
    pub fn stats(&self) -> Arc<Mutex<BatcherStats>> {
        self.inner.stats.clone()
    }

    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// The current throttle limits (admin `getThrottleController`).
    pub fn throttle_params(&self) -> ThrottleParams {
        lock(&self.inner.throttle).current()
    }

    /// Admin `setThrottleController`.
    pub fn set_throttle_controller(&self, controller: super::throttle::ControllerType) {
        lock(&self.inner.throttle).set_controller(controller);
    }

    /// Admin `resetThrottleController`.
    pub fn reset_throttle_controller(&self) {
        lock(&self.inner.throttle).reset();
    }

    /// Starts the loops (admin `startBatcher`): clears state from the rollup node's safe head
    /// first.
    pub async fn start(&mut self) -> Result<(), BatcherError> {
        if self.running.is_some() {
            return Err(BatcherError::AlreadyRunning);
        }
        let (shutdown, kill) = (Cancel::new(), Cancel::new());
        lock(&self.inner.channels).prev_current_l1 = 0;
        *lock(&self.inner.txpool) = TxpoolState::Good;
        self.inner.clear_state(&shutdown, ResetCause::Start).await;
        let (publish_tx, publish_rx) = mpsc::channel(1);
        let (unsafe_tx, unsafe_rx) = mpsc::channel(1);
        let (receipts_tx, receipts_rx) = mpsc::channel(1);
        let mut tasks = Vec::new();
        let unsafe_tx = if self.inner.config.throttle.enabled() {
            tasks.push(tokio::spawn(self.inner.clone().throttling_loop(unsafe_rx, shutdown.clone())));
            Some(unsafe_tx)
        } else {
            tracing::warn!(target: TARGET, "throttling loop disabled: lower threshold is 0");
            None
        };
        tasks.push(tokio::spawn(self.inner.clone().receipts_loop(receipts_rx)));
        tasks.push(tokio::spawn(self.inner.clone().publishing_loop(publish_rx, receipts_tx, kill.clone())));
        tasks.push(tokio::spawn(self.inner.clone().block_loading_loop(
            publish_tx.clone(),
            unsafe_tx,
            shutdown.clone(),
        )));
        tracing::info!(target: TARGET, from = %self.inner.txmgr.from(), da = %self.inner.config.da_type, "batcher started");
        self.running = Some(Running { shutdown, kill, publish: publish_tx, tasks });
        Ok(())
    }

    /// Admin `flushBatcher`: closes the current channel and publishes it.
    pub fn flush(&self) -> Result<(), BatcherError> {
        let running = self.running.as_ref().ok_or(BatcherError::NotRunning)?;
        try_publish(&running.publish, PubInfo { force_publish: true, ignore_max_channel_duration: false });
        Ok(())
    }

    /// Stops (admin `stopBatcher`): block loading stops, publishing finishes its signals and
    /// in-flight sends; after `grace` the kill token cuts the sends short.
    pub async fn stop(&mut self, grace: Duration) -> Result<(), BatcherError> {
        let Running { shutdown, kill, publish, tasks } =
            self.running.take().ok_or(BatcherError::NotRunning)?;
        drop(publish);
        shutdown.cancel();
        let kill_after = kill.clone();
        let killer = tokio::spawn(async move {
            sleep(grace).await;
            kill_after.cancel();
        });
        for task in tasks {
            let _ = task.await;
        }
        killer.abort();
        kill.cancel();
        tracing::info!(target: TARGET, "batcher stopped");
        Ok(())
    }
}

fn try_publish(publish: &mpsc::Sender<PubInfo>, pi: PubInfo) {
    if publish.try_send(pi).is_err() {
        tracing::debug!(target: TARGET, "publish signal channel is full, skipping signal");
    }
}

impl<A: L1, B: L2, C: RollupNode, D: AltDa> Inner<A, B, C, D> {
    fn timeout(&self) -> Duration {
        self.config.network_timeout
    }

    async fn block_loading_loop(
        self: Arc<Self>,
        publish: mpsc::Sender<PubInfo>,
        unsafe_bytes: Option<mpsc::Sender<u64>>,
        shutdown: Cancel,
    ) {
        let poll = self.config.poll_interval;
        let mut ticker = interval_at(super::now() + poll, poll);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                _ = ticker.tick() => {}
            }
            let status = match self.sync_status(&shutdown).await {
                Ok(status) => status,
                Err(error) => {
                    tracing::warn!(target: TARGET, %error, "could not get sync status, retrying on next tick");
                    continue;
                }
            };
            if let Some(range) = self.sync_and_prune(&status) {
                match self.load_blocks(range, &publish, unsafe_bytes.as_ref()).await {
                    Err(error @ LoadError::ChannelManager(ChannelManagerError::Reorg { .. })) => {
                        tracing::warn!(target: TARGET, %error, "unsafe chain reorged: clearing state after node sync");
                        lock(&self.stats).reorgs_detected += 1;
                        self.wait_node_sync(&shutdown).await;
                        self.clear_state(&shutdown, ResetCause::UnsafeReorg).await;
                        continue;
                    }
                    Err(error) => {
                        tracing::warn!(target: TARGET, %error, "error loading blocks, retrying on next tick");
                        continue;
                    }
                    Ok(()) => self.send_unsafe_bytes(unsafe_bytes.as_ref()),
                }
            }
            try_publish(&publish, PubInfo::default());
        }
        tracing::info!(target: TARGET, "block loading loop returning");
    }

    /// `optimism_syncStatus`, backing off (1 s doubling to 30 s) while the node reports no L1 head.
    async fn sync_status(&self, shutdown: &Cancel) -> Result<SyncStatus, PortError> {
        let mut backoff = Duration::from_secs(1);
        loop {
            let status =
                with_timeout(self.timeout(), "optimism_syncStatus", self.ports.rollup.sync_status()).await?;
            if status.head_l1 != Default::default() {
                return Ok(status);
            }
            tracing::info!(target: TARGET, backoff_ms = backoff.as_millis() as u64, "empty sync status, backing off");
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Err(PortError::Timeout { method: "optimism_syncStatus" }),
                _ = sleep(backoff) => backoff = (backoff * 2).min(Duration::from_secs(30)),
            }
        }
    }

    fn sync_and_prune(&self, status: &SyncStatus) -> Option<RangeInclusive<u64>> {
        let mut channels = lock(&self.channels);
        let Channels { manager, prev_current_l1, .. } = &mut *channels;
        let (actions, reason) =
            compute_sync_actions(status, *prev_current_l1, manager.blocks(), manager.channels());
        let Some(actions) = actions else {
            tracing::warn!(target: TARGET, ?reason, "sequencer out of sync, retrying next tick");
            return None;
        };
        if reason != SyncReason::HappyPath && reason != SyncReason::NoBlocks {
            tracing::warn!(
                target: TARGET, ?reason, safe = status.local_safe_l2.block_info.number,
                unsafe_head = status.unsafe_l2.block_info.number, "sync actions start afresh"
            );
        }
        *prev_current_l1 = status.current_l1.number;
        if let Some(origin) = actions.clear_state {
            let safe_l2 = status.local_safe_l2.block_info.number;
            self.reset(manager, origin, ResetCause::Sync(reason), safe_l2);
        } else {
            manager.prune_safe_blocks(actions.blocks_to_prune);
            manager.prune_channels(actions.channels_to_prune);
        }
        actions.blocks_to_load
    }

    async fn load_blocks(
        &self,
        range: RangeInclusive<u64>,
        publish: &mpsc::Sender<PubInfo>,
        unsafe_bytes: Option<&mpsc::Sender<u64>>,
    ) -> Result<(), LoadError> {
        let (start, end) = (*range.start(), *range.end());
        for number in range {
            let block =
                with_timeout(self.timeout(), "eth_getBlockByNumber", self.ports.l2.block_by_number(number))
                    .await
                    .map_err(|source| LoadError::Fetch { number, source })?
                    .ok_or(LoadError::Missing { number })?;
            let block = SizedBlock::new(block);
            let id = block.id();
            lock(&self.channels).manager.add_l2_block(block).map_err(LoadError::ChannelManager)?;
            lock(&self.stats).blocks_loaded += 1;
            tracing::debug!(target: TARGET, number = id.number, hash = %id.hash, "added L2 block to state");
            if (number - start + 1) % LOAD_SIGNAL_EVERY_BLOCKS == 0 {
                self.send_unsafe_bytes(unsafe_bytes);
                try_publish(
                    publish,
                    PubInfo { force_publish: false, ignore_max_channel_duration: number < end },
                );
            }
        }
        Ok(())
    }

    fn send_unsafe_bytes(&self, unsafe_bytes: Option<&mpsc::Sender<u64>>) {
        let Some(sender) = unsafe_bytes else { return };
        let bytes = lock(&self.channels).manager.unsafe_da_bytes();
        tracing::info!(target: TARGET, unsafe_da_bytes = bytes, "pending da bytes");
        lock(&self.stats).unsafe_da_bytes = bytes;
        let _ = sender.try_send(bytes);
    }

    /// Waits until the rollup node has derived up to the current L1 head (upstream
    /// `waitNodeSync`), so that a state rebuilt from its safe head is not stale.
    async fn wait_node_sync(&self, shutdown: &Cancel) {
        let Ok(tip) = with_timeout(self.timeout(), "eth_getBlockByNumber", self.ports.l1.head_header()).await
        else {
            tracing::warn!(target: TARGET, "failed to retrieve L1 tip for node sync");
            return;
        };
        loop {
            match with_timeout(self.timeout(), "optimism_syncStatus", self.ports.rollup.sync_status()).await {
                Ok(status) if status.current_l1.number >= tip.number => return,
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(target: TARGET, %error, "sync status failed while waiting for node sync")
                }
            }
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return,
                _ = sleep(ROLLUP_SYNC_POLL) => {}
            }
        }
    }

    /// Clears the channel state, new channels counting from `origin`, and records why.
    fn reset(&self, manager: &mut ChannelManager, origin: BlockNumHash, cause: ResetCause, safe_l2: u64) {
        let sent_channels_dropped = manager.clear(origin);
        let mut stats = lock(&self.stats);
        stats.state_clears += 1;
        stats.resets.push(StateReset { at: super::now(), cause, safe_l2, sent_channels_dropped });
    }

    /// Clears the channel manager from the rollup node's local-safe L1 origin (genesis L1 if 0),
    /// retrying every 5 s; cancelled => cleared from nothing.
    async fn clear_state(&self, shutdown: &Cancel, cause: ResetCause) {
        loop {
            match with_timeout(self.timeout(), "optimism_syncStatus", self.ports.rollup.sync_status()).await {
                Ok(status) => {
                    let origin = status.local_safe_l2.l1_origin;
                    let origin = if origin.number == 0 { self.config.rollup.genesis_l1 } else { origin };
                    tracing::info!(target: TARGET, origin = origin.number, ?cause, "clearing state");
                    let safe_l2 = status.local_safe_l2.block_info.number;
                    self.reset(&mut lock(&self.channels).manager, origin, cause, safe_l2);
                    return;
                }
                Err(error) => {
                    tracing::warn!(target: TARGET, %error, "failed to query L1 safe origin, will retry")
                }
            }
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => {
                    lock(&self.channels).manager.clear(BlockNumHash::default());
                    return;
                }
                _ = sleep(CLEAR_STATE_RETRY) => {}
            }
        }
    }

    async fn publishing_loop(
        self: Arc<Self>,
        mut signals: mpsc::Receiver<PubInfo>,
        receipts: mpsc::Sender<TxResult<TxRef>>,
        kill: Cancel,
    ) {
        let queue =
            Arc::new(TxQueue::new(self.txmgr.clone(), kill.clone(), self.config.max_pending_transactions));
        let da_limit = match self.config.max_concurrent_da_requests {
            0 => Semaphore::MAX_PERMITS,
            n => n,
        };
        let da = Arc::new(Semaphore::new(da_limit));
        while let Some(pi) = signals.recv().await {
            self.publish_state(&queue, &receipts, &da, pi, &kill).await;
        }
        // Wait for AltDA requests in flight, then for sends in flight.
        let _ = da.acquire_many(da_limit as u32).await;
        queue.wait().await;
        tracing::info!(target: TARGET, "publishing loop returning");
    }

    /// Sends transactions until there is no more data (upstream `publishStateToL1`).
    async fn publish_state(
        self: &Arc<Self>,
        queue: &Arc<TxQueue<A>>,
        receipts: &mpsc::Sender<TxResult<TxRef>>,
        da: &Arc<Semaphore>,
        pi: PubInfo,
        kill: &Cancel,
    ) {
        loop {
            if kill.is_cancelled() || !self.check_txpool(queue, receipts).await {
                return;
            }
            match self.publish_tx(queue, receipts, da, pi).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(error) => {
                    tracing::error!(target: TARGET, %error, "error publishing tx to L1");
                    return;
                }
            }
        }
    }

    /// One transaction's worth; `Ok(false)` when there is nothing (more) to send this round.
    async fn publish_tx(
        self: &Arc<Self>,
        queue: &Arc<TxQueue<A>>,
        receipts: &mpsc::Sender<TxResult<TxRef>>,
        da: &Arc<Semaphore>,
        pi: PubInfo,
    ) -> Result<bool, PublishError> {
        let tip = with_timeout(self.timeout(), "eth_getBlockByNumber", self.ports.l1.head_header())
            .await
            .map_err(PublishError::L1Head)?;
        let throttling = lock(&self.throttle).current().is_throttling();
        let caps = match self.config.da_type {
            DaType::Auto if !throttling => match self.txmgr.suggest_gas_price_caps().await {
                Ok(caps) => Some(caps),
                Err(error) => {
                    tracing::warn!(target: TARGET, %error, "error querying gas prices, keeping last DA type");
                    None
                }
            },
            _ => None,
        };
        let data = {
            let mut channels = lock(&self.channels);
            let Channels { manager, rng, .. } = &mut *channels;
            let mut priced = None;
            let data = manager.tx_data(tip.number, pi, rng, |current| match self.config.da_type {
                DaType::Auto if throttling => self.blob_cfg,
                DaType::Auto => match caps {
                    Some(caps) => {
                        let osaka = self.txmgr.cell_proofs_at(caps.l1_timestamp);
                        let blobs = auto_uses_blobs(&self.blob_cfg, &self.calldata_cfg, &caps, osaka, false);
                        priced = Some(blobs);
                        if blobs {
                            self.blob_cfg
                        } else {
                            self.calldata_cfg
                        }
                    }
                    None => *current,
                },
                _ => *current,
            })?;
            let mut stats = lock(&self.stats);
            stats.fill = manager.fill_stats();
            if let Some(use_blobs) = priced {
                stats.da_choices.push(DaChoice { at: super::now(), use_blobs });
            }
            data
        };
        let Some(data) = data else { return Ok(false) };
        self.send_transaction(data, queue, receipts, da).await
    }

    async fn send_transaction(
        self: &Arc<Self>,
        data: TxData,
        queue: &Arc<TxQueue<A>>,
        receipts: &mpsc::Sender<TxResult<TxRef>>,
        da: &Arc<Semaphore>,
    ) -> Result<bool, PublishError> {
        let inbox = self.config.rollup.batch_inbox;
        if self.config.da_type == DaType::AltDa {
            assert!(
                data.frames.len() == 1 && !data.as_blob,
                "AltDA channels carry one calldata frame per tx"
            );
            let id = data.id();
            let Ok(permit) = da.clone().try_acquire_owned() else {
                // Upstream rewinds and spins until a slot frees; ending the round waits for the
                // next signal instead, without thousands of simulated RPCs.
                self.record_failed_da_request(&id, None);
                return Ok(false);
            };
            let this = self.clone();
            let (queue, receipts) = (queue.clone(), receipts.clone());
            let alt_da = self.ports.alt_da.clone().expect("checked at construction");
            tokio::spawn(async move {
                let input = Bytes::from(data.call_data());
                match with_timeout(this.timeout(), "PUT /put", alt_da.put(input)).await {
                    Err(error) => this.record_failed_da_request(&id, Some(error)),
                    Ok(commitment) => {
                        tracing::info!(target: TARGET, tx = %id, %commitment, "altda input set");
                        let mut tx_data = Vec::with_capacity(1 + commitment.len());
                        tx_data.push(ALT_DA_VERSION);
                        tx_data.extend_from_slice(&commitment);
                        let candidate = TxCandidate {
                            tx_data: tx_data.into(),
                            blobs: Vec::new(),
                            to: inbox,
                            gas_limit: 0,
                        };
                        this.send_tx(
                            TxRef { id: Some(id), is_cancel: false, is_blob: false },
                            candidate,
                            &queue,
                            &receipts,
                        )
                        .await;
                    }
                }
                drop(permit);
            });
            return Ok(true);
        }
        let candidate = if data.as_blob {
            let blobs = data.blobs().map_err(PublishError::Blobs)?;
            TxCandidate { tx_data: Bytes::new(), blobs, to: inbox, gas_limit: 0 }
        } else {
            assert_eq!(data.frames.len(), 1, "a calldata tx carries one frame");
            TxCandidate { tx_data: data.call_data().into(), blobs: Vec::new(), to: inbox, gas_limit: 0 }
        };
        self.send_tx(
            TxRef { id: Some(data.id()), is_cancel: false, is_blob: data.as_blob },
            candidate,
            queue,
            receipts,
        )
        .await;
        Ok(true)
    }

    async fn send_tx(
        &self,
        tx_ref: TxRef,
        mut candidate: TxCandidate,
        queue: &TxQueue<A>,
        receipts: &mpsc::Sender<TxResult<TxRef>>,
    ) {
        candidate.gas_limit = floor_data_gas(&candidate.tx_data);
        // Before upstream 14517 the limit was the intrinsic gas, below the floor for batcher data.
        #[cfg(feature = "planted-bugs")]
        if crate::planted::active("gas-limit-below-floor") {
            let zeros = candidate.tx_data.iter().filter(|b| **b == 0).count() as u64;
            candidate.gas_limit = 21_000 + 4 * zeros + 16 * (candidate.tx_data.len() as u64 - zeros);
        }
        lock(&self.stats).txs_sent += 1;
        queue.send(tx_ref, candidate, receipts.clone()).await;
    }

    /// `false` while the txpool is blocked; sends the cancellation transaction on the first
    /// check after the block was seen.
    async fn check_txpool(&self, queue: &TxQueue<A>, receipts: &mpsc::Sender<TxResult<TxRef>>) -> bool {
        let blocked_blob = {
            let mut state = lock(&self.txpool);
            match *state {
                TxpoolState::Good => return true,
                TxpoolState::CancelPending { .. } => return false,
                TxpoolState::Blocked { blob } => {
                    *state = TxpoolState::CancelPending { blob };
                    blob
                }
            }
        };
        // `blocked_blob` is the type of *our* refused transaction; the one stuck in the pool is
        // of the other type. The cancellation takes the stuck one's type, at the stuck nonce (the
        // failed send reset the nonce), so that fee bumping replaces it: an empty calldata tx
        // for a stuck calldata tx, an empty-frame blob tx for a stuck blob tx.
        let inbox = self.config.rollup.batch_inbox;
        let cancel_as_blob = !blocked_blob;
        let candidate = if cancel_as_blob {
            let blob = crate::protocol::blob::encode_blob(&[crate::protocol::tx_data::DERIVATION_VERSION_0])
                .expect("one byte fits a blob");
            TxCandidate { tx_data: Bytes::new(), blobs: vec![blob], to: inbox, gas_limit: 0 }
        } else {
            TxCandidate { tx_data: Bytes::new(), blobs: Vec::new(), to: inbox, gas_limit: 0 }
        };
        tracing::warn!(target: TARGET, blocked_blob, cancel_as_blob, "sending a cancellation transaction to unblock txpool");
        lock(&self.stats).cancellations_sent += 1;
        self.send_tx(
            TxRef { id: None, is_cancel: true, is_blob: cancel_as_blob },
            candidate,
            queue,
            receipts,
        )
        .await;
        false
    }

    async fn receipts_loop(self: Arc<Self>, mut receipts: mpsc::Receiver<TxResult<TxRef>>) {
        while let Some(TxResult { id: tx_ref, result }) = receipts.recv().await {
            {
                let mut state = lock(&self.txpool);
                match (&result, *state) {
                    // Before upstream 10941 the failure was retried like any other, forever.
                    #[cfg(feature = "planted-bugs")]
                    (Err(error), TxpoolState::Good)
                        if error.is_already_reserved()
                            && crate::planted::active("txpool-blocked-no-cancel") => {}
                    (Err(error), TxpoolState::Good) if error.is_already_reserved() => {
                        tracing::warn!(target: TARGET, is_blob = tx_ref.is_blob, "incompatible tx in txpool");
                        *state = TxpoolState::Blocked { blob: tx_ref.is_blob };
                    }
                    (_, TxpoolState::CancelPending { .. }) if tx_ref.is_cancel => {
                        tracing::info!(target: TARGET, ok = result.is_ok(), "txpool may no longer be blocked");
                        *state = TxpoolState::Good;
                    }
                    _ => {}
                }
            }
            lock(&self.stats).fee_bumps.extend(self.txmgr.take_fee_bumps());
            let Some(id) = tx_ref.id else { continue };
            match result {
                Err(error) => {
                    tracing::warn!(target: TARGET, tx = %id, %error, "transaction failed to send");
                    lock(&self.stats).txs_failed += 1;
                    lock(&self.channels).manager.tx_failed(&id);
                }
                Ok(receipt) => {
                    tracing::info!(target: TARGET, tx = %id, block = receipt.block_number, "transaction confirmed");
                    {
                        let mut stats = lock(&self.stats);
                        stats.txs_confirmed += 1;
                        stats.confirmations.push((super::now(), receipt.block_number));
                        if tx_ref.is_blob {
                            stats.blob_txs_confirmed += 1;
                        } else {
                            stats.calldata_txs_confirmed += 1;
                        }
                    }
                    let block = BlockNumHash::new(receipt.block_number, receipt.block_hash);
                    if lock(&self.channels).manager.tx_confirmed(&id, block) {
                        lock(&self.stats).timed_out_channels.push(id.channel);
                    }
                }
            }
        }
        tracing::info!(target: TARGET, "receipts loop returning");
    }

    fn record_failed_da_request(&self, id: &TxId, error: Option<PortError>) {
        if let Some(error) = error {
            tracing::warn!(target: TARGET, tx = %id, %error, "DA request failed");
            lock(&self.stats).da_requests_failed += 1;
        }
        lock(&self.channels).manager.tx_failed(id);
    }

    async fn throttling_loop(self: Arc<Self>, mut unsafe_bytes: mpsc::Receiver<u64>, shutdown: Cancel) {
        let mut triggers = Vec::new();
        let mut endpoints = Vec::new();
        for (index, endpoint) in self.ports.throttle_endpoints.iter().enumerate() {
            let (tx, rx) = mpsc::channel(1);
            triggers.push(tx);
            endpoints.push(tokio::spawn(self.clone().endpoint_throttler(
                index,
                endpoint.clone(),
                rx,
                shutdown.clone(),
            )));
        }
        while let Some(bytes) = unsafe_bytes.recv().await {
            let params = lock(&self.throttle).update(bytes, super::now());
            let changed = {
                let mut stats = lock(&self.stats);
                let changed = stats.throttle != Some(params);
                stats.throttle = Some(params);
                changed
            };
            if changed {
                tracing::info!(
                    target: TARGET, unsafe_da_bytes = bytes, intensity = params.intensity,
                    max_tx_size = params.max_tx_size_bytes, max_block_size = params.max_block_size_bytes,
                    "throttle params changed"
                );
            }
            for trigger in &triggers {
                let _ = trigger.try_send(());
            }
        }
        drop(triggers);
        for endpoint in endpoints {
            let _ = endpoint.await;
        }
    }

    async fn endpoint_throttler(
        self: Arc<Self>,
        index: usize,
        endpoint: B,
        mut trigger: mpsc::Receiver<()>,
        shutdown: Cancel,
    ) {
        let mut retry_at: Option<Instant> = None;
        loop {
            tokio::select! {
                biased;
                signal = trigger.recv() => if signal.is_none() { return },
                _ = tokio::time::sleep_until(retry_at.unwrap_or_else(super::now)), if retry_at.is_some() => {}
            }
            retry_at = None;
            let params = lock(&self.throttle).current();
            let result = with_timeout(
                self.timeout(),
                "miner_setMaxDASize",
                endpoint.set_max_da_size(params.max_tx_size_bytes, params.max_block_size_bytes),
            )
            .await;
            if shutdown.is_cancelled() {
                return;
            }
            match result {
                Ok(true) => {}
                Err(error) if error.is_method_not_found() => {
                    let fatal = FatalError::ThrottlingUnavailable { endpoint: index, source: error };
                    tracing::error!(target: TARGET, message = %fatal, "critical error: stopping batcher");
                    lock(&self.stats).fatal = Some(fatal);
                    shutdown.cancel();
                    return;
                }
                Ok(false) | Err(_) => {
                    tracing::warn!(target: TARGET, endpoint = index, ?result, "setting max DA size failed, retrying");
                    retry_at = Some(super::now() + THROTTLE_RETRY);
                }
            }
        }
    }
}
