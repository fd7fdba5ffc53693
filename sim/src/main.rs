//! `rollsim`: run scenarios, replay seeds, list what there is.
//!
//! Exit codes: 0 every invariant holds, 1 a violation (or a determinism break with `--twice`),
//! 2 bad input (unreadable or invalid scenario, bad arguments).

/// mimalloc: a run allocates and frees small values (trie nodes, EVM state, RLP buffers) by the
/// million, and glibc's malloc took about 11% of the baseline hour. jemalloc (reth's) was as fast
/// on the hour but not on fuzz campaigns of many short worlds (docs/world.md, Speed). Addresses
/// never reach behaviour: nothing hashes or orders by pointer, so runs replay exactly whichever
/// allocator a build uses.
#[cfg(madsim)]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(madsim)]
fn main() -> std::process::ExitCode {
    rollsim_sim::cli::main(|worlds| {
        if worlds == rollsim_sim::cli::Worlds::One {
            never_purge();
        }
    })
}

/// mimalloc hands memory that fell free back to the OS a second later (`purge_delay`), and the
/// next blocks take it again: about 30,000 page faults an hour of the baseline, each clearing a
/// page (a huge page, most of them), 4-8% of the hour. One world's memory is bounded by its own
/// peak, so a one-world command keeps what it freed. Not a campaign: each of its worlds runs on a
/// thread of its own, and without purging the freed memory of finished threads piles up
/// (docs/world.md, Speed).
#[cfg(madsim)]
fn never_purge() {
    // mimalloc.h's `mi_option_purge_delay`, the 16th option in v2 and v3 alike; libmimalloc-sys
    // names no constant for it. -1: never purge.
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: options may be set at any time; mimalloc reads this one at every purge it considers.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

#[cfg(not(madsim))]
fn main() -> std::process::ExitCode {
    eprintln!("rollsim runs simulations: build it with --cfg madsim (the default; leave RUSTFLAGS unset)");
    std::process::ExitCode::from(2)
}
