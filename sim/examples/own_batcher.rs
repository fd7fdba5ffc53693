//! Bring your own batcher: run it as node `batcher` in place of the ported one, against every
//! scenario file and a few fuzz cases.
//!
//! ```sh
//! cargo run --release -p rollsim-sim --example own_batcher -- 20   # 20 fuzz cases
//! ```
//!
//! The world hands each incarnation of the node its ports (`rollsim::ports::{L1, L2, RollupNode,
//! AltDa}` over nodes `l1`, `sequencer`, `rollup`, `da`), the batcher key, the `[batcher]` table
//! as op-batcher's config, a seed and the flush requests of `batcher_flush` faults. Here the
//! batcher built over them is the ported one: put your own in its place.

#[cfg(madsim)]
fn main() {
    use rollsim::batcher::Batcher;
    use rollsim_sim::{fuzz_case, run, shrink, BatcherNode, BatcherSystem, RunOptions, Scenario};
    use std::{future::Future, pin::Pin};

    struct MyBatcher;

    impl BatcherSystem for MyBatcher {
        fn run(&self, node: BatcherNode) -> Pin<Box<dyn Future<Output = ()>>> {
            Box::pin(async move {
                // Your batcher here, built over `node.ports` and signing with `node.signer`.
                let mut batcher =
                    Batcher::new(node.config.clone(), node.ports.clone(), node.signer.clone(), node.seed)
                        .expect("the scenario's [batcher] table is valid");
                // Counters it reports feed the invariants on the batcher's own account.
                node.report(batcher.stats());
                batcher.start().await.expect("starts");
                loop {
                    node.flush.notified().await;
                    batcher.flush().expect("running");
                }
            })
        }
    }

    let options = |seed| RunOptions::seed(seed).batcher(MyBatcher);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut paths: Vec<_> = std::fs::read_dir(&dir).expect("scenarios/").map(|e| e.unwrap().path()).collect();
    paths.sort();
    for path in paths.iter().filter(|p| p.extension().is_some_and(|e| e == "toml")) {
        let scenario = Scenario::load(path).unwrap_or_else(|e| panic!("{e}"));
        for &seed in scenario.seeds() {
            let outcome = run(&scenario, options(seed));
            let failed: Vec<_> = outcome.failures().map(|v| v.invariant).collect();
            let verdict = if failed == scenario.expected_violations() { "as expected" } else { "UNEXPECTED" };
            println!("{} seed {seed}: {verdict} (failed: {failed:?})", scenario.name());
        }
    }
    let cases: u64 = std::env::args().nth(1).map_or(5, |n| n.parse().expect("a number of fuzz cases"));
    for seed in 0..cases {
        let case = fuzz_case(seed);
        let outcome = run(&case, options(case.seeds()[0]));
        if let Some(invariant) = outcome.first_failure() {
            let (shrunk, _) = shrink(&case.to_toml(), invariant, &options(0));
            println!("fuzz case {seed}: {invariant} failed; shrunk:\n{shrunk}");
        }
    }
    println!("{cases} fuzz cases run");
}

#[cfg(not(madsim))]
fn main() {}
