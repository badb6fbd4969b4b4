//! Host tools for the Makefile's seL4 targets.
//!
//! ```text
//! sel4-tools check-escalation LOG        warm x8 -> cold -> stop, client told, nothing hangs
//! sel4-tools bench CLEAN_LOG FAULTED_LOG restart phases and stream throughput (icount runs)
//! sel4-tools observers ON OFF COST       throughput observers on/off, cost of one check
//! ```
//!
//! Logs are QEMU serial captures: diagnostic lines are the SO (0x0e) .. SI
//! (0x0f) spans.

use std::collections::BTreeMap;
use std::process::ExitCode;

const USAGE: &str = "usage: sel4-tools check-escalation LOG | bench CLEAN_LOG FAULTED_LOG | observers ON_LOG OFF_LOG COST_LOG";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["check-escalation", log] => check_escalation(log),
        ["bench", clean, faulted] => bench(clean, faulted),
        ["observers", on, off, cost] => observers(on, off, cost),
        ["--help"] | ["-h"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(USAGE.into()),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sel4-tools: {e}");
            ExitCode::FAILURE
        }
    }
}

fn diags(path: &str) -> Result<Vec<String>, String> {
    let console = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    Ok(frames::check::split(&console).diags)
}

fn check_escalation(log: &str) -> Result<(), String> {
    let d = diags(log)?;
    let decisions: Vec<&str> = d
        .iter()
        .filter_map(|l| l.strip_prefix("monitor: serial -> "))
        .filter_map(|l| l.split_once(" restart, epoch "))
        .map(|(decision, _)| decision)
        .collect();
    for l in &d {
        println!("  {l}");
    }
    let want = [
        "warm",
        "warm",
        "warm",
        "warm",
        "warm",
        "warm",
        "warm",
        "warm",
        "cold(budget)",
        "stop",
    ];
    let has = |s: &str| d.iter().any(|l| l.contains(s));
    let mut failed = Vec::new();
    if decisions != want {
        failed.push(format!("decisions {decisions:?}, expected {want:?}"));
    }
    for needle in [
        "monitor: serial stopped for good; clients told",
        "failed: driver stopped (epoch 10); stream abandoned",
        "client: the monitor reports the serial driver stopped",
        "monitor: serial restarted: tombstone start epoch 10",
    ] {
        if !has(needle) {
            failed.push(format!("no line with {needle:?}"));
        }
    }
    if failed.is_empty() {
        println!(
            "check-escalation: ok: {} -> clients told",
            decisions.join(", ")
        );
        Ok(())
    } else {
        Err(format!(
            "check-escalation FAILED:\n  {}",
            failed.join("\n  ")
        ))
    }
}

/// What one run says.
#[derive(Default)]
struct Run {
    /// Stream bytes and client-measured time (us).
    stream: Option<(u64, u64)>,
    /// Time the watchdog took to declare hangs (ms, from the fault lines).
    hang_ms: Vec<u64>,
    /// Restart phases (us): kind of the fault, [delivery, reset, recover, replay, total].
    restarts: Vec<(String, [u64; 5])>,
    /// Glue traces: restart issued -> child entry, entry -> replied, replied -> loop,
    /// received -> issued (raw ticks).
    traces: Vec<[u64; 4]>,
    unit: String,
    hz: u64,
}

fn word_after<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    let mut it = s.split_whitespace();
    while let Some(w) = it.next() {
        if w == key {
            return it.next();
        }
    }
    None
}

fn num_after(s: &str, key: &str) -> Option<u64> {
    word_after(s, key)?
        .trim_end_matches([',', ':'])
        .parse()
        .ok()
}

fn parse_run(path: &str) -> Result<Run, String> {
    let d = diags(path)?;
    let mut run = Run::default();
    let mut kind_of_epoch: BTreeMap<u64, String> = BTreeMap::new();
    let mut last_kind = String::new();
    let mut issues: Vec<(u64, u64)> = Vec::new();
    let mut starts: Vec<(u64, u64, u64)> = Vec::new();
    for l in &d {
        if let Some(rest) = l.strip_prefix("client: stream done: ") {
            // "<f> frames, <b> bytes, <r> resends, <t> us"
            let v: Vec<u64> = rest
                .split(", ")
                .filter_map(|p| p.split_whitespace().next()?.parse().ok())
                .collect();
            if let [_, bytes, _, us] = v[..] {
                run.stream = Some((bytes, us));
            }
        } else if let Some(rest) = l.strip_prefix("monitor: serial fault #") {
            if let Some(k) = rest.split_once('[').and_then(|(_, r)| r.split_once(']')) {
                last_kind = k.0.to_string();
            }
            if let Some(ms) = rest
                .split_once("stalled=")
                .and_then(|(_, r)| r.split_once("ms"))
                .and_then(|(n, _)| n.parse().ok())
            {
                run.hang_ms.push(ms);
            }
        } else if let Some(rest) = l.strip_prefix("monitor: serial -> ") {
            if let Some(e) = rest
                .split_once(" restart, epoch ")
                .and_then(|(_, e)| e.parse().ok())
            {
                kind_of_epoch.insert(e, last_kind.clone());
            }
        } else if let Some(rest) = l.strip_prefix("monitor: serial restarted: ") {
            let epoch = num_after(rest, "epoch").unwrap_or(0);
            let times = rest.split_once(" | ").map_or("", |(_, t)| t);
            let mut us = [0u64; 5];
            for (i, name) in ["delivery", "reset", "recover", "replay", "total"]
                .iter()
                .enumerate()
            {
                us[i] = num_after(times, name).unwrap_or(0);
            }
            if rest.starts_with("warm ") {
                let kind = kind_of_epoch.get(&epoch).cloned().unwrap_or_default();
                run.restarts.push((kind, us));
            }
        } else if l.starts_with("trace: ") && l.contains(" restart child ") {
            if let (Some(rx), Some(iss)) = (num_after(l, "received"), num_after(l, "issued")) {
                issues.push((rx, iss));
            }
        } else if l.starts_with("trace: serial start ") {
            let (Some(entry), Some(replied), Some(lp)) = (
                num_after(l, "entry"),
                num_after(l, "replied"),
                num_after(l, "loop"),
            ) else {
                continue;
            };
            starts.push((entry, replied, lp));
        } else if l.starts_with("trace: serial clock ") {
            // "trace: serial clock <unit words> <hz> Hz"
            let words: Vec<&str> = l.split_whitespace().collect();
            if words.len() >= 6 {
                run.hz = words[words.len() - 2].parse().unwrap_or(0);
                run.unit = words[3..words.len() - 2].join(" ");
            }
        }
    }
    // Deferred logs come out of order: pair each restart with the first
    // child start after it (by timestamp).
    starts.sort_unstable();
    for &(rx, iss) in &issues {
        let next = starts.iter().find(|s| s.0 > iss);
        let later_issue = issues
            .iter()
            .any(|&(_, i)| i > iss && next.is_some_and(|s| i < s.0));
        if let (Some(&(entry, replied, lp)), false) = (next, later_issue) {
            if replied >= entry && lp >= replied && iss >= rx {
                run.traces
                    .push([entry - iss, replied - entry, lp - replied, iss - rx]);
            }
        }
    }
    Ok(run)
}

fn median(mut v: Vec<u64>) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    v[v.len() / 2]
}

fn bench(clean: &str, faulted: &str) -> Result<(), String> {
    let c = parse_run(clean)?;
    let f = parse_run(faulted)?;
    let (Some((cb, cus)), Some((fb, fus))) = (c.stream, f.stream) else {
        return Err("a run did not finish its stream (no \"client: stream done\" line)".into());
    };
    println!(
        "Under QEMU -icount shift=0 virtual time is instruction count: 1 us = 1000 instructions."
    );
    println!(
        "stream without faults: {cb} bytes in {cus} us = {:.1} instructions/byte",
        cus as f64 * 1000.0 / cb as f64
    );
    println!(
        "stream with {} completed warm restarts: {fb} bytes in {fus} us = {:.1} instructions/byte",
        f.restarts.len(),
        fus as f64 * 1000.0 / fb as f64
    );
    println!(
        "throughput with faults / without: {:.3} (time ratio {:.3})",
        (fb as f64 / fus as f64) / (cb as f64 / cus as f64),
        fus as f64 / cus as f64
    );
    // A hang costs the time until the watchdog declares it: the delivery of
    // a hang restart (median of the completed ones), else its stalled time.
    let hang_delivery = median(
        f.restarts
            .iter()
            .filter(|(k, _)| k == "hang")
            .map(|(_, us)| us[0])
            .collect(),
    );
    let hang_us: u64 = f
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
    if hang_us > 0 && hang_us < fus {
        println!(
            "  of which ~{hang_us} us waiting for the watchdog to declare {} hangs; without that wait: {:.3} (time ratio {:.3})",
            f.hang_ms.len(),
            (fb as f64 / (fus - hang_us) as f64) / (cb as f64 / cus as f64),
            (fus - hang_us) as f64 / cus as f64
        );
    }
    println!();
    println!("restart phases from the monitor's lines (us = thousands of instructions), median by fault kind:");
    println!(
        "  {:<8} {:>3} {:>9} {:>7} {:>8} {:>7} {:>7}",
        "kind", "n", "delivery", "reset", "recover", "replay", "total"
    );
    let mut kinds: BTreeMap<&str, Vec<[u64; 5]>> = BTreeMap::new();
    for (k, us) in &f.restarts {
        kinds.entry(k.as_str()).or_default().push(*us);
    }
    kinds.insert("all", f.restarts.iter().map(|(_, us)| *us).collect());
    for (k, v) in &kinds {
        let m = |i: usize| median(v.iter().map(|u| u[i]).collect());
        println!(
            "  {:<8} {:>3} {:>9} {:>7} {:>8} {:>7} {:>7}",
            k,
            v.len(),
            m(0),
            m(1),
            m(2),
            m(3),
            m(4)
        );
    }
    if !f.traces.is_empty() {
        let per_insn = match f.unit.as_str() {
            "CNTPCT ticks" => 16,
            _ => 1,
        };
        println!();
        println!(
            "glue traces ({} restarts; raw {} at {} Hz; x{per_insn} = instructions under icount), median:",
            f.traces.len(),
            f.unit,
            f.hz
        );
        let names = [
            "restart issued -> child glue entry (kernel restart, sel4-reset, Rust runtime)",
            "child glue entry -> reply_pending (personality: recover + replay)",
            "reply_pending -> first ReplyRecv",
            "monitor: event received -> restart issued (decode, log, policy, region)",
        ];
        for (i, n) in names.iter().enumerate() {
            let m = median(f.traces.iter().map(|t| t[i]).collect());
            println!("  {:>9} ticks = {:>9} instructions  {n}", m, m * per_insn);
        }
    }
    Ok(())
}

/// One `check-cost` line.
#[derive(Debug, PartialEq)]
struct CheckCost {
    checks: u64,
    /// Raw clock ticks of the observed and the baseline loops.
    observed: u64,
    baseline: u64,
    /// The ticks' unit as the PD named it ("CNTPCT ticks", "TSC cycles").
    unit: String,
    /// The same in nanoseconds, as the PD converted them.
    observed_ns: u64,
    baseline_ns: u64,
}

/// `check-cost: serial <n> checks: observer <t> <unit> (<ns> ns), baseline <t> <unit> (<ns> ns)`.
fn parse_check_cost(d: &[String]) -> Option<CheckCost> {
    let l = d
        .iter()
        .find_map(|l| l.strip_prefix("check-cost: serial "))?;
    let checks = l.split_whitespace().next()?.parse().ok()?;
    let part = |name: &str| -> Option<(u64, String, u64)> {
        let rest = l.split(name).nth(1)?.trim_start();
        let (ticks, rest) = rest.split_once(' ')?;
        let (unit, rest) = rest.split_once(" (")?;
        let ns = rest.split_whitespace().next()?;
        Some((ticks.parse().ok()?, unit.to_string(), ns.parse().ok()?))
    };
    let (observed, unit, observed_ns) = part("observer ")?;
    let (baseline, _, baseline_ns) = part("baseline ")?;
    Some(CheckCost {
        checks,
        observed,
        baseline,
        unit,
        observed_ns,
        baseline_ns,
    })
}

/// Three runs under `-icount shift=0`: the stream with every observer on,
/// with every observer off, and a run whose serial driver measured one check
/// in place before its `init` (`check-cost` line; kept apart so that the
/// measurement does not count in the stream's time).
fn observers(on: &str, off: &str, cost: &str) -> Result<(), String> {
    let d = diags(cost)?;
    let c = parse_check_cost(&d).ok_or(format!(
        "{cost}: no \"check-cost: serial ...\" line (built with check-cost?)"
    ))?;
    let (Some((onb, onus)), Some((offb, offus))) = (parse_run(on)?.stream, parse_run(off)?.stream)
    else {
        return Err("a run did not finish its stream (no \"client: stream done\" line)".into());
    };
    let checks = c.checks.max(1) as f64;
    println!(
        "one check (serial observer, write/written after open; {} checks in place on seL4):",
        c.checks
    );
    println!(
        "  raw: gross {:.1} {unit}, baseline loop (NoObserver) {:.1}, net {:.1} {unit} per check",
        c.observed as f64 / checks,
        c.baseline as f64 / checks,
        c.observed.saturating_sub(c.baseline) as f64 / checks,
        unit = c.unit
    );
    if c.unit.starts_with("CNTPCT") {
        // The generic timer follows QEMU's virtual clock, which under
        // -icount shift=0 advances 1 ns per instruction.
        println!(
            "  gross {:.1} instructions, baseline {:.1}, net {:.1} instructions per check \
             (-icount shift=0: 1 ns of the generic timer = 1 instruction)",
            c.observed_ns as f64 / checks,
            c.baseline_ns as f64 / checks,
            c.observed_ns.saturating_sub(c.baseline_ns) as f64 / checks
        );
    } else {
        // The PD's TSC-to-ns conversion uses a calibrated frequency: its
        // nanoseconds are not instructions; only the raw counts are shown.
        println!("  (x86: raw TSC counts only; not converted to instructions)");
    }
    println!(
        "stream observers on: {onb} bytes in {onus} us; off: {offb} bytes in {offus} us; throughput on/off {:.3}",
        (onb as f64 / onus as f64) / (offb as f64 / offus as f64)
    );
    Ok(())
}

#[cfg(test)]
mod check_cost_tests {
    use super::*;

    #[test]
    fn a_check_cost_line_gives_raw_ticks_their_unit_and_ns() {
        let d = vec![
            "check-cost: serial 40000 checks: observer 123456 TSC cycles (61728 ns), baseline 2000 TSC cycles (1000 ns)".to_string(),
        ];
        assert_eq!(
            parse_check_cost(&d),
            Some(CheckCost {
                checks: 40000,
                observed: 123_456,
                baseline: 2000,
                unit: "TSC cycles".into(),
                observed_ns: 61_728,
                baseline_ns: 1000,
            })
        );
        let a = vec![
            "check-cost: serial 40000 checks: observer 500000 CNTPCT ticks (8000000 ns), baseline 10 CNTPCT ticks (160 ns)".to_string(),
        ];
        let c = parse_check_cost(&a).map(|c| (c.unit, c.observed_ns));
        assert_eq!(c, Some(("CNTPCT ticks".to_string(), 8_000_000)));
        assert_eq!(
            parse_check_cost(&["check-cost: serial x".to_string()]),
            None
        );
    }
}
