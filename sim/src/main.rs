//! `rollsim`: run scenarios, replay seeds, list what there is.
//!
//! Exit codes: 0 every invariant holds, 1 a violation (or a determinism break with `--twice`),
//! 2 bad input (unreadable or invalid scenario, bad arguments).

#[cfg(madsim)]
fn main() -> std::process::ExitCode {
    rollsim_sim::cli::main()
}

#[cfg(not(madsim))]
fn main() -> std::process::ExitCode {
    eprintln!("rollsim runs simulations: build it with --cfg madsim (the default; leave RUSTFLAGS unset)");
    std::process::ExitCode::from(2)
}
