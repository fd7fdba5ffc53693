//! The pre-state's stored nodes answer exactly the proofs `StateTrie` computes with a full pass.

use crate::common::{address, random_block, random_state, rng, Shape};
use alloy_primitives::{keccak256, B256, U256};
use rand::Rng;
use rollsim::{
    execution::{execute_block, L2State, SimpleExecutor},
    payload::PreState,
    trie::{MultiProofTargets, Nibbles, StateTrie},
};

fn random_targets(rng: &mut impl Rng, shape: Shape) -> MultiProofTargets {
    let pool = shape.accounts + shape.contracts + shape.absent;
    (0..rng.gen_range(0..12))
        .map(|_| {
            let slots = (0..rng.gen_range(0..4))
                .map(|_| keccak256(U256::from(rng.gen_range(0..120u64)).to_be_bytes::<32>()))
                .collect();
            (keccak256(address(rng.gen_range(0..pool))), slots)
        })
        .collect()
}

#[test]
fn multiproofs_and_node_proofs_match_the_state_trie() {
    for seed in 0..64 {
        let shape =
            if seed % 8 == 0 { Shape { accounts: 1, contracts: 0, ..Shape::SMALL } } else { Shape::SMALL };
        let state = random_state(&mut rng(seed, "state"), shape);
        let mut reference: StateTrie = state.trie().clone();
        let pre = PreState::new(state);
        assert_eq!(pre.root(), reference.root());
        let mut draw = rng(seed, "targets");
        for _ in 0..8 {
            let targets = random_targets(&mut draw, shape);
            assert_eq!(pre.multiproof(&targets), reference.multiproof(&targets), "seed {seed}: {targets:?}");
            let (account, key) = targets.iter().next().map_or((None, B256::ZERO), |(a, s)| match s.first() {
                Some(slot) if draw.gen_bool(0.5) => (Some(*a), *slot),
                _ => (None, *a),
            });
            let path = Nibbles::unpack(key).slice(..draw.gen_range(0..4));
            assert_eq!(pre.node_proof(account, &path), reference.node_proof(account, &path), "seed {seed}");
        }
    }
}

#[test]
fn empty_state_proofs_match() {
    let mut reference = StateTrie::new();
    let pre = PreState::new(L2State::default());
    let targets: MultiProofTargets = [(B256::with_last_byte(1), [B256::with_last_byte(2)].into())].into();
    assert_eq!(pre.multiproof(&targets), reference.multiproof(&targets));
    assert_eq!(pre.node_proof(None, &Nibbles::new()), reference.node_proof(None, &Nibbles::new()));
}

/// Every node of both states, compared through proofs of every key of the address pool (all slots a
/// block can write), and a few blinded-node proofs.
fn assert_same_nodes(actual: &PreState, expected: &PreState, shape: Shape, context: &str) {
    assert_eq!(actual.root(), expected.root(), "{context}: root");
    let pool = shape.accounts + shape.contracts + shape.absent;
    let slots: std::collections::BTreeSet<B256> =
        (0..130u64).map(|slot| keccak256(U256::from(slot).to_be_bytes::<32>())).collect();
    let targets: MultiProofTargets = (0..pool).map(|i| (keccak256(address(i)), slots.clone())).collect();
    assert_eq!(actual.multiproof(&targets), expected.multiproof(&targets), "{context}: nodes");
    for (address, _) in targets.iter().take(8) {
        for len in 0..3 {
            let path = Nibbles::unpack(address).slice(..len);
            assert_eq!(
                actual.node_proof(None, &path),
                expected.node_proof(None, &path),
                "{context}: node proof"
            );
        }
    }
}

/// Advancing the stored nodes block by block gives the nodes a full rebuild of the post-block state
/// stores (and its root, the reference trie's); undoing every block gives the first state back.
#[test]
fn advancing_equals_rebuilding_and_undoing_restores() {
    for seed in 0..40 {
        let shape = Shape { txs: 30, ..Shape::SMALL };
        let state = random_state(&mut rng(seed, "state"), shape);
        let mut reference: StateTrie = state.trie().clone();
        let original = PreState::new(state.clone());
        let mut pre = PreState::new(state);
        let mut undos = Vec::new();
        for block in 0..4 {
            let txs = random_block(&mut rng(seed, &format!("block {block}")), shape);
            let outcome = execute_block(&SimpleExecutor, &pre, &txs, |_| {});
            undos.push(pre.undo(&outcome.state));
            let root = pre.advance(&outcome.state).expect("stored nodes agree with the state");
            reference.apply(&outcome.state);
            assert_eq!(root, reference.root(), "seed {seed} block {block}: root");
            let rebuilt = PreState::new(L2State::new(reference.clone()));
            assert_same_nodes(&pre, &rebuilt, shape, &format!("seed {seed} block {block}"));
        }
        for undo in undos.iter().rev() {
            pre.advance(undo).expect("stored nodes agree with the state");
        }
        assert_same_nodes(&pre, &original, shape, &format!("seed {seed} undone"));
    }
}
