//! The `rollsim` binary's contract: JSON keys, exit codes, replay, and errors that name the problem.

use std::{path::PathBuf, process::Command};

const SHORT: &str = r#"name = "short"
description = "Two hours of L1 with one reorg."
duration = "2h"
seeds = [7]

[[faults]]
kind = "l1_reorg"
at = "1h"
depth = 2
"#;

/// Writes `text` to a scenario file unique to `test`.
fn scenario(test: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rollsim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{test}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn rollsim(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rollsim")).args(args).output().expect("rollsim runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn run_json(path: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["run", path.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = rollsim(&args);
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert_eq!(stdout.lines().count(), 1, "one JSON object on stdout: {stdout}");
    serde_json::from_str(&stdout).expect("valid JSON")
}

#[test]
fn run_prints_the_contract_keys_and_replays_exactly() {
    let path = scenario("contract", SHORT);
    let first = run_json(&path, &[]);
    for key in ["scenario", "seed", "sim_time_s", "wall_time_s", "trace_hash", "invariants", "stats"] {
        assert!(first.get(key).is_some(), "missing key {key} in {first}");
    }
    assert_eq!(first["scenario"], "short");
    assert_eq!(first["seed"], 7);
    assert_eq!(first["sim_time_s"], 7200.0);
    assert_eq!(first["stats"]["l1_reorgs"], 1);
    let invariants = first["invariants"].as_array().unwrap();
    assert!(invariants.len() >= 5);
    assert!(invariants.iter().all(|i| i["ok"] == true), "{invariants:?}");

    let again = run_json(&path, &[]);
    assert_eq!(first["trace_hash"], again["trace_hash"], "same seed, same trace");
    let other = run_json(&path, &["--seed", "8"]);
    assert_ne!(first["trace_hash"], other["trace_hash"], "another seed, another trace");

    let twice = run_json(&path, &["--twice"]);
    let determinism =
        twice["invariants"].as_array().unwrap().iter().find(|i| i["name"] == "determinism").unwrap();
    assert_eq!(determinism["ok"], true);
}

#[test]
fn trace_file_holds_every_event() {
    let path = scenario("trace", SHORT);
    let trace = path.with_extension("jsonl");
    let outcome = run_json(&path, &["--trace", trace.to_str().unwrap()]);
    let text = std::fs::read_to_string(&trace).unwrap();
    assert_eq!(text.lines().count() as u64, outcome["trace_events"].as_u64().unwrap());
    let reorg = text.lines().find(|l| l.contains("\"msg\":\"l1 reorg\"")).expect("the reorg is traced");
    let event: serde_json::Value = serde_json::from_str(reorg).unwrap();
    assert_eq!(event["depth"], 2);
    assert_eq!(event["t_ns"].as_u64().unwrap() / 1_000_000_000, 3600);
}

#[test]
fn bad_scenarios_exit_2_naming_file_key_and_reason() {
    let missing = rollsim(&["run", "/nonexistent/x.toml"]);
    assert_eq!(missing.0, 2);
    assert!(missing.2.contains("/nonexistent/x.toml: cannot read"), "{}", missing.2);

    let cases = [
        ("bad-toml", "name = \"x\"\ndescription = \"d\nduration = 1", vec!["bad-toml.toml", "line"]),
        (
            "unknown-key",
            &format!("{SHORT}\n[l1]\nslots = 3\n") as &str,
            vec!["l1.slots: unknown field `slots`, expected one of"],
        ),
        ("wrong-type", &format!("{SHORT}\n[l1]\ngas_limit = \"lots\"\n"), vec!["l1.gas_limit: invalid type"]),
        ("out-of-range", &format!("{SHORT}\n[l1]\nslot_s = 0\n"), vec!["l1.slot_s: must be in 1..=60"]),
        (
            "bad-fault",
            &SHORT.replace("depth = 2", "depth = 65"),
            vec!["faults[0].depth: must be in 1..=64, got 65"],
        ),
    ];
    for (name, text, expected) in cases {
        let path = scenario(name, text);
        let (code, stdout, stderr) = rollsim(&["run", path.to_str().unwrap(), "--json"]);
        assert_eq!(code, 2, "{name}: {stderr}");
        assert!(stdout.is_empty(), "{name}: nothing on stdout");
        assert!(stderr.contains(&format!("{name}.toml")), "{name}: names the file: {stderr}");
        for fragment in expected {
            assert!(stderr.contains(fragment), "{name}: expected {fragment:?} in {stderr}");
        }
    }
}

/// `bench --set` edits the scenario as its file would, `--duration` runs its first stretch (a
/// fault starting later left out), and the JSON reports the process's peak memory (what
/// `bench --matrix` reads from each cell's child); bad input exits 2 naming it.
#[test]
fn bench_edits_the_scenario_and_reports_peak_memory() {
    let text =
        "name = \"bench-l2\"\ndescription = \"d\"\nduration = \"1h\"\nseeds = [3]\n[l2]\n[batcher]\n\n\
                [[faults]]\nkind = \"l1_reorg\"\nat = \"30m\"\ndepth = 1\n";
    let l2 = scenario("bench-l2", text);
    let path = l2.to_str().unwrap();
    let args =
        ["bench", path, "--json", "--runs", "1", "--duration", "2m", "--set", "l2.genesis_accounts=3000"];
    let (code, stdout, stderr) = rollsim(&args);
    assert_eq!(code, 0, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON object");
    assert_eq!(json["sim_time_s"], 120.0);
    assert_eq!(json["stats"]["l1_reorgs"], 0, "the reorg at 30 minutes is left out");
    assert!(json["peak_rss_bytes"].as_u64().unwrap() > 1 << 20, "{json}");
    assert!(json["setup_s"].as_f64().unwrap() > 0.0, "{json}");
    assert!(json["stats"]["l2_user_txs_included"].as_u64().unwrap() > 0, "{json}");

    let (code, _, stderr) = rollsim(&["bench", path, "--set", "l2.genesis_accounts=10"]);
    assert_eq!(code, 2);
    let named =
        "bench-l2.toml with --set l2.genesis_accounts=10: l2.genesis_accounts: must be in 2000..=1000000";
    assert!(stderr.contains(named), "{stderr}");
    let l1_only = scenario("bench-l1", SHORT);
    let (code, _, stderr) = rollsim(&["bench", l1_only.to_str().unwrap(), "--matrix"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("the scenario needs an [l2] table"), "{stderr}");
}

#[test]
fn list_shows_each_scenario_with_its_summary() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios");
    let (code, stdout, _) = rollsim(&["list", dir]);
    assert_eq!(code, 0);
    assert!(stdout.contains("l1-only.toml") && stdout.contains("A day of L1 alone"), "{stdout}");
}
