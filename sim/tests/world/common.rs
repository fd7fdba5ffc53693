//! Runs of inline scenarios for the world's tests.

use rollsim_sim::{run, Outcome, RunOptions, Scenario};

/// Runs `tables` (TOML after the header) for `duration` at `seed`.
pub fn outcome(duration: &str, seed: u64, tables: &str) -> Outcome {
    let text = format!(
        "name = \"test\"\ndescription = \"test\"\nduration = \"{duration}\"\nseeds = [{seed}]\n{tables}"
    );
    let scenario = Scenario::parse(&text, "inline").unwrap_or_else(|e| panic!("{e}"));
    run(&scenario, RunOptions::seed(seed))
}
