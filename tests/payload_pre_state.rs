//! The pre-state's stored nodes answer exactly the proofs `StateTrie` computes with a full pass.

mod payload_common;

use alloy_primitives::{keccak256, B256, U256};
use payload_common::{address, random_state, rng, Shape};
use rand::Rng;
use rollsim::{
    execution::L2State,
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
