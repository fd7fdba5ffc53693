//! The run harness: one scenario at one seed in a madsim runtime of its own, on a fresh OS thread
//! (the thread-local hash-map keys and madsim's context then start clean, as with
//! `#[madsim::test]`), and the outcome it produced.

use crate::{
    batcher_node::{BatcherSystem, PortedBatcher},
    clock::sim_now,
    profile::{self, ProfileLayer},
    scenario::Scenario,
    trace::{Trace, TraceSummary},
    verdict::{Invariant, Verdict},
    world::{Stats, World},
};
use serde::Serialize;
use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};
use tracing_subscriber::{filter::Targets, layer::SubscriberExt, Layer as _};

/// How to run: the seed, whether to keep the trace's lines, and the batcher under test.
#[derive(Clone, Default)]
pub struct RunOptions {
    pub seed: u64,
    /// Keep the trace's lines (for `--trace` and tests), not only its hash.
    pub record_trace: bool,
    /// Node `batcher`'s system; the ported op-batcher when `None`.
    pub batcher: Option<Arc<dyn BatcherSystem>>,
}

impl RunOptions {
    /// A run at `seed`, keeping only the trace's hash, with the ported batcher.
    pub fn seed(seed: u64) -> Self {
        Self { seed, ..Self::default() }
    }

    /// Keeps the trace's lines in [`Outcome::trace_lines`].
    pub fn record_trace(self) -> Self {
        Self { record_trace: true, ..self }
    }

    /// Runs `system` as node `batcher` in place of the ported batcher.
    pub fn batcher(self, system: impl BatcherSystem) -> Self {
        Self { batcher: Some(Arc::new(system)), ..self }
    }
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("seed", &self.seed)
            .field("record_trace", &self.record_trace)
            .field("batcher", &if self.batcher.is_some() { "a system of the caller's" } else { "ported" })
            .finish()
    }
}

/// What a run produced.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub scenario: String,
    pub seed: u64,
    pub sim_time_s: f64,
    pub trace_hash: String,
    pub trace_events: u64,
    pub invariants: Vec<Verdict>,
    pub stats: Stats,
    #[serde(skip)]
    pub trace_lines: Vec<String>,
    /// How to run this again: `cargo sim run FILE --seed N`.
    #[serde(skip)]
    replay: Replay,
}

/// Where the scenario of a run can be read again.
#[derive(Debug, Clone)]
enum Replay {
    File(PathBuf),
    /// Built or edited in Rust: its TOML document.
    Text(String),
}

impl Outcome {
    /// Every invariant held.
    pub fn ok(&self) -> bool {
        self.invariants.iter().all(|i| i.ok)
    }

    /// The verdict on `invariant`, if this run judged it.
    pub fn verdict(&self, invariant: Invariant) -> Option<&Verdict> {
        self.invariants.iter().find(|v| v.invariant == invariant)
    }

    /// The verdicts that failed.
    pub fn failures(&self) -> impl Iterator<Item = &Verdict> {
        self.invariants.iter().filter(|v| !v.ok)
    }

    /// The first invariant that failed, in the order the run reports them.
    pub fn first_failure(&self) -> Option<Invariant> {
        self.failures().next().map(|v| v.invariant)
    }

    /// The command that replays this run. A scenario built or edited in Rust is first written to
    /// the system's temporary directory, so the command works from any shell.
    pub fn replay_command(&self) -> String {
        let path = match &self.replay {
            Replay::File(path) => path.clone(),
            Replay::Text(text) => {
                let path = std::env::temp_dir().join(format!("rollsim-{}-{}.toml", self.scenario, self.seed));
                match std::fs::write(&path, text) {
                    Ok(()) => path,
                    Err(e) => return format!("(cannot write {}: {e}) the scenario:\n{text}", path.display()),
                }
            }
        };
        format!("cargo sim run {} --seed {}", path.display(), self.seed)
    }

    /// Panics unless every invariant held, listing the failures and the command that replays the
    /// run.
    #[track_caller]
    pub fn assert_all_hold(&self) {
        if self.ok() {
            return;
        }
        let failures: Vec<String> =
            self.failures().map(|v| format!("  {}: {}", v.invariant, v.detail)).collect();
        panic!(
            "{} at seed {}: {} invariant(s) failed\n{}\nreplay: {}",
            self.scenario,
            self.seed,
            failures.len(),
            failures.join("\n"),
            self.replay_command()
        );
    }
}

/// Runs `body` at each of `seeds`, in order; when it panics at one, panics naming that seed (so
/// a test over many seeds says which one to replay).
#[track_caller]
pub fn for_each_seed(seeds: impl IntoIterator<Item = u64>, body: impl Fn(u64)) {
    for seed in seeds {
        if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(seed))) {
            let message = panic_message(&*panic);
            panic!("failed at seed {seed}: {message}");
        }
    }
}

/// Runs the world of `scenario` in a madsim runtime seeded with the run's seed, to the end;
/// returns the simulated time reached, the verdicts and the counters. A panic in any task unwinds
/// out of `block_on`: it is a finding, recorded as a failed `no_panic` so that fuzzing and
/// `rollsim run` report it like any other violation.
fn simulate(
    scenario: &Scenario,
    options: &RunOptions,
    trace: &Trace,
    progress_s: &AtomicU64,
) -> (Duration, Vec<Verdict>, Stats) {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let runtime = madsim::runtime::Runtime::with_seed_and_config(options.seed, madsim::Config::default());
        runtime.block_on(async {
            let batcher = options.batcher.clone().unwrap_or_else(|| Arc::new(PortedBatcher));
            let world = World::start(scenario, options.seed, Some(trace.clone()), &batcher);
            profile::world_built();
            let end = scenario.duration;
            while sim_now() < end {
                let step = (end - sim_now()).min(PROGRESS_STEP);
                tokio::time::sleep(step).await;
                progress_s.store(sim_now().as_secs(), Ordering::Relaxed);
                world.prune();
                forget_finished_tasks();
            }
            let judged = world.finish();
            world.shut_down();
            judged
        })
    }))
    .unwrap_or_else(|panic| {
        let message = panic_message(&*panic);
        let at_s = progress_s.load(Ordering::Relaxed);
        let detail = format!("{message} (panicked after {at_s} s of simulated time)");
        let failed = Verdict { invariant: Invariant::NoPanic, ok: false, detail };
        (Duration::from_secs(at_s), vec![failed], Stats::default())
    })
}

/// madsim keeps a weak reference to every task a node ever spawned (for `kill`), which holds the
/// task's record, and lets finished ones go only when asked for a task count: unasked, each task
/// the payload processor and the batcher spawn stays, half a gigabyte over a simulated day of the
/// baseline. Asking touches no draw and no clock.
fn forget_finished_tasks() {
    madsim::runtime::Handle::current().metrics().num_tasks();
}

/// A panic payload's message.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// A run in progress on its own thread.
pub struct RunHandle {
    thread: std::thread::JoinHandle<(Outcome, Option<Profile>)>,
    progress_s: Arc<AtomicU64>,
}

impl RunHandle {
    /// Simulated seconds done so far.
    pub fn progress_s(&self) -> u64 {
        self.progress_s.load(Ordering::Relaxed)
    }

    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// Waits for the outcome. A panic in the simulated world is the outcome's `no_panic` failure;
    /// one in the harness around it is re-raised here.
    pub fn join(self) -> Outcome {
        self.thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)).0
    }
}

/// How often a run reports its progress (simulated time).
const PROGRESS_STEP: Duration = Duration::from_secs(60);

/// Starts `scenario` on a fresh thread.
pub fn spawn_run(scenario: Scenario, options: RunOptions) -> RunHandle {
    let progress_s = Arc::new(AtomicU64::new(0));
    let thread = spawn_thread(scenario, options, progress_s.clone(), false);
    RunHandle { thread, progress_s }
}

/// Runs `scenario` on a fresh thread, with profiling if `profiled`.
fn spawn_thread(
    scenario: Scenario,
    options: RunOptions,
    progress_s: Arc<AtomicU64>,
    profiled: bool,
) -> std::thread::JoinHandle<(Outcome, Option<Profile>)> {
    // Outside any simulation: the runtime is created on this new thread.
    #[allow(clippy::disallowed_methods)]
    std::thread::Builder::new()
        .name(format!("rollsim-{}-{}", scenario.name, options.seed))
        .stack_size(64 << 20)
        .spawn(move || run_on_this_thread(&scenario, &options, &progress_s, profiled))
        .expect("spawning the simulation thread")
}

/// Where one run's wall time went: time-stamp counter ticks per [`profile::LABELS`] bucket, over
/// all the run's ticks and its wall time.
#[derive(Debug, Clone, Copy)]
pub struct Profile {
    pub ticks: profile::Ticks,
    pub total_ticks: u64,
    /// Ticks until the world was built (genesis included), before simulated time starts.
    pub setup_ticks: u64,
    pub wall: Duration,
}

impl Profile {
    /// Wall time until the world was built.
    pub fn setup(&self) -> Duration {
        self.wall.mul_f64(self.setup_ticks as f64 / self.total_ticks.max(1) as f64)
    }
}

/// Runs `scenario` at `seed` on a fresh thread with profiling on (no trace lines kept).
pub fn profile_run(scenario: &Scenario, seed: u64) -> (Outcome, Profile) {
    let options = RunOptions::seed(seed);
    let thread = spawn_thread(scenario.clone(), options, Arc::default(), true);
    let (outcome, profile) = thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    (outcome, profile.expect("profiled"))
}

/// Runs `scenario` to the end and returns its outcome.
pub fn run(scenario: &Scenario, options: RunOptions) -> Outcome {
    spawn_run(scenario.clone(), options).join()
}

fn run_on_this_thread(
    scenario: &Scenario,
    options: &RunOptions,
    progress_s: &Arc<AtomicU64>,
    profiled: bool,
) -> (Outcome, Option<Profile>) {
    let trace = if options.record_trace { Trace::recording() } else { Trace::new() };
    let subscriber =
        tracing_subscriber::registry().with(trace.layer()).with(profiled.then_some(ProfileLayer)).with(
            // `Targets`, not `EnvFilter`: building an `EnvFilter` creates a std hash map, which would
            // fix this thread's hash-map keys before madsim can seed them.
            std::env::var("RUST_LOG").ok().and_then(|filter| filter.parse::<Targets>().ok()).map(|filter| {
                tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(filter)
            }),
        );
    // The batcher runs on this thread: the toggle is thread-local.
    #[cfg(feature = "planted-bugs")]
    rollsim::planted::set(scenario.planted_bug.as_deref());
    // The bench's wall clock: read outside the simulation, before and after it.
    #[allow(clippy::disallowed_methods)]
    let started = (std::time::Instant::now(), profile::ticks());
    if profiled {
        profile::enable();
    }
    let (sim_time, invariants, stats) =
        tracing::subscriber::with_default(subscriber, || simulate(scenario, options, &trace, progress_s));
    let profile = profiled.then(|| {
        let (ticks, world_built) = profile::take();
        Profile {
            ticks,
            total_ticks: profile::ticks() - started.1,
            setup_ticks: world_built.map_or(0, |at| at.saturating_sub(started.1)),
            wall: started.0.elapsed(),
        }
    });
    let TraceSummary { hash, events } = trace.summary();
    let outcome = Outcome {
        scenario: scenario.name.clone(),
        seed: options.seed,
        // Whole milliseconds: madsim advances its clock a few ns per poll.
        sim_time_s: sim_time.as_millis() as f64 / 1000.0,
        trace_hash: hash.to_string(),
        trace_events: events,
        invariants,
        stats,
        trace_lines: trace.take_lines(),
        replay: match scenario.path() {
            Some(path) => Replay::File(path.to_owned()),
            None => Replay::Text(scenario.to_toml()),
        },
    };
    (outcome, profile)
}
