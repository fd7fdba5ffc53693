//! Planted bugs (`--features planted-bugs`): each reproducer in `tests/planted/`, written by
//! `rollsim fuzz --plant NAME`, fails its invariant with the bug active and holds every invariant
//! without it. Run with `cargo test -p rollsim-sim --features planted-bugs --test planted`.
#![cfg(all(madsim, feature = "planted-bugs"))]

use rollsim_sim::{run, shrink, Invariant, Outcome, RunOptions, Scenario};
use std::path::Path;

fn reproducer(bug: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/planted").join(format!("{bug}.toml"));
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `scenario` at its first pinned seed.
fn outcome(scenario: &Scenario) -> Outcome {
    run(scenario, RunOptions::seed(scenario.seeds()[0]))
}

/// The reproducer of `bug` fails `invariant` (the first to fail), and passes with the bug off.
fn found_and_fixed(bug: &str, invariant: Invariant) {
    let scenario = reproducer(bug);
    assert_eq!(scenario.planted_bug(), Some(bug));
    assert!(scenario.faults().len() <= 3, "{bug}: {} faults", scenario.faults().len());
    let found = outcome(&scenario);
    assert_eq!(found.first_failure(), Some(invariant), "{bug}: {:?}", found.failures().collect::<Vec<_>>());

    outcome(&scenario.edit().remove("planted_bug").build().unwrap()).assert_all_hold();
}

#[test]
fn timeout_no_confirmations() {
    found_and_fixed("timeout-no-confirmations", Invariant::BatcherTimeoutsReal);
}

#[test]
fn stuck_pending_da_bytes() {
    found_and_fixed("stuck-pending-da-bytes", Invariant::BatcherDaBytesDrained);
}

#[test]
fn brotli_empty_batch_loop() {
    found_and_fixed("brotli-empty-batch-loop", Invariant::L2SafeFollowsUnsafe);
}

#[test]
fn txpool_blocked_no_cancel() {
    found_and_fixed("txpool-blocked-no-cancel", Invariant::L2SafeFollowsUnsafe);
}

/// A panic in the batcher is a finding: the run ends with `no_panic` failed and the panic's
/// message, and the shrinker keeps it (a shrunk reproducer shrinks no further).
#[test]
fn force_publish_no_channel_panics_and_shrinks() {
    found_and_fixed("force-publish-no-channel", Invariant::NoPanic);
    let scenario = reproducer("force-publish-no-channel");
    let panic = outcome(&scenario).verdict(Invariant::NoPanic).cloned().unwrap();
    assert!(panic.detail.contains("nil pointer dereference"), "{}", panic.detail);
    let (shrunk, _) = shrink(&scenario.to_toml(), Invariant::NoPanic, &RunOptions::default());
    let shrunk = Scenario::parse(&shrunk, "force-publish shrunk").unwrap();
    assert_eq!(outcome(&shrunk).first_failure(), Some(Invariant::NoPanic), "{}", shrunk.to_toml());
}

/// reth: proof targets deduplicated per account. A slot written after its account was proved is
/// never proved; the sparse trie meets it blinded, the task fails and the block falls back with no
/// fault injected.
#[test]
fn payload_targets_per_account() {
    found_and_fixed("payload-targets-per-account", Invariant::PayloadNoSpuriousFallback);
}

/// reth: a failed proof job ends the multiproof task with a bare return, and the sparse trie roots
/// the updates it has. In this reproducer the sequencer's engine, storing that trie, finds a node
/// it lacks and panics before the rollup node's re-execution reports the wrong root.
#[test]
fn payload_bare_return_on_proof_error() {
    found_and_fixed("payload-bare-return-on-proof-error", Invariant::NoPanic);
}

/// optimism#16298: an empty local-safe head (the rollup node's not-ready status after a reset)
/// taken as a real one: the batcher starts afresh on a safe head the node never had.
#[test]
fn sync_status_zero_heads() {
    found_and_fixed("sync-status-zero-heads", Invariant::BatcherResetsExplained);
}

/// optimism#14517: a calldata transaction's gas limit below EIP-7623's floor: the L1 refuses every
/// one, and nothing reaches the safe chain.
#[test]
fn gas_limit_below_floor() {
    found_and_fixed("gas-limit-below-floor", Invariant::L2SafeFollowsUnsafe);
}

/// reth#17331: a removal leaves stale hashes along its path: the sparse trie's root is wrong,
/// and the node's stored state, taking that trie, disagrees with itself.
#[test]
fn sparse_removal_keeps_hashes() {
    found_and_fixed("sparse-removal-keeps-hashes", Invariant::NoPanic);
}

/// reth#21709: account updates still pending with the last batch are left out of the root: the
/// rollup node's payload task hands over a state whose root is not the one it computed.
#[test]
fn root_before_accounts_drained() {
    found_and_fixed("root-before-accounts-drained", Invariant::L2StateRoot);
}

/// reth#21877: the multiproof task ends before every proof is back: a root of partial updates.
#[test]
fn multiproof_exits_undrained() {
    found_and_fixed("multiproof-exits-undrained", Invariant::L2StateRoot);
}

/// reth#26367: a zero-value call to a fresh address leaves an empty account in the hashed state:
/// both nodes agree on the wrong root, and only kona-executor's block oracle sees it.
#[test]
fn empty_accounts_kept() {
    found_and_fixed("empty-accounts-kept", Invariant::L2BlockOracle);
}

/// A txmgr that takes receipts as confirmed at inclusion (the broken double of
/// `batcher_confirmation_depth`; no upstream issue).
#[test]
fn confirm_at_inclusion() {
    found_and_fixed("confirm-at-inclusion", Invariant::BatcherConfirmationDepth);
}

/// optimism#8458: a span batch takes a pre-EIP-155 legacy transaction as protected, so it derives
/// as another transaction: the derived chain departs from the sequencer's, and the batcher clears
/// its state on a safe-chain reorg no fault explains.
#[test]
fn span_legacy_always_protected() {
    found_and_fixed("span-legacy-always-protected", Invariant::BatcherResetsExplained);
    let found = outcome(&reproducer("span-legacy-always-protected"));
    let derived = found.verdict(Invariant::L2DerivedEqualsProduced).unwrap();
    assert!(!derived.ok, "{}", derived.detail);
}

/// optimism#7513: blob transactions bumped by 10%, as others are; geth's blob pool wants 100%.
#[test]
fn blob_bump_ten_percent() {
    found_and_fixed("blob-bump-ten-percent", Invariant::BatcherReplacementPriced);
}

/// The raising direction of `throttle_within_one_poll`: with throttling on (10 kB), the stuck
/// bytes of optimism#14518 keep the sequencer throttled though the chain's own backlog is a
/// third of the threshold; with the bug off the limits are raised again.
#[test]
fn stuck_pending_da_bytes_keep_the_chain_throttled() {
    let throttled = reproducer("stuck-pending-da-bytes")
        .edit()
        .set("batcher.throttle_lower_threshold_bytes", 10_000)
        .set("batcher.throttle_upper_threshold_bytes", 20_000)
        .build()
        .unwrap();
    let found = outcome(&throttled);
    let throttle = found.verdict(Invariant::ThrottleWithinOnePoll).unwrap();
    assert!(
        !throttle.ok && throttle.detail.contains("by the L2 chain (threshold 10000)"),
        "{}",
        throttle.detail
    );

    outcome(&throttled.edit().remove("planted_bug").build().unwrap()).assert_all_hold();
}
