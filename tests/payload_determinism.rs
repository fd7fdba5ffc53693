//! The payload processor's determinism test, in a test binary of its own: tracing caches each
//! callsite's interest globally, so the events a thread-local subscriber records while other tests
//! of the same binary run in parallel can go missing (it failed about one run in five when it
//! shared `tests/payload/`).

#[allow(dead_code)]
#[path = "payload/common.rs"]
mod common;
#[path = "payload/determinism.rs"]
mod determinism;
