//! What a run is judged on: the invariants, each one's verdict, and the monitor that records the
//! first violation of each online invariant while the run goes on.
//!
//! Nodes report online violations here (the sequencer and the rollup node check state roots as
//! they execute); the checks themselves live in `invariants`, above the nodes.

use crate::{clock::sim_now, trace::Trace};
use rollsim::sync::lock;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::{collections::BTreeMap, fmt, str::FromStr, sync::Mutex};

macro_rules! invariants {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)*) => {
        /// Something that must hold in every run. Its name is what scenario files, reports and
        /// traces use.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Invariant {
            $($(#[$doc])* $variant,)*
        }

        impl Invariant {
            /// Every invariant, in the order a run reports them.
            pub const ALL: [Invariant; [$(Invariant::$variant),*].len()] = [$(Invariant::$variant),*];

            /// The invariant's name, e.g. `"l2_state_root"`.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Invariant::$variant => $name,)*
                }
            }
        }
    };
}

invariants! {
    /// Parent hashes link, numbers and slots increase, every hash is its header's.
    L1ChainLinked = "l1_chain_linked",
    /// Base fee and blob fee follow the fork's formulas; blocks keep the fork's limits.
    L1FeeMarket = "l1_fee_market",
    /// Each sender's included transactions are in nonce order.
    L1NonceOrder = "l1_nonce_order",
    /// Every included transaction has its receipt.
    L1Receipts = "l1_receipts",
    /// finalized <= safe <= head.
    L1HeadsOrdered = "l1_heads_ordered",
    /// The batcher never leaves a nonce gap on L1 (online).
    BatcherNonceGap = "batcher_nonce_gap",
    /// Throttling follows the DA backlog within one poll (online).
    ThrottleWithinOnePoll = "throttle_within_one_poll",
    /// Every batcher state clear has a cause in the world (online).
    BatcherResetsExplained = "batcher_resets_explained",
    /// `auto` DA picks the cheaper of calldata and blobs at the L1's prices (online).
    BatcherDaChoice = "batcher_da_choice",
    /// Once users stop, the batcher's pending DA bytes drain.
    BatcherDaBytesDrained = "batcher_da_bytes_drained",
    /// The L2 chain links and its timestamps follow the block time.
    L2ChainLinked = "l2_chain_linked",
    /// Every safe block is the block the sequencer produced.
    L2DerivedEqualsProduced = "l2_derived_equals_produced",
    /// Each transaction type the workload sends reaches the safe chain.
    L2TxTypesDerived = "l2_tx_types_derived",
    /// The safe head ends the run within the liveness bound of the unsafe head.
    L2SafeFollowsUnsafe = "l2_safe_follows_unsafe",
    /// Every block's state root is the one its execution computes (online).
    L2StateRoot = "l2_state_root",
    /// The rollup node re-executed and verified every safe block.
    L2StateRootsVerified = "l2_state_roots_verified",
    /// The payload processor falls back only for a cause (online).
    PayloadNoSpuriousFallback = "payload_no_spurious_fallback",
    /// kona-executor re-builds the checked blocks with the same headers (online; judged when the
    /// scenario turns the oracle on).
    L2BlockOracle = "l2_block_oracle",
    /// A channel the batcher dropped as timed out really timed out on L1.
    BatcherTimeoutsReal = "batcher_timeouts_real",
    /// Every channel on L1 was derived or dropped for a cause.
    BatcherChannelsAccounted = "batcher_channels_accounted",
    /// The batcher's posted bytes outside faults carry new L2 blocks.
    BatcherDaEfficiency = "batcher_da_efficiency",
    /// Transactions are taken as confirmed at the configured depth.
    BatcherConfirmationDepth = "batcher_confirmation_depth",
    /// Fee bumps meet the pool's replacement rule.
    BatcherReplacementPriced = "batcher_replacement_priced",
    /// A panic anywhere in the run (a system under test crashed); reported only when it happens.
    NoPanic = "no_panic",
    /// Two runs at one seed leave one trace hash (judged by `rollsim run --twice`).
    Determinism = "determinism",
}

impl Invariant {
    /// The online invariants about the batcher.
    pub const BATCHER_ONLINE: [Invariant; 4] = [
        Invariant::BatcherNonceGap,
        Invariant::ThrottleWithinOnePoll,
        Invariant::BatcherResetsExplained,
        Invariant::BatcherDaChoice,
    ];
    /// The online invariants about L2 execution.
    pub const L2_ONLINE: [Invariant; 2] = [Invariant::L2StateRoot, Invariant::PayloadNoSpuriousFallback];

    /// Checked as the run goes, by the [`Monitor`].
    pub fn is_online(self) -> bool {
        Self::BATCHER_ONLINE.contains(&self) || Self::L2_ONLINE.contains(&self) || self == Self::L2BlockOracle
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no invariant's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownInvariant(pub String);

impl fmt::Display for UnknownInvariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Invariant::ALL.iter().map(|i| i.name()).collect();
        write!(f, "unknown invariant {:?} (one of {})", self.0, names.join(", "))
    }
}

impl std::error::Error for UnknownInvariant {}

impl FromStr for Invariant {
    type Err = UnknownInvariant;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|i| i.name() == name).ok_or_else(|| UnknownInvariant(name.to_owned()))
    }
}

impl Serialize for Invariant {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Invariant {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

/// The verdict of one invariant on one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    #[serde(rename = "name")]
    pub invariant: Invariant,
    pub ok: bool,
    /// What was checked when it holds; what broke and where when it does not.
    pub detail: String,
}

impl Verdict {
    /// A check's result: `Ok(what was checked)` or `Err(what broke)`.
    pub fn of(invariant: Invariant, result: Result<String, String>) -> Self {
        match result {
            Ok(detail) => Self { invariant, ok: true, detail },
            Err(detail) => Self { invariant, ok: false, detail },
        }
    }
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
    first: Mutex<BTreeMap<Invariant, Violation>>,
}

impl Monitor {
    pub fn new(trace: Option<Trace>) -> Self {
        Self { trace, first: Mutex::default() }
    }

    /// Records a violation of `invariant` unless one is already recorded.
    pub fn violate(&self, invariant: Invariant, detail: String) {
        debug_assert!(invariant.is_online(), "{invariant} is not online");
        let mut first = lock(&self.first);
        if first.contains_key(&invariant) {
            return;
        }
        let trace_event = self.trace.as_ref().map_or(0, |t| t.summary().events);
        tracing::warn!(target: "rollsim_sim::invariants", invariant = invariant.name(), %detail, "invariant violated");
        first.insert(invariant, Violation { at_ms: sim_now().as_millis() as u64, trace_event, detail });
    }

    /// One verdict per online invariant of `invariants`.
    pub fn results(&self, invariants: &[Invariant]) -> Vec<Verdict> {
        let first = lock(&self.first);
        invariants
            .iter()
            .map(|&invariant| match first.get(&invariant) {
                Some(v) => Verdict {
                    invariant,
                    ok: false,
                    detail: format!(
                        "first violated at {:.3} s (trace event {}): {}",
                        v.at_ms as f64 / 1000.0,
                        v.trace_event,
                        v.detail
                    ),
                },
                None => Verdict { invariant, ok: true, detail: "held at every check".into() },
            })
            .collect()
    }
}
