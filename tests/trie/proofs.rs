//! `StateTrie` multiproofs against `alloy_trie::proof::verify_proof`: every target account and slot,
//! present or absent, verifies against the model's roots; a tampered node fails; and every branch on
//! a target path that removals could collapse comes with all its hashed children.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::{pool_key, post_state, Model};
use alloy_primitives::{Bytes, B256};
use alloy_rlp::Decodable;
use alloy_trie::{nodes::TrieNode, proof::verify_proof, Nibbles};
use proptest::prelude::*;
use rollsim::trie::{MultiProofTargets, StateTrie};

fn targets() -> impl Strategy<Value = MultiProofTargets> {
    proptest::collection::btree_map(pool_key(), proptest::collection::btree_set(pool_key(), 0..4), 1..8)
}

/// Every branch on a target's path that removing targets could leave with one child (all but at
/// most one child hold only target keys) comes with all its hashed children.
fn assert_siblings(subtree: &BTreeMap<Nibbles, Bytes>, targets: &BTreeSet<B256>, keys: &BTreeSet<B256>) {
    let only_targets = |prefix: &Nibbles| {
        keys.iter().filter(|k| Nibbles::unpack(k).starts_with(prefix)).all(|k| targets.contains(k))
    };
    for (path, node) in subtree {
        let on_path = targets.iter().any(|t| Nibbles::unpack(t).starts_with(path));
        let Ok(TrieNode::Branch(branch)) = TrieNode::decode(&mut &node[..]) else { continue };
        let children: Vec<Nibbles> = branch
            .state_mask
            .iter()
            .map(|n| {
                let mut child = *path;
                child.push(n);
                child
            })
            .collect();
        let removable = children.iter().filter(|c| only_targets(c)).count();
        if !on_path || removable + 1 < children.len() {
            continue;
        }
        for (child_path, child) in children.iter().zip(&branch.stack) {
            assert!(!child.is_hash() || subtree.contains_key(child_path), "missing child {child_path:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn multiproofs_verify_and_tampering_fails(
        updates in proptest::collection::vec(post_state(), 1..5),
        targets in targets(),
        tamper in any::<(prop::sample::Index, prop::sample::Index, u8)>(),
    ) {
        let mut state = StateTrie::new();
        let mut model = Model::default();
        for update in &updates {
            state.apply(update);
            model.apply(update);
        }
        let proof = state.multiproof(&targets);
        prop_assert_eq!(proof.root, model.root());
        assert_siblings(&proof.account_subtree, &targets.keys().copied().collect(), &model.accounts.keys().copied().collect());
        for (address, slots) in &targets {
            let expected = model.accounts.get(address)
                .map(|a| alloy_rlp::encode(a.into_trie_account(model.storage_root(address))));
            let nodes = proof.account_proof(*address);
            prop_assert_eq!(verify_proof(proof.root, Nibbles::unpack(address), expected.clone(), &nodes), Ok(()));

            let storage = &proof.storages[address];
            prop_assert_eq!(storage.root, model.storage_root(address));
            let keys = model.storages.get(address).map(|s| s.keys().copied().collect()).unwrap_or_default();
            assert_siblings(&storage.subtree, slots, &keys);
            for slot in slots {
                let value = model.storages.get(address).and_then(|s| s.get(slot));
                let expected = value.map(|v| alloy_rlp::encode_fixed_size(v).to_vec());
                let nodes = proof.storage_proof(*address, *slot).unwrap();
                prop_assert_eq!(verify_proof(storage.root, Nibbles::unpack(slot), expected, &nodes), Ok(()));
            }

            // Any flipped byte in any node of the path breaks the proof.
            let mut nodes = nodes;
            let (which, at, flip) = tamper;
            let i = which.index(nodes.len());
            let mut node = nodes[i].to_vec();
            let j = at.index(node.len());
            node[j] ^= flip.max(1);
            nodes[i] = node.into();
            prop_assert!(verify_proof(proof.root, Nibbles::unpack(address), expected, &nodes).is_err());
        }
    }
}
