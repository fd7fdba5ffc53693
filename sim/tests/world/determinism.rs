//! Same scenario and seed => same trace hash; another seed => another hash.

use rollsim_sim::{run, RunOptions, Scenario};

fn scenario() -> Scenario {
    let text = r#"
name = "determinism"
description = "One hour of L1 with background traffic and two reorgs."
duration = "1h"
seeds = [7, 8, 9]
[[faults]]
kind = "l1_reorg"
at = "20m"
depth = 3
[[faults]]
kind = "l1_reorg"
at = "40m"
depth = 1
"#;
    Scenario::parse(text, "determinism").unwrap()
}

#[test]
fn same_seed_same_trace_other_seed_other_trace() {
    let scenario = scenario();
    let mut hashes = Vec::new();
    for &seed in scenario.seeds() {
        let first = run(&scenario, RunOptions::seed(seed));
        let second = run(&scenario, RunOptions::seed(seed));
        assert!(first.ok(), "seed {seed}: {:?}", first.invariants);
        assert!(
            first.trace_events > 300,
            "seed {seed}: the trace saw the run ({} events)",
            first.trace_events
        );
        assert_eq!(first.trace_hash, second.trace_hash, "seed {seed} replays exactly");
        hashes.push(first.trace_hash);
    }
    hashes.sort();
    hashes.dedup();
    assert_eq!(hashes.len(), 3, "three seeds, three traces");
}

#[test]
fn the_whole_world_with_the_batcher_replays_exactly() {
    let text = r#"
name = "determinism-batcher"
description = "Twenty minutes of L2 posted by the batcher, with a reorg."
duration = "20m"
seeds = [4, 5]
[l2]
[batcher]
da_type = "blobs"
max_pending_transactions = 4
[[faults]]
kind = "l1_reorg"
at = "10m"
depth = 2
"#;
    let scenario = Scenario::parse(text, "determinism-batcher").unwrap();
    let mut hashes = Vec::new();
    for &seed in scenario.seeds() {
        let first = run(&scenario, RunOptions::seed(seed));
        let second = run(&scenario, RunOptions::seed(seed));
        assert!(first.ok(), "seed {seed}: {:?}", first.invariants);
        assert!(first.stats.batcher().txs_confirmed > 0, "seed {seed}: the batcher posted");
        assert_eq!(first.trace_hash, second.trace_hash, "seed {seed} replays exactly");
        hashes.push(first.trace_hash);
    }
    assert_ne!(hashes[0], hashes[1], "two seeds, two traces");
}
