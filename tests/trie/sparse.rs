//! The sparse trie against a `HashBuilder` oracle over the full leaf set, in reth's style: keys from
//! few random nibbles so paths collide, batches of updates then removals, the sparse trie revealed
//! only through proofs of the keys each batch touches.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::{colliding_key, oracle_root};
use alloy_primitives::{keccak256, Bytes, B256};
use alloy_trie::{
    nodes::{LeafNode, TrieNode},
    proof::ProofRetainer,
    HashBuilder, Nibbles, EMPTY_ROOT_HASH,
};
use proptest::prelude::*;
use rollsim::trie::{prove_leaves, SparseNode, SparseTrie, TrieError};

/// A batch: key to new value, `None` removing.
type Batch = BTreeMap<B256, Option<Vec<u8>>>;

fn key() -> impl Strategy<Value = B256> {
    any::<[u8; 3]>().prop_map(|n| colliding_key(n.map(|x| x % 16)))
}

/// Short values make inline nodes; long ones make hashed nodes.
fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![proptest::collection::vec(any::<u8>(), 1..4), proptest::collection::vec(any::<u8>(), 30..40)]
}

fn batches() -> impl Strategy<Value = Vec<Batch>> {
    let batch = proptest::collection::btree_map(key(), proptest::option::weighted(0.6, value()), 1..40);
    proptest::collection::vec(batch, 1..8)
}

/// The leaves the trie starts with: known to the sparse trie only by its root hash.
fn genesis() -> impl Strategy<Value = BTreeMap<B256, Vec<u8>>> {
    proptest::collection::btree_map(key(), value(), 0..300)
}

/// Applies a batch to the sparse trie: inserts first, then removals (as reth does).
fn apply(trie: &mut SparseTrie, batch: &Batch) -> Result<(), TrieError> {
    for (key, value) in batch {
        if let Some(value) = value {
            trie.update_leaf(Nibbles::unpack(key), value.clone())?;
        }
    }
    for (key, value) in batch {
        if value.is_none() {
            trie.remove_leaf(&Nibbles::unpack(key))?;
        }
    }
    Ok(())
}

/// `batch` plus the removal of every other existing key it does not touch (random keys are rarely
/// present, so removals of existing leaves, the ones that collapse branches, are added explicitly).
fn with_removals(batch: &Batch, leaves: &BTreeMap<B256, Vec<u8>>) -> Batch {
    let mut batch = batch.clone();
    for key in leaves.keys().step_by(2) {
        batch.entry(*key).or_insert(None);
    }
    batch
}

/// Applies a batch, revealing each blinded sibling a removal meets from `pre` and retrying (`apply` is
/// idempotent).
fn apply_fetching_blinded(trie: &mut SparseTrie, batch: &Batch, pre: &BTreeMap<B256, Vec<u8>>) {
    for _ in 0..64 {
        match apply(trie, batch) {
            Ok(()) => return,
            Err(TrieError::BlindedSibling { path, .. }) => {
                let key = pre.keys().find(|k| Nibbles::unpack(k).starts_with(&path)).unwrap();
                let proof = prove_leaves(pre, &BTreeSet::from([*key]));
                trie.revealed_mut().unwrap().reveal_proof_nodes(&proof.subtree).unwrap();
            }
            Err(other) => panic!("{other}"),
        }
    }
    panic!("blinded nodes keep coming");
}

fn apply_oracle(leaves: &mut BTreeMap<B256, Vec<u8>>, batch: &Batch) {
    for (key, value) in batch {
        match value {
            Some(value) => leaves.insert(*key, value.clone()),
            None => leaves.remove(key),
        };
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Starting blind at the root of a random trie and revealed only through proofs of each batch's
    /// keys, the sparse trie tracks the oracle root.
    #[test]
    fn sparse_trie_revealed_by_proofs_matches_hash_builder(genesis in genesis(), batches in batches()) {
        let mut leaves = genesis;
        let mut trie = SparseTrie::Blind;
        for batch in &batches {
            let batch = &with_removals(batch, &leaves);
            let targets: BTreeSet<B256> = batch.keys().copied().collect();
            let proof = prove_leaves(&leaves, &targets);
            prop_assert_eq!(proof.root, oracle_root(&leaves));
            trie.reveal_root(proof.root).reveal_proof_nodes(&proof.subtree).unwrap();
            apply(&mut trie, batch).unwrap();
            apply_oracle(&mut leaves, batch);
            prop_assert_eq!(trie.root().unwrap(), oracle_root(&leaves));
        }
    }

    /// Each batch proved in two chunks against the pre-batch leaves, applied chunk after chunk (the
    /// payload processor's pattern): a collapse whose surviving sibling no chunk's proof carried is a
    /// `BlindedSibling`; revealing that node (proved from the pre-batch leaves) and retrying gives the
    /// oracle root, never a wrong one.
    #[test]
    fn chunked_batches_fetch_blinded_siblings(genesis in genesis(), batches in batches()) {
        let mut leaves = genesis;
        let mut trie = SparseTrie::Blind;
        for batch in &batches {
            let batch = &with_removals(batch, &leaves);
            let pre = leaves.clone();
            for parity in [0, 1] {
                let chunk: Batch = batch.iter().enumerate().filter(|(i, _)| i % 2 == parity)
                    .map(|(_, (k, v))| (*k, v.clone())).collect();
                let proof = prove_leaves(&pre, &chunk.keys().copied().collect());
                trie.reveal_root(proof.root).reveal_proof_nodes(&proof.subtree).unwrap();
                apply_fetching_blinded(&mut trie, &chunk, &pre);
            }
            apply_oracle(&mut leaves, batch);
            prop_assert_eq!(trie.root().unwrap(), oracle_root(&leaves));
        }
    }

    /// Fully revealed from the empty trie: after every batch, and after deleting half the keys.
    #[test]
    fn sparse_trie_from_empty_matches_hash_builder(batches in batches()) {
        let mut leaves = BTreeMap::new();
        let mut trie = SparseTrie::revealed_empty();
        for batch in &batches {
            apply(&mut trie, batch).unwrap();
            apply_oracle(&mut leaves, batch);
            prop_assert_eq!(trie.root().unwrap(), oracle_root(&leaves));
            let half: Batch = leaves.keys().step_by(2).map(|k| (*k, None)).collect();
            apply(&mut trie, &half).unwrap();
            apply_oracle(&mut leaves, &half);
            prop_assert_eq!(trie.root().unwrap(), oracle_root(&leaves));
        }
    }

    /// Setting leaves to the values they hold writes nothing: a batch mixing such updates with real
    /// ones gives the same root and the same changed nodes (what a store writes) as the real ones
    /// alone.
    #[test]
    fn same_value_updates_change_no_node(genesis in genesis(), batch in batches(), keep in any::<u64>()) {
        let batch = &batch[0];
        let build = || {
            let mut trie = SparseTrie::revealed_empty();
            for (key, value) in &genesis {
                trie.update_leaf(Nibbles::unpack(*key), value.clone()).unwrap();
            }
            trie.revealed_mut().unwrap().take_changes().unwrap();
            trie
        };
        // Some existing leaves set again to their own values, besides the batch's inserts.
        let same: Batch = genesis.iter().enumerate().filter(|(i, _)| keep >> (i % 64) & 1 == 1)
            .map(|(_, (k, v))| (*k, Some(v.clone()))).collect();
        let real: Batch = batch.iter().filter(|(k, v)| v.is_some() && !same.contains_key(*k))
            .map(|(k, v)| (*k, v.clone())).collect();
        let mut mixed = same.clone();
        mixed.extend(real.clone());
        let (mut with_same, mut without) = (build(), build());
        apply(&mut with_same, &mixed).unwrap();
        apply(&mut without, &real).unwrap();
        let changes = |trie: &mut SparseTrie| {
            let mut changes = trie.revealed_mut().unwrap().take_changes().unwrap();
            changes.updated.sort();
            changes
        };
        prop_assert_eq!(changes(&mut with_same), changes(&mut without));
    }

    /// Random bytes as proof nodes never panic; where they hash right they are checked for form.
    #[test]
    fn random_proof_nodes_are_errors_not_panics(
        nodes in proptest::collection::vec((proptest::collection::vec(0u8..16, 0..6), proptest::collection::vec(any::<u8>(), 0..120)), 1..8),
    ) {
        for (path, bytes) in &nodes {
            let path = Nibbles::from_nibbles(path);
            let bytes = Bytes::copy_from_slice(bytes);
            // Anchored so the root hash matches: the node's form is all that is checked.
            let mut trie = SparseTrie::Blind;
            let revealed = trie.reveal_root(keccak256(&bytes));
            let _ = revealed.reveal_proof_nodes([(&Nibbles::new(), &bytes), (&path, &bytes)]);
            let _ = trie.root();
            let _ = trie.update_leaf(Nibbles::unpack(B256::ZERO), vec![1]);
            let _ = trie.remove_leaf(&Nibbles::unpack(B256::repeat_byte(0x11)));
            let _ = trie.root();
        }
    }

    /// Flipping any byte of a proof node is rejected when revealed.
    #[test]
    fn tampered_proof_nodes_are_rejected(
        n in 2usize..40, which in any::<prop::sample::Index>(), at in any::<prop::sample::Index>(), flip in 1u8..,
    ) {
        let leaves: BTreeMap<B256, Vec<u8>> =
            (0..n as u64).map(|i| (keccak256(i.to_be_bytes()), vec![i as u8 + 1; 33])).collect();
        let targets: BTreeSet<B256> = leaves.keys().take(3).copied().collect();
        let mut proof = prove_leaves(&leaves, &targets);
        let path = *which.get(&proof.subtree.keys().copied().collect::<Vec<_>>());
        let mut node = proof.subtree[&path].to_vec();
        let i = at.index(node.len());
        node[i] ^= flip;
        proof.subtree.insert(path, node.into());
        let mut trie = SparseTrie::Blind;
        let result = trie.reveal_root(proof.root).reveal_proof_nodes(&proof.subtree);
        prop_assert!(result.is_err(), "tampered node at {:?} accepted", path);
    }
}

/// Leaves with 33-byte values (hashed nodes): `a` alone under nibble 1, `b` and `c` under nibble 2.
fn three_leaves() -> (B256, B256, B256, BTreeMap<B256, Vec<u8>>) {
    let (a, b, c) = (colliding_key([1, 0, 0]), colliding_key([2, 1, 0]), colliding_key([2, 2, 0]));
    let leaves = [a, b, c].into_iter().map(|k| (k, vec![7; 33])).collect();
    (a, b, c, leaves)
}

/// Reveals only the nodes on the paths to `targets` (no siblings), as a plain retainer gives them.
fn reveal_paths_only(leaves: &BTreeMap<B256, Vec<u8>>, targets: &[B256]) -> SparseTrie {
    let retainer = ProofRetainer::new(targets.iter().map(Nibbles::unpack).collect());
    let mut hb = HashBuilder::default().with_proof_retainer(retainer);
    for (key, value) in leaves {
        hb.add_leaf(Nibbles::unpack(key), value);
    }
    let root = hb.root();
    let nodes: BTreeMap<_, _> = hb.take_proof_nodes().into_nodes_sorted().into_iter().collect();
    let mut trie = SparseTrie::Blind;
    trie.reveal_root(root).reveal_proof_nodes(&nodes).unwrap();
    trie
}

#[test]
fn removal_with_blinded_sibling_is_an_error_and_changes_nothing() {
    let (a, _, _, mut leaves) = three_leaves();
    let mut trie = reveal_paths_only(&leaves, &[a]);
    let before = trie.clone();
    let sibling = Nibbles::from_nibbles([2]);
    let Some(SparseNode::Hash(hash)) = trie.as_revealed().unwrap().node(&sibling).cloned() else {
        panic!("sibling should be blinded");
    };
    let err = trie.remove_leaf(&Nibbles::unpack(a)).unwrap_err();
    assert_eq!(err, TrieError::BlindedSibling { path: sibling, hash });
    assert_eq!(trie, before);
    assert_eq!(trie.root().unwrap(), oracle_root(&leaves));

    // With the sibling revealed (what a multiproof carries) the collapse goes through.
    let proof = prove_leaves(&leaves, &BTreeSet::from([a]));
    trie.revealed_mut().unwrap().reveal_proof_nodes(&proof.subtree).unwrap();
    trie.remove_leaf(&Nibbles::unpack(a)).unwrap();
    leaves.remove(&a);
    assert_eq!(trie.root().unwrap(), oracle_root(&leaves));
}

#[test]
fn removing_several_children_of_one_branch_in_one_update() {
    let keys: Vec<B256> = (0..4).map(|i| colliding_key([3, i, 0])).collect();
    let mut leaves: BTreeMap<B256, Vec<u8>> = keys.iter().map(|k| (*k, vec![9; 40])).collect();
    leaves.insert(colliding_key([5, 0, 0]), vec![1; 40]);
    let targets: BTreeSet<B256> = keys[..3].iter().copied().collect();
    let proof = prove_leaves(&leaves, &targets);
    let mut trie = SparseTrie::Blind;
    trie.reveal_root(proof.root).reveal_proof_nodes(&proof.subtree).unwrap();
    for key in &targets {
        trie.remove_leaf(&Nibbles::unpack(key)).unwrap();
        leaves.remove(key);
    }
    assert_eq!(trie.root().unwrap(), oracle_root(&leaves));
}

#[test]
fn extension_split_with_blinded_child() {
    // Two keys under one long extension; a third parts from it inside the extension's key.
    let (a, b) = (colliding_key([4, 4, 1]), colliding_key([4, 4, 2]));
    let mut leaves: BTreeMap<B256, Vec<u8>> = [(a, vec![1; 40]), (b, vec![2; 40])].into();
    let new = colliding_key([4, 5, 0]);
    let proof = prove_leaves(&leaves, &BTreeSet::from([new]));
    let mut trie = SparseTrie::Blind;
    let revealed = trie.reveal_root(proof.root);
    // Only the root extension is needed: the branch below it stays blinded.
    revealed.reveal_proof_nodes(proof.subtree.range(..=Nibbles::new())).unwrap();
    assert!(matches!(revealed.node(&Nibbles::new()), Some(SparseNode::Extension { .. })));
    trie.update_leaf(Nibbles::unpack(new), vec![3; 40]).unwrap();
    leaves.insert(new, vec![3; 40]);
    assert_eq!(trie.root().unwrap(), oracle_root(&leaves));
}

#[test]
fn update_below_blinded_node_is_an_error() {
    let (a, b, _, leaves) = three_leaves();
    let mut trie = reveal_paths_only(&leaves, &[a]);
    let err = trie.update_leaf(Nibbles::unpack(b), vec![1]).unwrap_err();
    assert!(matches!(err, TrieError::BlindedNode { path, .. } if path == Nibbles::from_nibbles([2])));
    assert!(matches!(trie.remove_leaf(&Nibbles::unpack(b)), Err(TrieError::BlindedNode { .. })));
}

#[test]
fn conflicting_reveal_is_an_error() {
    let (a, _, _, leaves) = three_leaves();
    let proof = prove_leaves(&leaves, &BTreeSet::from([a]));
    let mut trie = SparseTrie::Blind;
    let revealed = trie.reveal_root(proof.root);
    revealed.reveal_proof_nodes(&proof.subtree).unwrap();
    // The same nodes again are fine; a different node at a revealed, untouched path is not.
    revealed.reveal_proof_nodes(&proof.subtree).unwrap();
    let other = TrieNode::Leaf(LeafNode::new(Nibbles::from_nibbles([1]), vec![1]));
    let err = revealed.reveal_node(Nibbles::new(), other).unwrap_err();
    assert_eq!(err, TrieError::ConflictingReveal { path: Nibbles::new() });
}

#[test]
fn blind_and_empty_tries() {
    let mut blind = SparseTrie::Blind;
    assert_eq!(blind.root(), Err(TrieError::Blind));
    assert_eq!(blind.update_leaf(Nibbles::unpack(B256::ZERO), vec![1]), Err(TrieError::Blind));
    // A trie revealed at the empty root with no updates (reth#14449) has the empty root.
    let mut trie = SparseTrie::Blind;
    trie.reveal_root(EMPTY_ROOT_HASH);
    assert_eq!(trie.root().unwrap(), EMPTY_ROOT_HASH);
    trie.remove_leaf(&Nibbles::unpack(B256::ZERO)).unwrap();
    assert_eq!(trie.root().unwrap(), EMPTY_ROOT_HASH);
}

#[test]
fn wipe_forgets_everything() {
    let (_, _, _, leaves) = three_leaves();
    let mut trie = SparseTrie::revealed_empty();
    for (key, value) in &leaves {
        trie.update_leaf(Nibbles::unpack(key), value.clone()).unwrap();
    }
    assert_eq!(trie.root().unwrap(), oracle_root(&leaves));
    trie.revealed_mut().unwrap().wipe();
    assert_eq!(trie.root().unwrap(), EMPTY_ROOT_HASH);
    trie.update_leaf(Nibbles::unpack(B256::ZERO), vec![5; 40]).unwrap();
    assert_eq!(trie.root().unwrap(), oracle_root(&[(B256::ZERO, vec![5; 40])].into()));
}
