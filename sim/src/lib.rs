//! The simulated world around rollsim's systems under test: a fake L1, nodes talking RPC over
//! madsim's simulated network, faults, oracles, and the trace that identifies a run.
//!
//! The world exists only in the simulation build (`--cfg madsim`, the default through
//! `.cargo/config.toml`); a native build (`RUSTFLAGS=`) compiles this crate empty.
#![cfg(madsim)]

pub mod batcher_node;
pub mod da;
pub mod faults;
pub mod fuzz;
pub mod invariants;
pub mod l1;
pub mod l2;
pub mod net;
pub mod posted;
pub mod profile;
pub mod report;
pub mod rollup_node;
pub mod scenario;
pub mod seed;
pub mod sequencer;
pub mod submitter;
pub mod trace;
pub mod trace_diff;
pub mod workload;
pub mod world;
