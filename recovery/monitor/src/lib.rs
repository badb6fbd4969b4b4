//! The monitor: parent of every driver PD. It receives their faults, watches
//! them for hangs, and restarts them per their declared policy.
//!
//! For each fault: decode it (never trusting its shape), log one line, check
//! the child's persistent region, ask the policy (warm, cold, stop), prepare
//! the region accordingly (epoch, directive, wipe) and restart the child. The
//! child's personality does the rest and notifies `ready`, at which point the
//! monitor logs the restart with its duration split into phases.
//!
//! Hangs: on every watchdog tick the monitor reads each child's heartbeat; a
//! child that is busy (in a handler or starting) and has not made progress for
//! `hang_ns` is stopped and handled as a [`Fault::Hang`]. Protocol timeout
//! deadlines published by the child's observer are checked on the same tick.
//!
//! "Stop" is a restart into tombstone mode: the child answers every call with
//! a "stopped" error (a PD that simply stopped would leave its callers blocked
//! forever), and its clients are notified.
//!
//! What must never happen: the monitor faulting or panicking on anything a
//! child did (it is the one PD that must survive); a restart from a region
//! that failed validation; a child left blocked with no decision.
#![no_std]

use pd_core::{
    pd_log, Channel, ChannelSet, ChildId, ChildOp, Fault, FaultAction, Handler, Platform,
};
use persist::{MonitorRegion, StartPath, Verdict};
use recovery_policy::{Decision, Tracker};

pub use recovery_policy::Policy;

/// Most children one monitor supervises.
pub const MAX_CHILDREN: usize = 16;

/// A child's configuration, generated from the system description.
#[derive(Debug)]
pub struct ChildConfig {
    /// PD name.
    pub name: &'static str,
    /// Child id (the nested `protection_domain`'s `id`).
    pub id: u8,
    /// The monitor's `setvar_vaddr` for the child's persistent region.
    pub region_setvar: &'static str,
    /// The monitor's channel to the child (the child notifies `ready` on it).
    pub ready_channel: u8,
    /// The monitor's channels to the child's clients, notified when it stops.
    pub notify_channels: &'static [u8],
    /// Restart policy.
    pub policy: Policy,
}

/// Where a child is in its life.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Phase {
    /// Serving.
    Running,
    /// Restarted, `ready` not yet received.
    Restarting,
    /// In tombstone mode for good.
    Stopped,
}

/// Timestamps of one restart, from fault to serving again (ns).
#[derive(Copy, Clone, PartialEq, Eq, Debug, Default)]
pub struct RestartTiming {
    /// When an injected fault fired (0 if the fault was not injected).
    pub t_injected: u64,
    /// When the monitor's fault handler ran.
    pub t_fault: u64,
    /// When the restart had been issued.
    pub t_issued: u64,
}

/// One child's bookkeeping.
struct Child {
    cfg: &'static ChildConfig,
    region: Option<MonitorRegion>,
    tracker: Tracker,
    epoch: u64,
    phase: Phase,
    decision: Decision,
    last_fault: Option<Fault>,
    timing: RestartTiming,
    last_progress: u64,
    stalled_since: Option<u64>,
    restarts: u64,
    /// Epoch whose completed start has been logged.
    logged_epoch: Option<u64>,
    /// Requests the child had served when it was last restarted.
    served_mark: u64,
}

/// Counters, for the summary line and tests.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Default)]
pub struct Stats {
    /// Faults received (including hangs and protocol violations).
    pub faults: u64,
    /// Warm restarts.
    pub warm: u64,
    /// Cold starts.
    pub cold: u64,
    /// Children stopped.
    pub stopped: u64,
    /// Restarts completed (`ready` received).
    pub completed: u64,
    /// Hangs detected by the watchdog.
    pub hangs: u64,
}

/// The monitor PD.
pub struct Monitor<P: Platform> {
    p: P,
    children: [Option<Child>; MAX_CHILDREN],
    tick_ns: u64,
    plan: Option<fault_inject::Plan>,
    stats: Stats,
}

/// `setvar_vaddr` of the fault plan, if the monitor maps it (for latency).
pub const FAULT_PLAN_SETVAR: &str = "fault_plan";

impl<P: Platform> Monitor<P> {
    /// Start supervising `children`.
    pub fn new(p: P, children: &'static [ChildConfig]) -> Self {
        let mut slots: [Option<Child>; MAX_CHILDREN] = Default::default();
        let mut tick_ns = u64::MAX;
        for (slot, cfg) in slots.iter_mut().zip(children) {
            let region = p.region(cfg.region_setvar).and_then(|r| {
                // SAFETY: the region is mapped read-write into the monitor for
                // its whole life; the monitor writes it only while the child
                // is not running.
                unsafe { MonitorRegion::new(r.as_mut_ptr(), r.size) }.ok()
            });
            if region.is_none() {
                pd_log!(
                    &p,
                    "monitor: {}: no usable persistent region {:?}: restarts will be cold",
                    cfg.name,
                    cfg.region_setvar
                );
            }
            tick_ns = tick_ns.min((cfg.policy.hang_ns / 4).max(1_000_000));
            *slot = Some(Child {
                cfg,
                region,
                tracker: Tracker::new(cfg.policy),
                epoch: 0,
                phase: Phase::Running,
                decision: Decision::Warm,
                last_fault: None,
                timing: RestartTiming::default(),
                last_progress: 0,
                stalled_since: None,
                restarts: 0,
                logged_epoch: None,
                served_mark: 0,
            });
        }
        if children.len() > MAX_CHILDREN {
            pd_log!(
                &p,
                "monitor: only the first {MAX_CHILDREN} children are supervised"
            );
        }
        let plan = p
            .region(FAULT_PLAN_SETVAR)
            // SAFETY: mapped read-write for the monitor's life.
            .map(|r| unsafe { fault_inject::Plan::new(r.as_mut_ptr(), r.size) });
        let m = Self {
            p,
            children: slots,
            tick_ns: if tick_ns == u64::MAX { 0 } else { tick_ns },
            plan,
            stats: Stats::default(),
        };
        m.arm_tick();
        pd_log!(
            &m.p,
            "monitor: supervising {} child(ren), watchdog tick {} ms",
            m.children.iter().flatten().count(),
            m.tick_ns / 1_000_000
        );
        m
    }

    fn arm_tick(&self) {
        if self.tick_ns > 0 && self.p.set_timeout(self.tick_ns).is_err() {
            pd_log!(&self.p, "monitor: no timer: hangs will not be detected");
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// A child's phase, by id.
    pub fn phase(&self, id: u8) -> Option<Phase> {
        self.child(id).map(|c| c.phase)
    }

    fn child(&self, id: u8) -> Option<&Child> {
        self.children.iter().flatten().find(|c| c.cfg.id == id)
    }

    fn index_of(&self, id: u8) -> Option<usize> {
        self.children
            .iter()
            .position(|c| c.as_ref().is_some_and(|c| c.cfg.id == id))
    }

    /// Handle a fault (or hang) of child `id` at `now`.
    fn handle(&mut self, idx: usize, fault: Fault, now: u64) {
        // A restart that completed but whose `ready` we have not processed yet
        // (the new fault overtook the notification): log it first.
        self.ready(idx);
        let arch = self.p.arch();
        let injected = self.plan.and_then(|p| p.last_fired());
        let Some(c) = self.children[idx].as_mut() else {
            return;
        };
        self.stats.faults += 1;
        let kind = fault.kind(arch);
        pd_log!(
            &self.p,
            "monitor: {} fault #{} [{}] {} (t={}.{:03} ms)",
            c.cfg.name,
            self.stats.faults,
            kind.name(),
            fault,
            now / 1_000_000,
            now / 1000 % 1000
        );
        let verdict = c
            .region
            .as_ref()
            .map_or(Verdict::Untrusted(persist::Untrusted::NoMagic), |r| {
                r.validate()
            });
        if let (Fault::ProtocolViolation { .. }, Some(r)) = (fault, c.region.as_ref()) {
            // The child's channel layer left its observer's report in the
            // region before trapping: the state of every protocol and the
            // last events.
            let mut buf = [0u8; persist::REPORT_BYTES];
            let n = r.report(&mut buf);
            let text = core::str::from_utf8(&buf[..n]).unwrap_or("(report not text)");
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                pd_log!(
                    &self.p,
                    "monitor: {} report: {}",
                    c.cfg.name,
                    line.trim_end()
                );
            }
        }
        if let Verdict::Untrusted(why) = verdict {
            pd_log!(
                &self.p,
                "monitor: {} persistent region untrusted ({})",
                c.cfg.name,
                why.name()
            );
        }
        let served_now = c.region.as_ref().map_or(0, |r| r.served());
        let served = verdict == Verdict::Trusted && served_now > c.served_mark;
        let decision = match fault {
            Fault::ProtocolTimeout { .. } => c.tracker.on_unanswerable(now, served),
            _ => c.tracker.on_fault(now, verdict == Verdict::Trusted, served),
        };
        // A cold or tombstone start formats the region: its count restarts.
        c.served_mark = if decision == Decision::Warm {
            served_now
        } else {
            0
        };
        c.epoch = c
            .region
            .as_ref()
            .map_or(c.epoch, |r| r.epoch().max(c.epoch))
            .wrapping_add(1);
        if let Some(r) = c.region.as_mut() {
            match decision {
                Decision::Warm => r.prepare_warm(c.epoch),
                Decision::Cold(_) => r.prepare_cold(c.epoch),
                Decision::Stop => r.prepare_tombstone(c.epoch),
            }
        }
        match decision {
            Decision::Warm => self.stats.warm += 1,
            Decision::Cold(_) => self.stats.cold += 1,
            Decision::Stop => self.stats.stopped += 1,
        }
        c.decision = decision;
        c.last_fault = Some(fault);
        c.timing = RestartTiming {
            t_injected: injected.map_or(0, |(_, t)| t),
            t_fault: now,
            t_issued: 0,
        };
        c.stalled_since = None;
        c.phase = if decision == Decision::Stop {
            Phase::Stopped
        } else {
            Phase::Restarting
        };
        let id = ChildId(c.cfg.id);
        let name = c.cfg.name;
        let notify = c.cfg.notify_channels;
        let epoch = c.epoch;
        if let Err(e) = self.p.child(id, ChildOp::Restart) {
            pd_log!(&self.p, "monitor: {name}: restart refused: {e}");
        }
        let t_issued = self.p.now_ns();
        if let Some(c) = self.children[idx].as_mut() {
            c.timing.t_issued = t_issued;
            c.restarts += 1;
        }
        pd_log!(
            &self.p,
            "monitor: {name} -> {} restart, epoch {epoch}",
            decision.name()
        );
        if decision == Decision::Stop {
            for &ch in notify {
                if let Some(ch) = Channel::new(ch) {
                    self.p.notify(ch);
                }
            }
            pd_log!(&self.p, "monitor: {name} stopped for good; clients told");
        }
    }

    /// The child reported `ready` (or may have, see `handle`): log how the
    /// start went, once per epoch.
    fn ready(&mut self, idx: usize) {
        let now = self.p.now_ns();
        let Some(c) = self.children[idx].as_mut() else {
            return;
        };
        let Some(region) = c.region.as_ref() else {
            return;
        };
        let rec = region.start_record();
        if rec.epoch != c.epoch
            || c.logged_epoch == Some(rec.epoch)
            || rec.t_entry < c.timing.t_fault
        {
            // Not (yet) a completed start of the current epoch, or logged already.
            return;
        }
        c.logged_epoch = Some(rec.epoch);
        if c.last_fault.is_none() {
            // First boot.
            c.last_progress = region.liveness().1;
            pd_log!(
                &self.p,
                "monitor: {} up ({} start, epoch {})",
                c.cfg.name,
                StartPath::name(rec.path),
                rec.epoch
            );
            return;
        }
        if c.phase == Phase::Restarting {
            c.phase = Phase::Running;
        }
        self.stats.completed += 1;
        let t = c.timing;
        let us = |a: u64, b: u64| b.saturating_sub(a) / 1000;
        let origin = if t.t_injected != 0 && t.t_injected <= t.t_fault {
            t.t_injected
        } else {
            t.t_fault
        };
        pd_log!(
            &self.p,
            "monitor: {} restarted: {} start epoch {} replayed {} | delivery {} us, reset {} us, recover {} us, replay {} us, total {} us",
            c.cfg.name,
            StartPath::name(rec.path),
            rec.epoch,
            rec.replayed,
            us(origin, t.t_fault),
            us(t.t_fault, rec.t_entry),
            us(rec.t_entry, rec.t_ready),
            us(rec.t_ready, rec.t_replayed),
            us(origin, rec.t_replayed.max(now.min(rec.t_replayed)))
        );
        c.last_progress = region.liveness().1;
        c.stalled_since = None;
    }

    /// Watchdog tick: find children that are busy without progress, or past
    /// a protocol deadline.
    fn tick(&mut self, now: u64) {
        for idx in 0..MAX_CHILDREN {
            let Some(c) = self.children[idx].as_mut() else {
                continue;
            };
            if c.phase == Phase::Stopped {
                continue;
            }
            let Some(region) = c.region.as_ref() else {
                continue;
            };
            let (busy, progress) = region.liveness();
            let deadline = region.deadline();
            // A timeout state about to expire: whatever the child is doing
            // (its heartbeat may even move), it will not leave in time. Act
            // `hang_ns` early, so that the error reply of the restart is still
            // on time for the caller's observer too.
            if deadline != 0 && now.saturating_add(c.cfg.policy.hang_ns) >= deadline {
                let fault = Fault::ProtocolTimeout {
                    left_ms: deadline.saturating_sub(now) / 1_000_000,
                };
                self.stop_then_handle(idx, fault, now);
                continue;
            }
            if !busy || progress != c.last_progress {
                c.last_progress = progress;
                c.stalled_since = None;
                continue;
            }
            let since = *c.stalled_since.get_or_insert(now);
            let stalled = now - since;
            if stalled >= c.cfg.policy.hang_ns {
                self.stats.hangs += 1;
                let fault = Fault::Hang {
                    stalled_ms: stalled / 1_000_000,
                };
                self.stop_then_handle(idx, fault, now);
            }
        }
        self.arm_tick();
    }

    fn stop_then_handle(&mut self, idx: usize, fault: Fault, now: u64) {
        let Some(c) = self.children[idx].as_ref() else {
            return;
        };
        // The child is still running: stop it before touching its region.
        if let Err(e) = self.p.child(ChildId(c.cfg.id), ChildOp::Stop) {
            pd_log!(&self.p, "monitor: {}: stop refused: {e}", c.cfg.name);
            return;
        }
        self.handle(idx, fault, now);
    }

    /// One summary line (restarts by kind, hangs).
    pub fn log_summary(&self) {
        let s = self.stats;
        pd_log!(
            &self.p,
            "monitor: summary: faults {} (hangs {}), warm {}, cold {}, stopped {}, restarts completed {}",
            s.faults,
            s.hangs,
            s.warm,
            s.cold,
            s.stopped,
            s.completed
        );
    }
}

impl<P: Platform> Handler for Monitor<P> {
    fn notified(&mut self, channels: ChannelSet) {
        let now = self.p.now_ns();
        if let Some(t) = self.p.timer_channel() {
            if channels.contains(t) {
                self.tick(now);
            }
        }
        for idx in 0..MAX_CHILDREN {
            let ready = self.children[idx]
                .as_ref()
                .and_then(|c| Channel::new(c.cfg.ready_channel))
                .is_some_and(|ch| channels.contains(ch));
            if ready {
                self.ready(idx);
            }
        }
    }

    fn fault(&mut self, child: ChildId, fault: &Fault) -> FaultAction {
        let now = self.p.now_ns();
        match self.index_of(child.0) {
            Some(idx) => {
                self.handle(idx, fault.refine(), now);
                FaultAction::Handled
            }
            None => {
                // Not ours to restart: leave it blocked rather than guess.
                pd_log!(
                    &self.p,
                    "monitor: fault from unknown {child}: {fault}; left stopped"
                );
                FaultAction::Handled
            }
        }
    }
}

#[cfg(test)]
mod tests;
