extern crate std;

use super::*;
use persist::{ControlPage, Directive, MonitorRegion};
use personality::{Boot, Personality, Staging};
use std::boxed::Box;
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::vec::Vec;
use testkit::MockPlatform;

/// The test system's wiring (a PD gets its own from `system.xml`).
const CLIENT: Channel = Channel::of(0);
const MONITOR: Channel = Channel::of(1);

/// A UART whose transmitter is a byte log shared with the test; it accepts a
/// byte only every other poll, so the driver's wait loop is exercised.
#[derive(Clone, Default)]
struct LogUart {
    out: Rc<RefCell<Vec<u8>>>,
    inits: Rc<RefCell<u32>>,
    polls: Rc<RefCell<u32>>,
    /// A receiver that is never empty (a line that refills the FIFO as
    /// fast as it is read, as QEMU's does), and the reads it served.
    flood: Rc<RefCell<bool>>,
    reads: Rc<RefCell<u64>>,
}

std::thread_local! {
    static UART: RefCell<LogUart> = RefCell::new(LogUart::default());
}

impl Uart for LogUart {
    fn init(&self) -> Result<(), Misconfigured> {
        *self.inits.borrow_mut() += 1;
        Ok(())
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
        if !*self.flood.borrow() {
            return None;
        }
        let mut n = self.reads.borrow_mut();
        *n += 1;
        Some(*n as u8)
    }
    fn irq(&self) -> IrqStatus {
        IrqStatus {
            rx: *self.flood.borrow(),
            tx: false,
        }
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
    p.add_region(personality::CONTROL_SETVAR, 4096);
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
    let planned: Vec<fault_inject::Planned> = entries
        .iter()
        .map(|&(at, k)| fault_inject::Planned::new(Site::Bytes, at, k))
        .collect();
    fault_inject::encode(&planned, bytes).expect("fits");
}

/// Start the driver as after the monitor wrote `control` (`None`: a first
/// boot); its one start reply is then sent.
fn start(p: &MockPlatform, control: Option<(u64, Directive)>, ready: Option<Channel>) -> Serial {
    if let Some((epoch, d)) = control {
        let c = p.region(personality::CONTROL_SETVAR).expect("control");
        // SAFETY: the mock's region is mapped for the platform's life.
        unsafe { persist::write_control(c.as_mut_ptr(), &ControlPage::new(epoch, d)) };
    }
    p.clear_record();
    let staging: &'static Staging = Box::leak(Box::new(Staging::new()));
    let boot = Boot::<SerialState>::load(p, staging).expect("boot");
    let mut s = Personality::start(p.clone(), ready, boot);
    pd_core::Handler::reply_sent(&mut s);
    s
}

/// One call as the channel layer and the backend run it.
fn call(s: &mut Serial, req: &Message) -> Message {
    use pd_core::Handler;
    let r = s.protected(CLIENT, req);
    s.replying(CLIENT, &r);
    s.reply_sent();
    r
}

#[test]
fn writes_go_out_once_and_in_order() {
    let (p, uart) = setup();
    let mut s = start(&p, None, Some(MONITOR));
    assert_eq!(
        call(&mut s, &Request::Open.encode()).label,
        serial_api::label::OPENED
    );
    fill(&p, b"hello");
    let r = serial_api::decode_reply(&call(&mut s, &write(1, 5)));
    assert_eq!(r, Ok(Reply::Written { seq: 1, count: 5 }));
    // A retry of the same seq is acknowledged without output.
    let r = serial_api::decode_reply(&call(&mut s, &write(1, 5)));
    assert_eq!(r, Ok(Reply::Written { seq: 1, count: 5 }));
    assert_eq!(uart.out.borrow().as_slice(), b"hello");
    assert_eq!(*uart.inits.borrow(), 1);
}

#[test]
fn malformed_and_out_of_session_writes_are_refused() {
    let (p, uart) = setup();
    let mut s = start(&p, None, None);
    let r = serial_api::decode_reply(&call(&mut s, &write(1, 5)));
    assert_eq!(r, Err(SerialError::Invalid(InvalidReason::NotOpen)));
    call(&mut s, &Request::Open.encode());
    let r = serial_api::decode_reply(&call(&mut s, &write(1, 5000)));
    assert_eq!(r, Err(SerialError::Invalid(InvalidReason::OutOfBuffer)));
    let r = serial_api::decode_reply(&call(&mut s, &Message::new(99)));
    assert_eq!(r, Err(SerialError::Invalid(InvalidReason::UnknownRequest)));
    assert!(uart.out.borrow().is_empty());
}

#[test]
fn a_fault_mid_write_then_warm_restart_resumes_at_the_next_byte() {
    use pd_core::Handler;
    let (p, uart) = setup();
    plan(&p, &[(3, fault_inject::Kind::Panic)]);
    let mut s = start(&p, None, Some(MONITOR));
    call(&mut s, &Request::Open.encode());
    fill(&p, b"abcdefgh");
    let r = catch_unwind(AssertUnwindSafe(|| s.protected(CLIENT, &write(1, 8))));
    assert!(r.is_err(), "the injected panic fired");
    drop(s);
    assert_eq!(uart.out.borrow().as_slice(), b"abc");
    assert_eq!(monitor(&p).validate(), persist::Verdict::Trusted);
    let _s = start_recording(&p, (1, Directive::Warm));
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

/// A start whose record (replies, notifications) is kept for the test.
fn start_recording(p: &MockPlatform, control: (u64, Directive)) -> Serial {
    let c = p.region(personality::CONTROL_SETVAR).expect("control");
    // SAFETY: the mock's region is mapped for the platform's life.
    unsafe { persist::write_control(c.as_mut_ptr(), &ControlPage::new(control.0, control.1)) };
    p.clear_record();
    let staging: &'static Staging = Box::leak(Box::new(Staging::new()));
    let boot = Boot::<SerialState>::load(p, staging).expect("boot");
    Personality::start(p.clone(), Some(MONITOR), boot)
}

#[test]
fn a_fault_at_every_byte_of_a_write_never_repeats_or_skips_one() {
    use pd_core::Handler;
    for at in 1..=8u64 {
        let (p, uart) = setup();
        plan(&p, &[(at, fault_inject::Kind::Panic)]);
        let mut s = start(&p, None, None);
        call(&mut s, &Request::Open.encode());
        fill(&p, b"01234567");
        let r = catch_unwind(AssertUnwindSafe(|| s.protected(CLIENT, &write(1, 8))));
        assert!(r.is_err() || at == 8);
        drop(s);
        let _s = start_recording(&p, (1, Directive::Warm));
        assert_eq!(uart.out.borrow().as_slice(), b"01234567", "fault at {at}");
    }
}

#[test]
fn an_inconsistent_state_is_not_recovered() {
    use pd_core::Handler;
    let (p, _uart) = setup();
    plan(&p, &[(2, fault_inject::Kind::Panic)]);
    let mut s = start(&p, None, None);
    call(&mut s, &Request::Open.encode());
    fill(&p, b"abcdefgh");
    let r = catch_unwind(AssertUnwindSafe(|| s.protected(CLIENT, &write(1, 8))));
    assert!(r.is_err());
    drop(s);
    // A mark beyond anything the write could have sent (sealed as a valid
    // mark: only a bug in the driver could write one).
    let region = p.region(personality::PERSISTENT_SETVAR).expect("region");
    let gen = monitor(&p).summary().expect("trusted").gen;
    let off = core::mem::offset_of!(persist::Header, marks);
    let w = persist::mark_word(gen, persist::MARK_DRIVER, 1 << 20);
    // SAFETY: inside the mapped region.
    unsafe { (region.as_mut_ptr().add(off) as *mut u64).write(w) };
    assert_eq!(monitor(&p).validate(), persist::Verdict::Trusted);
    let mut s = start_recording(&p, (1, Directive::Warm));
    assert_eq!(s.env().state().done_seq, 0, "cold: state discarded");
    assert!(p.record(|r| r.console.contains("recover failed (Inconsistent)")));
    let replies = p.record(|r| r.pending_replies.clone());
    assert_eq!(
        serial_api::decode_reply(&replies[0].1),
        Err(SerialError::Restarted { epoch: 1 })
    );
}

#[test]
fn a_receiver_that_never_empties_lets_the_driver_start_and_serve() {
    let (p, uart) = setup();
    *uart.flood.borrow_mut() = true;
    // Before the bound, the start's drain never returned.
    let mut s = start(&p, None, Some(MONITOR));
    assert_eq!(*uart.reads.borrow(), RX_BURST as u64);
    // Each interrupt takes one more burst and is acknowledged.
    for k in 2..=4u64 {
        pd_core::Handler::notified(&mut s, ChannelSet::EMPTY.with(UART_IRQ));
        assert_eq!(*uart.reads.borrow(), k * RX_BURST as u64);
    }
    // Requests are served between them.
    assert_eq!(
        call(&mut s, &Request::Open.encode()).label,
        serial_api::label::OPENED
    );
    fill(&p, b"hi");
    let r = serial_api::decode_reply(&call(&mut s, &write(1, 2)));
    assert_eq!(r, Ok(Reply::Written { seq: 1, count: 2 }));
    assert_eq!(uart.out.borrow().as_slice(), b"hi");
}
