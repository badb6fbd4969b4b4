//! The fault-anywhere campaign's bookkeeping: which injected fault caused
//! which detection, and how each one ended, in the shape of Arc's Tables
//! 5.3-5.6 (seed 003 §5.2).
//!
//! The verdict on the data comes from the stream checker
//! ([`frames::check::account`]), on detection and recovery from the monitor's
//! and the driver's own console lines, attributed to the injected fault that
//! came last before them (every PD and the harness read the same monotonic
//! clock). Nothing here trusts the driver's word about the stream.
//!
//! What must never happen: a count that hides something (a fault that was
//! planned but never reached is reported as such, never as injected; an
//! anomaly no detection explains counts as manifested and undetected).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use frames::check::{Account, Ending};

/// A fault that happened, as the harness or the plan region recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Injected {
    /// When (ns, CLOCK_MONOTONIC).
    pub t_ns: u64,
    /// What (a fault-inject kind name, or the harness action).
    pub kind: String,
    /// Where (a fault-inject site name, or "async").
    pub site: String,
}

/// A line that says something was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detection {
    /// When (ns).
    pub t_ns: u64,
    /// The monitor's fault kind, or "contamination" for the driver's own
    /// finding at a commit.
    pub kind: String,
    /// The monitor's decision for it (warm, cold(..), stop), if any.
    pub decision: Option<String>,
}

/// How one injected fault ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultOutcome {
    /// It had an observable effect.
    pub manifested: bool,
    /// Something said so.
    pub detected: bool,
    /// Detected and recovered with no client-visible error.
    pub transparent: bool,
    /// Recovered with an explicit error to the client (a cold start).
    pub explicit: bool,
    /// The driver was stopped (its clients told).
    pub stopped: bool,
}

fn parse_t(s: &str) -> Option<u64> {
    let t = s.rsplit_once("(t=")?.1.split_once(" ms")?.0;
    let (ms, frac) = t.split_once('.').unwrap_or((t, "0"));
    let ms: u64 = ms.parse().ok()?;
    let us: u64 = format!("{frac:0<3}")[..3].parse().ok()?;
    Some(ms * 1_000_000 + us * 1000)
}

/// The detections in the diagnostic lines, in order: the monitor's fault
/// lines with the decision that follows each, and the driver's reports of
/// contamination found at a commit.
pub fn detections(diags: &[String], pd: &str) -> Vec<Detection> {
    let fault = format!("monitor: {pd} fault #");
    let decided = format!("monitor: {pd} -> ");
    let contaminated = format!("{pd}: persistent region contaminated");
    let mut out: Vec<Detection> = Vec::new();
    for d in diags {
        if let Some(rest) = d.strip_prefix(&fault) {
            let kind = rest
                .split_once('[')
                .and_then(|(_, r)| r.split_once(']'))
                .map_or("?", |(k, _)| k);
            out.push(Detection {
                t_ns: parse_t(d).unwrap_or(0),
                kind: kind.to_string(),
                decision: None,
            });
        } else if let Some(rest) = d.strip_prefix(&decided) {
            if let Some((decision, _)) = rest.split_once(" restart, epoch ") {
                if let Some(last) = out.iter_mut().rev().find(|x| x.kind != "contamination") {
                    if last.decision.is_none() {
                        last.decision = Some(decision.to_string());
                    }
                }
            }
        } else if d.starts_with(&contaminated) {
            out.push(Detection {
                t_ns: parse_t(d).unwrap_or(0),
                kind: "contamination".to_string(),
                decision: None,
            });
        }
    }
    out
}

/// Severity of a decision: stop > cold > warm.
fn severity(d: &str) -> u8 {
    if d == "stop" {
        3
    } else if d.starts_with("cold") {
        2
    } else {
        1
    }
}

/// Attribute each detection to the last fault injected at or before it, and
/// say how each fault ended. Detections before the first fault (or with no
/// time) are returned as unattributed.
pub fn attribute(
    injected: &[Injected],
    detected: &[Detection],
) -> (Vec<FaultOutcome>, Vec<Detection>) {
    let mut out = vec![FaultOutcome::default(); injected.len()];
    let mut worst = vec![0u8; injected.len()];
    let mut stray = Vec::new();
    // Faults sorted by time, keeping their index.
    let mut order: Vec<usize> = (0..injected.len()).collect();
    order.sort_by_key(|&i| injected[i].t_ns);
    for d in detected {
        let owner = order
            .iter()
            .rev()
            .find(|&&i| injected[i].t_ns <= d.t_ns)
            .copied();
        let Some(i) = owner else {
            stray.push(d.clone());
            continue;
        };
        out[i].detected = true;
        out[i].manifested = true;
        let s = d.decision.as_deref().map_or(1, severity);
        worst[i] = worst[i].max(s);
    }
    for (o, w) in out.iter_mut().zip(worst) {
        if o.detected {
            match w {
                3 => o.stopped = true,
                2 => o.explicit = true,
                _ => o.transparent = true,
            }
        }
    }
    (out, stray)
}

/// What one run of the system (a trial) ended with.
#[derive(Clone, Debug, Default)]
pub struct TrialEnd {
    /// Byte accounting of the stream.
    pub account: Option<Account>,
    /// The client was still blocked when the trial ended.
    pub hung: bool,
    /// The monitor died (or the system stopped by itself).
    pub monitor_down: bool,
    /// Faults planned that never fired (their site was not reached).
    pub not_reached: usize,
}

/// The totals of one fault class.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClassTotals {
    /// Faults that happened.
    pub injected: u64,
    /// With an observable effect.
    pub manifested: u64,
    /// Found.
    pub detected: u64,
    /// Recovered without the client noticing.
    pub transparent: u64,
    /// Recovered with an explicit error.
    pub explicit: u64,
    /// Ended in a stop, clients told.
    pub stopped: u64,
    /// Stream bytes lost.
    pub lost: u64,
    /// Stream bytes duplicated or corrupted (beyond explicit resends and
    /// window repeats).
    pub duplicated: u64,
    /// Bytes resent after an explicit error.
    pub resent: u64,
    /// Single-byte repeats from a fault in the device-side-effect window.
    pub window_repeats: u64,
    /// Trials that ended with a caller still blocked.
    pub hung: u64,
    /// Trials in which the monitor died.
    pub monitor_down: u64,
    /// Planned faults whose site was never reached.
    pub not_reached: u64,
    /// Trials run.
    pub trials: u64,
    /// Detections no injected fault explains.
    pub stray: u64,
}

impl ClassTotals {
    /// Add one trial.
    pub fn add(&mut self, outcomes: &[FaultOutcome], stray: usize, end: &TrialEnd) {
        self.trials += 1;
        self.injected += outcomes.len() as u64;
        for o in outcomes {
            self.manifested += u64::from(o.manifested);
            self.detected += u64::from(o.detected);
            self.transparent += u64::from(o.transparent);
            self.explicit += u64::from(o.explicit);
            self.stopped += u64::from(o.stopped);
        }
        self.stray += stray as u64;
        self.not_reached += end.not_reached as u64;
        let mut anomaly = end.hung;
        if let Some(a) = &end.account {
            self.lost += a.lost;
            self.duplicated += a.duplicated + a.corrupt;
            self.resent += a.resent;
            self.window_repeats += a.repeats.len() as u64;
            anomaly |= !a.clean();
        }
        if anomaly && outcomes.iter().any(|o| !o.detected) {
            // Something went wrong with a fault nobody detected among the
            // trial's faults: one of them manifested, undetected. (With every
            // fault detected, it is a recovery that failed: lost, duplicated
            // or hung say so.)
            self.manifested += 1;
        }
        self.hung += u64::from(end.hung);
        self.monitor_down += u64::from(end.monitor_down);
    }

    /// Sum of two classes.
    pub fn merge(&mut self, o: &ClassTotals) {
        self.injected += o.injected;
        self.manifested += o.manifested;
        self.detected += o.detected;
        self.transparent += o.transparent;
        self.explicit += o.explicit;
        self.stopped += o.stopped;
        self.lost += o.lost;
        self.duplicated += o.duplicated;
        self.resent += o.resent;
        self.window_repeats += o.window_repeats;
        self.hung += o.hung;
        self.monitor_down += o.monitor_down;
        self.not_reached += o.not_reached;
        self.trials += o.trials;
        self.stray += o.stray;
    }
}

fn pct(n: u64, d: u64) -> String {
    if d == 0 {
        "-".into()
    } else {
        format!("{:.1}%", 100.0 * n as f64 / d as f64)
    }
}

/// One table in the shape of Arc's Tables 5.3-5.6, rows by class.
pub fn table(title: &str, rows: &BTreeMap<String, ClassTotals>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{title}");
    let _ = writeln!(
        s,
        "| class | trials | injected | manifested | detected | transparent | explicit | stopped | effective | detection | success | lost | dup | hung | window repeats | resent | not reached |"
    );
    let _ = writeln!(
        s,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for (name, t) in rows {
        let _ = writeln!(
            s,
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            t.trials,
            t.injected,
            t.manifested,
            t.detected,
            t.transparent,
            t.explicit,
            t.stopped,
            pct(t.manifested, t.injected),
            pct(t.detected, t.manifested),
            pct(t.transparent + t.explicit, t.detected),
            t.lost,
            t.duplicated,
            t.hung,
            t.window_repeats,
            t.resent,
            t.not_reached
        );
    }
    s
}

/// The campaign's final line over the runtime classes.
pub fn runtime_line(t: &ClassTotals) -> String {
    format!(
        "campaign: faults={} manifested={} detected={} transparent={} explicit={} stopped={} lost={} duplicated={} hung={} monitor_down={}",
        t.injected,
        t.manifested,
        t.detected,
        t.transparent,
        t.explicit,
        t.stopped,
        t.lost,
        t.duplicated,
        t.hung,
        t.monitor_down
    )
}

/// How one code mutation ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MutationOutcome {
    /// The run differed from a fault-free one.
    pub effective: bool,
    /// The monitor found something.
    pub detected: bool,
    /// The stream came out whole and exact.
    pub recovered: bool,
    /// The driver was stopped, clients told.
    pub stopped: bool,
    /// Wrong output nothing detected.
    pub silent: bool,
    /// A caller was left blocked.
    pub hung: bool,
    /// The monitor died.
    pub monitor_down: bool,
}

/// Classify a mutated run.
pub fn mutation_outcome(detections: usize, end: &TrialEnd, stopped: bool) -> MutationOutcome {
    let clean = end.account.as_ref().is_some_and(Account::clean);
    let done = end
        .account
        .as_ref()
        .and_then(|a| a.ending.clone())
        .is_some_and(|e| e == Ending::Done);
    let detected = detections > 0;
    let effective = detected || !clean || !done || end.hung || stopped;
    MutationOutcome {
        effective,
        detected,
        recovered: effective && clean && done && !end.hung,
        stopped,
        silent: !detected && !clean,
        hung: end.hung,
        monitor_down: end.monitor_down,
    }
}

/// Totals of the mutation classes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MutationTotals {
    /// Mutations run.
    pub injected: u64,
    /// Effective.
    pub effective: u64,
    /// Detected.
    pub detected: u64,
    /// Recovered.
    pub recovered: u64,
    /// Stopped.
    pub stopped: u64,
    /// Silent.
    pub silent: u64,
    /// Hung.
    pub hung: u64,
    /// Monitor down.
    pub monitor_down: u64,
}

impl MutationTotals {
    /// Add one mutated run.
    pub fn add(&mut self, o: &MutationOutcome) {
        self.injected += 1;
        self.effective += u64::from(o.effective);
        self.detected += u64::from(o.detected);
        self.recovered += u64::from(o.recovered);
        self.stopped += u64::from(o.stopped);
        self.silent += u64::from(o.silent);
        self.hung += u64::from(o.hung);
        self.monitor_down += u64::from(o.monitor_down);
    }

    /// Sum.
    pub fn merge(&mut self, o: &MutationTotals) {
        self.injected += o.injected;
        self.effective += o.effective;
        self.detected += o.detected;
        self.recovered += o.recovered;
        self.stopped += o.stopped;
        self.silent += o.silent;
        self.hung += o.hung;
        self.monitor_down += o.monitor_down;
    }
}

/// The mutation table (Arc's effective / detection / success columns).
pub fn mutation_table(title: &str, rows: &BTreeMap<String, MutationTotals>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{title}");
    let _ = writeln!(
        s,
        "| mutation | injected | effective | detected | recovered | stopped | silent | hung | effective % | detection % | success % |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|");
    for (name, t) in rows {
        let _ = writeln!(
            s,
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            t.injected,
            t.effective,
            t.detected,
            t.recovered,
            t.stopped,
            t.silent,
            t.hung,
            pct(t.effective, t.injected),
            pct(t.detected, t.effective),
            pct(t.recovered, t.detected)
        );
    }
    s
}

/// The campaign's final line over the mutations.
pub fn mutation_line(t: &MutationTotals) -> String {
    format!(
        "campaign-mutations: injected={} effective={} detected={} recovered={} stopped={} silent={} hung={} monitor_down={}",
        t.injected, t.effective, t.detected, t.recovered, t.stopped, t.silent, t.hung, t.monitor_down
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diags(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn detections_carry_their_time_and_decision() {
        let d = detections(
            &diags(&[
                "monitor: serial fault #1 [memory] vm-fault data addr=0xdead0000 ip=0x1 fsr=0x2 (t=12.034 ms)",
                "monitor: serial -> warm restart, epoch 1",
                "serial: persistent region contaminated (record-check) since the last commit: rewritten from the working copy (t=20.5 ms)",
                "monitor: serial fault #2 [hang] hang stalled=100ms (t=30.000 ms)",
                "monitor: serial -> cold(budget) restart, epoch 2",
            ]),
            "serial",
        );
        assert_eq!(d.len(), 3);
        assert_eq!((d[0].t_ns, d[0].kind.as_str()), (12_034_000, "memory"));
        assert_eq!(d[0].decision.as_deref(), Some("warm"));
        assert_eq!(
            (d[1].kind.as_str(), d[1].t_ns),
            ("contamination", 20_500_000)
        );
        assert_eq!(d[2].decision.as_deref(), Some("cold(budget)"));
    }

    #[test]
    fn each_detection_goes_to_the_last_fault_before_it() {
        let inj = |t, k: &str| Injected {
            t_ns: t,
            kind: k.into(),
            site: "x".into(),
        };
        let det = |t, d: &str| Detection {
            t_ns: t,
            kind: "memory".into(),
            decision: Some(d.into()),
        };
        let (out, stray) = attribute(
            &[inj(10, "a"), inj(20, "b"), inj(30, "c")],
            &[
                det(5, "warm"),
                det(11, "warm"),
                det(12, "cold(budget)"),
                det(31, "stop"),
            ],
        );
        assert_eq!(stray.len(), 1, "before any fault");
        assert!(out[0].detected && out[0].explicit && !out[0].transparent);
        assert!(!out[1].detected && !out[1].manifested);
        assert!(out[2].stopped);
    }

    #[test]
    fn an_unexplained_anomaly_is_a_manifestation_nobody_detected() {
        let mut t = ClassTotals::default();
        let end = TrialEnd {
            account: Some(Account {
                lost: 3,
                ..Account::default()
            }),
            ..TrialEnd::default()
        };
        t.add(&[FaultOutcome::default()], 0, &end);
        assert_eq!((t.injected, t.manifested, t.detected, t.lost), (1, 1, 0, 3));
    }
}
