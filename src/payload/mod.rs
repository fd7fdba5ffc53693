//! The payload processor: reth's `PayloadProcessor` pipeline, computing a block's state root while
//! the block executes instead of after it.
//!
//! Three tasks per block, over a [`WorkloadExecutor`]:
//! - prewarm (`prewarm.rs`): executes the transactions in parallel on the pre-block state to learn
//!   what they touch, and asks for those proofs early (`PrefetchProofs`);
//! - multiproof (`multiproof.rs`): turns prefetch targets and the real execution's state updates
//!   into proof jobs (chunks of 10 targets, a concurrency limit, a queue whose waiting requests
//!   merge into one job), and releases proofs with their state updates in sequence order;
//! - sparse trie (`sparse_trie.rs`): reveals the proofs into a sparse state trie, applies the
//!   updates, and computes the root when the multiproof task reports every update sent.
//!
//! The caller executes the block and feeds each transaction's changes to the [`StateHook`];
//! dropping the hook is the one signal that the block has executed. [`PayloadHandle::state_root`]
//! returns the task's root or its error (never a root of partial updates);
//! [`PayloadHandle::state_root_or_fallback`] falls back to a sequential full recompute when the task
//! fails or disagrees with an expected root, counting and tracing it. A [`PayloadHook`] is the seam
//! where a test or a simulated world injects proof-job failures and delays and a mid-block
//! cancellation; `()` injects nothing.

mod block;
mod executor;
mod multiproof;
mod pre_state;
mod prewarm;
mod sparse_trie;

use crate::sync::lock;
use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use alloy_primitives::B256;
use tokio::{
    sync::mpsc::{unbounded_channel, UnboundedSender},
    task::JoinHandle,
};

pub use block::{BlockExecutor, Pace, Visit};
pub use executor::{Job, JobCosts, WorkloadExecutor};
pub use multiproof::{
    chunk_targets, FetchedTargets, MultiProofMessage, MultiProofStats, ProofSequencer, SparseTrieUpdate,
};
pub use pre_state::{KeySet, PreState, PreservedSparseTrie};
pub use prewarm::{targets as prewarm_targets, SMALL_BLOCK_TX_THRESHOLD};
pub use sparse_trie::SparseTrieStats;

use crate::{
    cancel::Cancel,
    execution::{extend_post_state, TxState},
    trie::{HashedPostState, StateTrieError},
};

/// Tuning, with reth v1.4.8's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadConfig {
    /// Whether blocks are prewarmed: a node validating a block it received does (reth's engine, for
    /// blocks of [`SMALL_BLOCK_TX_THRESHOLD`] transactions or more); a node building one does not.
    /// reth's payload builder executes pool transactions one at a time into the shared state-root
    /// task, with no prewarm task (it cannot know the block's transactions ahead) and reth's
    /// txpool prewarm paused for the build.
    pub prewarm: bool,
    /// Prewarm batches per block at most.
    pub prewarm_max_concurrency: usize,
    /// Targets (accounts without slots, or slots) per proof job.
    pub proof_chunk_size: usize,
    /// Proof jobs in flight at most (natively also at most the pool's threads); requests beyond it
    /// wait in the queue, merged into one job.
    pub max_concurrent_proofs: usize,
}

impl Default for PayloadConfig {
    fn default() -> Self {
        Self { prewarm: true, prewarm_max_concurrency: 64, proof_chunk_size: 10, max_concurrent_proofs: 256 }
    }
}

/// Asked by one block's pipeline before each proof job and each transaction: the seam where a
/// test or a simulated world makes it misbehave. `()` never interferes.
pub trait PayloadHook: Send + Sync + 'static {
    /// What happens to proof job `index` (in the order jobs start, 0 = first).
    fn proof_job(&self, index: u64) -> ProofJobFate;
    /// Whether to cancel the block before transaction `index` executes (in
    /// [`PayloadProcessor::execute_block`]).
    fn cancel_before_tx(&self, index: usize) -> bool;
}

/// What happens to one proof job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProofJobFate {
    /// Held back this long before it computes: later jobs overtake it, so results arrive out of
    /// order.
    pub delay: Option<Duration>,
    /// Fails instead of returning a proof.
    pub fails: bool,
}

impl PayloadHook for () {
    fn proof_job(&self, _index: u64) -> ProofJobFate {
        ProofJobFate::default()
    }

    fn cancel_before_tx(&self, _index: usize) -> bool {
        false
    }
}

/// Why a block's pipeline produced no root.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// The block was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// A proof job failed.
    #[error("proof job {sequence_number} failed")]
    ProofCalculation {
        /// The job's sequence number.
        sequence_number: u64,
    },
    /// The sparse trie rejected a proof or an update.
    #[error("sparse trie: {0}")]
    SparseTrie(StateTrieError),
    /// The multiproof task ended without saying every update was sent.
    #[error("multiproof task dropped")]
    MultiProofTaskDropped,
    /// A task panicked.
    #[error("task panicked")]
    TaskPanicked,
    /// The block did not execute (an invalid block, or a state read that failed).
    #[error("execution: {0}")]
    Execution(String),
}

/// The task's root and what it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateRootOutcome {
    /// The post-block state root.
    pub state_root: B256,
    /// Multiproof task counters.
    pub multiproof: MultiProofStats,
    /// Sparse-trie task counters.
    pub sparse_trie: SparseTrieStats,
}

/// Why the sequential root was used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fallback {
    /// The task failed.
    TaskFailed(PayloadError),
    /// The task's root differed from the expected one.
    Mismatch {
        /// The task's root.
        task_root: B256,
    },
}

/// A block's root: the task's, or the sequential fallback's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootOutcome {
    /// The state root.
    pub state_root: B256,
    /// The task's outcome, when it produced one.
    pub task: Option<StateRootOutcome>,
    /// Set when the root is the sequential fallback's.
    pub fallback: Option<Fallback>,
}

/// A block executed through the pipeline.
#[derive(Debug, Clone)]
pub struct ExecutedBlock<O> {
    /// What the executor produced besides state changes.
    pub output: O,
    /// The block's merged hashed changes: applied to the pre-state, the post-state.
    pub state: HashedPostState,
    /// The sparse trie the task computed the block's root on, when that root is the one returned
    /// (no fallback): [`PreState::advance_with`] takes it instead of computing the trie again.
    pub trie: Option<PreservedSparseTrie>,
}

/// Spawns the pipeline for one block after another; keeps the fallback count.
pub struct PayloadProcessor<E: BlockExecutor> {
    executor: WorkloadExecutor,
    block_executor: Arc<E>,
    config: PayloadConfig,
    fallbacks: Arc<AtomicU64>,
}

impl<E: BlockExecutor> PayloadProcessor<E> {
    /// A processor running its work on `executor` and executing blocks with `block_executor`.
    pub fn new(executor: WorkloadExecutor, block_executor: E, config: PayloadConfig) -> Self {
        Self { executor, block_executor: Arc::new(block_executor), config, fallbacks: Arc::default() }
    }

    /// The block executor.
    pub fn block_executor(&self) -> &E {
        &self.block_executor
    }

    /// How many blocks fell back to the sequential root so far.
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    /// Starts the pipeline for `block` on `pre_state`: prewarm, multiproof and sparse-trie tasks.
    /// Execute the block, feeding [`PayloadHandle::state_hook`], then ask for the root.
    /// Cancelling `cancel` (or dropping the handle) stops every task.
    pub fn spawn(
        &self,
        pre_state: Arc<PreState>,
        block: Arc<E::Block>,
        hook: Arc<dyn PayloadHook>,
        cancel: &Cancel,
    ) -> PayloadHandle {
        let cancel = cancel.child();
        let (to_multi_proof, multi_proof_rx) = unbounded_channel();
        let (to_sparse_trie, sparse_trie_rx) = unbounded_channel();
        let terminate_prewarm = Arc::new(AtomicBool::new(false));
        let executed = Arc::new(AtomicUsize::new(0));
        // The trie the parent block's root was computed on, or a blind one anchored at its root.
        let trie = pre_state.take_trie();
        let prewarm = self.config.prewarm.then(|| {
            prewarm::spawn(
                &self.executor,
                self.block_executor.clone(),
                block,
                pre_state.clone(),
                self.config.prewarm_max_concurrency,
                terminate_prewarm.clone(),
                executed.clone(),
                to_multi_proof.clone(),
            )
        });
        let multiproof = multiproof::MultiProofTask::new(
            multi_proof_rx,
            to_multi_proof.clone(),
            to_sparse_trie,
            self.executor.clone(),
            pre_state.clone(),
            trie.revealed.clone(),
            hook,
            &self.config,
            cancel.clone(),
        );
        let multiproof = self.executor.spawn(multiproof.run());
        let sparse_trie = self.executor.spawn(sparse_trie::run(
            sparse_trie_rx,
            self.executor.clone(),
            pre_state.clone(),
            trie,
            cancel.clone(),
        ));
        PayloadHandle {
            to_multi_proof: Some(to_multi_proof),
            terminate_prewarm,
            executed,
            prewarm: prewarm.unwrap_or_default(),
            multiproof: Some(multiproof),
            sparse_trie: Some(sparse_trie),
            cancel,
            pre_state,
            executor: self.executor.clone(),
            fallbacks: self.fallbacks.clone(),
            executed_state: Arc::default(),
        }
    }

    /// Executes a block through the pipeline: spawns it, executes the block (in the simulation each
    /// transaction costs a seeded simulated time, so execution interleaves with the tasks) feeding
    /// the state hook, and returns the execution's output and merged state with the root (falling
    /// back to the sequential root if the task fails or disagrees with `expected_root`, a received
    /// block's header root). Errors: a cancellation, or a block that does not execute. Returns once
    /// every task of a block that executed has ended, so the pre-state is the caller's alone again.
    pub async fn execute_block(
        &self,
        pre_state: Arc<PreState>,
        block: Arc<E::Block>,
        hook: Arc<dyn PayloadHook>,
        expected_root: Option<B256>,
        cancel: &Cancel,
    ) -> Result<(ExecutedBlock<E::Output>, RootOutcome), PayloadError> {
        let mut handle = self.spawn(pre_state.clone(), block.clone(), hook.clone(), cancel);
        let mut pace = Pace::new(self.executor.clone(), handle.cancel.clone(), hook);
        let hook = handle.state_hook();
        // A block that did not execute needs no root: dropping the handle stops every task.
        let output = self.block_executor.execute(&pre_state, &block, hook, &mut pace).await?;
        let state = handle.take_executed_state();
        let prewarm = std::mem::take(&mut handle.prewarm);
        let root = handle.root_and_trie_or_fallback(&state, expected_root).await;
        // Terminated by the dropped hook: each stops at its next transaction.
        for task in prewarm {
            let _ = task.await;
        }
        let (root, trie) = root?;
        Ok((ExecutedBlock { output, state, trie }, root))
    }
}

/// The running pipeline of one block.
pub struct PayloadHandle {
    to_multi_proof: Option<UnboundedSender<MultiProofMessage>>,
    terminate_prewarm: Arc<AtomicBool>,
    /// Transactions fed to the state hook so far: prewarm skips them.
    executed: Arc<AtomicUsize>,
    prewarm: Vec<JoinHandle<()>>,
    multiproof: Option<JoinHandle<Result<MultiProofStats, PayloadError>>>,
    sparse_trie: Option<JoinHandle<Result<sparse_trie::TaskRoot, PayloadError>>>,
    cancel: Cancel,
    pre_state: Arc<PreState>,
    executor: WorkloadExecutor,
    fallbacks: Arc<AtomicU64>,
    /// The block's merged changes, left by the state hook when it is dropped.
    executed_state: Arc<Mutex<HashedPostState>>,
}

impl PayloadHandle {
    /// The block's state hook: feed it every transaction's changes in order, then drop it.
    ///
    /// # Panics
    /// If called twice: one block, one hook, one end.
    pub fn state_hook(&mut self) -> StateHook {
        let to_multi_proof = self.to_multi_proof.take().expect("one state hook per block");
        StateHook {
            to_multi_proof,
            terminate_prewarm: self.terminate_prewarm.clone(),
            executed: self.executed.clone(),
            merged: HashedPostState::default(),
            executed_state: self.executed_state.clone(),
        }
    }

    /// The block's merged changes, as the state hook saw them (complete once it is dropped).
    pub fn take_executed_state(&self) -> HashedPostState {
        std::mem::take(&mut *lock(&self.executed_state))
    }

    /// Stops every task of the block.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// The task's state root. Waits for the state hook to be dropped. An error whenever any part
    /// failed: a root is only ever computed from every update of the block.
    pub async fn state_root(mut self) -> Result<StateRootOutcome, PayloadError> {
        self.task_root().await.map(|(outcome, _)| outcome)
    }

    /// The task's root and the trie it computed it on.
    async fn task_root(&mut self) -> Result<(StateRootOutcome, PreservedSparseTrie), PayloadError> {
        let sparse_trie = join(self.sparse_trie.take().expect("taken once")).await;
        let multiproof = self.multiproof.take().expect("taken once");
        let result = match sparse_trie {
            Ok((state_root, sparse_trie, trie)) => join(multiproof)
                .await
                .map(|multiproof| (StateRootOutcome { state_root, multiproof, sparse_trie }, trie)),
            // The multiproof task's own error says why it stopped.
            Err(PayloadError::MultiProofTaskDropped) => {
                Err(join(multiproof).await.err().unwrap_or(PayloadError::MultiProofTaskDropped))
            }
            Err(error) => Err(error),
        };
        match &result {
            Ok((outcome, _)) => tracing::info!(
                target: "rollsim::payload",
                root = %outcome.state_root,
                proofs = outcome.multiproof.proofs_requested,
                out_of_order = outcome.multiproof.out_of_order,
                batches = outcome.sparse_trie.batches,
                node_fetches = outcome.sparse_trie.node_fetches,
                "state root computed"
            ),
            Err(error) => tracing::info!(target: "rollsim::payload", %error, "state root task failed"),
        }
        result
    }

    /// The task's root, or the sequential root of `block` (the block's merged changes) when the
    /// task failed or its root differs from `expected` (a received block's header root). Only a
    /// cancellation is an error: a cancelled block needs no root.
    pub async fn state_root_or_fallback(
        self,
        block: &HashedPostState,
        expected: Option<B256>,
    ) -> Result<RootOutcome, PayloadError> {
        self.root_and_trie_or_fallback(block, expected).await.map(|(root, _)| root)
    }

    /// [`Self::state_root_or_fallback`], with the task's trie when its root is the one returned.
    async fn root_and_trie_or_fallback(
        mut self,
        block: &HashedPostState,
        expected: Option<B256>,
    ) -> Result<(RootOutcome, Option<PreservedSparseTrie>), PayloadError> {
        let (pre_state, executor, fallbacks) =
            (self.pre_state.clone(), self.executor.clone(), self.fallbacks.clone());
        let fallback = match self.task_root().await {
            Ok((task, trie)) if expected.is_none_or(|root| root == task.state_root) => {
                let root = RootOutcome { state_root: task.state_root, task: Some(task), fallback: None };
                return Ok((root, Some(trie)));
            }
            Ok((task, _)) => (Some(task), Fallback::Mismatch { task_root: task.state_root }),
            Err(PayloadError::Cancelled) => return Err(PayloadError::Cancelled),
            Err(error) => (None, Fallback::TaskFailed(error)),
        };
        fallbacks.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(target: "rollsim::payload", reason = ?fallback.1, "falling back to the sequential state root");
        let block = block.clone();
        let state_root = executor.run(Job::SparseTrie, move || pre_state.sequential_root(&block)).await;
        Ok((RootOutcome { state_root, task: fallback.0, fallback: Some(fallback.1) }, None))
    }
}

impl Drop for PayloadHandle {
    /// Nothing waits for the tasks any more: stop them.
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn join<T>(handle: JoinHandle<Result<T, PayloadError>>) -> Result<T, PayloadError> {
    handle.await.map_err(|_| PayloadError::TaskPanicked)?
}

/// Receives each transaction's state changes; dropping it finishes the block.
pub struct StateHook {
    to_multi_proof: UnboundedSender<MultiProofMessage>,
    terminate_prewarm: Arc<AtomicBool>,
    executed: Arc<AtomicUsize>,
    /// Every change so far, merged: the sequential fallback's input.
    merged: HashedPostState,
    executed_state: Arc<Mutex<HashedPostState>>,
}

impl StateHook {
    /// One transaction's changes, in block order.
    pub fn on_state(&mut self, state: &TxState) {
        self.on_system_state(state);
        self.executed.fetch_add(1, Ordering::Relaxed);
    }

    /// Changes made outside the block's transactions (the pre-block system calls of EIP-4788 and
    /// EIP-2935): they reach the trie like a transaction's, but prewarm does not count them.
    pub fn on_system_state(&mut self, state: &TxState) {
        let hashed = state.to_hashed();
        // A closed channel means the block was cancelled or failed: the root will say so.
        let _ = self.to_multi_proof.send(MultiProofMessage::StateUpdate(hashed.clone()));
        extend_post_state(&mut self.merged, hashed);
    }
}

impl Drop for StateHook {
    /// The block has executed: prewarm can stop, and the multiproof task can finish.
    fn drop(&mut self) {
        self.terminate_prewarm.store(true, Ordering::Relaxed);
        let _ = self.to_multi_proof.send(MultiProofMessage::FinishedStateUpdates);
        *lock(&self.executed_state) = std::mem::take(&mut self.merged);
    }
}
