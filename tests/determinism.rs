//! Same scenario and seed => same trace hash; another seed => another hash.
#![cfg(madsim)]

use rollsim_sim::{
    scenario::Scenario,
    world::{run, RunOptions},
};

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
    for &seed in &scenario.seeds {
        let first = run(&scenario, RunOptions { seed, record_trace: false });
        let second = run(&scenario, RunOptions { seed, record_trace: false });
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
