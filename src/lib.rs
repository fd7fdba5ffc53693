//! rollsim's systems under test.
//!
//! Everything in this crate is ordinary async Rust written against tokio APIs and the port traits:
//! it knows nothing of the simulation. In the default build tokio is madsim's deterministic runtime
//! (see `.cargo/config.toml`); with `RUSTFLAGS=` the same code runs on real tokio.

pub mod batcher;
pub mod cancel;
pub mod evm;
pub mod execution;
pub mod kzg;
pub mod payload;
#[cfg(feature = "planted-bugs")]
pub mod planted;
pub mod ports;
pub mod protocol;
pub mod signer;
pub mod sync;
pub mod trie;
