//! What one QEMU console of the serial system says, as the benchmarks need
//! it: the client's stream line, the monitor's fault and restart lines, the
//! glue's raw-tick traces and the `check-cost` line.

use std::collections::BTreeMap;

/// The diagnostic lines (SO .. SI spans) of a console file.
pub fn diags(path: &str) -> Result<Vec<String>, String> {
    let console = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    Ok(frames::check::split(&console).diags)
}

/// What one run says.
#[derive(Default, Debug)]
pub struct Run {
    /// Stream bytes and client-measured time (us).
    pub stream: Option<(u64, u64)>,
    /// Time the watchdog took to declare hangs (ms, from the fault lines).
    pub hang_ms: Vec<u64>,
    /// Completed warm restarts: kind of the fault, and their phases (us)
    /// [delivery, reset, recover, replay, total].
    pub restarts: Vec<(String, [u64; 5])>,
    /// Glue traces (raw ticks): restart issued -> child entry, entry ->
    /// replied, replied -> loop, received -> issued.
    pub traces: Vec<[u64; 4]>,
    /// The unit of the traces' ticks, as the PD named it.
    pub unit: String,
    /// Their frequency, as the PD gave it.
    pub hz: u64,
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

/// Reads a run's diagnostic lines.
pub fn parse_run(d: &[String]) -> Run {
    let mut run = Run::default();
    let mut kind_of_epoch: BTreeMap<u64, String> = BTreeMap::new();
    let mut last_kind = String::new();
    let mut issues: Vec<(u64, u64)> = Vec::new();
    let mut starts: Vec<(u64, u64, u64)> = Vec::new();
    for l in d {
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
        } else if l.contains(": trace restart child ") {
            if let (Some(rx), Some(iss)) = (num_after(l, "received"), num_after(l, "issued")) {
                issues.push((rx, iss));
            }
        } else if l.starts_with("serial: trace start ") {
            let (Some(entry), Some(replied), Some(lp)) = (
                num_after(l, "entry"),
                num_after(l, "replied"),
                num_after(l, "loop"),
            ) else {
                continue;
            };
            starts.push((entry, replied, lp));
        } else if l.starts_with("serial: trace clock ") {
            // "serial: trace clock <unit words> <hz> Hz"
            let words: Vec<&str> = l.split_whitespace().collect();
            if words.len() >= 6 {
                run.hz = words[words.len() - 2].parse().unwrap_or(0);
                run.unit = words[3..words.len() - 2].join(" ");
            }
        }
    }
    // Deferred logs come out of order: pair each restart with the first
    // child start after it (by timestamp), unless another restart came
    // between them.
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
    run
}

/// The median (upper for an even count); 0 for none.
pub fn median(mut v: Vec<u64>) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    v[v.len() / 2]
}

/// One `check-cost` line.
#[derive(Debug, PartialEq)]
pub struct CheckCost {
    /// Checks in each loop.
    pub checks: u64,
    /// Raw clock ticks of the observed and the baseline loops.
    pub observed: u64,
    /// Ticks of the baseline loop.
    pub baseline: u64,
    /// The ticks' unit as the PD named it ("CNTPCT ticks", "TSC cycles").
    pub unit: String,
    /// The observed loop in nanoseconds, as the PD converted them.
    pub observed_ns: u64,
    /// The baseline loop in nanoseconds.
    pub baseline_ns: u64,
}

/// `check-cost: serial <n> checks: observer <t> <unit> (<ns> ns), baseline <t> <unit> (<ns> ns)`.
pub fn parse_check_cost(d: &[String]) -> Option<CheckCost> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_check_cost_line_gives_raw_ticks_their_unit_and_ns() {
        let d = lines(&["check-cost: serial 40000 checks: observer 123456 TSC cycles (61728 ns), baseline 2000 TSC cycles (1000 ns)"]);
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
        let a = lines(&["check-cost: serial 40000 checks: observer 500000 CNTPCT ticks (8000000 ns), baseline 10 CNTPCT ticks (160 ns)"]);
        let c = parse_check_cost(&a).map(|c| (c.unit, c.observed_ns));
        assert_eq!(c, Some(("CNTPCT ticks".to_string(), 8_000_000)));
        assert_eq!(parse_check_cost(&lines(&["check-cost: serial x"])), None);
    }

    #[test]
    fn restarts_take_the_kind_of_the_fault_that_caused_them() {
        let d = lines(&[
            "monitor: serial fault #1 [memory] vm-fault data addr=0xdead0000 ip=0x214c58 (t=93.074 ms)",
            "monitor: serial -> warm restart, epoch 1",
            "monitor: serial fault #2 [hang] hang stalled=100ms (t=1052.843 ms)",
            "monitor: serial -> warm restart, epoch 2",
            "monitor: serial restarted: warm start epoch 2 replayed 1 | delivery 126006 us, reset 1054 us, recover 84 us, replay 5811 us, total 132957 us",
            "monitor: serial restarted: cold start epoch 3 replayed 0 | delivery 1 us, reset 2 us, recover 3 us, replay 4 us, total 10 us",
            "client: stream done: 1024 frames, 65536 bytes, 0 resends, 978881 us",
        ]);
        let r = parse_run(&d);
        assert_eq!(r.stream, Some((65536, 978_881)));
        assert_eq!(r.hang_ms, vec![100]);
        assert_eq!(
            r.restarts,
            vec![("hang".to_string(), [126_006, 1054, 84, 5811, 132_957])]
        );
    }

    #[test]
    fn a_trace_pairs_with_the_first_start_after_it_and_none_across_a_later_restart() {
        let d = lines(&[
            "recovery_monitor: trace restart child 0 after fault received 100 issued 150",
            "recovery_monitor: trace restart child 0 after fault received 1000 issued 1100",
            "serial: trace start entry 1200 replied 1300 loop 1350",
            // A restart with no start of its own before the next restart.
            "recovery_monitor: trace restart child 0 after fault received 2000 issued 2100",
            "recovery_monitor: trace restart child 0 after fault received 3000 issued 3050",
            "serial: trace start entry 3100 replied 3110 loop 3120",
            "serial: trace clock CNTPCT ticks 62500000 Hz",
        ]);
        let r = parse_run(&d);
        assert_eq!(r.traces, vec![[100, 100, 50, 100], [50, 10, 10, 50]]);
        assert_eq!((r.unit.as_str(), r.hz), ("CNTPCT ticks", 62_500_000));
    }

    #[test]
    fn the_median_of_nothing_is_zero() {
        assert_eq!(median(vec![]), 0);
        assert_eq!(median(vec![3, 1, 2]), 2);
        assert_eq!(median(vec![4, 1, 3, 2]), 3);
    }
}
