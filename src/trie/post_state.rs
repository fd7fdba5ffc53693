//! The hashed state update a block produces: what both the state trie and the sparse state trie apply.

use std::collections::BTreeMap;

use alloy_primitives::{B256, U256};
use alloy_trie::TrieAccount;

use super::MultiProofTargets;

/// An account's trie-relevant fields, without its storage root (that comes from its storage trie).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Account {
    /// Nonce.
    pub nonce: u64,
    /// Balance in wei.
    pub balance: U256,
    /// keccak256 of the code (`KECCAK_EMPTY` for none).
    pub code_hash: B256,
}

impl Account {
    /// The account leaf value, given its storage root.
    pub fn into_trie_account(self, storage_root: B256) -> TrieAccount {
        TrieAccount { nonce: self.nonce, balance: self.balance, storage_root, code_hash: self.code_hash }
    }
}

impl From<TrieAccount> for Account {
    fn from(a: TrieAccount) -> Self {
        Self { nonce: a.nonce, balance: a.balance, code_hash: a.code_hash }
    }
}

/// Storage changes of one account, keyed by hashed slot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HashedStorage {
    /// The storage was wiped (account destroyed) before `slots` apply.
    pub wiped: bool,
    /// New slot values; zero deletes the slot.
    pub slots: BTreeMap<B256, U256>,
}

/// A state update keyed by hashed address. Storages apply first (wipe, then slots); then accounts,
/// where `None` destroys the account together with all its storage.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HashedPostState {
    /// New account values; `None` destroys the account.
    pub accounts: BTreeMap<B256, Option<Account>>,
    /// Storage changes per account.
    pub storages: BTreeMap<B256, HashedStorage>,
}

impl HashedPostState {
    /// The proof targets the update needs: every account it touches, with the slots it writes.
    pub fn targets(&self) -> MultiProofTargets {
        let mut targets = MultiProofTargets::new();
        for address in self.accounts.keys() {
            targets.entry(*address).or_default();
        }
        for (address, storage) in &self.storages {
            targets.entry(*address).or_default().extend(storage.slots.keys());
        }
        targets
    }
}

/// The RLP of a storage value as the trie stores it.
pub(crate) fn encode_slot(value: U256) -> Vec<u8> {
    alloy_rlp::encode_fixed_size(&value).to_vec()
}

/// The RLP of an account leaf.
pub(crate) fn encode_account(account: &TrieAccount) -> Vec<u8> {
    alloy_rlp::encode(account)
}
