extern crate std;

use super::*;
use personality::{
    Boot, Driver, Env, ErrorReply, Personality, Staging, StartError, CONTROL_SETVAR,
    PERSISTENT_SETVAR,
};
use std::boxed::Box;
use std::string::{String, ToString};
use std::vec::Vec;
use testkit::MockPlatform;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

const MS: u64 = 1_000_000;
const TIMER: Channel = Channel::of(10);

static CHILDREN: [ChildConfig; 1] = [ChildConfig {
    name: "serial",
    id: 0,
    region_setvar: "serial_persistent",
    control_setvar: "serial_control",
    ledger_setvars: &["serial_ledger"],
    ready_channel: 1,
    notify_channels: &[2],
    policy: Policy {
        max_faults: 2,
        window_ns: 100 * MS,
        hang_ns: 20 * MS,
    },
    group: &[],
}];

#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable)]
struct Nothing {
    x: u64,
}

// SAFETY: plain integer.
unsafe impl Persistent for Nothing {
    const NAME: &'static str = "Nothing";
    const VERSION: u32 = 1;
}
use persist::Persistent;

struct Idle;

impl Driver<MockPlatform> for Idle {
    type State = Nothing;
    const NAME: &'static str = "idle";
    fn init(_: &mut Env<MockPlatform, Nothing>) -> Result<Self, StartError> {
        Ok(Idle)
    }
    fn recover(_: &mut Env<MockPlatform, Nothing>) -> Result<Self, StartError> {
        Ok(Idle)
    }
    fn request(
        &mut self,
        _: &mut Env<MockPlatform, Nothing>,
        _: Channel,
        _: &pd_core::Message,
    ) -> pd_core::Message {
        pd_core::Message::new(0)
    }
    fn error_reply(_: ErrorReply, _: u64) -> pd_core::Message {
        pd_core::Message::new(0xe0)
    }
}

struct Sys {
    mon: MockPlatform,
    drv: MockPlatform,
    ledger: call_ledger::Writer,
    m: Monitor<MockPlatform>,
}

fn start_driver(drv: &MockPlatform) {
    let staging: &'static Staging = Box::leak(Box::new(Staging::new()));
    let boot = Boot::<Nothing>::load(drv, staging).expect("boot");
    drop(Personality::<_, Idle>::start(
        drv.clone(),
        Some(Channel::of(1)),
        boot,
    ));
}

/// A monitor, a driver sharing its region and control page, and the call
/// ledger of the driver's client; the driver has reported ready.
fn setup() -> Sys {
    let mut s = setup_unready();
    // Its `ready` reaches the monitor (a start lasts until then).
    s.m.notified(ChannelSet::EMPTY.with(Channel::of(1)));
    s
}

/// The same, before the driver's first `ready` reached the monitor.
fn setup_unready() -> Sys {
    setup_booted(true)
}

/// The same; with `started` false the driver's first start has not
/// finished (its region holds no start record: it faulted in `init`).
fn setup_booted(started: bool) -> Sys {
    let drv = MockPlatform::new("serial", pd_core::Arch::Aarch64);
    drv.add_region(PERSISTENT_SETVAR, 4096);
    drv.add_region(CONTROL_SETVAR, 4096);
    let mon = MockPlatform::new("monitor", pd_core::Arch::Aarch64);
    mon.share_region("serial_persistent", &drv, PERSISTENT_SETVAR);
    mon.share_region("serial_control", &drv, CONTROL_SETVAR);
    let l = mon.add_region("serial_ledger", 4096);
    // SAFETY: the mock's region lives as long as the platform.
    let ledger = unsafe { call_ledger::Writer::new(l.as_mut_ptr()) };
    mon.with_timer(TIMER);
    mon.with_children(&[0]);
    // The driver boots first and reports ready.
    if started {
        start_driver(&drv);
    }
    let m = Monitor::new(mon.clone(), &CHILDREN);
    Sys {
        mon,
        drv,
        ledger,
        m,
    }
}

/// The restarted child starts as told and reports `ready`.
fn restart_completes(s: &mut Sys) {
    s.drv.set_now(s.mon.now_ns());
    start_driver(&s.drv);
    s.m.notified(ChannelSet::EMPTY.with(Channel::of(1)));
}

fn console(p: &MockPlatform) -> String {
    p.record(|r| r.console.clone())
}

fn vm_fault() -> Fault {
    Fault::VmFault {
        ip: 0x20_1000,
        addr: 0xdead_0000,
        instruction: false,
        fsr: 0x92,
    }
}

fn control(p: &MockPlatform) -> ControlPage {
    let r = p.region("serial_control").expect("control");
    // SAFETY: lives as long as the platform.
    unsafe { persist::read_control(r.as_mut_ptr()) }
}

fn directive(p: &MockPlatform) -> Directive {
    match control(p).decode() {
        Ok(Some((_, d))) => d,
        other => panic!("control page: {other:?}"),
    }
}

fn decisions(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| l.split_once("serial -> "))
        .filter_map(|(_, r)| r.split_once(" restart"))
        .map(|(d, _)| d.trim_start_matches('\u{e}').to_string())
        .collect()
}

#[test]
fn a_fault_gets_a_logged_warm_restart_and_ready_is_timed() {
    let mut s = setup();
    assert!(console(&s.mon).contains("supervising 1 child"));
    assert_eq!(
        s.mon.record(|r| r.timeouts.clone()),
        [5 * MS],
        "tick = hang/4"
    );
    s.mon.set_now(1000 * MS);
    assert_eq!(s.m.fault(ChildId(0), &vm_fault()), FaultAction::Handled);
    assert_eq!(
        s.mon.record(|r| r.child_ops.clone()),
        [(ChildId(0), ChildOp::Restart)]
    );
    let log = console(&s.mon);
    assert!(
        log.contains("serial fault #1 [memory] vm-fault data addr=0xdead0000 ip=0x201000"),
        "{log}"
    );
    assert!(log.contains("serial -> warm restart, epoch 1"), "{log}");
    assert_eq!(control(&s.mon).decode(), Ok(Some((1, Directive::Warm))));
    assert_eq!(s.m.phase(0), Some(Phase::Restarting));
    // The child restarts (warm) and reports ready.
    s.drv.set_now(1001 * MS);
    start_driver(&s.drv);
    s.mon.set_now(1002 * MS);
    s.m.notified(ChannelSet::EMPTY.with(Channel::of(1)));
    assert_eq!(s.m.phase(0), Some(Phase::Running));
    let log = console(&s.mon);
    assert!(
        log.contains(
            "serial restarted: warm start epoch 1 replayed 0 | delivery 0 us, reset 1000 us"
        ),
        "{log}"
    );
    assert_eq!(s.m.stats().completed, 1);
}

#[test]
fn escalation_warm_warm_cold_then_stop_with_clients_told() {
    let mut s = setup();
    let mut t = 1000 * MS;
    let mut ds = Vec::new();
    for _ in 0..4 {
        s.mon.set_now(t);
        s.m.fault(ChildId(0), &vm_fault());
        ds.push(directive(&s.mon));
        t += 10 * MS;
    }
    assert_eq!(
        ds,
        [
            Directive::Warm,
            Directive::Warm,
            Directive::Cold,
            Directive::Tombstone
        ]
    );
    assert_eq!(s.m.phase(0), Some(Phase::Stopped));
    assert_eq!(s.mon.record(|r| r.notified.clone()), [Channel::of(2)]);
    let log = console(&s.mon);
    assert!(log.contains("-> cold(budget) restart"), "{log}");
    assert!(log.contains("stopped for good; clients told"), "{log}");
    assert_eq!(
        s.m.stats(),
        Stats {
            faults: 4,
            warm: 2,
            cold: 1,
            stopped: 1,
            completed: 0,
            hangs: 0,
            quarantined: 0,
            group: 0
        }
    );
}

#[test]
fn a_slow_crash_loop_escalates_too() {
    // Faults far apart in time (longer than any window), none with a call
    // completed between them: warm, warm, cold, then stop.
    let mut s = setup();
    s.ledger.begin(0, 0);
    let mut t = 1000 * MS;
    for _ in 0..6 {
        s.mon.set_now(t);
        s.m.fault(ChildId(0), &vm_fault());
        restart_completes(&mut s);
        t += 5000 * MS;
    }
    assert_eq!(
        decisions(&console(&s.mon)),
        ["warm", "warm", "cold(budget)", "warm", "warm", "stop"]
    );
}

#[test]
fn calls_that_succeed_between_faults_keep_every_restart_warm() {
    let mut s = setup();
    let mut t = 1000 * MS;
    for _ in 0..20 {
        s.ledger.begin(t, 0);
        s.ledger.end(true);
        s.mon.set_now(t);
        s.m.fault(ChildId(0), &vm_fault());
        restart_completes(&mut s);
        t += MS;
    }
    assert!(decisions(&console(&s.mon)).iter().all(|d| d == "warm"));
    // Errors are not progress.
    for _ in 0..3 {
        s.ledger.begin(t, 0);
        s.ledger.end(false);
        s.mon.set_now(t);
        s.m.fault(ChildId(0), &vm_fault());
        restart_completes(&mut s);
        t += MS;
    }
    // The first error fault still follows a success (streak 1 -> 2); the
    // next is the third in a row: cold; the cold start failing within its
    // window: stop.
    let d = decisions(&console(&s.mon));
    assert_eq!(&d[19..], ["warm", "warm", "cold(budget)", "stop"]);
}

#[test]
fn an_untrusted_region_gets_a_cold_start() {
    let mut s = setup();
    let r = s.mon.region("serial_persistent").expect("region");
    // SAFETY: inside the region: corrupt the header magic.
    unsafe { *r.as_mut_ptr() ^= 0xff };
    s.m.fault(ChildId(0), &vm_fault());
    assert!(console(&s.mon).contains("persistent region untrusted (no-magic)"));
    assert_eq!(directive(&s.mon), Directive::Cold);
}

fn ticks(s: &mut Sys, from: u64, n: u64) {
    for i in 0..n {
        s.mon.set_now(from + i * 5 * MS);
        s.m.notified(ChannelSet::EMPTY.with(TIMER));
    }
}

#[test]
fn a_caller_waiting_on_a_child_without_heartbeat_is_a_hang_whatever_the_child_says() {
    let mut s = setup();
    // The client's call is outstanding; the driver published nothing (it
    // could have wiped its busy flag): the ledger is what counts.
    s.ledger.begin(2000 * MS, 0);
    ticks(&mut s, 2000 * MS, 6);
    assert_eq!(
        s.mon.record(|r| r.child_ops.clone()),
        [(ChildId(0), ChildOp::Stop), (ChildId(0), ChildOp::Restart)]
    );
    assert!(
        console(&s.mon).contains("[hang] hang stalled=20ms"),
        "{}",
        console(&s.mon)
    );
    assert_eq!(s.m.stats().hangs, 1);
}

#[test]
fn a_child_that_forges_progress_is_caught_by_its_callers_deadline() {
    let mut s = setup();
    // A call whose protocol wants the answer by 2100 ms; the driver bumps its
    // heartbeat on every tick (a livelock).
    s.ledger.begin(2000 * MS, 2100 * MS);
    let r = s.drv.region(PERSISTENT_SETVAR).expect("region");
    let hb = core::mem::offset_of!(persist::Header, heartbeat);
    for i in 0..20u64 {
        // SAFETY: inside the region.
        unsafe { (r.as_mut_ptr().add(hb) as *mut u64).write(i + 1) };
        s.mon.set_now(2000 * MS + i * 5 * MS);
        s.m.notified(ChannelSet::EMPTY.with(TIMER));
    }
    let log = console(&s.mon);
    assert!(log.contains("[protocol] protocol-timeout"), "{log}");
    assert_eq!(decisions(&log), ["cold(timeout)"], "once per call: {log}");
}

#[test]
fn a_call_its_timeout_restart_did_not_answer_keeps_being_acted_on() {
    let mut s = setup();
    // A call past its deadline; the driver forges progress all along (an
    // interrupt storm moves its heartbeat) and never answers, not even after
    // the restart the timeout caused.
    s.ledger.begin(2000 * MS, 2100 * MS);
    let r = s.drv.region(PERSISTENT_SETVAR).expect("region");
    let hb = core::mem::offset_of!(persist::Header, heartbeat);
    let mut beat = 0u64;
    let mut t = 2000 * MS;
    let mut step = |s: &mut Sys, t: u64| {
        beat += 1;
        // SAFETY: inside the region.
        unsafe { (r.as_mut_ptr().add(hb) as *mut u64).write(beat) };
        s.mon.set_now(t);
        s.m.notified(ChannelSet::EMPTY.with(TIMER));
    };
    let mut seen = 0;
    for _ in 0..40 {
        step(&mut s, t);
        t += 5 * MS;
        let ops = s.mon.record(|r| r.child_ops.clone());
        if ops.len() > seen {
            seen = ops.len();
            if ops.last() == Some(&(ChildId(0), ChildOp::Restart)) {
                restart_completes(&mut s);
            }
        }
    }
    let log = console(&s.mon);
    assert!(log.contains("[protocol] protocol-timeout"), "{log}");
    assert!(
        log.contains("[hang] hang"),
        "the unanswered call again: {log}"
    );
    // Acted on again and again (never two restarts within one grace of
    // 2 x hang = 40 ms), until the policy stops the child.
    let d = decisions(&log);
    assert!(d.len() >= 2 && d.len() <= 5, "{d:?}\n{log}");
    assert!(log.contains("stopped for good"), "{log}");
}

#[test]
fn an_idle_or_progressing_child_is_not_a_hang() {
    let mut s = setup();
    ticks(&mut s, 2000 * MS, 20);
    assert!(s.mon.record(|r| r.child_ops.is_empty()));
}

#[test]
fn faults_of_unknown_children_are_left_alone() {
    let mut s = setup();
    assert_eq!(s.m.fault(ChildId(7), &vm_fault()), FaultAction::Handled);
    assert!(s.mon.record(|r| r.child_ops.is_empty()));
    assert!(console(&s.mon).contains("unknown child7"));
}

#[test]
fn protocol_traps_are_reported_as_violations() {
    let mut s = setup();
    let addr = pd_core::trap::address(pd_core::trap::CODE_PROTOCOL, 0, 0x102);
    s.m.fault(
        ChildId(0),
        &Fault::VmFault {
            ip: 1,
            addr,
            instruction: false,
            fsr: 0,
        },
    );
    assert!(
        console(&s.mon).contains("[protocol] protocol-violation ch0 label=258"),
        "{}",
        console(&s.mon)
    );
}

#[test]
fn a_restart_overtaken_by_the_next_fault_is_still_logged() {
    let mut s = setup();
    s.mon.set_now(1000 * MS);
    s.m.fault(ChildId(0), &vm_fault());
    s.drv.set_now(1001 * MS);
    start_driver(&s.drv);
    // The next fault arrives before the monitor sees `ready`.
    s.mon.set_now(1003 * MS);
    s.m.fault(ChildId(0), &vm_fault());
    let log = console(&s.mon);
    let restarted = log.find("restarted: warm start epoch 1").expect("logged");
    let second = log.find("fault #2").expect("second fault");
    assert!(restarted < second, "{log}");
    // The late `ready` does not log epoch 1 twice.
    s.m.notified(ChannelSet::EMPTY.with(Channel::of(1)));
    assert_eq!(
        console(&s.mon)
            .matches("restarted: warm start epoch 1")
            .count(),
        1
    );
}

#[test]
fn the_monitor_lane_suspends_the_child_at_its_instant() {
    let drv_plan = MockPlatform::new("x", pd_core::Arch::Aarch64);
    let plan = drv_plan.add_region("fault_plan", 4096);
    // SAFETY: the mock's region lives as long as the platform.
    let bytes = unsafe { core::slice::from_raw_parts_mut(plan.as_mut_ptr(), plan.size) };
    fault_inject::encode(
        &[fault_inject::Planned {
            site: fault_inject::Site::Monitor,
            at: 7_000,
            kind: InjectKind::Suspend,
            arg: 0,
        }],
        bytes,
    )
    .expect("fits");
    let drv = MockPlatform::new("serial", pd_core::Arch::Aarch64);
    drv.add_region(PERSISTENT_SETVAR, 4096);
    drv.add_region(CONTROL_SETVAR, 4096);
    let mon = MockPlatform::new("monitor", pd_core::Arch::Aarch64);
    mon.share_region("serial_persistent", &drv, PERSISTENT_SETVAR);
    mon.share_region("serial_control", &drv, CONTROL_SETVAR);
    mon.share_region("fault_plan", &drv_plan, "fault_plan");
    mon.with_timer(TIMER);
    mon.with_children(&[0]);
    start_driver(&drv);
    let mut m = Monitor::new(mon.clone(), &CHILDREN);
    assert_eq!(
        mon.record(|r| r.timeouts.clone()),
        [5 * MS],
        "7 ms is later"
    );
    mon.set_now(5 * MS);
    m.notified(ChannelSet::EMPTY.with(TIMER));
    assert!(mon.record(|r| r.child_ops.is_empty()));
    assert_eq!(
        mon.record(|r| r.timeouts.last().copied()),
        Some(2 * MS),
        "the timer is armed for the injection"
    );
    mon.set_now(7 * MS);
    m.notified(ChannelSet::EMPTY.with(TIMER));
    assert_eq!(
        mon.record(|r| r.child_ops.clone()),
        [(ChildId(0), ChildOp::Stop), (ChildId(0), ChildOp::Restart)]
    );
    assert!(
        console(&mon).contains("[stopped] stopped-async"),
        "{}",
        console(&mon)
    );
}

#[test]
fn a_tombstone_that_faults_is_quarantined_not_restarted_forever() {
    let mut s = setup();
    let mut t = 1000 * MS;
    // Warm, warm, cold, stop: the child is a tombstone now.
    for _ in 0..4 {
        s.mon.set_now(t);
        s.m.fault(ChildId(0), &vm_fault());
        t += 10 * MS;
    }
    assert_eq!(s.m.phase(0), Some(Phase::Stopped));
    s.mon.clear_record();
    // The tombstone faults too (its code is the driver's).
    s.mon.set_now(t);
    s.m.fault(ChildId(0), &vm_fault());
    assert_eq!(s.m.phase(0), Some(Phase::Quarantined));
    assert_eq!(
        s.mon.record(|r| r.child_ops.clone()),
        [(ChildId(0), ChildOp::Quarantine)]
    );
    assert!(
        console(&s.mon).contains("quarantined"),
        "{}",
        console(&s.mon)
    );
    // And stays so: ticks do nothing; a death of the minimal server (from
    // outside: it runs none of the child's code) starts it again, never
    // the child's code.
    s.mon.clear_record();
    ticks(&mut s, t, 20);
    assert!(s.mon.record(|r| r.child_ops.is_empty()));
    s.m.fault(ChildId(0), &vm_fault());
    assert_eq!(
        s.mon.record(|r| r.child_ops.clone()),
        [(ChildId(0), ChildOp::Quarantine)]
    );
    assert_eq!(s.m.phase(0), Some(Phase::Quarantined));
    assert!(console(&s.mon).contains("quarantine server died; started again"));
    assert_eq!(s.m.stats().quarantined, 1);
}

#[test]
fn a_hung_tombstone_with_a_caller_waiting_is_quarantined() {
    let mut s = setup();
    let mut t = 1000 * MS;
    for _ in 0..4 {
        s.mon.set_now(t);
        s.m.fault(ChildId(0), &vm_fault());
        t += 10 * MS;
    }
    s.mon.clear_record();
    s.ledger.begin(t, 0);
    ticks(&mut s, t, 8);
    assert_eq!(s.m.phase(0), Some(Phase::Quarantined));
    assert_eq!(
        s.mon.record(|r| r.child_ops.clone()),
        [
            (ChildId(0), ChildOp::Stop),
            (ChildId(0), ChildOp::Quarantine)
        ]
    );
}

#[test]
fn a_first_start_that_never_reports_ready_is_a_hang_even_with_a_moving_heartbeat() {
    // The driver set its region up and then loops in its start, bumping
    // its heartbeat, never reporting ready.
    let Sys {
        mon, drv, mut m, ..
    } = setup_unready();
    let r = drv.region(PERSISTENT_SETVAR).expect("region");
    let hb = core::mem::offset_of!(persist::Header, heartbeat);
    for i in 0..10u64 {
        // SAFETY: inside the region.
        unsafe { (r.as_mut_ptr().add(hb) as *mut u64).write(i + 1) };
        mon.set_now(2000 * MS + i * 5 * MS);
        m.notified(ChannelSet::EMPTY.with(TIMER));
    }
    let log = console(&mon);
    assert!(log.contains("[hang] hang stalled="), "{log}");
    assert!(
        mon.record(|r| r.child_ops.first() == Some(&(ChildId(0), ChildOp::Stop))),
        "{log}"
    );
}

#[test]
fn a_first_start_that_faults_before_its_start_record_is_not_logged_up() {
    // The region is as a first boot left it before `init` finished: blank,
    // so its (zero) start record names epoch 0 like the monitor's child.
    let mut s = setup_booted(false);
    s.mon.set_now(1000 * MS);
    assert_eq!(s.m.fault(ChildId(0), &vm_fault()), FaultAction::Handled);
    let log = console(&s.mon);
    assert!(!log.contains("serial up"), "{log}");
    assert!(log.contains("serial fault #1 [memory]"), "{log}");
}

#[test]
fn a_replay_longer_than_the_hang_bound_is_judged_by_its_heartbeat_not_as_a_start() {
    let mut s = setup();
    s.mon.set_now(1000 * MS);
    assert_eq!(s.m.fault(ChildId(0), &vm_fault()), FaultAction::Handled);
    // The restarted driver's `recover` returned at 1002 ms; it now replays
    // the interrupted write (its answer to the client), long and making
    // progress: 5x the hang bound.
    let r = s.drv.region(PERSISTENT_SETVAR).expect("region");
    let at = core::mem::offset_of!(persist::Header, start);
    let rec = persist::StartRecord {
        epoch: 1,
        path: StartPath::Warm.code(),
        replayed: 0,
        t_entry: 1001 * MS,
        t_ready: 1002 * MS,
        t_replayed: persist::REPLAYING,
    };
    // SAFETY: the record lies inside the region's header.
    unsafe { (r.as_mut_ptr().add(at) as *mut persist::StartRecord).write(rec) };
    let hb = core::mem::offset_of!(persist::Header, heartbeat);
    let busy = core::mem::offset_of!(persist::Header, busy);
    // SAFETY: inside the region.
    unsafe { (r.as_mut_ptr().add(busy) as *mut u64).write(1) };
    for i in 0..20u64 {
        // SAFETY: inside the region.
        unsafe { (r.as_mut_ptr().add(hb) as *mut u64).write(100 + i) };
        s.mon.set_now(1003 * MS + i * 5 * MS);
        s.m.notified(ChannelSet::EMPTY.with(TIMER));
    }
    let log = console(&s.mon);
    assert!(!log.contains("[hang]"), "{log}");
    assert_eq!(s.m.phase(0), Some(Phase::Restarting));
    // The replay stops making progress: a hang, one bound later.
    for i in 0..6u64 {
        s.mon.set_now(1103 * MS + i * 5 * MS);
        s.m.notified(ChannelSet::EMPTY.with(TIMER));
    }
    let log = console(&s.mon);
    assert!(log.contains("serial fault #2 [hang]"), "{log}");
}

/// A restart group: `blk` (child 0) serves `fs` (child 1), so the group's
/// order is blk, fs (what sdf's codegen gives for that channel graph).
static GROUPED: [ChildConfig; 2] = [
    ChildConfig {
        name: "blk",
        id: 0,
        region_setvar: "blk_persistent",
        control_setvar: "blk_control",
        ledger_setvars: &[],
        ready_channel: 1,
        notify_channels: &[],
        policy: Policy {
            max_faults: 4,
            window_ns: 100 * MS,
            hang_ns: 20 * MS,
        },
        group: &[0, 1],
    },
    ChildConfig {
        name: "fs",
        id: 1,
        region_setvar: "fs_persistent",
        control_setvar: "fs_control",
        ledger_setvars: &[],
        ready_channel: 3,
        notify_channels: &[],
        policy: Policy {
            max_faults: 4,
            window_ns: 100 * MS,
            hang_ns: 20 * MS,
        },
        group: &[0, 1],
    },
];

struct Group {
    mon: MockPlatform,
    kids: [MockPlatform; 2],
    m: Monitor<MockPlatform>,
}

fn group_setup() -> Group {
    let mon = MockPlatform::new("monitor", pd_core::Arch::Aarch64);
    let kids = [0, 1].map(|i| {
        let k = MockPlatform::new(GROUPED[i].name, pd_core::Arch::Aarch64);
        k.add_region(PERSISTENT_SETVAR, 4096);
        k.add_region(CONTROL_SETVAR, 4096);
        mon.share_region(GROUPED[i].region_setvar, &k, PERSISTENT_SETVAR);
        mon.share_region(GROUPED[i].control_setvar, &k, CONTROL_SETVAR);
        start_on(&k, GROUPED[i].ready_channel);
        k
    });
    mon.with_timer(TIMER);
    mon.with_children(&[0, 1]);
    let mut m = Monitor::new(mon.clone(), &GROUPED);
    m.notified(ChannelSet::EMPTY.with(Channel::of(1)).with(Channel::of(3)));
    Group { mon, kids, m }
}

fn start_on(p: &MockPlatform, ready: u8) {
    let staging: &'static Staging = Box::leak(Box::new(Staging::new()));
    let boot = Boot::<Nothing>::load(p, staging).expect("boot");
    drop(Personality::<_, Idle>::start(
        p.clone(),
        Some(Channel::of(ready)),
        boot,
    ));
}

fn control_of(p: &MockPlatform, setvar: &str) -> Option<(u64, Directive)> {
    let r = p.region(setvar).expect("control");
    // SAFETY: lives as long as the platform.
    match unsafe { persist::read_control(r.as_mut_ptr()) }.decode() {
        Ok(x) => x,
        Err(e) => panic!("control page: {e:?}"),
    }
}

fn corrupt(p: &MockPlatform, setvar: &str) {
    let r = p.region(setvar).expect("region");
    // SAFETY: inside the region: break the header magic.
    unsafe { *r.as_mut_ptr() ^= 0xff };
}

#[test]
fn a_cold_start_takes_its_restart_group_along_servers_first() {
    let mut g = group_setup();
    g.mon.set_now(1000 * MS);
    // A warm restart of one member leaves the other alone.
    g.m.fault(ChildId(1), &vm_fault());
    assert_eq!(
        g.mon.record(|r| r.child_ops.clone()),
        [(ChildId(1), ChildOp::Restart)]
    );
    assert_eq!(control_of(&g.mon, "fs_control"), Some((1, Directive::Warm)));
    g.kids[1].set_now(1001 * MS);
    start_on(&g.kids[1], 3);
    g.m.notified(ChannelSet::EMPTY.with(Channel::of(3)));
    // The client's region is corrupt: its cold start takes the server
    // along, and the server is restarted first.
    g.mon.set_now(1010 * MS);
    corrupt(&g.mon, "fs_persistent");
    g.m.fault(ChildId(1), &vm_fault());
    assert_eq!(
        g.mon.record(|r| r.child_ops.clone()),
        [
            (ChildId(1), ChildOp::Restart),
            (ChildId(0), ChildOp::Restart),
            (ChildId(1), ChildOp::Restart)
        ]
    );
    assert_eq!(
        control_of(&g.mon, "blk_control"),
        Some((1, Directive::Cold))
    );
    assert_eq!(control_of(&g.mon, "fs_control"), Some((2, Directive::Cold)));
    assert_eq!(g.m.phase(0), Some(Phase::Restarting));
    let log = console(&g.mon);
    assert!(
        log.contains("monitor: blk goes with fs, its restart group"),
        "{log}"
    );
    assert!(
        log.contains("monitor: blk -> cold(group) restart, epoch 1"),
        "{log}"
    );
    assert!(
        log.contains("monitor: fs -> cold(region) restart, epoch 2"),
        "{log}"
    );
    let st = g.m.stats();
    assert_eq!((st.faults, st.warm, st.cold, st.group), (2, 1, 2, 1));
    // Both come back (cold) and report ready; the monitor logs both.
    for (i, k) in g.kids.iter().enumerate() {
        k.set_now(1011 * MS);
        start_on(k, GROUPED[i].ready_channel);
    }
    g.mon.set_now(1012 * MS);
    g.m.notified(ChannelSet::EMPTY.with(Channel::of(1)).with(Channel::of(3)));
    assert_eq!(
        (g.m.phase(0), g.m.phase(1)),
        (Some(Phase::Running), Some(Phase::Running))
    );
    let log = console(&g.mon);
    assert!(
        log.contains("monitor: blk restarted: cold start epoch 1"),
        "{log}"
    );
    assert!(
        log.contains("monitor: fs restarted: cold start epoch 2"),
        "{log}"
    );
}

#[test]
fn a_stopped_member_stays_stopped_when_its_group_is_cold_started() {
    let mut g = group_setup();
    // Stop fs: faults past its budget without progress.
    let mut t = 1000 * MS;
    while g.m.phase(1) != Some(Phase::Stopped) {
        g.mon.set_now(t);
        g.m.fault(ChildId(1), &vm_fault());
        t += MS;
        assert!(t < 2000 * MS, "fs never stopped");
    }
    let ops = g.mon.record(|r| r.child_ops.len());
    g.mon.set_now(t + 10 * MS);
    corrupt(&g.mon, "blk_persistent");
    g.m.fault(ChildId(0), &vm_fault());
    let after: Vec<_> = g.mon.record(|r| r.child_ops[ops..].to_vec());
    assert_eq!(after, [(ChildId(0), ChildOp::Restart)]);
    assert_eq!(g.m.phase(1), Some(Phase::Stopped));
    assert!(console(&g.mon).contains("monitor: fs stays stopped: its group's blk was cold-started"));
}
