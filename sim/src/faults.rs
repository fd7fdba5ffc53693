//! Faults: typed, time-windowed data in a scenario's schedule, and their injection into the world.

use crate::{l1, scenario::Scenario, world::sim_now};
use serde::Deserialize;
use std::time::Duration;

/// One scheduled fault (`[[faults]]` in a scenario, tagged by `kind`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// At `at`, the last `depth` L1 blocks are replaced by a branch of `branch_len` blocks
    /// (default `depth`) proposed at the same slots without the orphaned transactions.
    L1Reorg {
        #[serde(deserialize_with = "crate::scenario::duration")]
        at: Duration,
        depth: u64,
        branch_len: Option<u64>,
    },
}

/// Deepest reorg a scenario may ask for: beyond this the finalized head would have to revert.
pub const MAX_REORG_DEPTH: u64 = 64;

impl Fault {
    /// When the fault starts.
    pub fn at(&self) -> Duration {
        match self {
            Self::L1Reorg { at, .. } => *at,
        }
    }

    /// Checks the fault against the scenario; errors name the field.
    pub fn validate(&self, scenario: &Scenario) -> Result<(), (String, String)> {
        if self.at() >= scenario.duration {
            return Err((
                "at".into(),
                format!("{:?} is not before the end of the run ({:?})", self.at(), scenario.duration),
            ));
        }
        match self {
            Self::L1Reorg { depth, branch_len, .. } => {
                if !(1..=MAX_REORG_DEPTH).contains(depth) {
                    return Err(("depth".into(), format!("must be in 1..={MAX_REORG_DEPTH}, got {depth}")));
                }
                if let Some(len) = branch_len {
                    if len > depth {
                        return Err((
                            "branch_len".into(),
                            format!("must be at most depth ({depth}), got {len}"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Applies `fault` once its time comes. Runs as a world task.
pub async fn inject(fault: Fault, chain: l1::SharedChain) {
    tokio::time::sleep(fault.at().saturating_sub(sim_now())).await;
    match fault {
        Fault::L1Reorg { depth, branch_len, .. } => {
            let result = l1::lock(&chain).reorg(depth, branch_len.unwrap_or(depth));
            if let Err(error) = result {
                tracing::info!(target: "rollsim_sim::faults", %error, depth, "l1 reorg not applied");
            }
        }
    }
}
