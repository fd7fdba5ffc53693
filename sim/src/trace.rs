//! The trace: every meaningful event of a run, in order, folded into one hash.
//!
//! A tracing layer keeps each event at INFO level or above whose target is one of rollsim's crates
//! (`rollsim`, `rollsim_sim`), with its simulated time and the madsim node it happened on. Each
//! event becomes one canonical JSON line; the trace hash is keccak256 over all lines in order. Same
//! scenario and seed => same lines => same hash. DEBUG and TRACE events are never hashed, so
//! turning on verbose logging cannot change a run's identity.

use alloy_primitives::{Keccak256, B256};
use rollsim::sync::lock;
use std::{
    fmt::{self, Write as _},
    sync::{Arc, Mutex},
};
use tracing::{
    field::{Field, Visit},
    span, Event, Level, Subscriber,
};
use tracing_subscriber::{layer::Context, registry::LookupSpan, Layer};

/// Shared handle to a run's trace: the layer writes it, the world reads it at the end.
#[derive(Clone, Default)]
pub struct Trace {
    inner: Arc<Mutex<TraceState>>,
}

#[derive(Default)]
struct TraceState {
    hasher: Keccak256,
    events: u64,
    /// The JSON lines, kept only when the run asked for them (`--trace`, tests).
    lines: Option<Vec<String>>,
}

/// What a finished trace amounts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceSummary {
    pub hash: B256,
    pub events: u64,
}

impl Trace {
    /// A trace that only hashes.
    pub fn new() -> Self {
        Self::default()
    }

    /// A trace that also keeps every line.
    pub fn recording() -> Self {
        let trace = Self::default();
        trace.state().lines = Some(Vec::new());
        trace
    }

    /// The tracing layer that feeds this trace.
    pub fn layer(&self) -> TraceLayer {
        TraceLayer { trace: self.clone() }
    }

    /// Hash and event count so far.
    pub fn summary(&self) -> TraceSummary {
        let state = self.state();
        TraceSummary { hash: state.hasher.clone().finalize(), events: state.events }
    }

    /// The recorded lines (empty unless created with [`Trace::recording`]).
    pub fn take_lines(&self) -> Vec<String> {
        self.state().lines.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Folds one line into the trace. The layer calls this; tests use it to build traces directly.
    pub fn push_line(&self, line: String) {
        let mut state = self.state();
        state.hasher.update(line.as_bytes());
        state.hasher.update(b"\n");
        state.events += 1;
        if let Some(lines) = state.lines.as_mut() {
            lines.push(line);
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, TraceState> {
        lock(&self.inner)
    }
}

/// Whether an event belongs in the trace.
fn is_traced(meta: &tracing::Metadata<'_>) -> bool {
    *meta.level() <= Level::INFO && meta.target().starts_with("rollsim")
}

/// The layer; see the module docs.
pub struct TraceLayer {
    trace: Trace,
}

/// madsim enters a span named `node` (field `name`) around every task: the node's name is kept in
/// the span's extensions so events can say where they happened.
struct NodeName(String);

impl<S> Layer<S> for TraceLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != "node" {
            return;
        }
        let mut visitor = NodeNameVisitor(None);
        attrs.record(&mut visitor);
        // The supervisor's node is where world tasks (L1 production, fault injection) run.
        if visitor.0.as_deref() == Some("madsim-main") {
            visitor.0 = Some("world".to_owned());
        }
        if let (Some(name), Some(span)) = (visitor.0, ctx.span(id)) {
            span.extensions_mut().insert(NodeName(name));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        if !is_traced(meta) {
            return;
        }
        let _profile = crate::profile::scope(crate::profile::Bucket::Trace);
        let node = ctx
            .event_scope(event)
            .and_then(|scope| {
                scope.into_iter().find_map(|span| span.extensions().get::<NodeName>().map(|n| n.0.clone()))
            })
            // Tasks of madsim's supervisor node (the world's own) may carry no node span.
            .unwrap_or_else(|| "world".to_owned());
        let t_ns = madsim::time::TimeHandle::try_current().map_or(0, |t| t.elapsed().as_nanos());
        let mut line = String::with_capacity(160);
        let _ = write!(line, "{{\"t_ns\":{t_ns},\"node\":");
        json_string(&mut line, &node);
        line.push_str(",\"target\":");
        json_string(&mut line, meta.target());
        let mut fields = JsonFields { line, message: None };
        event.record(&mut fields);
        let JsonFields { mut line, message } = fields;
        line.push_str(",\"msg\":");
        json_string(&mut line, message.as_deref().unwrap_or(""));
        line.push('}');
        self.trace.push_line(line);
    }
}

struct NodeNameVisitor(Option<String>);

impl Visit for NodeNameVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "name" {
            self.0 = Some(value.to_owned());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "name" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

/// Appends each field as `,"name":value`; the message is kept aside and written last.
struct JsonFields {
    line: String,
    message: Option<String>,
}

impl JsonFields {
    fn key(&mut self, field: &Field) {
        self.line.push(',');
        json_string(&mut self.line, field.name());
        self.line.push(':');
    }
}

impl Visit for JsonFields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        let _ = write!(self.line, "{value}");
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        let _ = write!(self.line, "{value}");
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        self.key(field);
        let _ = write!(self.line, "{value}");
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        let _ = write!(self.line, "{value}");
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_owned());
            return;
        }
        self.key(field);
        json_string(&mut self.line, value);
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = Some(text);
            return;
        }
        self.key(field);
        json_string(&mut self.line, &text);
    }
}

/// Writes `s` as a JSON string literal.
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    fn run_events(values: &[u64]) -> (TraceSummary, Vec<String>) {
        let trace = Trace::recording();
        let subscriber = tracing_subscriber::registry().with(trace.layer());
        tracing::subscriber::with_default(subscriber, || {
            let rt = madsim::runtime::Runtime::with_seed_and_config(1, madsim::Config::default());
            rt.block_on(async {
                for &v in values {
                    tracing::info!(target: "rollsim_sim::test", value = v, label = "a\"b", "event");
                    madsim::time::sleep(std::time::Duration::from_secs(1)).await;
                }
                tracing::debug!(target: "rollsim_sim::test", "not hashed");
                tracing::info!(target: "other_crate", "not ours");
            });
        });
        (trace.summary(), trace.take_lines())
    }

    #[test]
    fn lines_are_canonical_json_with_time_and_node() {
        let (summary, lines) = run_events(&[1, 2]);
        assert_eq!(summary.events, 2);
        let first: serde_json::Value = serde_json::from_str(&lines[0]).expect("valid JSON");
        assert_eq!(first["node"], "world");
        assert_eq!(first["target"], "rollsim_sim::test");
        assert_eq!(first["msg"], "event");
        assert_eq!(first["value"], 1);
        assert_eq!(first["label"], "a\"b");
        let second: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
        let dt = second["t_ns"].as_u64().unwrap() - first["t_ns"].as_u64().unwrap();
        assert!((1_000_000_000..1_001_000_000).contains(&dt), "one simulated second apart: {dt} ns");
    }

    #[test]
    fn hash_follows_every_event() {
        let (a, _) = run_events(&[1, 2, 3]);
        let (b, _) = run_events(&[1, 2, 3]);
        let (c, _) = run_events(&[1, 5, 3]);
        let (d, _) = run_events(&[1, 2]);
        assert_eq!(a, b);
        assert_ne!(a.hash, c.hash, "one changed field changes the hash");
        assert_ne!(a.hash, d.hash, "a missing event changes the hash");
    }
}
