//! Every scenario file at its pinned seeds, snapshotted (insta, YAML, top-level `snapshots/`), and
//! determinism of a faulted run.
//!
//! A scenario passes when exactly its `expected_violations` fail. The snapshot pins the outcome:
//! heads, counters, invariant verdicts and the trace hash, so any behaviour change shows up in
//! review. Accept intended changes with `cargo insta review` (or `INSTA_UPDATE=always`).

use rollsim_sim::{keep_built_geneses, spawn_run, Invariant, Outcome, RunOptions, Scenario};
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::Mutex,
};

/// Runs every (scenario, seed) two at a time (CI has 2 cores) and returns outcomes by file. Built
/// geneses are kept, as a campaign keeps them: every run after the first on a genesis starts from a
/// copy, and its snapshot pins that it runs as on a genesis built for it.
fn run_all(dir: &Path) -> BTreeMap<PathBuf, Vec<Outcome>> {
    keep_built_geneses();
    let mut jobs = Vec::new();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("scenarios directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    for path in &paths {
        let scenario = Scenario::load(path).unwrap_or_else(|e| panic!("{e}"));
        for &seed in scenario.seeds() {
            jobs.push((path.clone(), scenario.clone(), seed));
        }
    }
    let jobs = Mutex::new(jobs.into_iter().enumerate().collect::<Vec<_>>());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let Some((index, (path, scenario, seed))) = jobs.lock().unwrap().pop() else { return };
                let outcome = spawn_run(scenario, RunOptions::seed(seed)).join();
                results.lock().unwrap().push((index, path, outcome));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(index, ..)| *index);
    let mut by_path: BTreeMap<PathBuf, Vec<Outcome>> = BTreeMap::new();
    for (_, path, outcome) in results {
        by_path.entry(path).or_default().push(outcome);
    }
    by_path
}

#[test]
fn every_scenario_at_its_pinned_seeds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios").canonicalize().expect("scenarios/");
    let outcomes = run_all(&dir);
    let mut failures = Vec::new();
    insta::with_settings!({ snapshot_path => "../../../snapshots", prepend_module_to_snapshot => false }, {
        insta::glob!("../../../scenarios", "*.toml", |path| {
            let scenario = Scenario::load(path).unwrap();
            let runs = &outcomes[path];
            for outcome in runs {
                let failed: Vec<Invariant> = outcome.failures().map(|v| v.invariant).collect();
                if failed != scenario.expected_violations() {
                    failures.push(format!(
                        "{} seed {}: violated {failed:?}, expected {:?}: {:?}",
                        scenario.name(),
                        outcome.seed,
                        scenario.expected_violations(),
                        outcome.failures().collect::<Vec<_>>()
                    ));
                }
            }
            insta::assert_yaml_snapshot!(runs);
        });
    });
    assert!(failures.is_empty(), "scenarios off their expected outcome:\n{}", failures.join("\n"));
}

/// A faulted run (probabilistic RPC faults draw from the seeded RNG, restarts, reorgs) replays to
/// the same trace.
#[test]
fn a_faulted_run_replays_to_the_same_trace() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/flaky-rpcs.toml"))
            .unwrap()
            .replace("duration = \"35m\"", "duration = \"12m\"");
    let scenario = Scenario::parse(&text, "flaky-rpcs (12m)").unwrap();
    let run = |seed| spawn_run(scenario.clone(), RunOptions::seed(seed)).join();
    let (a, b, other) = (run(5), run(5), run(6));
    assert_eq!(a.trace_hash, b.trace_hash, "same seed, different traces");
    assert_ne!(a.trace_hash, other.trace_hash, "another seed should take another path");
}
