//! The OP-Stack wire protocol: what the batcher writes to L1 and the rollup node reads back.
//!
//! Layering, bottom up: [`frame`]s carry slices of a [`channel_out`]'s compressed stream;
//! [`tx_data`] wraps frames into batcher transaction calldata (or AltDA commitments) and [`blob`]
//! packs them into EIP-4844 blobs. The stream itself is a [`compression`] of RLP strings, each a
//! [`batch`] (singular) or a [`span_batch`]. The [`compressor`]s decide when a channel is full, with
//! op-batcher's semantics, and [`da_size`] is the Fjord DA estimate the batcher and sequencer
//! throttle on. [`channel_in`] reassembles and decodes channels, for the simulation's own checks.
//!
//! Every decoder returns a typed error on malformed input and never panics: this code reads bytes
//! that fault injection deliberately corrupts.

pub mod batch;
pub mod blob;
pub mod channel_in;
pub mod channel_out;
pub mod compression;
pub mod compressor;
pub mod da_size;
pub mod frame;
pub mod span_batch;
pub mod span_txs;
pub mod tx_data;
