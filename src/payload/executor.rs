//! The WorkloadExecutor: where the payload processor's tasks and CPU jobs run.
//!
//! Two backends with one interface. Native (`cfg(not(madsim))`): tasks on a tokio runtime handle,
//! CPU jobs (prewarm batches, proofs, sparse-trie updates) on a rayon pool, as in reth. Simulation
//! (`cfg(madsim)`): no OS threads exist, so a CPU job runs inline in its madsim task after sleeping
//! a simulated cost drawn from a seeded stream. The cost is what lets jobs overlap and finish out
//! of order, and because the draws differ per seed, every seed explores another interleaving of
//! prewarm, execution, proof and trie work.

use std::{future::Future, sync::Arc};

use tokio::task::JoinHandle;

/// The kinds of CPU work, each with its own simulated cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// Executing one transaction of the block.
    Transact,
    /// One prewarm batch.
    Prewarm,
    /// One multiproof (a chunk of targets).
    Proof,
    /// One sparse-trie update or root.
    SparseTrie,
}

/// Upper bounds of the simulated costs, in microseconds; each job sleeps a uniform draw in
/// `0..=max` (zero still yields to the scheduler).
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
}

/// Runs tasks and CPU jobs; cheap to clone.
#[derive(Clone)]
pub struct WorkloadExecutor {
    backend: Arc<Backend>,
}

#[cfg(not(madsim))]
struct Backend {
    handle: tokio::runtime::Handle,
    pool: rayon::ThreadPool,
}

#[cfg(madsim)]
struct Backend {
    rng: std::sync::Mutex<rand_chacha::ChaCha8Rng>,
    costs: SimCosts,
}

#[cfg(not(madsim))]
impl WorkloadExecutor {
    /// Tasks on the current tokio runtime, CPU jobs on a rayon pool of `threads` threads. Must be
    /// called inside a runtime.
    pub fn native(threads: usize) -> Self {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("payload-cpu-{i}"))
            .build()
            .expect("rayon pool");
        Self { backend: Arc::new(Backend { handle: tokio::runtime::Handle::current(), pool }) }
    }

    /// Spawns an async task.
    pub fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.backend.handle.spawn(task)
    }

    /// How many CPU jobs run at once: the pool's threads.
    pub fn workers(&self) -> usize {
        self.backend.pool.current_num_threads()
    }

    /// Runs a CPU job on the pool and waits for it without blocking the task's thread.
    pub async fn run<R: Send + 'static>(&self, _job: Job, work: impl FnOnce() -> R + Send + 'static) -> R {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.backend.pool.spawn(move || {
            // The receiver only goes away when the waiting task was dropped: nothing to report to.
            let _ = tx.send(work());
        });
        rx.await.expect("a CPU job panicked")
    }

    /// The simulated cost of `job`: nothing natively, where the work itself costs real time.
    pub async fn charge(&self, _job: Job) {}
}

#[cfg(madsim)]
impl WorkloadExecutor {
    /// CPU jobs sleep seeded simulated costs; `seed` should derive from the run's seed.
    pub fn sim(seed: u64, costs: SimCosts) -> Self {
        use rand::SeedableRng;
        let rng = std::sync::Mutex::new(rand_chacha::ChaCha8Rng::seed_from_u64(seed));
        Self { backend: Arc::new(Backend { rng, costs }) }
    }

    /// Spawns an async (madsim) task, named `payload` (a profiler can tell its polls apart).
    pub fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        tokio::task::Builder::new().name("payload").spawn(task)
    }

    /// How many CPU jobs run at once: any number (each sleeps its own simulated cost).
    pub fn workers(&self) -> usize {
        usize::MAX
    }

    /// Runs a CPU job: its simulated cost first, then the work, inline.
    pub async fn run<R: Send + 'static>(&self, job: Job, work: impl FnOnce() -> R + Send + 'static) -> R {
        self.charge(job).await;
        work()
    }

    /// Sleeps the seeded simulated cost of `job`.
    pub async fn charge(&self, job: Job) {
        use rand::Rng;
        let max_us = self.backend.costs.max_us(job);
        let cost_us = {
            let mut rng = crate::sync::lock(&self.backend.rng);
            rng.gen_range(0..=max_us)
        };
        match cost_us {
            0 => tokio::task::yield_now().await,
            us => tokio::time::sleep(std::time::Duration::from_micros(us)).await,
        }
    }
}
