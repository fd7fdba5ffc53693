//! The world's nodes driven directly by tests on a node of their own: L1 RPC, the L2 side.

use super::World;
use crate::{batcher_node::PortedBatcher, scenario::Scenario};
use std::sync::Arc;

mod l1_rpc;
mod l2;

/// Starts the world of `scenario` at `seed` (inside the simulation), with the ported batcher.
fn start(scenario: &Scenario, seed: u64) -> World {
    World::start(scenario, seed, None, &(Arc::new(PortedBatcher) as Arc<_>))
}
