//! Execution of L2 blocks: the executed state a node keeps at its head.
//!
//! Both nodes execute blocks in op-revm (`rollsim::evm`) through the payload processor over this
//! state: the sequencer to fill in its header's state root, the rollup node to check the root of
//! every block it derives. Blocks the engine is handed whole execute sequentially ([`ExecutedState::execute`]).

use rollsim::sync::lock;
use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use alloy_primitives::{keccak256, Bytes, B256};
use kona_protocol::Predeploys;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rollsim::{
    evm::{EvmBlock, EvmOutput, OpEvmExecutor},
    execution::L2State,
    payload::{PayloadError, PayloadHook, PreState, PreservedSparseTrie, ProofJobFate},
    trie::HashedPostState,
};

use crate::{
    profile::{self, Bucket},
    seed::stream,
};

/// A node's executed state at its head block, with what undoes each block down to the oldest one a
/// reorg can still remove (the finalized one), so a reorg rewinds the state as far as the chain.
#[derive(Debug)]
pub struct ExecutedState {
    head: Arc<PreState>,
    /// `undo[i]` takes the state of block `base + i + 1` back to block `base + i`'s.
    undo: VecDeque<HashedPostState>,
    /// The oldest block the state can rewind to.
    base: u64,
    /// Times the head state was still shared with a block's pipeline when it advanced, and had to
    /// be copied.
    pub copies: u64,
}

/// A state of its own (another node's), not one sharing the head with this one: advancing either
/// never copies.
impl Clone for ExecutedState {
    fn clone(&self) -> Self {
        Self {
            head: Arc::new(PreState::clone(&self.head)),
            undo: self.undo.clone(),
            base: self.base,
            copies: self.copies,
        }
    }
}

impl ExecutedState {
    /// The state at genesis.
    pub fn genesis(state: L2State) -> Self {
        Self { head: Arc::new(PreState::new(state)), undo: VecDeque::new(), base: 0, copies: 0 }
    }

    /// The state at the head, for a block's pipeline.
    pub fn head(&self) -> Arc<PreState> {
        self.head.clone()
    }

    /// The state root at the head.
    pub fn root(&self) -> B256 {
        self.head.root()
    }

    /// The block the state is at.
    pub fn number(&self) -> u64 {
        self.base + self.undo.len() as u64
    }

    /// Forgets how to undo blocks at or below `number` (finalized: no reorg removes them), so the
    /// undo log stays as long as the unfinalized chain, not the whole run.
    pub fn forget_below(&mut self, number: u64) {
        while self.base < number.min(self.number()) {
            self.undo.pop_front();
            self.base += 1;
        }
    }

    /// Moves to the next block, whose execution changed `post` and created contracts with `codes`;
    /// returns the new state root. `trie` is the payload task's for the block, when its root is the
    /// block's: taken over instead of computing the block's trie again.
    ///
    /// # Panics
    /// If the stored trie nodes disagree with the state: a bug in the trie code, not in the input.
    pub fn advance(
        &mut self,
        post: &HashedPostState,
        codes: &BTreeMap<B256, Bytes>,
        trie: Option<PreservedSparseTrie>,
    ) -> B256 {
        let _profile = profile::scope(Bucket::State);
        let undo = self.head.undo(post);
        let head = self.head_mut();
        let root = match trie {
            Some(trie) => head.advance_with(trie, post),
            None => head.advance(post),
        };
        let root = root.expect("the stored trie nodes agree with the state");
        for code in codes.values() {
            head.insert_code(code.clone());
        }
        self.undo.push_back(undo);
        root
    }

    /// Executes a block sequentially on the head and advances to it; returns the execution's output
    /// and the new state root. The engine's path for blocks it is handed whole (derived ones): a
    /// block with an invalid transaction does not execute, and leaves the state as it was.
    pub fn execute(
        &mut self,
        executor: &OpEvmExecutor,
        block: &EvmBlock,
    ) -> Result<(EvmOutput, B256), PayloadError> {
        let (output, post) = {
            let _profile = profile::scope(Bucket::State);
            executor.execute_sequential(&*self.head, block)?
        };
        if let Some((index, reason)) = output.rejected.first() {
            return Err(PayloadError::Execution(format!("transaction {index} is invalid: {reason}")));
        }
        let root = self.advance(&post, &output.codes, None);
        Ok((output, root))
    }

    /// The Isthmus withdrawals root at the head: the L2ToL1MessagePasser's storage root.
    pub fn withdrawals_root(&self) -> B256 {
        self.head.storage_root(&keccak256(Predeploys::L2_TO_L1_MESSAGE_PASSER))
    }

    /// Rewinds to block `number` (at or below the head, not below a forgotten block).
    pub fn rewind(&mut self, number: u64) {
        let _profile = profile::scope(Bucket::State);
        assert!(number <= self.number(), "rewinding to {number} above the head {}", self.number());
        assert!(number >= self.base, "rewinding to {number} below the finalized {}", self.base);
        while self.number() > number {
            let undo = self.undo.pop_back().expect("above the target");
            self.head_mut().advance(&undo).expect("the stored trie nodes agree with the state");
        }
    }

    fn head_mut(&mut self) -> &mut PreState {
        if Arc::get_mut(&mut self.head).is_none() {
            self.copies += 1;
        }
        Arc::make_mut(&mut self.head)
    }
}

/// Rates of payload-processor faults on one node while a fault window is open.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct PayloadFaultRates {
    /// Chance that each proof job fails.
    pub fail_share: f64,
    /// Proof jobs are held back up to this long (half of them, each a uniform draw), so later jobs
    /// overtake them.
    pub max_delay_ms: u64,
    /// Chance that a block is cancelled before one of its transactions (drawn uniformly).
    pub cancel_share: f64,
}

/// Proof jobs per block the draws cover: blocks of the world's size start fewer.
const FAULTY_JOBS_MAX: u64 = 64;

/// The faults one block's payload pipeline meets: the world's [`PayloadHook`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockFaults {
    /// Proof jobs, by the order they start in (0 = first), that fail instead of returning a proof.
    pub failing_proofs: BTreeSet<u64>,
    /// Proof jobs, by the order they start in, held back this long before they compute.
    pub delayed_proofs: BTreeMap<u64, Duration>,
    /// Cancel the block before executing this transaction.
    pub cancel_before_tx: Option<usize>,
}

impl PayloadHook for BlockFaults {
    fn proof_job(&self, index: u64) -> ProofJobFate {
        ProofJobFate {
            delay: self.delayed_proofs.get(&index).copied(),
            fails: self.failing_proofs.contains(&index),
        }
    }

    fn cancel_before_tx(&self, index: usize) -> bool {
        self.cancel_before_tx == Some(index)
    }
}

/// The payload-processor faults being injected: the fault injector opens and closes a window per
/// node; every block the node executes meanwhile draws its [`BlockFaults`] from the rates, from
/// the node's own seeded stream.
#[derive(Debug, Default)]
pub struct PayloadFaultSource {
    nodes: Mutex<BTreeMap<&'static str, (Option<PayloadFaultRates>, ChaCha8Rng)>>,
}

impl PayloadFaultSource {
    /// A source for `nodes`, each drawing from its own stream of the run's `seed`.
    pub fn new(seed: u64, nodes: &[&'static str]) -> Self {
        let streams =
            nodes.iter().map(|node| (*node, (None, stream(seed, &format!("payload-faults-{node}")))));
        Self { nodes: Mutex::new(streams.collect()) }
    }

    /// Opens (`Some`) or closes (`None`) `node`'s fault window.
    pub fn set(&self, node: &str, rates: Option<PayloadFaultRates>) {
        let mut nodes = lock(&self.nodes);
        if let Some((current, _)) = nodes.get_mut(node) {
            *current = rates;
        }
    }

    /// The faults of `node`'s next block of `txs` transactions (none outside a window).
    pub fn draw(&self, node: &str, txs: usize) -> BlockFaults {
        let mut nodes = lock(&self.nodes);
        let Some((Some(rates), rng)) = nodes.get_mut(node) else { return BlockFaults::default() };
        let mut faults = BlockFaults::default();
        for job in 0..FAULTY_JOBS_MAX {
            if rng.gen_bool(rates.fail_share) {
                faults.failing_proofs.insert(job);
            }
            if rates.max_delay_ms > 0 && rng.gen_bool(0.5) {
                faults
                    .delayed_proofs
                    .insert(job, Duration::from_millis(rng.gen_range(0..=rates.max_delay_ms)));
            }
        }
        if txs > 0 && rng.gen_bool(rates.cancel_share) {
            faults.cancel_before_tx = Some(rng.gen_range(0..txs));
        }
        faults
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_consensus::{transaction::Recovered, TxEip1559};
    use alloy_primitives::{address, Address, TxKind, U256};
    use op_alloy_consensus::OpTxEnvelope;
    use rollsim::evm::BlockContext;

    const FROM: Address = address!("a200000000000000000000000000000000000001");
    const TO: Address = address!("a200000000000000000000000000000000000002");

    fn block(number: u64, value: u64) -> EvmBlock {
        let tx = TxEip1559 {
            chain_id: 901,
            nonce: number - 1,
            gas_limit: 21_000,
            max_fee_per_gas: 1_000_000_000,
            to: TxKind::Call(TO),
            value: U256::from(value),
            ..Default::default()
        };
        let tx = OpTxEnvelope::Eip1559(crate::l2::simsig::sign(tx, FROM));
        let context = BlockContext {
            number,
            timestamp: number * 2,
            gas_limit: 30_000_000,
            base_fee: 1_000,
            parent_beacon_block_root: Some(B256::ZERO),
            ..Default::default()
        };
        EvmBlock { context, txs: vec![Recovered::new_unchecked(tx, FROM).into()] }
    }

    /// Blocks advance and rewind the state root by root; finalized blocks can no longer be undone.
    #[test]
    fn the_state_rewinds_to_any_unfinalized_block() {
        let executor = OpEvmExecutor::new(901);
        let genesis = super::super::genesis::genesis_state(901, [FROM]).expect("genesis");
        let mut state = ExecutedState::genesis(genesis);
        let mut roots = vec![state.root()];
        for number in 1..=4u64 {
            let (output, root) = state.execute(&executor, &block(number, number)).expect("executes");
            assert_eq!(output.included, vec![0]);
            roots.push(root);
            assert_eq!(state.root(), roots[number as usize]);
        }
        assert_eq!(
            roots.iter().collect::<std::collections::BTreeSet<_>>().len(),
            5,
            "every block changes the root"
        );
        state.forget_below(2);
        state.rewind(3);
        assert_eq!((state.number(), state.root()), (3, roots[3]));
        state.rewind(2);
        assert_eq!((state.number(), state.root()), (2, roots[2]));
        let below = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| state.rewind(1)));
        assert!(below.is_err(), "block 2 is finalized: nothing below it can be undone");
    }

    /// A whole block with an invalid transaction (a nonce already used) does not execute.
    #[test]
    fn an_invalid_block_leaves_the_state_as_it_was() {
        let executor = OpEvmExecutor::new(901);
        let mut state =
            ExecutedState::genesis(super::super::genesis::genesis_state(901, [FROM]).expect("genesis"));
        state.execute(&executor, &block(1, 1)).expect("executes");
        let root = state.root();
        let replay = EvmBlock { context: BlockContext { number: 2, ..block(1, 1).context }, ..block(1, 1) };
        let error = state.execute(&executor, &replay).expect_err("nonce 0 was used");
        assert!(error.to_string().contains("transaction 0 is invalid"), "{error}");
        assert_eq!((state.number(), state.root()), (1, root));
    }
}
