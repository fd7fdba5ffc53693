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

/// mimalloc's `mi_option_purge_delay`: its position in `mi_option_e` (mimalloc.h), which the Rust
/// bindings do not name.
#[cfg(madsim)]
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

#[cfg(madsim)]
fn main() -> std::process::ExitCode {
    keep_freed_pages();
    rollsim_sim::cli::main()
}

/// Freed pages stay with the process instead of going back to the OS after 10 ms: every block
/// frees and reallocates about the same memory, and handing it back cost a page fault and a
/// cleared page each time (4% of the hour). Peak memory is unchanged: what is kept is reused.
#[cfg(madsim)]
fn keep_freed_pages() {
    use libmimalloc_sys::{mi_option_get, mi_option_set};
    // SAFETY: option reads and writes, which mimalloc allows at any time.
    unsafe {
        // 10 ms is the option's documented default: any other value means the position names
        // another option in this mimalloc, so leave it.
        if mi_option_get(MI_OPTION_PURGE_DELAY) == 10 {
            mi_option_set(MI_OPTION_PURGE_DELAY, -1);
        }
    }
}

#[cfg(not(madsim))]
fn main() -> std::process::ExitCode {
    eprintln!("rollsim runs simulations: build it with --cfg madsim (the default; leave RUSTFLAGS unset)");
    std::process::ExitCode::from(2)
}
