//! Counterexamples as sequence charts: text (two lifelines, arrows with the
//! messages and their arguments, crash and restart markers, each side's
//! state when it changes) and Graphviz (SVG through `dot` when installed).
//!
//! The caller (the mirror side, typically the client) is drawn on the left,
//! the owner of the protocol (typically the driver) on the right.

use std::fmt::Write as _;

use super::explore::Trace;
use super::model::{Composition, StepKind};
use crate::ir::Spec;

const WIDTH: usize = 46;

/// A step in words: `write(1, 0, 3)`, `crash (cold restart)`, ...
pub fn step_text(spec: &Spec, c: &Composition, k: &StepKind) -> String {
    let msg = |side: usize, port: usize, m: usize, args: &[i128]| {
        let p = c.proto(spec, side, port);
        let name = p.messages.get(m).map_or("?", |m| m.name.as_str());
        let a: Vec<String> = args.iter().map(i128::to_string).collect();
        format!("{name}({})", a.join(", "))
    };
    let cmsg = |cm: usize, args: &[i128]| {
        let name = c.cmsg(spec, cm).map_or("?", |m| m.name.as_str());
        let a: Vec<String> = args.iter().map(i128::to_string).collect();
        format!("{name}({})", a.join(", "))
    };
    match k {
        StepKind::Call { msg: m, args, .. } => cmsg(*m, args),
        StepKind::Reply { msg: m, args, .. } => cmsg(*m, args),
        StepKind::Notify { from, msg: m } => msg(*from, 0, *m, &[]),
        StepKind::Deliver { to, msg: m } => msg(*to, 0, *m, &[]),
        StepKind::Env {
            side,
            port,
            msg: m,
            args,
        } => format!(
            "{}.{}",
            c.sides[*side].ports[*port].name,
            msg(*side, *port, *m, args)
        ),
        StepKind::Save => "save the request (persistent)".into(),
        StepKind::Commit => "effect + progress mark (atomic)".into(),
        StepKind::Effect => "effect".into(),
        StepKind::Mark => "progress mark".into(),
        StepKind::Crash {
            mode,
            replayed,
            answered,
        } => format!(
            "crash, {} restart{}",
            mode.name(),
            match answered {
                Some((m, a)) => format!(": the call in flight is answered {}", cmsg(*m, a)),
                None if *replayed => ": the call in flight is replayed".to_string(),
                None => String::new(),
            }
        ),
    }
}

/// Column of a side: the left lifeline is side 1 (mirror), the right side 0.
fn col(side: usize) -> usize {
    if side == 1 {
        0
    } else {
        1
    }
}

fn states(spec: &Spec, c: &Composition, s: &[u32]) -> [String; 2] {
    let one = |side: usize| {
        let p = c.proto(spec, side, 0);
        let leaf = c.leaf(s, side, 0);
        let mut t = format!(
            "[{}]",
            p.states.get(leaf).map_or("?", |st| st.path.as_str())
        );
        let k = if side == 0 { 0 } else { c.sides[0].ports.len() };
        for (vi, v) in p.vars.iter().enumerate() {
            let _ = write!(t, " {}={}", v.name, c.var(s, k, vi));
        }
        t
    };
    [one(1), one(0)]
}

fn row(left: &str, right: &str) -> String {
    format!("     {left:<w$}{right}", w = WIDTH + 1)
}

/// The trace as a text sequence chart.
pub fn text(spec: &Spec, c: &Composition, t: &Trace, violation: Option<&str>) -> String {
    let mut out = String::new();
    let heads = [c.sides[1].label.clone(), c.sides[0].label.clone()];
    let _ = writeln!(out, "{}", row(&heads[0], &heads[1]));
    let mut cur = states(spec, c, &t.initial);
    let _ = writeln!(out, "{}", row(&cur[0], &cur[1]));
    for (i, (k, next)) in t.steps.iter().enumerate() {
        if t.cycle_from == Some(i) {
            let _ = writeln!(out, "     ---- the following steps repeat forever ----");
        }
        let n = i + 1;
        let label = step_text(spec, c, k);
        let last_violation = next.is_none();
        let line = match k {
            StepKind::Call { from, .. }
            | StepKind::Reply { from, .. }
            | StepKind::Notify { from, .. } => {
                let dashed = matches!(k, StepKind::Notify { .. });
                let fill = if dashed { '-' } else { '=' };
                let mut note = String::new();
                if let StepKind::Reply {
                    by_restart,
                    dropped,
                    ..
                } = k
                {
                    if *by_restart {
                        note.push_str("  (sent by the restart)");
                    }
                    if *dropped {
                        note.push_str("  (caller gone: dropped)");
                    }
                }
                if matches!(k, StepKind::Notify { .. }) {
                    note.push_str("  (notification, pending)");
                }
                let body = format!(" {label} ");
                let room = WIDTH.saturating_sub(body.len() + 2).max(2);
                let head = if last_violation { 'X' } else { '>' };
                let arrow = if col(*from) == 0 {
                    format!("|{}{body}{}{head}|", fill, fill.to_string().repeat(room))
                } else {
                    let head = if last_violation { 'X' } else { '<' };
                    format!("|{head}{}{body}{}|", fill.to_string().repeat(room), fill)
                };
                format!("{n:>3}  {arrow}{note}")
            }
            StepKind::Deliver { to, .. } => note_line(n, *to, &format!("receives {label}")),
            StepKind::Env { side, .. } => note_line(n, *side, &format!("env: {label}")),
            StepKind::Save | StepKind::Commit | StepKind::Effect | StepKind::Mark => {
                note_line(n, c.crash_side.unwrap_or(0), &label)
            }
            StepKind::Crash { .. } => {
                let side = c.crash_side.unwrap_or(0);
                let crash_no = next
                    .as_ref()
                    .map(|s| super::explore::crashes(c, s))
                    .unwrap_or(0);
                let text = format!("XX {label} (crash #{crash_no})");
                note_line(n, side, &text)
            }
        };
        let _ = writeln!(out, "{line}");
        match next {
            Some(s) => {
                let now = states(spec, c, s);
                if now != cur {
                    let l = if now[0] != cur[0] {
                        now[0].as_str()
                    } else {
                        "|"
                    };
                    let r = if now[1] != cur[1] {
                        now[1].as_str()
                    } else {
                        "|"
                    };
                    let _ = writeln!(out, "{}", row(l, r));
                    cur = now;
                }
            }
            None => {
                if let Some(v) = violation {
                    let _ = writeln!(out, "     VIOLATION: {v}");
                }
            }
        }
    }
    match t.cycle_from {
        Some(i) if i >= t.steps.len() => {
            let _ = writeln!(
                out,
                "     ---- stuck: no step is possible but a crash, and crashes are never forced: the run may stay here forever ----"
            );
        }
        Some(_) => {
            let _ = writeln!(
                out,
                "     ---- (back to the start of the repeated part) ----"
            );
        }
        None => {}
    }
    out
}

fn note_line(n: usize, side: usize, text: &str) -> String {
    if col(side) == 0 {
        format!("{n:>3}  |  {text}")
    } else {
        format!("{n:>3}  |{:w$}|  {text}", "", w = WIDTH)
    }
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The trace as a Graphviz sequence chart.
pub fn dot(spec: &Spec, c: &Composition, t: &Trace, title: &str) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "digraph counterexample {{");
    let _ = writeln!(
        o,
        "  labelloc=t; label=\"{}\"; fontname=\"Helvetica\"; nodesep=3;",
        esc(title)
    );
    let _ = writeln!(
        o,
        "  node [fontname=\"Helvetica\", fontsize=10]; edge [fontname=\"Helvetica\", fontsize=10];"
    );
    let init = states(spec, c, &t.initial);
    let _ = writeln!(
        o,
        "  L0 [shape=box, label=\"{}\\n{}\"]; R0 [shape=box, label=\"{}\\n{}\"]; {{ rank=same; L0; R0; }}",
        esc(&c.sides[1].label),
        esc(&init[0]),
        esc(&c.sides[0].label),
        esc(&init[1])
    );
    for (i, (k, next)) in t.steps.iter().enumerate() {
        let n = i + 1;
        let st = next.as_ref().map(|s| states(spec, c, s));
        let lbl = |side: usize| -> String {
            match &st {
                Some(s) => esc(&s[col(side)]),
                None => String::new(),
            }
        };
        let _ = writeln!(
            o,
            "  L{n} [shape=plaintext, label=\"{}\"]; R{n} [shape=plaintext, label=\"{}\"]; {{ rank=same; L{n}; R{n}; }}",
            lbl(1),
            lbl(0)
        );
        let _ = writeln!(
            o,
            "  L{} -> L{n} [arrowhead=none, style=dotted]; R{} -> R{n} [arrowhead=none, style=dotted];",
            n - 1,
            n - 1
        );
        let text = esc(&format!("{n}. {}", step_text(spec, c, k)));
        let color = if next.is_none() { "red" } else { "black" };
        match k {
            StepKind::Call { from, .. }
            | StepKind::Reply { from, .. }
            | StepKind::Notify { from, .. } => {
                let (a, b) = if col(*from) == 0 {
                    (format!("L{n}"), format!("R{n}"))
                } else {
                    (format!("R{n}"), format!("L{n}"))
                };
                let style = if matches!(k, StepKind::Notify { .. }) {
                    "dashed"
                } else {
                    "solid"
                };
                let _ = writeln!(
                    o,
                    "  {a} -> {b} [label=\"{text}\", style={style}, color={color}, constraint=false];"
                );
            }
            StepKind::Crash { .. } => {
                let node = if col(c.crash_side.unwrap_or(0)) == 0 {
                    "L"
                } else {
                    "R"
                };
                let _ = writeln!(
                    o,
                    "  {node}{n} [shape=box, style=filled, fillcolor=\"#ffcccc\", label=\"{text}\\n{}\"];",
                    lbl(c.crash_side.unwrap_or(0))
                );
            }
            StepKind::Deliver { to: side, .. } | StepKind::Env { side, .. } => {
                let node = if col(*side) == 0 { "L" } else { "R" };
                let _ = writeln!(
                    o,
                    "  {node}{n} [shape=note, label=\"{text}\\n{}\"];",
                    lbl(*side)
                );
            }
            _ => {
                let side = c.crash_side.unwrap_or(0);
                let node = if col(side) == 0 { "L" } else { "R" };
                let _ = writeln!(
                    o,
                    "  {node}{n} [shape=note, label=\"{text}\\n{}\"];",
                    lbl(side)
                );
            }
        }
    }
    let _ = writeln!(o, "}}");
    o
}
