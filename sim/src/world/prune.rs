//! Pruning while a run goes on: blocks below what finality allows leave the chains, and the
//! end-of-run invariants keep what they still need of them ([`invariants::L1Judge`],
//! [`invariants::L2History`], [`PostedLedger`]). Without it a simulated day of the baseline kept
//! every block both chains made: 2.2 GB at its end.

use super::World;
use crate::{
    clock::sim_now,
    invariants::{L1Judge, L2History},
    l1::{self, wallet::batcher_signer},
    l2,
    posted::{PostedLedger, Reader},
};
use alloy_primitives::B256;
use rollsim::sync::lock;
use std::{collections::BTreeSet, time::Duration};

/// L2 blocks kept below the finalized head: `BLOCKHASH` reads the 256 ancestors of a block, and
/// derivation checks a span batch that overlaps the safe chain against the safe blocks it
/// repeats, which sit just below the safe head.
const L2_KEPT_BELOW_FINALIZED: u64 = 256;

/// Safe-head changes kept: `batcher_resets_explained` asks where the safe head was in the seconds
/// before a batcher's state clear.
const SAFE_HISTORY_KEPT: Duration = Duration::from_secs(3600);

/// What the end-of-run invariants keep of the pruned blocks.
#[derive(Default)]
pub(crate) struct Pruned {
    pub l1: L1Judge,
    pub l2: L2History,
    /// Read only when a batcher runs (its channels are judged).
    pub posted: PostedLedger,
}

impl World {
    /// Prunes the L2 chain up to [`L2_KEPT_BELOW_FINALIZED`] blocks below its finalized head, and
    /// the L1 chain below its finalized head and below the L1 origin of the oldest L2 block kept
    /// (derivation restarts from the safe head's origin, the rollup node's reset checks the
    /// origins of safe blocks, never below the finalized one's). Nothing a node reads is pruned,
    /// so the run's course, and its trace, do not depend on when this is called.
    pub(crate) fn prune(&self) {
        let mut pruned = lock(&self.pruned);
        let mut l1_horizon = u64::MAX;
        if let Some(l2) = &self.l2 {
            let mut chain = l2::chain::lock(&l2.chain);
            let below = chain.finalized().number().saturating_sub(L2_KEPT_BELOW_FINALIZED);
            let blocks = chain.prune_below(below, sim_now().saturating_sub(SAFE_HISTORY_KEPT));
            pruned.l2.add(blocks, l2.rollup.block_time);
            l1_horizon = chain.retained()[0].info.l1_origin.number;
        }
        let mut chain = l1::lock(&self.l1);
        let horizon = l1_horizon.min(chain.finalized().number());
        let judged = pruned.l1.next_block();
        let first = chain.canonical()[0].number();
        let kept = chain.canonical().iter().skip(judged.saturating_sub(first) as usize);
        let leaving: Vec<_> = kept.take_while(|block| block.number() < horizon).cloned().collect();
        let skip = self.garbage_txs();
        let da = self.da.as_ref().map(|da| lock(da));
        let reader = self.posted_reader(da.as_deref(), &skip);
        for block in &leaving {
            pruned.l1.judge(&chain, block);
            if let Some(reader) = &reader {
                pruned.posted.read_block(block, reader);
            }
        }
        chain.prune_below(horizon);
    }

    /// Transactions the rogue submitter sent from the batcher's address: not the batcher's.
    pub(super) fn garbage_txs(&self) -> BTreeSet<B256> {
        let stats = self.submitter_stats.as_ref();
        stats.map(|s| lock(s).batcher_garbage_txs.iter().copied().collect()).unwrap_or_default()
    }

    /// How the ledger reads the batcher's transactions, when a batcher runs.
    pub(super) fn posted_reader<'a>(
        &self,
        da: Option<&'a crate::da::DaStore>,
        skip: &'a BTreeSet<B256>,
    ) -> Option<Reader<'a>> {
        let l2 = self.l2.as_ref().filter(|_| self.batcher_runs)?;
        Some(Reader {
            batcher: batcher_signer().address(),
            inbox: l2.rollup.batch_inbox_address,
            da,
            skip,
            timing: (l2.rollup.genesis.l2_time, l2.rollup.block_time),
        })
    }
}
