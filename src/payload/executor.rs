//! The WorkloadExecutor: where the payload processor's tasks and CPU jobs run.
//!
//! Two backends with one interface. Native (`cfg(not(madsim))`): tasks on a tokio runtime handle,
//! CPU jobs (prewarm batches, proofs, sparse-trie updates) on a rayon pool, as in reth. Inline
//! (`cfg(madsim)`, where no OS threads exist): a CPU job runs on its own task after waiting the
//! cost the caller's [`JobCosts`] gives it. The cost is what lets jobs overlap and finish out of
//! order; the simulated world draws it from a seeded stream, so every seed explores another
//! interleaving of prewarm, execution, proof and trie work.

use std::{future::Future, sync::Arc, time::Duration};

use tokio::task::JoinHandle;

/// The kinds of CPU work, each with its own cost.
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

/// What each CPU job costs on the inline backend: the time its task waits before the work (zero
/// still yields to the scheduler). Called once per job, in the order jobs start.
pub trait JobCosts: Send + Sync + 'static {
    fn cost(&self, job: Job) -> Duration;
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
    costs: Box<dyn JobCosts>,
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

    /// The cost of `job`: nothing natively, where the work itself costs real time.
    pub async fn charge(&self, _job: Job) {}
}

#[cfg(madsim)]
impl WorkloadExecutor {
    /// CPU jobs run inline on their task, each after waiting its cost from `costs`.
    pub fn inline(costs: impl JobCosts) -> Self {
        Self { backend: Arc::new(Backend { costs: Box::new(costs) }) }
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

    /// Runs a CPU job: its cost first, then the work, inline.
    pub async fn run<R: Send + 'static>(&self, job: Job, work: impl FnOnce() -> R + Send + 'static) -> R {
        self.charge(job).await;
        work()
    }

    /// Waits the cost of `job`.
    pub async fn charge(&self, job: Job) {
        match self.backend.costs.cost(job) {
            Duration::ZERO => tokio::task::yield_now().await,
            cost => tokio::time::sleep(cost).await,
        }
    }
}
