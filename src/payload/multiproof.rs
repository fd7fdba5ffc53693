//! The multiproof task: turns proof targets (from prewarm) and state updates (from execution) into
//! proofs, computed in parallel in chunks, and hands them to the sparse-trie task in order.
//!
//! Every request gets a sequence number; proof jobs finish in any order and the [`ProofSequencer`]
//! releases their results in sequence order, so the sparse-trie task applies state updates in
//! block order and has always revealed, by the time it applies an update, every proof requested
//! before it. Targets already requested are not requested again ([`FetchedTargets`], per account
//! and slot: reth#12983). A proof job that fails ends the task with an error: the sparse-trie task
//! must never compute a root from the updates that came before it (bnb-chain/reth#122).

use std::{
    collections::{btree_map::Entry, BTreeMap, VecDeque},
    sync::Arc,
};

use alloy_primitives::B256;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use super::{
    executor::{Job, WorkloadExecutor},
    KeySet, PayloadError, PayloadHook, PreState,
};
use crate::{
    cancel::Cancel,
    execution::extend_post_state,
    trie::{HashedPostState, MultiProof, MultiProofTargets},
};

/// What the multiproof task receives.
#[derive(Debug)]
pub enum MultiProofMessage {
    /// Targets prewarm saw a transaction touch: fetch their proofs early.
    PrefetchProofs(MultiProofTargets),
    /// One transaction's hashed changes, from the state hook.
    StateUpdate(HashedPostState),
    /// A state update whose proofs were all requested already: it needs a place in the sequence only.
    EmptyProof {
        /// Its sequence number.
        sequence_number: u64,
        /// The state update.
        state: HashedPostState,
    },
    /// A proof job finished.
    ProofCalculated {
        /// The job's sequence number.
        sequence_number: u64,
        /// Its proof, and the state update that waited for it (if any).
        update: SparseTrieUpdate,
    },
    /// A proof job failed.
    ProofCalculationError {
        /// The job's sequence number.
        sequence_number: u64,
    },
    /// The state hook was dropped: the block has executed.
    FinishedStateUpdates,
}

/// What the sparse-trie task receives.
#[derive(Debug)]
pub(super) enum SparseTrieMessage {
    /// Proofs to reveal and state to apply.
    Update(SparseTrieUpdate),
    /// Every update has been sent: compute the root.
    Finished,
}

/// Proofs to reveal and the state updates they cover.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SparseTrieUpdate {
    /// Hashed state changes, merged in block order.
    pub state: HashedPostState,
    /// Proof nodes.
    pub multiproof: MultiProof,
}

impl SparseTrieUpdate {
    /// Nothing to reveal and nothing to apply.
    pub fn is_empty(&self) -> bool {
        let proof = &self.multiproof;
        self.state.accounts.is_empty()
            && self.state.storages.is_empty()
            && proof.account_subtree.is_empty()
            && proof.storages.is_empty()
    }

    /// Merges a later update into this one.
    pub fn extend(&mut self, later: SparseTrieUpdate) {
        extend_post_state(&mut self.state, later.state);
        let proof = later.multiproof;
        if self.multiproof.account_subtree.is_empty() && self.multiproof.storages.is_empty() {
            self.multiproof.root = proof.root;
        }
        self.multiproof.account_subtree.extend(proof.account_subtree);
        for (address, storage) in proof.storages {
            match self.multiproof.storages.entry(address) {
                Entry::Vacant(entry) => {
                    entry.insert(storage);
                }
                Entry::Occupied(mut entry) => entry.get_mut().subtree.extend(storage.subtree),
            }
        }
    }
}

/// Releases results in sequence order, whatever order they arrive in.
#[derive(Debug, Default)]
pub struct ProofSequencer {
    /// The next sequence number to hand out.
    next_sequence: u64,
    /// The next sequence number to deliver.
    next_to_deliver: u64,
    /// Results that arrived before some earlier one.
    pending: BTreeMap<u64, SparseTrieUpdate>,
}

impl ProofSequencer {
    /// Hands out the next sequence number.
    pub fn next_sequence(&mut self) -> u64 {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        sequence
    }

    /// Adds the result of `sequence` and returns the results now deliverable, in order. A
    /// duplicate of a pending result replaces it; one already delivered is dropped.
    pub fn add_proof(&mut self, sequence: u64, update: SparseTrieUpdate) -> Vec<SparseTrieUpdate> {
        assert!(sequence < self.next_sequence, "sequence {sequence} was never handed out");
        if sequence >= self.next_to_deliver {
            self.pending.insert(sequence, update);
        }
        let mut ready = Vec::new();
        while let Some(update) = self.pending.remove(&self.next_to_deliver) {
            ready.push(update);
            self.next_to_deliver += 1;
        }
        ready
    }

    /// Whether results wait for an earlier one.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }
}

/// The targets requested so far, per account and slot, on top of those the block's sparse trie
/// holds revealed from earlier blocks (its preserved trie's): neither needs a proof.
#[derive(Debug, Default)]
pub struct FetchedTargets {
    revealed: Arc<KeySet>,
    fetched: KeySet,
}

impl FetchedTargets {
    /// Nothing requested yet; `revealed` are revealed in the block's trie already.
    pub fn new(revealed: Arc<KeySet>) -> Self {
        Self { revealed, fetched: KeySet::default() }
    }

    /// Drops what was requested already from `targets` (an account whose slots were all requested
    /// disappears) and records the rest as requested.
    pub fn take_new(&mut self, mut targets: MultiProofTargets) -> MultiProofTargets {
        #[cfg(feature = "planted-bugs")]
        if crate::planted::active("payload-targets-per-account") {
            // Tracked per account: an account requested once counts as proved, its new slots too.
            targets.retain(|address, _| !self.fetched.contains_account(address));
        }
        self.drop_fetched(&mut targets);
        self.fetched.extend(&targets);
        targets
    }

    /// The targets of `state` not requested yet: each touched account, and each written slot.
    pub fn new_targets(&self, state: &HashedPostState) -> MultiProofTargets {
        let mut targets = state.targets();
        self.drop_fetched(&mut targets);
        targets
    }

    /// Drops the slots requested or revealed already, and the accounts left with nothing new.
    fn drop_fetched(&self, targets: &mut MultiProofTargets) {
        self.revealed.drop_known(targets);
        self.fetched.drop_known(targets);
    }
}

/// Splits targets into chunks of at most `size` items, an item being an account with no slot or
/// one slot of an account (reth's chunking of `(address, Option<slot>)` pairs, in sorted order).
pub fn chunk_targets(targets: MultiProofTargets, size: usize) -> Vec<MultiProofTargets> {
    assert!(size > 0, "chunks hold at least one target");
    let mut chunks = Vec::new();
    let mut chunk = MultiProofTargets::new();
    let mut items = 0;
    for (address, slots) in targets {
        let mut add = |chunk: &mut MultiProofTargets, slot: Option<B256>| {
            if items == size {
                chunks.push(std::mem::take(chunk));
                items = 0;
            }
            let entry = chunk.entry(address).or_default();
            entry.extend(slot);
            items += 1;
        };
        if slots.is_empty() {
            add(&mut chunk, None);
        }
        for slot in slots {
            add(&mut chunk, Some(slot));
        }
    }
    if !chunk.is_empty() {
        chunks.push(chunk);
    }
    chunks
}

/// A proof job: targets to prove, and the state update that must wait for the proof.
struct ProofJob {
    sequence_number: u64,
    targets: MultiProofTargets,
    state: HashedPostState,
    /// Later requests merged into this job while it waited in the queue: their sequence numbers
    /// and state updates, in order. Their results follow this job's as `EmptyProof`s: the proof of
    /// their targets is part of this job's proof, which the sequencer delivers before them.
    merged: Vec<(u64, HashedPostState)>,
}

impl ProofJob {
    fn new(sequence_number: u64, targets: MultiProofTargets, state: HashedPostState) -> Self {
        Self { sequence_number, targets, state, merged: Vec::new() }
    }

    /// Takes a later request into this job: its targets join this job's, its sequence number and
    /// state update wait for this job's result.
    fn merge(&mut self, later: ProofJob) {
        for (address, slots) in later.targets {
            self.targets.entry(address).or_default().extend(slots);
        }
        self.merged.push((later.sequence_number, later.state));
        self.merged.extend(later.merged);
    }
}

/// Spawns proof jobs up to a concurrency limit and queues the rest.
struct ProofManager {
    executor: WorkloadExecutor,
    pre_state: Arc<PreState>,
    hook: Arc<dyn PayloadHook>,
    to_self: UnboundedSender<MultiProofMessage>,
    max_concurrent: usize,
    inflight: usize,
    queued: VecDeque<ProofJob>,
    /// Proof jobs started so far: the index [`PayloadHook::proof_job`] names jobs by.
    started: u64,
}

impl ProofManager {
    /// Spawns `job`, or queues it when `max_concurrent` jobs are in flight: then it joins the job
    /// already queued, if any. Every worker is busy, so its targets would only wait anyway, and one
    /// proof of their union costs far less than one per chunk (each repeats the upper levels of the
    /// trie, and a hand-off). The queued job starts as soon as a worker is free, so it grows only
    /// while one proof computes: chunks stay as small as the load allows (at most one job waits).
    fn spawn_or_queue(&mut self, job: ProofJob) {
        if self.inflight < self.max_concurrent {
            self.spawn(job);
            return;
        }
        match self.queued.back_mut() {
            Some(last) => last.merge(job),
            None => self.queued.push_back(job),
        }
    }

    fn on_calculation_complete(&mut self) {
        assert!(self.inflight > 0, "a proof job completed that was never spawned");
        self.inflight -= 1;
        if let Some(job) = self.queued.pop_front() {
            self.spawn(job);
        }
    }

    fn spawn(&mut self, job: ProofJob) {
        self.inflight += 1;
        let index = self.started;
        self.started += 1;
        let fate = self.hook.proof_job(index);
        let (executor, pre_state) = (self.executor.clone(), self.pre_state.clone());
        let to_self = self.to_self.clone();
        let ProofJob { sequence_number, targets, state, merged, .. } = job;
        self.executor.spawn(async move {
            if let Some(delay) = fate.delay {
                tokio::time::sleep(delay).await;
            }
            let fails = fate.fails;
            let proof =
                executor.run(Job::Proof, move || (!fails).then(|| pre_state.multiproof(&targets))).await;
            let Some(multiproof) = proof else {
                // The task is gone only when the block was cancelled or failed: nobody needs it.
                let _ = to_self.send(MultiProofMessage::ProofCalculationError { sequence_number });
                return;
            };
            let update = SparseTrieUpdate { state, multiproof };
            let _ = to_self.send(MultiProofMessage::ProofCalculated { sequence_number, update });
            for (sequence_number, state) in merged {
                let _ = to_self.send(MultiProofMessage::EmptyProof { sequence_number, state });
            }
        });
    }
}

/// Counters of one block's multiproof task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MultiProofStats {
    /// Proof jobs spawned (each a chunk of targets).
    pub proofs_requested: u64,
    /// State updates whose proofs were all requested already (`EmptyProof`).
    pub empty_proofs: u64,
    /// Results that arrived before an earlier one and waited in the sequencer.
    pub out_of_order: u64,
    /// Proof jobs that had to wait in the queue for the concurrency limit.
    pub queued: u64,
}

/// The multiproof task of one block.
pub(super) struct MultiProofTask {
    rx: UnboundedReceiver<MultiProofMessage>,
    to_sparse_trie: UnboundedSender<SparseTrieMessage>,
    manager: ProofManager,
    fetched: FetchedTargets,
    sequencer: ProofSequencer,
    chunk_size: usize,
    cancel: Cancel,
    /// Sequence numbers handed out, and results received for them.
    requested: u64,
    processed: u64,
    finished: bool,
    stats: MultiProofStats,
}

impl MultiProofTask {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        rx: UnboundedReceiver<MultiProofMessage>,
        to_self: UnboundedSender<MultiProofMessage>,
        to_sparse_trie: UnboundedSender<SparseTrieMessage>,
        executor: WorkloadExecutor,
        pre_state: Arc<PreState>,
        revealed: Arc<KeySet>,
        hook: Arc<dyn PayloadHook>,
        config: &super::PayloadConfig,
        cancel: Cancel,
    ) -> Self {
        // More jobs in flight than workers only wait in the pool's queue, where they cannot be
        // merged: the limit is the smaller of the two.
        let max_concurrent = config.max_concurrent_proofs.min(executor.workers());
        let manager = ProofManager {
            executor,
            pre_state,
            hook,
            to_self,
            max_concurrent,
            inflight: 0,
            queued: VecDeque::new(),
            started: 0,
        };
        Self {
            rx,
            to_sparse_trie,
            manager,
            fetched: FetchedTargets::new(revealed),
            sequencer: ProofSequencer::default(),
            chunk_size: config.proof_chunk_size,
            cancel,
            requested: 0,
            processed: 0,
            finished: false,
            stats: MultiProofStats::default(),
        }
    }

    /// Runs until every update has been proved and handed on, the block is cancelled, or a proof
    /// fails. On an error the sparse-trie task sees its channel close without `Finished`.
    pub(super) async fn run(mut self) -> Result<MultiProofStats, PayloadError> {
        loop {
            let message = tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return Err(PayloadError::Cancelled),
                message = self.rx.recv() => message.expect("the task holds a sender to itself"),
            };
            match message {
                MultiProofMessage::PrefetchProofs(targets) => self.on_prefetch(targets),
                MultiProofMessage::StateUpdate(state) => self.on_state_update(state),
                MultiProofMessage::EmptyProof { sequence_number, state } => {
                    tracing::debug!(sequence_number, "empty proof");
                    self.on_proof(
                        sequence_number,
                        SparseTrieUpdate { state, multiproof: MultiProof::default() },
                    );
                }
                MultiProofMessage::ProofCalculated { sequence_number, update } => {
                    tracing::debug!(sequence_number, "proof calculated");
                    self.manager.on_calculation_complete();
                    self.on_proof(sequence_number, update);
                }
                MultiProofMessage::ProofCalculationError { sequence_number } => {
                    tracing::warn!(sequence_number, "proof job failed");
                    #[cfg(feature = "planted-bugs")]
                    if crate::planted::active("payload-bare-return-on-proof-error") {
                        // A bare return: the sparse trie is told the updates are done, and roots
                        // what it has.
                        let _ = self.to_sparse_trie.send(SparseTrieMessage::Finished);
                        return Ok(self.stats);
                    }
                    return Err(PayloadError::ProofCalculation { sequence_number });
                }
                MultiProofMessage::FinishedStateUpdates => self.finished = true,
            }
            if self.is_done() {
                tracing::debug!(proofs = self.stats.proofs_requested, "multiproof task done");
                // The sparse-trie task is gone only when it failed; its own error is the one reported.
                let _ = self.to_sparse_trie.send(SparseTrieMessage::Finished);
                return Ok(self.stats);
            }
        }
    }

    /// Prefetches after the last state update would only delay the root: they are dropped.
    fn on_prefetch(&mut self, targets: MultiProofTargets) {
        if self.finished {
            return;
        }
        let targets = self.fetched.take_new(targets);
        for chunk in chunk_targets(targets, self.chunk_size) {
            let sequence_number = self.next_sequence();
            self.spawn_proof(ProofJob::new(sequence_number, chunk, HashedPostState::default()));
        }
    }

    /// A state update travels with the last chunk of its new targets, so it reaches the sparse trie
    /// after all of its proofs; with none new, as an `EmptyProof`. reth splits the update into a
    /// part already fetched and a part not, which must then be applied in order to keep a wipe
    /// before the slots written after it; one piece keeps that order by construction.
    fn on_state_update(&mut self, state: HashedPostState) {
        let targets = self.fetched.take_new(self.fetched.new_targets(&state));
        let mut chunks = chunk_targets(targets, self.chunk_size);
        let Some(last) = chunks.pop() else {
            self.stats.empty_proofs += 1;
            let sequence_number = self.next_sequence();
            // Through the channel, as in reth: the task holds the receiver, so this cannot fail.
            let _ = self.manager.to_self.send(MultiProofMessage::EmptyProof { sequence_number, state });
            return;
        };
        for chunk in chunks {
            let sequence_number = self.next_sequence();
            self.spawn_proof(ProofJob::new(sequence_number, chunk, HashedPostState::default()));
        }
        let sequence_number = self.next_sequence();
        self.spawn_proof(ProofJob::new(sequence_number, last, state));
    }

    fn next_sequence(&mut self) -> u64 {
        self.requested += 1;
        self.sequencer.next_sequence()
    }

    fn spawn_proof(&mut self, job: ProofJob) {
        debug_assert!(!job.targets.is_empty(), "empty targets travel as EmptyProof");
        self.stats.proofs_requested += 1;
        self.stats.queued += u64::from(self.manager.inflight >= self.manager.max_concurrent);
        self.manager.spawn_or_queue(job);
    }

    fn on_proof(&mut self, sequence_number: u64, update: SparseTrieUpdate) {
        self.processed += 1;
        let ready = self.sequencer.add_proof(sequence_number, update);
        self.stats.out_of_order += u64::from(ready.is_empty());
        let mut ready = ready.into_iter();
        let Some(mut merged) = ready.next() else { return };
        for update in ready {
            merged.extend(update);
        }
        if !merged.is_empty() {
            // A closed channel means the sparse-trie task failed; its error is reported instead.
            let _ = self.to_sparse_trie.send(SparseTrieMessage::Update(merged));
        }
    }

    /// Every sequence number handed out has come back and been delivered, and no update will come.
    fn is_done(&self) -> bool {
        // reth before 21877 ended the task once state updates stopped, proofs still out.
        #[cfg(feature = "planted-bugs")]
        if crate::planted::active("multiproof-exits-undrained") {
            return self.finished;
        }
        self.finished && self.processed == self.requested && !self.sequencer.has_pending()
    }
}
