//! Where a run's wall time goes, for `rollsim bench`.
//!
//! madsim enters a `task` span (a child of its node's `node` span) around every poll of a task, so
//! [`ProfileLayer`] sees each poll begin and end and charges its time to the task's node, or to the
//! payload processor for tasks named `payload`. Work that crosses components inside a poll is cut
//! out by explicit [`scope`]s (RPC encoding, the trace, the L2 state's upkeep), each charged
//! exclusively: a scope's time is not its parent's. What no poll covers is the runtime's own:
//! scheduling, timers, the network simulator.
//!
//! Time is read from the CPU's time-stamp counter, never by the simulation itself: profiling
//! changes nothing a run does, and costs two counter reads per poll when enabled, one thread-local
//! check when not.

use std::cell::RefCell;

use tracing::{span, Subscriber};
use tracing_subscriber::{layer::Context, registry::LookupSpan, Layer};

/// What time is charged to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// Polls of one node's tasks (index into [`NODES`]).
    Node(usize),
    /// Polls of the payload processor's tasks, on either L2 node.
    Payload,
    /// Advancing and rewinding the L2 states (`ExecutedState`), the sequential execution of derived
    /// blocks included.
    State,
    /// Encoding and decoding RPC requests and responses.
    Rpc,
    /// Recording and hashing the event trace.
    Trace,
}

/// Nodes by the name madsim knows them by (the world's own tasks run on `world`).
pub const NODES: [&str; 7] = ["l1", "da", "sequencer", "rollup", "batcher", "submitter", "world"];

/// Every bucket's label, in report order; the runtime's share is what is left.
pub const LABELS: [&str; 11] =
    ["l1", "da", "sequencer", "rollup", "batcher", "submitter", "world", "payload", "state", "rpc", "trace"];

impl Bucket {
    fn index(self) -> usize {
        match self {
            Self::Node(node) => node,
            Self::Payload => NODES.len(),
            Self::State => NODES.len() + 1,
            Self::Rpc => NODES.len() + 2,
            Self::Trace => NODES.len() + 3,
        }
    }
}

/// Time-stamp counter ticks charged to each bucket of [`LABELS`].
pub type Ticks = [u64; LABELS.len()];

#[derive(Default)]
struct Profiler {
    enabled: bool,
    /// Open scopes: bucket, start, ticks charged to scopes inside it.
    stack: Vec<(Bucket, u64, u64)>,
    totals: Ticks,
    /// The counter once the world was built (genesis included), which `bench` reports apart.
    world_built: Option<u64>,
}

thread_local! {
    static PROFILER: RefCell<Profiler> = RefCell::default();
}

/// The time-stamp counter (zero where there is none: profiling then reports nothing).
pub fn ticks() -> u64 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `rdtsc` has no preconditions on x86_64.
    unsafe {
        core::arch::x86_64::_rdtsc()
    }
    #[cfg(not(target_arch = "x86_64"))]
    0
}

/// Starts charging time on this thread (the run's thread), from zero.
pub fn enable() {
    PROFILER.with(|p| *p.borrow_mut() = Profiler { enabled: true, ..Profiler::default() });
}

/// Stops charging and returns what each bucket got, and the counter when the world was built.
pub fn take() -> (Ticks, Option<u64>) {
    PROFILER.with(|p| {
        let profiler = std::mem::take(&mut *p.borrow_mut());
        (profiler.totals, profiler.world_built)
    })
}

/// Marks the end of the world's setup: building the L2 genesis of a large state takes seconds,
/// which a scaling measurement reports apart from the time per simulated hour.
pub fn world_built() {
    PROFILER.with(|p| {
        let mut p = p.borrow_mut();
        if p.enabled {
            p.world_built = Some(ticks());
        }
    });
}

fn push(bucket: Bucket) {
    PROFILER.with(|p| {
        let mut p = p.borrow_mut();
        if p.enabled {
            p.stack.push((bucket, ticks(), 0));
        }
    });
}

fn pop() {
    PROFILER.with(|p| {
        let mut p = p.borrow_mut();
        if !p.enabled {
            return;
        }
        let Some((bucket, start, inner)) = p.stack.pop() else { return };
        let elapsed = ticks().saturating_sub(start);
        p.totals[bucket.index()] += elapsed.saturating_sub(inner);
        if let Some(parent) = p.stack.last_mut() {
            parent.2 += elapsed;
        }
    });
}

/// Charges the time until the guard drops to `bucket` (not to the scope or poll around it).
pub fn scope(bucket: Bucket) -> Scope {
    push(bucket);
    Scope(())
}

/// An open [`scope`].
pub struct Scope(());

impl Drop for Scope {
    fn drop(&mut self) {
        pop();
    }
}

/// Charges every poll of `future` to `bucket` (exclusively, as a [`scope`]): for async glue whose
/// awaits a scope guard must not span.
pub async fn scoped<F: std::future::Future>(bucket: Bucket, future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        let _scope = scope(bucket);
        future.as_mut().poll(cx)
    })
    .await
}

/// The bucket of a `task` span, kept in its extensions.
struct TaskBucket(Bucket);

/// Charges every task poll to its bucket; see the module docs.
pub struct ProfileLayer;

impl<S> Layer<S> for ProfileLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let (name, span) = (attrs.metadata().name(), ctx.span(id));
        let Some(span) = span else { return };
        if name == "node" {
            let mut visitor = NameVisitor(None);
            attrs.record(&mut visitor);
            let node = NODES.iter().position(|n| Some(*n) == visitor.0.as_deref()).unwrap_or(NODES.len() - 1);
            span.extensions_mut().insert(TaskBucket(Bucket::Node(node)));
            return;
        }
        if name != "task" {
            return;
        }
        let mut visitor = NameVisitor(None);
        attrs.record(&mut visitor);
        let bucket = if visitor.0.as_deref() == Some("payload") {
            Bucket::Payload
        } else {
            span.parent()
                .and_then(|node| node.extensions().get::<TaskBucket>().map(|b| b.0))
                .unwrap_or(Bucket::Node(NODES.len() - 1))
        };
        span.extensions_mut().insert(TaskBucket(bucket));
    }

    fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id).filter(|span| span.metadata().name() == "task") {
            if let Some(bucket) = span.extensions().get::<TaskBucket>() {
                push(bucket.0);
            }
        }
    }

    fn on_exit(&self, id: &span::Id, ctx: Context<'_, S>) {
        if ctx.span(id).is_some_and(|span| span.metadata().name() == "task") {
            pop();
        }
    }
}

/// Reads the `name` field of madsim's `node` and `task` spans.
struct NameVisitor(Option<String>);

impl tracing::field::Visit for NameVisitor {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "name" {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "name" {
            self.0 = Some(format!("{value:?}").trim_matches('"').to_owned());
        }
    }
}
