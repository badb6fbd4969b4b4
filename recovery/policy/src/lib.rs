//! Restart policy for one child PD: how long a crash loop may go on before
//! the monitor stops trusting the child's persistent state, and when it gives
//! up on the child altogether.
//!
//! Escalation (seed 003 Table 4.1, seed 000 §3.3.3) is driven by **progress**,
//! not by the clock: a fault counts against the child unless the child made
//! *new* progress since its last restart. Progress is evidence the child
//! cannot forge: calls its clients saw answered with a reply that is not an
//! error (their call ledgers). A replayed request that faults again, or a
//! restart that only re-sent an old error, is not progress.
//!
//! * a fault after progress, or within the budget of `max_faults` faults
//!   without progress, gets a **warm** restart (persistent state kept,
//!   `recover`, the caller answered);
//! * the fault that makes `max_faults + 1` in a row without progress (a crash
//!   loop), or any fault whose persistent region fails validation, gets a
//!   **cold** start (state wiped, `init`, the caller answered with a
//!   restarted-with-epoch error);
//! * the child is **stopped** (its clients are told) when a cold start did not
//!   cure it: a fault during the cold start itself, or within `window_ns` of
//!   it, before any progress; a second cold start with no progress since the
//!   first; or a second crash loop that follows a crash-loop cold start with
//!   fewer than `max_faults` successes in between (a loop of loops: cold, a
//!   session reopened, the same request faulting again).
//!
//! Because the streak is reset by progress alone, no pattern of faults can
//! restart a child forever without either progress or escalation: a loop
//! whose faults come slower than any window (hangs found after `hang_ms`)
//! escalates as surely as a fast one. Transient faults spread over useful
//! work never escalate, however frequent (restarting is the cure for them).
//!
//! What must never happen: a decision that depends on anything but the fault
//! times, the region verdict and the progress evidence (so the policy can be
//! model-checked and replayed), or unbounded memory.
#![no_std]

/// Policy parameters, declared per PD in the system description.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct Policy {
    /// Faults in a row without progress that still get a warm restart.
    pub max_faults: u32,
    /// After a cold start: a fault within this time and before any progress
    /// means the cold start failed.
    pub window_ns: u64,
    /// Watchdog: a child with work pending that makes no progress for this long has hung.
    pub hang_ns: u64,
}

impl Policy {
    /// A reasonable default: 8 faults, 1 s window, 200 ms watchdog.
    pub const DEFAULT: Self = Self {
        max_faults: 8,
        window_ns: 1_000_000_000,
        hang_ns: 200_000_000,
    };
}

impl Default for Policy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What to do with a faulted child.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Decision {
    /// Keep persistent state, recover, answer the caller.
    Warm,
    /// Wipe persistent state and initialise.
    Cold(ColdReason),
    /// Stop the child; clients get a "stopped" error from now on.
    Stop,
}

/// Why a cold start was chosen.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum ColdReason {
    /// More than `max_faults` faults in a row without progress.
    Budget,
    /// The persistent region failed validation.
    Region,
    /// The request in flight can no longer be answered legally (its
    /// protocol's timeout expired): it must get an error, which only a cold
    /// start gives.
    Unanswerable,
    /// Another member of its restart group was cold-started (the monitor's
    /// decision, never the policy's: the child did not fault).
    Group,
}

impl Decision {
    /// Short name for logs.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Warm => "warm",
            Self::Cold(ColdReason::Budget) => "cold(budget)",
            Self::Cold(ColdReason::Region) => "cold(region)",
            Self::Cold(ColdReason::Unanswerable) => "cold(timeout)",
            Self::Cold(ColdReason::Group) => "cold(group)",
            Self::Stop => "stop",
        }
    }
}

/// What the monitor knows about a fault besides its time.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct Evidence {
    /// The monitor's verdict on the child's persistent region.
    pub region_trusted: bool,
    /// Successful calls the child's clients have seen so far (monotonic).
    pub successes: u64,
    /// The fault hit while the child was still starting (before `ready`).
    pub during_start: bool,
}

/// Fault history and escalation state of one child.
#[derive(Clone, Debug)]
pub struct Tracker {
    policy: Policy,
    /// Faults in a row without progress.
    streak: u32,
    /// Successes when the child was last restarted.
    successes_mark: Option<u64>,
    /// Time of the last cold start, until the child made progress after it.
    last_cold: Option<u64>,
    /// Successes at the last crash-loop (budget) cold start.
    loop_cold_at: Option<u64>,
    /// Successes at the last unanswerable request's cold start.
    unanswerable_at: Option<u64>,
    stopped: bool,
    warm: u64,
    cold: u64,
}

impl Tracker {
    /// A tracker with no history.
    pub const fn new(policy: Policy) -> Self {
        Self {
            policy,
            streak: 0,
            successes_mark: None,
            last_cold: None,
            loop_cold_at: None,
            unanswerable_at: None,
            stopped: false,
            warm: 0,
            cold: 0,
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Whether the child has been stopped.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// Warm restarts decided so far.
    pub fn warm_count(&self) -> u64 {
        self.warm
    }

    /// Cold starts decided so far.
    pub fn cold_count(&self) -> u64 {
        self.cold
    }

    /// Faults in a row without progress.
    pub fn streak(&self) -> u32 {
        self.streak
    }

    /// Decide about a fault that leaves the request in flight unanswerable
    /// (a protocol timeout): cold, or stop if a cold start already failed.
    ///
    /// A cold start loses the client's session, and the client's first call
    /// after it re-opens the session: that one success is not progress. A
    /// request unanswerable again with at most that call between is the
    /// same livelock: stop (else a driver that can open but never complete
    /// a write is restarted cold for ever, one timeout apart; found by a
    /// hosted code mutation).
    pub fn on_unanswerable(&mut self, now: u64, ev: Evidence) -> Decision {
        if self.stopped {
            return Decision::Stop;
        }
        let again = self
            .unanswerable_at
            .is_some_and(|m| ev.successes <= m.saturating_add(1));
        self.unanswerable_at = Some(ev.successes);
        if again {
            return self.stop();
        }
        match self.on_fault(
            now,
            Evidence {
                region_trusted: false,
                ..ev
            },
        ) {
            // `on_fault` counted it as a region problem; say why.
            Decision::Cold(_) => Decision::Cold(ColdReason::Unanswerable),
            d => d,
        }
    }

    /// Decide what to do about a fault at `now`.
    pub fn on_fault(&mut self, now: u64, ev: Evidence) -> Decision {
        if self.stopped {
            return Decision::Stop;
        }
        let progressed = self.successes_mark.is_some_and(|m| ev.successes > m);
        self.successes_mark = Some(ev.successes);
        if progressed {
            // The last recovery worked: this is a new fault, not a loop.
            self.streak = 0;
            self.last_cold = None;
        }
        if let Some(t) = self.last_cold {
            if ev.during_start || now.saturating_sub(t) < self.policy.window_ns {
                // The cold start did not cure it.
                return self.stop();
            }
        }
        self.streak = self.streak.saturating_add(1);
        let after_cold = self.last_cold.is_some();
        let decision = if self.streak > self.policy.max_faults {
            let since_loop = self.loop_cold_at.map(|at| ev.successes.saturating_sub(at));
            if since_loop.is_some_and(|n| n < u64::from(self.policy.max_faults.max(1))) {
                // A second crash loop hard on the heels of the first.
                return self.stop();
            }
            self.loop_cold_at = Some(ev.successes);
            Decision::Cold(ColdReason::Budget)
        } else if !ev.region_trusted {
            Decision::Cold(ColdReason::Region)
        } else {
            Decision::Warm
        };
        if after_cold && matches!(decision, Decision::Cold(_)) {
            // Two cold starts with no progress between them: the first did
            // not cure it, nor will another.
            return self.stop();
        }
        match decision {
            Decision::Cold(_) => {
                self.streak = 0;
                self.last_cold = Some(now);
                self.cold += 1;
            }
            Decision::Warm => self.warm += 1,
            Decision::Stop => {}
        }
        decision
    }

    fn stop(&mut self) -> Decision {
        self.stopped = true;
        Decision::Stop
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn tracker(max: u32) -> Tracker {
        Tracker::new(Policy {
            max_faults: max,
            window_ns: 100 * MS,
            hang_ns: 10 * MS,
        })
    }

    fn ev(successes: u64) -> Evidence {
        Evidence {
            region_trusted: true,
            successes,
            during_start: false,
        }
    }

    #[test]
    fn faults_within_budget_are_warm() {
        let mut t = tracker(3);
        for i in 0..3 {
            assert_eq!(t.on_fault(i * MS, ev(0)), Decision::Warm);
        }
        assert_eq!(t.warm_count(), 3);
    }

    #[test]
    fn exceeding_the_budget_goes_cold_then_stop_if_cold_fails() {
        let mut t = tracker(2);
        assert_eq!(t.on_fault(0, ev(0)), Decision::Warm);
        assert_eq!(t.on_fault(MS, ev(0)), Decision::Warm);
        assert_eq!(
            t.on_fault(2 * MS, ev(0)),
            Decision::Cold(ColdReason::Budget)
        );
        // The cold start faults again within the window: give up.
        assert_eq!(t.on_fault(50 * MS, ev(0)), Decision::Stop);
        assert!(t.stopped());
        assert_eq!(t.on_fault(10_000 * MS, ev(5)), Decision::Stop);
    }

    #[test]
    fn a_slow_crash_loop_escalates_as_surely_as_a_fast_one() {
        // Hangs found every 150 ms, each longer than the window: the streak
        // is not forgiven by time.
        let mut t = tracker(8);
        let mut decisions = [Decision::Warm; 10];
        for (i, d) in decisions.iter_mut().enumerate() {
            *d = t.on_fault(i as u64 * 150 * MS, ev(3));
        }
        assert_eq!(&decisions[..8], &[Decision::Warm; 8]);
        assert_eq!(decisions[8], Decision::Cold(ColdReason::Budget));
        // The cold start outlived its window, but made no progress: the
        // streak goes on, never forever.
        let mut t2 = tracker(1);
        assert_eq!(t2.on_fault(0, ev(0)), Decision::Warm);
        assert_eq!(
            t2.on_fault(200 * MS, ev(0)),
            Decision::Cold(ColdReason::Budget)
        );
        assert_eq!(t2.on_fault(400 * MS, ev(0)), Decision::Warm);
        assert_eq!(
            t2.on_fault(600 * MS, ev(0)),
            Decision::Stop,
            "loop of loops"
        );
    }

    #[test]
    fn a_fault_during_the_cold_start_stops_whatever_the_time() {
        let mut t = tracker(0);
        assert_eq!(t.on_fault(0, ev(0)), Decision::Cold(ColdReason::Budget));
        let during = Evidence {
            during_start: true,
            ..ev(0)
        };
        assert_eq!(t.on_fault(10_000 * MS, during), Decision::Stop);
    }

    #[test]
    fn a_loop_of_loops_stops_even_with_a_little_progress_between() {
        // Cold, the client reopens its session (one success), the same
        // request faults again max_faults + 1 times: stop, not cold again.
        let mut t = tracker(2);
        for i in 0..2 {
            assert_eq!(t.on_fault(i * MS, ev(10)), Decision::Warm);
        }
        assert_eq!(
            t.on_fault(2 * MS, ev(10)),
            Decision::Cold(ColdReason::Budget)
        );
        assert_eq!(
            t.on_fault(200 * MS, ev(11)),
            Decision::Warm,
            "progress: open"
        );
        assert_eq!(t.on_fault(201 * MS, ev(11)), Decision::Warm);
        assert_eq!(t.on_fault(202 * MS, ev(11)), Decision::Stop);
    }

    #[test]
    fn faults_separated_by_progress_never_escalate() {
        let mut t = tracker(2);
        for i in 0..50 {
            assert_eq!(t.on_fault(i * MS, ev(i)), Decision::Warm);
        }
        // But a loop without progress does.
        assert_eq!(t.on_fault(60 * MS, ev(49)), Decision::Warm);
        assert_eq!(
            t.on_fault(61 * MS, ev(49)),
            Decision::Cold(ColdReason::Budget)
        );
        // A cold start that then serves is forgiven even inside the window.
        assert_eq!(t.on_fault(62 * MS, ev(50)), Decision::Warm);
        // And a second crash loop much later, after plenty of progress, is
        // treated like the first.
        for i in 0..2 {
            assert_eq!(t.on_fault((500 + i) * MS, ev(90)), Decision::Warm);
        }
        assert_eq!(
            t.on_fault(503 * MS, ev(90)),
            Decision::Cold(ColdReason::Budget)
        );
    }

    #[test]
    fn an_untrusted_region_forces_cold() {
        let mut t = tracker(5);
        let bad = Evidence {
            region_trusted: false,
            ..ev(0)
        };
        assert_eq!(t.on_fault(0, bad), Decision::Cold(ColdReason::Region));
    }

    #[test]
    fn an_unanswerable_request_goes_cold_then_stops() {
        let mut t = tracker(5);
        assert_eq!(
            t.on_unanswerable(0, ev(0)),
            Decision::Cold(ColdReason::Unanswerable)
        );
        // The cold start livelocks too (3 s later, long after the window):
        // two cold starts with no progress between them is a stop.
        assert_eq!(t.on_unanswerable(3000 * MS, ev(0)), Decision::Stop);
    }

    #[test]
    fn a_request_unanswerable_again_after_only_a_session_reopen_stops() {
        let mut t = tracker(5);
        assert_eq!(
            t.on_unanswerable(0, ev(7)),
            Decision::Cold(ColdReason::Unanswerable)
        );
        // 2.9 s later (far outside the window), one success between: the
        // client's re-open after the cold start.
        assert_eq!(t.on_unanswerable(2900 * MS, ev(8)), Decision::Stop);
        // With real progress between, a later timeout is a new fault.
        let mut t = tracker(5);
        assert_eq!(
            t.on_unanswerable(0, ev(7)),
            Decision::Cold(ColdReason::Unanswerable)
        );
        assert_eq!(
            t.on_unanswerable(2900 * MS, ev(30)),
            Decision::Cold(ColdReason::Unanswerable)
        );
    }

    #[test]
    fn two_region_colds_without_progress_stop() {
        let mut t = tracker(5);
        let bad = Evidence {
            region_trusted: false,
            ..ev(0)
        };
        assert_eq!(t.on_fault(0, bad), Decision::Cold(ColdReason::Region));
        assert_eq!(t.on_fault(500 * MS, bad), Decision::Stop);
        let mut t = tracker(5);
        assert_eq!(t.on_fault(0, bad), Decision::Cold(ColdReason::Region));
        assert_eq!(
            t.on_fault(
                500 * MS,
                Evidence {
                    successes: 3,
                    ..bad
                }
            ),
            Decision::Cold(ColdReason::Region),
            "with progress between, each is cured by its cold start"
        );
    }
}
