//! The in-memory state trie: every leaf known, roots by `HashBuilder`.
//!
//! This is the "database" side: it holds the full state, computes reference roots and produces the
//! multiproofs the sparse trie is revealed from. Leaves live in sorted maps, so a root is one
//! `HashBuilder` pass over the account leaves; storage roots are cached per account and only the
//! storages an update touched are rebuilt.

use std::collections::{BTreeMap, BTreeSet};

use alloy_primitives::{B256, U256};
use alloy_trie::{HashBuilder, Nibbles, EMPTY_ROOT_HASH};

use super::{
    post_state::{encode_account, encode_slot},
    proof::{build, key_range, prove},
    Account, HashedPostState, MultiProof, MultiProofTargets, TrieProof,
};

/// The full state: accounts and storages by hashed key.
#[derive(Debug, Clone, Default)]
pub struct StateTrie {
    accounts: BTreeMap<B256, Account>,
    storages: BTreeMap<B256, BTreeMap<B256, U256>>,
    /// Storage roots of storages not in `dirty`.
    storage_roots: BTreeMap<B256, B256>,
    /// Storages changed since their root was cached.
    dirty: BTreeSet<B256>,
}

impl StateTrie {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// The account at `hashed_address`.
    pub fn account(&self, hashed_address: &B256) -> Option<&Account> {
        self.accounts.get(hashed_address)
    }

    /// The non-zero storage of `hashed_address`.
    pub fn storage(&self, hashed_address: &B256) -> Option<&BTreeMap<B256, U256>> {
        self.storages.get(hashed_address)
    }

    /// All accounts, sorted by hashed address.
    pub fn accounts(&self) -> &BTreeMap<B256, Account> {
        &self.accounts
    }

    /// Applies an update: storages first (wipe, then slots, zero deleting), then accounts, where
    /// `None` destroys the account and its storage.
    pub fn apply(&mut self, update: &HashedPostState) {
        for (address, storage) in &update.storages {
            self.dirty.insert(*address);
            let slots = self.storages.entry(*address).or_default();
            if storage.wiped {
                slots.clear();
            }
            for (slot, value) in &storage.slots {
                if value.is_zero() {
                    slots.remove(slot);
                } else {
                    slots.insert(*slot, *value);
                }
            }
        }
        for (address, account) in &update.accounts {
            match account {
                Some(account) => {
                    self.accounts.insert(*address, *account);
                }
                None => {
                    self.accounts.remove(address);
                    self.storages.remove(address);
                    self.dirty.insert(*address);
                }
            }
        }
    }

    /// The storage root of `hashed_address` (empty root for none).
    pub fn storage_root(&mut self, hashed_address: B256) -> B256 {
        self.refresh_storage_roots();
        self.cached_storage_root(&hashed_address)
    }

    /// The state root.
    pub fn root(&mut self) -> B256 {
        self.refresh_storage_roots();
        let roots = &self.storage_roots;
        build(&mut HashBuilder::default(), &self.accounts, |address, account, buf| {
            let root = roots.get(address).copied().unwrap_or(EMPTY_ROOT_HASH);
            buf.extend_from_slice(&encode_account(&account.into_trie_account(root)));
        })
    }

    /// Proof nodes for `targets`: account-trie nodes along every target address and storage-trie
    /// nodes along every target slot, plus all children of the branches on those paths that a
    /// removal of target keys could collapse (see `proof.rs`).
    pub fn multiproof(&mut self, targets: &MultiProofTargets) -> MultiProof {
        self.refresh_storage_roots();
        let roots = &self.storage_roots;
        let (root, account_subtree) = prove(
            &self.accounts,
            |address, account, buf| {
                let root = roots.get(address).copied().unwrap_or(EMPTY_ROOT_HASH);
                buf.extend_from_slice(&encode_account(&account.into_trie_account(root)));
            },
            targets.keys(),
        );
        let empty = BTreeMap::new();
        let storages = targets
            .iter()
            .map(|(address, slots)| {
                let storage = self.storages.get(address).unwrap_or(&empty);
                let (root, subtree) =
                    prove(storage, |_, value, buf| buf.extend_from_slice(&encode_slot(*value)), slots);
                (*address, TrieProof { root, subtree })
            })
            .collect();
        MultiProof { root, account_subtree, storages }
    }

    /// The proof of the node at `path` in the account trie (`account` is `None`) or in the storage
    /// trie of `account`: what a sparse trie needs when an operation meets a blinded node there,
    /// e.g. a removal whose surviving sibling no multiproof carried because the removals came in
    /// separately proved target sets (reth fetches such nodes from its database).
    pub fn node_proof(&mut self, account: Option<B256>, path: &Nibbles) -> TrieProof {
        self.refresh_storage_roots();
        // Any key under `path` leads through it.
        let empty = BTreeMap::new();
        let (root, subtree) = match account {
            None => {
                let roots = &self.storage_roots;
                let key = self.accounts.range(key_range(path)).next().map(|(k, _)| *k);
                prove(
                    &self.accounts,
                    |address, account, buf| {
                        let root = roots.get(address).copied().unwrap_or(EMPTY_ROOT_HASH);
                        buf.extend_from_slice(&encode_account(&account.into_trie_account(root)));
                    },
                    key.iter(),
                )
            }
            Some(address) => {
                let storage = self.storages.get(&address).unwrap_or(&empty);
                let key = storage.range(key_range(path)).next().map(|(k, _)| *k);
                prove(storage, |_, value, buf| buf.extend_from_slice(&encode_slot(*value)), key.iter())
            }
        };
        TrieProof { root, subtree }
    }

    fn cached_storage_root(&self, hashed_address: &B256) -> B256 {
        debug_assert!(self.dirty.is_empty(), "storage roots read while stale");
        self.storage_roots.get(hashed_address).copied().unwrap_or(EMPTY_ROOT_HASH)
    }

    /// Rebuilds the roots of storages changed since the last call.
    fn refresh_storage_roots(&mut self) {
        for address in std::mem::take(&mut self.dirty) {
            match self.storages.get(&address).filter(|slots| !slots.is_empty()) {
                Some(slots) => {
                    let root = build(&mut HashBuilder::default(), slots, |_, value, buf| {
                        buf.extend_from_slice(&encode_slot(*value))
                    });
                    self.storage_roots.insert(address, root);
                }
                None => {
                    self.storages.remove(&address);
                    self.storage_roots.remove(&address);
                }
            }
        }
    }
}
