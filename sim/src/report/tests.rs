//! The HTML report of a run with a reorg, a fee spike and throttling holds every series, the
//! fault windows and the marks, and references nothing outside itself.
use crate::{
    harness::{run, RunOptions},
    report,
    scenario::Scenario,
};

const SCENARIO: &str = r#"
name = "report"
description = "A reorg, a blob fee spike and throttling, for the report."
duration = "20m"
seeds = [9]
[l2]
[l2.workload]
txs_per_block = 40.0
transfer_share = 0.2
[batcher]
da_type = "blobs"
max_pending_transactions = 4
throttle_lower_threshold_bytes = 100_000
throttle_upper_threshold_bytes = 1_000_000
[[faults]]
kind = "l1_reorg"
at = "8m"
depth = 2
[[faults]]
kind = "fee_spike"
at = "3m"
duration = "6m"
blob_demand_multiplier = 10.0
"#;

fn count(html: &str, needle: &str) -> usize {
    html.matches(needle).count()
}

#[test]
fn the_report_shows_every_series_fault_and_mark_and_is_self_contained() {
    let scenario = Scenario::parse(SCENARIO, "report").unwrap();
    let outcome = run(&scenario, RunOptions::seed(9).record_trace());
    let html = report::for_run(&scenario, &outcome, "cargo sim run report.toml --seed 9");

    for series in [
        "l1_head",
        "l1_safe",
        "l1_finalized",
        "l2_unsafe",
        "l2_safe",
        "l2_finalized",
        "pending_da_bytes",
        "max_tx_da_bytes",
        "max_block_da_bytes",
        "base_fee_wei",
        "blob_base_fee_wei",
    ] {
        let start =
            html.find(&format!(r#"data-series="{series}""#)).unwrap_or_else(|| panic!("series {series}"));
        let points = &html[start..html[start..].find("/>").unwrap() + start];
        let points = points.split("points=\"").nth(1).unwrap_or_default().split_whitespace().count();
        assert!(points >= 2, "series {series} has {points} points");
    }
    assert_eq!(count(&html, "data-threshold="), 2, "lower and upper throttle thresholds");
    let timeline = report::Timeline::from_trace(&outcome.trace_lines, outcome.sim_time_s);
    assert!(
        timeline.series["max_block_da_bytes"].iter().any(|&(_, v)| v < 130_000.0),
        "throttling lowered the block limit: {:?}",
        timeline.series["max_block_da_bytes"]
    );
    for marks in ["tx sent", "tx confirmed", "channel opened", "channel closed", "l1 reorg"] {
        assert!(!timeline.marks[marks].is_empty(), "marks {marks}");
        let group = html.find(&format!(r#"data-marks="{marks}""#)).unwrap_or_else(|| panic!("marks {marks}"));
        let group = &html[group..group + html[group..].find("</g>").unwrap()];
        assert_eq!(
            count(group, r#"class="mark""#),
            timeline.marks[marks].len(),
            "one mark per {marks} event"
        );
    }
    assert_eq!(count(&html, r#"class="fault""#), 2, "one shaded window per fault");
    for kind in ["l1_reorg", "fee_spike"] {
        assert!(html.contains(&format!(r#"class="fault" data-kind="{kind}""#)), "a window for {kind}");
    }
    let spike = timeline.faults.iter().find(|f| f.0 == "fee_spike").unwrap();
    assert_eq!(
        (spike.1.round(), spike.2.round()),
        (180.0, 540.0),
        "the spike's window is its [at, at + duration)"
    );
    assert!(html.contains("every invariant holds"), "{:?}", outcome.invariants);
    assert!(html.contains(&outcome.trace_hash) && html.contains("cargo sim run report.toml --seed 9"));
    // Self-contained: no scripts, links, images or fetches; the SVG namespace is the only URL.
    for outside in ["<script", "<link", "<img", "src=", "href=", "url(", "@import"] {
        assert!(!html.contains(outside), "the report references {outside}");
    }
    assert_eq!(count(&html, "http"), 1, "only the SVG namespace");
}
