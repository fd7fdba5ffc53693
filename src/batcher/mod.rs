//! The batcher: op-batcher's design in Rust, behind the ports of [`crate::ports`].
//!
//! Layout follows upstream's: the [`driver`] runs the loops; the [`channel_manager`] owns the
//! blocks and [`channel`]s; [`sync_actions`] decides what to do after each sync status;
//! [`txmgr`] sends transactions; [`throttle`] maps DA backlog to the sequencer's DA limits.

pub mod channel;
pub mod channel_config;
pub mod channel_manager;
pub mod config;
pub mod driver;
pub mod sync_actions;
pub mod throttle;
pub mod txmgr;

pub use config::{BatcherConfig, DaType, RollupParams, TxMgrConfig};
pub use driver::{
    Batcher, BatcherError, BatcherPorts, BatcherStats, DaChoice, FatalError, ResetCause, StateReset,
};

/// The runtime's clock: simulated time under madsim (which intercepts the OS clock), real time
/// in a native build. The one place the batcher reads a clock, so the lint against wall-clock
/// reads stays on everywhere else.
#[allow(clippy::disallowed_methods)]
pub(crate) fn now() -> tokio::time::Instant {
    tokio::time::Instant::now()
}
