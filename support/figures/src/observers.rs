//! `make bench-qemu-observers`: the stream with every observer on and off,
//! and one check measured in place by the serial driver (`check-cost`).

use crate::console::{CheckCost, Run};
use crate::{Made, Stream};
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// One `make bench-qemu-observers` on one board and config.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Observers {
    /// Where and from what it was measured.
    pub made: Made,
    /// Checks in each of the two loops.
    pub checks: u64,
    /// The counter's unit, as the PD named it.
    pub unit: String,
    /// Raw ticks of the loop through the serial driver's observer.
    pub observed_ticks: u64,
    /// Raw ticks of the same loop through `NoObserver`.
    pub baseline_ticks: u64,
    /// The two loops in nanoseconds, as the PD converted them.
    pub observed_ns: u64,
    /// See `observed_ns`.
    pub baseline_ns: u64,
    /// The stream with every observer on.
    pub on: Stream,
    /// The stream with every observer off.
    pub off: Stream,
}

impl Observers {
    /// Measures the three runs.
    pub fn measure(made: Made, cost: CheckCost, on: &Run, off: &Run) -> Result<Self, String> {
        let (Some(n), Some(f)) = (on.stream, off.stream) else {
            return Err("a run did not finish its stream (no \"client: stream done\" line)".into());
        };
        if cost.checks == 0 || n.0 == 0 || n.1 == 0 || f.0 == 0 || f.1 == 0 {
            return Err(format!(
                "no checks or an empty stream: {} checks, on {n:?}, off {f:?}",
                cost.checks
            ));
        }
        Ok(Self {
            made,
            checks: cost.checks,
            unit: cost.unit,
            observed_ticks: cost.observed,
            baseline_ticks: cost.baseline,
            observed_ns: cost.observed_ns,
            baseline_ns: cost.baseline_ns,
            on: Stream {
                bytes: n.0,
                us: n.1,
            },
            off: Stream {
                bytes: f.0,
                us: f.1,
            },
        })
    }

    /// Whether the PD's nanoseconds are instructions: the aarch64 generic
    /// timer follows QEMU's virtual clock, which under `-icount shift=0`
    /// advances 1 ns per instruction. x86's TSC-to-ns conversion uses a
    /// calibrated frequency, so there only the raw counts mean something.
    pub fn ns_are_instructions(&self) -> bool {
        self.unit.starts_with("CNTPCT")
    }

    /// Per check: gross, baseline and net, in instructions where the clock
    /// gives them, else in raw ticks; and the unit.
    pub fn per_check(&self) -> (f64, f64, f64, &str) {
        let c = self.checks as f64;
        let (o, b, unit) = if self.ns_are_instructions() {
            (self.observed_ns, self.baseline_ns, "instructions")
        } else {
            (self.observed_ticks, self.baseline_ticks, self.unit.as_str())
        };
        (
            o as f64 / c,
            b as f64 / c,
            o.saturating_sub(b) as f64 / c,
            unit,
        )
    }

    /// Throughput with observers on over off.
    pub fn throughput_ratio(&self) -> f64 {
        self.on.rate() / self.off.rate()
    }

    /// The text report `make bench-qemu-observers` prints.
    pub fn report(&self) -> String {
        let mut o = String::new();
        let c = self.checks as f64;
        let _ = writeln!(
            o,
            "{}: one check (serial observer, write/written after open; {} checks in place on seL4):",
            self.made, self.checks
        );
        let _ = writeln!(
            o,
            "  raw: gross {:.1} {unit}, baseline loop (NoObserver) {:.1}, net {:.1} {unit} per check",
            self.observed_ticks as f64 / c,
            self.baseline_ticks as f64 / c,
            self.observed_ticks.saturating_sub(self.baseline_ticks) as f64 / c,
            unit = self.unit
        );
        if self.ns_are_instructions() {
            let (g, b, n, _) = self.per_check();
            let _ = writeln!(
                o,
                "  gross {g:.1} instructions, baseline {b:.1}, net {n:.1} instructions per check \
                 (-icount shift=0: 1 ns of the generic timer = 1 instruction)"
            );
        } else {
            let _ = writeln!(
                o,
                "  (x86: raw TSC counts only; not converted to instructions)"
            );
        }
        let _ = writeln!(
            o,
            "stream observers on: {} bytes in {} us; off: {} bytes in {} us; throughput on/off {:.3}",
            self.on.bytes,
            self.on.us,
            self.off.bytes,
            self.off.us,
            self.throughput_ratio()
        );
        o
    }
}

/// The README's table of `make bench-qemu-observers` figures.
pub fn table(runs: &[Observers]) -> String {
    let cell = |o: &Observers, i: usize| {
        let (g, b, n, unit) = o.per_check();
        let v = [g, b, n][i];
        format!("{v:.1} {unit}")
    };
    let rows: Vec<(String, Vec<String>)> = vec![
        (
            "one check, gross".into(),
            runs.iter().map(|o| cell(o, 0)).collect(),
        ),
        (
            "baseline loop (`NoObserver`), per check".into(),
            runs.iter().map(|o| cell(o, 1)).collect(),
        ),
        (
            "**one check, net**".into(),
            runs.iter().map(|o| format!("**{}**", cell(o, 2))).collect(),
        ),
        (
            "stream, observers on / off (time)".into(),
            runs.iter()
                .map(|o| format!("{} / {} us", o.on.us, o.off.us))
                .collect(),
        ),
        (
            "**throughput on / off**".into(),
            runs.iter()
                .map(|o| format!("**{:.3}**", o.throughput_ratio()))
                .collect(),
        ),
        (
            "measured at (commit, date)".into(),
            runs.iter()
                .map(|o| format!("`{}`, {}", o.made.commit, o.made.date))
                .collect(),
        ),
    ];
    crate::markdown(
        &runs
            .iter()
            .map(|o| format!("{} {}", o.made.board_short(), o.made.config))
            .collect::<Vec<_>>(),
        &rows,
    )
}
