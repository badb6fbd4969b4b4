extern crate std;

use super::*;
use personality::{Driver, Env, ErrorReply, Personality, StartError, PERSISTENT_SETVAR};
use std::string::String;
use testkit::MockPlatform;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

const MS: u64 = 1_000_000;
const TIMER: Channel = Channel::of(10);

static CHILDREN: [ChildConfig; 1] = [ChildConfig {
    name: "serial",
    id: 0,
    region_setvar: "serial_persistent",
    ready_channel: 1,
    notify_channels: &[2],
    policy: Policy {
        max_faults: 2,
        window_ns: 100 * MS,
        hang_ns: 20 * MS,
    },
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

/// A monitor and a driver sharing one persistent region.
fn setup() -> (MockPlatform, MockPlatform, Monitor<MockPlatform>) {
    let drv = MockPlatform::new("serial", pd_core::Arch::Aarch64);
    drv.add_region(PERSISTENT_SETVAR, 4096);
    let mon = MockPlatform::new("monitor", pd_core::Arch::Aarch64);
    mon.share_region("serial_persistent", &drv, PERSISTENT_SETVAR);
    mon.with_timer(TIMER);
    mon.with_children(&[0]);
    // The driver boots first and reports ready.
    drop(Personality::<_, Idle>::start(drv.clone(), Some(Channel::of(1))).expect("boot"));
    let m = Monitor::new(mon.clone(), &CHILDREN);
    (mon, drv, m)
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

fn region(p: &MockPlatform) -> MonitorRegion {
    let r = p.region("serial_persistent").expect("region");
    // SAFETY: lives as long as the platform.
    unsafe { MonitorRegion::new(r.as_mut_ptr(), r.size) }.expect("valid")
}

#[test]
fn a_fault_gets_a_logged_warm_restart_and_ready_is_timed() {
    let (mon, drv, mut m) = setup();
    assert!(console(&mon).contains("supervising 1 child"));
    assert_eq!(
        mon.record(|r| r.timeouts.clone()),
        [5 * MS],
        "tick = hang/4"
    );
    mon.set_now(1000 * MS);
    assert_eq!(m.fault(ChildId(0), &vm_fault()), FaultAction::Handled);
    assert_eq!(
        mon.record(|r| r.child_ops.clone()),
        [(ChildId(0), ChildOp::Restart)]
    );
    let log = console(&mon);
    assert!(
        log.contains("serial fault #1 [memory] vm-fault data addr=0xdead0000 ip=0x201000"),
        "{log}"
    );
    assert!(log.contains("serial -> warm restart, epoch 1"), "{log}");
    assert_eq!(m.phase(0), Some(Phase::Restarting));
    // The child restarts (warm) and reports ready.
    drv.set_now(1001 * MS);
    drop(Personality::<_, Idle>::start(drv.clone(), Some(Channel::of(1))).expect("restart"));
    mon.set_now(1002 * MS);
    m.notified(ChannelSet::EMPTY.with(Channel::of(1)));
    assert_eq!(m.phase(0), Some(Phase::Running));
    let log = console(&mon);
    assert!(
        log.contains(
            "serial restarted: warm start epoch 1 replayed 0 | delivery 0 us, reset 1000 us"
        ),
        "{log}"
    );
    assert_eq!(m.stats().completed, 1);
}

#[test]
fn escalation_warm_warm_cold_then_stop_with_clients_told() {
    let (mon, _drv, mut m) = setup();
    let mut t = 1000 * MS;
    let mut decisions = std::vec::Vec::new();
    for _ in 0..4 {
        mon.set_now(t);
        m.fault(ChildId(0), &vm_fault());
        decisions.push(region(&mon).header().directive);
        t += 10 * MS;
    }
    // Directives: Warm=1, Warm=1, Cold=2 (budget of 2 exceeded), Tombstone=3.
    assert_eq!(decisions, [1, 1, 2, 3]);
    assert_eq!(m.phase(0), Some(Phase::Stopped));
    assert_eq!(mon.record(|r| r.notified.clone()), [Channel::of(2)]);
    let log = console(&mon);
    assert!(log.contains("-> cold(budget) restart"), "{log}");
    assert!(log.contains("stopped for good; clients told"), "{log}");
    assert_eq!(
        m.stats(),
        Stats {
            faults: 4,
            warm: 2,
            cold: 1,
            stopped: 1,
            completed: 0,
            hangs: 0
        }
    );
}

#[test]
fn an_untrusted_region_gets_a_cold_start() {
    let (mon, _drv, mut m) = setup();
    let r = mon.region("serial_persistent").expect("region");
    // SAFETY: inside the region: corrupt the header magic.
    unsafe { *r.as_mut_ptr() ^= 0xff };
    m.fault(ChildId(0), &vm_fault());
    assert!(console(&mon).contains("persistent region untrusted (no-magic)"));
    assert_eq!(region(&mon).header().directive, 2);
}

#[test]
fn a_busy_child_without_progress_is_stopped_and_restarted_as_a_hang() {
    let (mon, drv, mut m) = setup();
    // The driver is inside a handler and stays there.
    let r = drv.region(PERSISTENT_SETVAR).expect("region");
    let phase = core::mem::offset_of!(persist::Header, phase);
    // SAFETY: inside the region.
    unsafe { (r.as_mut_ptr().add(phase) as *mut u32).write(persist::PHASE_BUSY) };
    for i in 0..6 {
        mon.set_now(2000 * MS + i * 5 * MS);
        m.notified(ChannelSet::EMPTY.with(TIMER));
    }
    assert_eq!(
        mon.record(|r| r.child_ops.clone()),
        [(ChildId(0), ChildOp::Stop), (ChildId(0), ChildOp::Restart)]
    );
    assert!(
        console(&mon).contains("[hang] hang stalled=20ms"),
        "{}",
        console(&mon)
    );
    assert_eq!(m.stats().hangs, 1);
}

#[test]
fn an_idle_or_progressing_child_is_not_a_hang() {
    let (mon, _drv, mut m) = setup();
    for i in 0..20 {
        mon.set_now(2000 * MS + i * 5 * MS);
        m.notified(ChannelSet::EMPTY.with(TIMER));
    }
    assert!(mon.record(|r| r.child_ops.is_empty()));
}

#[test]
fn faults_of_unknown_children_are_left_alone() {
    let (mon, _drv, mut m) = setup();
    assert_eq!(m.fault(ChildId(7), &vm_fault()), FaultAction::Handled);
    assert!(mon.record(|r| r.child_ops.is_empty()));
    assert!(console(&mon).contains("unknown child7"));
}

#[test]
fn protocol_traps_are_reported_as_violations() {
    let (mon, _drv, mut m) = setup();
    let addr = pd_core::trap::address(pd_core::trap::CODE_PROTOCOL, 0, 0x102);
    m.fault(
        ChildId(0),
        &Fault::VmFault {
            ip: 1,
            addr,
            instruction: false,
            fsr: 0,
        },
    );
    assert!(
        console(&mon).contains("[protocol] protocol-violation ch0 label=258"),
        "{}",
        console(&mon)
    );
}

#[test]
fn a_restart_overtaken_by_the_next_fault_is_still_logged() {
    let (mon, drv, mut m) = setup();
    mon.set_now(1000 * MS);
    m.fault(ChildId(0), &vm_fault());
    drv.set_now(1001 * MS);
    drop(Personality::<_, Idle>::start(drv.clone(), Some(Channel::of(1))).expect("restart"));
    // The next fault arrives before the monitor sees `ready`.
    mon.set_now(1003 * MS);
    m.fault(ChildId(0), &vm_fault());
    let log = console(&mon);
    let restarted = log.find("restarted: warm start epoch 1").expect("logged");
    let second = log.find("fault #2").expect("second fault");
    assert!(restarted < second, "{log}");
    // The late `ready` does not log epoch 1 twice.
    m.notified(ChannelSet::EMPTY.with(Channel::of(1)));
    assert_eq!(
        console(&mon)
            .matches("restarted: warm start epoch 1")
            .count(),
        1
    );
}
