//! This system's own specifications (`drivers/serial/api/serial.tingu`,
//! `recovery/monitor/{lifecycle,control}.tingu`), compiled into
//! `gen/system.rs`: the generated observers against `serial_api`'s real
//! encodings, and one attached to a PD through the channel layer.

#[allow(dead_code)]
mod gen {
    include!("gen/system.rs");
}

use std::cell::RefCell;
use std::rc::Rc;

use gen::*;
use serial_api::{label, InvalidReason, Reply, Request, SerialError};
use tingu_runtime::channel::{
    Checked, CheckedHandler, Dir, Event, Kind, Observer, ObserverCell, Reason,
    LABEL_PROTOCOL_REFUSED,
};
use tingu_runtime::pd_core::{
    Arch, Channel, ChannelSet, ChildId, ChildOp, DeviceIo, Handler, Message, Platform,
    PlatformError, Region, Width,
};

const CLIENT: u8 = 1;
const MONITOR: u8 = 2;

fn driver() -> SerialObserver {
    SerialObserver::new(
        SerialChannels {
            client: Channel::of(CLIENT),
            monitor: Channel::of(MONITOR),
        },
        0,
    )
    .expect("distinct")
}

fn ev(ch: u8, dir: Dir, kind: Kind, msg: Message) -> Event {
    Event {
        ch: Channel::of(ch),
        dir,
        kind,
        msg,
    }
}

/// Driver side: request in, reply out.
fn serve(
    o: &mut SerialObserver,
    req: Request,
    reply: Message,
    t: u64,
) -> (Result<(), Reason>, Result<(), Reason>) {
    let a = o
        .check(&ev(CLIENT, Dir::In, Kind::Call, req.encode()), t)
        .map_err(|v| v.reason);
    let b = o
        .check(&ev(CLIENT, Dir::Out, Kind::Reply, reply), t + 1)
        .map_err(|v| v.reason);
    (a, b)
}

#[test]
fn labels_match_serial_api() {
    assert_eq!(serial_stream::label::OPEN, label::OPEN);
    assert_eq!(serial_stream::label::WRITE, label::WRITE);
    assert_eq!(serial_stream::label::CLOSE, label::CLOSE);
    assert_eq!(serial_stream::label::OPENED, label::OPENED);
    assert_eq!(serial_stream::label::WRITTEN, label::WRITTEN);
    assert_eq!(serial_stream::label::CLOSED, label::CLOSED);
    assert_eq!(serial_stream::label::RESTARTED, label::RESTARTED);
    assert_eq!(serial_stream::label::STOPPED, label::STOPPED);
    assert_eq!(serial_stream::label::INVALID, label::INVALID);
    // Generated encodings equal serial_api's.
    let w = Request::Write {
        seq: 7,
        offset: 16,
        len: 5,
    };
    assert_eq!(
        serial_stream::msg::Write::new(7, 16, 5).encode(),
        w.encode()
    );
    assert_eq!(
        serial_stream::msg::Written::new(7, 5).encode(),
        Reply::Written { seq: 7, count: 5 }.encode()
    );
    assert_eq!(
        serial_stream::msg::Restarted::new(3).encode(),
        SerialError::Restarted { epoch: 3 }.encode()
    );
}

#[test]
fn a_session_open_write_close() {
    let mut o = driver();
    assert_eq!(
        serve(
            &mut o,
            Request::Open,
            Reply::Opened { epoch: 1 }.encode(),
            0
        ),
        (Ok(()), Ok(()))
    );
    for seq in 1..4 {
        let w = Request::Write {
            seq,
            offset: 0,
            len: 10,
        };
        let r = Reply::Written { seq, count: 10 }.encode();
        assert_eq!(serve(&mut o, w, r, seq * 10), (Ok(()), Ok(())));
    }
    assert_eq!(
        serve(&mut o, Request::Close, Reply::Closed.encode(), 100),
        (Ok(()), Ok(()))
    );
    assert_eq!(o.client().state_name(), "closed");
}

#[test]
fn write_outside_a_session_is_refused_before_the_driver_sees_it() {
    let mut o = driver();
    let w = Request::Write {
        seq: 1,
        offset: 0,
        len: 1,
    }
    .encode();
    let r = o.check(&ev(CLIENT, Dir::In, Kind::Call, w), 0);
    assert_eq!(
        r.map_err(|v| (v.port, v.reason)),
        Err((0, Reason::NotAllowed))
    );
}

#[test]
fn the_driver_may_not_reply_wrongly() {
    let mut o = driver();
    assert_eq!(
        o.check(&ev(CLIENT, Dir::In, Kind::Call, Request::Open.encode()), 0),
        Ok(())
    );
    // `written` is no answer to `open`.
    let r = o.check(
        &ev(
            CLIENT,
            Dir::Out,
            Kind::Reply,
            Reply::Written { seq: 1, count: 1 }.encode(),
        ),
        1,
    );
    assert_eq!(r.map_err(|v| v.reason), Err(Reason::NotAllowed));
    // Nor is a malformed `opened` (missing epoch).
    let r = o.check(
        &ev(CLIENT, Dir::Out, Kind::Reply, Message::new(label::OPENED)),
        1,
    );
    assert_eq!(r.map_err(|v| v.reason), Err(Reason::UnknownMessage));
    // The channel layer's refusal label is not a protocol message.
    let r = o.check(
        &ev(
            CLIENT,
            Dir::Out,
            Kind::Reply,
            Message::new(LABEL_PROTOCOL_REFUSED),
        ),
        1,
    );
    assert_eq!(r.map_err(|v| v.reason), Err(Reason::UnknownMessage));
}

#[test]
fn error_replies() {
    // invalid keeps the session.
    let mut o = driver();
    let _ = serve(
        &mut o,
        Request::Open,
        Reply::Opened { epoch: 1 }.encode(),
        0,
    );
    let inv = SerialError::Invalid(InvalidReason::OutOfBuffer).encode();
    assert_eq!(
        serve(
            &mut o,
            Request::Write {
                seq: 1,
                offset: 0,
                len: 1
            },
            inv,
            2
        ),
        (Ok(()), Ok(()))
    );
    assert_eq!(o.client().state_name(), "open");
    // restarted (from any in-flight request) ends it.
    let rs = SerialError::Restarted { epoch: 2 }.encode();
    assert_eq!(
        serve(
            &mut o,
            Request::Write {
                seq: 2,
                offset: 0,
                len: 1
            },
            rs,
            4
        ),
        (Ok(()), Ok(()))
    );
    assert_eq!(o.client().state_name(), "closed");
    // After a cold start the driver's observer (in its restart state)
    // accepts the error reply to the request that was in flight; a first
    // boot's observer (in `closed`) has nothing in flight to answer.
    let mut restarted = driver();
    Observer::restart(&mut restarted, 0);
    assert_eq!(restarted.client().state_name(), "reset");
    let r = restarted.check(&ev(CLIENT, Dir::Out, Kind::Reply, rs), 0);
    assert_eq!(r, Ok(()));
    assert_eq!(restarted.client().state_name(), "closed");
    let mut fresh = driver();
    let r = fresh.check(&ev(CLIENT, Dir::Out, Kind::Reply, rs), 0);
    assert_eq!(r.map_err(|v| v.reason), Err(Reason::NotAllowed));
    // stopped: every later request is answered with stopped, and only that.
    let st = SerialError::Stopped { epoch: 3 }.encode();
    assert_eq!(serve(&mut o, Request::Open, st, 6), (Ok(()), Ok(())));
    assert_eq!(o.client().state_name(), "dead");
    assert_eq!(serve(&mut o, Request::Close, st, 8), (Ok(()), Ok(())));
    let (a, b) = serve(
        &mut o,
        Request::Open,
        Reply::Opened { epoch: 3 }.encode(),
        10,
    );
    assert_eq!((a, b), (Ok(()), Err(Reason::NotAllowed)));
}

#[test]
fn ready_any_number_of_times_and_monitor_side() {
    let mut o = driver();
    for t in 0..3 {
        assert_eq!(
            o.check(&ev(MONITOR, Dir::Out, Kind::Notify, Message::new(0)), t),
            Ok(())
        );
    }
    // The driver never receives a notification on its lifecycle channel.
    let r = o.check(&ev(MONITOR, Dir::In, Kind::Notify, Message::new(0)), 5);
    assert_eq!(r.map_err(|v| v.reason), Err(Reason::UnknownMessage));

    // The monitor (mirror side) receives `ready`, sends `stopped`.
    let mut m = MonitorObserver::<8>::new(
        MonitorChannels {
            serial_lc: Channel::of(3),
            serial_client: Channel::of(4),
        },
        0,
    )
    .expect("distinct");
    assert_eq!(
        m.check(&ev(3, Dir::In, Kind::Notify, Message::new(0)), 1),
        Ok(())
    );
    assert!(m
        .check(&ev(3, Dir::Out, Kind::Notify, Message::new(0)), 1)
        .is_err());
    assert_eq!(
        m.check(&ev(4, Dir::Out, Kind::Notify, Message::new(0)), 2),
        Ok(())
    );
    assert_eq!(m.serial_client().state_name(), "stopped_for_good");
    assert_eq!(
        m.check(&ev(4, Dir::Out, Kind::Notify, Message::new(0)), 3),
        Ok(())
    );
}

#[test]
fn client_side_is_the_mirror_image() {
    let mut c = SerialClientObserver::<8>::new(
        SerialClientChannels {
            serial: Channel::of(5),
            monitor: Channel::of(6),
        },
        0,
    )
    .expect("distinct");
    // The client calls out and receives replies.
    assert_eq!(
        c.check(&ev(5, Dir::Out, Kind::Call, Request::Open.encode()), 0),
        Ok(())
    );
    assert_eq!(
        c.check(
            &ev(5, Dir::In, Kind::Reply, Reply::Opened { epoch: 1 }.encode()),
            1
        ),
        Ok(())
    );
    assert_eq!(c.serial().state_name(), "open");
    // Receiving a call is not part of its side.
    let r = c.check(&ev(5, Dir::In, Kind::Call, Request::Open.encode()), 2);
    assert_eq!(r.map_err(|v| v.reason), Err(Reason::UnknownMessage));
    // The monitor's `stopped` arrives as an incoming notification.
    assert_eq!(
        c.check(&ev(6, Dir::In, Kind::Notify, Message::new(0)), 3),
        Ok(())
    );
}

// ---- attached through the channel layer ----

struct NoDevice;
impl DeviceIo for NoDevice {
    fn read(&self, _: usize, _: Width) -> u32 {
        0
    }
    fn write(&self, _: usize, _: Width, _: u32) {}
}

/// A platform that records the debug console and counts time.
#[derive(Clone, Default)]
struct Fake {
    log: Rc<RefCell<String>>,
    now: Rc<RefCell<u64>>,
}

impl Platform for Fake {
    type Device = NoDevice;
    fn arch(&self) -> Arch {
        Arch::X86_64
    }
    fn pd_name(&self) -> &str {
        "serial"
    }
    fn notify(&self, _: Channel) {}
    fn irq_ack(&self, _: Channel) {}
    fn ppcall(&self, _: Channel, _: &Message) -> Message {
        Message::new(0)
    }
    fn reply_pending(&self, _: Option<Channel>, _: &Message) {}
    fn debug_puts(&self, s: &str) {
        self.log.borrow_mut().push_str(s);
    }
    fn now_ns(&self) -> u64 {
        let mut n = self.now.borrow_mut();
        *n += 1_000;
        *n
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

/// A toy driver written against the generated `Server` trait.
struct Toy {
    epoch: u64,
}

impl serial_stream::Server for Toy {
    fn open(&mut self, _: serial_stream::msg::Open) -> Message {
        serial_stream::msg::Opened::new(self.epoch).encode()
    }
    fn write(&mut self, m: serial_stream::msg::Write) -> Message {
        serial_stream::msg::Written::new(m.seq, m.len as u32).encode()
    }
    fn close(&mut self, _: serial_stream::msg::Close) -> Message {
        serial_stream::msg::Closed::new().encode()
    }
}

impl Handler for Toy {
    fn notified(&mut self, _: ChannelSet) {}
    fn protected(&mut self, _: Channel, msg: &Message) -> Message {
        serial_stream::dispatch(self, msg)
            .unwrap_or_else(|| SerialError::Invalid(InvalidReason::BadLength).encode())
    }
}

static OBSERVER: ObserverCell<SerialObserver> = ObserverCell::new();

#[test]
fn attached_to_a_pd_through_the_channel_layer() {
    let p = Fake::default();
    let obs = SerialObserver::new(
        SerialChannels {
            client: Channel::of(CLIENT),
            monitor: Channel::of(MONITOR),
        },
        p.now_ns(),
    )
    .expect("distinct");
    let cell = OBSERVER.init(obs);
    let checked = Checked::new(p.clone(), cell);
    let mut h = CheckedHandler::new(checked, Toy { epoch: 4 });
    let ch = Channel::of(CLIENT);

    // Out of order: refused by the observer, the driver never sees it.
    let w = Request::Write {
        seq: 1,
        offset: 0,
        len: 3,
    }
    .encode();
    assert_eq!(h.protected(ch, &w).label, LABEL_PROTOCOL_REFUSED);
    assert!(p.log.borrow().contains("protocol violation (peer) port 0"));
    assert!(p
        .log
        .borrow()
        .contains("port client (SerialStream) on ch1: closed"));
    assert!(p
        .log
        .borrow()
        .contains("REFUSED in closed (not allowed in this state)"));

    // In order: served.
    assert_eq!(
        h.protected(ch, &Request::Open.encode()),
        Reply::Opened { epoch: 4 }.encode()
    );
    assert_eq!(
        h.protected(ch, &w),
        Reply::Written { seq: 1, count: 3 }.encode()
    );
    assert_eq!(cell.borrow().client().state_name(), "open");
    assert_eq!(cell.borrow().ring().len(), 5);
}

#[test]
fn an_observer_carried_across_a_warm_restart_accepts_the_replayed_reply() {
    // A write is in flight when the driver faults.
    let mut before = driver();
    let _ = serve(
        &mut before,
        Request::Open,
        Reply::Opened { epoch: 1 }.encode(),
        0,
    );
    let w = Request::Write {
        seq: 5,
        offset: 0,
        len: 2,
    }
    .encode();
    assert_eq!(before.check(&ev(CLIENT, Dir::In, Kind::Call, w), 2), Ok(()));
    let mut saved = [0u64; SERIAL_STATE_WORDS];
    assert!(before.save(&mut saved));

    // Warm restart: the replayed request is answered with `written`.
    let done = ev(
        CLIENT,
        Dir::Out,
        Kind::Reply,
        Reply::Written { seq: 5, count: 2 }.encode(),
    );
    let mut fresh = driver();
    assert_eq!(
        fresh.check(&done, 3).map_err(|v| v.reason),
        Err(Reason::NotAllowed)
    );
    let mut restored = driver();
    assert!(restored.restore(&saved));
    assert_eq!(restored.check(&done, 3), Ok(()));
    assert_eq!(restored.client().state_name(), "open");
}

/// Finding F1's fix, on the observer: after a cold or tombstone start the
/// driver's observer is in `reset`, where the stale session's `write` (or
/// `close`) is accepted and answered `restarted` (or `stopped`); then
/// `closed` refuses `write` as a first boot does, and `open` starts anew.
/// Timers start afresh (the restart state's request is timed), the monitor
/// port enters its own restart state (its initial one), and the client's
/// mirror ports start fresh.
#[test]
fn after_a_restart_a_stale_session_is_answered_restarted() {
    let mut o = driver();
    let _ = serve(
        &mut o,
        Request::Open,
        Reply::Opened { epoch: 1 }.encode(),
        0,
    );
    assert_eq!(o.client().state_name(), "open");
    Observer::restart(&mut o, 100);
    assert_eq!(o.client().state_name(), "reset");
    assert_eq!(o.client().deadline(), None);
    assert_eq!(o.monitor().state_name(), "serving");
    let write = |seq| Request::Write {
        seq,
        offset: 0,
        len: 1,
    };
    let req = o.check(&ev(CLIENT, Dir::In, Kind::Call, write(1).encode()), 200);
    assert_eq!(req, Ok(()));
    assert_eq!(o.client().state_name(), "reset_request");
    assert_eq!(o.client().deadline(), Some(200 + 3_000_000_000));
    let rs = SerialError::Restarted { epoch: 2 }.encode();
    assert_eq!(o.check(&ev(CLIENT, Dir::Out, Kind::Reply, rs), 300), Ok(()));
    assert_eq!(o.client().state_name(), "closed");
    let r = o.check(&ev(CLIENT, Dir::In, Kind::Call, write(2).encode()), 400);
    assert_eq!(r.map_err(|v| v.reason), Err(Reason::NotAllowed));
    assert_eq!(
        serve(
            &mut o,
            Request::Open,
            Reply::Opened { epoch: 2 }.encode(),
            500
        ),
        (Ok(()), Ok(()))
    );
    // A tombstone: `stopped` from the restart state, then only `stopped`.
    let mut o = driver();
    Observer::restart(&mut o, 0);
    let st = SerialError::Stopped { epoch: 3 }.encode();
    assert_eq!(serve(&mut o, Request::Close, st, 1), (Ok(()), Ok(())));
    assert_eq!(o.client().state_name(), "dead");
    // The client's observer: its mirror port starts fresh.
    let mut c = SerialClientObserver::<16>::new(
        SerialClientChannels {
            serial: Channel::of(CLIENT),
            monitor: Channel::of(MONITOR),
        },
        0,
    )
    .expect("distinct");
    Observer::restart(&mut c, 0);
    assert_eq!(c.serial().state_name(), "closed");
}
