//! The sparse-trie task: reveals proofs and applies state updates as they arrive, in sequence
//! order, and computes the root once the multiproof task says every update has been sent.
//!
//! Updates that queued up while the previous batch was being applied are merged and applied as
//! one batch (reth drains its channel the same way): fewer, larger trie passes when proofs arrive
//! faster than the trie can take them.

use std::sync::Arc;

use alloy_primitives::B256;
use tokio::sync::mpsc::{error::TryRecvError, UnboundedReceiver};

use super::{
    executor::{Job, WorkloadExecutor},
    multiproof::{SparseTrieMessage, SparseTrieUpdate},
    PayloadError, PreState, PreservedSparseTrie,
};
use crate::{
    cancel::Cancel,
    trie::{FixedSet, MultiProof, Nibbles, SparseStateTrie},
};

/// Counters of one block's sparse-trie task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SparseTrieStats {
    /// Batches applied (each one or more merged updates).
    pub batches: u64,
    /// Updates received.
    pub updates: u64,
    /// Blinded nodes fetched because no chunk's proof carried a removal's sibling.
    pub node_fetches: u64,
}

/// What the task ends with: the root, its counters and the trie the root was computed on.
pub(super) type TaskRoot = (B256, SparseTrieStats, PreservedSparseTrie);

/// Runs the sparse-trie task of one block; returns the state root, and the trie it was computed on
/// (the node's stored state can take it over instead of computing the block's trie again).
pub(super) async fn run(
    mut rx: UnboundedReceiver<SparseTrieMessage>,
    executor: WorkloadExecutor,
    pre_state: Arc<PreState>,
    preserved: PreservedSparseTrie,
    cancel: Cancel,
) -> Result<TaskRoot, PayloadError> {
    let PreservedSparseTrie { mut trie, revealed: revealed_keys } = preserved;
    let mut stats = SparseTrieStats::default();
    let mut revealed = Revealed::default();
    loop {
        let message = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(PayloadError::Cancelled),
            message = rx.recv() => message,
        };
        let mut batch = match message {
            Some(SparseTrieMessage::Update(update)) => update,
            Some(SparseTrieMessage::Finished) => break,
            None => return Err(PayloadError::MultiProofTaskDropped),
        };
        stats.updates += 1;
        let mut finished = false;
        #[cfg(feature = "planted-bugs")]
        let mut merged = 1;
        loop {
            match rx.try_recv() {
                Ok(SparseTrieMessage::Update(update)) => {
                    stats.updates += 1;
                    #[cfg(feature = "planted-bugs")]
                    {
                        merged += 1;
                    }
                    batch.extend(update);
                }
                Ok(SparseTrieMessage::Finished) => {
                    finished = true;
                    break;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return Err(PayloadError::MultiProofTaskDropped),
            }
        }
        stats.batches += 1;
        // reth before 21709: the last batch's account updates, still pending when the task was
        // told to finish, were not all drained into the trie before the root.
        #[cfg(feature = "planted-bugs")]
        if finished && merged > 1 && crate::planted::active("root-before-accounts-drained") {
            batch.state.accounts.pop_last();
        }
        drop_revealed(&mut batch.multiproof, &mut revealed);
        let pre = pre_state.clone();
        let (updated, fetches) = executor.run(Job::SparseTrie, move || apply(trie, &batch, &pre)).await?;
        trie = updated;
        stats.node_fetches += fetches;
        if finished {
            break;
        }
    }
    let (root, trie) = executor
        .run(Job::SparseTrie, move || trie.root().map(|root| (root, trie)))
        .await
        .map_err(PayloadError::SparseTrie)?;
    tracing::debug!(%root, batches = stats.batches, node_fetches = stats.node_fetches, "sparse trie root");
    Ok((root, stats, PreservedSparseTrie { trie, revealed: revealed_keys }))
}

/// Proof nodes handed to the trie so far: (storage trie's account, or `None` for the account trie;
/// path).
type Revealed = FixedSet<(Option<B256>, Nibbles)>;

/// Drops the nodes an earlier batch revealed already. Every proof repeats the upper levels of the
/// tries, and the trie decodes, re-encodes and hashes each node it is given before finding it
/// revealed: most of the reveal cost of a block proved in chunks of 10. A node dropped here was
/// placed, or skipped as stale, before; should one be missing after all, the update meets a
/// blinded node and the task fails over to the sequential root: a cost, never a wrong root.
fn drop_revealed(proof: &mut MultiProof, revealed: &mut Revealed) {
    proof.account_subtree.retain(|path, _| revealed.insert((None, *path)));
    for (address, storage) in &mut proof.storages {
        storage.subtree.retain(|path, _| revealed.insert((Some(*address), *path)));
    }
}

/// Reveals the batch's proofs and applies its state (fetching blinded nodes a removal needs from the
/// pre-block state, see [`PreState::apply_fetching`]). Returns the trie and the number of nodes fetched.
fn apply(
    mut trie: SparseStateTrie,
    batch: &SparseTrieUpdate,
    pre_state: &PreState,
) -> Result<(SparseStateTrie, u64), PayloadError> {
    trie.reveal_multiproof(&batch.multiproof).map_err(PayloadError::SparseTrie)?;
    let fetches = pre_state.apply_fetching(&mut trie, &batch.state).map_err(PayloadError::SparseTrie)?;
    Ok((trie, fetches))
}
