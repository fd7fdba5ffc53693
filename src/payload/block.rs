//! What the payload processor executes: a block, through a [`BlockExecutor`].
//!
//! reth's payload processor wraps the node's block executor: prewarm executes single transactions
//! on the pre-block state, the real execution runs the whole block and reports each transaction's
//! state through a state hook. This trait is that seam. [`SimpleExecutor`] implements it over a
//! slice of its transactions (tests that need hand-made state-change shapes); the world executes
//! OP blocks in op-revm (`crate::evm`).

use std::{future::Future, ops::ControlFlow, ops::Range, sync::Arc};

use super::{executor::Job, PayloadError, PayloadHook, PreState, StateHook, WorkloadExecutor};
use crate::{
    cancel::Cancel,
    execution::{BlockState, SimpleExecutor, Tx, TxExecutor, TxState},
};

/// Executes blocks for the payload processor.
pub trait BlockExecutor: Send + Sync + 'static {
    /// Everything a block executes from: its transactions and, where the executor needs one, its
    /// environment.
    type Block: ?Sized + Send + Sync + 'static;
    /// What the real execution produced besides state changes (receipts, gas, ...).
    type Output: Send + 'static;

    /// How many transactions the block has.
    fn tx_count(&self, block: &Self::Block) -> usize;

    /// Prewarm of the transactions at `batch`, each executed alone on the pre-block state, nonce
    /// unchecked (the transactions before it in the block have not run). For each index in order,
    /// `visit(index, execute)` decides: it calls `execute` for the transaction's changes (`None`
    /// when it cannot execute there), or skips it, and breaks to end the batch. One batch may share
    /// what executions set up (reth's prewarm keeps one EVM per batch).
    fn prewarm(&self, pre: &PreState, block: &Self::Block, batch: Range<usize>, visit: &mut Visit<'_>);

    /// The real execution of the whole block on `pre`, in order: each transaction's state goes to
    /// `hook` as it executes, and `pace.before_tx` is awaited before each one (its simulated cost,
    /// the cancellation point). Dropping the hook, at the latest on return, ends the block.
    fn execute(
        &self,
        pre: &PreState,
        block: &Self::Block,
        hook: StateHook,
        pace: &mut Pace,
    ) -> impl Future<Output = Result<Self::Output, PayloadError>> + Send;
}

/// Prewarm's decision per transaction: given its index and a way to execute it.
pub type Visit<'a> = dyn FnMut(usize, &mut dyn FnMut() -> Option<TxState>) -> ControlFlow<()> + 'a;

/// What the real execution awaits before each transaction.
pub struct Pace {
    executor: WorkloadExecutor,
    cancel: Cancel,
    hook: Arc<dyn PayloadHook>,
}

impl Pace {
    pub(super) fn new(executor: WorkloadExecutor, cancel: Cancel, hook: Arc<dyn PayloadHook>) -> Self {
        Self { executor, cancel, hook }
    }

    /// Before transaction `index`: a cancellation (injected, or from outside) stops the block;
    /// otherwise the transaction's simulated cost passes, so execution interleaves with the tasks.
    pub async fn before_tx(&mut self, index: usize) -> Result<(), PayloadError> {
        if self.hook.cancel_before_tx(index) {
            tracing::info!(target: "rollsim::payload", index, "fault: block cancelled");
            self.cancel.cancel();
        }
        if self.cancel.is_cancelled() {
            return Err(PayloadError::Cancelled);
        }
        self.executor.charge(Job::Transact).await;
        Ok(())
    }
}

impl BlockExecutor for SimpleExecutor {
    type Block = [Tx];
    /// Per transaction: did it succeed.
    type Output = Vec<bool>;

    fn tx_count(&self, block: &[Tx]) -> usize {
        block.len()
    }

    fn prewarm(&self, pre: &PreState, block: &[Tx], batch: Range<usize>, visit: &mut Visit<'_>) {
        for index in batch {
            if visit(index, &mut || Some(self.transact(pre, &block[index]).0)).is_break() {
                return;
            }
        }
    }

    async fn execute(
        &self,
        pre: &PreState,
        block: &[Tx],
        mut hook: StateHook,
        pace: &mut Pace,
    ) -> Result<Vec<bool>, PayloadError> {
        let mut state = BlockState::new(pre);
        let mut success = Vec::with_capacity(block.len());
        for (index, tx) in block.iter().enumerate() {
            pace.before_tx(index).await?;
            let (changes, ok) = self.transact(&state, tx);
            state.commit(&changes);
            hook.on_state(&changes);
            success.push(ok);
        }
        Ok(success)
    }
}
