//! The sparse state trie: an account sparse trie and a storage sparse trie per account.
//!
//! What the payload processor's sparse-trie task drives: reveal multiproofs as they arrive, apply the
//! block's hashed state updates, ask for the state root. Storage roots are computed first and written
//! into the account leaves, exactly as a full recompute would see them.

use std::collections::{BTreeMap, BTreeSet};

use alloy_primitives::{B256, U256};
use alloy_rlp::Decodable;
use alloy_trie::{Nibbles, TrieAccount, EMPTY_ROOT_HASH};

use super::{
    post_state::{encode_account, encode_slot},
    Account, HashedPostState, MultiProof, RevealedTrie, SparseTrie, StateTrieError, TrieChanges, TrieError,
    TrieProof,
};

/// Account trie plus storage tries, all sparse.
#[derive(Debug, Clone, Default)]
pub struct SparseStateTrie {
    accounts: SparseTrie,
    storages: BTreeMap<B256, SparseTrie>,
    /// Accounts whose storage changed since their leaf last took its storage root.
    dirty_storages: BTreeSet<B256>,
    /// Accounts whose storage trie changed since the changes were last taken.
    changed_storages: BTreeSet<B256>,
}

/// What changed in a state trie since the changes were last taken: [`SparseStateTrie::take_changes`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateTrieChanges {
    /// The account trie's (its root is the state root).
    pub accounts: TrieChanges,
    /// Each changed storage trie's, by hashed address.
    pub storages: BTreeMap<B256, TrieChanges>,
}

impl SparseStateTrie {
    /// A blind state trie: reveal a multiproof before anything else.
    pub fn new() -> Self {
        Self::default()
    }

    /// The account trie.
    pub fn account_trie(&self) -> &SparseTrie {
        &self.accounts
    }

    /// The storage trie of `hashed_address`, if any part of it is known.
    pub fn storage_trie(&self, hashed_address: &B256) -> Option<&SparseTrie> {
        self.storages.get(hashed_address)
    }

    /// Reveals the nodes of a multiproof. Blind tries are anchored at the proof's roots; a storage
    /// proof's root must be the storage root of its account where the account exists.
    pub fn reveal_multiproof(&mut self, proof: &MultiProof) -> Result<(), StateTrieError> {
        let accounts = self.accounts.reveal_root(proof.root);
        accounts.reveal_proof_nodes(&proof.account_subtree).map_err(StateTrieError::account_trie)?;
        for (address, storage) in &proof.storages {
            let leaf = self.account_leaf(address).map_err(|e| StateTrieError::storage(*address, e))?;
            let trie = self.storages.entry(*address).or_default();
            // A storage trie already revealed (or changed) keeps its anchor.
            if trie.is_blind() && leaf.is_some_and(|account| account.storage_root != storage.root) {
                let error = TrieError::BadProof { path: Nibbles::new(), reason: "storage root" };
                return Err(StateTrieError::storage(*address, error));
            }
            trie.reveal_root(storage.root)
                .reveal_proof_nodes(&storage.subtree)
                .map_err(|e| StateTrieError::storage(*address, e))?;
        }
        Ok(())
    }

    /// Reveals nodes of the account trie (`account` is `None`) or of `account`'s storage trie, e.g. a
    /// `StateTrie::node_proof` for the path of a [`TrieError::BlindedNode`]. The trie must be
    /// revealed already (its root known).
    pub fn reveal_nodes(&mut self, account: Option<B256>, proof: &TrieProof) -> Result<(), StateTrieError> {
        let wrap = |error| StateTrieError { account, error };
        let trie = match account {
            None => Some(&mut self.accounts),
            Some(address) => self.storages.get_mut(&address),
        };
        let trie = trie.ok_or(TrieError::Blind).and_then(SparseTrie::revealed_mut).map_err(wrap)?;
        trie.reveal_proof_nodes(&proof.subtree).map_err(wrap)
    }

    /// Sets an account. Its leaf keeps the storage root it has (none for a new account); a changed
    /// storage trie gives the leaf its new root in [`Self::root`]: once per block, not once per
    /// update of a contract that many transactions call.
    pub fn update_account(&mut self, hashed_address: B256, account: Account) -> Result<(), StateTrieError> {
        let leaf = self.account_leaf(&hashed_address).map_err(StateTrieError::account_trie)?;
        let storage_root = match (leaf, self.storages.get_mut(&hashed_address)) {
            (Some(leaf), _) => leaf.storage_root,
            // A new account takes whatever storage its key holds already.
            (None, Some(SparseTrie::Revealed(trie))) => trie.root(),
            (None, _) => EMPTY_ROOT_HASH,
        };
        let value = encode_account(&account.into_trie_account(storage_root));
        self.accounts
            .update_leaf(Nibbles::unpack(hashed_address), value)
            .map_err(StateTrieError::account_trie)
    }

    /// Destroys an account together with its storage.
    pub fn remove_account(&mut self, hashed_address: B256) -> Result<(), StateTrieError> {
        self.accounts.remove_leaf(&Nibbles::unpack(hashed_address)).map_err(StateTrieError::account_trie)?;
        self.storages.insert(hashed_address, SparseTrie::wiped());
        self.dirty_storages.remove(&hashed_address);
        self.changed_storages.insert(hashed_address);
        Ok(())
    }

    /// Sets a storage slot (non-zero value).
    pub fn update_storage_slot(
        &mut self,
        hashed_address: B256,
        hashed_slot: B256,
        value: U256,
    ) -> Result<(), StateTrieError> {
        debug_assert!(!value.is_zero(), "zero values are removals");
        self.storage_mut(hashed_address)?
            .update_leaf(Nibbles::unpack(hashed_slot), encode_slot(value))
            .map_err(|e| StateTrieError::storage(hashed_address, e))
    }

    /// Deletes a storage slot.
    pub fn remove_storage_slot(
        &mut self,
        hashed_address: B256,
        hashed_slot: B256,
    ) -> Result<(), StateTrieError> {
        self.storage_mut(hashed_address)?
            .remove_leaf(&Nibbles::unpack(hashed_slot))
            .map_err(|e| StateTrieError::storage(hashed_address, e))
    }

    /// Wipes the storage of an account (it need not have been revealed).
    pub fn wipe_storage(&mut self, hashed_address: B256) {
        self.storages.insert(hashed_address, SparseTrie::wiped());
        self.dirty_storages.insert(hashed_address);
        self.changed_storages.insert(hashed_address);
    }

    /// Applies a state update with the same meaning as `StateTrie::apply`. Within a storage trie the
    /// removals come after the inserts, as in reth: an insert can give a branch the child that a
    /// removal would otherwise have had to collapse it into (which might be blinded).
    pub fn apply(&mut self, update: &HashedPostState) -> Result<(), StateTrieError> {
        for (address, storage) in &update.storages {
            if storage.wiped {
                self.wipe_storage(*address);
            }
            for (slot, value) in storage.slots.iter().filter(|(_, v)| !v.is_zero()) {
                self.update_storage_slot(*address, *slot, *value)?;
            }
            for (slot, _) in storage.slots.iter().filter(|(_, v)| v.is_zero()) {
                self.remove_storage_slot(*address, *slot)?;
            }
        }
        for (address, account) in &update.accounts {
            match account {
                Some(account) => self.update_account(*address, *account)?,
                None => self.remove_account(*address)?,
            }
        }
        Ok(())
    }

    /// The state root: the changed storage roots go into their account leaves first.
    pub fn root(&mut self) -> Result<B256, StateTrieError> {
        for address in std::mem::take(&mut self.dirty_storages) {
            let Some(SparseTrie::Revealed(trie)) = self.storages.get_mut(&address) else {
                continue;
            };
            let storage_root = trie.root();
            // Storage of an account that does not exist is not part of the state.
            let Some(mut account) = self.account_leaf(&address).map_err(StateTrieError::account_trie)? else {
                continue;
            };
            if account.storage_root != storage_root {
                account.storage_root = storage_root;
                self.accounts
                    .update_leaf(Nibbles::unpack(address), encode_account(&account))
                    .map_err(StateTrieError::account_trie)?;
            }
        }
        self.accounts.root().map_err(StateTrieError::account_trie)
    }

    /// The state root and what changed in each trie since the changes were last taken (see
    /// [`RevealedTrie::take_changes`](super::RevealedTrie::take_changes)).
    pub fn take_changes(&mut self) -> Result<StateTrieChanges, StateTrieError> {
        self.root()?;
        let accounts = self.accounts.revealed_mut().and_then(RevealedTrie::take_changes);
        let accounts = accounts.map_err(StateTrieError::account_trie)?;
        let mut storages = BTreeMap::new();
        for address in std::mem::take(&mut self.changed_storages) {
            if let Some(SparseTrie::Revealed(trie)) = self.storages.get_mut(&address) {
                let changes = trie.take_changes().map_err(|e| StateTrieError::storage(address, e))?;
                storages.insert(address, changes);
            }
        }
        Ok(StateTrieChanges { accounts, storages })
    }

    /// The revealed storage trie of an account, marked as changed.
    fn storage_mut(&mut self, hashed_address: B256) -> Result<&mut SparseTrie, StateTrieError> {
        let trie = self.storages.get_mut(&hashed_address).filter(|trie| !trie.is_blind());
        let trie = trie.ok_or(StateTrieError::storage(hashed_address, TrieError::Blind))?;
        self.dirty_storages.insert(hashed_address);
        self.changed_storages.insert(hashed_address);
        Ok(trie)
    }

    /// The account leaf at `hashed_address`: `None` if absent, an error if blinded or undecodable.
    fn account_leaf(&self, hashed_address: &B256) -> Result<Option<TrieAccount>, TrieError> {
        let trie = self.accounts.as_revealed().ok_or(TrieError::Blind)?;
        let path = Nibbles::unpack(hashed_address);
        match trie.find_leaf(&path)? {
            Some(value) => Ok(Some(TrieAccount::decode(&mut &value[..])?)),
            None => Ok(None),
        }
    }
}
