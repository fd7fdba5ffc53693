//! `rollsim bench --matrix`: how wall time per simulated hour and peak memory scale with the load
//! (user transactions per L2 block) and the L2 state (funded accounts at genesis), over one
//! scenario. Each cell runs in a child process (`rollsim bench FILE --json --runs 1 --set ...`),
//! so the peak RSS it reports (`VmHWM`) is the cell's own.

use super::{load_with, BenchOptions, Edits};
use std::{
    path::Path,
    process::{Command, ExitCode, Stdio},
    time::Duration,
};

/// User transactions per L2 block, one row per load.
const LOADS: [u64; 3] = [20, 200, 1_000];
/// Funded L2 accounts at genesis (`l2.genesis_accounts`), one column per state size.
const ACCOUNTS: [u64; 3] = [10_000, 100_000, 1_000_000];

/// Simulated time a cell of `txs_per_block` runs: about a minute of wall time at each load.
fn cell_duration(txs_per_block: u64) -> Duration {
    match txs_per_block {
        0..=50 => Duration::from_secs(3600),
        51..=500 => Duration::from_secs(1200),
        _ => Duration::from_secs(600),
    }
}

/// The baseline's own load: above it a cell scales the L2 gas limit and the batcher
/// ([`load_edits`]).
const BASELINE_LOAD: u64 = 20;

/// What a cell of `txs_per_block` sets so that the blocks really carry that load and the batcher
/// posts it. The workload's transactions ask for 70,000 gas on average (the sequencer fills by
/// gas limit): 100,000 a transaction leaves room for a Poisson block above the mean, never below
/// the default 30M. Above the baseline's load the batcher posts 6 blobs a transaction with up to
/// one transaction in flight per 20 users' transactions a block (the baseline's 3 blobs and 10 in
/// flight carry about 30 kB/s; 1,000 a block is about 110 kB/s), and throttling is off: at any
/// intensity op-batcher's throttle caps a block at 130 kB, about 430 of these transactions.
fn load_edits(txs_per_block: u64) -> Vec<String> {
    let mut set = vec![
        format!("l2.workload.txs_per_block={txs_per_block}"),
        format!("l2.gas_limit={}", (txs_per_block * 100_000).max(30_000_000)),
    ];
    if txs_per_block > BASELINE_LOAD {
        set.push("batcher.target_num_frames=6".to_owned());
        set.push(format!("batcher.max_pending_transactions={}", (txs_per_block / 20).max(10)));
        set.push("batcher.throttle_lower_threshold_bytes=0".to_owned());
    }
    set
}

/// One measurement: a load and a state, or the scenario itself for a day.
struct Cell {
    /// `None`: the scenario's own.
    txs_per_block: Option<u64>,
    genesis_accounts: Option<u64>,
    duration: Duration,
}

impl Cell {
    /// This cell's edits of the scenario, after the user's own keys.
    fn edits(&self, user: &Edits) -> Edits {
        let mut set = user.set.clone();
        set.extend(self.txs_per_block.map(load_edits).unwrap_or_default());
        if let Some(accounts) = self.genesis_accounts {
            set.push(format!("l2.genesis_accounts={accounts}"));
        }
        Edits { set, duration: Some(self.duration) }
    }

    fn label(&self) -> String {
        let txs = self.txs_per_block.map_or("the scenario's".to_owned(), thousands);
        let accounts = self.genesis_accounts.map_or("the scenario's".to_owned(), thousands);
        format!("{txs} txs per L2 block, {accounts} accounts, {}", humantime::format_duration(self.duration))
    }
}

/// What a child reported for its cell.
struct Measured {
    sim_time_s: f64,
    wall_time_s: f64,
    setup_s: f64,
    peak_rss_bytes: Option<u64>,
    user_txs_per_block: f64,
    ok: bool,
}

impl Measured {
    fn read(json: &serde_json::Value) -> Option<Self> {
        let stat = |key: &str| json["stats"][key].as_u64();
        let blocks = stat("l2_blocks_built").unwrap_or(0).max(1);
        Some(Self {
            sim_time_s: json["sim_time_s"].as_f64()?,
            wall_time_s: json["wall_time_s"].as_f64()?,
            setup_s: json["setup_s"].as_f64()?,
            peak_rss_bytes: json["peak_rss_bytes"].as_u64(),
            user_txs_per_block: stat("l2_user_txs_included").unwrap_or(0) as f64 / blocks as f64,
            ok: json["ok"].as_bool()?,
        })
    }

    /// Wall seconds per simulated hour, setup (genesis) left out.
    fn wall_per_sim_hour_s(&self) -> f64 {
        (self.wall_time_s - self.setup_s).max(0.0) / (self.sim_time_s / 3600.0).max(1e-9)
    }
}

/// Runs every cell of the matrix over the scenario at `path` (with the user's overrides), one
/// child process at a time, and prints the table (or JSON); exit 1 if a cell broke an invariant.
pub(super) fn run(path: &Path, o: &BenchOptions, day: bool) -> Result<ExitCode, String> {
    let base = load_with(path, &o.edits)?;
    if base.l2.is_none() {
        return Err(format!(
            "{}: the matrix varies the L2's load and state: the scenario needs an [l2] table",
            path.display()
        ));
    }
    let seed = o.seed.unwrap_or(base.seeds()[0]);
    let mut cells: Vec<Cell> = LOADS
        .iter()
        .flat_map(|&txs| {
            ACCOUNTS.iter().map(move |&accounts| Cell {
                txs_per_block: Some(txs),
                genesis_accounts: Some(accounts),
                duration: cell_duration(txs),
            })
        })
        .collect();
    if day {
        cells.push(Cell {
            txs_per_block: None,
            genesis_accounts: None,
            duration: Duration::from_secs(24 * 3600),
        });
    }
    // Every cell's scenario is valid before minutes go into the first.
    for cell in &cells {
        load_with(path, &cell.edits(&o.edits))?;
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let mut measured = Vec::new();
    for (index, cell) in cells.iter().enumerate() {
        eprintln!("cell {}/{}: {}", index + 1, cells.len(), cell.label());
        let mut command = Command::new(&exe);
        command.arg("bench").arg(path).args(["--json", "--runs", "1", "--seed", &seed.to_string()]);
        command.args(cell.edits(&o.edits).args());
        let output = command
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("cell {}: cannot run {}: {e}", index + 1, exe.display()))?;
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).map_err(|e| {
            format!("cell {} ({}): {} and no JSON ({e})", index + 1, cell.label(), output.status)
        })?;
        let result = Measured::read(&json)
            .ok_or_else(|| format!("cell {}: the child's JSON lacks a measurement: {json}", index + 1))?;
        measured.push(result);
    }
    if o.json {
        print_json(&base, seed, &cells, &measured);
    } else {
        print_table(path, seed, &cells, &measured);
    }
    Ok(if measured.iter().all(|m| m.ok) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn print_json(base: &crate::scenario::Scenario, seed: u64, cells: &[Cell], measured: &[Measured]) {
    let rows: Vec<serde_json::Value> = cells
        .iter()
        .zip(measured)
        .map(|(cell, m)| {
            serde_json::json!({
                "txs_per_block": cell.txs_per_block,
                "genesis_accounts": cell.genesis_accounts,
                "sim_time_s": m.sim_time_s,
                "wall_time_s": m.wall_time_s,
                "setup_s": m.setup_s,
                "wall_per_sim_hour_s": m.wall_per_sim_hour_s(),
                "peak_rss_bytes": m.peak_rss_bytes,
                "user_txs_per_block": m.user_txs_per_block,
                "ok": m.ok,
            })
        })
        .collect();
    println!("{}", serde_json::json!({ "scenario": base.name(), "seed": seed, "cells": rows }));
}

fn print_table(path: &Path, seed: u64, cells: &[Cell], measured: &[Measured]) {
    println!(
        "{}, seed {seed}; each cell one run in a child process. Cells simulate 1 h (20 txs per block), \
         20 min (200) or 10 min (1,000); wall time per simulated hour leaves out the setup (genesis \
         built at both nodes), its own column. L2 gas limit 100,000 per transaction (at least 30M); \
         above 20 txs per block the batcher posts 6 blobs a transaction, one in flight per 20 txs \
         a block (at least 10), throttling off.\n",
        path.display()
    );
    println!(
        "| user txs / L2 block | L2 accounts | simulated | setup (s) | wall per simulated hour (s) | peak RSS (MiB) | included txs / block | invariants |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    for (cell, m) in cells.iter().zip(measured) {
        let rss = m.peak_rss_bytes.map_or("?".to_owned(), |bytes| thousands(bytes >> 20));
        println!(
            "| {} | {} | {} | {:.1} | {:.1} | {rss} | {:.0} | {} |",
            cell.txs_per_block.map_or("scenario's".to_owned(), thousands),
            cell.genesis_accounts.map_or("scenario's".to_owned(), thousands),
            humantime::format_duration(Duration::from_secs_f64(m.sim_time_s)),
            m.setup_s,
            m.wall_per_sim_hour_s(),
            m.user_txs_per_block,
            if m.ok { "hold" } else { "FAIL" },
        );
    }
}

/// `n` with thousands separators: 1,000,000.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}
