//! The simulated world around rollsim's systems under test: a fake L1, an L2 sequencer and rollup
//! node, an AltDA server and the batcher, talking RPC over madsim's simulated network; faults;
//! oracles; and the trace that identifies a run.
//!
//! A test loads or builds a [`Scenario`], runs it at a seed and reads the [`Outcome`]:
//!
//! ```no_run
//! use rollsim_sim::{run, Fault, RunOptions, Scenario};
//! use std::time::Duration;
//!
//! let baseline = Scenario::load("scenarios/baseline.toml".as_ref()).unwrap();
//! let reorged = baseline.with_fault(Fault::L1Reorg { at: Duration::from_secs(900), depth: 3, branch_len: None });
//! run(&reorged.unwrap(), RunOptions::seed(1)).assert_all_hold();
//! ```
//!
//! A batcher of your own runs in place of the ported one through [`BatcherSystem`]
//! (`examples/own_batcher.rs`). `docs/architecture.md` shows the layers below.
//!
//! The world exists only in the simulation build (`--cfg madsim`, the default through
//! `.cargo/config.toml`); a native build (`RUSTFLAGS=`) compiles this crate empty.
#![cfg(madsim)]

// The modules form layers; each imports only from its own layer or below
// (`sim/tests/world/layers.rs` checks it).
// 1. Leaves: the clock, units, seeded streams, the trace, profiling, invariants and their monitor.
mod clock;
mod profile;
mod seed;
mod trace;
mod units;
mod verdict;
// 2. The simulated network.
mod net;
// 3. Chains and nodes.
mod batcher_node;
mod da;
mod l1;
mod l2;
mod rollup_node;
mod sequencer;
mod submitter;
// 4. Faults and oracles.
mod faults;
mod invariants;
mod posted;
// 5. Scenarios, the world, the run harness.
mod harness;
mod scenario;
mod world;
// 6. Tools: the command line, the fuzzer, reports.
pub mod cli;
mod fuzz;
mod report;
mod trace_diff;

pub use batcher_node::{BatcherNode, BatcherSystem, PortedBatcher, SimDa, SimL1, SimL2, SimPorts, SimRollup};
pub use faults::{Fault, RpcFaultKind};
pub use fuzz::{fuzz_case, shrink};
pub use harness::{for_each_seed, run, spawn_run, Outcome, RunHandle, RunOptions};
pub use l2::{engine::PayloadFaultRates, genesis::keep_built_geneses};
pub use scenario::{Scenario, ScenarioBuilder, ScenarioError};
pub use submitter::{GarbageKind, GarbageSender};
pub use verdict::{Invariant, UnknownInvariant, Verdict};
pub use world::{BatcherTotals, L1Stats, L2Stats, Stats, SubmitterTotals};
