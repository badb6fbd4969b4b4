//! The monitor: parent of every driver PD. It receives their faults, watches
//! them for hangs, and restarts them per their declared policy.
//!
//! For each fault: decode it (never trusting its shape), log one line, check
//! the child's persistent region, weigh the evidence of progress, ask the
//! policy (warm, cold, stop), write the epoch and the directive into the
//! child's control page (a region the child can read but not write) and
//! restart the child. The child's personality does the rest and notifies
//! `ready`, at which point the monitor logs the restart with its duration
//! split into phases.
//!
//! Evidence the child cannot forge or erase decides everything: the control
//! page and the monitor's own memory (phases, the last heartbeat it saw and
//! when), and the call ledgers of the child's clients (regions the clients
//! write and the child cannot), which say whether a call is outstanding, by
//! when its protocol wants the answer, and how many calls succeeded, which is
//! what "progress" means to the policy. What the child writes itself (its
//! heartbeat, busy flag and published deadline) can only make a hang be
//! found sooner, never later.
//!
//! Hangs: on every watchdog tick, a child that is busy (a call outstanding,
//! a handler running, or a start under way) and whose heartbeat has not moved
//! for `hang_ns` is stopped and handled as a [`Fault::Hang`]; one past a
//! protocol deadline as a [`Fault::ProtocolTimeout`].
//!
//! "Stop" is a restart into tombstone mode: the child answers every call with
//! a "stopped" error (a PD that simply stopped would leave its callers blocked
//! forever), and its clients are notified.
//!
//! Fault injection (tests): the monitor lane of the fault plan makes the
//! monitor stop the child asynchronously at chosen instants, or write into
//! its region while it runs; see `fault-inject`.
//!
//! What must never happen: the monitor faulting or panicking on anything a
//! child did (it is the one PD that must survive); a restart from a region
//! that failed validation; a child left blocked with no decision.
#![no_std]

use call_ledger::Reader as LedgerReader;
use fault_inject::Kind as InjectKind;
use pd_core::{
    pd_log, Channel, ChannelSet, ChildId, ChildOp, Fault, FaultAction, Handler, Platform,
};
use persist::{ControlPage, Directive, MonitorRegion, StartPath, Verdict};
use recovery_policy::{Decision, Evidence, Tracker};

pub use recovery_policy::Policy;

/// Most children one monitor supervises.
pub const MAX_CHILDREN: usize = 16;
/// Most call ledgers (client channels) per child.
pub const MAX_LEDGERS: usize = 4;
/// Most fault-plan entries whose firing the monitor reports.
const REPORTED_BITS: usize = 2048;

/// A child's configuration, generated from the system description.
#[derive(Debug)]
pub struct ChildConfig {
    /// PD name.
    pub name: &'static str,
    /// Child id (the nested `protection_domain`'s `id`).
    pub id: u8,
    /// The monitor's `setvar_vaddr` for the child's persistent region.
    pub region_setvar: &'static str,
    /// The monitor's `setvar_vaddr` for the child's control page.
    pub control_setvar: &'static str,
    /// The monitor's `setvar_vaddr`s for the call ledgers of the child's clients.
    pub ledger_setvars: &'static [&'static str],
    /// The monitor's channel to the child (the child notifies `ready` on it).
    pub ready_channel: u8,
    /// The monitor's channels to the child's clients, notified when it stops.
    pub notify_channels: &'static [u8],
    /// Restart policy.
    pub policy: Policy,
    /// Child ids of its restart group, itself included, in the order to
    /// restart them (servers before their clients); empty: no group.
    pub group: &'static [u8],
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
    /// Even the tombstone failed: in the backend's minimal server, which
    /// answers every call "gone". Never touched again.
    Quarantined,
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
    control: Option<*mut u8>,
    ledgers: [Option<LedgerReader>; MAX_LEDGERS],
    tracker: Tracker,
    epoch: u64,
    phase: Phase,
    decision: Decision,
    last_fault: Option<Fault>,
    timing: RestartTiming,
    /// The child's heartbeat as last seen, and when it last changed.
    heartbeat: u64,
    heartbeat_at: u64,
    /// Since when the child has been busy without a break.
    busy_since: Option<u64>,
    /// The ledger call (issued number) a protocol timeout was acted on, and
    /// when.
    timed_out_call: Option<(u64, u64)>,
    restarts: u64,
    /// Epoch whose completed start has been logged.
    logged_epoch: Option<u64>,
    /// Without ledgers: requests served in regions formatted before.
    served_base: u64,
    served_last: u64,
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
    /// Children quarantined (their tombstone failed).
    pub quarantined: u64,
    /// Cold starts of a child because a member of its restart group was
    /// cold-started (counted in `cold` too).
    pub group: u64,
}

/// The monitor PD.
pub struct Monitor<P: Platform> {
    p: P,
    children: [Option<Child>; MAX_CHILDREN],
    tick_ns: u64,
    plan: Option<fault_inject::Plan>,
    /// When the next monitor-lane injection is due (ns), if any.
    inject_at: Option<u64>,
    /// Plan entries before this one have been reported fired.
    reported: usize,
    /// Which entries have been reported.
    reported_bits: [u64; REPORTED_BITS / 64],
    stats: Stats,
    /// The heartbeat page the children's clients read.
    beat: Option<call_ledger::Beat>,
}

/// `setvar_vaddr` of the fault plan, if the monitor maps it (for latency,
/// and for its own lane of injections).
pub const FAULT_PLAN_SETVAR: &str = "fault_plan";

/// `setvar_vaddr` of the monitor's heartbeat page (written at every tick,
/// read by the clients: [`call_ledger::Beat`]).
pub const BEAT_SETVAR: &str = "beat";

impl<P: Platform> Monitor<P> {
    /// Start supervising `children`.
    pub fn new(p: P, children: &'static [ChildConfig]) -> Self {
        let mut slots: [Option<Child>; MAX_CHILDREN] = Default::default();
        let mut tick_ns = u64::MAX;
        for (slot, cfg) in slots.iter_mut().zip(children) {
            *slot = Some(Self::child_of(&p, cfg));
            tick_ns = tick_ns.min((cfg.policy.hang_ns / 4).max(1_000_000));
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
        let beat = p
            .region(BEAT_SETVAR)
            .filter(|r| r.size >= 16)
            // SAFETY: mapped read-write into the monitor for its life, aligned.
            .map(|r| unsafe { call_ledger::Beat::new(r.as_mut_ptr()) });
        let now = p.now_ns();
        let mut m = Self {
            p,
            children: slots,
            tick_ns: if tick_ns == u64::MAX { 0 } else { tick_ns },
            plan,
            inject_at: None,
            reported: 0,
            reported_bits: [0; REPORTED_BITS / 64],
            stats: Stats::default(),
            beat,
        };
        m.schedule_injection(now);
        m.arm_tick(now);
        pd_log!(
            &m.p,
            "monitor: supervising {} child(ren), watchdog tick {} ms",
            m.children.iter().flatten().count(),
            m.tick_ns / 1_000_000
        );
        m
    }

    fn child_of(p: &P, cfg: &'static ChildConfig) -> Child {
        let region = p.region(cfg.region_setvar).and_then(|r| {
            // SAFETY: the region is mapped into the monitor for its whole
            // life; the monitor only reads it (and, for fault injection,
            // scribbles on it on purpose).
            unsafe { MonitorRegion::new(r.as_mut_ptr(), r.size) }.ok()
        });
        if region.is_none() {
            pd_log!(
                p,
                "monitor: {}: no usable persistent region {:?}: restarts will be cold",
                cfg.name,
                cfg.region_setvar
            );
        }
        let control = p
            .region(cfg.control_setvar)
            .filter(|r| r.size >= core::mem::size_of::<ControlPage>())
            .map(|r| r.as_mut_ptr());
        if control.is_none() {
            pd_log!(
                p,
                "monitor: {}: no control page {:?}: the child cannot be told how to start",
                cfg.name,
                cfg.control_setvar
            );
        }
        let mut ledgers = [None; MAX_LEDGERS];
        for (slot, name) in ledgers.iter_mut().zip(cfg.ledger_setvars) {
            *slot = p
                .region(name)
                .filter(|r| r.size >= core::mem::size_of::<call_ledger::Ledger>())
                // SAFETY: mapped readable into the monitor for its life.
                .map(|r| unsafe { LedgerReader::new(r.as_mut_ptr()) });
        }
        Child {
            cfg,
            region,
            control,
            ledgers,
            tracker: Tracker::new(cfg.policy),
            epoch: 0,
            phase: Phase::Running,
            decision: Decision::Warm,
            last_fault: None,
            timing: RestartTiming::default(),
            heartbeat: 0,
            heartbeat_at: 0,
            busy_since: None,
            timed_out_call: None,
            restarts: 0,
            logged_epoch: None,
            served_base: 0,
            served_last: 0,
        }
    }

    fn arm_tick(&self, now: u64) {
        let mut after = self.tick_ns;
        if let Some(at) = self.inject_at {
            after = after.min(at.saturating_sub(now).max(1));
        }
        if after > 0 && after != u64::MAX && self.p.set_timeout(after).is_err() {
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

    /// Calls the child's clients saw succeed so far (monotonic).
    fn successes(c: &mut Child) -> u64 {
        let mut any = false;
        let mut sum = 0u64;
        for l in c.ledgers.iter().flatten() {
            if let Some(s) = l.snapshot() {
                any = true;
                sum = sum.wrapping_add(s.succeeded);
            }
        }
        if any {
            return sum;
        }
        // No client ledger: the child's own count (forgeable, documented).
        if let Some(s) = c.region.as_ref().and_then(|r| r.summary().ok()) {
            c.served_last = s.served;
        }
        c.served_base + c.served_last
    }

    /// Outstanding calls: (any busy, earliest deadline, its call number).
    fn ledger_state(c: &Child) -> (bool, Option<(u64, u64)>) {
        let mut busy = false;
        let mut deadline: Option<(u64, u64)> = None;
        for l in c.ledgers.iter().flatten() {
            let Some(s) = l.snapshot() else { continue };
            if !s.busy() {
                continue;
            }
            busy = true;
            if s.deadline != 0 && deadline.is_none_or(|(d, _)| s.deadline < d) {
                deadline = Some((s.deadline, s.issued));
            }
        }
        (busy, deadline)
    }

    /// Handle a fault (or hang) of child `idx` at `now`.
    fn handle(&mut self, idx: usize, fault: Fault, now: u64) {
        // A restart that completed but whose `ready` we have not processed yet
        // (the new fault overtook the notification): log it first.
        self.ready(idx);
        self.report_injections();
        let arch = self.p.arch();
        let injected = self.plan.and_then(|p| p.last_fired());
        let Some(c) = self.children[idx].as_mut() else {
            return;
        };
        self.stats.faults += 1;
        let kind = fault.kind(arch);
        if matches!(c.phase, Phase::Stopped | Phase::Quarantined) {
            // The tombstone itself failed (its code is the driver's: a
            // permanent fault can break it too). Restarting it again would
            // loop; leaving it stopped would leave its callers blocked.
            pd_log!(
                &self.p,
                "monitor: {} fault #{} [{}] {} in its stopped mode (t={}.{:03} ms)",
                c.cfg.name,
                self.stats.faults,
                kind.name(),
                fault,
                now / 1_000_000,
                now / 1000 % 1000
            );
            self.quarantine(idx);
            return;
        }
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
            // The driver wrote it: keep the text up to the first byte
            // that is not, and say so.
            let (text, rest) = match core::str::from_utf8(&buf[..n]) {
                Ok(t) => (t, 0),
                Err(e) => (
                    core::str::from_utf8(&buf[..e.valid_up_to()]).unwrap_or(""),
                    n - e.valid_up_to(),
                ),
            };
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                pd_log!(
                    &self.p,
                    "monitor: {} report: {}",
                    c.cfg.name,
                    line.trim_end()
                );
            }
            if rest > 0 {
                pd_log!(
                    &self.p,
                    "monitor: {} report: ({} bytes not text left out)",
                    c.cfg.name,
                    rest
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
        let ev = Evidence {
            region_trusted: verdict == Verdict::Trusted,
            successes: Self::successes(c),
            during_start: c.phase == Phase::Restarting,
        };
        let decision = match fault {
            Fault::ProtocolTimeout { .. } => c.tracker.on_unanswerable(now, ev),
            _ => c.tracker.on_fault(now, ev),
        };
        if decision != Decision::Warm {
            // The region is formatted by the start: its count restarts.
            c.served_base += c.served_last;
            c.served_last = 0;
        }
        c.epoch = c.epoch.wrapping_add(1);
        let directive = match decision {
            Decision::Warm => Directive::Warm,
            Decision::Cold(_) => Directive::Cold,
            Decision::Stop => Directive::Tombstone,
        };
        if let Some(base) = c.control {
            // SAFETY: the control page is mapped read-write into the monitor
            // (read-only into the child, which is not running now).
            unsafe { persist::write_control(base, &ControlPage::new(c.epoch, directive)) };
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
        c.busy_since = None;
        c.phase = if decision == Decision::Stop {
            Phase::Stopped
        } else {
            Phase::Restarting
        };
        let name = c.cfg.name;
        let notify = c.cfg.notify_channels;
        let (me, group) = (c.cfg.id, c.cfg.group);
        if matches!(decision, Decision::Cold(_)) && group.len() > 1 {
            // Its group goes with it, servers before their clients.
            for &m in group {
                match self.index_of(m) {
                    Some(j) if m == me => self.issue(j),
                    Some(j) => self.group_cold(j, fault, now, name),
                    None => {}
                }
            }
            if !group.contains(&me) {
                self.issue(idx);
            }
        } else {
            self.issue(idx);
        }
        if decision == Decision::Stop {
            for &ch in notify {
                if let Some(ch) = Channel::new(ch) {
                    self.p.notify(ch);
                }
            }
            pd_log!(&self.p, "monitor: {name} stopped for good; clients told");
        }
    }

    /// Restart child `idx` as its control page says, and log the decision.
    fn issue(&mut self, idx: usize) {
        let Some(c) = self.children[idx].as_ref() else {
            return;
        };
        let (id, name, epoch, decision) = (ChildId(c.cfg.id), c.cfg.name, c.epoch, c.decision);
        if let Err(e) = self.p.child(id, ChildOp::Restart) {
            pd_log!(&self.p, "monitor: {name}: restart refused: {e}");
        }
        let t_issued = self.p.now_ns();
        if let Some(c) = self.children[idx].as_mut() {
            c.timing.t_issued = t_issued;
            c.restarts += 1;
            c.heartbeat_at = t_issued;
        }
        pd_log!(
            &self.p,
            "monitor: {name} -> {} restart, epoch {epoch}",
            decision.name()
        );
    }

    /// Cold-start child `idx` because `cause`, a member of its restart
    /// group, is (after `fault`). A stopped or quarantined member stays so.
    fn group_cold(&mut self, idx: usize, fault: Fault, now: u64, cause: &str) {
        let Some(c) = self.children[idx].as_mut() else {
            return;
        };
        if matches!(c.phase, Phase::Stopped | Phase::Quarantined) {
            pd_log!(
                &self.p,
                "monitor: {} stays stopped: its group's {cause} was cold-started",
                c.cfg.name
            );
            return;
        }
        self.stats.cold += 1;
        self.stats.group += 1;
        c.served_base += c.served_last;
        c.served_last = 0;
        c.epoch = c.epoch.wrapping_add(1);
        if let Some(base) = c.control {
            // SAFETY: as in `handle`; the child is restarted right after.
            unsafe { persist::write_control(base, &ControlPage::new(c.epoch, Directive::Cold)) };
        }
        c.decision = Decision::Cold(recovery_policy::ColdReason::Group);
        c.last_fault = Some(fault);
        c.timing = RestartTiming {
            t_injected: 0,
            t_fault: now,
            t_issued: 0,
        };
        c.busy_since = None;
        c.phase = Phase::Restarting;
        pd_log!(
            &self.p,
            "monitor: {} goes with {cause}, its restart group",
            c.cfg.name
        );
        self.issue(idx);
    }

    /// Put child `idx` in the backend's minimal server for good.
    fn quarantine(&mut self, idx: usize) {
        let Some(c) = self.children[idx].as_mut() else {
            return;
        };
        if c.phase == Phase::Quarantined {
            // The minimal server runs none of the child's code: it dies
            // only from outside (a kill of its process). Its callers would
            // be left blocked, so start it again.
            let (id, name) = (ChildId(c.cfg.id), c.cfg.name);
            match self.p.child(id, ChildOp::Quarantine) {
                Ok(()) => pd_log!(
                    &self.p,
                    "monitor: {name}'s quarantine server died; started again"
                ),
                Err(e) => pd_log!(&self.p, "monitor: {name}: quarantine refused: {e}"),
            }
            return;
        }
        c.phase = Phase::Quarantined;
        let (id, name) = (ChildId(c.cfg.id), c.cfg.name);
        self.stats.quarantined += 1;
        match self.p.child(id, ChildOp::Quarantine) {
            Ok(()) => pd_log!(
                &self.p,
                "monitor: {name} quarantined: its stopped mode failed; every call is answered 'gone'"
            ),
            Err(e) => pd_log!(&self.p, "monitor: {name}: quarantine refused: {e}"),
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
        if rec.path == persist::NO_START
            || rec.t_replayed == persist::REPLAYING
            || rec.epoch != c.epoch
            || c.logged_epoch == Some(rec.epoch)
            || rec.t_entry < c.timing.t_fault
        {
            // Not (yet) a completed start of the current epoch, or logged already.
            return;
        }
        c.logged_epoch = Some(rec.epoch);
        if c.last_fault.is_none() {
            // First boot.
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
            // A timed-out call's grace runs from here: the start answered it.
            if let Some((_, at)) = c.timed_out_call.as_mut() {
                *at = (*at).max(now);
            }
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
        c.busy_since = None;
    }

    /// Watchdog tick: find children that are busy without progress, or past
    /// a protocol deadline.
    fn tick(&mut self, now: u64) {
        if let Some(b) = self.beat {
            b.beat(now);
        }
        for idx in 0..MAX_CHILDREN {
            let Some(c) = self.children[idx].as_mut() else {
                continue;
            };
            if c.phase == Phase::Quarantined {
                continue;
            }
            let (busy_self, heartbeat, deadline_self) =
                c.region.as_ref().map_or((false, 0, 0), |r| r.liveness());
            let (busy_calls, ledger_deadline) = Self::ledger_state(c);
            if heartbeat != c.heartbeat {
                c.heartbeat = heartbeat;
                c.heartbeat_at = now;
            }
            // A timeout state about to expire: whatever the child is doing
            // (its heartbeat may even move), it will not leave in time. Act
            // `hang_ns` early, so that the error reply of the restart is still
            // on time for the caller's observer too. Once per call.
            let hang = c.cfg.policy.hang_ns;
            if let (Some((_, call)), Some((acted, at))) = (ledger_deadline, c.timed_out_call) {
                // A call whose timeout was acted on is answered by the restart
                // (an error reply). Still outstanding well after the restart
                // completed: the restarted child does not answer either. Its
                // heartbeat proves nothing (interrupts move it).
                if call == acted
                    && c.phase == Phase::Running
                    && now.saturating_sub(at) >= hang.saturating_mul(2)
                {
                    c.timed_out_call = Some((call, now));
                    self.stats.hangs += 1;
                    let fault = Fault::Hang {
                        stalled_ms: now.saturating_sub(at) / 1_000_000,
                    };
                    self.stop_then_handle(idx, fault, now);
                    continue;
                }
            }
            let timeout = match ledger_deadline {
                Some((d, call)) if c.timed_out_call.map(|(t, _)| t) != Some(call) => {
                    Some((d, Some(call)))
                }
                _ => None,
            }
            .into_iter()
            .chain((deadline_self != 0).then_some((deadline_self, None)))
            .min_by_key(|(d, _)| *d);
            if let Some((deadline, call)) = timeout.filter(|_| c.phase != Phase::Stopped) {
                if now.saturating_add(hang) >= deadline {
                    if let Some(call) = call {
                        c.timed_out_call = Some((call, now));
                    }
                    let fault = Fault::ProtocolTimeout {
                        left_ms: deadline.saturating_sub(now) / 1_000_000,
                    };
                    self.stop_then_handle(idx, fault, now);
                    continue;
                }
            }
            // A start (the first boot too) lasts until `init` or `recover`
            // has returned: until then its heartbeat (interrupts, loops in
            // `init`) is no evidence that it will. The answer to a caller
            // left waiting that follows (a replayed write, as long as the
            // request) is serving: there the heartbeat counts again.
            let replaying = c.region.as_ref().is_some_and(|r| {
                let rec = r.start_record();
                rec.path != persist::NO_START
                    && rec.t_replayed == persist::REPLAYING
                    && rec.epoch == c.epoch
                    && rec.t_entry >= c.timing.t_fault
            });
            let starting = !replaying
                && (c.phase == Phase::Restarting
                    || (c.region.is_some() && c.logged_epoch.is_none()));
            let busy = busy_calls || busy_self || starting;
            if !busy {
                c.busy_since = None;
                continue;
            }
            let since = *c.busy_since.get_or_insert(now);
            let stalled = if starting {
                now.saturating_sub(since)
            } else {
                now.saturating_sub(since.max(c.heartbeat_at))
            };
            if stalled >= hang {
                self.stats.hangs += 1;
                let fault = Fault::Hang {
                    stalled_ms: stalled / 1_000_000,
                };
                self.stop_then_handle(idx, fault, now);
            }
        }
        self.inject(now);
        self.report_injections();
        self.arm_tick(now);
    }

    fn stop_then_handle(&mut self, idx: usize, fault: Fault, now: u64) {
        let Some(c) = self.children[idx].as_ref() else {
            return;
        };
        // The child is still running: stop it before deciding about it.
        if let Err(e) = self.p.child(ChildId(c.cfg.id), ChildOp::Stop) {
            pd_log!(&self.p, "monitor: {}: stop refused: {e}", c.cfg.name);
            return;
        }
        self.handle(idx, fault, now);
    }

    /// Log every plan entry that fired since the last look (the fault
    /// campaign's record of what was injected, and when).
    fn report_injections(&mut self) {
        let Some(plan) = self.plan else { return };
        let n = plan.len().min(REPORTED_BITS);
        let mut first = None;
        for i in self.reported..n {
            let bit = (self.reported_bits[i / 64] >> (i % 64)) & 1 != 0;
            if bit {
                continue;
            }
            let Some(e) = plan.entry(i).filter(|e| e.fired == 1) else {
                first.get_or_insert(i);
                continue;
            };
            self.reported_bits[i / 64] |= 1 << (i % 64);
            pd_log!(
                &self.p,
                "monitor: injected #{} {} at {} (t={}.{:03} ms)",
                i + 1,
                InjectKind::from_raw(e.kind).map_or("?", InjectKind::name),
                fault_inject::Site::from_raw(e.site).map_or("?", fault_inject::Site::name),
                e.t_fired / 1_000_000,
                e.t_fired / 1000 % 1000
            );
        }
        self.reported = first.unwrap_or(n);
    }

    /// When the next monitor-lane injection is due, from `now`.
    fn schedule_injection(&mut self, now: u64) {
        self.inject_at = self
            .plan
            .and_then(|p| p.next_monitor())
            .map(|(delay_us, _, _)| now.saturating_add(delay_us.saturating_mul(1000)));
    }

    /// Carry out a monitor-lane injection that is due.
    fn inject(&mut self, now: u64) {
        let (Some(at), Some(plan)) = (self.inject_at, self.plan) else {
            return;
        };
        if now < at {
            return;
        }
        let Some((kind, arg)) = plan.fire_monitor(now) else {
            self.inject_at = None;
            return;
        };
        let target = (arg >> 56) as u8;
        if target == fault_inject::MONITOR_SELF
            && !matches!(kind, InjectKind::Suspend | InjectKind::Scribble)
        {
            // The monitor's own failure (what happens then is the
            // platform's: the hosted runtime stops the system, Microkit's
            // monitor reports the faulting PD). Logged first, as it will not
            // be by `report_injections`.
            self.report_injections();
            pd_log!(
                &self.p,
                "monitor: injected {} into the monitor itself",
                kind.name()
            );
            fault_inject::perform(kind, || {});
        }
        if let Some(idx) = self.index_of(target) {
            let stopped = self.children[idx]
                .as_ref()
                .is_none_or(|c| c.phase == Phase::Stopped);
            match kind {
                InjectKind::Suspend if !stopped => {
                    let id = ChildId(target);
                    if self.p.child(id, ChildOp::Stop).is_ok() {
                        let ip = self.p.child_ip(id).unwrap_or(0);
                        self.handle(idx, Fault::Stopped { ip }, now);
                    }
                }
                InjectKind::Scribble => {
                    if let Some(r) = self.p.region(
                        self.children[idx]
                            .as_ref()
                            .map_or("", |c| c.cfg.region_setvar),
                    ) {
                        // SAFETY: the child's region, mapped read-write into
                        // the monitor; this is the stray write being injected.
                        let off = unsafe {
                            fault_inject::scribble(r.as_mut_ptr(), r.size, arg & ((1 << 56) - 1))
                        };
                        pd_log!(&self.p, "monitor: injected a scribble at offset {off:#x} of the region of child {target}");
                    }
                }
                _ => {}
            }
        }
        self.schedule_injection(now);
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
