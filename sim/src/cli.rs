//! The `rollsim` command line (simulation build only): `main` is the binary.

mod matrix;

use crate::{
    fuzz,
    harness::{self, Outcome, RunOptions},
    scenario::Scenario,
    verdict::{Invariant, Verdict},
};
use clap::{Parser, Subcommand};
use rollsim::sync::lock;
use std::{
    io::{IsTerminal as _, Write as _},
    path::{Path, PathBuf},
    process::ExitCode,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Mutex,
    },
    time::Duration,
};

#[derive(Parser)]
#[command(name = "rollsim", version, about = "Deterministic simulation testbed for rollup infrastructure")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario at one seed.
    Run {
        /// Scenario file (TOML).
        scenario: PathBuf,
        /// Run seed; default: the scenario's first pinned seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Print one JSON object instead of the human summary.
        #[arg(long)]
        json: bool,
        /// Write the event trace as JSON lines.
        #[arg(long, value_name = "FILE.jsonl")]
        trace: Option<PathBuf>,
        /// Run twice and fail if the trace hashes differ.
        #[arg(long)]
        twice: bool,
        /// Write a self-contained HTML report of the run (charts against simulated time).
        #[arg(long, value_name = "FILE.html")]
        report: Option<PathBuf>,
    },
    /// Work with traces written by `run --trace`.
    Trace {
        #[command(subcommand)]
        command: TraceCommand,
    },
    /// Run random fault schedules; on a violation shrink it, write a reproducer, exit 1.
    Fuzz {
        /// Number of cases (default 100 unless --time is given).
        #[arg(long, conflicts_with = "time")]
        runs: Option<u64>,
        /// Wall-clock budget, e.g. "5m".
        #[arg(long, value_parser = humantime::parse_duration)]
        time: Option<Duration>,
        /// Campaign seed: case k of the campaign runs case seed `seed + k * shards + shard`.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// This process's share `I/N` of the case seeds (disjoint across I, same N).
        #[arg(long, default_value = "0/1", value_parser = parse_shard)]
        shard: (u64, u64),
        /// Scenario whose tables (batcher config, L1, L2) the cases use; its faults are replaced.
        #[arg(long)]
        base: Option<PathBuf>,
        /// Where reproducers go.
        #[arg(long, default_value = "fuzz-failures")]
        out: PathBuf,
        /// Print one JSON summary instead of the human lines.
        #[arg(long)]
        json: bool,
        /// Activate a planted bug in every case (build with --features planted-bugs).
        #[arg(long)]
        plant: Option<String>,
        /// Also write each reproducer's HTML report (as `run --report`) here.
        #[arg(long, value_name = "DIR")]
        report_dir: Option<PathBuf>,
        /// Cases run at once (default: the machine's cores). The failure reported is the
        /// campaign's lowest-numbered failing case among those run, whatever finished first.
        #[arg(long)]
        jobs: Option<usize>,
    },
    /// Measure a scenario's speed: simulated/wall time ratio and where the wall time goes; with
    /// --matrix, how wall time and peak memory scale with the load and the L2 state.
    Bench {
        /// Scenario file (TOML).
        #[arg(default_value = "scenarios/baseline.toml")]
        scenario: PathBuf,
        /// Run seed; default: the scenario's first pinned seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Runs to take the fastest of.
        #[arg(long, default_value_t = 3)]
        runs: u32,
        /// Print one JSON object instead of the table.
        #[arg(long)]
        json: bool,
        /// Sets a scenario key as the file would, e.g. `l2.workload.txs_per_block=200` or
        /// `duration=10m` (a TOML value; anything else is a string). Repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Simulate only the scenario's first stretch, e.g. "10m": faults starting later are left
        /// out.
        #[arg(long, value_parser = humantime::parse_duration, conflicts_with = "matrix")]
        duration: Option<Duration>,
        /// Measure every cell of user transactions per L2 block (20, 200, 1,000) by L2 accounts at
        /// genesis (10k, 100k, 1M), each in a child process: wall time per simulated hour and
        /// peak RSS, as a markdown table.
        #[arg(long)]
        matrix: bool,
        /// With --matrix, also a row for the scenario run for 24 simulated hours (minutes of wall
        /// time).
        #[arg(long, requires = "matrix")]
        day: bool,
    },
    /// List the planted bugs `fuzz --plant` can activate: name, tab, the upstream bug.
    Planted,
    /// List scenarios with their one-line descriptions.
    List {
        #[arg(default_value = "scenarios")]
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum TraceCommand {
    /// The first event where two traces differ, with context; exit 1 when they differ.
    Diff {
        a: PathBuf,
        b: PathBuf,
        /// Events of context on each side.
        #[arg(long, default_value_t = 5)]
        context: usize,
    },
}

/// How many worlds a command builds in its process: what the binary tunes its allocator for, and
/// whether built geneses are kept for the next world ([`crate::keep_built_geneses`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Worlds {
    /// `run` and `bench` (a `--matrix` cell is a `bench` in a child process): one world at a
    /// time, so the process's memory is bounded by that world's peak.
    One,
    /// Everything else: `fuzz` and `planted` build many worlds, each on a thread of its own, most
    /// of them on the same genesis.
    Many,
}

impl Command {
    fn worlds(&self) -> Worlds {
        match self {
            Command::Run { .. } | Command::Bench { .. } => Worlds::One,
            Command::Trace { .. } | Command::Fuzz { .. } | Command::Planted | Command::List { .. } => {
                Worlds::Many
            }
        }
    }
}

/// Parses the command line, lets the binary tune its allocator for the command's [`Worlds`], and
/// runs the command.
pub fn main(tune_allocator: impl FnOnce(Worlds)) -> ExitCode {
    let cli = Cli::parse();
    let worlds = cli.command.worlds();
    tune_allocator(worlds);
    if worlds == Worlds::Many {
        crate::l2::genesis::keep_built_geneses();
    }
    let result = match cli.command {
        Command::Run { scenario, seed, json, trace, twice, report } => {
            run(&scenario, seed, json, trace.as_deref(), twice, report.as_deref())
        }
        Command::Trace { command: TraceCommand::Diff { a, b, context } } => trace_diff(&a, &b, context),
        Command::Fuzz { runs, time, seed, shard, base, out, json, plant, report_dir, jobs } => {
            fuzz(FuzzOptions { runs, time, seed, shard, base, out, json, plant, report_dir, jobs })
        }
        Command::Bench { scenario, seed, runs, json, set, duration, matrix, day } => {
            let options = BenchOptions { seed, runs, json, edits: Edits { set, duration } };
            if matrix {
                matrix::run(&scenario, &options, day)
            } else {
                bench(&scenario, &options)
            }
        }
        Command::Planted => planted(),
        Command::List { dir } => list(&dir),
    };
    result.unwrap_or_else(|message| {
        eprintln!("error: {message}");
        ExitCode::from(2)
    })
}

fn run(
    path: &Path,
    seed: Option<u64>,
    json: bool,
    trace: Option<&Path>,
    twice: bool,
    report: Option<&Path>,
) -> Result<ExitCode, String> {
    let scenario = Scenario::load(path).map_err(|e| e.to_string())?;
    let seed = seed.unwrap_or(scenario.seeds[0]);
    let options = RunOptions { record_trace: trace.is_some() || report.is_some(), ..RunOptions::seed(seed) };
    let (mut outcome, wall) = run_with_progress(&scenario, options.clone());
    if let Some(file) = trace {
        write_trace(file, &outcome.trace_lines)?;
    }
    if let Some(file) = report {
        let command = format!("cargo sim run {} --seed {seed}", path.display());
        let html = crate::report::for_run(&scenario, &outcome, &command);
        std::fs::write(file, html).map_err(|e| format!("{}: cannot write report: {e}", file.display()))?;
    }
    if twice {
        let (again, _) = run_with_progress(&scenario, RunOptions { record_trace: false, ..options.clone() });
        let same = again.trace_hash == outcome.trace_hash;
        outcome.invariants.push(Verdict {
            invariant: Invariant::Determinism,
            ok: same,
            detail: if same {
                format!("two runs, one trace hash {}", outcome.trace_hash)
            } else {
                format!("trace hashes differ: {} then {}", outcome.trace_hash, again.trace_hash)
            },
        });
    }
    if json {
        let mut value = serde_json::to_value(&outcome).expect("outcome serializes");
        value["wall_time_s"] = serde_json::json!(wall.as_secs_f64());
        println!("{value}");
    } else {
        print_summary(&outcome, wall, path);
    }
    Ok(if outcome.ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Runs on the simulation thread while this one reports progress on stderr after the first second.
fn run_with_progress(scenario: &Scenario, options: RunOptions) -> (Outcome, Duration) {
    // Outside any simulation: this thread only measures and reports.
    #[allow(clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    let handle = harness::spawn_run(scenario.clone(), options);
    let total_s = scenario.duration.as_secs().max(1);
    // Only a terminal gets the progress line, and only when it changes.
    let terminal = std::io::stderr().is_terminal();
    let (mut shown, mut last) = (false, None);
    while !handle.is_finished() {
        std::thread::sleep(Duration::from_millis(100));
        let done = handle.progress_s();
        if terminal && started.elapsed() >= Duration::from_secs(1) && last != Some(done) {
            let percent = done * 100 / total_s;
            eprint!("\r{}: simulated {} / {} ({percent}%)   ", scenario.name, hms(done), hms(total_s));
            let _ = std::io::stderr().flush();
            (shown, last) = (true, Some(done));
        }
    }
    if shown {
        eprintln!();
    }
    let outcome = handle.join();
    (outcome, started.elapsed())
}

fn hms(s: u64) -> String {
    format!("{}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60)
}

fn write_trace(file: &Path, lines: &[String]) -> Result<(), String> {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(file, text).map_err(|e| format!("{}: cannot write trace: {e}", file.display()))
}

fn print_summary(outcome: &Outcome, wall: Duration, path: &Path) {
    let speed = outcome.sim_time_s / wall.as_secs_f64().max(1e-9);
    println!("scenario   {}  (seed {})", outcome.scenario, outcome.seed);
    println!(
        "time       {} simulated in {:.2} s wall ({:.0}x)",
        hms(outcome.sim_time_s as u64),
        wall.as_secs_f64(),
        speed
    );
    println!("trace      {} ({} events)", outcome.trace_hash, outcome.trace_events);
    println!("invariants");
    for invariant in &outcome.invariants {
        println!(
            "  {:4} {:20} {}",
            if invariant.ok { "ok" } else { "FAIL" },
            invariant.invariant.name(),
            invariant.detail
        );
    }
    println!("stats");
    for (name, value) in outcome.stats.entries() {
        println!("  {name:28} {value}");
    }
    if !outcome.ok() {
        println!("reproduce: cargo sim run {} --seed {}", path.display(), outcome.seed);
    }
}

fn read_lines(file: &Path) -> Result<Vec<String>, String> {
    let text =
        std::fs::read_to_string(file).map_err(|e| format!("{}: cannot read trace: {e}", file.display()))?;
    Ok(text.lines().map(str::to_owned).collect())
}

fn trace_diff(a: &Path, b: &Path, context: usize) -> Result<ExitCode, String> {
    let (lines_a, lines_b) = (read_lines(a)?, read_lines(b)?);
    match crate::trace_diff::first_divergence(&lines_a, &lines_b) {
        None => {
            println!("traces are equal ({} events)", lines_a.len());
            Ok(ExitCode::SUCCESS)
        }
        Some(divergence) => {
            print!("{}", crate::trace_diff::render(&lines_a, &lines_b, &divergence, context));
            Ok(ExitCode::from(1))
        }
    }
}

fn planted() -> Result<ExitCode, String> {
    #[cfg(feature = "planted-bugs")]
    {
        for (name, upstream) in rollsim::planted::BUGS {
            println!("{name}\t{upstream}");
        }
        Ok(ExitCode::SUCCESS)
    }
    #[cfg(not(feature = "planted-bugs"))]
    Err("this build has no planted bugs (build with --features planted-bugs)".to_owned())
}

fn list(dir: &Path) -> Result<ExitCode, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("{}: cannot read directory: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    paths.sort();
    let mut bad = false;
    for path in paths {
        match Scenario::load(&path) {
            Ok(scenario) => println!("{:40} {}", path.display(), scenario.summary()),
            Err(error) => {
                bad = true;
                eprintln!("error: {error}");
            }
        }
    }
    Ok(if bad { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let (i, n) = text.split_once('/').ok_or("write the shard as I/N, e.g. 0/4")?;
    let (i, n): (u64, u64) = (
        i.parse().map_err(|e| format!("shard index: {e}"))?,
        n.parse().map_err(|e| format!("shard count: {e}"))?,
    );
    if n == 0 || i >= n {
        return Err(format!("shard {i}/{n}: need N >= 1 and I < N"));
    }
    Ok((i, n))
}

struct FuzzOptions {
    runs: Option<u64>,
    time: Option<Duration>,
    seed: u64,
    shard: (u64, u64),
    base: Option<PathBuf>,
    out: PathBuf,
    json: bool,
    plant: Option<String>,
    report_dir: Option<PathBuf>,
    jobs: Option<usize>,
}

/// Buckets of the runtime's and the world's plumbing, not any system's or fake's own work.
const OVERHEAD: [&str; 2] = ["rpc", "trace"];
/// Buckets of the systems under test (the payload processor, the batcher) and the L2 nodes that
/// drive them (block building, derivation).
const SYSTEMS: [&str; 5] = ["payload", "state", "batcher", "sequencer", "rollup"];

/// What `bench` measures, besides the scenario file.
struct BenchOptions {
    seed: Option<u64>,
    runs: u32,
    json: bool,
    edits: Edits,
}

/// How `bench` edits the scenario file before it runs it.
#[derive(Debug, Clone, Default)]
struct Edits {
    /// `KEY=VALUE`: keys set as the file would set them.
    set: Vec<String>,
    /// Simulate only this much of the scenario.
    duration: Option<Duration>,
}

impl Edits {
    /// The command-line arguments that ask for these edits.
    fn args(&self) -> Vec<String> {
        let duration = self
            .duration
            .iter()
            .flat_map(|d| ["--duration".to_owned(), humantime::format_duration(*d).to_string()]);
        duration.chain(self.set.iter().flat_map(|item| ["--set".to_owned(), item.clone()])).collect()
    }
}

/// The scenario at `path` with `edits`: cut to its first `duration` (faults starting later left
/// out), then every key set, through the scenario builder, so it validates as a file would.
fn load_with(path: &Path, edits: &Edits) -> Result<Scenario, String> {
    let scenario = Scenario::load(path).map_err(|e| e.to_string())?;
    if edits.set.is_empty() && edits.duration.is_none() {
        return Ok(scenario);
    }
    let mut builder = scenario.edit();
    if let Some(duration) = edits.duration {
        builder = builder.duration(duration).remove("faults");
        for fault in scenario.faults().iter().filter(|fault| fault.at() < duration) {
            builder = builder.fault(fault.clone());
        }
    }
    for item in &edits.set {
        let (key, text) = item.split_once('=').ok_or(format!("--set {item}: write KEY=VALUE"))?;
        builder = builder.set(key.trim(), toml_value(text.trim()));
    }
    builder.build().map_err(|e| {
        let field = e.field.map(|field| format!("{field}: ")).unwrap_or_default();
        format!("{} with {}: {field}{}", path.display(), edits.args().join(" "), e.reason)
    })
}

/// `text` as a TOML value (`1000`, `0.5`, `true`, `"10m"`), or else as a string (`10m`).
fn toml_value(text: &str) -> toml::Value {
    serde::Deserialize::deserialize(toml::de::ValueDeserializer::new(text))
        .unwrap_or_else(|_| toml::Value::String(text.to_owned()))
}

/// The process's peak resident set size (Linux's `VmHWM`), if the system reports it.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|line| line.strip_prefix("VmHWM:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib * 1024)
}

fn bench(path: &Path, o: &BenchOptions) -> Result<ExitCode, String> {
    let scenario = load_with(path, &o.edits)?;
    let (seed, json) = (o.seed.unwrap_or(scenario.seeds[0]), o.json);
    let mut best: Option<(Outcome, harness::Profile)> = None;
    let mut walls = Vec::new();
    for _ in 0..o.runs.max(1) {
        let (outcome, profile) = harness::profile_run(&scenario, seed);
        walls.push(profile.wall.as_secs_f64());
        if best.as_ref().is_none_or(|(_, b)| profile.wall < b.wall) {
            best = Some((outcome, profile));
        }
    }
    let (outcome, profile) = best.expect("at least one run");
    let share = |ticks: u64| ticks as f64 / profile.total_ticks.max(1) as f64;
    let charged: u64 = profile.ticks.iter().sum();
    let runtime = profile.total_ticks.saturating_sub(charged);
    let mut components: Vec<(&str, f64)> =
        crate::profile::LABELS.iter().zip(profile.ticks).map(|(label, t)| (*label, share(t))).collect();
    components.push(("runtime", share(runtime)));
    let sum_of =
        |names: &[&str]| components.iter().filter(|(n, _)| names.contains(n)).map(|(_, s)| s).sum::<f64>();
    let overhead = sum_of(&OVERHEAD) + share(runtime);
    let systems = sum_of(&SYSTEMS);
    let wall_s = profile.wall.as_secs_f64();
    let ratio = outcome.sim_time_s / wall_s.max(1e-9);
    let setup_s = profile.setup().as_secs_f64();
    if json {
        let value = serde_json::json!({
            "scenario": outcome.scenario,
            "seed": seed,
            "sim_time_s": outcome.sim_time_s,
            "wall_time_s": wall_s,
            "wall_times_s": walls,
            "setup_s": setup_s,
            "sim_wall_ratio": ratio,
            "overhead_share": overhead,
            "systems_share": systems,
            "components": components.iter().map(|(n, s)| (n.to_string(), serde_json::json!(s))).collect::<serde_json::Map<_, _>>(),
            "peak_rss_bytes": peak_rss_bytes(),
            "stats": outcome.stats,
            "ok": outcome.ok(),
        });
        println!("{value}");
    } else {
        println!("scenario   {}  (seed {seed}, fastest of {} runs)", outcome.scenario, walls.len());
        println!("wall       {wall_s:.3} s for {:.0} s simulated: {ratio:.0}x real time", outcome.sim_time_s);
        println!("setup      {setup_s:.3} s (the world built, genesis included)");
        println!("systems    {:5.1}%  ({})", systems * 100.0, SYSTEMS.join(", "));
        println!("overhead   {:5.1}%  (runtime, {})", overhead * 100.0, OVERHEAD.join(", "));
        for (name, s) in &components {
            println!("  {name:<10} {:5.1}%", s * 100.0);
        }
    }
    Ok(if outcome.ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// A failing case of a campaign: its index, seed, first failing invariant, text and fault count.
type Failure = (u64, u64, Invariant, String, usize);

fn fuzz(o: FuzzOptions) -> Result<ExitCode, String> {
    let base = match &o.base {
        Some(path) => {
            Scenario::load(path).map_err(|e| e.to_string())?;
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
            Some(text.parse::<toml::Table>().map_err(|e| format!("{}: {e}", path.display()))?)
        }
        None => None,
    };
    // A panic in a case is recorded as its failure with the message: keep stderr to the findings.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !std::thread::current().name().is_some_and(|name| name.starts_with("rollsim-")) {
            default_hook(info);
        }
    }));
    // Outside any simulation: the campaign measures wall time.
    #[allow(clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    let jobs = o.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let (cases, failure) = search(&o, base.as_ref(), jobs, started)?;
    if let (Some((_, case_seed, invariant, _, faults)), false) = (&failure, o.json) {
        eprintln!("case {case_seed}: {invariant} violated with {faults} faults; shrinking");
    }
    let elapsed = started.elapsed();
    let per_minute = cases as f64 / elapsed.as_secs_f64().max(1e-9) * 60.0;
    let (index, shards) = o.shard;
    let mut summary = serde_json::json!({
        "cases": cases,
        "failures": u64::from(failure.is_some()),
        "cases_per_minute": per_minute,
        "jobs": jobs,
        "wall_time_s": elapsed.as_secs_f64(),
        "seed": o.seed,
        "shard": format!("{index}/{shards}"),
    });
    let Some((_, case_seed, invariant, text, faults_before)) = failure else {
        if o.json {
            println!("{summary}");
        } else {
            println!("{cases} cases, no failures ({per_minute:.0} cases per minute)");
        }
        return Ok(ExitCode::SUCCESS);
    };
    let (scenario, file, shrink_runs) = write_reproducer(&o, case_seed, invariant, &text, faults_before)?;
    let command = match &o.plant {
        None => format!("cargo sim run {}", file.display()),
        Some(_) => format!(
            "cargo run --release -q -p rollsim-sim --features planted-bugs --bin rollsim -- run {}",
            file.display()
        ),
    };
    let report = match &o.report_dir {
        None => None,
        Some(dir) => Some(reproducer_report(&scenario, dir, &command)?),
    };
    summary["failure"] = serde_json::json!({
        "report": report,
        "case_seed": case_seed,
        "invariant": invariant,
        "faults_before_shrink": faults_before,
        "faults_after_shrink": scenario.faults.len(),
        "shrink_runs": shrink_runs,
        "reproducer": file.display().to_string(),
        "command": command,
        "wall_time_s": started.elapsed().as_secs_f64(),
    });
    if o.json {
        println!("{summary}");
    } else {
        println!(
            "case {case_seed}: {invariant} violated; shrunk to {} faults over {} in {shrink_runs} runs",
            scenario.faults.len(),
            humantime::format_duration(scenario.duration)
        );
        println!("reproducer: {}", file.display());
        println!("reproduce:  {command}");
    }
    Ok(ExitCode::from(1))
}

/// Runs fuzz cases on `jobs` threads until the budget ends or a case fails; returns how many ran
/// and the lowest-numbered failure. Workers take case numbers in order and stop taking new ones
/// after a failure, so every case numbered below a failing one has run: the lowest failing case
/// is the campaign's first.
fn search(
    o: &FuzzOptions,
    base: Option<&toml::Table>,
    jobs: usize,
    started: std::time::Instant,
) -> Result<(u64, Option<Failure>), String> {
    let runs = o.runs.unwrap_or(if o.time.is_some() { u64::MAX } else { 100 });
    let (index, shards) = o.shard;
    let next = AtomicU64::new(0);
    let (stop, cases) = (AtomicBool::new(false), AtomicU64::new(0));
    let failures: Mutex<Vec<Failure>> = Mutex::default();
    let error: Mutex<Option<String>> = Mutex::default();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                if stop.load(Ordering::Relaxed) || o.time.is_some_and(|budget| started.elapsed() >= budget) {
                    return;
                }
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= runs {
                    return;
                }
                let case_seed = o.seed.wrapping_add(k.wrapping_mul(shards)).wrapping_add(index);
                let text = fuzz::swarm_case(case_seed, base, o.plant.as_deref(), fuzz::ALL_KINDS);
                match fuzz::run_text(&text, &format!("fuzz case {case_seed}"), &RunOptions::default()) {
                    Err(message) => {
                        lock(&error).get_or_insert(message);
                        stop.store(true, Ordering::Relaxed);
                    }
                    Ok((scenario, outcome)) => {
                        cases.fetch_add(1, Ordering::Relaxed);
                        if let Some(invariant) = outcome.first_failure() {
                            let failure = (k, case_seed, invariant, text, scenario.faults.len());
                            lock(&failures).push(failure);
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    if let Some(message) = error.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner) {
        return Err(message);
    }
    let failures = failures.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    Ok((cases.into_inner(), failures.into_iter().min_by_key(|f| f.0)))
}

/// Shrinks failing case `case_seed` and writes it, with a header saying where it came from, into
/// the output directory; returns the shrunk scenario, its file and the shrinker's runs.
fn write_reproducer(
    o: &FuzzOptions,
    case_seed: u64,
    invariant: Invariant,
    text: &str,
    faults_before: usize,
) -> Result<(Scenario, PathBuf, u32), String> {
    let (shrunk, shrink_runs) = fuzz::shrink(text, invariant, &RunOptions::default());
    let scenario = Scenario::parse(&shrunk, "shrunk case").map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&o.out).map_err(|e| format!("{}: cannot create: {e}", o.out.display()))?;
    let file = o.out.join(format!("{}.toml", scenario.name));
    let (index, shards) = o.shard;
    let header = format!(
        "# Found by `rollsim fuzz --seed {} --shard {index}/{shards}`: case {case_seed} violates {invariant}.\n\
         # Shrunk from {faults_before} faults in {shrink_runs} runs.\n",
        o.seed
    );
    std::fs::write(&file, format!("{header}{shrunk}"))
        .map_err(|e| format!("{}: cannot write: {e}", file.display()))?;
    Ok((scenario, file, shrink_runs))
}

/// Runs the reproducer again, recording its trace, and writes its HTML report into `dir`.
fn reproducer_report(scenario: &Scenario, dir: &Path, command: &str) -> Result<String, String> {
    let seed = scenario.seeds[0];
    let outcome = harness::spawn_run(scenario.clone(), RunOptions::seed(seed).record_trace()).join();
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
    let path = dir.join(format!("{}.html", scenario.name));
    let html = crate::report::for_run(scenario, &outcome, command);
    std::fs::write(&path, html).map_err(|e| format!("{}: cannot write report: {e}", path.display()))?;
    Ok(path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worlds(args: &[&str]) -> Worlds {
        let cli = Cli::try_parse_from(std::iter::once("rollsim").chain(args.iter().copied()))
            .expect("valid arguments");
        cli.command.worlds()
    }

    #[test]
    fn only_one_world_commands_keep_freed_memory() {
        assert_eq!(worlds(&["run", "scenarios/baseline.toml", "--twice"]), Worlds::One);
        assert_eq!(worlds(&["bench"]), Worlds::One);
        assert_eq!(worlds(&["bench", "--matrix", "--day"]), Worlds::One);
        assert_eq!(worlds(&["fuzz", "--time", "5m"]), Worlds::Many);
        assert_eq!(worlds(&["planted"]), Worlds::Many);
        assert_eq!(worlds(&["list"]), Worlds::Many);
    }
}
