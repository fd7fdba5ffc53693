//! Planted bugs (`--features planted-bugs`): each reproducer in `tests/planted/`, written by
//! `rollsim fuzz --plant NAME`, fails its invariant with the bug active and holds every invariant
//! without it. Run with `cargo test -p rollsim-sim --features planted-bugs --test planted`.
#![cfg(all(madsim, feature = "planted-bugs"))]

use rollsim_sim::fuzz;
use std::path::Path;

fn reproducer(bug: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/planted").join(format!("{bug}.toml"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The reproducer of `bug` fails `invariant` (the first to fail), and passes with the bug off.
fn found_and_fixed(bug: &str, invariant: &str) {
    let text = reproducer(bug);
    let (scenario, outcome) = fuzz::run_text(&text, bug).unwrap();
    assert_eq!(scenario.planted_bug.as_deref(), Some(bug));
    assert!(scenario.faults.len() <= 3, "{bug}: {} faults", scenario.faults.len());
    let failed: Vec<_> = outcome.invariants.iter().filter(|i| !i.ok).collect();
    assert_eq!(fuzz::first_failure(&outcome), Some(invariant), "{bug}: {failed:?}");

    let mut table: toml::Table = text.parse().unwrap();
    table.remove("planted_bug");
    let (_, outcome) = fuzz::run_text(&toml::to_string(&table).unwrap(), bug).unwrap();
    let failed: Vec<_> = outcome.invariants.iter().filter(|i| !i.ok).collect();
    assert!(failed.is_empty(), "{bug} off: {failed:?}");
}

#[test]
fn timeout_no_confirmations() {
    found_and_fixed("timeout-no-confirmations", "batcher_timeouts_real");
}

#[test]
fn stuck_pending_da_bytes() {
    found_and_fixed("stuck-pending-da-bytes", "batcher_da_bytes_drained");
}

#[test]
fn brotli_empty_batch_loop() {
    found_and_fixed("brotli-empty-batch-loop", "l2_safe_follows_unsafe");
}

#[test]
fn txpool_blocked_no_cancel() {
    found_and_fixed("txpool-blocked-no-cancel", "l2_safe_follows_unsafe");
}

/// A panic in the batcher is a finding: the run ends with `no_panic` failed and the panic's
/// message, and the shrinker keeps it (a shrunk reproducer shrinks no further).
#[test]
fn force_publish_no_channel_panics_and_shrinks() {
    found_and_fixed("force-publish-no-channel", "no_panic");
    let text = reproducer("force-publish-no-channel");
    let (_, outcome) = fuzz::run_text(&text, "force-publish").unwrap();
    let panic = outcome.invariants.iter().find(|i| i.name == "no_panic").unwrap();
    assert!(panic.detail.contains("nil pointer dereference"), "{}", panic.detail);
    let (shrunk, _) = fuzz::shrink(&text, "no_panic");
    let (_, outcome) = fuzz::run_text(&shrunk, "force-publish shrunk").unwrap();
    assert_eq!(fuzz::first_failure(&outcome), Some("no_panic"), "{shrunk}");
}

/// reth: proof targets deduplicated per account. A slot written after its account was proved is
/// never proved; the sparse trie meets it blinded, the task fails and the block falls back with no
/// fault injected.
#[test]
fn payload_targets_per_account() {
    found_and_fixed("payload-targets-per-account", "payload_no_spurious_fallback");
}

/// reth: a failed proof job ends the multiproof task with a bare return, and the sparse trie roots
/// the updates it has. In this reproducer the sequencer's engine, storing that trie, finds a node
/// it lacks and panics before the rollup node's re-execution reports the wrong root.
#[test]
fn payload_bare_return_on_proof_error() {
    found_and_fixed("payload-bare-return-on-proof-error", "no_panic");
}

/// optimism#16298: an empty local-safe head (the rollup node's not-ready status after a reset)
/// taken as a real one: the batcher starts afresh on a safe head the node never had.
#[test]
fn sync_status_zero_heads() {
    found_and_fixed("sync-status-zero-heads", "batcher_resets_explained");
}

/// optimism#14517: a calldata transaction's gas limit below EIP-7623's floor: the L1 refuses every
/// one, and nothing reaches the safe chain.
#[test]
fn gas_limit_below_floor() {
    found_and_fixed("gas-limit-below-floor", "l2_safe_follows_unsafe");
}

/// reth#17331: a removal leaves stale hashes along its path: the sparse trie's root is wrong,
/// and the node's stored state, taking that trie, disagrees with itself.
#[test]
fn sparse_removal_keeps_hashes() {
    found_and_fixed("sparse-removal-keeps-hashes", "no_panic");
}

/// reth#21709: account updates still pending with the last batch are left out of the root: the
/// rollup node's payload task hands over a state whose root is not the one it computed.
#[test]
fn root_before_accounts_drained() {
    found_and_fixed("root-before-accounts-drained", "l2_state_root");
}

/// reth#21877: the multiproof task ends before every proof is back: a root of partial updates.
#[test]
fn multiproof_exits_undrained() {
    found_and_fixed("multiproof-exits-undrained", "l2_state_root");
}

/// reth#26367: a zero-value call to a fresh address leaves an empty account in the hashed state:
/// both nodes agree on the wrong root, and only kona-executor's block oracle sees it.
#[test]
fn empty_accounts_kept() {
    found_and_fixed("empty-accounts-kept", "l2_block_oracle");
}

/// A txmgr that takes receipts as confirmed at inclusion (the broken double of
/// `batcher_confirmation_depth`; no upstream issue).
#[test]
fn confirm_at_inclusion() {
    found_and_fixed("confirm-at-inclusion", "batcher_confirmation_depth");
}

/// optimism#8458: a span batch takes a pre-EIP-155 legacy transaction as protected, so it derives
/// as another transaction: the derived chain departs from the sequencer's, and the batcher clears
/// its state on a safe-chain reorg no fault explains.
#[test]
fn span_legacy_always_protected() {
    found_and_fixed("span-legacy-always-protected", "batcher_resets_explained");
    let (_, outcome) = fuzz::run_text(&reproducer("span-legacy-always-protected"), "span").unwrap();
    let derived = outcome.invariants.iter().find(|i| i.name == "l2_derived_equals_produced").unwrap();
    assert!(!derived.ok, "{}", derived.detail);
}

/// optimism#7513: blob transactions bumped by 10%, as others are; geth's blob pool wants 100%.
#[test]
fn blob_bump_ten_percent() {
    found_and_fixed("blob-bump-ten-percent", "batcher_replacement_priced");
}

/// The raising direction of `throttle_within_one_poll`: with throttling on (10 kB), the stuck
/// bytes of optimism#14518 keep the sequencer throttled though the chain's own backlog is a
/// third of the threshold; with the bug off the limits are raised again.
#[test]
fn stuck_pending_da_bytes_keep_the_chain_throttled() {
    let mut table: toml::Table = reproducer("stuck-pending-da-bytes").parse().unwrap();
    let batcher = table.get_mut("batcher").and_then(|b| b.as_table_mut()).unwrap();
    batcher.insert("throttle_lower_threshold_bytes".into(), 10_000.into());
    batcher.insert("throttle_upper_threshold_bytes".into(), 20_000.into());
    let (_, outcome) = fuzz::run_text(&toml::to_string(&table).unwrap(), "throttled").unwrap();
    let throttle = outcome.invariants.iter().find(|i| i.name == "throttle_within_one_poll").unwrap();
    assert!(
        !throttle.ok && throttle.detail.contains("by the L2 chain (threshold 10000)"),
        "{}",
        throttle.detail
    );

    table.remove("planted_bug");
    let (_, outcome) = fuzz::run_text(&toml::to_string(&table).unwrap(), "throttled, fixed").unwrap();
    let failed: Vec<_> = outcome.invariants.iter().filter(|i| !i.ok).collect();
    assert!(failed.is_empty(), "{failed:?}");
}
