//! The seL4 benchmarks' figures, from the console to the README.
//!
//! `make bench-qemu` and `make bench-qemu-observers` boot images under
//! QEMU `-icount shift=0`; this crate reads their consoles ([`console`]),
//! measures ([`bench::Bench`], [`observers::Observers`]), records each
//! measurement as JSON under `docs/figures/` with the board, config, commit
//! and date it comes from ([`Made`]), and renders the README's tables from
//! those records between marker lines ([`readme`]). A test checks that the
//! README holds exactly the rendering of the recorded figures, so a table
//! can only change with a measurement.
//!
//! What must never happen: a README figure that no recorded run gave, or a
//! record that does not say which commit, board and config it measured.

pub mod bench;
pub mod console;
pub mod observers;
pub mod readme;

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where and from what a measurement was made.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Made {
    /// Microkit board.
    pub board: String,
    /// Microkit config (debug, release, benchmark).
    pub config: String,
    /// The commit the images were built from (`-dirty`: with changes).
    pub commit: String,
    /// UTC date of the run (YYYY-MM-DD).
    pub date: String,
}

impl Made {
    /// The board as the tables name it (its architecture for the QEMU boards).
    pub fn board_short(&self) -> &str {
        match self.board.as_str() {
            "qemu_virt_aarch64" => "aarch64",
            "x86_64_generic" => "x86_64",
            b => b,
        }
    }

    /// Order of the tables' columns: by board, then debug, release, benchmark.
    pub fn sort_key(&self) -> (String, usize, String) {
        let rank = ["debug", "release", "benchmark"]
            .iter()
            .position(|c| *c == self.config)
            .unwrap_or(3);
        (self.board.clone(), rank, self.config.clone())
    }
}

impl fmt::Display for Made {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} at {} ({})",
            self.board, self.config, self.commit, self.date
        )
    }
}

/// A stream as the client reported it.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stream {
    /// Payload bytes.
    pub bytes: u64,
    /// Client-measured time (us; instructions / 1000 under icount).
    pub us: u64,
}

impl Stream {
    /// Bytes per microsecond.
    pub fn rate(&self) -> f64 {
        self.bytes as f64 / self.us.max(1) as f64
    }
}

/// `12345678` as `12,345,678`.
pub fn grouped(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A markdown table: a blank corner, one column per header.
pub fn markdown(headers: &[String], rows: &[(String, Vec<String>)]) -> String {
    let mut o = format!("| | {} |\n", headers.join(" | "));
    o.push_str(&format!("|---|{}\n", "---|".repeat(headers.len())));
    for (name, cells) in rows {
        o.push_str(&format!("| {name} | {} |\n", cells.join(" | ")));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(2_158_000), "2,158,000");
    }

    #[test]
    fn a_table_has_a_column_per_header() {
        let t = markdown(
            &["a".into(), "b".into()],
            &[("x".into(), vec!["1".into(), "2".into()])],
        );
        assert_eq!(t, "| | a | b |\n|---|---|---|\n| x | 1 | 2 |\n");
    }
}
