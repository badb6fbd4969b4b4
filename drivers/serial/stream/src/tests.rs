extern crate std;

use super::*;
use persist::MonitorRegion;
use personality::Personality;
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::vec::Vec;
use testkit::MockPlatform;

/// A UART whose transmitter is a byte log shared with the test; it accepts a
/// byte only every other poll, so the driver's wait loop is exercised.
#[derive(Clone, Default)]
struct LogUart {
    out: Rc<RefCell<Vec<u8>>>,
    inits: Rc<RefCell<u32>>,
    polls: Rc<RefCell<u32>>,
}

std::thread_local! {
    static UART: RefCell<LogUart> = RefCell::new(LogUart::default());
}

impl Uart for LogUart {
    fn init(&self) {
        *self.inits.borrow_mut() += 1;
    }
    fn resume(&self) {}
    fn tx_ready(&self) -> bool {
        let mut p = self.polls.borrow_mut();
        *p += 1;
        (*p).is_multiple_of(2)
    }
    fn put(&self, byte: u8) {
        self.out.borrow_mut().push(byte);
    }
    fn get(&self) -> Option<u8> {
        None
    }
    fn irq(&self) -> IrqStatus {
        IrqStatus::default()
    }
}

impl AttachUart<MockPlatform> for LogUart {
    fn attach(_: &MockPlatform) -> Option<Self> {
        Some(UART.with(|u| u.borrow().clone()))
    }
}

type Serial = Personality<MockPlatform, SerialDriver<LogUart>>;

fn setup() -> (MockPlatform, LogUart) {
    let p = MockPlatform::new("serial", pd_core::Arch::Aarch64);
    p.add_region(personality::PERSISTENT_SETVAR, 4096);
    p.add_region(TX_BUF_SETVAR, 4096);
    p.add_region(FAULT_PLAN_SETVAR, 4096);
    let uart = LogUart::default();
    UART.with(|u| *u.borrow_mut() = uart.clone());
    (p, uart)
}

fn fill(p: &MockPlatform, data: &[u8]) {
    let r = p.region(TX_BUF_SETVAR).expect("tx_buf");
    // SAFETY: region is 4096 bytes; tests write less.
    unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), r.as_mut_ptr(), data.len()) };
}

fn write(seq: u64, len: u32) -> Message {
    Request::Write {
        seq,
        offset: 0,
        len,
    }
    .encode()
}

fn monitor(p: &MockPlatform) -> MonitorRegion {
    let r = p.region(personality::PERSISTENT_SETVAR).expect("region");
    // SAFETY: lives as long as the platform.
    unsafe { MonitorRegion::new(r.as_mut_ptr(), r.size) }.expect("region")
}

fn plan(p: &MockPlatform, entries: &[(u64, fault_inject::Kind)]) {
    let r = p.region(FAULT_PLAN_SETVAR).expect("plan");
    // SAFETY: 4096-byte region.
    let bytes = unsafe { core::slice::from_raw_parts_mut(r.as_mut_ptr(), r.size) };
    fault_inject::encode(entries, bytes);
}

#[test]
fn writes_go_out_once_and_in_order() {
    let (p, uart) = setup();
    let mut s = Serial::start(p.clone(), Some(MONITOR)).expect("start");
    use pd_core::Handler;
    assert_eq!(
        s.protected(CLIENT, &Request::Open.encode()).label,
        serial_api::label::OPENED
    );
    fill(&p, b"hello");
    let r = serial_api::decode_reply(&s.protected(CLIENT, &write(1, 5)));
    assert_eq!(r, Ok(Reply::Written { seq: 1, count: 5 }));
    // A retry of the same seq is acknowledged without output.
    let r = serial_api::decode_reply(&s.protected(CLIENT, &write(1, 5)));
    assert_eq!(r, Ok(Reply::Written { seq: 1, count: 5 }));
    assert_eq!(uart.out.borrow().as_slice(), b"hello");
    assert_eq!(*uart.inits.borrow(), 1);
}

#[test]
fn malformed_and_out_of_session_writes_are_refused() {
    use pd_core::Handler;
    let (p, uart) = setup();
    let mut s = Serial::start(p.clone(), None).expect("start");
    let r = serial_api::decode_reply(&s.protected(CLIENT, &write(1, 5)));
    assert_eq!(r, Err(SerialError::Invalid(InvalidReason::NotOpen)));
    s.protected(CLIENT, &Request::Open.encode());
    let r = serial_api::decode_reply(&s.protected(CLIENT, &write(1, 5000)));
    assert_eq!(r, Err(SerialError::Invalid(InvalidReason::OutOfBuffer)));
    let r = serial_api::decode_reply(&s.protected(CLIENT, &Message::new(99)));
    assert_eq!(r, Err(SerialError::Invalid(InvalidReason::UnknownRequest)));
    assert!(uart.out.borrow().is_empty());
}

#[test]
fn a_fault_mid_write_then_warm_restart_resumes_at_the_next_byte() {
    use pd_core::Handler;
    let (p, uart) = setup();
    plan(&p, &[(3, fault_inject::Kind::Panic)]);
    let mut s = Serial::start(p.clone(), Some(MONITOR)).expect("start");
    s.protected(CLIENT, &Request::Open.encode());
    fill(&p, b"abcdefgh");
    let r = catch_unwind(AssertUnwindSafe(|| s.protected(CLIENT, &write(1, 8))));
    assert!(r.is_err(), "the injected panic fired");
    drop(s);
    assert_eq!(uart.out.borrow().as_slice(), b"abc");
    assert_eq!(monitor(&p).validate(), persist::Verdict::Trusted);
    monitor(&p).prepare_warm(1);
    p.clear_record();
    let _s = Serial::start(p.clone(), Some(MONITOR)).expect("restart");
    assert_eq!(uart.out.borrow().as_slice(), b"abcdefgh");
    let replies = p.record(|r| r.pending_replies.clone());
    assert_eq!(replies.len(), 1);
    assert_eq!(
        serial_api::decode_reply(&replies[0].1),
        Ok(Reply::Written { seq: 1, count: 8 })
    );
    assert_eq!(
        *uart.inits.borrow(),
        1,
        "the UART is not reset on a warm restart"
    );
    assert_eq!(p.record(|r| r.notified.clone()), [MONITOR]);
}

#[test]
fn an_inconsistent_state_is_not_recovered() {
    use pd_core::Handler;
    let (p, _uart) = setup();
    plan(&p, &[(2, fault_inject::Kind::Panic)]);
    let mut s = Serial::start(p.clone(), None).expect("start");
    s.protected(CLIENT, &Request::Open.encode());
    let r = catch_unwind(AssertUnwindSafe(|| s.protected(CLIENT, &write(1, 8))));
    assert!(r.is_err());
    drop(s);
    // A wild write inside the request made the state impossible: the write in
    // progress is older than the last completed one.
    let region = p.region(personality::PERSISTENT_SETVAR).expect("region");
    let done_seq = core::mem::offset_of!(SerialState, done_seq);
    // SAFETY: inside the mapped region.
    unsafe { (region.as_mut_ptr().add(persist::STATE_OFFSET + done_seq) as *mut u64).write(10) };
    assert_eq!(
        monitor(&p).validate(),
        persist::Verdict::Trusted,
        "mid-request: no crc to check"
    );
    monitor(&p).prepare_warm(1);
    p.clear_record();
    let mut s = Serial::start(p.clone(), None).expect("restart");
    assert_eq!(s.env().state().done_seq, 0, "cold: state discarded");
    assert!(p.record(|r| r.console.contains("recover failed (Inconsistent)")));
    let replies = p.record(|r| r.pending_replies.clone());
    assert_eq!(
        serial_api::decode_reply(&replies[0].1),
        Err(SerialError::Restarted { epoch: 1 })
    );
}
