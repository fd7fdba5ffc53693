//! The multiproof task's pieces on their own: the sequencer, target dedup, chunking, merging.

use std::{collections::BTreeMap, sync::Arc};

use alloy_primitives::{B256, U256};
use rollsim::{
    payload::{chunk_targets, FetchedTargets, KeySet, ProofSequencer, SparseTrieUpdate},
    trie::{Account, HashedPostState, HashedStorage, MultiProofTargets},
};

fn key(n: u8) -> B256 {
    B256::with_last_byte(n)
}

/// An update recognisable by the account it sets.
fn update(n: u8) -> SparseTrieUpdate {
    let mut update = SparseTrieUpdate::default();
    update.state.accounts.insert(key(n), Some(Account { nonce: n.into(), ..Default::default() }));
    update
}

fn sequencer(handed_out: u64) -> ProofSequencer {
    let mut sequencer = ProofSequencer::default();
    for expected in 0..handed_out {
        assert_eq!(sequencer.next_sequence(), expected);
    }
    sequencer
}

#[test]
fn sequencer_in_order() {
    let mut sequencer = sequencer(3);
    for n in 0..3 {
        assert_eq!(sequencer.add_proof(n, update(n as u8)), vec![update(n as u8)]);
        assert!(!sequencer.has_pending());
    }
}

#[test]
fn sequencer_out_of_order_releases_runs() {
    let mut sequencer = sequencer(4);
    assert_eq!(sequencer.add_proof(2, update(2)), vec![]);
    assert_eq!(sequencer.add_proof(1, update(1)), vec![]);
    assert!(sequencer.has_pending());
    assert_eq!(sequencer.add_proof(0, update(0)), vec![update(0), update(1), update(2)]);
    assert!(!sequencer.has_pending());
    assert_eq!(sequencer.add_proof(3, update(3)), vec![update(3)]);
}

#[test]
fn sequencer_waits_at_gaps() {
    let mut sequencer = sequencer(6);
    assert_eq!(sequencer.add_proof(0, update(0)), vec![update(0)]);
    assert_eq!(sequencer.add_proof(2, update(2)), vec![]);
    assert_eq!(sequencer.add_proof(4, update(4)), vec![]);
    assert_eq!(sequencer.add_proof(1, update(1)), vec![update(1), update(2)]);
    assert!(sequencer.has_pending(), "4 waits for 3");
    assert_eq!(sequencer.add_proof(5, update(5)), vec![]);
    assert_eq!(sequencer.add_proof(3, update(3)), vec![update(3), update(4), update(5)]);
}

#[test]
fn sequencer_duplicates() {
    let mut sequencer = sequencer(3);
    assert_eq!(sequencer.add_proof(1, update(1)), vec![]);
    // A duplicate of a pending result replaces it.
    assert_eq!(sequencer.add_proof(1, update(9)), vec![]);
    assert_eq!(sequencer.add_proof(0, update(0)), vec![update(0), update(9)]);
    // One already delivered is dropped.
    assert_eq!(sequencer.add_proof(0, update(7)), vec![]);
    assert!(!sequencer.has_pending());
}

#[test]
#[should_panic(expected = "never handed out")]
fn sequencer_rejects_unknown_sequence_numbers() {
    sequencer(1).add_proof(1, update(1));
}

fn targets(entries: &[(u8, &[u8])]) -> MultiProofTargets {
    entries.iter().map(|(a, slots)| (key(*a), slots.iter().map(|s| key(*s)).collect())).collect()
}

#[test]
fn dedup_is_per_account_and_slot() {
    let mut fetched = FetchedTargets::default();
    assert_eq!(fetched.take_new(targets(&[(1, &[10, 11]), (2, &[])])), targets(&[(1, &[10, 11]), (2, &[])]));
    // Account 1 again with one new slot (reth#12983: per slot, not per account); account 2 again
    // with nothing new disappears; account 3 is new.
    assert_eq!(
        fetched.take_new(targets(&[(1, &[11, 12]), (2, &[]), (3, &[])])),
        targets(&[(1, &[12]), (3, &[])])
    );
    assert_eq!(fetched.take_new(targets(&[(1, &[10, 11, 12]), (3, &[])])), targets(&[]));
}

#[test]
fn keys_revealed_by_earlier_blocks_are_not_requested() {
    let mut revealed = KeySet::default();
    revealed.extend(&targets(&[(1, &[10]), (2, &[])]));
    assert!(revealed.contains_account(&key(1)) && !revealed.contains_account(&key(3)));
    let mut fetched = FetchedTargets::new(Arc::new(revealed));
    // The preserved trie holds account 2 and slot 10 of account 1: only slot 11 and account 3
    // need proofs, and they are requested once.
    let wanted = targets(&[(1, &[10, 11]), (2, &[]), (3, &[])]);
    assert_eq!(fetched.take_new(wanted.clone()), targets(&[(1, &[11]), (3, &[])]));
    assert_eq!(fetched.take_new(wanted), targets(&[]));
}

#[test]
fn state_update_targets_are_what_was_not_fetched() {
    let mut fetched = FetchedTargets::default();
    fetched.take_new(targets(&[(1, &[10])]));
    let mut state = HashedPostState::default();
    state.accounts.insert(key(1), None);
    state.accounts.insert(key(2), Some(Account::default()));
    let slots = BTreeMap::from([(key(10), U256::ZERO), (key(11), U256::from(5))]);
    state.storages.insert(key(1), HashedStorage { wiped: false, slots });
    state.storages.insert(key(4), HashedStorage { wiped: true, slots: BTreeMap::new() });
    // Account 1 is fetched with slot 10 but not 11; account 2 and the wiped account 4 are new.
    assert_eq!(fetched.new_targets(&state), targets(&[(1, &[11]), (2, &[]), (4, &[])]));
    fetched.take_new(fetched.new_targets(&state));
    assert_eq!(fetched.new_targets(&state), targets(&[]));
}

#[test]
fn chunks_hold_ten_targets_in_order() {
    let slots: Vec<u8> = (0..15).collect();
    let all = targets(&[(1, &[]), (2, &slots), (3, &[]), (4, &[7])]);
    let chunks = chunk_targets(all.clone(), 10);
    let sizes: Vec<usize> = chunks.iter().map(|c| c.values().map(|slots| slots.len().max(1)).sum()).collect();
    assert_eq!(sizes, vec![10, 8]);
    assert_eq!(chunks[0], targets(&[(1, &[]), (2, &[0, 1, 2, 3, 4, 5, 6, 7, 8])]));
    // Together the chunks are the targets.
    let mut joined = MultiProofTargets::new();
    for chunk in chunks {
        for (address, slots) in chunk {
            joined.entry(address).or_default().extend(slots);
        }
    }
    assert_eq!(joined, all);
    assert_eq!(chunk_targets(MultiProofTargets::new(), 10), Vec::<MultiProofTargets>::new());
}

#[test]
fn merged_updates_apply_like_the_updates_in_order() {
    let slot = |n: u8, v: u64| (key(n), U256::from(v));
    let mut first = update(1);
    first
        .state
        .storages
        .insert(key(1), HashedStorage { wiped: false, slots: [slot(10, 1), slot(11, 1)].into() });
    let mut second = SparseTrieUpdate::default();
    second.state.accounts.insert(key(1), None);
    second.state.storages.insert(key(1), HashedStorage { wiped: true, slots: BTreeMap::new() });
    let mut third = update(1);
    third.state.storages.insert(key(1), HashedStorage { wiped: false, slots: [slot(12, 3)].into() });
    let mut merged = first;
    merged.extend(second);
    merged.extend(third.clone());
    // The wipe forgot slots 10 and 11; the account is back.
    assert_eq!(merged.state.accounts, third.state.accounts);
    assert_eq!(merged.state.storages[&key(1)], HashedStorage { wiped: true, slots: [slot(12, 3)].into() });
    assert!(!merged.is_empty());
    assert!(SparseTrieUpdate::default().is_empty());
}
