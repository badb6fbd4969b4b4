//! Restart policy for one child PD: how many faults it may have in a time
//! window before the monitor stops trusting its persistent state, and when it
//! gives up on it altogether.
//!
//! Escalation (seed 003 Table 4.1, seed 000 §3.3.3):
//! * a fault inside the budget gets a **warm** restart (persistent state kept,
//!   `recover`, replay of the in-flight request);
//! * the fault that exceeds `max_faults` within `window_ns`, or any fault whose
//!   persistent region fails validation, gets a **cold** start (state wiped,
//!   `init`, the in-flight request answered with a restarted-with-epoch error);
//! * a fault within `window_ns` of a cold start, before the child served a
//!   request, means the cold start failed too: the child is **stopped** and
//!   its clients are told.
//!
//! What the budget counts is a *crash loop*: faults with no request served in
//! between (seed 000: "if the same failure recurs, do a full restart"). A
//! restart after which the child served a request was a successful recovery
//! and ends the streak, so transient faults spread over useful work never
//! escalate however frequent they are, while a request that faults on every
//! replay does. Budgets are also time-windowed (unlike Tock's counters that
//! never decay): old faults stop counting once they leave the window.
//!
//! What must never happen: a decision that depends on anything but the fault
//! times and the region verdict (so the policy can be model-checked and
//! replayed), or unbounded memory.
#![no_std]

/// Most fault timestamps remembered per child.
pub const MAX_TRACKED: usize = 32;

/// Policy parameters, declared per PD in the system description.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct Policy {
    /// Warm restarts allowed within `window_ns` (at most [`MAX_TRACKED`]).
    pub max_faults: u32,
    /// Length of the fault window.
    pub window_ns: u64,
    /// Watchdog: a child with work pending that makes no progress for this long has hung.
    pub hang_ns: u64,
}

impl Policy {
    /// A reasonable default: 8 faults per second, 200 ms watchdog.
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
    /// Keep persistent state, recover, replay.
    Warm,
    /// Wipe persistent state and initialise.
    Cold(ColdReason),
    /// Stop the child; clients get a "stopped" error from now on.
    Stop,
}

/// Why a cold start was chosen.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum ColdReason {
    /// More than `max_faults` faults within the window.
    Budget,
    /// The persistent region failed validation.
    Region,
    /// The request in flight can no longer be answered legally (its
    /// protocol's timeout expired): it must get an error, which only a cold
    /// start gives.
    Unanswerable,
}

impl Decision {
    /// Short name for logs.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Warm => "warm",
            Self::Cold(ColdReason::Budget) => "cold(budget)",
            Self::Cold(ColdReason::Region) => "cold(region)",
            Self::Cold(ColdReason::Unanswerable) => "cold(timeout)",
            Self::Stop => "stop",
        }
    }
}

/// Fault history and escalation state of one child.
#[derive(Clone, Debug)]
pub struct Tracker {
    policy: Policy,
    times: [u64; MAX_TRACKED],
    len: usize,
    last_cold: Option<u64>,
    stopped: bool,
    warm: u64,
    cold: u64,
}

impl Tracker {
    /// A tracker with no history. `max_faults` is clamped to [`MAX_TRACKED`].
    pub const fn new(mut policy: Policy) -> Self {
        if policy.max_faults as usize > MAX_TRACKED {
            policy.max_faults = MAX_TRACKED as u32;
        }
        Self {
            policy,
            times: [0; MAX_TRACKED],
            len: 0,
            last_cold: None,
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

    /// Faults counted in the window ending at `now`.
    pub fn faults_in_window(&self, now: u64) -> usize {
        self.times[..self.len]
            .iter()
            .filter(|&&t| now.saturating_sub(t) < self.policy.window_ns)
            .count()
    }

    fn forget_old(&mut self, now: u64) {
        let window = self.policy.window_ns;
        let mut kept = 0;
        for i in 0..self.len {
            if now.saturating_sub(self.times[i]) < window {
                self.times[kept] = self.times[i];
                kept += 1;
            }
        }
        self.len = kept;
    }

    /// Decide about a fault that leaves the request in flight unanswerable
    /// (a protocol timeout): cold, or stop if a cold start already failed.
    pub fn on_unanswerable(&mut self, now: u64, served: bool) -> Decision {
        match self.on_fault(now, false, served) {
            Decision::Cold(_) => {
                // `on_fault` counted it as a region problem; say why.
                Decision::Cold(ColdReason::Unanswerable)
            }
            d => d,
        }
    }

    /// Decide what to do about a fault at `now`. `region_trusted` is the
    /// monitor's verdict on the child's persistent region; `served` says
    /// whether the child answered a request since its last restart.
    pub fn on_fault(&mut self, now: u64, region_trusted: bool, served: bool) -> Decision {
        if self.stopped {
            return Decision::Stop;
        }
        if let Some(t) = self.last_cold {
            if !served && now.saturating_sub(t) < self.policy.window_ns {
                self.stopped = true;
                return Decision::Stop;
            }
            self.last_cold = None;
        }
        if served {
            // The last recovery worked: this is a new fault, not a loop.
            self.len = 0;
        }
        self.forget_old(now);
        if self.len == MAX_TRACKED {
            // Full: drop the oldest (cannot happen with max_faults clamped, kept for safety).
            self.times.copy_within(1.., 0);
            self.len -= 1;
        }
        self.times[self.len] = now;
        self.len += 1;
        let decision = if self.len > self.policy.max_faults as usize {
            Decision::Cold(ColdReason::Budget)
        } else if !region_trusted {
            Decision::Cold(ColdReason::Region)
        } else {
            Decision::Warm
        };
        match decision {
            Decision::Cold(_) => {
                self.len = 0;
                self.last_cold = Some(now);
                self.cold += 1;
            }
            Decision::Warm => self.warm += 1,
            Decision::Stop => {}
        }
        decision
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

    #[test]
    fn faults_within_budget_are_warm() {
        let mut t = tracker(3);
        for i in 0..3 {
            assert_eq!(t.on_fault(i * MS, true, false), Decision::Warm);
        }
        assert_eq!(t.warm_count(), 3);
    }

    #[test]
    fn exceeding_the_budget_goes_cold_then_stop_if_cold_fails() {
        let mut t = tracker(2);
        assert_eq!(t.on_fault(0, true, false), Decision::Warm);
        assert_eq!(t.on_fault(MS, true, false), Decision::Warm);
        assert_eq!(
            t.on_fault(2 * MS, true, false),
            Decision::Cold(ColdReason::Budget)
        );
        // The cold start faults again within the window: give up.
        assert_eq!(t.on_fault(50 * MS, true, false), Decision::Stop);
        assert!(t.stopped());
        assert_eq!(t.on_fault(10_000 * MS, true, false), Decision::Stop);
    }

    #[test]
    fn the_window_slides() {
        let mut t = tracker(2);
        assert_eq!(t.on_fault(0, true, false), Decision::Warm);
        assert_eq!(t.on_fault(MS, true, false), Decision::Warm);
        // Both old faults have left the window.
        assert_eq!(t.on_fault(150 * MS, true, false), Decision::Warm);
        assert_eq!(t.faults_in_window(150 * MS), 1);
    }

    #[test]
    fn a_cold_start_that_survives_the_window_is_forgiven() {
        let mut t = tracker(1);
        assert_eq!(t.on_fault(0, true, false), Decision::Warm);
        assert_eq!(
            t.on_fault(MS, true, false),
            Decision::Cold(ColdReason::Budget)
        );
        assert_eq!(t.on_fault(500 * MS, true, false), Decision::Warm);
    }

    #[test]
    fn faults_separated_by_served_requests_never_escalate() {
        let mut t = tracker(2);
        for i in 0..50 {
            assert_eq!(t.on_fault(i * MS, true, true), Decision::Warm);
        }
        // But a loop without service does.
        assert_eq!(t.on_fault(60 * MS, true, false), Decision::Warm);
        assert_eq!(
            t.on_fault(61 * MS, true, false),
            Decision::Cold(ColdReason::Budget)
        );
        // A cold start that then serves is forgiven even inside the window.
        assert_eq!(t.on_fault(62 * MS, true, true), Decision::Warm);
    }

    #[test]
    fn an_untrusted_region_forces_cold() {
        let mut t = tracker(5);
        assert_eq!(
            t.on_fault(0, false, false),
            Decision::Cold(ColdReason::Region)
        );
    }

    #[test]
    fn budget_is_clamped() {
        let t = Tracker::new(Policy {
            max_faults: 1000,
            ..Policy::DEFAULT
        });
        assert_eq!(t.policy().max_faults as usize, MAX_TRACKED);
    }
}
