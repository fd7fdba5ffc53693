//! The sequencer node: op-geth's block building with op-node's sequencing rules.
//!
//! Every `block_time_s` it builds the next unsafe block: picks the L1 origin as op-node does
//! (adopt the next L1 block once the L2 time reaches it, keeping `sequencer_conf_depth` blocks
//! behind the L1 head; past the max sequencer drift only a new origin or an empty block), puts the
//! L1-info deposit first, then user transactions from the pool within the gas limit and the DA
//! limits set by `miner_setMaxDASize`. The DA limits live in memory: a restart forgets them, as
//! op-geth does.

use crate::{
    clock::sim_now,
    l1::{chain::L1Block, L1Client, L1Config},
    l2::rpc::{L2BlockByHash, L2BlockByNumber, SetMaxDASize},
    l2::workload::Workload,
    l2::{
        block::{self, assemble, evm_block, validate, BlockInputs, L2Block},
        chain::{lock, PendingTx, SharedL2},
        engine::PayloadFaultSource,
        L2Config,
    },
    net::{RpcError, RpcServer},
    profile::{self, Bucket},
    verdict::{Invariant, Monitor},
};
use alloy_consensus::{Sealable, Sealed};
use alloy_eips::{eip2718::Encodable2718, BlockNumberOrTag};
use kona_genesis::{RollupConfig, SystemConfig};
use kona_protocol::{L1BlockInfoTx, Predeploys};
use op_alloy_consensus::{OpTxEnvelope, TxDeposit};
use rollsim::{
    cancel::Cancel,
    evm::{AncestorHashes, OpEvmExecutor},
    payload::{PayloadError, PayloadProcessor, PreState},
};

/// The `from` of L1-info deposits (op-node's L1 attributes depositor).
const DEPOSITOR: alloy_primitives::Address =
    alloy_primitives::address!("deaddeaddeaddeaddeaddeaddeaddeaddead0001");
use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

/// The max sequencer drift after Fjord (a protocol constant).
pub const MAX_SEQUENCER_DRIFT_S: u64 = 1_800;

/// A block being built: the users' transactions taken from the pool, the state and the
/// ancestors' hashes it executes on.
struct Building {
    user: Vec<PendingTx>,
    pre_state: Arc<PreState>,
    ancestor_hashes: AncestorHashes,
}

/// What the sequencer shares with the world across restarts.
pub struct Sequencer {
    pub chain: SharedL2,
    pub rollup: Arc<RollupConfig>,
    pub system_config: SystemConfig,
    pub config: L2Config,
    /// The L1's chain config: genesis time, and the forks whose blob parameters L1-info uses.
    pub l1_config: L1Config,
    /// Users keep sending while the sequencer is down: the workload outlives restarts.
    pub workload: Mutex<Workload>,
    /// The DA limits `miner_setMaxDASize` set, `(max_tx, max_block)` bytes (0: none): in memory,
    /// zeroed at each start; shared so the throttling invariant can read them.
    pub da_limits: Arc<Mutex<(u64, u64)>>,
    /// Executes each block and computes its state root.
    pub payload: PayloadProcessor<OpEvmExecutor>,
    pub payload_faults: Arc<PayloadFaultSource>,
    pub monitor: Arc<Monitor>,
}

/// Why a block could not be built now.
#[derive(Debug, thiserror::Error)]
enum SequencingError {
    #[error("L1: {0}")]
    L1(#[from] RpcError),
    #[error("L1 block {0} is not available")]
    MissingL1(String),
    #[error("past the max sequencer drift and no next L1 origin is available")]
    PastDrift,
    #[error("the chain head moved while building")]
    HeadMoved,
    #[error("building: {0}")]
    Build(String),
    #[error("block building cancelled")]
    Cancelled,
}

impl Sequencer {
    /// The node's init task: RPC server and block production.
    pub async fn run(self: Arc<Self>, addr: SocketAddr, l1: L1Client) {
        // A restart forgets the limits: the batcher must set them again.
        let limits = self.da_limits.clone();
        *rollsim::sync::lock(&limits) = (0, 0);
        // A block that was being built when the node went down: its transactions go back.
        lock(&self.chain).requeue_building();
        tokio::spawn(rpc_server(self.chain.clone(), limits.clone()).serve(addr));
        loop {
            let next_timestamp = lock(&self.chain).head().timestamp() + self.config.block_time_s;
            let at = Duration::from_secs(next_timestamp - self.l1_config.genesis_timestamp);
            tokio::time::sleep(at.saturating_sub(sim_now())).await;
            match self.build_next(&l1, &limits).await {
                Ok(()) => {}
                Err(error) => {
                    tracing::info!(target: "rollsim_sim::sequencer", %error, "l2 block not built");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    async fn l1_block(&self, l1: &L1Client, number: u64) -> Result<Option<Arc<L1Block>>, RpcError> {
        l1.block_by_number(BlockNumberOrTag::Number(number)).await
    }

    /// Picks the L1 origin of the block after `parent` (op-node's L1OriginSelector).
    async fn select_origin(&self, l1: &L1Client, parent: &L2Block) -> Result<Arc<L1Block>, SequencingError> {
        let current_id = parent.info.l1_origin;
        let current = l1
            .block_by_hash(current_id.hash)
            .await?
            .ok_or_else(|| SequencingError::MissingL1(format!("{current_id:?}")))?;
        let timestamp = parent.timestamp() + self.config.block_time_s;
        let past_drift = timestamp > current.header.timestamp + MAX_SEQUENCER_DRIFT_S;
        let head = l1.block_number().await?;
        let next_number = current_id.number + 1;
        let next = if next_number + self.config.sequencer_conf_depth <= head || past_drift {
            self.l1_block(l1, next_number).await?
        } else {
            None
        };
        match next {
            Some(next) if next.header.parent_hash == current.hash && timestamp >= next.header.timestamp => {
                Ok(next)
            }
            _ if past_drift => Err(SequencingError::PastDrift),
            _ => Ok(current),
        }
    }

    /// If the unsafe chain's L1 origins were reorged out of L1, drops the unsafe blocks built on
    /// them (op-node's sequencer reset). Never touches safe blocks.
    async fn drop_reorged_origins(&self, l1: &L1Client) -> Result<(), SequencingError> {
        let mut keep = lock(&self.chain).head().number();
        loop {
            let (origin, safe) = {
                let chain = lock(&self.chain);
                (chain.block(keep).expect("block at or below head").info.l1_origin, chain.safe().number())
            };
            if keep <= safe {
                break;
            }
            let canonical = self.l1_block(l1, origin.number).await?.map(|b| b.hash);
            if canonical == Some(origin.hash) {
                break;
            }
            keep -= 1;
        }
        let mut chain = lock(&self.chain);
        // The rollup node may have moved the safe head while L1 was asked: safe blocks stay.
        let keep = keep.max(chain.safe().number());
        if keep < chain.head().number() {
            let from = chain.head().number();
            let dropped = chain.truncate(keep);
            chain.stats.unsafe_reorgs += 1;
            chain.stats.unsafe_blocks_replaced += dropped as u64;
            tracing::info!(
                target: "rollsim_sim::sequencer", from, to = keep, dropped,
                "l2 unsafe blocks dropped: their l1 origin was reorged out"
            );
        }
        Ok(())
    }

    /// The L1-info deposit opening a block at `timestamp` on `origin`, with the blob base fee of
    /// the origin's fork.
    fn l1_info_deposit(
        &self,
        origin: &L1Block,
        sequence_number: u64,
        timestamp: u64,
    ) -> Result<Sealed<TxDeposit>, SequencingError> {
        let (_, deposit) = L1BlockInfoTx::try_new_with_deposit_tx(
            &self.rollup,
            &self.system_config,
            sequence_number,
            &origin.header,
            timestamp,
        )
        .map_err(|e| SequencingError::Build(e.to_string()))?;
        Ok(block::with_fork_blob_fee(deposit.into_inner(), &origin.header, &self.l1_config)
            .map_err(|e| SequencingError::Build(e.to_string()))?
            .seal_slow())
    }

    /// Moves the users' new transactions into the pool and takes the block's from it, within
    /// `(gas, max_tx_da, max_block_da)` (none when the block may not include any), marking them as
    /// building; with the pre-state and the ancestors' hashes to execute on. Fails if the head
    /// moved off `parent` meanwhile.
    fn take_user_txs(
        &self,
        parent: &L2Block,
        limits: Option<(u64, u64, u64)>,
    ) -> Result<Building, SequencingError> {
        let mut chain = lock(&self.chain);
        if chain.head().hash != parent.hash {
            return Err(SequencingError::HeadMoved);
        }
        let arrivals = rollsim::sync::lock(&self.workload).arrivals(sim_now(), chain.pool().len());
        for tx in arrivals {
            chain.pool_push(tx);
        }
        let user = match limits {
            None => Vec::new(),
            Some((gas, max_tx_da, max_block_da)) => chain.take_txs(gas, max_tx_da, max_block_da),
        };
        chain.set_building(user.clone());
        Ok(Building {
            user,
            pre_state: chain.state().head(),
            ancestor_hashes: chain.ancestor_hashes(parent.number()),
        })
    }

    async fn build_next(&self, l1: &L1Client, limits: &Mutex<(u64, u64)>) -> Result<(), SequencingError> {
        self.drop_reorged_origins(l1).await?;
        let parent = lock(&self.chain).head().clone();
        let origin = self.select_origin(l1, &parent).await?;
        let timestamp = parent.timestamp() + self.config.block_time_s;
        let sequence_number =
            if origin.hash == parent.info.l1_origin.hash { parent.info.seq_num + 1 } else { 0 };
        let deposit = self.l1_info_deposit(&origin, sequence_number, timestamp)?;
        let no_tx_pool = timestamp > origin.header.timestamp + MAX_SEQUENCER_DRIFT_S;

        // Limits are read at assembly, as op-geth's miner does: a block assembled after
        // `miner_setMaxDASize` returned respects them.
        let (max_tx_da, max_block_da) = *rollsim::sync::lock(limits);
        let deposit_raw = deposit.encoded_2718();
        let gas = self.system_config.gas_limit - deposit.gas_limit;
        let Building { user, pre_state, ancestor_hashes } =
            self.take_user_txs(&parent, (!no_tx_pool).then_some((gas, max_tx_da, max_block_da)))?;
        let da_bytes: u64 = user.iter().map(|tx| tx.da_bytes).sum();
        let mut txs = Vec::with_capacity(1 + user.len());
        let mut decoded = Vec::with_capacity(1 + user.len());
        txs.push(deposit_raw.into());
        decoded.push((OpTxEnvelope::Deposit(deposit), DEPOSITOR));
        for tx in user {
            txs.push(tx.raw);
            decoded.push((tx.envelope, tx.sender));
        }
        let inputs = BlockInputs {
            timestamp,
            prev_randao: origin.header.mix_hash,
            fee_recipient: Predeploys::SEQUENCER_FEE_VAULT,
            parent_beacon_block_root: Some(origin.header.parent_beacon_block_root.unwrap_or_default()),
            gas_limit: self.system_config.gas_limit,
            eip1559_params: self.system_config.eip_1559_params(&self.rollup, parent.timestamp(), timestamp),
            txs,
        };
        let requeue = |error| {
            lock(&self.chain).requeue_building();
            error
        };
        validate(parent.header(), &inputs, &decoded)
            .map_err(|e| requeue(SequencingError::Build(e.to_string())))?;

        let block = evm_block(
            parent.header(),
            parent.hash,
            &inputs,
            decoded.iter().map(|(tx, sender)| (tx, *sender)),
            ancestor_hashes,
        );
        let faults = self.payload_faults.draw("sequencer", block.txs.len());
        let injected = faults != Default::default();
        let cancel = Cancel::new();
        let executed =
            self.payload.execute_block(pre_state, Arc::new(block), Arc::new(faults), None, &cancel);
        let executed = profile::scoped(Bucket::Payload, executed).await;
        let mut chain = lock(&self.chain);
        if chain.head().hash != parent.hash {
            drop(chain);
            return Err(requeue(SequencingError::HeadMoved));
        }
        let (executed, root) = match executed {
            Ok(executed) => executed,
            Err(PayloadError::Cancelled) => {
                chain.stats.sequencer_blocks_cancelled += 1;
                drop(chain);
                return Err(requeue(SequencingError::Cancelled));
            }
            Err(error) => {
                drop(chain);
                return Err(requeue(SequencingError::Build(error.to_string())));
            }
        };
        if let Some(fallback) = &root.fallback {
            chain.stats.sequencer_payload_fallbacks += 1;
            if !injected {
                let number = parent.number() + 1;
                let detail = format!("sequencer block {number}: {fallback:?} with no fault injected");
                self.monitor.violate(Invariant::PayloadNoSpuriousFallback, detail);
            }
        }
        let output = executed.output;
        // A builder leaves out what does not execute (a fee its sender cannot pay): those
        // transactions are dropped, as op-geth's miner drops them.
        for (index, reason) in &output.rejected {
            chain.stats.sequencer_txs_rejected += 1;
            tracing::info!(target: "rollsim_sim::sequencer", tx = %decoded[*index].0.tx_hash(), %reason, "transaction left out");
        }
        if output.included.first() != Some(&0) {
            drop(chain);
            return Err(requeue(SequencingError::Build("the L1-info deposit did not execute".to_owned())));
        }
        let inputs =
            BlockInputs { txs: output.included.iter().map(|i| inputs.txs[*i].clone()).collect(), ..inputs };
        let decoded: Vec<_> = output.included.iter().map(|i| decoded[*i].clone()).collect();
        let user_count = decoded.len() - 1;
        chain.state_mut().advance(&executed.state, &output.codes, executed.trie);
        let withdrawals_root = chain.state().withdrawals_root();
        let block = match assemble(
            parent.header(),
            parent.hash,
            inputs,
            decoded,
            &self.rollup.genesis,
            &output,
            root.state_root,
            withdrawals_root,
        ) {
            Ok(block) => block,
            Err(error) => {
                chain.state_mut().rewind(parent.number());
                drop(chain);
                return Err(requeue(SequencingError::Build(error.to_string())));
            }
        };
        tracing::info!(
            target: "rollsim_sim::sequencer",
            number = block.number(), hash = %block.hash, origin = origin.number(), seq = sequence_number,
            txs = user_count, da_bytes, max_tx_da, max_block_da, pool = chain.pool().len(),
            state_root = %block.header().state_root, "l2 block"
        );
        chain.append_produced(block);
        Ok(())
    }
}

/// Node `sequencer`'s RPC (op-geth's methods the batcher and tests use).
fn rpc_server(chain: SharedL2, limits: Arc<Mutex<(u64, u64)>>) -> RpcServer {
    let mut server = RpcServer::new();
    let shared = chain.clone();
    server.register::<L2BlockByNumber>(move |tag| {
        let chain = lock(&shared);
        Ok(match tag {
            BlockNumberOrTag::Latest | BlockNumberOrTag::Pending => Some(chain.head().clone()),
            BlockNumberOrTag::Safe => Some(chain.safe().clone()),
            BlockNumberOrTag::Finalized => Some(chain.finalized().clone()),
            BlockNumberOrTag::Earliest => chain.block(0).cloned(),
            BlockNumberOrTag::Number(n) => chain.block(n).cloned(),
        })
    });
    let shared = chain;
    server.register::<L2BlockByHash>(move |hash| {
        let chain = lock(&shared);
        // Recent blocks are the ones asked for: search from the head.
        Ok(chain.retained().iter().rev().find(|b| b.hash == hash).cloned())
    });
    server.register::<SetMaxDASize>(move |(max_tx, max_block)| {
        let mut current = rollsim::sync::lock(&limits);
        if *current != (max_tx, max_block) {
            tracing::info!(target: "rollsim_sim::sequencer", max_tx, max_block, "da limits set");
            *current = (max_tx, max_block);
        }
        Ok(true)
    });
    server
}
