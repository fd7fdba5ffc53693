//! Planted bugs (cargo feature `planted-bugs`, off by default): named toggles that re-create
//! historical op-batcher and reth bugs in this port (and one broken double of an oracle with no
//! upstream bug), so the fuzzer can show it finds them. One toggle is active per thread (a
//! simulation runs on one thread), chosen by `rollsim fuzz --plant NAME` or a scenario's
//! `planted_bug`.

use std::cell::Cell;

/// Every toggle: (name, the upstream issue it re-creates).
pub const BUGS: [(&str, &str); 16] = [
    ("timeout-no-confirmations", "12363: Channel::is_timed_out reads the minimum inclusion block as zero"),
    ("stuck-pending-da-bytes", "14518: pending DA bytes of cleared state are still counted after a clear"),
    ("force-publish-no-channel", "18701: a flush with no current channel dereferences nil in getReadyChannel"),
    (
        "brotli-empty-batch-loop",
        "18485: the shadow compressor counts brotli's version byte as content and rejects a channel's first block",
    ),
    (
        "txpool-blocked-no-cancel",
        "9818 (fixed by 10941): \"address already reserved\" is an ordinary send failure, no cancellation is sent",
    ),
    (
        "payload-targets-per-account",
        "reth: fetched proof targets tracked per account, not per (account, slot): later slots go unproved",
    ),
    (
        "payload-bare-return-on-proof-error",
        "reth: a failed proof job ends the multiproof task with a bare return: a root of partial updates",
    ),
    (
        "sync-status-zero-heads",
        "16298: only an empty L1 head marks a sync status not ready; an empty local-safe head is acted on",
    ),
    (
        "sparse-removal-keeps-hashes",
        "reth 17331: removing a leaf does not reset the cached hashes along its path",
    ),
    (
        "root-before-accounts-drained",
        "reth 21709: the root is taken before the account updates pending with the last batch are all applied",
    ),
    (
        "gas-limit-below-floor",
        "14517: a calldata transaction's gas limit is its intrinsic gas, below EIP-7623's floor data gas",
    ),
    (
        "empty-accounts-kept",
        "reth 26367: a new account a transaction touches and leaves empty is not elided from the hashed state",
    ),
    (
        "confirm-at-inclusion",
        "no upstream issue: a txmgr that takes a receipt as confirmed at inclusion, whatever num_confirmations",
    ),
    (
        "span-legacy-always-protected",
        "8458: a span batch takes every legacy transaction as EIP-155 protected: a pre-EIP-155 one derives as another transaction",
    ),
    (
        "blob-bump-ten-percent",
        "7513: a blob transaction's fees are bumped by 10%, as any other's; geth's blob pool wants 100%",
    ),
    (
        "multiproof-exits-undrained",
        "reth 21877: the multiproof task ends once state updates stop, before every proof has come back",
    ),
];

thread_local! {
    static ACTIVE: Cell<Option<&'static str>> = const { Cell::new(None) };
}

/// Activates bug `name` (or none) on this thread. Panics on an unknown name.
pub fn set(name: Option<&str>) {
    let name = name.map(|name| {
        BUGS.iter()
            .map(|(bug, _)| *bug)
            .find(|bug| *bug == name)
            .unwrap_or_else(|| panic!("no planted bug {name}"))
    });
    ACTIVE.with(|active| active.set(name));
}

/// Whether bug `name` is active on this thread.
pub fn active(name: &str) -> bool {
    debug_assert!(BUGS.iter().any(|(bug, _)| *bug == name), "no planted bug {name}");
    ACTIVE.with(|active| active.get() == Some(name))
}
