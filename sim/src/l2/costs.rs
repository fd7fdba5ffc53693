//! What the payload processors' CPU work costs in simulated time: a uniform draw per job from a
//! seeded stream, under a bound per kind of job. The draws are what make proof jobs, prewarm and
//! trie updates overlap and finish out of order, differently at every seed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rollsim::{
    payload::{Job, JobCosts},
    sync::lock,
};
use std::{sync::Mutex, time::Duration};

/// Upper bounds of the costs, in microseconds; each job waits a uniform draw in `0..=max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimCosts {
    /// Per executed transaction.
    pub transact_us: u64,
    /// Per prewarm batch.
    pub prewarm_us: u64,
    /// Per proof job.
    pub proof_us: u64,
    /// Per sparse-trie update.
    pub sparse_trie_us: u64,
}

impl Default for SimCosts {
    fn default() -> Self {
        Self { transact_us: 100, prewarm_us: 200, proof_us: 1_000, sparse_trie_us: 500 }
    }
}

impl SimCosts {
    /// The cost bound of `job`, in microseconds.
    pub fn max_us(&self, job: Job) -> u64 {
        match job {
            Job::Transact => self.transact_us,
            Job::Prewarm => self.prewarm_us,
            Job::Proof => self.proof_us,
            Job::SparseTrie => self.sparse_trie_us,
        }
    }

    /// Draws each job's cost from a stream seeded with `seed` (derive it from the run's seed).
    pub fn seeded(self, seed: u64) -> SeededCosts {
        SeededCosts { bounds: self, rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)) }
    }
}

/// [`SimCosts`] bounds with a seeded stream of draws.
pub struct SeededCosts {
    bounds: SimCosts,
    rng: Mutex<ChaCha8Rng>,
}

impl JobCosts for SeededCosts {
    fn cost(&self, job: Job) -> Duration {
        Duration::from_micros(lock(&self.rng).gen_range(0..=self.bounds.max_us(job)))
    }
}
