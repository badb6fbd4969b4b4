//! Checks on a captured console: the client's stream is exact, and the
//! monitor's log shows every fault decoded and every restart timed.
//!
//! Used by the hosted end-to-end tests and by `make test-qemu` (through the
//! `log-check` binary) on the serial log of a real seL4 run, so both backends
//! are held to the same standard.
//!
//! What must never happen: a check that passes on a log that lacks what it
//! claims to check (it counts what it saw and compares with expectations).

use std::collections::BTreeMap;
use std::fmt;

pub mod campaign;
pub mod launch;
pub mod mutate;
pub mod trial;

pub use frames::check::{split, verify, StreamError, Verified};

/// One fault line of the monitor: `monitor: <pd> fault #<n> [<kind>] <detail>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultLine {
    /// Faulting PD.
    pub pd: String,
    /// Fault number.
    pub n: u64,
    /// Fault kind (memory, panic, hang, ...).
    pub kind: String,
    /// Decoded detail.
    pub detail: String,
}

/// One restart line: `monitor: <pd> restarted: <path> start epoch <e> replayed <r> | delivery .. us, reset .. us, recover .. us, replay .. us, total .. us`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestartLine {
    /// Restarted PD.
    pub pd: String,
    /// warm / cold / fresh / tombstone.
    pub path: String,
    /// Epoch.
    pub epoch: u64,
    /// 1 if a request was replayed or answered.
    pub replayed: u64,
    /// Phase durations (us): delivery, reset, recover, replay, total.
    pub us: [u64; 5],
}

/// What the monitor said, parsed from the diagnostic lines.
#[derive(Debug, Default)]
pub struct MonitorLog {
    /// Fault lines, in order.
    pub faults: Vec<FaultLine>,
    /// Restart decisions: (pd, decision) from `monitor: <pd> -> <decision> restart, epoch <e>`.
    pub decisions: Vec<(String, String)>,
    /// Completed restarts.
    pub restarts: Vec<RestartLine>,
    /// PDs stopped for good.
    pub stopped: Vec<String>,
}

impl MonitorLog {
    /// Parse the monitor's lines out of diagnostic lines.
    pub fn parse(diags: &[String]) -> Self {
        let mut log = Self::default();
        for d in diags {
            let Some(rest) = d.strip_prefix("monitor: ") else {
                continue;
            };
            if let Some(f) = parse_fault(rest) {
                log.faults.push(f);
            } else if let Some(r) = parse_restart(rest) {
                log.restarts.push(r);
            } else if let Some((pd, decision)) = parse_decision(rest) {
                log.decisions.push((pd, decision));
            } else if let Some(pd) = rest.strip_suffix(" stopped for good; clients told") {
                log.stopped.push(pd.to_string());
            }
        }
        log
    }

    /// Faults per kind.
    pub fn kinds(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for f in &self.faults {
            *m.entry(f.kind.clone()).or_insert(0) += 1;
        }
        m
    }
}

/// `<pd> -> <decision> restart, epoch <n>`
fn parse_decision(s: &str) -> Option<(String, String)> {
    let (pd, tail) = s.split_once(" -> ")?;
    let (decision, epoch) = tail.split_once(" restart, epoch ")?;
    if pd.contains(' ') || decision.contains(' ') || epoch.parse::<u64>().is_err() {
        return None;
    }
    Some((pd.to_string(), decision.to_string()))
}

fn parse_fault(s: &str) -> Option<FaultLine> {
    let (pd, rest) = s.split_once(" fault #")?;
    let (n, rest) = rest.split_once(" [")?;
    let (kind, detail) = rest.split_once("] ")?;
    Some(FaultLine {
        pd: pd.to_string(),
        n: n.parse().ok()?,
        kind: kind.to_string(),
        detail: detail.to_string(),
    })
}

fn parse_restart(s: &str) -> Option<RestartLine> {
    let (pd, rest) = s.split_once(" restarted: ")?;
    let (head, times) = rest.split_once(" | ")?;
    let words: Vec<&str> = head.split_whitespace().collect();
    // <path> start epoch <e> replayed <r>
    if words.len() != 6 || words[1] != "start" || words[2] != "epoch" || words[4] != "replayed" {
        return None;
    }
    let mut us = [0u64; 5];
    let names = ["delivery", "reset", "recover", "replay", "total"];
    for (i, part) in times.split(", ").enumerate() {
        let mut it = part.split_whitespace();
        if it.next()? != *names.get(i)? {
            return None;
        }
        us[i] = it.next()?.parse().ok()?;
    }
    Some(RestartLine {
        pd: pd.to_string(),
        path: words[0].to_string(),
        epoch: words[3].parse().ok()?,
        replayed: words[5].parse().ok()?,
        us,
    })
}

/// Percentile (nearest rank) of a sample, in its unit.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A failed expectation about a run.
#[derive(Debug)]
pub struct Failure(pub String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Expectations for a faulted run.
#[derive(Clone, Debug, Default)]
pub struct Expect {
    /// At least this many stream bytes.
    pub min_bytes: usize,
    /// At least this many faults.
    pub min_faults: usize,
    /// Every one of these kinds seen at least once.
    pub kinds: Vec<String>,
    /// Every fault followed by a completed warm restart.
    pub all_warm: bool,
}

/// Check a whole console against `expect`; returns the verified stream and the log.
pub fn check_run(console: &[u8], expect: &Expect) -> Result<(Verified, MonitorLog), Failure> {
    let verified = verify(console).map_err(|e| Failure(format!("stream not exact: {e}")))?;
    if verified.bytes < expect.min_bytes {
        return Err(Failure(format!(
            "stream has {} bytes, expected at least {}",
            verified.bytes, expect.min_bytes
        )));
    }
    let log = MonitorLog::parse(&split(console).diags);
    if log.faults.len() < expect.min_faults {
        return Err(Failure(format!(
            "{} faults in the monitor log, expected at least {}",
            log.faults.len(),
            expect.min_faults
        )));
    }
    let kinds = log.kinds();
    for k in &expect.kinds {
        if !kinds.contains_key(k) {
            return Err(Failure(format!(
                "no fault of kind {k:?} in the monitor log (saw {kinds:?})"
            )));
        }
    }
    if expect.all_warm {
        if log.restarts.len() != log.faults.len() {
            return Err(Failure(format!(
                "{} faults but {} completed restarts",
                log.faults.len(),
                log.restarts.len()
            )));
        }
        if let Some(r) = log.restarts.iter().find(|r| r.path != "warm") {
            return Err(Failure(format!(
                "a {} restart where only warm ones were expected: {r:?}",
                r.path
            )));
        }
    }
    Ok((verified, log))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitor_lines_parse() {
        let diags: Vec<String> = [
            "monitor: serial fault #3 [memory] vm-fault data addr=0xdead0000 ip=0x201000 fsr=0x92",
            "monitor: serial -> warm restart, epoch 3",
            "monitor: serial restarted: warm start epoch 3 replayed 1 | delivery 12 us, reset 340 us, recover 5 us, replay 80 us, total 437 us",
            "monitor: serial stopped for good; clients told",
            "client: something else",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let log = MonitorLog::parse(&diags);
        assert_eq!(log.faults.len(), 1);
        assert_eq!(log.faults[0].kind, "memory");
        assert_eq!(log.decisions, [("serial".to_string(), "warm".to_string())]);
        assert_eq!(log.restarts[0].us, [12, 340, 5, 80, 437]);
        assert_eq!(log.restarts[0].replayed, 1);
        assert_eq!(log.stopped, ["serial"]);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }
}
