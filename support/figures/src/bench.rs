//! `make bench-qemu`: two runs under `-icount shift=0` (without faults, then
//! with the fault plan); the stream's throughput and the restart phases.

use crate::console::{median, Run};
use crate::{grouped, Made, Stream};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Medians of the completed warm restarts' phases (us, from the monitor's
/// lines; under `-icount shift=0` 1 us = 1000 instructions).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Phases {
    /// Restarts counted.
    pub n: u64,
    /// Fault injected -> monitor acting.
    pub delivery_us: u64,
    /// Restart issued -> child running.
    pub reset_us: u64,
    /// Personality and driver `recover`.
    pub recover_us: u64,
    /// The interrupted request's replay.
    pub replay_us: u64,
    /// All of it.
    pub total_us: u64,
}

/// Medians of the glue's raw-tick traces.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Traces {
    /// Restarts paired with their child's start.
    pub n: u64,
    /// The counter, as the PD named it.
    pub unit: String,
    /// Its frequency, as the PD gave it.
    pub hz: u64,
    /// Instructions per tick under `-icount shift=0`.
    pub instructions_per_tick: u64,
    /// Restart issued -> child's glue entry (kernel restart, sel4-reset,
    /// Rust runtime), ticks.
    pub reset: u64,
    /// Glue entry -> `reply_pending` (personality: recover + replay), ticks.
    pub personality: u64,
    /// `reply_pending` -> first `ReplyRecv`, ticks.
    pub reply_to_loop: u64,
    /// Monitor: event received -> restart issued (decode, log, policy,
    /// region checks), ticks.
    pub monitor: u64,
}

/// One `make bench-qemu` on one board and config.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Bench {
    /// Where and from what it was measured.
    pub made: Made,
    /// The stream without faults.
    pub clean: Stream,
    /// The stream with the fault plan.
    pub faulted: Stream,
    /// Hangs the watchdog declared in the faulted run.
    pub hangs: u64,
    /// Estimated time spent waiting for the watchdog to declare them (us).
    pub hang_wait_us: u64,
    /// Restart phases by fault kind, and over all kinds ("all").
    pub phases: BTreeMap<String, Phases>,
    /// The glue's traces, if the PDs were built with them.
    pub traces: Option<Traces>,
}

impl Bench {
    /// Measures a clean and a faulted run.
    pub fn measure(made: Made, clean: &Run, faulted: &Run) -> Result<Self, String> {
        let (Some(c), Some(f)) = (clean.stream, faulted.stream) else {
            return Err("a run did not finish its stream (no \"client: stream done\" line)".into());
        };
        if c.0 == 0 || c.1 == 0 || f.0 == 0 || f.1 == 0 {
            return Err(format!(
                "a stream of no bytes or no time: clean {c:?}, faulted {f:?}"
            ));
        }
        // A hang costs the time until the watchdog declares it: the delivery
        // of a hang restart (median of the completed ones), else its stalled
        // time.
        let hang_delivery = median(
            faulted
                .restarts
                .iter()
                .filter(|(k, _)| k == "hang")
                .map(|(_, us)| us[0])
                .collect(),
        );
        let hang_wait_us = faulted
            .hang_ms
            .iter()
            .map(|ms| {
                if hang_delivery > 0 {
                    hang_delivery
                } else {
                    ms * 1000
                }
            })
            .sum();
        let mut by_kind: BTreeMap<String, Vec<[u64; 5]>> = BTreeMap::new();
        for (k, us) in &faulted.restarts {
            by_kind.entry(k.clone()).or_default().push(*us);
        }
        by_kind.insert(
            "all".into(),
            faulted.restarts.iter().map(|(_, us)| *us).collect(),
        );
        let phases = by_kind
            .into_iter()
            .map(|(k, v)| {
                let m = |i: usize| median(v.iter().map(|u| u[i]).collect());
                let p = Phases {
                    n: v.len() as u64,
                    delivery_us: m(0),
                    reset_us: m(1),
                    recover_us: m(2),
                    replay_us: m(3),
                    total_us: m(4),
                };
                (k, p)
            })
            .collect();
        let traces = (!faulted.traces.is_empty()).then(|| {
            let m = |i: usize| median(faulted.traces.iter().map(|t| t[i]).collect());
            Traces {
                n: faulted.traces.len() as u64,
                unit: faulted.unit.clone(),
                hz: faulted.hz,
                instructions_per_tick: instructions_per_tick(&faulted.unit),
                reset: m(0),
                personality: m(1),
                reply_to_loop: m(2),
                monitor: m(3),
            }
        });
        Ok(Self {
            made,
            clean: Stream {
                bytes: c.0,
                us: c.1,
            },
            faulted: Stream {
                bytes: f.0,
                us: f.1,
            },
            hangs: faulted.hang_ms.len() as u64,
            hang_wait_us,
            phases,
            traces,
        })
    }

    /// Instructions per byte of the stream without faults.
    pub fn clean_instructions_per_byte(&self) -> f64 {
        self.clean.us as f64 * 1000.0 / self.clean.bytes as f64
    }

    /// Throughput with faults over throughput without.
    pub fn throughput_ratio(&self) -> f64 {
        self.faulted.rate() / self.clean.rate()
    }

    /// The same, not counting the watchdog's wait for the hangs (None if
    /// there were none, or the estimate exceeds the run).
    pub fn throughput_ratio_without_hang_wait(&self) -> Option<f64> {
        (self.hang_wait_us > 0 && self.hang_wait_us < self.faulted.us).then(|| {
            let s = Stream {
                bytes: self.faulted.bytes,
                us: self.faulted.us - self.hang_wait_us,
            };
            s.rate() / self.clean.rate()
        })
    }

    /// The text report `make bench-qemu` prints.
    pub fn report(&self) -> String {
        let mut o = String::new();
        let all = self.phases.get("all").map_or(0, |p| p.n);
        let _ = writeln!(
            o,
            "{}: Under QEMU -icount shift=0 virtual time is instruction count: 1 us = 1000 instructions.",
            self.made
        );
        let _ = writeln!(
            o,
            "stream without faults: {} bytes in {} us = {:.1} instructions/byte",
            self.clean.bytes,
            self.clean.us,
            self.clean_instructions_per_byte()
        );
        let _ = writeln!(
            o,
            "stream with {all} completed warm restarts: {} bytes in {} us = {:.1} instructions/byte",
            self.faulted.bytes,
            self.faulted.us,
            self.faulted.us as f64 * 1000.0 / self.faulted.bytes as f64
        );
        let _ = writeln!(
            o,
            "throughput with faults / without: {:.3} (time ratio {:.3})",
            self.throughput_ratio(),
            self.faulted.us as f64 / self.clean.us as f64
        );
        if let Some(r) = self.throughput_ratio_without_hang_wait() {
            let _ = writeln!(
                o,
                "  of which ~{} us waiting for the watchdog to declare {} hangs; without that wait: {r:.3}",
                self.hang_wait_us, self.hangs
            );
        }
        let _ = writeln!(o);
        let _ = writeln!(o, "restart phases from the monitor's lines (us = thousands of instructions), median by fault kind:");
        let _ = writeln!(
            o,
            "  {:<8} {:>3} {:>9} {:>7} {:>8} {:>7} {:>7}",
            "kind", "n", "delivery", "reset", "recover", "replay", "total"
        );
        for (k, p) in &self.phases {
            let _ = writeln!(
                o,
                "  {:<8} {:>3} {:>9} {:>7} {:>8} {:>7} {:>7}",
                k, p.n, p.delivery_us, p.reset_us, p.recover_us, p.replay_us, p.total_us
            );
        }
        if let Some(t) = &self.traces {
            let _ = writeln!(o);
            let _ = writeln!(
                o,
                "glue traces ({} restarts; raw {} at {} Hz; x{} = instructions under icount), median:",
                t.n, t.unit, t.hz, t.instructions_per_tick
            );
            for (m, n) in [
                (
                    t.reset,
                    "restart issued -> child glue entry (kernel restart, sel4-reset, Rust runtime)",
                ),
                (
                    t.personality,
                    "child glue entry -> reply_pending (personality: recover + replay)",
                ),
                (t.reply_to_loop, "reply_pending -> first ReplyRecv"),
                (
                    t.monitor,
                    "monitor: event received -> restart issued (decode, log, policy, region)",
                ),
            ] {
                let _ = writeln!(
                    o,
                    "  {m:>9} ticks = {:>9} instructions  {n}",
                    m * t.instructions_per_tick
                );
            }
        }
        o
    }
}

/// Instructions per counter tick under `-icount shift=0`: QEMU's virtual
/// clock advances 1 ns per instruction; the TSC counts it, the aarch64
/// generic timer runs at 62.5 MHz (16 ns a tick).
pub fn instructions_per_tick(unit: &str) -> u64 {
    if unit.starts_with("CNTPCT") {
        16
    } else {
        1
    }
}

/// Thousands of instructions from microseconds under icount, as "196k".
fn k(us: u64) -> String {
    format!("{}k", grouped(us))
}

/// The README's table of `make bench-qemu` figures, one column a record.
pub fn table(runs: &[Bench]) -> String {
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let mut row = |name: &str, f: &dyn Fn(&Bench) -> String| {
        rows.push((name.to_string(), runs.iter().map(f).collect()));
    };
    let phase = |b: &Bench, kind: &str, f: fn(&Phases) -> u64| {
        b.phases.get(kind).map_or("-".to_string(), |p| k(f(p)))
    };
    let trace = |b: &Bench, f: fn(&Traces) -> u64| {
        b.traces
            .as_ref()
            .map_or("-".to_string(), |t| grouped(f(t) * t.instructions_per_tick))
    };
    row("stream without faults, instructions/byte", &|b| {
        format!("{:.1}", b.clean_instructions_per_byte())
    });
    row("throughput with faults / without", &|b| {
        format!("{:.3}", b.throughput_ratio())
    });
    row("... not counting the watchdog's wait for the hangs", &|b| {
        b.throughput_ratio_without_hang_wait()
            .map_or("-".to_string(), |r| format!("{r:.2}"))
    });
    row("completed warm restarts (hangs among the faults)", &|b| {
        format!("{} ({})", b.phases.get("all").map_or(0, |p| p.n), b.hangs)
    });
    row(
        "fault delivery (injection -> monitor), memory / panic",
        &|b| {
            format!(
                "{} / {}",
                phase(b, "memory", |p| p.delivery_us),
                phase(b, "panic", |p| p.delivery_us)
            )
        },
    );
    row("monitor: fault received -> restart issued", &|b| {
        trace(b, |t| t.monitor)
    });
    row("reset: restart issued -> child's Rust code runs", &|b| {
        trace(b, |t| t.reset)
    });
    row("recover (personality + driver `recover`)", &|b| {
        phase(b, "all", |p| p.recover_us)
    });
    row("replay (rest of the interrupted 4 KiB write)", &|b| {
        phase(b, "all", |p| p.replay_us)
    });
    row("reply sent -> first `ReplyRecv` issued", &|b| {
        trace(b, |t| t.reply_to_loop)
    });
    row("measured at (commit, date)", &|b| {
        format!("`{}`, {}", b.made.commit, b.made.date)
    });
    crate::markdown(
        &runs
            .iter()
            .map(|b| format!("{} {}", b.made.board_short(), b.made.config))
            .collect::<Vec<_>>(),
        &rows,
    )
}
