//! The sparse state trie against the full state trie (and the plain model): blocks of hashed state
//! updates, each revealed from multiproofs of the pre-block state and applied in two phases (the
//! second phase's proofs are stale with respect to the first phase's changes, as in the payload
//! processor). Deletions collapse branches; destroyed accounts drop their storage.

use crate::common::{pool_key, post_state, Model};
use alloy_primitives::{B256, U256};
use proptest::prelude::*;
use rollsim::trie::{
    HashedPostState, HashedStorage, MultiProofTargets, Nibbles, SparseStateTrie, StateTrie, StateTrieError,
    TrieError,
};

/// The part of `update` for the addresses `keep` selects.
fn part(update: &HashedPostState, keep: impl Fn(&B256) -> bool) -> HashedPostState {
    HashedPostState {
        accounts: update.accounts.iter().filter(|(a, _)| keep(a)).map(|(a, v)| (*a, *v)).collect(),
        storages: update.storages.iter().filter(|(a, _)| keep(a)).map(|(a, v)| (*a, v.clone())).collect(),
    }
}

/// Applies `update`; a removal whose surviving sibling only another phase's proof would have carried
/// hits a blinded sibling, which is fetched from the pre-block state (`apply` is idempotent: retry).
fn apply_fetching_blinded(sparse: &mut SparseStateTrie, update: &HashedPostState, pre: &StateTrie) {
    for _ in 0..64 {
        match sparse.apply(update) {
            Ok(()) => return,
            Err(StateTrieError { account, error: TrieError::BlindedSibling { path, .. } }) => {
                sparse.reveal_nodes(account, &pre.clone().node_proof(account, &path)).unwrap();
            }
            Err(other) => panic!("{other}"),
        }
    }
    panic!("blinded nodes keep coming");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn sparse_state_root_matches_state_trie(
        genesis in proptest::collection::vec(post_state(), 1..4),
        blocks in proptest::collection::vec(post_state(), 1..5),
    ) {
        let mut state = StateTrie::new();
        let mut model = Model::default();
        for update in &genesis {
            state.apply(update);
            model.apply(update);
        }
        let mut sparse = SparseStateTrie::new();
        for block in &blocks {
            let pre = state.clone();
            for phase in [part(block, |a| a[0] % 2 == 0), part(block, |a| a[0] % 2 == 1)] {
                let proof = pre.clone().multiproof(&phase.targets());
                sparse.reveal_multiproof(&proof).unwrap();
                apply_fetching_blinded(&mut sparse, &phase, &pre);
            }
            state.apply(block);
            model.apply(block);
            let root = sparse.root().unwrap();
            prop_assert_eq!(root, state.root());
            prop_assert_eq!(root, model.root());
        }
    }
}

#[test]
fn storage_update_without_reveal_is_blind() {
    let mut state = StateTrie::new();
    let address = B256::repeat_byte(1);
    let update = HashedPostState {
        accounts: [(address, Some(Default::default()))].into(),
        storages: Default::default(),
    };
    state.apply(&update);
    let mut sparse = SparseStateTrie::new();
    sparse.reveal_multiproof(&state.multiproof(&MultiProofTargets::new())).unwrap();
    let err = sparse.update_storage_slot(address, B256::ZERO, U256::from(1)).unwrap_err();
    assert_eq!((err.account, err.error), (Some(address), TrieError::Blind));
}

#[test]
fn destroyed_account_with_large_storage() {
    let mut state = StateTrie::new();
    let (address, other) = (B256::repeat_byte(1), B256::repeat_byte(2));
    let slots = (1..50u64).map(|i| (B256::with_last_byte(i as u8), U256::from(i))).collect();
    let genesis = HashedPostState {
        accounts: [(address, Some(Default::default())), (other, Some(Default::default()))].into(),
        storages: [(address, HashedStorage { wiped: false, slots })].into(),
    };
    state.apply(&genesis);
    // Destroy it: only the account is a target, its storage is dropped unrevealed.
    let block = HashedPostState { accounts: [(address, None)].into(), storages: Default::default() };
    let mut sparse = SparseStateTrie::new();
    sparse.reveal_multiproof(&state.multiproof(&block.targets())).unwrap();
    sparse.apply(&block).unwrap();
    state.apply(&block);
    assert_eq!(sparse.root().unwrap(), state.root());
}

proptest! {
    /// Proof nodes for the wrong account are rejected, not silently used.
    #[test]
    fn storage_proof_of_another_account_is_rejected(a in pool_key(), b in pool_key()) {
        prop_assume!(a != b);
        let mut state = StateTrie::new();
        let genesis = HashedPostState {
            accounts: [(a, Some(Default::default())), (b, Some(Default::default()))].into(),
            storages: [(b, HashedStorage { wiped: false, slots: [(a, U256::from(5))].into() })].into(),
        };
        state.apply(&genesis);
        let mut proof = state.multiproof(&[(a, Default::default()), (b, Default::default())].into());
        let b_storage = proof.storages[&b].clone();
        proof.storages.insert(a, b_storage);
        let mut sparse = SparseStateTrie::new();
        prop_assert!(sparse.reveal_multiproof(&proof).is_err());
    }
}

#[test]
fn empty_update_keeps_the_root() {
    // reth#14449: a block that changes nothing must still yield the (unchanged) root.
    let mut state = StateTrie::new();
    let genesis = HashedPostState {
        accounts: (0..5u8).map(|i| (B256::repeat_byte(i), Some(Default::default()))).collect(),
        storages: Default::default(),
    };
    state.apply(&genesis);
    let mut sparse = SparseStateTrie::new();
    sparse.reveal_multiproof(&state.multiproof(&MultiProofTargets::new())).unwrap();
    sparse.apply(&HashedPostState::default()).unwrap();
    assert_eq!(sparse.root().unwrap(), state.root());
}

#[test]
fn stale_storage_proof_after_destruction_is_skipped() {
    let mut state = StateTrie::new();
    let address = B256::repeat_byte(1);
    let slots = (1..20u64).map(|i| (B256::with_last_byte(i as u8), U256::from(i))).collect();
    let genesis = HashedPostState {
        accounts: [(address, Some(Default::default())), (B256::ZERO, Some(Default::default()))].into(),
        storages: [(address, HashedStorage { wiped: false, slots })].into(),
    };
    state.apply(&genesis);
    let proof = state.multiproof(&[(address, [B256::with_last_byte(3)].into())].into());
    let mut sparse = SparseStateTrie::new();
    sparse.reveal_multiproof(&proof).unwrap();
    let destroy = HashedPostState { accounts: [(address, None)].into(), storages: Default::default() };
    sparse.apply(&destroy).unwrap();
    // The same pre-block proof arrives again (another chunk of the block): nothing to reveal.
    sparse.reveal_multiproof(&proof).unwrap();
    state.apply(&destroy);
    assert_eq!(sparse.root().unwrap(), state.root());
}

#[test]
fn removals_proved_in_separate_chunks_recover_with_a_node_proof() {
    // One branch {y, z, w}: neither chunk's proof alone sees a collapse, so w is never revealed.
    let (y, z, w) = (B256::repeat_byte(0x11), B256::repeat_byte(0x22), B256::repeat_byte(0x33));
    let mut state = StateTrie::new();
    let accounts = [y, z, w].map(|a| (a, Some(Default::default())));
    state.apply(&HashedPostState { accounts: accounts.into(), storages: Default::default() });
    let pre = state.clone();
    let mut sparse = SparseStateTrie::new();
    sparse.reveal_multiproof(&pre.clone().multiproof(&[(z, Default::default())].into())).unwrap();
    sparse.remove_account(z).unwrap();
    sparse.reveal_multiproof(&pre.clone().multiproof(&[(y, Default::default())].into())).unwrap();
    let err = sparse.remove_account(y).unwrap_err();
    let TrieError::BlindedSibling { path, .. } = err.error else { panic!("{err}") };
    assert_eq!((err.account, path), (None, Nibbles::from_nibbles([3])));
    // The blinded sibling, fetched from the pre-block state, completes the collapse.
    sparse.reveal_nodes(None, &pre.clone().node_proof(None, &path)).unwrap();
    sparse.remove_account(y).unwrap();
    state.apply(&HashedPostState { accounts: [(y, None), (z, None)].into(), storages: Default::default() });
    assert_eq!(sparse.root().unwrap(), state.root());
}
