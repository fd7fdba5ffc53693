//! `rollsim trace diff`: where two traces of the same scenario and seed part ways. The first
//! differing event is where determinism broke (or where two configurations start to behave
//! differently); the events before it say how the run got there.

use std::fmt::Write as _;

/// The first position at which two traces differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// Index (0-based) of the first differing event.
    pub index: usize,
    /// The event of each trace there; `None` when that trace ended first.
    pub a: Option<String>,
    pub b: Option<String>,
}

/// The first divergence, or `None` when the traces are equal.
pub fn first_divergence(a: &[String], b: &[String]) -> Option<Divergence> {
    let index = a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
    (index < a.len().max(b.len())).then(|| Divergence {
        index,
        a: a.get(index).cloned(),
        b: b.get(index).cloned(),
    })
}

/// A human report of `divergence`: `context` shared events before it, then each side's events
/// from it on (up to `context` of each).
pub fn render(a: &[String], b: &[String], divergence: &Divergence, context: usize) -> String {
    let mut out = String::new();
    let i = divergence.index;
    let _ = writeln!(out, "traces diverge at event {} (line {})", i, i + 1);
    let _ = writeln!(out, "common events before it:");
    for (n, line) in a.iter().enumerate().take(i).skip(i.saturating_sub(context)) {
        let _ = writeln!(out, "  {n:>7}  {line}");
    }
    for (name, trace) in [("A", a), ("B", b)] {
        let _ = writeln!(out, "{name} from there:");
        let lines: Vec<_> = trace.iter().enumerate().skip(i).take(context).collect();
        if lines.is_empty() {
            let _ = writeln!(out, "  (trace ends: {} events)", trace.len());
        }
        for (n, line) in lines {
            let _ = writeln!(out, "  {n:>7}  {line}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{{\"t_ns\":{i},\"msg\":\"event {i}\"}}")).collect()
    }

    #[test]
    fn equal_traces_do_not_diverge() {
        assert_eq!(first_divergence(&trace(50), &trace(50)), None);
        assert_eq!(first_divergence(&[], &[]), None);
    }

    #[test]
    fn a_changed_event_is_found_at_its_position() {
        for at in [0, 17, 49] {
            let a = trace(50);
            let mut b = trace(50);
            b[at] = "{\"msg\":\"changed\"}".to_owned();
            let d = first_divergence(&a, &b).expect("they differ");
            assert_eq!(d.index, at);
            assert_eq!(d.a.as_deref(), Some(a[at].as_str()));
            assert_eq!(d.b.as_deref(), Some("{\"msg\":\"changed\"}"));
            let text = render(&a, &b, &d, 3);
            assert!(text.starts_with(&format!("traces diverge at event {at} ")), "{text}");
            assert!(text.contains("changed"));
        }
    }

    #[test]
    fn an_inserted_event_and_a_shorter_trace_are_divergences() {
        let a = trace(20);
        let mut b = trace(20);
        b.insert(5, "{\"msg\":\"extra\"}".to_owned());
        assert_eq!(first_divergence(&a, &b).unwrap().index, 5);
        let d = first_divergence(&a, &a[..12]).unwrap();
        assert_eq!((d.index, d.b), (12, None), "B ended first");
        assert!(render(&a, &a[..12], &first_divergence(&a, &a[..12]).unwrap(), 2).contains("trace ends"));
    }
}
