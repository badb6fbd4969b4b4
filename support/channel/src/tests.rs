extern crate std;

use super::*;
use core::cell::Cell;
use std::vec::Vec;

/// A platform that records what reaches it.
#[derive(Clone, Default)]
struct Recorder {
    sent: std::rc::Rc<std::cell::RefCell<Vec<(Channel, Kind, u64)>>>,
}

struct NoDevice;
impl pd_core::DeviceIo for NoDevice {
    fn read(&self, _: usize, _: pd_core::Width) -> u32 {
        0
    }
    fn write(&self, _: usize, _: pd_core::Width, _: u32) {}
}

impl Platform for Recorder {
    type Device = NoDevice;
    fn arch(&self) -> Arch {
        Arch::X86_64
    }
    fn pd_name(&self) -> &str {
        "test"
    }
    fn notify(&self, ch: Channel) {
        self.sent.borrow_mut().push((ch, Kind::Notify, 0));
    }
    fn irq_ack(&self, _: Channel) {}
    fn ppcall(&self, ch: Channel, msg: &Message) -> Message {
        self.sent.borrow_mut().push((ch, Kind::Call, msg.label));
        Message::new(msg.label + 100)
    }
    fn reply_pending(&self, _: Option<Channel>, _: &Message) {}
    fn debug_puts(&self, _: &str) {}
    fn now_ns(&self) -> u64 {
        0
    }
    fn set_timeout(&self, _: u64) -> Result<(), PlatformError> {
        Err(PlatformError::NotDeclared)
    }
    fn timer_channel(&self) -> Option<Channel> {
        None
    }
    fn region(&self, _: &str) -> Option<Region> {
        None
    }
    fn device(&self, _: &str) -> Option<NoDevice> {
        None
    }
    fn child(&self, _: ChildId, _: ChildOp) -> Result<(), PlatformError> {
        Err(PlatformError::NotDeclared)
    }
}

/// Allows only incoming calls with label 1, and replies with label 2; counts checks.
#[derive(Default)]
struct OnlyOne {
    checks: Cell<u32>,
}

impl Observer for OnlyOne {
    fn check(&mut self, ev: &Event, _now: u64) -> Result<(), Violation> {
        self.checks.set(self.checks.get() + 1);
        let ok = match (ev.dir, ev.kind) {
            (Dir::In, Kind::Call) => ev.msg.label == 1,
            (Dir::Out, Kind::Reply) => ev.msg.label == 2,
            (Dir::Out, Kind::Call) => true,
            (Dir::In, Kind::Reply) => ev.msg.label < 200,
            (_, Kind::Notify) => ev.ch.index() != 9,
        };
        if ok {
            Ok(())
        } else {
            Err(Violation {
                event: *ev,
                port: 0,
                reason: Reason::NotAllowed,
            })
        }
    }
}

struct Echo {
    calls: u32,
    notified: ChannelSet,
}

impl Handler for Echo {
    fn notified(&mut self, channels: ChannelSet) {
        self.notified = channels;
    }
    fn protected(&mut self, _ch: Channel, msg: &Message) -> Message {
        self.calls += 1;
        Message::new(msg.label + 1)
    }
}

fn leak<O>(o: O) -> &'static RefCell<O> {
    std::boxed::Box::leak(std::boxed::Box::new(RefCell::new(o)))
}

#[test]
fn an_illegal_incoming_call_is_refused_and_never_reaches_the_handler() {
    let p = Checked::new(Recorder::default(), leak(OnlyOne::default()));
    let mut h = CheckedHandler::new(
        p,
        Echo {
            calls: 0,
            notified: ChannelSet::EMPTY,
        },
    );
    let r = h.protected(Channel::of(0), &Message::new(5));
    assert_eq!(r.label, LABEL_PROTOCOL_REFUSED);
    assert_eq!(h.inner().calls, 0);
    let r = h.protected(Channel::of(0), &Message::new(1));
    assert_eq!(r.label, 2);
    assert_eq!(h.inner().calls, 1);
}

#[test]
fn illegal_notifications_are_dropped_from_the_set() {
    let p = Checked::new(Recorder::default(), leak(OnlyOne::default()));
    let mut h = CheckedHandler::new(
        p,
        Echo {
            calls: 0,
            notified: ChannelSet::EMPTY,
        },
    );
    h.notified(ChannelSet::EMPTY.with(Channel::of(3)).with(Channel::of(9)));
    assert_eq!(h.inner().notified, ChannelSet::EMPTY.with(Channel::of(3)));
}

#[test]
fn outgoing_calls_and_their_replies_are_both_checked() {
    let obs = leak(OnlyOne::default());
    let rec = Recorder::default();
    let p = Checked::new(rec.clone(), obs);
    assert_eq!(p.ppcall(Channel::of(1), &Message::new(7)).label, 107);
    // The callee's reply (label 250) is illegal: not delivered.
    assert_eq!(
        p.ppcall(Channel::of(1), &Message::new(150)).label,
        LABEL_PROTOCOL_REFUSED
    );
    assert_eq!(obs.borrow().checks.get(), 4);
    assert_eq!(rec.sent.borrow().len(), 2);
}

#[test]
fn no_observer_lets_everything_through() {
    static CELL: ObserverCell<NoObserver> = ObserverCell::new();
    let p = Checked::new(Recorder::default(), CELL.init(NoObserver));
    let mut h = CheckedHandler::new(
        p,
        Echo {
            calls: 0,
            notified: ChannelSet::EMPTY,
        },
    );
    assert_eq!(h.protected(Channel::of(0), &Message::new(41)).label, 42);
}

/// Writes `text` into a report buffer of `cap` bytes the way the channel
/// layer does, and returns what the monitor would read.
fn report_of(text: &str, cap: usize) -> std::string::String {
    let mut buf = std::vec![0u8; cap];
    let mut t = RawText {
        buf: buf.as_mut_ptr(),
        cap,
        len: 0,
        truncated: false,
    };
    let _ = fmt::Write::write_str(&mut t, text);
    let n = t.finish();
    std::string::String::from_utf8(buf[..n].to_vec()).expect("a report is text")
}

#[test]
fn a_report_that_fits_is_kept_whole_and_unmarked() {
    assert_eq!(report_of("state idle\n", 64), "state idle\n");
    let exact = "x".repeat(64);
    assert_eq!(report_of(&exact, 64), exact);
}

#[test]
fn a_report_that_does_not_fit_ends_with_the_truncation_marker() {
    let long = "event 0123456789\n".repeat(200);
    let r = report_of(&long, 1024);
    assert_eq!(r.len(), 1024);
    assert!(r.ends_with(REPORT_TRUNCATED), "{r:?}");
    assert!(long.starts_with(&r[..1024 - REPORT_TRUNCATED.len()]));
}

#[test]
fn a_truncated_report_is_cut_at_a_character_boundary() {
    // A multi-byte character straddles every possible cut point.
    for pad in 0..4 {
        let long = std::format!("{}{}", "a".repeat(pad), "\u{2192}".repeat(600));
        let r = report_of(&long, 1024);
        assert!(r.ends_with(REPORT_TRUNCATED), "{r:?}");
        assert!(r.len() <= 1024);
    }
}
