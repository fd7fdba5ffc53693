//! A run at a glance: one self-contained HTML file with inline SVG charts, drawn from the run's
//! trace (the same JSON lines `--trace` writes) and its outcome.
//!
//! Every chart shares the x axis (simulated time); fault windows are shaded across all of them
//! and the first failed invariant is a red line. Nothing is fetched: no scripts, fonts or images.
//! Elements carry `data-series` / `class` attributes so tests (and people) can find them.

use crate::harness::Outcome;
use serde_json::Value;
use std::{collections::BTreeMap, fmt::Write as _};

const WIDTH: f64 = 1000.0;
const PANEL_HEIGHT: f64 = 150.0;
const MARGIN_LEFT: f64 = 90.0;
const MARGIN_RIGHT: f64 = 20.0;
const MARGIN_Y: f64 = 20.0;
const COLORS: [&str; 6] = ["#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"];

/// A time series: (sim seconds, value).
type Series = Vec<(f64, f64)>;

/// What the trace says, sorted into series and marks.
#[derive(Debug, Default)]
pub struct Timeline {
    pub series: BTreeMap<&'static str, Series>,
    /// Event marks by kind: sim seconds.
    pub marks: BTreeMap<&'static str, Vec<f64>>,
    /// Fault windows: (kind, start s, end s).
    pub faults: Vec<(String, f64, f64)>,
    /// The first online invariant violation: (sim seconds, message).
    pub violation: Option<(f64, String)>,
    pub end_s: f64,
}

fn num(v: &Value, key: &str) -> Option<f64> {
    match v.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

impl Timeline {
    /// Reads trace lines; lines that are not JSON objects are skipped.
    pub fn from_trace(lines: &[String], end_s: f64) -> Self {
        let mut t = Self { end_s, ..Default::default() };
        let mut open_faults: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for line in lines {
            let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
            let (Some(at), Some(msg)) =
                (num(&v, "t_ns").map(|n| n / 1e9), v.get("msg").and_then(Value::as_str))
            else {
                continue;
            };
            let mut push = |name: &'static str, key: &str| {
                if let Some(value) = num(&v, key) {
                    t.series.entry(name).or_default().push((at, value));
                }
            };
            match msg {
                "l1 block" => {
                    push("l1_head", "number");
                    push("l1_safe", "safe");
                    push("l1_finalized", "finalized");
                    push("base_fee_wei", "base_fee");
                    push("blob_base_fee_wei", "blob_fee");
                }
                "l1 reorg" => {
                    push("l1_head", "new_number");
                    t.marks.entry("l1 reorg").or_default().push(at);
                }
                "l2 block" => push("l2_unsafe", "number"),
                "l2 safe head" | "l2 safe head (derived block)" => push("l2_safe", "number"),
                "l2 safe head rewound" => push("l2_safe", "to"),
                "l2 finalized head" => push("l2_finalized", "number"),
                "pending da bytes" => push("pending_da_bytes", "unsafe_da_bytes"),
                "da limits set" => {
                    push("max_tx_da_bytes", "max_tx");
                    push("max_block_da_bytes", "max_block");
                }
                "invariant violated" if t.violation.is_none() => {
                    let name = v.get("invariant").and_then(Value::as_str).unwrap_or("invariant");
                    let detail = v.get("detail").and_then(Value::as_str).unwrap_or_default();
                    t.violation = Some((at, format!("{name}: {detail}")));
                }
                "fault started" => {
                    let kind = v.get("kind").and_then(Value::as_str).unwrap_or("fault").to_owned();
                    open_faults.entry(kind).or_default().push(at);
                }
                "fault ended" => {
                    let kind = v.get("kind").and_then(Value::as_str).unwrap_or("fault").to_owned();
                    if let Some(start) = open_faults.get_mut(&kind).and_then(Vec::pop) {
                        t.faults.push((kind, start, at));
                    }
                }
                other => {
                    let mark = match other {
                        "tx published" => "tx sent",
                        "tx confirmed" => "tx confirmed",
                        "tx fees bumped" => "tx replaced",
                        "transaction failed to send" => "tx failed",
                        "sending a cancellation transaction to unblock txpool" => "tx cancelled",
                        "channel opened" => "channel opened",
                        "channel closed" => "channel closed",
                        _ => continue,
                    };
                    t.marks.entry(mark).or_default().push(at);
                }
            }
        }
        // Point faults (a reorg, a crash) and windows still open at the end: a thin window.
        for (kind, starts) in open_faults {
            for start in starts {
                t.faults.push((kind.clone(), start, start.max(end_s.min(start + 1.0))));
            }
        }
        t.faults.sort_by(|a, b| a.1.total_cmp(&b.1));
        // Limits hold until changed: carry the last value to the end.
        for name in ["max_tx_da_bytes", "max_block_da_bytes"] {
            if let Some(&(_, last)) = t.series.get(name).and_then(|s| s.last()) {
                t.series.entry(name).or_default().push((end_s, last));
            }
        }
        t
    }
}

/// One chart: series (optionally on a log scale), horizontal reference lines, marks.
struct Panel<'a> {
    title: &'a str,
    series: Vec<(&'a str, &'a Series)>,
    hlines: Vec<(&'a str, f64)>,
    marks: Vec<(&'a str, &'a [f64])>,
    log: bool,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

struct Frame {
    top: f64,
    end_s: f64,
}

impl Frame {
    fn x(&self, at_s: f64) -> f64 {
        MARGIN_LEFT + (WIDTH - MARGIN_LEFT - MARGIN_RIGHT) * (at_s / self.end_s.max(1.0)).clamp(0.0, 1.0)
    }
}

fn draw_panel(svg: &mut String, panel: &Panel, frame: &Frame) {
    let (top, bottom) = (frame.top + MARGIN_Y, frame.top + PANEL_HEIGHT - MARGIN_Y);
    let scale = |v: f64| if panel.log { v.max(1.0).log10() } else { v };
    let values = panel.series.iter().flat_map(|(_, s)| s.iter().map(|p| scale(p.1)));
    let values = values.chain(panel.hlines.iter().map(|h| scale(h.1)));
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = if lo.is_finite() { (lo, if hi > lo { hi } else { lo + 1.0 }) } else { (0.0, 1.0) };
    let y = |v: f64| bottom - (bottom - top) * (scale(v) - lo) / (hi - lo);
    let _ = write!(
        svg,
        r##"<g class="panel" data-panel="{title}"><rect x="{x0}" y="{top}" width="{w}" height="{h}" fill="none" stroke="#ccc"/><text x="4" y="{ty}" font-size="12" font-weight="bold">{title}</text>"##,
        title = escape(panel.title),
        x0 = MARGIN_LEFT,
        w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT,
        h = bottom - top,
        ty = frame.top + 14.0,
    );
    if !panel.series.is_empty() {
        let _ = write!(
            svg,
            r#"<text x="{lx}" y="{top}" font-size="10" text-anchor="end" dy="10">{}</text><text x="{lx}" y="{bottom}" font-size="10" text-anchor="end">{}</text>"#,
            label(hi, panel.log),
            label(lo, panel.log),
            lx = MARGIN_LEFT - 4.0,
        );
    }
    for (i, (name, series)) in panel.series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let mut points = String::new();
        for &(at, v) in series.iter() {
            let _ = write!(points, "{:.1},{:.1} ", frame.x(at), y(v));
        }
        let _ = write!(
            svg,
            r#"<polyline data-series="{name}" fill="none" stroke="{color}" stroke-width="1.2" points="{points}"/><text x="{lx}" y="{ly}" font-size="10" fill="{color}">{name}</text>"#,
            lx = MARGIN_LEFT + 8.0 + 150.0 * i as f64,
            ly = frame.top + PANEL_HEIGHT - 4.0,
        );
    }
    for (name, value) in &panel.hlines {
        let _ = write!(
            svg,
            r##"<line data-threshold="{name}" x1="{x0}" x2="{x1}" y1="{yv:.1}" y2="{yv:.1}" stroke="#d62728" stroke-dasharray="4 3"/><text x="{x1}" y="{yv:.1}" font-size="9" text-anchor="end" dy="-2" fill="#d62728">{name}</text>"##,
            x0 = MARGIN_LEFT,
            x1 = WIDTH - MARGIN_RIGHT,
            yv = y(*value),
        );
    }
    let rows = panel.marks.len().max(1) as f64;
    for (row, (name, times)) in panel.marks.iter().enumerate() {
        let color = COLORS[row % COLORS.len()];
        let ym = top + (bottom - top) * (row as f64 + 0.5) / rows;
        let _ = write!(
            svg,
            r#"<g data-marks="{name}"><text x="{lx}" y="{ym:.1}" font-size="10" text-anchor="end" fill="{color}">{name}</text>"#,
            lx = MARGIN_LEFT - 4.0
        );
        for &at in times.iter() {
            let _ = write!(
                svg,
                r#"<circle class="mark" cx="{:.1}" cy="{ym:.1}" r="2" fill="{color}"/>"#,
                frame.x(at)
            );
        }
        svg.push_str("</g>");
    }
    svg.push_str("</g>");
}

fn label(v: f64, log: bool) -> String {
    if log {
        format!("1e{v:.0}")
    } else if v.abs() >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else {
        format!("{v:.0}")
    }
}

/// The HTML report of a run. `thresholds` are the batcher's throttle thresholds, if it throttles;
/// `command` reproduces the run.
pub fn render(
    outcome: &Outcome,
    timeline: &Timeline,
    thresholds: Option<(u64, u64)>,
    command: &str,
) -> String {
    let svg = chart(outcome, timeline, &panels(timeline, thresholds));

    let failed: Vec<_> = outcome.failures().collect();
    let verdict = if failed.is_empty() {
        r#"<p class="verdict ok">every invariant holds</p>"#.to_owned()
    } else {
        let items: String = failed
            .iter()
            .map(|i| format!("<li><b>{}</b>: {}</li>", escape(i.invariant.name()), escape(&i.detail)))
            .collect();
        format!(r#"<p class="verdict fail">invariants violated:</p><ul>{items}</ul>"#)
    };
    let faults: String = timeline
        .faults
        .iter()
        .map(|(kind, start, end)| format!("<li>{} from {start:.0} s to {end:.0} s</li>", escape(kind)))
        .collect();
    format!(
        r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>rollsim: {scenario} seed {seed}</title>
<style>body{{font-family:sans-serif;margin:16px}} .ok{{color:#2ca02c}} .fail{{color:#d62728}} code{{background:#eee;padding:2px 4px}}</style>
</head><body>
<h1>{scenario} <small>seed {seed}</small></h1>
<p>trace hash <code>{hash}</code> ({events} events), {sim:.0} s simulated</p>
<p>reproduce: <code>{command}</code></p>
{verdict}
{svg}
<h2>faults</h2><ul>{faults}</ul>
</body></html>
"#,
        scenario = escape(&outcome.scenario),
        seed = outcome.seed,
        hash = outcome.trace_hash,
        events = outcome.trace_events,
        sim = outcome.sim_time_s,
        command = escape(command),
    )
}

/// The chart's panels: heads, the DA backlog against the throttling thresholds, the DA limits,
/// the fees, and the batcher's transaction and channel events.
fn panels<'a>(timeline: &'a Timeline, thresholds: Option<(u64, u64)>) -> Vec<Panel<'a>> {
    static EMPTY: Series = Series::new();
    let series = |name| (name, timeline.series.get(name).unwrap_or(&EMPTY));
    let marks = |names: &[&'static str]| -> Vec<(&'static str, &[f64])> {
        names.iter().map(|&n| (n, timeline.marks.get(n).map(Vec::as_slice).unwrap_or(&[]))).collect()
    };
    let mut panels = vec![
        Panel {
            title: "L1 heads",
            series: vec![series("l1_head"), series("l1_safe"), series("l1_finalized")],
            hlines: vec![],
            marks: vec![],
            log: false,
        },
        Panel {
            title: "L2 heads",
            series: vec![series("l2_unsafe"), series("l2_safe"), series("l2_finalized")],
            hlines: vec![],
            marks: vec![],
            log: false,
        },
        Panel {
            title: "batcher pending DA bytes",
            series: vec![series("pending_da_bytes")],
            hlines: thresholds
                .map(|(lower, upper)| {
                    vec![("lower threshold", lower as f64), ("upper threshold", upper as f64)]
                })
                .unwrap_or_default(),
            marks: vec![],
            log: false,
        },
        Panel {
            title: "DA limits in force (0 = none)",
            series: vec![series("max_tx_da_bytes"), series("max_block_da_bytes")],
            hlines: vec![],
            marks: vec![],
            log: false,
        },
        Panel {
            title: "L1 fees (wei, log)",
            series: vec![series("base_fee_wei"), series("blob_base_fee_wei")],
            hlines: vec![],
            marks: vec![],
            log: true,
        },
    ];
    panels.push(Panel {
        title: "batcher txs",
        series: vec![],
        hlines: vec![],
        marks: marks(&["tx sent", "tx confirmed", "tx replaced", "tx failed", "tx cancelled"]),
        log: false,
    });
    panels.push(Panel {
        title: "channels",
        series: vec![],
        hlines: vec![],
        marks: marks(&["channel opened", "channel closed", "l1 reorg"]),
        log: false,
    });
    panels
}

/// The SVG chart: fault windows behind the panels, a time axis, and the first violation.
fn chart(outcome: &Outcome, timeline: &Timeline, panels: &[Panel]) -> String {
    let height = PANEL_HEIGHT * panels.len() as f64 + 30.0;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">"#
    );
    let frame0 = Frame { top: 0.0, end_s: timeline.end_s };
    for (kind, start, end) in &timeline.faults {
        let (x0, x1) = (frame0.x(*start), frame0.x(*end));
        let _ = write!(
            svg,
            r##"<rect class="fault" data-kind="{kind}" x="{x0:.1}" y="0" width="{w:.1}" height="{h}" fill="#f5b041" fill-opacity="0.25"><title>{kind}</title></rect>"##,
            kind = escape(kind),
            w = (x1 - x0).max(2.0),
            h = height - 30.0,
        );
    }
    for (i, panel) in panels.iter().enumerate() {
        draw_panel(&mut svg, panel, &Frame { top: PANEL_HEIGHT * i as f64, end_s: timeline.end_s });
    }
    // The time axis.
    let axis_y = height - 16.0;
    for tick in 0..=10 {
        let at = timeline.end_s * tick as f64 / 10.0;
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{axis_y}" font-size="10" text-anchor="middle">{}</text>"#,
            frame0.x(at),
            humantime::format_duration(std::time::Duration::from_secs(at as u64))
        );
    }
    // The first online violation where it happened; else an end-of-run check, at the end.
    let violation = timeline.violation.clone().or_else(|| {
        outcome.failures().next().map(|i| (timeline.end_s, format!("{}: {}", i.invariant, i.detail)))
    });
    if let Some((at, message)) = violation {
        let x = frame0.x(at);
        let _ = write!(
            svg,
            r##"<line class="violation" x1="{x:.1}" x2="{x:.1}" y1="0" y2="{h}" stroke="#d62728" stroke-width="2"><title>{msg}</title></line><text x="{x:.1}" y="12" font-size="11" fill="#d62728">{msg}</text>"##,
            h = height - 30.0,
            msg = escape(&message),
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The report of `outcome`, a run of `scenario` that recorded its trace.
pub fn for_run(scenario: &crate::scenario::Scenario, outcome: &Outcome, command: &str) -> String {
    let timeline = Timeline::from_trace(&outcome.trace_lines, outcome.sim_time_s);
    let thresholds = scenario
        .batcher
        .as_ref()
        .filter(|b| b.throttle_lower_threshold_bytes > 0)
        .map(|b| (b.throttle_lower_threshold_bytes, b.throttle_upper_threshold_bytes));
    render(outcome, &timeline, thresholds, command)
}

#[cfg(test)]
mod tests;
