//! The payload processor (prewarm, multiproof, sparse trie) and the execution under it: against the
//! sequential root, across task interleavings, with op-revm and kona-executor (docs/payload.md).

mod common;
mod evm;
mod execution;
mod multiproof;
mod pre_state;
mod processor;
