//! Oracles: what must hold after every run. Each check says what broke and where.
//!
//! Most are checked over the final chains. Those about the batcher's behaviour over time (nonce
//! gaps, throttling) are watched online by [`watch`]: the first violation of each is recorded
//! with its simulated time and trace position, so a failing run points at the moment it broke.

use crate::{
    batcher_node::SharedBatcherStats,
    faults::FaultActivity,
    l1::{self, chain::L1Chain, SharedChain},
    l2::chain::L2Chain,
    rollup_node::verifier::VerifierStats,
    trace::Trace,
    world::sim_now,
};
use alloy_eips::eip1559::{calc_next_block_base_fee, BaseFeeParams};
use alloy_primitives::{Address, B256};
use rollsim::protocol::{blob::decode_blob, frame::ChannelId, tx_data::parse_tx_data};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::{sync::Arc, sync::Mutex, time::Duration};

/// The verdict of one invariant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvariantResult {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

impl InvariantResult {
    fn from(name: &'static str, result: Result<String, String>) -> Self {
        match result {
            Ok(detail) => Self { name, ok: true, detail },
            Err(detail) => Self { name, ok: false, detail },
        }
    }
}

/// Every L1 invariant over the final canonical chain.
pub fn check_l1(chain: &L1Chain) -> Vec<InvariantResult> {
    vec![
        InvariantResult::from("l1_chain_linked", chain_linked(chain)),
        InvariantResult::from("l1_fee_market", fee_market(chain)),
        InvariantResult::from("l1_nonce_order", nonce_order(chain)),
        InvariantResult::from("l1_receipts", receipts(chain)),
        InvariantResult::from("l1_heads_ordered", heads_ordered(chain)),
    ]
}

/// Parent hashes link, numbers and slots increase, timestamps sit on slot boundaries, and every
/// hash is the keccak of its header.
fn chain_linked(chain: &L1Chain) -> Result<String, String> {
    let config = chain.config();
    let blocks = chain.canonical();
    for (i, block) in blocks.iter().enumerate() {
        let h = &block.header;
        if block.hash != h.hash_slow() {
            return Err(format!("block {}: stored hash {} is not the header's hash", h.number, block.hash));
        }
        if h.number != i as u64 {
            return Err(format!("block at height {i} has number {}", h.number));
        }
        if h.timestamp != config.genesis_timestamp + block.slot * config.slot_s {
            return Err(format!(
                "block {}: timestamp {} is not slot {}'s start",
                h.number, h.timestamp, block.slot
            ));
        }
        if let Some(parent) = i.checked_sub(1).map(|p| &blocks[p]) {
            if h.parent_hash != parent.hash {
                return Err(format!(
                    "block {}: parent hash {} is not block {}'s hash",
                    h.number,
                    h.parent_hash,
                    i - 1
                ));
            }
            if block.slot <= parent.slot {
                return Err(format!(
                    "block {}: slot {} is not after the parent's {}",
                    h.number, block.slot, parent.slot
                ));
            }
        }
    }
    Ok(format!("{} blocks linked", blocks.len()))
}

/// Base fee and excess blob gas follow alloy-eips' formulas from the parent, with the blob
/// parameters of the block's own fork (EIP-7918's reserve price from Osaka); gas and blobs stay
/// within the fork's limits; every included transaction pays the base fee and blob base fee and
/// keeps the fork's per-transaction rules (Osaka: cell-proof sidecars, 6 blobs, 2^24 gas).
fn fee_market(chain: &L1Chain) -> Result<String, String> {
    let blocks = chain.canonical();
    let mut forks_seen = vec![blocks[0].fork];
    for pair in blocks.windows(2) {
        let (parent, block) = (&pair[0].header, &pair[1]);
        let h = &block.header;
        let fork = chain.config().fork_at(h.timestamp);
        if block.fork != fork {
            return Err(format!(
                "block {}: built under {}, its timestamp is in {fork}",
                h.number, block.fork
            ));
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
            return Err(format!(
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
            return Err(format!(
                "block {}: excess blob gas {:?}, formula gives {excess}",
                h.number, h.excess_blob_gas
            ));
        }
        let gas: u64 = block.txs.iter().map(|tx| tx.gas_used).sum();
        if gas != h.gas_used || gas > h.gas_limit {
            return Err(format!(
                "block {}: header gas {} vs txs {gas}, limit {}",
                h.number, h.gas_used, h.gas_limit
            ));
        }
        let blob_gas: u64 = block.txs.iter().map(|tx| tx.blob_gas()).sum();
        if Some(blob_gas) != h.blob_gas_used || blob_gas > params.max_blob_gas_per_block() {
            return Err(format!("block {}: blob gas {blob_gas} vs header {:?}", h.number, h.blob_gas_used));
        }
        let blob_fee = params.calc_blob_fee(excess);
        if let Some(tx) = block.txs.iter().find(|tx| {
            tx.effective_tip(base_fee).is_none() || (tx.is_blob() && tx.max_fee_per_blob_gas < blob_fee)
        }) {
            return Err(format!(
                "block {}: tx {} does not pay the base fee or blob base fee",
                h.number, tx.hash
            ));
        }
        if let Some(tx) = block.txs.iter().find(|tx| {
            tx.blob_count > params.max_blobs_per_tx
                || fork.max_tx_gas().is_some_and(|cap| tx.gas_limit > cap)
                || (fork.is_osaka() && tx.has_legacy_sidecar())
                || (!fork.is_osaka() && tx.has_cell_proofs())
        }) {
            return Err(format!(
                "block {}: tx {} breaks {fork}'s rules: {} blobs, gas limit {}, version-0 sidecar {}, cell proofs {}",
                h.number,
                tx.hash,
                tx.blob_count,
                tx.gas_limit,
                tx.has_legacy_sidecar(),
                tx.has_cell_proofs()
            ));
        }
    }
    let head = chain.head();
    let forks: Vec<String> = forks_seen.iter().map(ToString::to_string).collect();
    Ok(format!(
        "{} blocks follow EIP-1559/EIP-4844/EIP-7918 across {}; head base fee {} wei, blob fee {} wei",
        blocks.len(),
        forks.join(" -> "),
        head.base_fee(),
        head.blob_fee()
    ))
}

/// Along the canonical chain each sender's nonces run 0, 1, 2, ... with no gap or repeat, and the
/// final state agrees.
fn nonce_order(chain: &L1Chain) -> Result<String, String> {
    let mut next: BTreeMap<Address, u64> = BTreeMap::new();
    for block in chain.canonical() {
        for tx in &block.txs {
            let expected = next.entry(tx.sender).or_default();
            if tx.nonce != *expected {
                return Err(format!(
                    "block {}: sender {} included nonce {} where {} was next",
                    block.number(),
                    tx.sender,
                    tx.nonce,
                    expected
                ));
            }
            *expected += 1;
        }
    }
    if let Some((sender, count)) = next.iter().find(|(sender, &count)| chain.account(sender).nonce != count) {
        return Err(format!(
            "sender {sender}: {count} included txs but state nonce {}",
            chain.account(sender).nonce
        ));
    }
    Ok(format!("{} senders in nonce order", next.len()))
}

/// Every canonical signed transaction appears once and its receipt points at its block.
fn receipts(chain: &L1Chain) -> Result<String, String> {
    let mut seen = BTreeSet::<B256>::new();
    for block in chain.canonical() {
        for (index, tx) in block.txs.iter().enumerate() {
            if !seen.insert(tx.hash) {
                return Err(format!("tx {} included twice (again in block {})", tx.hash, block.number()));
            }
            let stored = &block.receipts[index];
            if stored.tx_hash != tx.hash || stored.block_hash != block.hash {
                return Err(format!(
                    "block {}: receipt {index} does not belong to tx {}",
                    block.number(),
                    tx.hash
                ));
            }
            if tx.signed.is_some() && chain.receipt(&tx.hash) != Some(stored) {
                return Err(format!("tx {}: receipt lookup does not find block {}", tx.hash, block.number()));
            }
        }
    }
    Ok(format!("{} included txs have their receipts", seen.len()))
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

/// Every L2 invariant over the final chain.
pub fn check_l2(chain: &L2Chain, block_time_s: u64) -> Vec<InvariantResult> {
    vec![
        InvariantResult::from("l2_chain_linked", l2_chain_linked(chain, block_time_s)),
        InvariantResult::from("l2_derived_equals_produced", derived_equals_produced(chain)),
    ]
}

/// How far the re-execution may trail the safe head when a run ends: the blocks of one derivation
/// step, being executed at that moment.
const VERIFIER_LAG_BOUND_BLOCKS: u64 = 4;

/// The rollup node re-executed every safe block (each one's root is checked online by
/// `l2_state_root`), but those of the derivation step in progress when the run ended.
pub fn check_state_roots_verified(chain: &L2Chain, verifier: &VerifierStats) -> InvariantResult {
    let safe = chain.safe().number();
    let result = if verifier.head <= safe && safe - verifier.head <= VERIFIER_LAG_BOUND_BLOCKS {
        Ok(format!(
            "re-executed safe blocks up to {} of {safe}: {} roots matched, {} mismatched, {} payload fallbacks, {} cancelled",
            verifier.head, verifier.verified, verifier.mismatches, verifier.fallbacks, verifier.cancelled
        ))
    } else {
        Err(format!("re-executed up to block {} of the safe head {safe}", verifier.head))
    };
    InvariantResult::from("l2_state_roots_verified", result)
}

/// The block oracle re-built at least one block, and every rebuilt header was equal: a violation
/// found online is reported as it was; an oracle that checked nothing fails.
pub fn check_block_oracle(monitor: &Monitor, verifier: &VerifierStats) -> InvariantResult {
    let online = monitor.results(&[BLOCK_ORACLE]).remove(0);
    if !online.ok {
        return online;
    }
    let result = match verifier.oracle_checked {
        0 => Err("kona-executor re-built no block".to_owned()),
        n => Ok(format!("kona-executor re-built {n} blocks with the sequencer's headers")),
    };
    InvariantResult::from(BLOCK_ORACLE, result)
}

/// Liveness: with data being posted, the safe head ends within `max_lag_blocks` of the unsafe
/// head, so every produced block (but the newest few) reached the safe chain.
pub fn check_safe_follows_unsafe(chain: &L2Chain, max_lag_blocks: u64) -> InvariantResult {
    let (safe, unsafe_head) = (chain.safe().number(), chain.head().number());
    let lag = unsafe_head - safe;
    let result = if lag <= max_lag_blocks {
        Ok(format!("safe {safe} is {lag} blocks behind unsafe {unsafe_head} (bound {max_lag_blocks})"))
    } else {
        Err(format!("safe {safe} is {lag} blocks behind unsafe {unsafe_head}, more than {max_lag_blocks}"))
    };
    InvariantResult::from("l2_safe_follows_unsafe", result)
}

/// Parent hashes link, timestamps advance by the block time, L1 origins never go back, and
/// sequence numbers restart at each new origin.
fn l2_chain_linked(chain: &L2Chain, block_time_s: u64) -> Result<String, String> {
    let blocks = chain.canonical();
    for pair in blocks.windows(2) {
        let (parent, block) = (&pair[0], &pair[1]);
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
    }
    Ok(format!("{} blocks linked", blocks.len()))
}

/// Safety: every safe block is a block the sequencer produced at that height.
fn derived_equals_produced(chain: &L2Chain) -> Result<String, String> {
    let safe = chain.safe().number();
    for number in 1..=safe {
        let block = chain.block(number).expect("safe blocks exist");
        if !chain.produced(number).contains(&block.hash) {
            return Err(format!(
                "block {number}: derived {} but the sequencer produced {:?}",
                block.hash,
                chain.produced(number)
            ));
        }
    }
    Ok(format!("{safe} safe blocks equal the sequencer's"))
}

/// Time after the load ends by which the batcher must have posted everything.
pub const DRAIN_TIME: Duration = Duration::from_secs(600);
/// What "drained" allows: the compressed output of a few channels of deposit-only blocks still
/// waiting for confirmation.
pub const DRAINED_BYTES: u64 = 4_096;

/// Nothing lost: once users stop sending (the workload's `stop_at`), the batcher's pending DA
/// bytes return to (about) zero within [`DRAIN_TIME`].
pub fn check_da_bytes_drained(unsafe_da_bytes: u64, load_ended_at: Duration) -> InvariantResult {
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
    InvariantResult::from("batcher_da_bytes_drained", result)
}

/// The batcher's view of channel timeouts agrees with the chain: every channel it dropped as
/// timed out on chain has frames in canonical L1 blocks at least `channel_timeout` apart, so
/// derivation dropped it too. A channel with no frames left on the canonical chain (reorged out,
/// or posted to AltDA) cannot be judged and passes.
pub fn check_timeouts_real(
    chain: &L1Chain,
    batcher: Address,
    inbox: Address,
    channel_timeout: u64,
    dropped: &BTreeSet<ChannelId>,
) -> InvariantResult {
    let mut included: BTreeMap<ChannelId, (u64, u64)> = BTreeMap::new();
    for block in chain.canonical() {
        for signed in block.txs.iter().filter(|tx| tx.sender == batcher && tx.to == inbox) {
            let Some(signed) = &signed.signed else { continue };
            let payloads: Vec<Vec<u8>> = match &signed.sidecar {
                Some(sidecar) => sidecar.blobs().iter().filter_map(|b| decode_blob(b).ok()).collect(),
                None => vec![alloy_consensus::Transaction::input(&signed.envelope).to_vec()],
            };
            for frame in payloads.iter().filter_map(|p| parse_tx_data(p).ok()).flatten() {
                if dropped.contains(&frame.id) {
                    let span = included.entry(frame.id).or_insert((u64::MAX, 0));
                    *span = (span.0.min(block.number()), span.1.max(block.number()));
                }
            }
        }
    }
    let wrong: Vec<String> = dropped
        .iter()
        .filter_map(|id| {
            let (first, last) = included.get(id)?;
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
    InvariantResult::from("batcher_timeouts_real", result)
}

/// The first violation of an online invariant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub at_ms: u64,
    /// Events in the trace before this violation's own event.
    pub trace_event: u64,
    pub detail: String,
}

/// Online invariants: their first violations.
pub struct Monitor {
    trace: Option<Trace>,
    first: Mutex<BTreeMap<&'static str, Violation>>,
}

/// kona-executor re-builds the checked blocks with the same headers (online; judged when the
/// scenario turns the oracle on).
pub const BLOCK_ORACLE: &str = "l2_block_oracle";

/// A panic anywhere in the run (a system under test crashed); reported only when it happens.
pub const NO_PANIC: &str = "no_panic";

/// Every invariant's name.
pub const NAMES: [&str; 17] = [
    "l1_chain_linked",
    "l1_fee_market",
    "l1_nonce_order",
    "l1_receipts",
    "l1_heads_ordered",
    "batcher_nonce_gap",
    "throttle_within_one_poll",
    "batcher_da_bytes_drained",
    "l2_chain_linked",
    "l2_derived_equals_produced",
    "l2_safe_follows_unsafe",
    "l2_state_root",
    "l2_state_roots_verified",
    "payload_no_spurious_fallback",
    BLOCK_ORACLE,
    "batcher_timeouts_real",
    NO_PANIC,
];

/// The online invariants about the batcher, by name.
pub const BATCHER_ONLINE: [&str; 2] = ["batcher_nonce_gap", "throttle_within_one_poll"];

/// The online invariants about L2 execution, by name.
pub const L2_ONLINE: [&str; 2] = ["l2_state_root", "payload_no_spurious_fallback"];

impl Monitor {
    pub fn new(trace: Option<Trace>) -> Self {
        Self { trace, first: Mutex::default() }
    }

    /// Records a violation of `name` unless one is already recorded.
    pub fn violate(&self, name: &'static str, detail: String) {
        debug_assert!(
            BATCHER_ONLINE.contains(&name) || L2_ONLINE.contains(&name) || name == BLOCK_ORACLE,
            "{name} is not online"
        );
        let mut first = self.first.lock().expect("monitor lock");
        if first.contains_key(name) {
            return;
        }
        let trace_event = self.trace.as_ref().map_or(0, |t| t.summary().events);
        tracing::warn!(target: "rollsim_sim::invariants", invariant = name, %detail, "invariant violated");
        first.insert(name, Violation { at_ms: sim_now().as_millis() as u64, trace_event, detail });
    }

    /// One result per online invariant of `names`.
    pub fn results(&self, names: &[&'static str]) -> Vec<InvariantResult> {
        let first = self.first.lock().expect("monitor lock");
        names
            .iter()
            .map(|name| match first.get(name) {
                Some(v) => InvariantResult {
                    name,
                    ok: false,
                    detail: format!(
                        "first violated at {:.3} s (trace event {}): {}",
                        v.at_ms as f64 / 1000.0,
                        v.trace_event,
                        v.detail
                    ),
                },
                None => InvariantResult { name, ok: true, detail: "held at every check".into() },
            })
            .collect()
    }
}

/// How long the batcher's transactions may be rejected for a nonce gap, once faults are over,
/// before the gap counts as persistent: a resubmission timeout plus a few slots.
pub const NONCE_GAP_BOUND: Duration = Duration::from_secs(120);
/// Slack on top of one poll interval for the throttling loop's RPC to reach the sequencer.
const THROTTLE_SLACK: Duration = Duration::from_secs(2);
/// How often the online invariants are checked.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// What [`watch`] looks at.
pub struct Watched {
    pub monitor: Arc<Monitor>,
    pub l1: SharedChain,
    pub batcher: Address,
    pub stats: SharedBatcherStats,
    pub da_limits: Arc<Mutex<(u64, u64)>>,
    pub faults: Arc<FaultActivity>,
    pub poll: Duration,
    /// 0: throttling is off.
    pub throttle_threshold_bytes: u64,
}

/// Checks the online invariants every second of simulated time. Runs as a world task.
///
/// - `batcher_nonce_gap`: no batcher transaction is rejected for a nonce gap for longer than
///   [`NONCE_GAP_BOUND`] with no fault in progress.
/// - `throttle_within_one_poll`: once pending DA bytes cross the threshold, the batcher's
///   throttle limits are throttling and the sequencer holds them within one poll interval (the
///   sequencer logs "da limits set"). Skipped within a poll of any fault.
pub async fn watch(w: Watched) {
    let grace = w.poll + THROTTLE_SLACK;
    let mut wrong_since: Option<Duration> = None;
    loop {
        tokio::time::sleep(WATCH_EVERY).await;
        let now = sim_now();
        let gapped_since = {
            let chain = l1::lock(&w.l1);
            chain.gapped_since_slot(&w.batcher).map(|slot| Duration::from_secs(slot * chain.config().slot_s))
        };
        if let Some(since) = gapped_since {
            if now.saturating_sub(since) > NONCE_GAP_BOUND && w.faults.quiet_for(NONCE_GAP_BOUND) {
                w.monitor.violate(
                    "batcher_nonce_gap",
                    format!(
                        "the batcher's txs are rejected as nonce too high since {:.0} s",
                        since.as_secs_f64()
                    ),
                );
            }
        }
        let last = w.stats.lock().expect("stats lock").last().cloned();
        let Some(stats) = last else { continue };
        let stats = stats.lock().expect("stats lock").clone();
        if w.throttle_threshold_bytes == 0 || stats.fatal.is_some() || !w.faults.quiet_for(grace) {
            wrong_since = None;
            continue;
        }
        let limits = *w.da_limits.lock().expect("limits lock");
        let crossed = stats.unsafe_da_bytes > w.throttle_threshold_bytes;
        let wrong = match stats.throttle {
            Some(p) => {
                (crossed && !p.is_throttling()) || (p.max_tx_size_bytes, p.max_block_size_bytes) != limits
            }
            None => crossed,
        };
        if !wrong {
            wrong_since = None;
            continue;
        }
        let since = *wrong_since.get_or_insert(now);
        if now - since > grace {
            w.monitor.violate(
                "throttle_within_one_poll",
                format!(
                    "pending DA bytes {} (threshold {}): batcher limits {:?}, sequencer holds {limits:?} since {:.0} s",
                    stats.unsafe_da_bytes,
                    w.throttle_threshold_bytes,
                    stats.throttle.map(|p| (p.max_tx_size_bytes, p.max_block_size_bytes)),
                    since.as_secs_f64()
                ),
            );
        }
    }
}
