//! A transaction's state changes and their hashed form.

use std::collections::BTreeMap;

use alloy_primitives::{keccak256, Address, U256};

use crate::trie::{Account, HashedPostState, HashedStorage};

/// One account as a transaction left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountChange {
    /// The account after the transaction (meaningless when `destroyed`).
    pub info: Account,
    /// The account was destroyed (self-destructed, or left empty: EIP-161), storage included.
    pub destroyed: bool,
    /// Slots the transaction wrote, with their new values (zero deletes).
    pub storage: BTreeMap<U256, U256>,
}

/// The accounts a transaction touched, sorted by address: what revm's `EvmState` is to reth.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TxState {
    /// Touched accounts.
    pub accounts: BTreeMap<Address, AccountChange>,
}

impl TxState {
    /// The hashed update: touched accounts as `Some(info)` or `None` when destroyed (storage wiped
    /// with them), written slots by hashed slot.
    pub fn to_hashed(&self) -> HashedPostState {
        let mut state = HashedPostState::default();
        for (address, change) in &self.accounts {
            let hashed = keccak256(address);
            if change.destroyed {
                debug_assert!(change.storage.is_empty(), "a destroyed account keeps no writes");
                state.accounts.insert(hashed, None);
                state.storages.insert(hashed, HashedStorage { wiped: true, slots: BTreeMap::new() });
                continue;
            }
            state.accounts.insert(hashed, Some(change.info));
            if !change.storage.is_empty() {
                let slots = change
                    .storage
                    .iter()
                    .map(|(slot, value)| (keccak256(slot.to_be_bytes::<32>()), *value))
                    .collect();
                state.storages.insert(hashed, HashedStorage { wiped: false, slots });
            }
        }
        state
    }
}

/// Merges `later` into `state` so that applying the result equals applying both in order: later
/// values win, and a later wipe forgets the earlier slots.
pub fn extend_post_state(state: &mut HashedPostState, later: HashedPostState) {
    state.accounts.extend(later.accounts);
    for (address, storage) in later.storages {
        let merged = state.storages.entry(address).or_default();
        if storage.wiped {
            merged.wiped = true;
            merged.slots.clear();
        }
        merged.slots.extend(storage.slots);
    }
}
