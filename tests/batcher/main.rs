//! The batcher's parts alone: the channel manager, the sync actions, throttling, the transaction
//! manager (docs/batcher.md). End to end in the world: `sim/tests/world/batcher.rs`.

#[allow(dead_code)]
#[path = "../protocol/common.rs"]
mod protocol_common;

mod channel_manager;
mod sync_actions;
mod throttle;
mod txmgr;
