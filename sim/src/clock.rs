//! The simulation's clock, as the world reads it: simulated time since the run started. Simulated
//! time zero is L1 genesis.

use std::time::Duration;

/// Simulated time since the world started. Panics outside a simulation.
pub fn sim_now() -> Duration {
    madsim::time::TimeHandle::current().elapsed()
}

/// The simulated time of `at`, an instant a system under test read from tokio's clock (the
/// simulation's under madsim).
pub fn sim_time_of(at: tokio::time::Instant) -> Duration {
    let time = madsim::time::TimeHandle::current();
    time.elapsed().saturating_sub(time.now_instant().saturating_duration_since(at))
}
