//! The public API as a user's test sees it: load or build a scenario, run it at a seed, read typed
//! results.

use rollsim_sim::{for_each_seed, run, Fault, Invariant, RunOptions, Scenario};
use std::time::Duration;

/// The README's example: the baseline with one more fault, a reorg below the safe head.
#[test]
fn baseline_with_a_reorg_below_the_safe_head_keeps_every_invariant() {
    let baseline = Scenario::load("../scenarios/baseline.toml".as_ref()).unwrap();
    let reorg = Fault::L1Reorg { at: Duration::from_secs(1800), depth: 12, branch_len: None };
    let outcome = run(&baseline.with_fault(reorg).unwrap(), RunOptions::seed(1));
    outcome.assert_all_hold();
    assert_eq!(outcome.stats.l1().reorgs, 2, "the baseline's reorg and this one");
}

/// A scenario built in Rust is a scenario file: the same text reads to the same scenario, and a
/// bad value is the parser's error, naming the key.
#[test]
fn the_builder_validates_as_the_file_parser_does() {
    let built = Scenario::builder("built")
        .duration(Duration::from_secs(600))
        .seeds([4, 5])
        .set("l1.gas_limit", 30_000_000)
        .table("l2")
        .set("batcher.da_type", "calldata")
        .fault(Fault::BatcherCrash { at: Duration::from_secs(120), downtime: Duration::from_secs(60) })
        .expect_violation(Invariant::L2SafeFollowsUnsafe)
        .build()
        .unwrap();
    let parsed = Scenario::parse(&built.to_toml(), "again").unwrap();
    assert_eq!(
        (parsed.seeds(), parsed.duration(), parsed.faults()),
        (&[4, 5][..], built.duration(), built.faults())
    );
    assert_eq!(parsed.expected_violations(), [Invariant::L2SafeFollowsUnsafe]);

    let file_error = Scenario::parse(
        "name = \"x\"\ndescription = \"d\"\nduration = \"1h\"\nseeds = [1]\n[l1]\nslot_s = 0\n",
        "x",
    )
    .unwrap_err();
    let built_error = Scenario::builder("x").set("l1.slot_s", 0).build().unwrap_err();
    assert_eq!((built_error.field, built_error.reason), (file_error.field, file_error.reason));

    let late = Fault::L1Stall { at: Duration::from_secs(7200), duration: Duration::from_secs(60) };
    let error = Scenario::builder("x").fault(late).build().unwrap_err();
    assert_eq!(error.field.as_deref(), Some("faults[0].at"), "{error}");
    let error = Scenario::builder("x").set("l1", 5).set("l1.slot_s", 2).build().unwrap_err();
    assert_eq!(error.field.as_deref(), Some("l1.slot_s"), "{error}");
}

/// A large L2 state (`[l2] genesis_accounts`: funded accounts at genesis, most of them dormant)
/// is the baseline's world with every invariant; out of range, the scenario names the key.
#[test]
fn a_large_genesis_keeps_every_invariant_and_a_bad_size_is_named() {
    let big = Scenario::builder("large-genesis")
        .duration(Duration::from_secs(600))
        .set("l2.genesis_accounts", 50_000)
        .set("batcher.da_type", "blobs")
        .build()
        .unwrap();
    let outcome = run(&big, RunOptions::seed(1));
    outcome.assert_all_hold();
    assert!(outcome.stats.l2().safe > 0, "blocks were posted and derived");

    for (senders, accounts, range) in [(2_000, 1_999, "2000..=1000000"), (300, 1_000_001, "300..=1000000")] {
        let error = Scenario::builder("x")
            .set("l2.workload.senders", senders)
            .set("l2.genesis_accounts", accounts)
            .build()
            .unwrap_err();
        assert_eq!(error.field.as_deref(), Some("l2.genesis_accounts"), "{error}");
        assert!(error.reason.starts_with(&format!("must be in {range}")), "{error}");
        assert!(error.reason.ends_with(&format!("got {accounts}")), "{error}");
    }
}

/// A failing run's assertion names the failures and a command that replays the run; a built
/// scenario is written out for it.
#[test]
fn a_failed_assertion_prints_the_command_that_replays_the_run() {
    let stalled = Scenario::builder("stalled-l2")
        .duration(Duration::from_secs(900))
        .table("l2")
        .table("submitter")
        .fault(Fault::RollupLag { at: Duration::from_secs(60), duration: Duration::from_secs(900) })
        .build()
        .unwrap();
    let outcome = run(&stalled, RunOptions::seed(1));
    assert!(!outcome.verdict(Invariant::L2SafeFollowsUnsafe).unwrap().ok);
    let panic = std::panic::catch_unwind(|| outcome.assert_all_hold()).unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(message.contains("l2_safe_follows_unsafe: "), "{message}");
    let command = message.split("replay: ").nth(1).unwrap();
    let path = command.strip_prefix("cargo sim run ").unwrap().strip_suffix(" --seed 1").unwrap();
    let written = Scenario::load(path.as_ref()).unwrap();
    assert_eq!(written.faults(), stalled.faults());
}

/// `for_each_seed` says which seed failed.
#[test]
fn for_each_seed_names_the_failing_seed() {
    let panic =
        std::panic::catch_unwind(|| for_each_seed(1..5, |seed| assert!(seed != 3, "three"))).unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(message.starts_with("failed at seed 3: three"), "{message}");
}
