//! Plain Microkit SDF for one board.

use crate::model::*;
use crate::{Board, Pos};
use std::fmt::Write;

/// Render the view of `board` as Microkit SDF: elements of other boards
/// removed, `board` attributes, `<restart_policy>` and `<protocols>` elements
/// and the `component` and `port` attributes stripped,
/// numbers the tool reads as decimal only written in decimal. Element order
/// follows the source. Pass the all-boards system returned by the parser
/// (a view of `board` itself is accepted too).
pub fn render(sys: &System, board: Board) -> String {
    let view;
    let sys = if sys.board == Some(board) {
        sys
    } else {
        view = sys.for_board(board);
        &view
    };
    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<!-- Rendered by sdf from {} for board {}. Do not edit: edit the source. -->",
        sys.file.replace("--", "- -"),
        board
    );
    out.push_str("<system>\n");
    let mut top: Vec<(Pos, String)> = Vec::new();
    for mr in &sys.memory_regions {
        top.push((mr.src.pos, leaf(&mr.src, 1)));
    }
    for (i, pd) in sys.protection_domains.iter().enumerate() {
        if pd.parent.is_none() {
            top.push((pd.src.pos, render_pd(sys, i, 1)));
        }
    }
    for ch in &sys.channels {
        let mut s = open(&ch.src, 1);
        for e in &ch.ends {
            s.push_str(&leaf(&e.src, 2));
        }
        let _ = writeln!(s, "{}</channel>", indent(1));
        top.push((ch.src.pos, s));
    }
    top.sort_by_key(|(p, _)| *p);
    for (_, s) in top {
        out.push_str(&s);
    }
    out.push_str("</system>\n");
    out
}

fn render_pd(sys: &System, index: usize, depth: usize) -> String {
    let Some(pd) = sys.protection_domains.get(index) else {
        return String::new();
    };
    let mut items: Vec<(Pos, String)> = Vec::new();
    for p in &pd.program_images {
        items.push((p.src.pos, leaf(&p.src, depth + 1)));
    }
    for m in &pd.maps {
        items.push((m.src.pos, leaf(&m.src, depth + 1)));
    }
    for i in &pd.irqs {
        items.push((i.src.pos, leaf(&i.src, depth + 1)));
    }
    for i in &pd.ioports {
        items.push((i.src.pos, leaf(&i.src, depth + 1)));
    }
    for s in &pd.setvars {
        items.push((s.src.pos, leaf(&s.src, depth + 1)));
    }
    for &c in &pd.children {
        if let Some(child) = sys.protection_domains.get(c) {
            items.push((child.src.pos, render_pd(sys, c, depth + 1)));
        }
    }
    items.sort_by_key(|(p, _)| *p);
    let mut s = open(&pd.src, depth);
    for (_, i) in items {
        s.push_str(&i);
    }
    let _ = writeln!(s, "{}</protection_domain>", indent(depth));
    s
}

fn indent(depth: usize) -> String {
    "    ".repeat(depth)
}

/// Attributes of our extensions, never rendered.
fn is_extension(tag: &str, attr: &str) -> bool {
    matches!(
        (tag, attr),
        ("protection_domain", "component") | ("end", "port")
    )
}

fn attrs(src: &Src) -> String {
    let mut s = String::new();
    for a in src.attrs.iter().filter(|a| !is_extension(src.tag, &a.name)) {
        let v = a.render.as_deref().unwrap_or(&a.value);
        let _ = write!(s, " {}=\"{}\"", a.name, escape(v));
    }
    s
}

fn open(src: &Src, depth: usize) -> String {
    format!("{}<{}{}>\n", indent(depth), src.tag, attrs(src))
}

fn leaf(src: &Src, depth: usize) -> String {
    format!("{}<{}{} />\n", indent(depth), src.tag, attrs(src))
}

fn escape(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            '\n' => s.push_str("&#10;"),
            '\r' => s.push_str("&#13;"),
            '\t' => s.push_str("&#9;"),
            c => s.push(c),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn attribute_values_are_escaped() {
        assert_eq!(escape(r#"a&b<"c">"#), "a&amp;b&lt;&quot;c&quot;&gt;");
    }
}
