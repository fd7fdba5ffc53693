//! Execution of L2 blocks: how the world's transactions change the L2 state, and the executed state
//! a node keeps at its head.
//!
//! Both nodes execute blocks through the payload processor (`rollsim::payload`) over this state: the
//! sequencer to fill in its header's state root, the rollup node to check the root of every block it
//! derives. Transactions run on [`SimpleExecutor`] (no EVM, see `docs/payload.md`), mapped from the
//! world's OP transactions by [`exec_tx`].

use std::{
    collections::{BTreeMap, VecDeque},
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use alloy_consensus::Transaction;
use alloy_primitives::{keccak256, Address, TxKind, B256, U256};
use kona_protocol::Predeploys;
use op_alloy_consensus::OpTxEnvelope;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rollsim::{
    execution::{execute_block, L2State, SimpleExecutor, Tx},
    payload::{PayloadFaults, PreState},
    trie::{Account, HashedPostState, KECCAK_EMPTY},
};

use crate::{
    profile::{self, Bucket},
    seed::stream,
};

/// Balance of each funded workload sender at genesis: enough for every transfer of any run.
const SENDER_BALANCE_WEI: u128 = 1_000_000_000_000_000_000_000_000;

/// Senders funded at genesis at most: beyond that, senders start empty and their transfers fail
/// (as unfunded accounts' would), which keeps genesis cheap for huge sender populations.
const FUNDED_SENDERS_MAX: u64 = 100_000;

/// The genesis state: the L1Block predeploy (the L1-info deposit writes it) and the first
/// `min(senders, FUNDED_SENDERS_MAX)` workload senders, funded.
pub fn genesis_state(senders: impl IntoIterator<Item = Address>) -> L2State {
    let mut update = HashedPostState::default();
    let predeploy = Account { nonce: 1, balance: U256::ZERO, code_hash: keccak256(b"L1Block") };
    update.accounts.insert(keccak256(Predeploys::L1_BLOCK_INFO), Some(predeploy));
    let funded = Account { nonce: 0, balance: U256::from(SENDER_BALANCE_WEI), code_hash: KECCAK_EMPTY };
    for sender in senders.into_iter().take(FUNDED_SENDERS_MAX as usize) {
        update.accounts.insert(keccak256(sender), Some(funded));
    }
    let mut state = L2State::default();
    state.apply(&update);
    state
}

/// What an OP transaction does to the state, as a [`SimpleExecutor`] transaction:
/// - a deposit with a mint credits its recipient; one without (the L1-info deposit) writes the hash
///   of its calldata into slot 0 of its target (the L1Block predeploy), standing for the L1
///   attributes it sets;
/// - a call without calldata is a value transfer;
/// - a call with calldata writes slot `calldata[0]` of its target: the calldata's hash, or zero
///   (a delete) when `calldata[1]` is zero, so storage both grows and shrinks;
/// - a creation creates the contract at the sender's CREATE address.
///
/// Every sender's nonce goes up, deposits' included, as in op-geth. No gas is charged.
pub fn exec_tx(tx: &OpTxEnvelope, sender: Address) -> Tx {
    let input = tx.input();
    let to = match tx.kind() {
        TxKind::Call(to) => to,
        TxKind::Create => {
            let contract = sender.create(tx.nonce());
            return Tx::Create { from: sender, contract, code_hash: keccak256(input), storage: Vec::new() };
        }
    };
    if let OpTxEnvelope::Deposit(deposit) = tx {
        if deposit.mint > 0 {
            return Tx::Deposit { to, mint: U256::from(deposit.mint) };
        }
        return Tx::Store {
            from: sender,
            contract: to,
            slot: U256::ZERO,
            value: U256::from_be_bytes(keccak256(input).0),
        };
    }
    match input.as_ref() {
        [] => Tx::Transfer { from: sender, to, value: tx.value() },
        [slot, rest @ ..] => {
            let value =
                if rest.first() == Some(&0) { U256::ZERO } else { U256::from_be_bytes(keccak256(input).0) };
            Tx::Store { from: sender, contract: to, slot: U256::from(*slot), value }
        }
    }
}

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

    /// Moves to the next block, whose execution changed `post`; returns the new state root.
    ///
    /// # Panics
    /// If the stored trie nodes disagree with the state: a bug in the trie code, not in the input.
    pub fn advance(&mut self, post: &HashedPostState) -> B256 {
        let _profile = profile::scope(Bucket::State);
        let undo = self.head.undo(post);
        let root = self.head_mut().advance(post).expect("the stored trie nodes agree with the state");
        self.undo.push_back(undo);
        root
    }

    /// Executes a block's transactions sequentially on the head and advances to it; returns the new
    /// state root. The engine's path for blocks it is handed whole (derived ones).
    pub fn execute(&mut self, txs: &[Tx]) -> B256 {
        let _profile = profile::scope(Bucket::State);
        let outcome = execute_block(&SimpleExecutor, &*self.head, txs, |_| {});
        self.advance(&outcome.state)
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

/// The payload-processor faults being injected: the fault injector opens and closes a window per
/// node; every block the node executes meanwhile draws its [`PayloadFaults`] from the rates, from
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
        let mut nodes = self.nodes.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((current, _)) = nodes.get_mut(node) {
            *current = rates;
        }
    }

    /// The faults of `node`'s next block of `txs` transactions (none outside a window).
    pub fn draw(&self, node: &str, txs: usize) -> PayloadFaults {
        let mut nodes = self.nodes.lock().unwrap_or_else(PoisonError::into_inner);
        let Some((Some(rates), rng)) = nodes.get_mut(node) else { return PayloadFaults::default() };
        let mut faults = PayloadFaults::default();
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
    use alloy_consensus::{TxEip1559, TxLegacy};
    use alloy_primitives::{address, Bytes};
    use op_alloy_consensus::TxDeposit;

    const FROM: Address = address!("a200000000000000000000000000000000000001");
    const TO: Address = address!("a200000000000000000000000000000000000002");

    fn call(input: &[u8], value: u64) -> OpTxEnvelope {
        let tx = TxEip1559 {
            to: TxKind::Call(TO),
            value: U256::from(value),
            input: Bytes::copy_from_slice(input),
            nonce: 3,
            ..Default::default()
        };
        OpTxEnvelope::Eip1559(rollsim::simsig::sign(tx, FROM))
    }

    #[test]
    fn each_kind_of_transaction_maps_to_its_state_change() {
        assert_eq!(exec_tx(&call(&[], 7), FROM), Tx::Transfer { from: FROM, to: TO, value: U256::from(7) });
        let hash = U256::from_be_bytes(keccak256([5u8, 9]).0);
        let store = Tx::Store { from: FROM, contract: TO, slot: U256::from(5), value: hash };
        assert_eq!(exec_tx(&call(&[5, 9], 7), FROM), store);
        let delete = Tx::Store { from: FROM, contract: TO, slot: U256::from(5), value: U256::ZERO };
        assert_eq!(exec_tx(&call(&[5, 0, 1], 0), FROM), delete);

        let l1_info = TxDeposit {
            from: FROM,
            to: TxKind::Call(Predeploys::L1_BLOCK_INFO),
            input: Bytes::from_static(b"attributes"),
            ..Default::default()
        };
        let expected = Tx::Store {
            from: FROM,
            contract: Predeploys::L1_BLOCK_INFO,
            slot: U256::ZERO,
            value: U256::from_be_bytes(keccak256(b"attributes").0),
        };
        assert_eq!(
            exec_tx(&OpTxEnvelope::Deposit(alloy_primitives::Sealable::seal_slow(l1_info.clone())), FROM),
            expected
        );
        let mint = TxDeposit { mint: 40, to: TxKind::Call(TO), ..l1_info };
        assert_eq!(
            exec_tx(&OpTxEnvelope::Deposit(alloy_primitives::Sealable::seal_slow(mint)), FROM),
            Tx::Deposit { to: TO, mint: U256::from(40) }
        );

        let create = TxLegacy {
            to: TxKind::Create,
            nonce: 4,
            input: Bytes::from_static(b"code"),
            ..Default::default()
        };
        let create = OpTxEnvelope::Legacy(rollsim::simsig::sign(create, FROM));
        let contract = FROM.create(4);
        assert_eq!(
            exec_tx(&create, FROM),
            Tx::Create { from: FROM, contract, code_hash: keccak256(b"code"), storage: Vec::new() }
        );
    }

    #[test]
    fn genesis_funds_the_senders_and_holds_the_l1_block_predeploy() {
        use rollsim::execution::StateView;
        let state = genesis_state([FROM, TO]);
        assert_eq!(state.account(&FROM).unwrap().balance, U256::from(SENDER_BALANCE_WEI));
        assert!(state.account(&Predeploys::L1_BLOCK_INFO).is_some());
        assert!(state.account(&address!("a200000000000000000000000000000000000003")).is_none());
    }

    /// Blocks advance and rewind the state root by root; finalized blocks can no longer be undone.
    #[test]
    fn the_state_rewinds_to_any_unfinalized_block() {
        let mut state = ExecutedState::genesis(genesis_state([FROM]));
        let mut roots = vec![state.root()];
        for value in 1..=4u64 {
            let txs = [exec_tx(&call(&[], value), FROM), exec_tx(&call(&[value as u8, 1], 0), FROM)];
            roots.push(state.execute(&txs));
            assert_eq!(state.root(), roots[value as usize]);
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
}
