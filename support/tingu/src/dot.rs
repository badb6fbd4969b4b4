//! Graphviz backend: one statechart per protocol.
//!
//! Super-states are clusters, leaves are rounded boxes, final states double
//! circles, initial states are marked by an arrow from a dot, the restart
//! state is drawn dashed and marked by a dashed arrow labelled `restart` from a
//! hollow dot, `idle` (resting) states have a bold outline, timeouts are
//! shown as `[5s]` after the state name, and transition labels are written as
//! in the source (`?sleep(level) [level > D0] / power_level = level`).
//! [`svg`] runs `dot` when it is installed.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use crate::ir::*;

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// `5s`, `200ms`, `20us` or `7ns`.
pub fn duration(ns: u64) -> String {
    if ns.is_multiple_of(1_000_000_000) {
        format!("{}s", ns / 1_000_000_000)
    } else if ns.is_multiple_of(1_000_000) {
        format!("{}ms", ns / 1_000_000)
    } else if ns.is_multiple_of(1_000) {
        format!("{}us", ns / 1_000)
    } else {
        format!("{ns}ns")
    }
}

/// A representative leaf inside `s` (for edges to and from clusters).
fn anchor(p: &Protocol, mut s: StateId) -> StateId {
    while let Some(c) = p.states[s]
        .initial_child
        .or_else(|| p.states[s].children.first().copied())
    {
        s = c;
    }
    s
}

/// DOT source of one protocol's statechart.
pub fn protocol(p: &Protocol) -> String {
    let mut w = String::new();
    let _ = writeln!(w, "digraph \"{}\" {{", esc(&p.name));
    let _ = writeln!(w, "  compound=true;");
    let _ = writeln!(
        w,
        "  label=\"protocol {}\"; labelloc=t; fontname=\"Helvetica\";",
        esc(&p.name)
    );
    let _ = writeln!(
        w,
        "  node [shape=box, style=rounded, fontname=\"Helvetica\"];"
    );
    let _ = writeln!(w, "  edge [fontname=\"Helvetica\", fontsize=10];");
    for (i, s) in p.states.iter().enumerate() {
        if s.parent.is_none() {
            state(&mut w, p, i, 1);
        }
    }
    // Top-level initial marker.
    let top_init = p
        .states
        .iter()
        .enumerate()
        .find(|(i, s)| {
            s.parent.is_none()
                && p.initial == anchor(p, *i)
                && (s.is_leaf() || s.initial_child.is_some())
        })
        .map(|(i, _)| i);
    if let Some(t) = top_init {
        let _ = writeln!(w, "  init [shape=point, width=0.15];");
        edge(&mut w, p, None, t, "", "init");
    }
    // Restart marker: where a restart with the state discarded begins.
    if let Some(r) = p.restart {
        let _ = writeln!(
            w,
            "  restart [shape=circle, label=\"\", width=0.15, style=dashed];"
        );
        let mut attrs = vec!["style=dashed".to_string(), "label=\"restart\"".to_string()];
        if !p.states[r].is_leaf() {
            attrs.push(format!("lhead=cluster_{r}"));
        }
        let _ = writeln!(
            w,
            "  restart -> {} [{}];",
            node_id(anchor(p, r)),
            attrs.join(", ")
        );
    }
    for d in &p.declared {
        let mut label = d.label.clone();
        if let Trigger::Foreign(_) = d.trigger {
            label.push_str(" (dependency)");
        }
        edge(&mut w, p, Some(d.source), d.target, &label, "");
    }
    let _ = writeln!(w, "}}");
    w
}

fn node_id(s: StateId) -> String {
    format!("s{s}")
}

fn state(w: &mut String, p: &Protocol, i: StateId, depth: usize) {
    let s = &p.states[i];
    let pad = "  ".repeat(depth);
    let timeout = s
        .timeout_ns
        .map(|ns| format!(" [{}]", duration(ns)))
        .unwrap_or_default();
    if s.is_leaf() {
        if s.is_final {
            let _ = writeln!(
                w,
                "{pad}{} [shape=doublecircle, style=solid, label=\"{}\", width=0.3];",
                node_id(i),
                esc(&s.name)
            );
        } else {
            let _ = writeln!(
                w,
                "{pad}{} [label=\"{}{}\"{}{}];",
                node_id(i),
                esc(&s.name),
                esc(&timeout),
                if p.restart == Some(i) {
                    ", style=\"rounded,dashed\""
                } else {
                    ""
                },
                if s.is_idle { ", penwidth=2" } else { "" }
            );
        }
        return;
    }
    let _ = writeln!(w, "{pad}subgraph cluster_{i} {{");
    let _ = writeln!(
        w,
        "{pad}  label=\"{}{}\"; style=\"{}\";{}",
        esc(&s.name),
        esc(&timeout),
        if p.restart == Some(i) {
            "rounded,dashed"
        } else {
            "rounded"
        },
        if s.is_idle { " penwidth=2;" } else { "" }
    );
    for &c in &s.children {
        state(w, p, c, depth + 1);
    }
    if let Some(ic) = s.initial_child {
        let _ = writeln!(w, "{pad}  init{i} [shape=point, width=0.1];");
        let _ = writeln!(
            w,
            "{pad}  init{i} -> {}{};",
            node_id(anchor(p, ic)),
            lhead(p, ic)
        );
    }
    let _ = writeln!(w, "{pad}}}");
}

fn lhead(p: &Protocol, s: StateId) -> String {
    if p.states[s].is_leaf() {
        String::new()
    } else {
        format!(" [lhead=cluster_{s}]")
    }
}

fn edge(
    w: &mut String,
    p: &Protocol,
    from: Option<StateId>,
    to: StateId,
    label: &str,
    from_node: &str,
) {
    let src = match from {
        Some(f) => node_id(anchor(p, f)),
        None => from_node.to_string(),
    };
    let mut attrs = Vec::new();
    if let Some(f) = from {
        if !p.states[f].is_leaf() {
            attrs.push(format!("ltail=cluster_{f}"));
        }
    }
    if !p.states[to].is_leaf() {
        attrs.push(format!("lhead=cluster_{to}"));
    }
    if !label.is_empty() {
        attrs.push(format!("label=\"{}\"", esc(label)));
    }
    let _ = writeln!(
        w,
        "  {src} -> {}{};",
        node_id(anchor(p, to)),
        if attrs.is_empty() {
            String::new()
        } else {
            format!(" [{}]", attrs.join(", "))
        }
    );
}

/// Whether `dot` can be run.
pub fn dot_available() -> bool {
    Command::new("dot")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Render DOT source to an SVG file with `dot`; `Err` explains why not.
pub fn svg(dot_src: &str, out: &Path) -> Result<(), String> {
    use std::io::Write;
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .arg("-o")
        .arg(out)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run `dot` ({e}); install Graphviz for SVG output"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(dot_src.as_bytes())
            .map_err(|e| format!("writing to `dot`: {e}"))?;
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for `dot`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`dot` failed with {status}"))
    }
}
