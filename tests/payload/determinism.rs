//! Same seed => the same events in the same order; another seed => another interleaving of the same
//! block, with the same root. Its own test binary: tracing caches per-callsite interest globally,
//! so events recorded by a thread-local subscriber while other tests run in parallel can go missing.
#![cfg(madsim)]

use std::{
    io::Write,
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::common::{case, run_block, simulate, Faults, Shape};
use alloy_primitives::B256;

/// Every rollsim event (debug level included) of executing block `block_seed` in a simulation
/// seeded with `sim_seed`, in order, and the root.
fn recorded_events(block_seed: u64, sim_seed: u64) -> (Vec<String>, B256) {
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .without_time()
        .with_writer(move || writer.clone())
        .finish();
    let case = case(block_seed, Shape::SMALL);
    let faults = Faults { delayed_proofs: [(2, Duration::from_millis(3))].into(), ..Default::default() };
    let root = tracing::subscriber::with_default(subscriber, || {
        simulate(sim_seed, async move { run_block(sim_seed, &case, faults).await.0.unwrap().1.state_root })
    });
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    // Task ids and madsim's own events are not the systems' events.
    let events =
        text.lines().filter_map(|line| line.split_once(" rollsim::")).map(|(_, event)| event.to_owned());
    (events.collect(), root)
}

#[test]
fn same_seed_same_events_other_seed_other_interleaving() {
    let (first, root) = recorded_events(11, 1);
    let (again, root_again) = recorded_events(11, 1);
    assert!(first.len() > 20, "the run was traced: {first:?}");
    assert!(first.last().unwrap().starts_with("payload: state root computed"), "{first:?}");
    assert_eq!(first, again, "same seed, same events in the same order");
    assert_eq!(root, root_again);
    let (other, root_other) = recorded_events(11, 2);
    assert_ne!(first, other, "another seed, another interleaving");
    assert_eq!(root, root_other, "of the same block, to the same root");
}
