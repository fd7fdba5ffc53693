//! The prewarm task: executes the block's transactions in parallel on the pre-block state, ahead of
//! the real execution, to learn which accounts and slots they touch and fetch those proofs early.
//!
//! Transactions run in batches of `max(1, n / max_concurrency)` (reth v1.4.8: concurrency 64),
//! sequentially inside a batch and each on the pre-block state, so a transaction that depends on an
//! earlier one in the block may be mispredicted: the state update from the real execution then
//! requests what prewarm missed. A terminate flag, set when the block has executed, stops batches
//! between transactions: their targets could no longer arrive in time to help. Likewise a
//! transaction the real execution has already passed (the state hook counts them) is skipped: its
//! state update asks for its targets anyway, so prewarming it would only cost an execution and a
//! prefetch message that dedup then drops. Blocks of fewer than [`SMALL_BLOCK_TX_THRESHOLD`]
//! transactions are not prewarmed.

use std::{
    ops::ControlFlow,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
};

use alloy_primitives::keccak256;
use tokio::{sync::mpsc::UnboundedSender, task::JoinHandle};

use super::{
    executor::{Job, WorkloadExecutor},
    multiproof::MultiProofMessage,
    BlockExecutor, PreState,
};
use crate::{execution::TxState, trie::MultiProofTargets};

/// Blocks with fewer transactions are not prewarmed (reth's `SMALL_BLOCK_TX_THRESHOLD`: spawning
/// the workers costs more than the early proofs save).
pub const SMALL_BLOCK_TX_THRESHOLD: usize = 5;

/// Spawns the prewarm batches of one block (none for a small block).
#[allow(clippy::too_many_arguments)]
pub(super) fn spawn<E: BlockExecutor>(
    executor: &WorkloadExecutor,
    block_executor: Arc<E>,
    block: Arc<E::Block>,
    pre_state: Arc<PreState>,
    max_concurrency: usize,
    terminate: Arc<AtomicBool>,
    executed: Arc<AtomicUsize>,
    to_multi_proof: UnboundedSender<MultiProofMessage>,
) -> Vec<JoinHandle<()>> {
    assert!(max_concurrency > 0, "prewarm needs at least one batch");
    let tx_count = block_executor.tx_count(&block);
    if tx_count < SMALL_BLOCK_TX_THRESHOLD {
        return Vec::new();
    }
    let batch_size = (tx_count / max_concurrency).max(1);
    let mut batches = Vec::with_capacity(tx_count.div_ceil(batch_size));
    for start in (0..tx_count).step_by(batch_size) {
        let end = (start + batch_size).min(tx_count);
        let (cpu, block_executor, block, pre_state) =
            (executor.clone(), block_executor.clone(), block.clone(), pre_state.clone());
        let (terminate, executed, to_multi_proof) =
            (terminate.clone(), executed.clone(), to_multi_proof.clone());
        batches.push(executor.spawn(async move {
            cpu.run(Job::Prewarm, move || {
                block_executor.prewarm(&pre_state, &block, start..end, &mut |index, execute| {
                    if terminate.load(Ordering::Relaxed) {
                        return ControlFlow::Break(());
                    }
                    if index < executed.load(Ordering::Relaxed) {
                        return ControlFlow::Continue(());
                    }
                    let Some(state) = execute() else { return ControlFlow::Continue(()) };
                    // A closed channel means the block is over: nothing left to prefetch for.
                    match to_multi_proof.send(MultiProofMessage::PrefetchProofs(targets(&state))) {
                        Ok(()) => ControlFlow::Continue(()),
                        Err(_) => ControlFlow::Break(()),
                    }
                });
            })
            .await;
        }));
    }
    batches
}

/// The proof targets of a transaction: every touched account, with its written slots, hashed.
pub fn targets(state: &TxState) -> MultiProofTargets {
    state
        .accounts
        .iter()
        .map(|(address, change)| {
            let slots = change.storage.keys().map(|slot| keccak256(slot.to_be_bytes::<32>())).collect();
            (keccak256(address), slots)
        })
        .collect()
}
