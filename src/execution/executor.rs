//! Transaction execution behind a trait, and the small deterministic executor the tests drive.

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, U256};

use super::{extend_post_state, AccountChange, BlockState, StateView, TxState};
use crate::trie::{Account, HashedPostState, KECCAK_EMPTY};

/// Executes one transaction against a state view. Implementations must be deterministic: the same
/// view and transaction give the same changes (prewarm re-executes transactions in parallel, on the
/// pre-block state, and relies on it). No nonce checks: prewarm runs transactions out of order.
pub trait TxExecutor: Send + Sync + 'static {
    /// The transaction type.
    type Tx: Send + Sync + 'static;
    /// The transaction's changes and whether it succeeded (a failed transaction still bumps its
    /// sender's nonce).
    fn transact(&self, state: &dyn StateView, tx: &Self::Tx) -> (TxState, bool);
}

/// The transaction kinds of [`SimpleExecutor`]: enough to produce every shape of state change the
/// payload processor must handle (new, changed, emptied and destroyed accounts; storage writes and
/// deletes; accesses that depend on earlier transactions). No gas, no fees, no signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tx {
    /// Mints `mint` wei to `to` (an OP deposit's mint); no sender.
    Deposit { to: Address, mint: U256 },
    /// Moves `value` wei; fails without enough balance. A zero-value transfer to an absent account
    /// touches it but leaves it absent (EIP-161).
    Transfer { from: Address, to: Address, value: U256 },
    /// Writes `value` into `slot` of an existing `contract` (zero deletes).
    Store { from: Address, contract: Address, slot: U256, value: U256 },
    /// Reads slot 0 of `contract` as a length `n`, writes `n + 1` into slot `n + 1` and into slot 0:
    /// which slot it writes depends on the transactions before it.
    Append { from: Address, contract: Address },
    /// Creates `contract` with code and storage; fails if it exists.
    Create { from: Address, contract: Address, code_hash: B256, storage: Vec<(U256, U256)> },
    /// Destroys `contract` with its storage, its balance going to `beneficiary`; fails if absent.
    Destroy { from: Address, contract: Address, beneficiary: Address },
}

/// The deterministic executor for [`Tx`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SimpleExecutor;

/// A transaction's touched accounts while it executes.
struct Journal<'a> {
    state: &'a dyn StateView,
    touched: BTreeMap<Address, AccountChange>,
}

impl Journal<'_> {
    /// The account, touched; absent accounts read as empty.
    fn load(&mut self, address: Address) -> &mut AccountChange {
        let state = self.state;
        self.touched.entry(address).or_insert_with(|| AccountChange {
            info: state
                .account(&address)
                .unwrap_or(Account { code_hash: KECCAK_EMPTY, ..Default::default() }),
            destroyed: false,
            storage: BTreeMap::new(),
        })
    }

    fn exists(&self, address: &Address) -> bool {
        match self.touched.get(address) {
            Some(change) => !change.destroyed && !is_empty(&change.info),
            None => self.state.account(address).is_some(),
        }
    }

    fn sload(&mut self, address: Address, slot: U256) -> U256 {
        let state = self.state;
        let change = self.load(address);
        change.storage.get(&slot).copied().unwrap_or_else(|| state.storage(&address, &slot))
    }

    fn sstore(&mut self, address: Address, slot: U256, value: U256) {
        self.load(address).storage.insert(slot, value);
    }

    fn transfer(&mut self, from: Address, to: Address, value: U256) -> bool {
        if self.load(from).info.balance < value {
            return false;
        }
        self.load(from).info.balance -= value;
        self.load(to).info.balance += value;
        true
    }

    /// EIP-161: touched accounts left empty are removed.
    fn finish(mut self) -> TxState {
        for change in self.touched.values_mut() {
            if !change.destroyed && is_empty(&change.info) {
                change.destroyed = true;
                change.storage.clear();
            }
        }
        TxState { accounts: self.touched }
    }
}

fn is_empty(account: &Account) -> bool {
    account.nonce == 0 && account.balance.is_zero() && account.code_hash == KECCAK_EMPTY
}

impl TxExecutor for SimpleExecutor {
    type Tx = Tx;

    fn transact(&self, state: &dyn StateView, tx: &Tx) -> (TxState, bool) {
        let mut journal = Journal { state, touched: BTreeMap::new() };
        let sender = match tx {
            Tx::Deposit { .. } => None,
            Tx::Transfer { from, .. }
            | Tx::Store { from, .. }
            | Tx::Append { from, .. }
            | Tx::Create { from, .. }
            | Tx::Destroy { from, .. } => Some(*from),
        };
        if let Some(sender) = sender {
            journal.load(sender).info.nonce += 1;
        }
        let ok = match tx {
            Tx::Deposit { to, mint } => {
                journal.load(*to).info.balance += *mint;
                true
            }
            Tx::Transfer { from, to, value } => journal.transfer(*from, *to, *value),
            Tx::Store { contract, slot, value, .. } => {
                let exists = journal.exists(contract);
                if exists {
                    journal.sstore(*contract, *slot, *value);
                }
                exists
            }
            Tx::Append { contract, .. } => {
                let exists = journal.exists(contract);
                if exists {
                    let next = journal.sload(*contract, U256::ZERO) + U256::from(1);
                    journal.sstore(*contract, next, next);
                    journal.sstore(*contract, U256::ZERO, next);
                }
                exists
            }
            Tx::Create { contract, code_hash, storage, .. } => {
                let absent = !journal.exists(contract);
                if absent {
                    let account = journal.load(*contract);
                    account.info = Account { nonce: 1, balance: account.info.balance, code_hash: *code_hash };
                    for (slot, value) in storage {
                        journal.sstore(*contract, *slot, *value);
                    }
                }
                absent
            }
            Tx::Destroy { contract, beneficiary, .. } => {
                let exists = journal.exists(contract);
                if exists {
                    let balance = journal.load(*contract).info.balance;
                    journal.load(*beneficiary).info.balance += balance;
                    let account = journal.load(*contract);
                    *account =
                        AccountChange { info: Account::default(), destroyed: true, storage: BTreeMap::new() };
                }
                exists
            }
        };
        (journal.finish(), ok)
    }
}

/// What executing a block produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockOutcome {
    /// Per transaction: did it succeed.
    pub success: Vec<bool>,
    /// The block's merged hashed changes: applied to the pre-state, the post-state.
    pub state: HashedPostState,
}

/// A block being executed, one transaction at a time: the caller can do other work (or, in the
/// simulation, yield) between transactions.
pub struct BlockExecution<'a, E: TxExecutor> {
    executor: &'a E,
    block: BlockState<'a>,
    outcome: BlockOutcome,
}

impl<'a, E: TxExecutor> BlockExecution<'a, E> {
    /// A block on top of `pre`.
    pub fn new(executor: &'a E, pre: &'a dyn StateView) -> Self {
        Self { executor, block: BlockState::new(pre), outcome: BlockOutcome::default() }
    }

    /// Executes the next transaction and returns its changes (already committed).
    pub fn transact(&mut self, tx: &E::Tx) -> TxState {
        let (changes, ok) = self.executor.transact(&self.block, tx);
        self.block.commit(&changes);
        extend_post_state(&mut self.outcome.state, changes.to_hashed());
        self.outcome.success.push(ok);
        changes
    }

    /// What the block produced.
    pub fn finish(self) -> BlockOutcome {
        self.outcome
    }
}

/// Executes `txs` in order on top of `pre`, handing each transaction's changes to `hook` (the
/// payload processor's state hook) as soon as it has executed.
pub fn execute_block<E: TxExecutor>(
    executor: &E,
    pre: &dyn StateView,
    txs: &[E::Tx],
    mut hook: impl FnMut(&TxState),
) -> BlockOutcome {
    let mut block = BlockExecution::new(executor, pre);
    for tx in txs {
        hook(&block.transact(tx));
    }
    block.finish()
}
