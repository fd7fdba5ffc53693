//! The payload processor in the simulation, over many seeds: each seed draws a state, a block and
//! the simulated costs of every job, so each explores another interleaving of prewarm, execution,
//! proof and trie work. The oracle is the sequential root: the pre-state with the block's changes
//! applied, recomputed in full with `HashBuilder` (`StateTrie::root`).
#![cfg(madsim)]

use std::{
    ops::Range,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use crate::common::{
    address, case, executor, processor, random_block, random_state, rng, run_block, simulate, Case, Faults,
    Shape,
};
use alloy_primitives::U256;
use rollsim::{
    cancel::Cancel,
    execution::{execute_block, L2State, SimpleExecutor, Tx, TxState},
    payload::{
        BlockExecutor, Fallback, Pace, PayloadConfig, PayloadError, PayloadProcessor, PreState, StateHook,
        Visit, SMALL_BLOCK_TX_THRESHOLD,
    },
    trie::{StateTrie, EMPTY_ROOT_HASH},
};

const SEEDS: u64 = 48;

#[test]
fn pipeline_root_matches_sequential_root() {
    let (mut out_of_order, mut merged_batches, mut empty_proofs, mut queued) = (0, 0, 0, 0);
    for seed in 0..SEEDS {
        let case = case(seed, Shape::SMALL);
        let (result, fallbacks) = simulate(seed, {
            let case =
                Case { pre_state: case.pre_state.clone(), txs: case.txs.clone(), expected: case.expected };
            async move { run_block(seed, &case, Faults::default()).await }
        });
        let (_, root) = result.expect("no faults, no error");
        assert_eq!(root.fallback, None, "seed {seed}: the task itself got it right");
        assert_eq!(fallbacks, 0);
        assert_eq!(root.state_root, case.expected, "seed {seed}");
        let task = root.task.expect("task outcome");
        out_of_order += task.multiproof.out_of_order;
        merged_batches += task.sparse_trie.updates - task.sparse_trie.batches;
        empty_proofs += task.multiproof.empty_proofs;
        queued += task.multiproof.queued;
    }
    // The seeds did explore what they are meant to.
    assert!(out_of_order > 0, "some proofs completed out of order");
    assert!(merged_batches > 0, "some updates queued up and were applied as one batch");
    assert!(empty_proofs > 0, "some state updates had all their proofs prefetched");
    assert!(queued > 0, "some proof jobs waited for the concurrency limit");
}

#[test]
fn larger_blocks_match_sequential_root() {
    let shape = Shape { accounts: 400, contracts: 20, absent: 100, slots_per_contract: 40, txs: 300 };
    for seed in 0..6 {
        let case = case(seed, shape);
        let expected = case.expected;
        let (result, _) = simulate(seed, async move { run_block(seed, &case, Faults::default()).await });
        let (_, root) = result.unwrap();
        assert_eq!((root.state_root, root.fallback), (expected, None), "seed {seed}");
    }
}

#[test]
fn failing_proof_jobs_are_errors_and_fall_back_never_wrong_roots() {
    for seed in 0..SEEDS {
        let case = case(seed, Shape::SMALL);
        let expected = case.expected;
        // The first 4 jobs start at once (limit 4); later requests may merge into fewer jobs.
        let failing = rng(seed, "failing").next_u64_below(4);
        let faults = Faults { failing_proofs: [failing].into(), ..Default::default() };
        // The task alone: an error, not a root.
        let task = simulate(seed, {
            let (pre_state, txs, faults) = (case.pre_state.clone(), case.txs.clone(), faults.clone());
            async move {
                let mut handle =
                    processor(seed).spawn(pre_state.clone(), txs.clone(), Arc::new(faults), &Cancel::new());
                let mut hook = handle.state_hook();
                execute_block(&SimpleExecutor, &*pre_state, &txs, |changes| hook.on_state(changes));
                drop(hook);
                handle.state_root().await
            }
        });
        assert!(matches!(task, Err(PayloadError::ProofCalculation { .. })), "seed {seed}: {task:?}");
        // Through the block API: the sequential fallback, counted.
        let (result, fallbacks) = simulate(seed, async move { run_block(seed, &case, faults).await });
        let (_, root) = result.unwrap();
        assert_eq!(root.state_root, expected, "seed {seed}");
        assert!(
            matches!(root.fallback, Some(Fallback::TaskFailed(PayloadError::ProofCalculation { .. }))),
            "seed {seed}: {:?}",
            root.fallback
        );
        assert_eq!(fallbacks, 1);
    }
}

trait Below {
    fn next_u64_below(&mut self, bound: u64) -> u64;
}

impl<R: rand::Rng> Below for R {
    fn next_u64_below(&mut self, bound: u64) -> u64 {
        self.gen_range(0..bound)
    }
}

#[test]
fn delayed_proofs_arrive_out_of_order_and_the_root_is_right() {
    for seed in 0..SEEDS {
        let case = case(seed, Shape::SMALL);
        let expected = case.expected;
        let mut draw = rng(seed, "delays");
        let delayed_proofs = (0..4)
            .map(|_| (draw.next_u64_below(12), Duration::from_millis(1 + draw.next_u64_below(20))))
            .collect();
        let faults = Faults { delayed_proofs, ..Default::default() };
        let (result, _) = simulate(seed, async move { run_block(seed, &case, faults).await });
        let (_, root) = result.unwrap();
        assert_eq!((root.state_root, &root.fallback), (expected, &None), "seed {seed}");
        assert!(root.task.unwrap().multiproof.out_of_order > 0, "seed {seed}: a delayed proof was overtaken");
    }
}

#[test]
fn cancellation_mid_block_stops_every_task() {
    for seed in 0..SEEDS {
        let case = case(seed, Shape::SMALL);
        let cancel_before_tx = Some(rng(seed, "cancel").next_u64_below(Shape::SMALL.txs as u64) as usize);
        let faults = Faults { cancel_before_tx, ..Default::default() };
        let (result, fallbacks) = simulate(seed, async move {
            let outcome = run_block(seed, &case, faults).await;
            // Whatever is still running must stop: the runtime ends only when this future does,
            // so let the tasks run a while and check nothing panicked meanwhile.
            madsim::time::sleep(Duration::from_secs(1)).await;
            outcome
        });
        assert_eq!(result.unwrap_err(), PayloadError::Cancelled, "seed {seed}");
        assert_eq!(fallbacks, 0, "a cancelled block needs no root");
    }
    // Cancelled after the hook is dropped, while proofs are in flight: the root is an error.
    let case = case(1, Shape::SMALL);
    let result = simulate(1, async move {
        let mut handle =
            processor(1).spawn(case.pre_state.clone(), case.txs.clone(), Arc::new(()), &Cancel::new());
        let mut hook = handle.state_hook();
        execute_block(&SimpleExecutor, &*case.pre_state, &case.txs, |changes| hook.on_state(changes));
        drop(hook);
        handle.cancel();
        handle.state_root().await
    });
    assert_eq!(result, Err(PayloadError::Cancelled));
}

#[test]
fn all_empty_updates_keep_the_pre_state_root() {
    for (seed, shape) in [(3, Shape::SMALL), (4, Shape { accounts: 0, contracts: 0, ..Shape::SMALL })] {
        let mut state = random_state(&mut rng(seed, "state"), shape);
        let root = state.root();
        assert_eq!(root == EMPTY_ROOT_HASH, shape.accounts == 0);
        let pre_state = Arc::new(PreState::new(state));
        for updates in [0, 3] {
            // No update at all, or only empty ones: the trie never sees a proof (reth#14449).
            let pre_state = pre_state.clone();
            let result = simulate(seed, async move {
                let mut handle = processor(seed).spawn(pre_state, Arc::new([]), Arc::new(()), &Cancel::new());
                let mut hook = handle.state_hook();
                for _ in 0..updates {
                    hook.on_state(&TxState::default());
                }
                drop(hook);
                handle.state_root().await
            });
            let outcome = result.unwrap();
            assert_eq!(outcome.state_root, root, "seed {seed}, {updates} updates");
            assert_eq!(outcome.multiproof.proofs_requested, 0);
            assert_eq!(outcome.multiproof.empty_proofs, updates);
        }
    }
}

#[test]
fn the_reference_root_is_alloy_tries_root() {
    // The reference the tests compare against, checked once against alloy-trie's own root functions.
    let case = case(5, Shape::SMALL);
    let mut post: L2State = case.pre_state.state().clone();
    post.apply(&execute_block(&SimpleExecutor, case.pre_state.state(), &case.txs, |_| {}).state);
    let trie: &StateTrie = post.trie();
    let accounts = trie.accounts().iter().map(|(address, account)| {
        let storage = trie.storage(address).cloned().unwrap_or_default();
        (*address, account.into_trie_account(alloy_trie::root::storage_root_unsorted(storage)))
    });
    assert_eq!(alloy_trie::root::state_root_unsorted(accounts), case.expected);
}

#[test]
fn removals_proved_in_separate_chunks_fetch_blinded_siblings() {
    // Chunks of one target: deleting two children of a three-child branch in two chunks leaves
    // the branch to collapse into a child neither proof carried (reth#12962/#17571).
    let shape = Shape { accounts: 30, contracts: 2, absent: 0, slots_per_contract: 60, txs: 0 };
    let mut fetches = 0;
    for seed in 0..16 {
        let mut state = random_state(&mut rng(seed, "state"), shape);
        let mut draw = rng(seed, "deletes");
        let txs: Arc<[Tx]> = (0..40)
            .map(|_| Tx::Store {
                from: address(draw.next_u64_below(30) as usize),
                contract: address(30 + draw.next_u64_below(2) as usize),
                slot: U256::from(100 + draw.next_u64_below(60)),
                value: U256::ZERO,
            })
            .collect();
        let mut post = state.clone();
        post.apply(&execute_block(&SimpleExecutor, &state, &txs, |_| {}).state);
        let expected = post.root();
        state.root();
        let pre_state = Arc::new(PreState::new(state));
        let config = PayloadConfig { proof_chunk_size: 1, ..PayloadConfig::default() };
        let root = simulate(seed, async move {
            let processor = PayloadProcessor::new(crate::common::executor(seed), SimpleExecutor, config);
            processor.execute_block(pre_state, txs, Arc::new(()), None, &Cancel::new()).await.unwrap().1
        });
        assert_eq!((root.state_root, &root.fallback), (expected, &None), "seed {seed}");
        fetches += root.task.unwrap().sparse_trie.node_fetches;
    }
    assert!(fetches > 0, "some removal met a blinded sibling and fetched it");
}

/// Block after block on one state, each block's trie kept for the next (reth's preserved sparse
/// trie): every root is the reference's, the stored nodes are a full rebuild's node for node, and
/// the kept trie saves proofs: the same blocks on states without it request more.
#[test]
fn the_trie_kept_from_block_to_block_gives_the_same_roots_with_fewer_proofs() {
    let (mut kept_proofs, mut fresh_proofs) = (0, 0);
    for seed in 0..16 {
        let shape = Shape { txs: 30, ..Shape::SMALL };
        let state = random_state(&mut rng(seed, "state"), shape);
        let mut reference = state.clone();
        let mut pre = Some(PreState::new(state));
        for block in 0..5 {
            let txs: Arc<[Tx]> = random_block(&mut rng(seed, &format!("block {block}")), shape).into();
            let fresh = Arc::new(PreState::new(reference.clone()));
            execute_block(&SimpleExecutor, &reference.clone(), &txs, |changes: &TxState| {
                reference.apply(&changes.to_hashed())
            });
            let expected = reference.root();
            let kept = Arc::new(pre.take().expect("given back after every block"));
            let run = |pre_state: Arc<PreState>| {
                let txs = txs.clone();
                simulate(seed, async move {
                    let processor = processor(seed);
                    let faults = Arc::new(Faults::default());
                    processor.execute_block(pre_state, txs, faults, None, &Cancel::new()).await
                })
            };
            let (executed, root) = run(kept.clone()).expect("no faults, no error");
            let (_, fresh_root) = run(fresh).expect("no faults, no error");
            let context = format!("seed {seed} block {block}");
            assert_eq!((root.state_root, root.fallback), (expected, None), "{context}");
            assert_eq!(fresh_root.state_root, expected, "{context}");
            if block > 0 {
                kept_proofs += root.task.expect("task outcome").multiproof.proofs_requested;
                fresh_proofs += fresh_root.task.expect("task outcome").multiproof.proofs_requested;
            }
            let mut kept = Arc::try_unwrap(kept).expect("every task of the block has ended");
            let trie = executed.trie.expect("no fallback: the task's trie comes back");
            assert_eq!(kept.advance_with(trie, &executed.state).unwrap(), expected, "{context}");
            let rebuilt = PreState::new(reference.clone());
            let nodes =
                |state: &PreState| state.trie_nodes().cloned().collect::<std::collections::BTreeSet<_>>();
            assert_eq!(nodes(&kept), nodes(&rebuilt), "{context}: node for node");
            pre = Some(kept);
        }
    }
    assert!(kept_proofs < fresh_proofs, "the kept trie saves proofs: {kept_proofs} against {fresh_proofs}");
}

/// Counts the prewarm batches it is asked for; otherwise the [`SimpleExecutor`].
struct CountingPrewarm(Arc<AtomicUsize>);

impl BlockExecutor for CountingPrewarm {
    type Block = [Tx];
    type Output = Vec<bool>;

    fn tx_count(&self, block: &[Tx]) -> usize {
        SimpleExecutor.tx_count(block)
    }

    fn prewarm(&self, pre: &PreState, block: &[Tx], batch: Range<usize>, visit: &mut Visit<'_>) {
        self.0.fetch_add(1, Ordering::Relaxed);
        SimpleExecutor.prewarm(pre, block, batch, visit)
    }

    async fn execute(
        &self,
        pre: &PreState,
        block: &[Tx],
        hook: StateHook,
        pace: &mut Pace,
    ) -> Result<Vec<bool>, PayloadError> {
        SimpleExecutor.execute(pre, block, hook, pace).await
    }
}

/// Prewarm runs where reth's engine runs it: for a received block of `SMALL_BLOCK_TX_THRESHOLD`
/// transactions or more, never for a smaller one, nor at a builder (`prewarm: false`). Without it
/// the root is still right.
#[test]
fn prewarm_runs_for_received_blocks_of_five_transactions_or_more() {
    let run = |seed: u64, txs: usize, prewarm: bool| {
        let case = case(seed, Shape { txs, ..Shape::SMALL });
        let batches = Arc::new(AtomicUsize::new(0));
        let config = PayloadConfig { prewarm, ..PayloadConfig::default() };
        let processor = PayloadProcessor::new(executor(seed), CountingPrewarm(batches.clone()), config);
        let (pre_state, block) = (case.pre_state.clone(), case.txs.clone());
        let (_, root) = simulate(seed, async move {
            processor.execute_block(pre_state, block, Arc::new(Faults::default()), None, &Cancel::new()).await
        })
        .expect("no faults, no error");
        assert_eq!((root.state_root, root.fallback), (case.expected, None), "seed {seed}, {txs} txs");
        batches.load(Ordering::Relaxed)
    };
    let (mut small, mut threshold, mut builder) = (0, 0, 0);
    for seed in 0..8 {
        small += run(seed, SMALL_BLOCK_TX_THRESHOLD - 1, true);
        threshold += run(seed, SMALL_BLOCK_TX_THRESHOLD, true);
        builder += run(seed, 30, false);
    }
    assert_eq!(small, 0, "a block under the threshold is not prewarmed");
    assert!(threshold > 0, "a block at the threshold is");
    assert_eq!(builder, 0, "a builder prewarms nothing");
}
