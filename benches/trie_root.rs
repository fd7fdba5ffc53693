//! Trie root benchmarks (run natively: `RUSTFLAGS= cargo bench -p rollsim --bench trie_root`).
//!
//! - `full_root/*`: the state root of n accounts, alloy-trie's `HashBuilder` (`state_root`) against
//!   `StateTrie::root` (the same pass over its sorted leaves) and a sparse trie built leaf by leaf.
//! - `update_1k/*`: 1,000 changed accounts in a trie of `TRIE_BENCH_ACCOUNTS` (default 1M):
//!   a full recompute, the sparse state trie already revealed, and reveal plus update.

use std::hint::black_box;

use alloy_primitives::{keccak256, B256, U256};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use rollsim::trie::{
    Account, HashedPostState, MultiProofTargets, Nibbles, SparseStateTrie, SparseTrie, StateTrie,
    EMPTY_ROOT_HASH, KECCAK_EMPTY,
};

fn account(i: u64) -> Account {
    Account { nonce: i % 7, balance: U256::from(i), code_hash: KECCAK_EMPTY }
}

fn accounts(n: u64) -> Vec<(B256, Account)> {
    let mut accounts: Vec<_> = (0..n).map(|i| (keccak256(i.to_be_bytes()), account(i))).collect();
    accounts.sort_unstable_by_key(|(k, _)| *k);
    accounts
}

fn state(accounts: &[(B256, Account)]) -> StateTrie {
    let mut state = StateTrie::new();
    let update = HashedPostState {
        accounts: accounts.iter().map(|(k, a)| (*k, Some(*a))).collect(),
        storages: Default::default(),
    };
    state.apply(&update);
    state
}

fn full_root(c: &mut Criterion) {
    let mut group = c.benchmark_group("full_root");
    group.sample_size(10);
    let max = std::env::var("TRIE_BENCH_ACCOUNTS").map_or(1_000_000, |n| n.parse().unwrap());
    for n in [1_000u64, 10_000, 100_000, 1_000_000].into_iter().filter(|n| *n <= max) {
        let accounts = accounts(n);
        group.bench_function(format!("hash_builder/{n}"), |b| {
            b.iter(|| {
                alloy_trie::root::state_root(
                    accounts.iter().map(|(k, a)| (*k, a.into_trie_account(EMPTY_ROOT_HASH))),
                )
            })
        });
        let mut state = state(&accounts);
        group.bench_function(format!("state_trie/{n}"), |b| b.iter(|| black_box(state.root())));
        let leaves: Vec<_> = accounts
            .iter()
            .map(|(k, a)| (Nibbles::unpack(k), alloy_rlp::encode(a.into_trie_account(EMPTY_ROOT_HASH))))
            .collect();
        group.bench_function(format!("sparse_from_empty/{n}"), |b| {
            b.iter(|| {
                let mut trie = SparseTrie::revealed_empty();
                for (key, value) in &leaves {
                    trie.update_leaf(*key, value.clone()).unwrap();
                }
                black_box(trie.root().unwrap())
            })
        });
    }
    group.finish();
}

fn update_1k(c: &mut Criterion) {
    let n = std::env::var("TRIE_BENCH_ACCOUNTS").map_or(1_000_000, |n| n.parse().unwrap());
    let accounts = accounts(n);
    let mut state = state(&accounts);
    // 1,000 accounts spread over the key space get a new balance.
    let step = accounts.len() / 1_000;
    let update = HashedPostState {
        accounts: accounts
            .iter()
            .step_by(step)
            .take(1_000)
            .map(|(k, a)| (*k, Some(Account { balance: a.balance + U256::from(1), ..*a })))
            .collect(),
        storages: Default::default(),
    };
    let targets: MultiProofTargets = update.accounts.keys().map(|k| (*k, Default::default())).collect();
    let proof = state.multiproof(&targets);
    let mut revealed = SparseStateTrie::new();
    revealed.reveal_multiproof(&proof).unwrap();
    revealed.root().unwrap();
    state.apply(&update);
    let expected = state.root();

    let mut group = c.benchmark_group(format!("update_1k/{n}"));
    group.sample_size(10);
    group.bench_function("full_recompute", |b| b.iter(|| black_box(state.root())));
    group.bench_function("sparse_revealed", |b| {
        b.iter_batched(
            || revealed.clone(),
            |mut trie| {
                trie.apply(&update).unwrap();
                let root = trie.root().unwrap();
                assert_eq!(root, expected);
                trie
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("sparse_reveal_and_update", |b| {
        b.iter(|| {
            let mut trie = SparseStateTrie::new();
            trie.reveal_multiproof(&proof).unwrap();
            trie.apply(&update).unwrap();
            let root = trie.root().unwrap();
            assert_eq!(root, expected);
            trie
        })
    });
    group.finish();
}

criterion_group!(benches, full_root, update_1k);
criterion_main!(benches);
