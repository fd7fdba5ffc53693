//! The real batcher end to end in the world: calldata, blobs with span batches, auto DA
//! switching to calldata when blob fees climb, and AltDA. Each run must keep every invariant and
//! post with the DA type it was asked for.

use rollsim_sim::{run, Outcome, RunOptions, Scenario};

fn outcome(duration: &str, tables: &str) -> Outcome {
    crate::common::outcome(duration, 21, tables)
}

fn assert_healthy(o: &Outcome) {
    o.assert_all_hold();
    assert_eq!(o.stats.batcher().txs_failed, 0, "{:?}", o.stats);
    assert_eq!(o.stats.l2().unsafe_reorgs, 0, "no derived block replaced an unsafe one");
}

#[test]
fn calldata() {
    let o = outcome("30m", "[l2]\n[batcher]\nda_type = \"calldata\"\nmax_pending_transactions = 10\n");
    assert_healthy(&o);
    assert!(o.stats.batcher().calldata_txs_confirmed > 0 && o.stats.batcher().blob_txs_confirmed == 0);
}

#[test]
fn blobs_with_span_batches() {
    let o = outcome(
        "30m",
        "[l2]\n[batcher]\nda_type = \"blobs\"\ntarget_num_frames = 2\nbatch_type = \"span\"\nmax_pending_transactions = 4\n",
    );
    assert_healthy(&o);
    assert!(o.stats.batcher().blob_txs_confirmed > 0 && o.stats.batcher().calldata_txs_confirmed == 0);
}

/// A pinned scenario file at its first seed, with its trace.
fn scenario_with_trace(name: &str) -> Outcome {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios").join(name);
    let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    run(&scenario, RunOptions::seed(scenario.seeds()[0]).record_trace())
}

/// The trace events with message `msg` from `target`, parsed.
fn events(o: &Outcome, target: &str, msg: &str) -> Vec<serde_json::Value> {
    o.trace_lines
        .iter()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("trace lines are JSON"))
        .filter(|e| e["target"] == target && e["msg"] == msg)
        .collect()
}

#[test]
fn auto_switches_to_calldata_when_blob_fees_climb_and_back_when_they_fall() {
    // scenarios/auto-da-osaka.toml: blob fees climb from ~10 gwei past the calldata price, then
    // demand stops at 30 minutes and they fall back towards EIP-7918's reserve.
    let o = scenario_with_trace("auto-da-osaka.toml");
    assert_healthy(&o);
    assert!(o.stats.l1().blob_fee_max_wei > 200_000_000_000, "blob fees climbed: {:?}", o.stats);
    let kinds: Vec<bool> = events(&o, "rollsim::batcher::txmgr", "tx published")
        .iter()
        .map(|e| e["blob"].as_bool().expect("blob flag"))
        .collect();
    let first_calldata = kinds.iter().position(|blob| !blob).expect("calldata once blobs cost more");
    let back = kinds[first_calldata..].iter().position(|&blob| blob).expect("blobs again once cheap");
    assert!(first_calldata > 0 && back > 0, "blobs, then calldata, then blobs: {kinds:?}");
}

#[test]
fn osaka_replaces_the_in_flight_version_0_transaction_with_cell_proofs() {
    // scenarios/osaka-fork.toml: Osaka at 20 minutes while the batcher's transactions vanish from
    // the pool (18-21 minutes), so its version-0 transaction is still being resubmitted.
    let o = scenario_with_trace("osaka-fork.toml");
    o.assert_all_hold();
    let refused: Vec<_> = events(&o, "rollsim::batcher::txmgr", "tx publish failed")
        .into_iter()
        .filter(|e| {
            e["error"].as_str().is_some_and(|m| m.ends_with("unexpected eip-4844 sidecar after osaka"))
        })
        .collect();
    let stuck = refused.first().expect("the version-0 transaction was resubmitted after the fork");
    let nonce = &stuck["nonce"];
    assert_eq!(o.stats.batcher().txs_failed, 1, "it timed out once: {:?}", o.stats);
    let confirmed = events(&o, "rollsim::batcher::txmgr", "tx confirmed");
    let replacement = confirmed.iter().find(|e| &e["nonce"] == nonce).expect("its nonce was confirmed");
    assert!(replacement["t_ns"].as_u64() > refused.last().unwrap()["t_ns"].as_u64());
    assert!(refused.iter().all(|e| e["hash"] != replacement["hash"]), "not the refused transaction");
    // The replacement and every later blob transaction carried cell proofs; every channel still
    // derived (l2_derived_equals_produced, checked with the other invariants above).
    assert!(o.stats.l1().cell_proof_blob_txs_included > 0);
}

#[test]
fn alt_da() {
    let o = outcome("30m", "[da]\n[l2]\n[batcher]\nda_type = \"altda\"\nmax_pending_transactions = 10\n");
    assert_healthy(&o);
    assert!(o.stats.batcher().calldata_txs_confirmed > 0, "commitments go to L1 as calldata");
    assert_eq!(o.stats.batcher().da_requests_failed, 0);
}

/// Start, flush and stop on a batcher the test runs as node `batcher` in place of the ported one
/// (through `BatcherSystem`, as a user's own batcher would): flush closes a filling channel, stop
/// ends the loops, and a stopped batcher starts again.
#[test]
fn flush_closes_a_filling_channel_and_stop_ends_the_loops() {
    use rollsim::batcher::{Batcher, BatcherError};
    use rollsim_sim::{BatcherNode, BatcherSystem};
    use std::{
        future::Future,
        pin::Pin,
        sync::{
            atomic::{AtomicBool, Ordering},
            Arc,
        },
        time::Duration,
    };

    struct Tester(Arc<AtomicBool>);
    impl BatcherSystem for Tester {
        fn run(&self, node: BatcherNode) -> Pin<Box<dyn Future<Output = ()>>> {
            let done = self.0.clone();
            Box::pin(async move {
                let mut batcher =
                    Batcher::new(node.config.clone(), node.ports.clone(), node.signer.clone(), 1).unwrap();
                let stats = batcher.stats();
                node.report(stats.clone());
                assert_eq!(batcher.flush(), Err(BatcherError::NotRunning));
                batcher.start().await.unwrap();
                assert_eq!(batcher.start().await, Err(BatcherError::AlreadyRunning));
                // As upstream, force publish closes only a channel that has cut no frame yet: flush
                // after the first poll, when the channel holds a few blocks. Off the 6 s poll grid: a
                // flush at the instant of a poll finds the one-slot signal channel full and is
                // dropped, exactly as upstream's tryPublishSignal drops it.
                tokio::time::sleep(Duration::from_millis(13_500)).await;
                assert_eq!(stats.lock().unwrap().txs_sent, 0, "a 6-blob channel is still filling");
                assert!(stats.lock().unwrap().blocks_loaded >= 2);
                batcher.flush().unwrap();
                tokio::time::sleep(Duration::from_secs(60)).await;
                assert_eq!(stats.lock().unwrap().txs_confirmed, 1, "flush closed the channel and posted it");
                batcher.stop(Duration::from_secs(30)).await.unwrap();
                assert!(!batcher.is_running());
                assert_eq!(batcher.stop(Duration::ZERO).await, Err(BatcherError::NotRunning));
                let loaded = stats.lock().unwrap().blocks_loaded;
                tokio::time::sleep(Duration::from_secs(60)).await;
                assert_eq!(stats.lock().unwrap().blocks_loaded, loaded, "stopped: no block loading");
                batcher.start().await.expect("a stopped batcher starts again");
                tokio::time::sleep(Duration::from_secs(30)).await;
                assert!(stats.lock().unwrap().blocks_loaded > loaded, "loading again");
                done.store(true, Ordering::Relaxed);
                std::future::pending::<()>().await
            })
        }
    }

    let scenario = Scenario::builder("flush")
        .duration(Duration::from_secs(300))
        .seeds([3])
        .table("l2")
        .set("batcher.da_type", "blobs")
        .set("batcher.target_num_frames", 6) // ~780 KB: minutes of blocks before a channel fills
        .set("batcher.num_confirmations", 2)
        .build()
        .unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let outcome = run(&scenario, RunOptions::seed(3).batcher(Tester(done.clone())));
    assert!(
        outcome.verdict(rollsim_sim::Invariant::NoPanic).is_none(),
        "{:?}",
        outcome.failures().collect::<Vec<_>>()
    );
    assert!(done.load(Ordering::Relaxed), "the test batcher ran to its end");
}

/// A throttling endpoint without `miner_setMaxDASize` stops the batcher with a typed critical
/// error, as upstream's does: the ported batcher runs over the world's ports with the endpoint
/// replaced (any port implementation goes through `BatcherSystem`).
#[test]
fn an_endpoint_without_set_max_da_size_stops_the_batcher() {
    use rollsim::{
        batcher::{Batcher, BatcherPorts, BatcherStats, FatalError},
        ports::{self, PortError, PortResult, METHOD_NOT_FOUND},
    };
    use rollsim_sim::{BatcherNode, BatcherSystem, SimL2};
    use std::{
        future::Future,
        pin::Pin,
        sync::{Arc, Mutex},
        time::Duration,
    };

    /// The sequencer's L2 port, but an op-geth without the miner API.
    #[derive(Clone)]
    struct NoMinerApi(SimL2);
    impl ports::L2 for NoMinerApi {
        async fn block_by_number(&self, number: u64) -> PortResult<Option<Arc<op_alloy_consensus::OpBlock>>> {
            ports::L2::block_by_number(&self.0, number).await
        }
        async fn set_max_da_size(&self, _: u64, _: u64) -> PortResult<bool> {
            let message = "the method miner_setMaxDASize does not exist".to_owned();
            Err(PortError::Server { method: "miner_setMaxDASize", code: METHOD_NOT_FOUND, message })
        }
    }

    struct Stats(Arc<Mutex<Option<Arc<Mutex<BatcherStats>>>>>);
    impl BatcherSystem for Stats {
        fn run(&self, node: BatcherNode) -> Pin<Box<dyn Future<Output = ()>>> {
            let stats = self.0.clone();
            Box::pin(async move {
                let l2 = NoMinerApi(node.ports.l2.clone());
                let ports = BatcherPorts {
                    l1: node.ports.l1.clone(),
                    l2: l2.clone(),
                    rollup: node.ports.rollup.clone(),
                    alt_da: node.ports.alt_da.clone(),
                    throttle_endpoints: vec![l2],
                };
                let mut batcher =
                    Batcher::new(node.config.clone(), ports, node.signer.clone(), node.seed).unwrap();
                node.report(batcher.stats());
                *stats.lock().unwrap() = Some(batcher.stats());
                batcher.start().await.unwrap();
                std::future::pending::<()>().await
            })
        }
    }

    let scenario =
        Scenario::builder("no-miner-api").duration(Duration::from_secs(120)).table("l2").table("batcher");
    let stats = Arc::new(Mutex::new(None));
    run(&scenario.build().unwrap(), RunOptions::seed(2).batcher(Stats(stats.clone())));
    let stats = stats.lock().unwrap().clone().expect("the batcher started");
    let fatal = stats.lock().unwrap().fatal.clone();
    assert!(
        matches!(&fatal, Some(FatalError::ThrottlingUnavailable { endpoint: 0, source }) if source.is_method_not_found()),
        "{fatal:?}"
    );
}
