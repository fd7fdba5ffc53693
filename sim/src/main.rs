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
    rollsim_sim::cli::main()
}

#[cfg(not(madsim))]
fn main() -> std::process::ExitCode {
    eprintln!("rollsim runs simulations: build it with --cfg madsim (the default; leave RUSTFLAGS unset)");
    std::process::ExitCode::from(2)
}
