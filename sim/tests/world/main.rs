//! The world through the public API only: every scenario with its snapshot, determinism, the
//! batcher and derivation end to end, the API itself, the CLI, and the module layers.
#![cfg(madsim)]

mod api;
mod batcher;
mod cli;
mod common;
mod derivation;
mod determinism;
mod layers;
mod scenarios;
