//! Payload processor benchmarks, native only (`RUSTFLAGS= cargo bench -p rollsim --bench payload`):
//! real tokio (2 workers) and a rayon pool of 2 threads.
//!
//! For blocks of 100 and 1,000 transactions over states of `PAYLOAD_BENCH_ACCOUNTS` accounts
//! (comma-separated; default 100k):
//! - `pipeline`: execution with the payload processor running alongside, until the root;
//! - `execute_then_full_root`: execution, then the post-state root recomputed in full (the
//!   sequential reference: one `HashBuilder` pass over every leaf);
//! - `execute_then_sparse_root`: execution, then the same work the pipeline does (one multiproof of
//!   everything touched, reveal, apply, root), serially: what overlapping buys on its own;
//! - `root_latency`: the pipeline's time from the last state update (the hook dropped) to the root.
//!
//! Transactions: transfers between existing accounts (a tenth to new ones), and storage writes to
//! a few contracts; every tenth reads slot 0 of a contract to pick the slot it writes.

// Benchmarks measure wall time; nothing here runs inside a simulation.
#![allow(clippy::disallowed_methods)]

/// The simulation build has no native backend: nothing to run.
#[cfg(madsim)]
fn main() {}

#[cfg(not(madsim))]
criterion::criterion_main!(native::benches);

#[cfg(not(madsim))]
mod native {
    use std::{
        hint::black_box,
        sync::Arc,
        time::{Duration, Instant},
    };

    use alloy_primitives::{keccak256, Address, U256};
    use criterion::{criterion_group, BatchSize, Criterion};
    use rollsim::{
        cancel::Cancel,
        execution::{execute_block, L2State, SimpleExecutor, Tx},
        payload::{prewarm_targets, PayloadConfig, PayloadProcessor, PreState, WorkloadExecutor},
        trie::{
            Account, HashedPostState, HashedStorage, MultiProofTargets, SparseStateTrie, StateTrie,
            KECCAK_EMPTY,
        },
    };

    const CONTRACTS: u64 = 16;
    const SLOTS_PER_CONTRACT: u64 = 1_000;

    fn address(i: u64) -> Address {
        Address::from_slice(&keccak256(i.to_be_bytes())[..20])
    }

    fn slot_key(slot: u64) -> alloy_primitives::B256 {
        keccak256(U256::from(slot).to_be_bytes::<32>())
    }

    /// `n` plain accounts and a few contracts with storage.
    fn state(n: u64) -> L2State {
        let mut update = HashedPostState::default();
        for i in 0..n + CONTRACTS {
            let code_hash = if i >= n { keccak256(i.to_be_bytes()) } else { KECCAK_EMPTY };
            let account = Account { nonce: i % 5, balance: U256::from(1_000_000 + i), code_hash };
            update.accounts.insert(keccak256(address(i)), Some(account));
            if i >= n {
                let slots = (0..SLOTS_PER_CONTRACT).map(|s| (slot_key(s), U256::from(s + 1))).collect();
                update.storages.insert(keccak256(address(i)), HashedStorage { wiped: false, slots });
            }
        }
        let mut trie = StateTrie::new();
        trie.apply(&update);
        L2State::new(trie)
    }

    /// A block of `txs` transactions over the state of `n` accounts (a fixed xorshift stream).
    fn block(n: u64, txs: usize) -> Arc<[Tx]> {
        let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ n ^ txs as u64;
        let mut next = move |bound: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % bound
        };
        (0..txs)
            .map(|i| {
                let from = address(next(n));
                let contract = address(n + next(CONTRACTS));
                match i % 10 {
                    0 => Tx::Append { from, contract },
                    1..=3 => Tx::Store {
                        from,
                        contract,
                        slot: U256::from(next(SLOTS_PER_CONTRACT * 2)),
                        value: U256::from(next(3)),
                    },
                    4 => Tx::Transfer {
                        from,
                        to: address(n + CONTRACTS + next(1 << 40)),
                        value: U256::from(1),
                    },
                    _ => Tx::Transfer { from, to: address(next(n)), value: U256::from(next(1_000)) },
                }
            })
            .collect()
    }

    /// Execution, then the serial equivalent of the pipeline's trie work.
    fn execute_then_sparse_root(pre: &PreState, txs: &[Tx]) -> alloy_primitives::B256 {
        let mut targets = MultiProofTargets::new();
        let outcome = execute_block(&SimpleExecutor, pre, txs, |changes| {
            for (address, slots) in prewarm_targets(changes) {
                targets.entry(address).or_default().extend(slots);
            }
        });
        let mut trie = SparseStateTrie::new();
        trie.reveal_multiproof(&pre.multiproof(&targets)).expect("proof of the pre-state");
        trie.apply(&outcome.state).expect("one multiproof covers every removal");
        trie.root().expect("revealed")
    }

    fn bench(c: &mut Criterion) {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let executor = runtime.block_on(async { WorkloadExecutor::native(2) });
        let processor = Arc::new(PayloadProcessor::new(executor, SimpleExecutor, PayloadConfig::default()));
        let sizes = std::env::var("PAYLOAD_BENCH_ACCOUNTS").unwrap_or_else(|_| "100000".into());
        for n in sizes.split(',').map(|s| s.trim().parse::<u64>().expect("account count")) {
            let mut state = state(n);
            state.root();
            let pre = Arc::new(PreState::new(state));
            for txs in [100, 1_000] {
                let block = block(n, txs);
                let mut group = c.benchmark_group(format!("payload/{n}_accounts/{txs}_txs"));
                group.sample_size(10);
                let expected = {
                    let mut post = pre.state().clone();
                    post.apply(&execute_block(&SimpleExecutor, &*pre, &block, |_| {}).state);
                    post.root()
                };
                assert_eq!(execute_then_sparse_root(&pre, &block), expected);
                group.bench_function("pipeline", |b| {
                    b.iter(|| {
                        let (processor, pre, block) = (processor.clone(), pre.clone(), block.clone());
                        let (_, root) = runtime
                            .block_on(async move {
                                processor.execute_block(pre, block, Arc::new(()), None, &Cancel::new()).await
                            })
                            .unwrap();
                        assert_eq!((root.state_root, root.fallback), (expected, None));
                    })
                });
                group.bench_function("execute_then_full_root", |b| {
                    b.iter_batched(
                        || pre.state().clone(),
                        |mut post| {
                            post.apply(&execute_block(&SimpleExecutor, &*pre, &block, |_| {}).state);
                            assert_eq!(post.root(), expected);
                            post
                        },
                        BatchSize::PerIteration,
                    )
                });
                group.bench_function("execute_then_sparse_root", |b| {
                    b.iter(|| assert_eq!(black_box(execute_then_sparse_root(&pre, &block)), expected))
                });
                group.bench_function("root_latency", |b| {
                    b.iter_custom(|iterations| {
                        let mut total = Duration::ZERO;
                        for _ in 0..iterations {
                            let (processor, pre, block) = (processor.clone(), pre.clone(), block.clone());
                            total += runtime.block_on(async move {
                                let mut handle =
                                    processor.spawn(pre.clone(), block.clone(), Arc::new(()), &Cancel::new());
                                let mut hook = handle.state_hook();
                                execute_block(&SimpleExecutor, &*pre, &block, |changes| {
                                    hook.on_state(changes)
                                });
                                let last_update = Instant::now();
                                drop(hook);
                                let root = handle.state_root().await.unwrap().state_root;
                                let latency = last_update.elapsed();
                                assert_eq!(root, expected);
                                latency
                            });
                        }
                        total
                    })
                });
                group.finish();
            }
        }
    }

    criterion_group!(benches, bench);
}
