//! The end of a run: the invariants judged on the final chains, and the counters.

use super::{stats::*, L2World, World};
use crate::{
    clock::{sim_now, sim_time_of},
    invariants::{self, L2History},
    l1, l2,
    l2::workload::TxType,
    posted::PostedLedger,
    verdict::{Invariant, Verdict},
};
use rollsim::{
    batcher::{BatcherStats, ResetCause},
    sync::lock,
};
use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::Duration,
};

impl World {
    /// Judges the invariants and gathers the counters, in the order a run reports them: the L1,
    /// the batcher's online invariants, the L2, the batcher's end-of-run ones.
    pub(crate) fn finish(&self) -> (Duration, Vec<Verdict>, Stats) {
        let mut stats = Stats::default();
        let pruned = std::mem::take(&mut *lock(&self.pruned));
        let (mut checks, l1_timestamps) = {
            let chain = l1::lock(&self.l1);
            stats.l1 = Some(l1_stats(&chain));
            pruned.l1.verdicts(&chain)
        };
        let incarnations = lock(&self.batcher_stats).clone();
        if self.batcher_runs {
            checks.extend(self.monitor.results(&Invariant::BATCHER_ONLINE));
        }
        if let Some(l2) = &self.l2 {
            checks.extend(self.finish_l2(l2, &pruned.l2, &mut stats));
        }
        if let Some(submitter) = &self.submitter_stats {
            let s = lock(submitter);
            stats.submitter = Some(SubmitterTotals {
                txs: s.txs,
                channels: s.channels,
                reposts: s.reposts,
                garbage_txs: s.garbage,
            });
        }
        if self.batcher_runs {
            let totals = batcher_totals(&incarnations);
            stats.batcher = Some(totals);
            if let Some(stop) = self.drain_from {
                checks.push(invariants::check_da_bytes_drained(totals.unsafe_da_bytes_last, stop));
            }
            if let Some(l2) = &self.l2 {
                checks.extend(self.check_posted(l2, &incarnations, pruned.posted, &l1_timestamps));
            }
        }
        (sim_now(), checks, stats)
    }

    /// The L2's invariants and counters.
    fn finish_l2(&self, l2: &L2World, pruned: &L2History, stats: &mut Stats) -> Vec<Verdict> {
        let chain = l2::chain::lock(&l2.chain);
        let mut checks = invariants::check_l2(&chain, pruned, l2.rollup.block_time);
        let tx_types = invariants::safe_tx_types(&chain, pruned);
        checks.push(invariants::check_tx_types_derived(tx_types, &l2.tx_types));
        let verifier = *lock(&l2.verifier);
        checks.extend(self.monitor.results(&Invariant::L2_ONLINE));
        checks.push(invariants::check_state_roots_verified(&chain, &verifier));
        if self.block_oracle {
            checks.push(invariants::check_block_oracle(&self.monitor, &verifier));
            stats.l2_oracle_blocks_checked = Some(verifier.oracle_checked);
        }
        if let Some(bound) = self.safe_lag_bound_blocks {
            checks.push(invariants::check_safe_follows_unsafe(&chain, bound));
        }
        let s = &chain.stats;
        let safe_txs = |t: TxType| tx_types[TxType::ALL.iter().position(|&x| x == t).expect("in ALL")];
        stats.l2 = Some(L2Stats {
            unsafe_head: chain.head().number(),
            safe: chain.safe().number(),
            finalized: chain.finalized().number(),
            blocks_built: s.blocks_built,
            user_txs_included: s.user_txs_included,
            txpool_size: chain.pool().len() as u64,
            blocks_consolidated: s.blocks_consolidated,
            blocks_derived_ahead: s.blocks_derived_ahead,
            unsafe_reorgs: s.unsafe_reorgs,
            unsafe_blocks_replaced: s.unsafe_blocks_replaced,
            safe_rewinds: s.safe_rewinds,
            safe_txs_legacy: safe_txs(TxType::Legacy),
            safe_txs_legacy_unprotected: safe_txs(TxType::LegacyUnprotected),
            safe_txs_eip2930: safe_txs(TxType::Eip2930),
            safe_txs_eip1559: safe_txs(TxType::Eip1559),
            safe_txs_eip7702: safe_txs(TxType::Eip7702),
            state_roots_verified: verifier.verified,
            state_root_mismatches: verifier.mismatches,
            rollup_payload_fallbacks: verifier.fallbacks,
            rollup_executions_cancelled: verifier.cancelled,
            sequencer_payload_fallbacks: s.sequencer_payload_fallbacks,
            sequencer_blocks_cancelled: s.sequencer_blocks_cancelled,
            sequencer_txs_rejected: s.sequencer_txs_rejected,
            state_copies: chain.state().copies,
        });
        checks
    }

    /// The invariants on what the batcher posted, read back from the canonical L1: `ledger` has
    /// read the pruned blocks; `l1_timestamps` are every canonical block's, by number.
    fn check_posted(
        &self,
        l2: &L2World,
        incarnations: &[Arc<Mutex<BatcherStats>>],
        mut ledger: PostedLedger,
        l1_timestamps: &[u64],
    ) -> Vec<Verdict> {
        let mut timed_out = BTreeSet::new();
        let mut ctx = invariants::PostedContext::default();
        let chain = l1::lock(&self.l1);
        let l1_time = |at: Duration| chain.config().genesis_timestamp + at.as_secs();
        for stats in incarnations {
            let stats = lock(stats);
            timed_out.extend(stats.timed_out_channels.iter().copied());
            for reset in &stats.resets {
                ctx.dropped.extend(reset.sent_channels_dropped.iter().copied());
                if reset.cause == ResetCause::Start {
                    ctx.starts.push(l1_time(sim_time_of(reset.at)));
                }
            }
        }
        ctx.dropped.extend(timed_out.iter().copied());
        ctx.disturbed = self
            .fault_windows
            .iter()
            .map(|(at, end)| l1_time(*at)..l1_time(*end + invariants::FAULT_AFTERMATH))
            .collect();
        {
            let l2_chain = l2::chain::lock(&l2.chain);
            ctx.safe_head = l2_chain.safe().number();
        }
        ctx.l1_head = chain.head().number();
        ctx.settle_blocks = l2.rollup.granite_channel_timeout;
        let skip = self.garbage_txs();
        let da = self.da.as_ref().map(|da| lock(da));
        let reader = self.posted_reader(da.as_deref(), &skip).expect("a batcher runs");
        let first = chain.canonical()[0].number();
        for block in chain.canonical().iter().skip(ledger.next_block().saturating_sub(first) as usize) {
            ledger.read_block(block, &reader);
        }
        let posted = ledger.channels();
        let confirmed: Vec<(u64, u64)> = incarnations
            .iter()
            .flat_map(|s| {
                let s = lock(s);
                s.confirmations
                    .iter()
                    .map(|(at, block)| (l1_time(sim_time_of(*at)), *block))
                    .collect::<Vec<_>>()
            })
            .collect();
        let bumps: Vec<_> = incarnations.iter().flat_map(|s| lock(s).fee_bumps.clone()).collect();
        let mut checks = vec![
            invariants::check_confirmation_depth(
                l1_timestamps,
                &confirmed,
                self.num_confirmations,
                &ctx.disturbed,
            ),
            invariants::check_replacements_priced(&bumps, chain.pool().config()),
        ];
        // Judged only when the batcher dropped a channel as timed out.
        if !timed_out.is_empty() {
            checks.push(invariants::check_timeouts_real(posted, ctx.settle_blocks, &timed_out));
        }
        checks.push(invariants::check_channels_accounted(posted, &ctx));
        checks.push(invariants::check_da_efficiency(posted, &ctx));
        checks
    }
}

fn l1_stats(chain: &l1::chain::L1Chain) -> L1Stats {
    let s = chain.stats();
    let wei = |fee: u128| u64::try_from(fee).unwrap_or(u64::MAX);
    L1Stats {
        head: chain.head().number(),
        safe: chain.safe().number(),
        finalized: chain.finalized().number(),
        blocks_produced: s.blocks,
        txs_included: s.txs,
        signed_txs_included: s.signed_txs,
        blob_txs_included: s.blob_txs,
        cell_proof_blob_txs_included: s.cell_proof_blob_txs,
        legacy_blob_txs_evicted: s.legacy_blob_txs_evicted,
        blobs_included: s.blobs,
        txs_accepted: s.accepted_txs,
        txs_rejected: s.rejected_txs,
        background_txs_sent: chain.traffic().submitted,
        txs_expired: s.expired_txs,
        txpool_size: chain.pool().len() as u64,
        reorgs: s.reorgs,
        reorged_blocks: s.reorged_blocks,
        orphaned_txs: s.orphaned_txs,
        orphans_readded: s.orphans_readded,
        orphans_dropped: s.orphans_dropped,
        base_fee_min_wei: s.base_fee_min,
        base_fee_max_wei: s.base_fee_max,
        base_fee_last_wei: chain.head().base_fee(),
        blob_fee_min_wei: wei(s.blob_fee_min),
        blob_fee_max_wei: wei(s.blob_fee_max),
        blob_fee_last_wei: wei(chain.head().blob_fee()),
    }
}

/// The batcher's counters summed over its incarnations; the last incarnation's backlog and fill.
fn batcher_totals(incarnations: &[Arc<Mutex<BatcherStats>>]) -> BatcherTotals {
    let mut t = BatcherTotals { incarnations: incarnations.len() as u64, ..Default::default() };
    for s in incarnations {
        let s = lock(s);
        t.blocks_loaded += s.blocks_loaded;
        t.reorgs_detected += s.reorgs_detected;
        t.state_clears += s.state_clears;
        t.txs_sent += s.txs_sent;
        t.txs_confirmed += s.txs_confirmed;
        t.txs_failed += s.txs_failed;
        t.cancellations_sent += s.cancellations_sent;
        t.da_requests_failed += s.da_requests_failed;
        t.blob_txs_confirmed += s.blob_txs_confirmed;
        t.calldata_txs_confirmed += s.calldata_txs_confirmed;
    }
    // A batcher of a user's own may report no counters.
    if let Some(last) = incarnations.last() {
        let last = lock(last);
        t.unsafe_da_bytes_last = last.unsafe_da_bytes;
        t.full_channels = last.fill.channels;
        t.full_channel_fill_permille =
            (last.fill.bytes * 1000).checked_div(last.fill.capacity_bytes).unwrap_or(0);
    }
    t
}
