//! Faults: typed, time-windowed data in a scenario's schedule, and their injection into the world.
//!
//! A fault is plain data (`[[faults]]` in a scenario, tagged by `kind`): scenario files write it,
//! the fuzzer generates and shrinks it, reproducers print it. Each is injected at one level:
//! transport (RPC fault rules, madsim link clogs), node (kill and restart, derivation pause, DA
//! store), or world (L1 block production, fee demand, the L1 pool, the L2 workload). Every fault
//! traces `fault started` and `fault ended` (instant faults only the first).

use crate::{
    clock::sim_now,
    l1::{self, wallet::Fees, SharedChain},
    l2::engine::{PayloadFaultRates, PayloadFaultSource},
    net::{RpcFaultAction, RpcFaultRule, RpcFaults},
    submitter::{GarbageKind, GarbageSender},
};
use alloy_primitives::{Address, Bytes};
use madsim::{runtime::Handle, task::NodeId};
use rollsim::sync::lock;
use serde::{Deserialize, Serialize};
use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

/// What an RPC fault does to each matching call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RpcFaultKind {
    /// The server answers a JSON-RPC error without handling the request.
    Error,
    /// The request is lost: the client waits out its timeout.
    Timeout,
    /// The server handles the request, the response is lost: the client times out.
    DropResponse,
    /// The call proceeds after `delay_ms`.
    Delay,
}

/// One scheduled fault. `at` is when it starts; windowed faults last `duration`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// The last `depth` L1 blocks are replaced by a branch of `branch_len` blocks (default
    /// `depth`) proposed at the same slots without the orphaned transactions.
    L1Reorg {
        #[serde(deserialize_with = "crate::units::duration", serialize_with = "crate::units::human")]
        at: Duration,
        depth: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        branch_len: Option<u64>,
    },
    /// No L1 blocks are proposed (missed slots).
    L1Stall {
        #[serde(deserialize_with = "crate::units::duration", serialize_with = "crate::units::human")]
        at: Duration,
        #[serde(deserialize_with = "crate::units::duration", serialize_with = "crate::units::human")]
        duration: Duration,
    },
    /// Background demand for L1 gas and blob space is multiplied: the base fee and blob base fee
    /// climb by EIP-1559 / EIP-4844 until the raised demand is priced out.
    FeeSpike {
        #[serde(deserialize_with = "crate::units::duration", serialize_with = "crate::units::human")]
        at: Duration,
        #[serde(deserialize_with = "crate::units::duration", serialize_with = "crate::units::human")]
        duration: Duration,
        #[serde(default = "one")]
        gas_demand_multiplier: f64,
        #[serde(default = "one")]
        blob_demand_multiplier: f64,
    },
    /// The batcher's transactions vanish from the L1 pool before each block: accepted by RPC,
    /// never mined.
    TxDrop {
        #[serde(deserialize_with = "crate::units::duration", serialize_with = "crate::units::human")]
        at: Duration,
        #[serde(deserialize_with = "crate::units::duration", serialize_with = "crate::units::human")]
        duration: Duration,
    },
    /// Calls matching the filters (unset: any) fail as `action` says, each with `probability`.
    Rpc {
        #[serde(deserialize_with = "crate::units::duration", serialize_with = "crate::units::human")]
        at: Duration,
        #[serde(deserialize_with = "crate::units::duration", serialize_with = "crate::units::human")]
        duration: Duration,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        method: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        server: Option<String>,
        action: RpcFaultKind,
        /// Extra latency of `action = "delay"`.
        #[serde(default)]
        delay_ms: u64,
        #[serde(default = "one")]
        probability: f64,
    },
    /// Nodes `a` and `b` cannot reach each other (madsim link clogged both ways).
    Partition {
        #[serde(deserialize_with = "crate::units::duration", serialize_with = "crate::units::human")]
        at: Duration,
        #[serde(deserialize_with = "crate::units::duration", serialize_with = "crate::units::human")]
        duration: Duration,
        a: String,
        b: String,
    },
    /// Every call between nodes `a` and `b` (both directions) takes `delay_ms` longer.
    Latency {
        #[serde(deserialize_with = "crate::units::duration", serialize_with = "crate::units::human")]
        at: Duration,
        #[serde(deserialize_with = "crate::units::duration", serialize_with = "crate::units::human")]
        duration: Duration,
        a: String,
        b: String,
        delay_ms: u64,
    },
    /// Node `batcher` is killed and, `downtime` later, cold-restarted.
    BatcherCrash {
        #[serde(deserialize_with = "crate::units::duration", serialize_with = "crate::units::human")]
        at: Duration,
        #[serde(deserialize_with = "crate::units::duration", serialize_with = "crate::units::human")]
        downtime: Duration,
    },
    /// Node `sequencer` is killed and restarted `downtime` later (it forgets its DA limits).
    SequencerRestart {
        #[serde(deserialize_with = "crate::units::duration", serialize_with = "crate::units::human")]
        at: Duration,
        #[serde(deserialize_with = "crate::units::duration", serialize_with = "crate::units::human")]
        downtime: Duration,
    },
    /// Node `rollup` is killed and restarted `downtime` later: its RPC is down, and once back it
    /// reports empty L2 heads until derivation has caught up with the L1 head (op-node's
    /// not-ready status while its engine is not synced).
    RollupRestart {
        #[serde(deserialize_with = "crate::units::duration", serialize_with = "crate::units::human")]
        at: Duration,
        #[serde(deserialize_with = "crate::units::duration", serialize_with = "crate::units::human")]
        downtime: Duration,
    },
    /// The rollup node's derivation pauses (it keeps answering RPC with a stale view).
    RollupLag {
        #[serde(deserialize_with = "crate::units::duration", serialize_with = "crate::units::human")]
        at: Duration,
        #[serde(deserialize_with = "crate::units::duration", serialize_with = "crate::units::human")]
        duration: Duration,
    },
    /// The payload processor of node `node` (`sequencer` or `rollup`) misbehaves in every block it
    /// executes: proof jobs fail (`fail_share`) or are held back up to `max_delay_ms`, and blocks are
    /// cancelled mid-execution (`cancel_share`). The task must report, never return a wrong root.
    Payload {
        #[serde(deserialize_with = "crate::units::duration", serialize_with = "crate::units::human")]
        at: Duration,
        #[serde(deserialize_with = "crate::units::duration", serialize_with = "crate::units::human")]
        duration: Duration,
        node: String,
        #[serde(flatten)]
        rates: PayloadFaultRates,
    },
    /// The DA server answers every request with HTTP 503.
    DaOutage {
        #[serde(deserialize_with = "crate::units::duration", serialize_with = "crate::units::human")]
        at: Duration,
        #[serde(deserialize_with = "crate::units::duration", serialize_with = "crate::units::human")]
        duration: Duration,
    },
    /// Every DA request takes `delay_ms` longer.
    DaSlow {
        #[serde(deserialize_with = "crate::units::duration", serialize_with = "crate::units::human")]
        at: Duration,
        #[serde(deserialize_with = "crate::units::duration", serialize_with = "crate::units::human")]
        duration: Duration,
        delay_ms: u64,
    },
    /// The DA server acknowledges PUTs but stores nothing: the commitment lands on L1, its data
    /// never comes back.
    DaLoss {
        #[serde(deserialize_with = "crate::units::duration", serialize_with = "crate::units::human")]
        at: Duration,
        #[serde(deserialize_with = "crate::units::duration", serialize_with = "crate::units::human")]
        duration: Duration,
    },
    /// A burst of large L2 transactions (a DA backlog): `txs_per_block` extra per block, calldata
    /// of `tx_bytes`.
    DaBacklog {
        #[serde(deserialize_with = "crate::units::duration", serialize_with = "crate::units::human")]
        at: Duration,
        #[serde(deserialize_with = "crate::units::duration", serialize_with = "crate::units::human")]
        duration: Duration,
        txs_per_block: f64,
        tx_bytes: [u64; 2],
    },
    /// A transaction of the type the batcher does not post (calldata when it posts blobs, and
    /// the reverse) is put in the L1 pool at the batcher's next nonce, priced never to be mined:
    /// the batcher meets "address already reserved" and must send a cancellation.
    TxpoolBlock {
        #[serde(deserialize_with = "crate::units::duration", serialize_with = "crate::units::human")]
        at: Duration,
        /// Whether the stuck transaction is a blob transaction.
        blob: bool,
    },
    /// A rogue submitter posts one garbage transaction to the batch inbox.
    Garbage {
        #[serde(deserialize_with = "crate::units::duration", serialize_with = "crate::units::human")]
        at: Duration,
        garbage: GarbageKind,
        sender: GarbageSender,
    },
    /// An operator calls the batcher's admin `flushBatcher` at `at` and every `interval_s` while
    /// the window lasts: the current channel closes and publishes though not full. A call while
    /// node `batcher` is down is lost, as an RPC to a dead process.
    BatcherFlush {
        #[serde(deserialize_with = "crate::units::duration", serialize_with = "crate::units::human")]
        at: Duration,
        #[serde(deserialize_with = "crate::units::duration", serialize_with = "crate::units::human")]
        duration: Duration,
        interval_s: u64,
    },
}

fn one() -> f64 {
    1.0
}

/// Deepest reorg a scenario may ask for: beyond this the finalized head would have to revert.
pub const MAX_REORG_DEPTH: u64 = 64;
/// The largest demand multiplier of a fee spike: beyond it background traffic alone fills every
/// block at any fee users will pay.
pub const MAX_DEMAND_MULTIPLIER: f64 = 50.0;
/// Longest injected latency: beyond the clients' 10 s timeout it is an outage, say so instead.
pub const MAX_DELAY_MS: u64 = 60_000;

/// A validation error naming `field`.
fn field_error(field: &str, reason: String) -> Result<(), (String, String)> {
    Err((field.to_owned(), reason))
}

/// What runs in the world a fault is checked against: the nodes it may name and the run's length.
#[derive(Debug, Clone, Copy)]
pub struct Cast {
    pub duration: Duration,
    /// The sequencer and the rollup node.
    pub l2: bool,
    pub batcher: bool,
    pub da: bool,
    /// The test submitter (also started, garbage only, for a garbage fault).
    pub submitter: bool,
}
/// Nodes faults may name.
pub const NODES: [&str; 6] = ["l1", "sequencer", "rollup", "batcher", "da", "submitter"];

impl Fault {
    /// When the fault starts.
    pub fn at(&self) -> Duration {
        match self {
            Self::L1Reorg { at, .. }
            | Self::L1Stall { at, .. }
            | Self::FeeSpike { at, .. }
            | Self::TxDrop { at, .. }
            | Self::Rpc { at, .. }
            | Self::Partition { at, .. }
            | Self::Latency { at, .. }
            | Self::BatcherCrash { at, .. }
            | Self::SequencerRestart { at, .. }
            | Self::RollupRestart { at, .. }
            | Self::RollupLag { at, .. }
            | Self::Payload { at, .. }
            | Self::DaOutage { at, .. }
            | Self::DaSlow { at, .. }
            | Self::DaLoss { at, .. }
            | Self::DaBacklog { at, .. }
            | Self::TxpoolBlock { at, .. }
            | Self::Garbage { at, .. }
            | Self::BatcherFlush { at, .. } => *at,
        }
    }

    /// How long the fault lasts; zero for instant faults.
    pub fn duration(&self) -> Duration {
        match self {
            Self::L1Stall { duration, .. }
            | Self::FeeSpike { duration, .. }
            | Self::TxDrop { duration, .. }
            | Self::Rpc { duration, .. }
            | Self::Partition { duration, .. }
            | Self::Latency { duration, .. }
            | Self::RollupLag { duration, .. }
            | Self::Payload { duration, .. }
            | Self::DaOutage { duration, .. }
            | Self::DaSlow { duration, .. }
            | Self::DaLoss { duration, .. }
            | Self::DaBacklog { duration, .. }
            | Self::BatcherFlush { duration, .. } => *duration,
            Self::BatcherCrash { downtime, .. }
            | Self::SequencerRestart { downtime, .. }
            | Self::RollupRestart { downtime, .. } => *downtime,
            Self::L1Reorg { .. } | Self::TxpoolBlock { .. } | Self::Garbage { .. } => Duration::ZERO,
        }
    }

    /// The window's mutable length, for shrinking: `None` for instant faults.
    pub fn duration_mut(&mut self) -> Option<&mut Duration> {
        match self {
            Self::L1Stall { duration, .. }
            | Self::FeeSpike { duration, .. }
            | Self::TxDrop { duration, .. }
            | Self::Rpc { duration, .. }
            | Self::Partition { duration, .. }
            | Self::Latency { duration, .. }
            | Self::RollupLag { duration, .. }
            | Self::Payload { duration, .. }
            | Self::DaOutage { duration, .. }
            | Self::DaSlow { duration, .. }
            | Self::DaLoss { duration, .. }
            | Self::DaBacklog { duration, .. }
            | Self::BatcherFlush { duration, .. } => Some(duration),
            Self::BatcherCrash { downtime, .. }
            | Self::SequencerRestart { downtime, .. }
            | Self::RollupRestart { downtime, .. } => Some(downtime),
            Self::L1Reorg { .. } | Self::TxpoolBlock { .. } | Self::Garbage { .. } => None,
        }
    }

    /// When the fault is over.
    pub fn end(&self) -> Duration {
        self.at() + self.duration()
    }

    /// The `kind` tag, for traces and messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::L1Reorg { .. } => "l1_reorg",
            Self::L1Stall { .. } => "l1_stall",
            Self::FeeSpike { .. } => "fee_spike",
            Self::TxDrop { .. } => "tx_drop",
            Self::Rpc { .. } => "rpc",
            Self::Partition { .. } => "partition",
            Self::Latency { .. } => "latency",
            Self::BatcherCrash { .. } => "batcher_crash",
            Self::SequencerRestart { .. } => "sequencer_restart",
            Self::RollupRestart { .. } => "rollup_restart",
            Self::RollupLag { .. } => "rollup_lag",
            Self::Payload { .. } => "payload",
            Self::DaOutage { .. } => "da_outage",
            Self::DaSlow { .. } => "da_slow",
            Self::DaLoss { .. } => "da_loss",
            Self::DaBacklog { .. } => "da_backlog",
            Self::TxpoolBlock { .. } => "txpool_block",
            Self::Garbage { .. } => "garbage",
            Self::BatcherFlush { .. } => "batcher_flush",
        }
    }

    /// Checks the fault against the world it runs in; errors name the field.
    pub fn validate(&self, world: &Cast) -> Result<(), (String, String)> {
        if self.at() >= world.duration {
            return field_error(
                "at",
                format!("{:?} is not before the end of the run ({:?})", self.at(), world.duration),
            );
        }
        if self.duration_mut_is_zero() {
            let field = if matches!(
                self,
                Self::BatcherCrash { .. } | Self::SequencerRestart { .. } | Self::RollupRestart { .. }
            ) {
                "downtime"
            } else {
                "duration"
            };
            return field_error(field, "must be more than zero".into());
        }
        self.validate_cast(world)?;
        self.validate_values()
    }

    /// The nodes the fault names run, and the tables it needs are present.
    fn validate_cast(&self, world: &Cast) -> Result<(), (String, String)> {
        let node = |field: &str, name: &str| -> Result<(), (String, String)> {
            if !NODES.contains(&name) {
                return field_error(field, format!("unknown node {name:?} (one of {})", NODES.join(", ")));
            }
            let present = match name {
                "l1" => true,
                "sequencer" | "rollup" => world.l2,
                "batcher" => world.batcher,
                "da" => world.da,
                _ => world.submitter,
            };
            if present {
                Ok(())
            } else {
                field_error(field, format!("node {name:?} does not run in this scenario"))
            }
        };
        let needs = |present: bool, table: &str| -> Result<(), (String, String)> {
            if present {
                Ok(())
            } else {
                field_error("kind", format!("this fault needs the {table} table"))
            }
        };
        match self {
            Self::TxDrop { .. }
            | Self::BatcherCrash { .. }
            | Self::TxpoolBlock { .. }
            | Self::BatcherFlush { .. } => needs(world.batcher, "[batcher]"),
            Self::SequencerRestart { .. }
            | Self::RollupRestart { .. }
            | Self::RollupLag { .. }
            | Self::DaBacklog { .. }
            | Self::Garbage { .. } => needs(world.l2, "[l2]"),
            Self::DaOutage { .. } | Self::DaLoss { .. } | Self::DaSlow { .. } => needs(world.da, "[da]"),
            Self::Rpc { client, server, .. } => {
                client.as_deref().map_or(Ok(()), |name| node("client", name))?;
                server.as_deref().map_or(Ok(()), |name| node("server", name))
            }
            Self::Partition { a, b, .. } | Self::Latency { a, b, .. } => {
                node("a", a)?;
                node("b", b)
            }
            Self::Payload { node: name, .. } => node("node", name),
            Self::L1Reorg { .. } | Self::L1Stall { .. } | Self::FeeSpike { .. } => Ok(()),
        }
    }

    /// The fault's own values are in range.
    fn validate_values(&self) -> Result<(), (String, String)> {
        let delay = |delay_ms: u64| -> Result<(), (String, String)> {
            if (1..=MAX_DELAY_MS).contains(&delay_ms) {
                Ok(())
            } else {
                field_error("delay_ms", format!("must be in 1..={MAX_DELAY_MS}, got {delay_ms}"))
            }
        };
        match self {
            Self::L1Reorg { depth, branch_len, .. } => {
                if !(1..=MAX_REORG_DEPTH).contains(depth) {
                    return field_error("depth", format!("must be in 1..={MAX_REORG_DEPTH}, got {depth}"));
                }
                if let Some(len) = branch_len.filter(|len| len > depth) {
                    return field_error("branch_len", format!("must be at most depth ({depth}), got {len}"));
                }
            }
            Self::FeeSpike { gas_demand_multiplier, blob_demand_multiplier, .. } => {
                for (field, m) in [
                    ("gas_demand_multiplier", gas_demand_multiplier),
                    ("blob_demand_multiplier", blob_demand_multiplier),
                ] {
                    if !(0.0..=MAX_DEMAND_MULTIPLIER).contains(m) {
                        return field_error(
                            field,
                            format!("must be in 0..={MAX_DEMAND_MULTIPLIER}, got {m}"),
                        );
                    }
                }
            }
            Self::Rpc { method, action, delay_ms, probability, .. } => {
                if method.as_deref().is_some_and(|m| m.trim().is_empty()) {
                    return field_error(
                        "method",
                        "must not be empty (leave it out to match every method)".into(),
                    );
                }
                if *action == RpcFaultKind::Delay {
                    delay(*delay_ms)?;
                } else if *delay_ms != 0 {
                    return field_error("delay_ms", "only action = \"delay\" takes a delay".into());
                }
                if !(*probability > 0.0 && *probability <= 1.0) {
                    return field_error("probability", format!("must be in (0, 1], got {probability}"));
                }
            }
            Self::Partition { a, b, .. } | Self::Latency { a, b, .. } => {
                if a == b {
                    return field_error("b", format!("must differ from a ({a:?})"));
                }
                if let Self::Latency { delay_ms, .. } = self {
                    delay(*delay_ms)?;
                }
            }
            Self::Payload { node: name, rates, .. } => {
                if !["sequencer", "rollup"].contains(&name.as_str()) {
                    return field_error("node", format!("must be \"sequencer\" or \"rollup\", got {name:?}"));
                }
                for (field, share) in [("fail_share", rates.fail_share), ("cancel_share", rates.cancel_share)]
                {
                    if !(0.0..=1.0).contains(&share) {
                        return field_error(field, format!("must be in 0..=1, got {share}"));
                    }
                }
                if rates.max_delay_ms > MAX_DELAY_MS {
                    return field_error(
                        "max_delay_ms",
                        format!("must be at most {MAX_DELAY_MS}, got {}", rates.max_delay_ms),
                    );
                }
            }
            Self::DaSlow { delay_ms, .. } => delay(*delay_ms)?,
            Self::DaBacklog { txs_per_block, tx_bytes, .. } => {
                if !(0.0..=5_000.0).contains(txs_per_block) {
                    return field_error("txs_per_block", format!("must be in 0..=5000, got {txs_per_block}"));
                }
                if tx_bytes[0] > tx_bytes[1] || tx_bytes[1] > 120_000 {
                    return field_error(
                        "tx_bytes",
                        format!("must be a range [lo, hi] with hi <= 120000, got {tx_bytes:?}"),
                    );
                }
            }
            Self::BatcherFlush { interval_s, .. } if *interval_s == 0 => {
                return field_error("interval_s", "must be at least 1".into());
            }
            _ => {}
        }
        Ok(())
    }

    fn duration_mut_is_zero(&self) -> bool {
        self.is_windowed() && self.duration().is_zero()
    }

    /// Whether the fault lasts a window (instant faults: a reorg, a stuck tx, a garbage tx).
    pub fn is_windowed(&self) -> bool {
        !matches!(self, Self::L1Reorg { .. } | Self::TxpoolBlock { .. } | Self::Garbage { .. })
    }
}

/// What the injector reaches in the world: shared handles.
pub struct Injector {
    pub handle: Handle,
    pub nodes: Arc<Mutex<BTreeMap<String, NodeId>>>,
    pub l1: SharedChain,
    pub rpc_faults: Arc<RpcFaults>,
    pub da: Option<crate::da::SharedDa>,
    pub rollup_paused: Arc<AtomicBool>,
    pub payload_faults: Arc<PayloadFaultSource>,
    /// The batcher's wallet, for the stuck transaction of `txpool_block`.
    pub batcher: Option<l1::wallet::Wallet>,
    /// Wakes the running batcher's admin task to call `flush` (`batcher_flush`).
    pub batcher_flush: Arc<tokio::sync::Notify>,
    pub inbox: Address,
    /// Windowed faults in progress, and when the last one ended: online invariants that faults
    /// may delay hold off while any is active.
    pub activity: Arc<FaultActivity>,
    /// Per node, the crash faults holding it down: overlapping downtimes merge, so a node is
    /// killed once and restarted when the last one ends (never restarted while running).
    pub down: Arc<Mutex<BTreeMap<String, u32>>>,
}

/// Faults in progress.
#[derive(Debug, Default)]
pub struct FaultActivity {
    active: AtomicU64,
    /// Simulated milliseconds when the last fault ended (or started, for instant faults).
    last_change_ms: AtomicU64,
    /// Whether any fault has started yet.
    any: AtomicBool,
}

impl FaultActivity {
    /// Whether no fault is in progress and none changed within `grace`.
    pub fn quiet_for(&self, grace: Duration) -> bool {
        self.active.load(Ordering::Relaxed) == 0
            && sim_now().as_millis() as u64
                >= self.last_change_ms.load(Ordering::Relaxed) + grace.as_millis() as u64
    }

    /// Whether a fault is in progress, or one started or ended within `window`.
    pub fn disturbed_within(&self, window: Duration) -> bool {
        let now_ms = sim_now().as_millis() as u64;
        let window_ms = window.as_millis() as u64;
        self.any.load(Ordering::Relaxed)
            && (self.active.load(Ordering::Relaxed) > 0
                || now_ms < self.last_change_ms.load(Ordering::Relaxed) + window_ms)
    }

    fn started(&self) {
        self.active.fetch_add(1, Ordering::Relaxed);
        self.touch();
    }

    fn ended(&self) {
        self.active.fetch_sub(1, Ordering::Relaxed);
        self.touch();
    }

    fn touch(&self) {
        self.any.store(true, Ordering::Relaxed);
        self.last_change_ms.store(sim_now().as_millis() as u64, Ordering::Relaxed);
    }
}

const TARGET: &str = "rollsim_sim::faults";

impl Injector {
    fn node(&self, name: &str) -> NodeId {
        *lock(&self.nodes).get(name).unwrap_or_else(|| panic!("no node named {name}"))
    }

    fn rule(
        &self,
        fault: &Fault,
        method: Option<String>,
        client: Option<String>,
        server: Option<String>,
        action: RpcFaultAction,
        probability: f64,
    ) {
        self.rpc_faults.add(RpcFaultRule {
            method,
            client,
            server,
            from: fault.at(),
            until: fault.end(),
            action,
            probability,
        });
    }

    /// Applies every fault of the schedule from one sorted timeline: each fault's start, its end,
    /// and a flush window's calls. One task for all faults, so dropping one (shrinking) leaves the
    /// others' timing and the scheduler's draws as they were. Runs as a world task.
    pub async fn run(self, faults: Vec<Fault>) {
        for (at, step, index) in timeline(&faults) {
            tokio::time::sleep(at.saturating_sub(sim_now())).await;
            let fault = &faults[index];
            let kind = fault.kind();
            match step {
                Step::Start => {
                    tracing::info!(target: TARGET, kind, fault = ?fault, "fault started");
                    if fault.is_windowed() {
                        self.activity.started();
                    } else {
                        self.activity.touch();
                    }
                    self.start(fault);
                }
                Step::Flush => {
                    tracing::info!(target: TARGET, "batcher flush requested");
                    self.batcher_flush.notify_waiters();
                }
                Step::Stop => {
                    self.stop(fault);
                    self.activity.ended();
                    tracing::info!(target: TARGET, kind, "fault ended");
                }
            }
        }
    }

    fn start(&self, fault: &Fault) {
        let some = |s: &str| Some(s.to_owned());
        match fault {
            Fault::L1Reorg { depth, branch_len, .. } => {
                if let Err(error) = l1::lock(&self.l1).reorg(*depth, branch_len.unwrap_or(*depth)) {
                    tracing::info!(target: TARGET, %error, depth, "l1 reorg not applied");
                }
            }
            Fault::L1Stall { .. } => l1::lock(&self.l1).stalled = true,
            Fault::FeeSpike { gas_demand_multiplier, blob_demand_multiplier, .. } => {
                let mut chain = l1::lock(&self.l1);
                let traffic = chain.traffic_mut();
                traffic.multiplier = *gas_demand_multiplier;
                traffic.blob_multiplier = *blob_demand_multiplier;
            }
            Fault::TxDrop { .. } => {
                let batcher = self.batcher.as_ref().expect("validated: a batcher runs").address();
                l1::lock(&self.l1).dropped_senders.insert(batcher);
            }
            Fault::Rpc { method, client, server, action, delay_ms, probability, .. } => {
                let action = match action {
                    RpcFaultKind::Error => RpcFaultAction::Error {
                        code: crate::net::SERVER_ERROR,
                        message: "injected fault: internal error".into(),
                    },
                    RpcFaultKind::Timeout => RpcFaultAction::DropRequest,
                    RpcFaultKind::DropResponse => RpcFaultAction::DropResponse,
                    RpcFaultKind::Delay => RpcFaultAction::Delay { delay_ms: *delay_ms },
                };
                self.rule(fault, method.clone(), client.clone(), server.clone(), action, *probability);
            }
            Fault::Partition { a, b, .. } => {
                let (a, b) = (self.node(a), self.node(b));
                let net = madsim::net::NetSim::current();
                net.clog_link(a, b);
                net.clog_link(b, a);
            }
            Fault::Latency { a, b, delay_ms, .. } => {
                for (client, server) in [(a, b), (b, a)] {
                    let action = RpcFaultAction::Delay { delay_ms: *delay_ms };
                    self.rule(fault, None, some(client), some(server), action, 1.0);
                }
            }
            Fault::BatcherCrash { .. } => self.kill("batcher"),
            Fault::SequencerRestart { .. } => self.kill("sequencer"),
            Fault::RollupRestart { .. } => self.kill("rollup"),
            Fault::RollupLag { .. } => self.rollup_paused.store(true, Ordering::Relaxed),
            Fault::Payload { node, rates, .. } => self.payload_faults.set(node, Some(*rates)),
            Fault::DaOutage { .. } => {
                let action = RpcFaultAction::Error {
                    code: 503,
                    message: "injected fault: DA server unavailable".into(),
                };
                self.rule(fault, None, None, some("da"), action, 1.0);
            }
            Fault::DaSlow { delay_ms, .. } => {
                self.rule(fault, None, None, some("da"), RpcFaultAction::Delay { delay_ms: *delay_ms }, 1.0);
            }
            Fault::DaLoss { .. } => {
                let store = self.da.as_ref().expect("validated: a DA server runs");
                lock(store).lose_puts.push(fault.at()..fault.end());
            }
            // The workload reads its bursts from the scenario (see `World::start`); the fault only
            // marks its window here.
            Fault::DaBacklog { .. } => {}
            Fault::TxpoolBlock { blob, .. } => self.block_txpool(*blob),
            Fault::Garbage { garbage, sender, .. } => {
                tracing::info!(target: TARGET, garbage = ?garbage, sender = ?sender, "garbage due: the rogue submitter posts it");
            }
            // Repeated by `flush_until` while the window lasts.
            Fault::BatcherFlush { .. } => {}
        }
    }

    fn stop(&self, fault: &Fault) {
        match fault {
            Fault::L1Stall { .. } => l1::lock(&self.l1).stalled = false,
            Fault::FeeSpike { .. } => {
                let mut chain = l1::lock(&self.l1);
                let traffic = chain.traffic_mut();
                traffic.multiplier = 1.0;
                traffic.blob_multiplier = 1.0;
            }
            Fault::TxDrop { .. } => {
                let batcher = self.batcher.as_ref().expect("validated: a batcher runs").address();
                l1::lock(&self.l1).dropped_senders.remove(&batcher);
            }
            Fault::Partition { a, b, .. } => {
                let (a, b) = (self.node(a), self.node(b));
                let net = madsim::net::NetSim::current();
                net.unclog_link(a, b);
                net.unclog_link(b, a);
            }
            Fault::BatcherCrash { .. } => self.restart("batcher"),
            Fault::SequencerRestart { .. } => self.restart("sequencer"),
            Fault::RollupRestart { .. } => self.restart("rollup"),
            Fault::RollupLag { .. } => self.rollup_paused.store(false, Ordering::Relaxed),
            Fault::Payload { node, .. } => self.payload_faults.set(node, None),
            // Time-windowed at the source: RPC rules, lost PUTs and bursts end by themselves.
            Fault::Rpc { .. }
            | Fault::Latency { .. }
            | Fault::DaOutage { .. }
            | Fault::DaSlow { .. }
            | Fault::DaLoss { .. }
            | Fault::DaBacklog { .. }
            | Fault::BatcherFlush { .. } => {}
            Fault::L1Reorg { .. } | Fault::TxpoolBlock { .. } | Fault::Garbage { .. } => {
                unreachable!("instant faults have no end")
            }
        }
    }

    fn kill(&self, name: &str) {
        let mut down = lock(&self.down);
        let holds = down.entry(name.to_owned()).or_default();
        *holds += 1;
        if *holds == 1 {
            tracing::info!(target: "rollsim_sim::world", node = name, "node killed");
            self.handle.kill(self.node(name));
        }
    }

    fn restart(&self, name: &str) {
        let mut down = lock(&self.down);
        let holds = down.get_mut(name).expect("a restart follows its kill");
        *holds -= 1;
        if *holds == 0 {
            tracing::info!(target: "rollsim_sim::world", node = name, "node restarted");
            self.handle.restart(self.node(name));
        }
    }

    /// Puts a transaction of the other type at the batcher's next pending nonce, paying a fee cap
    /// of 1 wei so no block ever includes it while the base fee stays above that.
    fn block_txpool(&self, blob: bool) {
        let wallet = self.batcher.as_ref().expect("validated: a batcher runs");
        let mut chain = l1::lock(&self.l1);
        let nonce = chain.nonce(&wallet.address(), true);
        let fees = Fees { max_fee_per_gas: 1, max_priority_fee_per_gas: 1, max_fee_per_blob_gas: 1 };
        let raw: Bytes = if blob {
            wallet.blob_tx(nonce, self.inbox, vec![Default::default()], fees, chain.head_fork().is_osaka())
        } else {
            wallet.call(nonce, self.inbox, Bytes::from_static(b"stuck"), fees)
        };
        match chain.submit_raw(&raw) {
            Ok(hash) => {
                tracing::info!(target: TARGET, %hash, nonce, blob, "stuck tx placed in the batcher's pool slot")
            }
            Err(error) => tracing::info!(target: TARGET, %error, nonce, blob, "stuck tx not accepted"),
        }
    }
}

/// What the injector does at a point of the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Start,
    /// An operator's `flushBatcher` call inside a `batcher_flush` window.
    Flush,
    Stop,
}

/// Every step of `faults`, in time order: (when, what, the fault's index). At equal times a
/// fault's steps keep their order (start, flushes, stop) and faults keep the schedule's order.
fn timeline(faults: &[Fault]) -> Vec<(Duration, Step, usize)> {
    let mut steps = Vec::new();
    for (index, fault) in faults.iter().enumerate() {
        steps.push((fault.at(), Step::Start, index));
        if let Fault::BatcherFlush { interval_s, .. } = fault {
            // Validated to at least 1 s; the floor keeps an unvalidated schedule finite.
            let interval = Duration::from_secs((*interval_s).max(1));
            let mut at = fault.at();
            while at < fault.end() {
                steps.push((at, Step::Flush, index));
                at += interval;
            }
        }
        if fault.is_windowed() {
            steps.push((fault.end(), Step::Stop, index));
        }
    }
    steps.sort_by_key(|&(at, step, index)| (at, index, step));
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    /// Steps come in time order whatever the schedule's order; a flush window calls at its start
    /// and every interval before its end; dropping a fault leaves the others' steps as they were.
    #[test]
    fn one_timeline_orders_every_step() {
        let flush = Fault::BatcherFlush { at: S(100), duration: S(25), interval_s: 10 };
        let stall = Fault::L1Stall { at: S(110), duration: S(5) };
        let reorg = Fault::L1Reorg { at: S(50), depth: 2, branch_len: None };
        let steps = timeline(&[flush.clone(), stall.clone(), reorg]);
        let expected = vec![
            (S(50), Step::Start, 2),
            (S(100), Step::Start, 0),
            (S(100), Step::Flush, 0),
            (S(110), Step::Flush, 0),
            (S(110), Step::Start, 1),
            (S(115), Step::Stop, 1),
            (S(120), Step::Flush, 0),
            (S(125), Step::Stop, 0),
        ];
        assert_eq!(steps, expected);
        let without_reorg: Vec<_> = expected.iter().filter(|s| s.2 != 2).copied().collect();
        assert_eq!(timeline(&[flush, stall]), without_reorg);
    }
}
