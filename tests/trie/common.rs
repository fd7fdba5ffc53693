//! Oracles shared by the trie tests: roots straight from alloy-trie's `HashBuilder`.

use std::collections::BTreeMap;

use alloy_primitives::B256;
use alloy_trie::{HashBuilder, Nibbles};

/// The root of the trie holding exactly `leaves`, by `HashBuilder`.
pub fn oracle_root(leaves: &BTreeMap<B256, Vec<u8>>) -> B256 {
    let mut hb = HashBuilder::default();
    for (key, value) in leaves {
        hb.add_leaf(Nibbles::unpack(key), value);
    }
    hb.root()
}

/// A key whose first three nibbles are `n` and the rest zero: few distinct keys, long shared paths.
pub fn colliding_key(n: [u8; 3]) -> B256 {
    let mut key = B256::ZERO;
    key[0] = (n[0] << 4) | n[1];
    key[1] = n[2] << 4;
    key
}

use alloy_primitives::{keccak256, U256};
use alloy_trie::KECCAK_EMPTY;
use proptest::prelude::*;
use rollsim::trie::{Account, HashedPostState, HashedStorage};

/// Hashed keys from a small pool: some random-looking, some sharing long prefixes.
pub fn pool_key() -> impl Strategy<Value = B256> {
    prop_oneof![
        (0u64..24).prop_map(|i| keccak256(i.to_be_bytes())),
        any::<[u8; 3]>().prop_map(|n| colliding_key(n.map(|x| x % 4))),
    ]
}

pub fn account() -> impl Strategy<Value = Account> {
    (0u64..3, 0u64..1000, any::<bool>()).prop_map(|(nonce, balance, code)| Account {
        nonce,
        balance: U256::from(balance),
        code_hash: if code { keccak256(nonce.to_be_bytes()) } else { KECCAK_EMPTY },
    })
}

pub fn slot_value() -> impl Strategy<Value = U256> {
    prop_oneof![
        2 => Just(U256::ZERO),
        3 => (1u64..1000).prop_map(U256::from),
        1 => any::<[u8; 32]>().prop_map(U256::from_be_bytes),
    ]
}

pub fn hashed_storage() -> impl Strategy<Value = HashedStorage> {
    (proptest::bool::weighted(0.1), proptest::collection::btree_map(pool_key(), slot_value(), 0..8))
        .prop_map(|(wiped, slots)| HashedStorage { wiped, slots })
}

pub fn post_state() -> impl Strategy<Value = HashedPostState> {
    (
        proptest::collection::btree_map(pool_key(), proptest::option::weighted(0.8, account()), 0..10),
        proptest::collection::btree_map(pool_key(), hashed_storage(), 0..6),
    )
        .prop_map(|(accounts, storages)| HashedPostState { accounts, storages })
}

/// The state written out plainly: the model every state-trie root is checked against.
#[derive(Debug, Default, Clone)]
pub struct Model {
    pub accounts: BTreeMap<B256, Account>,
    pub storages: BTreeMap<B256, BTreeMap<B256, U256>>,
}

impl Model {
    pub fn apply(&mut self, update: &HashedPostState) {
        for (address, storage) in &update.storages {
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
                }
            }
        }
    }

    pub fn storage_root(&self, address: &B256) -> B256 {
        let slots = self.storages.get(address).cloned().unwrap_or_default();
        alloy_trie::root::storage_root_unsorted(slots)
    }

    /// The state root by alloy-trie's `state_root_unsorted`.
    pub fn root(&self) -> B256 {
        alloy_trie::root::state_root_unsorted(
            self.accounts.iter().map(|(k, a)| (*k, a.into_trie_account(self.storage_root(k)))),
        )
    }
}
