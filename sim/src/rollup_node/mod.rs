//! The rollup node (op-node's derivation side): kona-derive's pipeline over the fake L1, and
//! consolidation of what it derives with the sequencer's unsafe chain.
//!
//! - Derived attributes equal to the block at their height: the safe head advances.
//! - Different (or no block there yet): the block built from the attributes replaces the unsafe
//!   chain from that height (traced), and becomes safe. Under Holocene an invalid payload becomes a
//!   deposit-only block and the channel is flushed.
//! - L1 reorg (the pipeline asks for a reset): the safe head rewinds to the newest block whose L1
//!   origin and source L1 block are still canonical, and derivation restarts from its origin.
//! - `optimism_syncStatus` answers as op-node does, with empty L2 heads from a boot or a reset
//!   until derivation has caught up with the L1 head (the not-ready status a batcher must
//!   recognise).

pub mod oracle;
pub mod providers;
pub mod verifier;

use crate::{
    clock::sim_now,
    da::DaClient,
    l1::{L1Client, L1Config},
    l2::rpc::SyncStatusMethod,
    l2::{
        block::{
            assemble, decode, evm_block, validate, with_fork_blob_fee, BlockInputs, BuildError, L2Block,
        },
        chain::{lock, L2Chain, SharedL2},
    },
    net::RpcServer,
};
use alloy_eips::{
    eip2718::{Decodable2718, Encodable2718},
    BlockNumHash, BlockNumberOrTag,
};
use kona_derive::{
    AttributesBuilder, ChainProvider, OriginProvider, Pipeline, PipelineBuilder, PipelineError,
    PipelineErrorKind, PipelineResult, ResetSignal, Signal, SignalReceiver, StatefulAttributesBuilder,
    StepResult,
};
use kona_genesis::{RollupConfig, SystemConfig};
use kona_protocol::{BlockInfo, L2BlockInfo, OpAttributesWithParent, SyncStatus};
use op_alloy_consensus::OpTxEnvelope;
use op_alloy_rpc_types_engine::OpPayloadAttributes;
use providers::{block_info, DataSource, L1Provider, L2Provider};
use rollsim::evm::OpEvmExecutor;
use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

/// L1 heads as last seen, for the sync status.
#[derive(Debug, Clone, Copy, Default)]
struct L1View {
    current: BlockInfo,
    head: BlockInfo,
    safe: BlockInfo,
    finalized: BlockInfo,
    /// Whether derivation has caught up with the L1 head since the node booted or last reset.
    /// Until then the status reports empty L2 heads, op-node's not-ready status while its engine
    /// is not synced (which optimism#16298 taught the batcher to recognise).
    synced: bool,
}

/// What the rollup node shares with the world across restarts.
pub struct RollupNode {
    pub chain: SharedL2,
    pub rollup: Arc<RollupConfig>,
    pub system_config: SystemConfig,
    /// The engine's EVM: derived blocks execute in it.
    pub executor: OpEvmExecutor,
    /// The L1's chain config: slot time, and the forks whose blob parameters L1-info uses.
    pub l1_config: L1Config,
    /// Derivation waits while set (rollup-node lag fault); RPC keeps answering from the last view.
    pub paused: Arc<std::sync::atomic::AtomicBool>,
    /// Re-executes every safe block; the derivation loop holds it.
    pub verifier: tokio::sync::Mutex<verifier::Verifier>,
}

type Polled = kona_derive::DerivationPipeline<
    kona_derive::PolledAttributesQueueStage<DataSource, L1Provider, L2Provider, ForkAwareAttributes>,
    L2Provider,
>;

/// kona-derive's attributes builder, with the L1-info deposit's blob base fee taken from the L1
/// block's own fork ([`with_fork_blob_fee`]), as the sequencer builds it.
#[derive(Debug)]
struct ForkAwareAttributes {
    inner: StatefulAttributesBuilder<L1Provider, L2Provider>,
    l1: L1Provider,
    l1_config: L1Config,
}

#[async_trait::async_trait]
impl AttributesBuilder for ForkAwareAttributes {
    async fn prepare_payload_attributes(
        &mut self,
        l2_parent: L2BlockInfo,
        epoch: BlockNumHash,
    ) -> PipelineResult<OpPayloadAttributes> {
        let mut attributes = self.inner.prepare_payload_attributes(l2_parent, epoch).await?;
        let header = self.l1.header_by_hash(epoch.hash).await?;
        let bad = |what: String| PipelineError::Provider(format!("L1-info deposit: {what}")).crit();
        let Some(raw) = attributes.transactions.as_mut().and_then(|txs| txs.first_mut()) else {
            return Err(bad("missing".to_owned()));
        };
        let OpTxEnvelope::Deposit(deposit) =
            OpTxEnvelope::decode_2718(&mut raw.as_ref()).map_err(|e| bad(e.to_string()))?
        else {
            return Err(bad("the first transaction is not a deposit".to_owned()));
        };
        let deposit = with_fork_blob_fee(deposit.into_inner(), &header, &self.l1_config)
            .map_err(|e| bad(e.to_string()))?;
        *raw = deposit.encoded_2718().into();
        Ok(attributes)
    }
}

/// Why attributes and a block differ, as op-node's `AttributesMatchBlock` would say.
fn mismatch(block: &L2Block, inputs: &BlockInputs) -> Option<String> {
    let h = block.header();
    let extra = inputs.eip1559_params.map(|p| [&[0u8][..], p.as_slice()].concat()).unwrap_or_default();
    if h.timestamp != inputs.timestamp {
        return Some(format!("timestamp {} != {}", h.timestamp, inputs.timestamp));
    }
    if h.mix_hash != inputs.prev_randao {
        return Some(format!("prev_randao {} != {}", h.mix_hash, inputs.prev_randao));
    }
    if h.beneficiary != inputs.fee_recipient {
        return Some(format!("fee recipient {} != {}", h.beneficiary, inputs.fee_recipient));
    }
    if h.gas_limit != inputs.gas_limit {
        return Some(format!("gas limit {} != {}", h.gas_limit, inputs.gas_limit));
    }
    if h.parent_beacon_block_root != inputs.parent_beacon_block_root {
        return Some("parent beacon block root differs".to_owned());
    }
    if h.extra_data.as_ref() != extra.as_slice() {
        return Some("eip1559 params differ".to_owned());
    }
    if block.raw_txs.len() != inputs.txs.len() {
        return Some(format!("{} txs in the block, {} derived", block.raw_txs.len(), inputs.txs.len()));
    }
    block.raw_txs.iter().zip(&inputs.txs).position(|(a, b)| a != b).map(|i| format!("tx {i} differs"))
}

impl RollupNode {
    /// The node's init task: RPC server and the derivation loop.
    pub async fn run(self: Arc<Self>, addr: SocketAddr, l1: L1Client, da: Option<DaClient>) {
        let view = Arc::new(Mutex::new(L1View::default()));
        tokio::spawn(rpc_server(self.chain.clone(), view.clone()).serve(addr));
        let l1_provider = L1Provider { l1: l1.clone() };
        let l2_provider = L2Provider { chain: self.chain.clone(), system_config: self.system_config };
        let mut pipeline: Polled = PipelineBuilder::new()
            .rollup_config(self.rollup.clone())
            .origin(BlockInfo::default())
            .dap_source(DataSource::new(l1.clone(), da, &self.rollup))
            .builder(ForkAwareAttributes {
                inner: StatefulAttributesBuilder::new(
                    self.rollup.clone(),
                    l2_provider.clone(),
                    l1_provider.clone(),
                ),
                l1: l1_provider.clone(),
                l1_config: self.l1_config.clone(),
            })
            .chain_provider(l1_provider)
            .l2_chain_provider(l2_provider)
            .build_polled();
        while let Err(error) = self.reset(&mut pipeline, &l1).await {
            tracing::info!(target: "rollsim_sim::rollup_node", %error, "pipeline reset failed: retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let mut verifier = self.verifier.lock().await;
        loop {
            verifier.catch_up(&self.chain).await;
            while self.paused.load(std::sync::atomic::Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            let cursor = lock(&self.chain).safe().info;
            let step = pipeline.step(cursor).await;
            let set_synced = |synced| rollsim::sync::lock(&view).synced = synced;
            if let Some(origin) = pipeline.origin() {
                rollsim::sync::lock(&view).current = origin;
            }
            match step {
                StepResult::PreparedAttributes => {
                    while let Some(attributes) = pipeline.next() {
                        if self.consolidate(attributes) {
                            let _ = pipeline.signal(Signal::FlushChannel).await;
                        }
                    }
                }
                StepResult::AdvancedOrigin => {}
                StepResult::OriginAdvanceErr(error) | StepResult::StepFailed(error) => match error {
                    // More data is at hand (e.g. the next batch of a channel): step again now.
                    // Waiting a slot here would read one old batch per L1 block after a reset.
                    PipelineErrorKind::Temporary(PipelineError::NotEnoughData) => {}
                    PipelineErrorKind::Temporary(_) => {
                        self.refresh_l1_view(&l1, &view).await;
                        set_synced(true);
                        self.wait_for_next_l1_block().await;
                    }
                    PipelineErrorKind::Reset(reason) => {
                        tracing::info!(target: "rollsim_sim::rollup_node", %reason, "derivation reset");
                        set_synced(false);
                        while let Err(error) = self.reset(&mut pipeline, &l1).await {
                            tracing::info!(target: "rollsim_sim::rollup_node", %error, "pipeline reset failed: retrying");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                    PipelineErrorKind::Critical(error) => {
                        tracing::warn!(target: "rollsim_sim::rollup_node", %error, "critical derivation error: resetting");
                        set_synced(false);
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        let _ = self.reset(&mut pipeline, &l1).await;
                    }
                },
            }
        }
    }

    /// Sleeps until just after the next L1 slot starts: derivation has nothing new before.
    async fn wait_for_next_l1_block(&self) {
        let slot_s = self.l1_config.slot_s;
        let slot = Duration::from_secs(slot_s);
        let now = sim_now();
        let next = Duration::from_secs((now.as_secs() / slot_s + 1) * slot_s) + Duration::from_millis(100);
        tokio::time::sleep((next - now).min(slot)).await;
    }

    async fn refresh_l1_view(&self, l1: &L1Client, view: &Mutex<L1View>) {
        let mut fetched = [BlockInfo::default(); 3];
        for (slot, tag) in fetched.iter_mut().zip([
            BlockNumberOrTag::Latest,
            BlockNumberOrTag::Safe,
            BlockNumberOrTag::Finalized,
        ]) {
            match l1.block_by_number(tag).await {
                Ok(Some(block)) => *slot = block_info(&block),
                _ => return,
            }
        }
        let [head, safe, finalized] = fetched;
        {
            let mut view = rollsim::sync::lock(view);
            view.head = head;
            view.safe = safe;
            view.finalized = finalized;
        }
        lock(&self.chain).finalize(finalized.number);
    }

    /// Whether `id` is on the canonical L1 chain.
    async fn canonical(&self, l1: &L1Client, id: BlockNumHash) -> Result<bool, crate::net::RpcError> {
        Ok(l1.block_by_number(BlockNumberOrTag::Number(id.number)).await?.is_some_and(|b| b.hash == id.hash))
    }

    /// Rewinds the safe head to the newest block whose L1 origin and source L1 block are both
    /// canonical, then restarts the pipeline at that block's L1 origin.
    async fn reset(&self, pipeline: &mut Polled, l1: &L1Client) -> Result<(), String> {
        let mut number = lock(&self.chain).safe().number();
        while number > 0 {
            let (origin, from) = {
                let chain = lock(&self.chain);
                let block = chain.block(number).expect("safe block exists");
                (block.info.l1_origin, chain.derived_from(number).expect("safe blocks have a source"))
            };
            let canonical = self.canonical(l1, origin).await.map_err(|e| e.to_string())?
                && self.canonical(l1, from).await.map_err(|e| e.to_string())?;
            if canonical {
                break;
            }
            number -= 1;
        }
        let safe_info = {
            let mut chain = lock(&self.chain);
            let old = chain.safe().number();
            if number < old {
                let from = chain.derived_from(number).expect("safe blocks have a source");
                chain.set_safe(number, from);
                tracing::info!(target: "rollsim_sim::rollup_node", from = old, to = number, "l2 safe head rewound");
            }
            chain.safe().info
        };
        let origin = l1
            .block_by_number(BlockNumberOrTag::Number(safe_info.l1_origin.number))
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the safe head's L1 origin is missing")?;
        let signal = ResetSignal {
            l2_safe_head: safe_info,
            l1_origin: block_info(&origin),
            system_config: Some(self.system_config),
        };
        pipeline.signal(signal.signal()).await.map_err(|e| e.to_string())
    }

    /// Applies derived attributes to the chain. Returns whether the channel must be flushed
    /// (Holocene: the payload was invalid and replaced by a deposit-only block).
    fn consolidate(&self, attributes: OpAttributesWithParent) -> bool {
        let parent = attributes.parent;
        let number = parent.block_info.number + 1;
        let from = attributes.derived_from.map(|b| b.id()).unwrap_or_default();
        let payload = attributes.inner;
        let inputs = BlockInputs {
            timestamp: payload.payload_attributes.timestamp,
            prev_randao: payload.payload_attributes.prev_randao,
            fee_recipient: payload.payload_attributes.suggested_fee_recipient,
            parent_beacon_block_root: payload.payload_attributes.parent_beacon_block_root,
            gas_limit: payload.gas_limit.unwrap_or(self.system_config.gas_limit),
            eip1559_params: payload.eip_1559_params,
            txs: payload.transactions.unwrap_or_default(),
        };
        let mut chain = lock(&self.chain);
        if chain.safe().hash != parent.block_info.hash {
            tracing::info!(target: "rollsim_sim::rollup_node", number, "derived attributes for a stale parent dropped");
            return false;
        }
        if let Some(existing) = chain.block(number).cloned() {
            match mismatch(&existing, &inputs) {
                None => {
                    chain.set_safe(number, from);
                    chain.stats.blocks_consolidated += 1;
                    tracing::info!(target: "rollsim_sim::rollup_node", number, hash = %existing.hash, l1 = from.number, "l2 safe head");
                    return false;
                }
                Some(reason) => {
                    let dropped = chain.truncate(parent.block_info.number);
                    chain.stats.unsafe_reorgs += 1;
                    chain.stats.unsafe_blocks_replaced += dropped as u64;
                    tracing::info!(
                        target: "rollsim_sim::rollup_node", number, dropped, reason = %reason,
                        "l2 unsafe chain replaced by derived block"
                    );
                }
            }
        } else {
            chain.stats.blocks_derived_ahead += 1;
        }
        let parent_block = chain.head().clone();
        let (block, flush) = match self.execute(&mut chain, &parent_block, inputs.clone()) {
            Ok(block) => (block, false),
            Err(error) => {
                tracing::info!(target: "rollsim_sim::rollup_node", number, %error, "invalid payload: deposit-only block");
                let deposits_only = BlockInputs {
                    txs: inputs.txs.into_iter().filter(|raw| raw.first() == Some(&0x7e)).collect(),
                    ..inputs
                };
                let block = self
                    .execute(&mut chain, &parent_block, deposits_only)
                    .expect("a deposit-only payload always builds");
                (block, true)
            }
        };
        tracing::info!(target: "rollsim_sim::rollup_node", number, hash = %block.hash, l1 = from.number, "l2 safe head (derived block)");
        chain.append(block);
        chain.set_safe(number, from);
        flush
    }
}

impl RollupNode {
    /// The engine's execution of a derived payload on `parent` (the head): decoded, validated,
    /// executed on the chain's state (which advances to it) and assembled. An invalid payload
    /// leaves the state as it was.
    fn execute(
        &self,
        chain: &mut L2Chain,
        parent: &L2Block,
        inputs: BlockInputs,
    ) -> Result<L2Block, BuildError> {
        let decoded = decode(&inputs.txs)?;
        validate(parent.header(), &inputs, &decoded)?;
        let txs = decoded.iter().map(|(tx, sender)| (tx, *sender));
        let block =
            evm_block(parent.header(), parent.hash, &inputs, txs, chain.ancestor_hashes(parent.number()));
        let (output, state_root) = chain
            .state_mut()
            .execute(&self.executor, &block)
            .map_err(|error| BuildError::Execution(error.to_string()))?;
        let withdrawals_root = chain.state().withdrawals_root();
        assemble(
            parent.header(),
            parent.hash,
            inputs,
            decoded,
            &self.rollup.genesis,
            &output,
            state_root,
            withdrawals_root,
        )
        .inspect_err(|_| chain.state_mut().rewind(parent.number()))
    }
}

/// Node `rollup`'s RPC.
fn rpc_server(chain: SharedL2, view: Arc<Mutex<L1View>>) -> RpcServer {
    let mut server = RpcServer::new();
    server.register::<SyncStatusMethod>(move |()| {
        let view = *rollsim::sync::lock(&view);
        let chain = lock(&chain);
        let l2 = |info: L2BlockInfo| if view.synced { info } else { L2BlockInfo::default() };
        Ok(SyncStatus {
            current_l1: view.current,
            current_l1_finalized: view.finalized,
            head_l1: view.head,
            safe_l1: view.safe,
            finalized_l1: view.finalized,
            unsafe_l2: l2(chain.head().info),
            safe_l2: l2(chain.safe().info),
            finalized_l2: l2(chain.finalized().info),
            cross_unsafe_l2: l2(chain.head().info),
            local_safe_l2: l2(chain.safe().info),
        })
    });
    server
}
