//! The L2 state over the state trie, and a block's view of it while transactions execute.

use std::collections::BTreeMap;

use alloy_primitives::{keccak256, Address, Bytes, B256, U256};
use revm::bytecode::Bytecode;

use super::TxState;
use crate::trie::{Account, HashedPostState, StateTrie};

/// Reads of a state: what a transaction executes against.
pub trait StateView: Send + Sync {
    /// The account at `address`, if it exists.
    fn account(&self, address: &Address) -> Option<Account>;
    /// The value of `slot` in `address`'s storage (zero when unset).
    fn storage(&self, address: &Address, slot: &U256) -> U256;
    /// The bytecode whose keccak256 is `code_hash`, if the state holds it: analyzed (its jump
    /// table built) once, when the state took it, as a node's bytecode table and cache keep it.
    fn code(&self, code_hash: &B256) -> Option<Bytecode>;
}

/// The L2 state: the state trie itself, read by plain address and slot (hashed on the way in), and
/// the bytecode of its contracts by code hash (outside the trie, as a node's code table is).
#[derive(Debug, Clone, Default)]
pub struct L2State {
    trie: StateTrie,
    /// Content-addressed and only ever added to: a rewind that removes a contract leaves its code
    /// here, as a node's bytecode table keeps it, harmlessly.
    codes: BTreeMap<B256, Bytecode>,
}

impl L2State {
    /// A state over `trie`.
    pub fn new(trie: StateTrie) -> Self {
        Self { trie, codes: BTreeMap::new() }
    }

    /// Adds contract code, keyed by its hash.
    pub fn insert_code(&mut self, code: Bytes) {
        self.codes.entry(keccak256(&code)).or_insert_with(|| Bytecode::new_raw(code));
    }

    /// The trie holding the state.
    pub fn trie(&self) -> &StateTrie {
        &self.trie
    }

    /// The trie, mutably (roots and proofs refresh its cached storage roots).
    pub fn trie_mut(&mut self) -> &mut StateTrie {
        &mut self.trie
    }

    /// Applies a block's (or a transaction's) hashed changes.
    pub fn apply(&mut self, update: &HashedPostState) {
        self.trie.apply(update);
    }

    /// The state root: a full recompute.
    pub fn root(&mut self) -> B256 {
        self.trie.root()
    }
}

impl StateView for L2State {
    fn account(&self, address: &Address) -> Option<Account> {
        self.trie.account(&keccak256(address)).copied()
    }

    fn storage(&self, address: &Address, slot: &U256) -> U256 {
        let slots = self.trie.storage(&keccak256(address));
        slots.and_then(|s| s.get(&keccak256(slot.to_be_bytes::<32>())).copied()).unwrap_or_default()
    }

    fn code(&self, code_hash: &B256) -> Option<Bytecode> {
        self.codes.get(code_hash).cloned()
    }
}

/// One account as the block left it so far.
#[derive(Debug, Clone)]
struct Overlay {
    /// `None`: destroyed.
    info: Option<Account>,
    /// The pre-block storage no longer shows through.
    wiped: bool,
    storage: BTreeMap<U256, U256>,
}

/// The pre-block state with the changes of the block's transactions so far on top.
pub struct BlockState<'a> {
    pre: &'a dyn StateView,
    changes: BTreeMap<Address, Overlay>,
}

impl<'a> BlockState<'a> {
    /// The block's view before its first transaction.
    pub fn new(pre: &'a dyn StateView) -> Self {
        Self { pre, changes: BTreeMap::new() }
    }

    /// Commits a transaction's changes.
    pub fn commit(&mut self, tx: &TxState) {
        for (address, change) in &tx.accounts {
            let overlay = self.changes.entry(*address).or_insert_with(|| Overlay {
                info: None,
                wiped: false,
                storage: BTreeMap::new(),
            });
            if change.destroyed {
                *overlay = Overlay { info: None, wiped: true, storage: BTreeMap::new() };
                continue;
            }
            overlay.info = Some(change.info);
            overlay.storage.extend(&change.storage);
        }
    }
}

impl StateView for BlockState<'_> {
    fn account(&self, address: &Address) -> Option<Account> {
        match self.changes.get(address) {
            Some(overlay) => overlay.info,
            None => self.pre.account(address),
        }
    }

    fn storage(&self, address: &Address, slot: &U256) -> U256 {
        match self.changes.get(address) {
            Some(overlay) => match overlay.storage.get(slot) {
                Some(value) => *value,
                None if overlay.wiped => U256::ZERO,
                None => self.pre.storage(address, slot),
            },
            None => self.pre.storage(address, slot),
        }
    }

    fn code(&self, code_hash: &B256) -> Option<Bytecode> {
        self.pre.code(code_hash)
    }
}
