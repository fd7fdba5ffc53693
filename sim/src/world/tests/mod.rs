//! The world's nodes driven directly by tests on a node of their own: L1 RPC, the L2 side.

use super::World;
use crate::{batcher_node::PortedBatcher, scenario::Scenario};
use std::{sync::Arc, time::Duration};

mod l1_rpc;
mod l2;

/// Starts the world of `scenario` at `seed` (inside the simulation), with the ported batcher.
fn start(scenario: &Scenario, seed: u64) -> World {
    World::start(scenario, seed, None, &(Arc::new(PortedBatcher) as Arc<_>))
}

/// A world shut down after its run leaves nothing behind with its runtime: its nodes' tasks and
/// its own end, and the chains they shared are freed. A fuzz campaign runs thousands of worlds
/// in one process; before, each stayed in memory.
#[test]
fn a_world_shut_down_frees_the_chains_its_tasks_held() {
    let text = "name = \"shut-down\"\ndescription = \"test\"\nduration = \"3m\"\nseeds = [5]\n\
                [l2]\n[batcher]\nda_type = \"blobs\"\n";
    let scenario = Scenario::parse(text, "inline").unwrap();
    let runtime = madsim::runtime::Runtime::with_seed_and_config(5, madsim::Config::default());
    let (l1, l2) = runtime.block_on(async move {
        let world = start(&scenario, 5);
        tokio::time::sleep(Duration::from_secs(150)).await;
        let l2 = &world.l2.as_ref().expect("the scenario has an L2").chain;
        assert!(crate::l2::chain::lock(l2).head().number() > 60, "the L2 side ran");
        let held = (Arc::downgrade(&world.l1), Arc::downgrade(l2));
        world.shut_down();
        held
    });
    drop(runtime);
    assert!(l1.upgrade().is_none(), "the L1 chain outlived its run");
    assert!(l2.upgrade().is_none(), "the L2 chain outlived its run");
}
