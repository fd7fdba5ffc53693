//! A run's counters, typed by the part of the world they count. They serialize flat, one key per
//! counter (`l1_head`, `l2_safe`, `batcher_txs_sent`, ...) in name order, as reports, `--json` and
//! snapshots show them.

use serde::{Serialize, Serializer};
use std::collections::BTreeMap;

/// Declares a part's counters, each with the flat key it serializes under.
macro_rules! counters {
    ($(#[$doc:meta])* $part:ident {
        $($(#[$field_doc:meta])* $field:ident = $key:literal,)*
    }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct $part {
            $($(#[$field_doc])* pub $field: u64,)*
        }

        impl $part {
            fn write(&self, out: &mut BTreeMap<&'static str, u64>) {
                $(out.insert($key, self.$field);)*
            }
        }
    };
}

counters! {
    /// The fake L1: heads, inclusion, the pool, reorgs and the fee market's range.
    L1Stats {
        head = "l1_head",
        safe = "l1_safe",
        finalized = "l1_finalized",
        blocks_produced = "l1_blocks_produced",
        txs_included = "l1_txs_included",
        /// Transactions of the world's signers (batcher, submitter), not background traffic.
        signed_txs_included = "l1_signed_txs_included",
        blob_txs_included = "l1_blob_txs_included",
        cell_proof_blob_txs_included = "l1_cell_proof_blob_txs_included",
        legacy_blob_txs_evicted = "l1_legacy_blob_txs_evicted",
        blobs_included = "l1_blobs_included",
        txs_accepted = "l1_txs_accepted",
        txs_rejected = "l1_txs_rejected",
        background_txs_sent = "l1_background_txs_sent",
        txs_expired = "l1_txs_expired",
        txpool_size = "l1_txpool_size",
        reorgs = "l1_reorgs",
        reorged_blocks = "l1_reorged_blocks",
        orphaned_txs = "l1_orphaned_txs",
        orphans_readded = "l1_orphans_readded",
        orphans_dropped = "l1_orphans_dropped",
        base_fee_min_wei = "l1_base_fee_min_wei",
        base_fee_max_wei = "l1_base_fee_max_wei",
        base_fee_last_wei = "l1_base_fee_last_wei",
        /// Blob fees above `u64::MAX` wei read as `u64::MAX`.
        blob_fee_min_wei = "l1_blob_fee_min_wei",
        blob_fee_max_wei = "l1_blob_fee_max_wei",
        blob_fee_last_wei = "l1_blob_fee_last_wei",
    }
}

counters! {
    /// The L2 chain, the sequencer and the rollup node.
    L2Stats {
        unsafe_head = "l2_unsafe",
        safe = "l2_safe",
        finalized = "l2_finalized",
        blocks_built = "l2_blocks_built",
        user_txs_included = "l2_user_txs_included",
        txpool_size = "l2_txpool_size",
        blocks_consolidated = "l2_blocks_consolidated",
        blocks_derived_ahead = "l2_blocks_derived_ahead",
        unsafe_reorgs = "l2_unsafe_reorgs",
        unsafe_blocks_replaced = "l2_unsafe_blocks_replaced",
        safe_rewinds = "l2_safe_rewinds",
        /// User transactions in the safe chain, by type.
        safe_txs_legacy = "l2_safe_txs_legacy",
        safe_txs_legacy_unprotected = "l2_safe_txs_legacy_unprotected",
        safe_txs_eip2930 = "l2_safe_txs_eip2930",
        safe_txs_eip1559 = "l2_safe_txs_eip1559",
        safe_txs_eip7702 = "l2_safe_txs_eip7702",
        state_roots_verified = "l2_state_roots_verified",
        state_root_mismatches = "l2_state_root_mismatches",
        rollup_payload_fallbacks = "l2_rollup_payload_fallbacks",
        rollup_executions_cancelled = "l2_rollup_executions_cancelled",
        sequencer_payload_fallbacks = "l2_sequencer_payload_fallbacks",
        sequencer_blocks_cancelled = "l2_sequencer_blocks_cancelled",
        sequencer_txs_rejected = "l2_sequencer_txs_rejected",
        state_copies = "l2_state_copies",
    }
}

counters! {
    /// The real batcher, summed over its incarnations (restarts); `_last` and channel fill are the
    /// last incarnation's.
    BatcherTotals {
        incarnations = "batcher_incarnations",
        blocks_loaded = "batcher_blocks_loaded",
        reorgs_detected = "batcher_reorgs_detected",
        state_clears = "batcher_state_clears",
        txs_sent = "batcher_txs_sent",
        txs_confirmed = "batcher_txs_confirmed",
        txs_failed = "batcher_txs_failed",
        cancellations_sent = "batcher_cancellations_sent",
        da_requests_failed = "batcher_da_requests_failed",
        blob_txs_confirmed = "batcher_blob_txs_confirmed",
        calldata_txs_confirmed = "batcher_calldata_txs_confirmed",
        unsafe_da_bytes_last = "batcher_unsafe_da_bytes_last",
        full_channels = "batcher_full_channels",
        full_channel_fill_permille = "batcher_full_channel_fill_permille",
    }
}

counters! {
    /// The test submitter.
    SubmitterTotals {
        txs = "submitter_txs",
        channels = "submitter_channels",
        reposts = "submitter_reposts",
        garbage_txs = "submitter_garbage_txs",
    }
}

/// A run's counters. A part is `None` when it did not run (or the run panicked before counting).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub l1: Option<L1Stats>,
    pub l2: Option<L2Stats>,
    /// Blocks kona-executor re-built, when the scenario turns the block oracle on.
    pub l2_oracle_blocks_checked: Option<u64>,
    pub batcher: Option<BatcherTotals>,
    pub submitter: Option<SubmitterTotals>,
}

impl Stats {
    /// Every counter under its flat key, in name order.
    pub fn entries(&self) -> BTreeMap<&'static str, u64> {
        let mut out = BTreeMap::new();
        self.l1.iter().for_each(|s| s.write(&mut out));
        self.l2.iter().for_each(|s| s.write(&mut out));
        if let Some(checked) = self.l2_oracle_blocks_checked {
            out.insert("l2_oracle_blocks_checked", checked);
        }
        self.batcher.iter().for_each(|s| s.write(&mut out));
        self.submitter.iter().for_each(|s| s.write(&mut out));
        out
    }

    /// The L1's counters; panics if the run ended before counting (a panic in the world).
    pub fn l1(&self) -> &L1Stats {
        self.l1.as_ref().expect("the run counted (no panic): see the no_panic verdict")
    }

    /// The L2's counters; panics if the scenario has no `[l2]` or the run panicked.
    pub fn l2(&self) -> &L2Stats {
        self.l2.as_ref().expect("the scenario runs an L2 and the run counted")
    }

    /// The batcher's counters; panics if the scenario has no `[batcher]` or the run panicked.
    pub fn batcher(&self) -> &BatcherTotals {
        self.batcher.as_ref().expect("the scenario runs the batcher and the run counted")
    }
}

impl Serialize for Stats {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.entries().serialize(serializer)
    }
}
