//! Oracles: what must hold after every run. Each check says what broke and where.
//!
//! Most are checked over the final chains. Those about the batcher's behaviour over time (nonce
//! gaps, throttling) are watched online by [`watch`]: the first violation of each is recorded
//! with its simulated time and trace position, so a failing run points at the moment it broke.

use crate::posted::PostedChannel;
use crate::{
    batcher_node::SharedBatcherStats,
    clock::{sim_now, sim_time_of},
    faults::FaultActivity,
    l1::{self, chain::L1Chain, SharedChain},
    l1::{chain::L1Block, forks::L1Fork},
    l2::block::L2Block,
    l2::chain::{self as l2_chain, L2Chain, PrunedBlock, SharedL2},
    l2::workload::{TxType, TxTypeMix},
    rollup_node::verifier::VerifierStats,
    verdict::{Invariant, Monitor, Verdict},
};
use alloy_eips::eip1559::{calc_next_block_base_fee, BaseFeeParams};
use alloy_primitives::{Address, B256};
use rollsim::batcher::{
    txmgr::{FeeBump, TxFees},
    ResetCause,
};
use rollsim::protocol::frame::ChannelId;
use rollsim::sync::lock;
use std::collections::{BTreeMap, BTreeSet};
use std::{sync::Arc, sync::Mutex, time::Duration};

/// The L1 invariants as a fold over the canonical chain, oldest block first. Blocks pruned below
/// finality are judged as they leave the chain ([`L1Judge::judge`]), the rest at the end of the
/// run ([`L1Judge::verdicts`]), so the verdicts are those of one pass over the whole chain. What
/// it keeps grows with the chain only by each transaction's hash (`l1_receipts`: no repeat
/// anywhere) and each block's timestamp (`batcher_confirmation_depth`).
#[derive(Debug, Clone, Default)]
pub struct L1Judge {
    /// Blocks judged so far.
    blocks: u64,
    /// The newest block judged: the next one links to it and follows its fees.
    parent: Option<Arc<L1Block>>,
    forks_seen: Vec<L1Fork>,
    /// Each sender's next nonce along the chain.
    next_nonce: BTreeMap<Address, u64>,
    /// Every included transaction's hash.
    seen: BTreeSet<B256>,
    /// Each judged block's timestamp, by number.
    timestamps: Vec<u64>,
    /// The first failure of each check, in the order of the chain.
    linked: Option<String>,
    fee_market: Option<String>,
    nonce_order: Option<String>,
    receipts: Option<String>,
}

impl L1Judge {
    /// Judges `block`, the canonical block after the last one judged, while `chain` still holds
    /// it (receipts are looked up by hash).
    pub fn judge(&mut self, chain: &L1Chain, block: &Arc<L1Block>) {
        let parent = self.parent.as_deref();
        if self.linked.is_none() {
            self.linked = link_error(chain.config(), self.blocks, parent, block);
        }
        match parent {
            None => self.forks_seen.push(block.fork),
            Some(parent) if self.fee_market.is_none() => {
                self.fee_market = fee_error(chain, parent, block, &mut self.forks_seen);
            }
            Some(_) => {}
        }
        if self.nonce_order.is_none() {
            self.nonce_order = nonce_error(&mut self.next_nonce, block);
        }
        if self.receipts.is_none() {
            self.receipts = receipt_error(chain, &mut self.seen, block);
        }
        self.timestamps.push(block.header.timestamp);
        self.blocks += 1;
        self.parent = Some(block.clone());
    }

    /// The number of the next block to judge: how far the fold has come.
    pub fn next_block(&self) -> u64 {
        self.blocks
    }

    /// Judges the blocks `chain` still holds and gives every L1 verdict; the timestamps of all
    /// canonical blocks by number come back for the confirmation-depth check.
    pub fn verdicts(mut self, chain: &L1Chain) -> (Vec<Verdict>, Vec<u64>) {
        let first = chain.canonical().first().map_or(0, |block| block.number());
        let skip = self.blocks.saturating_sub(first) as usize;
        for block in chain.canonical().iter().skip(skip) {
            self.judge(chain, block);
        }
        let blocks = self.blocks;
        let linked = self.linked.map_or_else(|| Ok(format!("{blocks} blocks linked")), Err);
        let fee_market = match self.fee_market {
            Some(error) => Err(error),
            None => {
                let head = chain.head();
                let forks: Vec<String> = self.forks_seen.iter().map(ToString::to_string).collect();
                Ok(format!(
                    "{blocks} blocks follow EIP-1559/EIP-4844/EIP-7918 across {}; head base fee {} wei, blob fee {} wei",
                    forks.join(" -> "),
                    head.base_fee(),
                    head.blob_fee()
                ))
            }
        };
        let nonce_order = match self.nonce_order {
            Some(error) => Err(error),
            None => nonces_agree(chain, &self.next_nonce),
        };
        let receipts = self
            .receipts
            .map_or_else(|| Ok(format!("{} included txs have their receipts", self.seen.len())), Err);
        let verdicts = vec![
            Verdict::of(Invariant::L1ChainLinked, linked),
            Verdict::of(Invariant::L1FeeMarket, fee_market),
            Verdict::of(Invariant::L1NonceOrder, nonce_order),
            Verdict::of(Invariant::L1Receipts, receipts),
            Verdict::of(Invariant::L1HeadsOrdered, heads_ordered(chain)),
        ];
        (verdicts, self.timestamps)
    }
}

/// `l1_chain_linked` for block `index` of the chain: its hash is the keccak of its header, its
/// number is its height, its timestamp its slot's start, and it links to `parent` at an earlier
/// slot.
fn link_error(
    config: &l1::L1Config,
    index: u64,
    parent: Option<&L1Block>,
    block: &L1Block,
) -> Option<String> {
    let h = &block.header;
    if block.hash != h.hash_slow() {
        return Some(format!("block {}: stored hash {} is not the header's hash", h.number, block.hash));
    }
    if h.number != index {
        return Some(format!("block at height {index} has number {}", h.number));
    }
    if h.timestamp != config.genesis_timestamp + block.slot * config.slot_s {
        return Some(format!(
            "block {}: timestamp {} is not slot {}'s start",
            h.number, h.timestamp, block.slot
        ));
    }
    let parent = parent?;
    if h.parent_hash != parent.hash {
        return Some(format!(
            "block {}: parent hash {} is not block {}'s hash",
            h.number,
            h.parent_hash,
            index - 1
        ));
    }
    if block.slot <= parent.slot {
        return Some(format!(
            "block {}: slot {} is not after the parent's {}",
            h.number, block.slot, parent.slot
        ));
    }
    None
}

/// `l1_fee_market` for `block` on `parent`: base fee and excess blob gas follow alloy-eips'
/// formulas from the parent, with the blob parameters of the block's own fork (EIP-7918's reserve
/// price from Osaka); gas and blobs stay within the fork's limits; every included transaction pays
/// the base fee and blob base fee and keeps the fork's per-transaction rules (Osaka: cell-proof
/// sidecars, 6 blobs, 2^24 gas). Adds the block's fork to `forks_seen` when it changes.
fn fee_error(
    chain: &L1Chain,
    parent: &L1Block,
    block: &L1Block,
    forks_seen: &mut Vec<L1Fork>,
) -> Option<String> {
    let (parent, h) = (&parent.header, &block.header);
    let fork = chain.config().fork_at(h.timestamp);
    if block.fork != fork {
        return Some(format!("block {}: built under {}, its timestamp is in {fork}", h.number, block.fork));
    }
    if forks_seen.last() != Some(&fork) {
        forks_seen.push(fork);
    }
    let params = fork.blob_params();
    let parent_base_fee = parent.base_fee_per_gas.unwrap_or_default();
    let base_fee = calc_next_block_base_fee(
        parent.gas_used,
        parent.gas_limit,
        parent_base_fee,
        BaseFeeParams::ethereum(),
    );
    if h.base_fee_per_gas != Some(base_fee) {
        return Some(format!(
            "block {}: base fee {:?}, formula gives {base_fee}",
            h.number, h.base_fee_per_gas
        ));
    }
    let excess = params.next_block_excess_blob_gas_osaka(
        parent.excess_blob_gas.unwrap_or_default(),
        parent.blob_gas_used.unwrap_or_default(),
        parent_base_fee,
    );
    if h.excess_blob_gas != Some(excess) {
        return Some(format!(
            "block {}: excess blob gas {:?}, formula gives {excess}",
            h.number, h.excess_blob_gas
        ));
    }
    let gas: u64 = block.txs.iter().map(|tx| tx.gas_used).sum();
    if gas != h.gas_used || gas > h.gas_limit {
        return Some(format!(
            "block {}: header gas {} vs txs {gas}, limit {}",
            h.number, h.gas_used, h.gas_limit
        ));
    }
    let blob_gas: u64 = block.txs.iter().map(|tx| tx.blob_gas()).sum();
    if Some(blob_gas) != h.blob_gas_used || blob_gas > params.max_blob_gas_per_block() {
        return Some(format!("block {}: blob gas {blob_gas} vs header {:?}", h.number, h.blob_gas_used));
    }
    let blob_fee = params.calc_blob_fee(excess);
    if let Some(tx) = block.txs.iter().find(|tx| {
        tx.effective_tip(base_fee).is_none() || (tx.is_blob() && tx.max_fee_per_blob_gas < blob_fee)
    }) {
        return Some(format!(
            "block {}: tx {} does not pay the base fee or blob base fee",
            h.number, tx.hash
        ));
    }
    let broken = block.txs.iter().find(|tx| {
        tx.blob_count > params.max_blobs_per_tx
            || fork.max_tx_gas().is_some_and(|cap| tx.gas_limit > cap)
            || (fork.is_osaka() && tx.has_legacy_sidecar())
            || (!fork.is_osaka() && tx.has_cell_proofs())
    });
    broken.map(|tx| {
        format!(
            "block {}: tx {} breaks {fork}'s rules: {} blobs, gas limit {}, version-0 sidecar {}, cell proofs {}",
            h.number,
            tx.hash,
            tx.blob_count,
            tx.gas_limit,
            tx.has_legacy_sidecar(),
            tx.has_cell_proofs()
        )
    })
}

/// `l1_nonce_order` along the chain: each sender's nonces in `block` continue where its last
/// transaction left them, with no gap or repeat.
fn nonce_error(next: &mut BTreeMap<Address, u64>, block: &L1Block) -> Option<String> {
    for tx in &block.txs {
        let expected = next.entry(tx.sender).or_default();
        if tx.nonce != *expected {
            return Some(format!(
                "block {}: sender {} included nonce {} where {} was next",
                block.number(),
                tx.sender,
                tx.nonce,
                expected
            ));
        }
        *expected += 1;
    }
    None
}

/// `l1_nonce_order` at the end: the final state agrees with the nonces the chain used.
fn nonces_agree(chain: &L1Chain, next: &BTreeMap<Address, u64>) -> Result<String, String> {
    if let Some((sender, count)) = next.iter().find(|(sender, &count)| chain.account(sender).nonce != count) {
        return Err(format!(
            "sender {sender}: {count} included txs but state nonce {}",
            chain.account(sender).nonce
        ));
    }
    Ok(format!("{} senders in nonce order", next.len()))
}

/// `l1_receipts` for `block`: each transaction appears once in the chain (`seen` holds those
/// before it) and its receipt points at its block.
fn receipt_error(chain: &L1Chain, seen: &mut BTreeSet<B256>, block: &L1Block) -> Option<String> {
    for (index, tx) in block.txs.iter().enumerate() {
        if !seen.insert(tx.hash) {
            return Some(format!("tx {} included twice (again in block {})", tx.hash, block.number()));
        }
        let stored = &block.receipts[index];
        if stored.tx_hash != tx.hash || stored.block_hash != block.hash {
            return Some(format!(
                "block {}: receipt {index} does not belong to tx {}",
                block.number(),
                tx.hash
            ));
        }
        if tx.signed.is_some() && chain.receipt(&tx.hash) != Some(stored) {
            return Some(format!("tx {}: receipt lookup does not find block {}", tx.hash, block.number()));
        }
    }
    None
}

/// finalized <= safe <= head.
fn heads_ordered(chain: &L1Chain) -> Result<String, String> {
    let (head, safe, finalized) = (chain.head().number(), chain.safe().number(), chain.finalized().number());
    if finalized <= safe && safe <= head {
        Ok(format!("finalized {finalized} <= safe {safe} <= head {head}"))
    } else {
        Err(format!("heads out of order: finalized {finalized}, safe {safe}, head {head}"))
    }
}

/// What the L2 invariants keep of the blocks the chain pruned below finality, judged as they
/// left, oldest first: the newest of them (the oldest kept block links to it), the first failure
/// of each check and the safe transactions by type. Its size does not grow with the run.
#[derive(Debug, Clone, Default)]
pub struct L2History {
    last: Option<Arc<L2Block>>,
    blocks: u64,
    linked: Option<String>,
    derived: Option<String>,
    tx_types: [u64; 5],
}

impl L2History {
    /// Judges blocks pruned from the chain (all safe and finalized), oldest first.
    pub fn add(&mut self, pruned: Vec<PrunedBlock>, block_time_s: u64) {
        for PrunedBlock { block, produced } in pruned {
            if let (Some(parent), None) = (&self.last, &self.linked) {
                self.linked = l2_link(parent, &block, block_time_s).err();
            }
            if block.number() > 0 {
                if self.derived.is_none() {
                    self.derived = is_produced(&block, &produced).err();
                }
                count_tx_types(&block, &mut self.tx_types);
            }
            self.blocks += 1;
            self.last = Some(block);
        }
    }
}

/// Every L2 invariant over the final chain and what was pruned from it.
pub fn check_l2(chain: &L2Chain, pruned: &L2History, block_time_s: u64) -> Vec<Verdict> {
    vec![
        Verdict::of(Invariant::L2ChainLinked, l2_chain_linked(chain, pruned, block_time_s)),
        Verdict::of(Invariant::L2DerivedEqualsProduced, derived_equals_produced(chain, pruned)),
    ]
}

/// How far the re-execution may trail the safe head when a run ends: the blocks of one derivation
/// step, being executed at that moment.
const VERIFIER_LAG_BOUND_BLOCKS: u64 = 4;

/// The rollup node re-executed every safe block (each one's root is checked online by
/// `l2_state_root`), but those of the derivation step in progress when the run ended.
pub fn check_state_roots_verified(chain: &L2Chain, verifier: &VerifierStats) -> Verdict {
    let safe = chain.safe().number();
    let result = if verifier.head <= safe && safe - verifier.head <= VERIFIER_LAG_BOUND_BLOCKS {
        Ok(format!(
            "re-executed safe blocks up to {} of {safe}: {} roots matched, {} mismatched, {} payload fallbacks, {} cancelled",
            verifier.head, verifier.verified, verifier.mismatches, verifier.fallbacks, verifier.cancelled
        ))
    } else {
        Err(format!("re-executed up to block {} of the safe head {safe}", verifier.head))
    };
    Verdict::of(Invariant::L2StateRootsVerified, result)
}

/// The block oracle re-built at least one block, and every rebuilt header was equal: a violation
/// found online is reported as it was; an oracle that checked nothing fails.
pub fn check_block_oracle(monitor: &Monitor, verifier: &VerifierStats) -> Verdict {
    let online = monitor.results(&[Invariant::L2BlockOracle]).remove(0);
    if !online.ok {
        return online;
    }
    let result = match verifier.oracle_checked {
        0 => Err("kona-executor re-built no block".to_owned()),
        n => Ok(format!("kona-executor re-built {n} blocks with the sequencer's headers")),
    };
    Verdict::of(Invariant::L2BlockOracle, result)
}

/// Liveness: with data being posted, the safe head ends within `max_lag_blocks` of the unsafe
/// head, so every produced block (but the newest few) reached the safe chain.
pub fn check_safe_follows_unsafe(chain: &L2Chain, max_lag_blocks: u64) -> Verdict {
    let (safe, unsafe_head) = (chain.safe().number(), chain.head().number());
    let lag = unsafe_head - safe;
    let result = if lag <= max_lag_blocks {
        Ok(format!("safe {safe} is {lag} blocks behind unsafe {unsafe_head} (bound {max_lag_blocks})"))
    } else {
        Err(format!("safe {safe} is {lag} blocks behind unsafe {unsafe_head}, more than {max_lag_blocks}"))
    };
    Verdict::of(Invariant::L2SafeFollowsUnsafe, result)
}

/// Parent hashes link, timestamps advance by the block time, L1 origins never go back, and
/// sequence numbers restart at each new origin.
fn l2_chain_linked(chain: &L2Chain, pruned: &L2History, block_time_s: u64) -> Result<String, String> {
    if let Some(error) = &pruned.linked {
        return Err(error.clone());
    }
    let blocks = chain.retained();
    if let (Some(parent), Some(block)) = (&pruned.last, blocks.first()) {
        l2_link(parent, block, block_time_s)?;
    }
    for pair in blocks.windows(2) {
        l2_link(&pair[0], &pair[1], block_time_s)?;
    }
    Ok(format!("{} blocks linked", pruned.blocks + blocks.len() as u64))
}

/// `block` follows `parent` (see [`l2_chain_linked`]).
fn l2_link(parent: &L2Block, block: &L2Block, block_time_s: u64) -> Result<(), String> {
    let n = block.number();
    if block.header().parent_hash != parent.hash || n != parent.number() + 1 {
        return Err(format!("block {n} does not link to block {}", parent.number()));
    }
    if block.timestamp() != parent.timestamp() + block_time_s {
        return Err(format!(
            "block {n}: timestamp {} after the parent's {}",
            block.timestamp(),
            parent.timestamp()
        ));
    }
    let (origin, parent_origin) = (block.info.l1_origin, parent.info.l1_origin);
    let expected_seq = if origin == parent_origin { parent.info.seq_num + 1 } else { 0 };
    if origin.number < parent_origin.number || block.info.seq_num != expected_seq {
        return Err(format!(
            "block {n}: origin {} seq {} after origin {} seq {}",
            origin.number, block.info.seq_num, parent_origin.number, parent.info.seq_num
        ));
    }
    Ok(())
}

/// Safety: every safe block is a block the sequencer produced at that height.
fn derived_equals_produced(chain: &L2Chain, pruned: &L2History) -> Result<String, String> {
    if let Some(error) = &pruned.derived {
        return Err(error.clone());
    }
    let safe = chain.safe().number();
    for number in pruned.blocks.max(1)..=safe {
        let block = chain.block(number).expect("safe blocks are kept or pruned");
        is_produced(block, chain.produced(number))?;
    }
    Ok(format!("{safe} safe blocks equal the sequencer's"))
}

/// The safe `block` is one of those the sequencer `produced` at its height.
fn is_produced(block: &L2Block, produced: &[B256]) -> Result<(), String> {
    if produced.contains(&block.hash) {
        return Ok(());
    }
    Err(format!("block {}: derived {} but the sequencer produced {produced:?}", block.number(), block.hash))
}

/// User transactions of each type in the safe chain, in [`TxType::ALL`]'s order.
pub fn safe_tx_types(chain: &L2Chain, pruned: &L2History) -> [u64; 5] {
    let mut counts = pruned.tx_types;
    for number in pruned.blocks.max(1)..=chain.safe().number() {
        count_tx_types(chain.block(number).expect("safe blocks are kept or pruned"), &mut counts);
    }
    counts
}

/// Adds `block`'s user transactions to `counts`, by type in [`TxType::ALL`]'s order.
fn count_tx_types(block: &L2Block, counts: &mut [u64; 5]) {
    for tx_type in block.user_txs().filter_map(|(tx, _)| TxType::of(tx)) {
        counts[TxType::ALL.iter().position(|t| *t == tx_type).expect("every type is listed")] += 1;
    }
}

/// The expected count from which a type's absence is a failure: a type drawn with this mean is
/// missing by chance with probability e^-20 (2e-9).
const TX_TYPE_EXPECTED_MIN: f64 = 20.0;

/// Every transaction type the workload sends reached the safe chain, once the safe chain holds
/// enough user transactions that the type's absence cannot be chance: derivation sees every type
/// a span batch carries.
pub fn check_tx_types_derived(counts: [u64; 5], mix: &TxTypeMix) -> Verdict {
    let total: u64 = counts.iter().sum();
    let weights = mix.weights();
    let weight_sum: f64 = weights.iter().sum();
    let summary = || {
        let parts: Vec<String> =
            TxType::ALL.iter().zip(counts).map(|(t, n)| format!("{} {n}", t.name())).collect();
        parts.join(", ")
    };
    let missing = TxType::ALL.iter().zip(counts).zip(weights).find_map(|((tx_type, count), weight)| {
        let expected = total as f64 * weight / weight_sum;
        (count == 0 && expected >= TX_TYPE_EXPECTED_MIN).then_some((tx_type, expected))
    });
    let result = match missing {
        Some((tx_type, expected)) => Err(format!(
            "no {} transaction among {total} safe user transactions (expected {expected:.0}): {}",
            tx_type.name(),
            summary()
        )),
        None => Ok(format!("safe user transactions by type: {}", summary())),
    };
    Verdict::of(Invariant::L2TxTypesDerived, result)
}

/// Time after the load ends by which the batcher must have posted everything.
pub const DRAIN_TIME: Duration = Duration::from_secs(600);
/// What "drained" allows: the compressed output of a few channels of deposit-only blocks still
/// waiting for confirmation.
pub const DRAINED_BYTES: u64 = 4_096;

/// Nothing lost: once users stop sending (the workload's `stop_at`), the batcher's pending DA
/// bytes return to (about) zero within [`DRAIN_TIME`].
pub fn check_da_bytes_drained(unsafe_da_bytes: u64, load_ended_at: Duration) -> Verdict {
    let result = if unsafe_da_bytes <= DRAINED_BYTES {
        Ok(format!(
            "{unsafe_da_bytes} pending DA bytes at the end, load ended at {} s",
            load_ended_at.as_secs()
        ))
    } else {
        Err(format!(
            "{unsafe_da_bytes} pending DA bytes at the end (more than {DRAINED_BYTES}), though load ended at {} s",
            load_ended_at.as_secs()
        ))
    };
    Verdict::of(Invariant::BatcherDaBytesDrained, result)
}

/// The batcher's view of channel timeouts agrees with the chain: every channel it dropped as
/// timed out on chain has frames in canonical L1 blocks at least `channel_timeout` apart, so
/// derivation dropped it too. A channel with no frames left on the canonical chain (reorged out,
/// or its AltDA data lost) cannot be judged and passes.
pub fn check_timeouts_real(
    posted: &BTreeMap<ChannelId, PostedChannel>,
    channel_timeout: u64,
    dropped: &BTreeSet<ChannelId>,
) -> Verdict {
    let wrong: Vec<String> = dropped
        .iter()
        .filter_map(|id| {
            let channel = posted.get(id)?;
            let (first, last) = (channel.first_landing().l1_block, channel.last_landing().l1_block);
            (last - first < channel_timeout).then(|| {
                format!("{} (frames in L1 blocks {first}..={last})", alloy_primitives::hex::encode(id))
            })
        })
        .collect();
    let result = if wrong.is_empty() {
        Ok(format!(
            "{} channels dropped as timed out, each spanning the {channel_timeout}-block timeout",
            dropped.len()
        ))
    } else {
        Err(format!(
            "{} of {} channels dropped as timed out were within the {channel_timeout}-block channel timeout: {}",
            wrong.len(),
            dropped.len(),
            wrong.join(", ")
        ))
    };
    Verdict::of(Invariant::BatcherTimeoutsReal, result)
}

/// `batcher_confirmation_depth`: the batcher took each transaction as confirmed only once the
/// canonical L1 head was `num_confirmations - 1` blocks past its inclusion block. `timestamps`
/// are the canonical blocks' by number ([`L1Judge::verdicts`]); `confirmed` is (when, in L1 time,
/// the inclusion block); confirmations in `disturbed` windows (a reorg may have moved the head
/// since) are not judged.
pub fn check_confirmation_depth(
    timestamps: &[u64],
    confirmed: &[(u64, u64)],
    num_confirmations: u64,
    disturbed: &[std::ops::Range<u64>],
) -> Verdict {
    let head_at = |timestamp: u64| timestamps.partition_point(|t| *t <= timestamp).saturating_sub(1) as u64;
    let judged: Vec<_> =
        confirmed.iter().filter(|(at, _)| !disturbed.iter().any(|window| window.contains(at))).collect();
    let early = judged.iter().find(|(at, block)| head_at(*at) + 1 < block + num_confirmations);
    let result = match early {
        None => Ok(format!(
            "{} of {} confirmations judged, each at least {num_confirmations} blocks deep",
            judged.len(),
            confirmed.len()
        )),
        Some((at, block)) => Err(format!(
            "a transaction in L1 block {block} was taken as confirmed at L1 time {at}, when the head was block {} ({num_confirmations} confirmations configured)",
            head_at(*at)
        )),
    };
    Verdict::of(Invariant::BatcherConfirmationDepth, result)
}

/// Every fee bump the batcher made prices its replacement as the L1 pool's rule requires: 10%
/// on fee cap and tip, 100% on all three fees of a blob transaction (geth's pools). An
/// underpriced bump is refused and the transaction waits a resubmission timeout at the old fees.
pub fn check_replacements_priced(bumps: &[FeeBump], rule: &l1::pool::TxPoolConfig) -> Verdict {
    let fees = |f: &TxFees| l1::pool::Fees { fee_cap: f.fee_cap, tip: f.tip, blob_fee_cap: f.blob_fee_cap };
    let result = match bumps.iter().find(|b| !rule.replaces(&fees(&b.old), &fees(&b.new))) {
        None => Ok(format!("{} fee bumps, each priced to replace", bumps.len())),
        Some(b) => Err(format!(
            "the bump of nonce {} from {:?} to {:?} does not meet the pool's replacement rule ({}%, blobs {}%)",
            b.nonce, b.old, b.new, rule.price_bump_percent, rule.blob_price_bump_percent
        )),
    };
    Verdict::of(Invariant::BatcherReplacementPriced, result)
}

/// What the checks on the batcher's posted channels need besides the ledger.
#[derive(Debug, Clone, Default)]
pub struct PostedContext {
    /// The L2 safe head at the end.
    pub safe_head: u64,
    /// The newest canonical L1 block at the end.
    pub l1_head: u64,
    /// L1 blocks a posted channel may take to complete and be derived: the channel timeout.
    pub settle_blocks: u64,
    /// Channels the batcher dropped for a cause: timed out on chain, or thrown away by a state
    /// clear (whose own cause `batcher_resets_explained` judges).
    pub dropped: BTreeSet<ChannelId>,
    /// L1 timestamps at which a batcher incarnation started: what its predecessor had in flight
    /// was lost with it.
    pub starts: Vec<u64>,
    /// L1 timestamp windows of faults and their aftermath, where data may be lost or repeated.
    pub disturbed: Vec<std::ops::Range<u64>>,
}

impl PostedContext {
    fn disturbed(&self, timestamp: u64) -> bool {
        self.disturbed.iter().any(|window| window.contains(&timestamp))
    }

    /// The channel's L2 blocks if it is complete and they are all safe: derivation used it (or
    /// the same blocks from another channel).
    fn derived(&self, channel: &PostedChannel) -> Option<std::ops::RangeInclusive<u64>> {
        channel.l2_blocks.clone().filter(|blocks| *blocks.end() <= self.safe_head)
    }
}

/// `batcher_channels_accounted`: every channel the batcher's frames landed in was derived (it
/// is complete and its blocks are safe), dropped by the batcher for a cause, lost with a batcher
/// incarnation that started afresh after it, or is still settling (its last frame within the
/// channel timeout of the end). A channel that is none of these is data the batcher abandoned
/// without saying so.
pub fn check_channels_accounted(posted: &BTreeMap<ChannelId, PostedChannel>, ctx: &PostedContext) -> Verdict {
    let (mut derived, mut dropped, mut settling) = (0, 0, 0);
    let mut abandoned = Vec::new();
    for (id, channel) in posted {
        let (first, last) = (channel.first_landing(), channel.last_landing());
        if ctx.derived(channel).is_some() {
            derived += 1;
        } else if ctx.dropped.contains(id) || ctx.starts.iter().any(|&start| start > first.l1_timestamp) {
            dropped += 1;
        } else if last.l1_block + ctx.settle_blocks > ctx.l1_head {
            settling += 1;
        } else {
            let frames = channel.frames.len();
            abandoned.push(format!(
                "{} ({frames} frames in L1 blocks {}..={}, {})",
                alloy_primitives::hex::encode(id),
                first.l1_block,
                last.l1_block,
                if channel.is_complete() { "complete, blocks not safe" } else { "incomplete" }
            ));
        }
    }
    let result = if abandoned.is_empty() {
        Ok(format!(
            "{} channels on L1: {derived} derived, {dropped} dropped for a cause, {settling} settling",
            posted.len()
        ))
    } else {
        Err(format!(
            "{} of {} channels on L1 neither derived nor dropped: {}",
            abandoned.len(),
            posted.len(),
            abandoned.join(", ")
        ))
    };
    Verdict::of(Invariant::BatcherChannelsAccounted, result)
}

/// How long after a fault its consequences may still show in what the batcher posts (a
/// restarted batcher reposting what its predecessor had in flight, a channel rebuilt after a
/// reorg).
pub const FAULT_AFTERMATH: Duration = Duration::from_secs(300);

/// Most of the batcher's posted bytes, outside faults, that may repeat what is already on L1.
pub const WASTE_BOUND_PERMILLE: u64 = 100;

/// `batcher_da_efficiency`: outside faults (and their aftermath), the bytes the batcher posts
/// carry new L2 blocks. Waste is a frame landed again, a complete channel whose blocks earlier
/// channels already carried, and a channel abandoned incomplete; it stays within
/// [`WASTE_BOUND_PERMILLE`] of the bytes posted.
pub fn check_da_efficiency(posted: &BTreeMap<ChannelId, PostedChannel>, ctx: &PostedContext) -> Verdict {
    let (mut bytes, mut waste) = (0u64, 0u64);
    let mut worst: Option<(u64, String)> = None;
    let mut note = |wasted: u64, what: String| {
        if worst.as_ref().is_none_or(|(w, _)| wasted > *w) {
            worst = Some((wasted, what));
        }
    };
    let mut by_landing: Vec<(&ChannelId, &PostedChannel)> = posted.iter().collect();
    by_landing.sort_by_key(|(_, channel)| channel.first_landing().l1_block);
    let mut carried = BTreeSet::new();
    for (id, channel) in by_landing {
        let quiet_bytes = |frames: &mut dyn Iterator<Item = (u64, u64)>| -> u64 {
            frames.filter(|(_, timestamp)| !ctx.disturbed(*timestamp)).map(|(bytes, _)| bytes).sum()
        };
        let first =
            quiet_bytes(&mut channel.frames.values().map(|f| (f.encoded_len, f.landing.l1_timestamp)));
        let repeated = quiet_bytes(&mut channel.repeats.iter().map(|(b, l)| (*b, l.l1_timestamp)));
        bytes += first + repeated;
        waste += repeated;
        if repeated > 0 {
            note(
                repeated,
                format!(
                    "{} frames of {} landed again",
                    channel.repeats.len(),
                    alloy_primitives::hex::encode(id)
                ),
            );
        }
        let settled = channel.last_landing().l1_block + ctx.settle_blocks <= ctx.l1_head;
        match channel.l2_blocks.clone() {
            Some(blocks) if blocks.clone().all(|n| carried.contains(&n)) => {
                waste += first;
                note(
                    first,
                    format!("{} carried L2 blocks {blocks:?} again", alloy_primitives::hex::encode(id)),
                );
            }
            Some(blocks) => carried.extend(blocks),
            None if settled && !ctx.dropped.contains(id) => {
                waste += first;
                note(first, format!("{} never completed", alloy_primitives::hex::encode(id)));
            }
            None => {}
        }
    }
    let permille = (waste * 1000).checked_div(bytes).unwrap_or(0);
    let result = if permille <= WASTE_BOUND_PERMILLE {
        Ok(format!(
            "{waste} of {bytes} bytes posted outside faults repeat or are lost ({permille} per mille)"
        ))
    } else {
        let worst = worst.map(|(_, what)| what).unwrap_or_default();
        Err(format!(
            "{waste} of {bytes} bytes posted outside faults repeat or are lost ({permille} per mille, bound {WASTE_BOUND_PERMILLE}); the largest: {worst}"
        ))
    };
    Verdict::of(Invariant::BatcherDaEfficiency, result)
}

/// How long the batcher's transactions may be rejected for a nonce gap, once faults are over,
/// before the gap counts as persistent: a resubmission timeout plus a few slots.
pub const NONCE_GAP_BOUND: Duration = Duration::from_secs(120);
/// Slack on top of one poll interval for the throttling loop's RPC to reach the sequencer.
const THROTTLE_SLACK: Duration = Duration::from_secs(2);
/// How long deriving one large channel may take the rollup node, during which the batcher still
/// counts the whole channel as pending.
const CHANNEL_DERIVE_SLACK: Duration = Duration::from_secs(60);
/// How often the online invariants are checked.
const WATCH_EVERY: Duration = Duration::from_secs(1);
/// How long after a fault a batcher state clear may still be its consequence: a channel
/// posted during the fault is judged missing only once the L1 has moved past its frames, at the
/// latest a channel timeout (50 L1 blocks) later.
const RESET_CAUSE_WINDOW: Duration = Duration::from_secs(600);
/// How old the sync status a state clear acted on may be: one RPC timeout.
const STATUS_AGE: Duration = Duration::from_secs(10);

/// What [`watch`] looks at.
pub struct Watched {
    pub monitor: Arc<Monitor>,
    pub l1: SharedChain,
    pub l2: SharedL2,
    pub batcher: Address,
    pub stats: SharedBatcherStats,
    pub da_limits: Arc<Mutex<(u64, u64)>>,
    pub faults: Arc<FaultActivity>,
    pub poll: Duration,
    /// 0: throttling is off.
    pub throttle_threshold_bytes: u64,
    /// The limits the batcher's controller sets at intensity 0.
    pub unthrottled_limits: (u64, u64),
    /// The PID controller's output decays with its history, not with the backlog: it is not held
    /// to raising limits within a poll.
    pub throttle_pid: bool,
    /// Set when the batcher's DA type is `auto`.
    pub auto_da: Option<AutoDa>,
}

/// What one transaction of each DA type carries under `auto`.
#[derive(Debug, Clone, Copy)]
pub struct AutoDa {
    /// Bytes of a full calldata transaction (its frame and the version byte).
    pub calldata_bytes: u128,
    /// Blobs of a full blob transaction.
    pub blobs: u128,
}

/// How much more than the other DA type `auto`'s choice may cost per byte at the L1's prices a
/// moment later: fees move at most a block between the batcher's read and the oracle's (an
/// eighth of the base fee, less of the blob fee), and the batcher prices blobs at EIP-7918's
/// reserve, which never flips a choice on its own.
const DA_CHOICE_SLACK_PERMILLE: u128 = 1_500;

impl AutoDa {
    /// (calldata, blobs) cost per byte in wei at the L1's next-block prices, with EIP-7623's
    /// floor on calldata (compressed batcher data is all non-zero: four tokens a byte).
    fn costs_per_byte(&self, chain: &L1Chain) -> (u128, u128) {
        let price = u128::from(chain.next_base_fee()) + chain.suggest_tip();
        let calldata = (21_000 + 40 * self.calldata_bytes) * price / self.calldata_bytes;
        let blob_bytes = self.blobs * rollsim::protocol::blob::MAX_BLOB_DATA_SIZE as u128;
        let blobs = (21_000 * price + self.blobs * 131_072 * chain.next_blob_fee()) / blob_bytes;
        (calldata, blobs)
    }
}

/// `batcher_da_choice`: each choice `auto` made on fee suggestions costs at most
/// [`DA_CHOICE_SLACK_PERMILLE`] of the other type per byte at the L1's prices when checked (within a
/// second of the choice).
fn check_da_choices(w: &Watched, seen: &mut Vec<usize>) {
    let Some(auto) = w.auto_da else { return };
    let incarnations: Vec<_> = lock(&w.stats).clone();
    seen.resize(incarnations.len(), 0);
    for (stats, seen) in incarnations.iter().zip(seen.iter_mut()) {
        let stats = lock(stats);
        let Some(choice) = stats.da_choices[*seen..].last().copied() else { continue };
        *seen = stats.da_choices.len();
        if let Err(detail) = judge_da_choice(choice.use_blobs, auto.costs_per_byte(&l1::lock(&w.l1))) {
            w.monitor.violate(Invariant::BatcherDaChoice, detail);
        }
    }
}

/// One `auto` choice against the (calldata, blobs) costs per byte at the L1's prices.
fn judge_da_choice(use_blobs: bool, (calldata, blobs): (u128, u128)) -> Result<(), String> {
    let (chosen, other) = if use_blobs { (blobs, calldata) } else { (calldata, blobs) };
    if chosen * 1_000 <= other * DA_CHOICE_SLACK_PERMILLE {
        return Ok(());
    }
    let (name, other_name) = if use_blobs { ("blobs", "calldata") } else { ("calldata", "blobs") };
    Err(format!("auto DA chose {name} at {chosen} wei per byte when {other_name} cost {other} wei per byte"))
}

/// The L2 chain's DA backlog: the FastLZ estimate of its unsafe blocks (what op-batcher's
/// pending bytes count), each block's estimate computed once.
#[derive(Default)]
struct Backlog {
    /// Estimated DA bytes by block hash, of blocks above the safe head when last asked.
    estimates: BTreeMap<B256, (u64, u64)>,
}

impl Backlog {
    fn bytes(&mut self, l2: &SharedL2) -> u64 {
        let chain = l2_chain::lock(l2);
        let safe = chain.safe().number();
        self.estimates.retain(|_, (number, _)| *number > safe);
        let mut total = 0;
        for number in safe + 1..=chain.head().number() {
            let block = chain.block(number).expect("blocks up to the head exist");
            let (_, bytes) = *self.estimates.entry(block.hash).or_insert_with(|| {
                (number, rollsim::protocol::da_size::block_sizes(&block.block).estimated_da_bytes)
            });
            total += bytes;
        }
        total
    }
}

/// `batcher_resets_explained`: a state clear other than a start needs a cause in the world: a
/// fault in progress or over within [`RESET_CAUSE_WINDOW`] (an L1 reorg, a restart, lost DA data,
/// ...), and a sync status that was true: the safe head it acted on was the rollup node's within
/// [`STATUS_AGE`]. A batcher that throws its state away in a quiet world, or on a status the node
/// never had, recovers silently from its own mistake.
fn check_resets(w: &Watched, seen: &mut Vec<usize>) {
    let incarnations: Vec<_> = lock(&w.stats).clone();
    seen.resize(incarnations.len(), 0);
    for (stats, seen) in incarnations.iter().zip(seen.iter_mut()) {
        let stats = lock(stats);
        for reset in &stats.resets[*seen..] {
            let at = sim_time_of(reset.at);
            let unexplained = match reset.cause {
                ResetCause::Start => None,
                _ if !w.faults.disturbed_within(RESET_CAUSE_WINDOW) => {
                    Some("with no fault in the last 10 minutes")
                }
                _ if !l2_chain::lock(&w.l2).was_safe_head(
                    reset.safe_l2,
                    at.saturating_sub(STATUS_AGE),
                    at,
                ) =>
                {
                    Some("on a safe head the rollup node did not have")
                }
                _ => None,
            };
            if let Some(why) = unexplained {
                w.monitor.violate(
                    Invariant::BatcherResetsExplained,
                    format!(
                        "the batcher cleared its state at {:.3} s ({:?}, safe head {}) {why}, dropping {} channels with frames sent",
                        at.as_secs_f64(),
                        reset.cause,
                        reset.safe_l2,
                        reset.sent_channels_dropped.len()
                    ),
                );
            }
        }
        *seen = stats.resets.len();
    }
}

/// Checks the online invariants every second of simulated time. Runs as a world task.
///
/// - `batcher_nonce_gap`: no batcher transaction is rejected for a nonce gap for longer than
///   [`NONCE_GAP_BOUND`] with no fault in progress.
/// - `throttle_within_one_poll`, both ways: once pending DA bytes cross the threshold, the
///   batcher's throttle limits are throttling and the sequencer holds them within one poll
///   interval (the sequencer logs "da limits set"); once the L2 chain's own backlog (the DA
///   estimate of its unsafe blocks, not the batcher's figure) is well below the threshold, the
///   sequencer holds unthrottled limits within one poll. Skipped within a poll of any fault.
pub async fn watch(w: Watched) {
    let grace = w.poll + THROTTLE_SLACK;
    let mut wrong_since: Option<Duration> = None;
    let mut backlog = Backlog::default();
    // Per batcher incarnation, the state clears and DA choices judged so far.
    let (mut resets_seen, mut choices_seen) = (Vec::new(), Vec::new());
    loop {
        tokio::time::sleep(WATCH_EVERY).await;
        let now = sim_now();
        check_resets(&w, &mut resets_seen);
        check_da_choices(&w, &mut choices_seen);
        let gapped_since = {
            let chain = l1::lock(&w.l1);
            chain.gapped_since_slot(&w.batcher).map(|slot| Duration::from_secs(slot * chain.config().slot_s))
        };
        if let Some(since) = gapped_since {
            if now.saturating_sub(since) > NONCE_GAP_BOUND && w.faults.quiet_for(NONCE_GAP_BOUND) {
                w.monitor.violate(
                    Invariant::BatcherNonceGap,
                    format!(
                        "the batcher's txs are rejected as nonce too high since {:.0} s",
                        since.as_secs_f64()
                    ),
                );
            }
        }
        let last = lock(&w.stats).last().cloned();
        let Some(stats) = last else { continue };
        let stats = lock(&stats).clone();
        if w.throttle_threshold_bytes == 0 || stats.fatal.is_some() || !w.faults.quiet_for(grace) {
            wrong_since = None;
            continue;
        }
        let limits = *lock(&w.da_limits);
        let crossed = stats.unsafe_da_bytes > w.throttle_threshold_bytes;
        let lowered_wrong = match stats.throttle {
            Some(p) => {
                (crossed && !p.is_throttling()) || (p.max_tx_size_bytes, p.max_block_size_bytes) != limits
            }
            None => crossed,
        };
        let world_bytes = backlog.bytes(&w.l2);
        // The batcher counts closed channels by their compressed output, which for incompressible
        // data exceeds the FastLZ estimate by up to a fifth: "well below" leaves that margin.
        let below = world_bytes * 5 / 4 < w.throttle_threshold_bytes;
        // (0, 0) is no limit at all: a sequencer that has not been told any yet.
        let unthrottled = limits == w.unthrottled_limits || limits == (0, 0);
        let raised_wrong = !w.throttle_pid && below && !unthrottled;
        if !lowered_wrong && !raised_wrong {
            wrong_since = None;
            continue;
        }
        let since = *wrong_since.get_or_insert(now);
        // A channel counts in the batcher's figure until its last block is safe, and the rollup
        // node takes up to a minute to derive a large channel: raising gets that long on top.
        let allowed = if lowered_wrong { grace } else { grace + CHANNEL_DERIVE_SLACK };
        if now - since > allowed {
            w.monitor.violate(
                Invariant::ThrottleWithinOnePoll,
                format!(
                    "pending DA bytes {} by the batcher, {world_bytes} by the L2 chain (threshold {}): batcher limits {:?}, sequencer holds {limits:?} since {:.0} s",
                    stats.unsafe_da_bytes,
                    w.throttle_threshold_bytes,
                    stats.throttle.map(|p| (p.max_tx_size_bytes, p.max_block_size_bytes)),
                    since.as_secs_f64()
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::posted::Landing;
    use rollsim::protocol::{
        batch::{singular_channel_entry, SingularBatch},
        compression::ChannelCompressor,
        frame::Frame,
    };

    const GENESIS: u64 = 1_000;

    /// The shape of optimism#13870 (calldata priced at 16 gas a byte, not the floor's 40):
    /// calldata chosen while blobs cost 2.5 times less per byte fails; a choice within a block
    /// of fee movement of the cheaper type holds.
    #[test]
    fn an_auto_choice_of_the_dearer_da_type_fails() {
        let (calldata, blobs) = (40_000, 16_000);
        let detail = judge_da_choice(false, (calldata, blobs)).unwrap_err();
        assert_eq!(detail, "auto DA chose calldata at 40000 wei per byte when blobs cost 16000 wei per byte");
        assert!(judge_da_choice(true, (calldata, blobs)).is_ok());
        assert!(judge_da_choice(false, (40_000, 30_000)).is_ok(), "within the slack");
        assert!(judge_da_choice(true, (16_000, 40_000)).is_err());
    }

    #[test]
    fn a_transaction_type_missing_from_the_safe_chain_fails_once_it_cannot_be_chance() {
        let mix = TxTypeMix::default();
        // Safe user transactions by type: legacy, unprotected legacy, 2930, 1559, 7702.
        let holds = check_tx_types_derived([1_200, 190, 400, 8_000, 210], &mix);
        assert!(holds.ok, "{}", holds.detail);
        // 2% of 9,810 is 196 expected unprotected legacy transactions: none is a lost type.
        let broken = check_tx_types_derived([1_200, 0, 400, 8_000, 210], &mix);
        assert!(!broken.ok);
        assert!(
            broken.detail.starts_with("no legacy_unprotected transaction among 9810"),
            "{}",
            broken.detail
        );
        // 2% of 500 is 10: too few to judge.
        assert!(check_tx_types_derived([60, 0, 20, 400, 20], &mix).ok);
        // A type the workload does not send is never missing.
        let no_7702 = TxTypeMix { eip7702: 0.0, ..mix };
        assert!(check_tx_types_derived([1_200, 190, 400, 8_000, 0], &no_7702).ok);
    }

    /// The frames of a channel of singular batches for L2 blocks `blocks` (2 s apart from
    /// `GENESIS`), in `count` frames.
    fn frames(id: u8, blocks: std::ops::RangeInclusive<u64>, count: usize) -> Vec<Frame> {
        let mut compressor = ChannelCompressor::zlib(9);
        for number in blocks {
            let batch = SingularBatch {
                parent_hash: B256::ZERO,
                epoch_num: 0,
                epoch_hash: B256::ZERO,
                timestamp: GENESIS + 2 * number,
                transactions: Vec::new(),
            };
            compressor.write(&singular_channel_entry(&batch)).unwrap();
        }
        compressor.close().unwrap();
        let mut data = Vec::new();
        compressor.read_into(usize::MAX, &mut data);
        let chunk = data.len().div_ceil(count);
        let parts = data.chunks(chunk).enumerate();
        parts
            .map(|(number, part)| Frame {
                id: [id; 16],
                number: number as u16,
                data: part.to_vec(),
                is_last: (number + 1) * chunk >= data.len(),
            })
            .collect()
    }

    /// A channel of `frames` landed in L1 block `l1_block` (timestamp `12 * l1_block`).
    fn landed(frames: impl IntoIterator<Item = Frame>, l1_block: u64) -> PostedChannel {
        let mut channel = PostedChannel::default();
        for frame in frames {
            channel.land(frame, Landing { l1_block, l1_timestamp: 12 * l1_block }, (GENESIS, 2));
        }
        channel
    }

    /// A channel for L2 blocks `blocks` in `count` frames, landed in L1 block `l1_block`.
    fn channel(id: u8, blocks: std::ops::RangeInclusive<u64>, count: usize, l1_block: u64) -> PostedChannel {
        landed(frames(id, blocks, count), l1_block)
    }

    /// The same without frame `number`.
    fn without_frame(
        id: u8,
        blocks: std::ops::RangeInclusive<u64>,
        count: usize,
        l1_block: u64,
        number: u16,
    ) -> PostedChannel {
        landed(frames(id, blocks, count).into_iter().filter(|f| f.number != number), l1_block)
    }

    fn ctx() -> PostedContext {
        PostedContext { safe_head: 100, l1_head: 200, settle_blocks: 50, ..Default::default() }
    }

    #[test]
    fn a_posted_channel_reads_back_to_its_l2_blocks() {
        let mut channel = channel(1, 10..=19, 3, 5);
        assert!(channel.is_complete());
        assert_eq!(channel.l2_blocks, Some(10..=19));
        let missing = without_frame(1, 10..=19, 3, 5, 1);
        assert!(!missing.is_complete());
        assert_eq!(missing.l2_blocks, None);
        // Out of order, the last frame first: decoded once the first completes it.
        assert_eq!(landed(frames(1, 10..=19, 3).into_iter().rev(), 5).l2_blocks, Some(10..=19));

        // A frame landed again is a repeat; another frame number past the last one makes the
        // channel incomplete for good, as a whole read of the chain would find it.
        let [first, ..] = <[Frame; 3]>::try_from(frames(1, 10..=19, 3)).unwrap();
        channel.land(first.clone(), Landing { l1_block: 6, l1_timestamp: 72 }, (GENESIS, 2));
        assert_eq!((channel.repeats.len(), channel.l2_blocks.clone()), (1, Some(10..=19)));
        channel.land(Frame { number: 3, ..first }, Landing { l1_block: 7, l1_timestamp: 84 }, (GENESIS, 2));
        assert!(!channel.is_complete());
        assert_eq!(channel.l2_blocks, None);
    }

    /// Derived, dropped, lost with a restart or settling is accounted for; an old incomplete
    /// channel nobody dropped is not.
    #[test]
    fn an_abandoned_channel_breaks_channels_accounted() {
        let incomplete = without_frame(2, 20..=29, 3, 40, 2);
        let posted = BTreeMap::from([([1; 16], channel(1, 10..=19, 2, 30)), ([2; 16], incomplete)]);
        let result = check_channels_accounted(&posted, &ctx());
        assert!(!result.ok);
        assert!(result.detail.contains(&alloy_primitives::hex::encode([2u8; 16])), "{}", result.detail);
        assert!(result.detail.contains("incomplete"), "{}", result.detail);

        let dropped = PostedContext { dropped: BTreeSet::from([[2; 16]]), ..ctx() };
        assert!(check_channels_accounted(&posted, &dropped).ok);
        let restarted = PostedContext { starts: vec![12 * 41], ..ctx() };
        assert!(check_channels_accounted(&posted, &restarted).ok);
        let settling = PostedContext { l1_head: 80, ..ctx() };
        assert!(check_channels_accounted(&posted, &settling).ok);
        let unsafe_blocks = PostedContext { safe_head: 15, l1_head: 70, ..ctx() };
        assert!(check_channels_accounted(&posted, &unsafe_blocks).ok, "the first still settles");
    }

    /// A channel carrying blocks already on L1, or frames landed twice, is waste outside faults;
    /// inside a fault's window it is not counted.
    #[test]
    fn reposted_blocks_break_da_efficiency_outside_faults() {
        let first = channel(1, 10..=19, 2, 30);
        let again = channel(2, 12..=19, 2, 35);
        let posted = BTreeMap::from([([1; 16], first.clone()), ([2; 16], again)]);
        let result = check_da_efficiency(&posted, &ctx());
        assert!(!result.ok);
        assert!(result.detail.contains("carried L2 blocks 12..=19 again"), "{}", result.detail);
        let window = 12 * 33..12 * 36;
        let in_fault = PostedContext { disturbed: vec![window], ..ctx() };
        assert!(check_da_efficiency(&posted, &in_fault).ok);

        let mut repeated = first;
        let frame = repeated.frames[&0];
        repeated.repeats.push((frame.encoded_len, Landing { l1_block: 31, ..frame.landing }));
        let posted = BTreeMap::from([([1; 16], repeated)]);
        let result = check_da_efficiency(&posted, &ctx());
        assert!(!result.ok && result.detail.contains("landed again"), "{}", result.detail);
    }
}
