//! L2 state and block execution, with a state hook that sees every transaction's changes.
//!
//! The payload processor needs three things from execution: reads of the pre-block state (prewarm
//! executes on it in parallel), the changes of each transaction as the block executes them in order
//! (the state hook feeds them to the multiproof task), and the block's merged hashed state (for the
//! sequential reference root). [`TxExecutor`] is the seam: [`SimpleExecutor`] is a small deterministic
//! executor for a handful of transaction kinds (see `docs/payload.md` for why it is not op-revm);
//! an op-revm executor would implement the same trait, turning its `EvmState` into a [`TxState`].
//!
//! Everything is kept in sorted maps: revm's state maps are randomly seeded, ours must not be.

mod executor;
mod state;
mod tx;

pub use executor::{execute_block, BlockExecution, BlockOutcome, SimpleExecutor, Tx, TxExecutor};
pub use state::{BlockState, L2State, StateView};
pub use tx::{extend_post_state, AccountChange, TxState};
