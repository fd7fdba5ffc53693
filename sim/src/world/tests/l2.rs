//! The L2 side without a batcher: sequencing, throttling, sync status, sequencing-window expiry.
use crate::{
    clock::sim_now,
    l1,
    l2::rpc::{L2BlockByNumber, SetMaxDASize, SyncStatusMethod},
    l2::{
        block::{context, BlockInputs},
        chain::{lock, L2Chain},
        engine::{ExecutedState, PayloadFaultSource},
        genesis::genesis_state,
    },
    net::RPC_TIMEOUT,
    rollup_node::verifier::{Verifier, VerifierStats},
    scenario::Scenario,
    verdict::{Invariant, Monitor},
    world::World,
};
use alloy_consensus::transaction::Recovered;
use alloy_eips::BlockNumberOrTag;
use alloy_primitives::B256;
use rollsim::{
    evm::{EvmBlock, OpEvmExecutor},
    payload::{PayloadConfig, PayloadProcessor, WorkloadExecutor},
};
use std::{future::Future, sync::Arc, time::Duration};

/// Runs `test` on node `tester` in the world of `l2_table` (TOML under `[l2]`).
fn in_world<F, Fut>(l2_table: &str, test: F)
where
    F: FnOnce(Arc<World>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let text = format!(
        "name = \"l2\"\ndescription = \"l2 test\"\nduration = \"2h\"\nseeds = [3]\n[l1.traffic]\nenabled = false\n[l2]\n{l2_table}\n"
    );
    let scenario = Scenario::parse(&text, "inline").unwrap();
    let runtime = madsim::runtime::Runtime::with_seed_and_config(3, madsim::Config::default());
    runtime.block_on(async move {
        let world = Arc::new(super::start(&scenario, 3));
        world.add_node("tester", std::future::pending::<()>);
        world.spawn_on("tester", test(world.clone())).await.unwrap();
    });
}

async fn until(t: Duration) {
    tokio::time::sleep(t.saturating_sub(sim_now())).await;
}

#[test]
fn sequencer_builds_every_two_seconds_on_advancing_l1_origins() {
    in_world("sequencer_conf_depth = 4", |world| async move {
        until(Duration::from_secs(301)).await;
        let l2 = world.l2.as_ref().unwrap();
        let chain = lock(&l2.chain);
        assert_eq!(chain.head().number(), 150, "one block per 2 s");
        let l1_head = l1::lock(&world.l1).head().number();
        let origin = chain.head().info.l1_origin.number;
        assert!(
            origin + 4 <= l1_head && origin + 6 >= l1_head,
            "origin {origin} keeps 4 confirmations behind {l1_head}"
        );
        let user_txs: usize = chain.retained().iter().map(|b| b.user_txs().count()).sum();
        assert!((2_400..3_600).contains(&user_txs), "about 20 user txs per block: {user_txs}");
        for block in &chain.retained()[1..] {
            assert!(block.txs()[0].is_deposit(), "block {} starts with the L1-info deposit", block.number());
        }
    });
}

/// `[l2] genesis_accounts`: genesis funds exactly that many accounts (the workload's senders,
/// then dormant ones), and the sequencer builds on that state.
#[test]
fn genesis_funds_as_many_accounts_as_the_scenario_asks() {
    in_world("genesis_accounts = 5000\n[l2.workload]\nsenders = 300", |world| async move {
        let l2 = world.l2.as_ref().unwrap();
        let head = lock(&l2.chain).state().head();
        let funded = head.state().trie().accounts().values().filter(|account| !account.balance.is_zero());
        assert_eq!(funded.count(), 5_000, "300 senders and 4,700 dormant accounts");
        until(Duration::from_secs(61)).await;
        let chain = lock(&l2.chain);
        assert_eq!(chain.head().number(), 30);
        assert!(chain.retained().iter().any(|block| block.user_txs().count() > 0));
    });
}

/// Pruning below finality changes nothing a run does or how it is judged: the world pruned every
/// simulated minute ends with the verdicts and counters of the same world never pruned, while its
/// chains keep only a window below their finalized heads.
#[test]
fn pruning_changes_neither_the_run_nor_its_verdicts() {
    let ends = Arc::new(std::sync::Mutex::new(Vec::new()));
    for prune in [false, true] {
        let ends = ends.clone();
        let batcher = "[batcher]\ntarget_num_frames = 3\nmax_pending_transactions = 10";
        in_world(batcher, move |world| async move {
            for minute in 1..=40 {
                until(Duration::from_secs(60 * minute)).await;
                if prune {
                    world.prune();
                }
            }
            let l2 = world.l2.as_ref().unwrap();
            let kept = (l1::lock(&world.l1).canonical()[0].number(), lock(&l2.chain).retained()[0].number());
            let (_, verdicts, stats) = world.finish();
            ends.lock().unwrap().push((kept, verdicts, stats));
        });
    }
    let ends = ends.lock().unwrap();
    let [(whole, verdicts, stats), (kept, pruned_verdicts, pruned_stats)] = &ends[..] else { unreachable!() };
    assert_eq!(*whole, (0, 0));
    assert!(kept.0 > 10 && kept.1 > 100, "L1 and L2 kept from blocks {kept:?}");
    assert!(verdicts.iter().all(|v| v.ok), "{verdicts:?}");
    assert_eq!((verdicts, stats), (pruned_verdicts, pruned_stats));
}

#[test]
fn miner_set_max_da_size_limits_every_new_block_and_zero_lifts_it() {
    let workload = "[l2.workload]\ntxs_per_block = 40\ntransfer_share = 0.2\ncalldata_bytes = [100, 3000]\n";
    in_world(workload, |world| async move {
        let rpc = world.rpc_client("tester", "sequencer", RPC_TIMEOUT);
        until(Duration::from_secs(60)).await;
        assert!(rpc.call::<SetMaxDASize>((600, 5_000)).await.unwrap());
        let throttled_from = lock(&world.l2.as_ref().unwrap().chain).head().number() + 1;
        until(Duration::from_secs(180)).await;
        assert!(rpc.call::<SetMaxDASize>((0, 0)).await.unwrap());
        let lifted_from = lock(&world.l2.as_ref().unwrap().chain).head().number() + 1;
        until(Duration::from_secs(300)).await;

        let chain = lock(&world.l2.as_ref().unwrap().chain);
        let da = |raw: &[u8]| rollsim::protocol::da_size::tx_estimated_da_size_bytes(raw);
        let mut throttled_txs = 0;
        for block in &chain.retained()[throttled_from as usize..lifted_from as usize] {
            let sizes: Vec<u64> = block.raw_txs[1..].iter().map(|raw| da(raw)).collect();
            assert!(
                sizes.iter().all(|&s| s <= 600),
                "block {}: a tx over the per-tx limit: {sizes:?}",
                block.number()
            );
            assert!(sizes.iter().sum::<u64>() <= 5_000, "block {}: over the per-block limit", block.number());
            throttled_txs += sizes.len();
        }
        assert!(throttled_txs > 0, "throttled blocks still carry small txs");
        let big_after = chain.retained()[lifted_from as usize..]
            .iter()
            .flat_map(|b| b.raw_txs[1..].iter())
            .filter(|raw| da(raw) > 600)
            .count();
        assert!(big_after > 0, "(0, 0) lifts the limits: large txs return");
        let before: Vec<u64> = chain.retained()[1..throttled_from as usize]
            .iter()
            .flat_map(|b| b.raw_txs[1..].iter().map(|r| da(r)))
            .collect();
        assert!(before.iter().any(|&s| s > 600), "the workload does produce txs over the limit");
    });
}

#[test]
fn sync_status_reports_the_chain() {
    in_world("", |world| async move {
        let rollup = world.rpc_client("tester", "rollup", RPC_TIMEOUT);
        let sequencer = world.rpc_client("tester", "sequencer", RPC_TIMEOUT);
        for step in 1..=5u64 {
            // Mid-slot: the rollup node has seen the slot's L1 block.
            until(Duration::from_secs(step * 60 + 6)).await;
            let status = rollup.call::<SyncStatusMethod>(()).await.unwrap();
            let (head, safe, finalized) = {
                let c = l1::lock(&world.l1);
                (c.head().num_hash(), c.safe().num_hash(), c.finalized().num_hash())
            };
            assert_eq!(status.head_l1.id(), head, "step {step}");
            assert_eq!(status.safe_l1.id(), safe);
            assert_eq!(status.finalized_l1.id(), finalized);
            assert_eq!(status.current_l1.number, head.number, "derivation idles at the L1 head");
            let unsafe_head =
                sequencer.call::<L2BlockByNumber>(BlockNumberOrTag::Latest).await.unwrap().unwrap();
            assert_eq!(status.unsafe_l2, unsafe_head.info);
            let chain = lock(&world.l2.as_ref().unwrap().chain);
            assert_eq!(status.safe_l2, chain.safe().info);
            assert_eq!(status.local_safe_l2, chain.safe().info);
            assert_eq!(status.finalized_l2, chain.finalized().info);
            assert_eq!(
                status.safe_l2.block_info.number, 0,
                "nothing is batched: the safe head stays at genesis"
            );
        }
    });
}

#[test]
fn sequencing_window_expiry_derives_deposit_only_blocks_and_reorgs_the_unsafe_chain() {
    in_world("seq_window_size = 10\n[l2.workload]\ntxs_per_block = 5", |world| async move {
        until(Duration::from_secs(600)).await;
        let chain = lock(&world.l2.as_ref().unwrap().chain);
        let safe = chain.safe().number();
        assert!(safe > 100, "the window expired for many epochs: safe {safe}");
        for number in 1..=safe {
            let block = chain.block(number).unwrap();
            assert_eq!(block.txs().len(), 1, "safe block {number} is deposit-only");
            assert!(!chain.produced(number).contains(&block.hash), "block {number} was not the sequencer's");
        }
        assert!(chain.stats.unsafe_reorgs > 0);
        assert!(chain.stats.unsafe_blocks_replaced > 0);
        assert!(chain.head().number() > safe, "the sequencer builds on past the derived blocks");
    });
}

/// The rollup node's re-execution: the sequencer's blocks verify, and a block whose header commits
/// to a state root its transactions do not produce is reported with its number and both roots.
#[test]
fn re_execution_verifies_the_sequencers_roots_and_reports_a_wrong_one() {
    in_world("", |world| async move {
        until(Duration::from_secs(61)).await;
        let l2 = world.l2.as_ref().unwrap();
        let (blocks, l1_genesis) = {
            let chain = lock(&l2.chain);
            (chain.retained()[..=30].to_vec(), chain.derived_from(0).unwrap())
        };
        let genesis_state = || {
            let config = crate::l2::L2Config::default();
            let senders = (0..config.workload.senders).map(|i| config.workload.sender_address(i));
            ExecutedState::genesis(genesis_state(config.chain_id, senders).unwrap())
        };
        // The sequencer's blocks, but block 30's header claims another state root.
        let executor = OpEvmExecutor::new(crate::l2::L2Config::default().chain_id);
        let mut chain = L2Chain::new((*blocks[0]).clone(), l1_genesis, genesis_state());
        for block in &blocks[1..] {
            let mut block = (**block).clone();
            let parent = chain.head().clone();
            let context = context(
                parent.header(),
                parent.hash,
                &BlockInputs::of(&block),
                chain.ancestor_hashes(parent.number()),
            );
            let txs = block
                .txs()
                .iter()
                .zip(&block.senders)
                .map(|(tx, s)| Recovered::new_unchecked(tx.clone(), *s).into());
            chain.state_mut().execute(&executor, &EvmBlock { context, txs: txs.collect() }).unwrap();
            if block.number() == 30 {
                block.block.header.state_root = B256::repeat_byte(0x11);
            }
            chain.append(block);
        }
        chain.set_safe(30, l1_genesis);
        let monitor = Arc::new(Monitor::new(None));
        let stats = Arc::<std::sync::Mutex<VerifierStats>>::default();
        let processor = PayloadProcessor::new(
            WorkloadExecutor::inline(crate::l2::costs::SimCosts::default().seeded(5)),
            executor,
            PayloadConfig::default(),
        );
        let faults = Arc::new(PayloadFaultSource::new(5, &["rollup"]));
        let mut verifier =
            Verifier::new(genesis_state(), blocks[0].hash, processor, faults, monitor.clone(), stats.clone());
        verifier.catch_up(&Arc::new(std::sync::Mutex::new(chain))).await;

        let stats: VerifierStats = *stats.lock().unwrap();
        assert_eq!((stats.head, stats.verified, stats.mismatches), (30, 29, 1));
        let results = monitor.results(&Invariant::L2_ONLINE);
        let root = results.iter().find(|r| r.invariant == Invariant::L2StateRoot).unwrap();
        assert!(!root.ok);
        let expected_root = lock(&l2.chain).block(30).unwrap().header().state_root;
        assert!(root.detail.contains("block 30 "), "{}", root.detail);
        assert!(
            root.detail.contains(&format!("header state root {}", B256::repeat_byte(0x11))),
            "{}",
            root.detail
        );
        assert!(root.detail.contains(&format!("re-executed state root {expected_root}")), "{}", root.detail);
        // The task disagreed with the header, so it fell back, and that is no spurious fallback.
        assert!(results.iter().find(|r| r.invariant == Invariant::PayloadNoSpuriousFallback).unwrap().ok);
    });
}
