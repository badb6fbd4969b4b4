//! The channel layer: the single place every message to or from a PD passes.
//!
//! [`Checked`] wraps a PD's [`Platform`] (outgoing calls, replies and
//! notifications) and [`CheckedHandler`] wraps its [`Handler`] (incoming calls
//! and notifications). Both consult one [`Observer`] before a message is
//! delivered or sent. The protocol observers generated from Tingu
//! specifications implement [`Observer`]; [`NoObserver`] lets everything pass.
//!
//! On a violation the offending message is never delivered:
//! * an illegal *incoming* call is refused with [`LABEL_PROTOCOL_REFUSED`]; the
//!   receiving PD (typically a driver) is untouched;
//! * an illegal *outgoing* message means this PD is faulty: the report is
//!   logged and the PD raises a protocol trap ([`pd_core::trap`]), which its
//!   monitor decodes as [`pd_core::Fault::ProtocolViolation`] and handles like
//!   any other fault.
//!
//! Two transport duties live here too, below every protocol:
//! * a caller keeps a **call ledger** ([`call_ledger`]) for each channel that
//!   has one mapped (`ledger_ch<id>`): the supervised server's monitor reads
//!   from it, where the server cannot forge it, whether a call is
//!   outstanding, its deadline, and how many calls succeeded;
//! * a reply [`LABEL_RETRY`] from a restarted server (the call was received
//!   but never carried out) makes the caller issue the same call again; the
//!   PD above never sees it.
//!
//! What must never happen: a path from a PD to another PD that bypasses this
//! layer, or an observer that allocates or blocks.
#![no_std]

use core::cell::RefCell;
use core::fmt;

use pd_core::message::LABEL_RETRY;
use pd_core::{
    trap, Arch, Channel, ChannelSet, ChildId, ChildOp, Fault, FaultAction, Handler, Message,
    Platform, PlatformError, Region,
};

pub use call_ledger;

/// Reply label for an incoming call that its protocol does not allow now.
pub const LABEL_PROTOCOL_REFUSED: u64 = 0xfffe;

/// Most times one call is re-issued after [`LABEL_RETRY`] before the caller
/// is given an error (a server that answers nothing else is broken).
pub const MAX_RETRIES: u32 = 64;

/// The text a truncated violation report ends with.
pub const REPORT_TRUNCATED: &str = "\n[report truncated]\n";

/// Most channels of one PD with a call ledger.
pub const MAX_LEDGERS: usize = 4;

/// `setvar_vaddr` prefix of a call ledger: `ledger_ch<id>` for the channel
/// `<id>` of the calling PD.
pub const LEDGER_SETVAR_PREFIX: &str = "ledger_ch";

/// A PD's call ledgers, found by their setvar names.
#[derive(Copy, Clone, Debug)]
struct Ledgers {
    entries: [Option<(Channel, call_ledger::Writer)>; MAX_LEDGERS],
    /// Which reply labels are errors (not progress).
    is_error: fn(u64) -> bool,
}

impl Ledgers {
    const NONE: Self = Self {
        entries: [None; MAX_LEDGERS],
        is_error: |_| false,
    };

    fn get(&self, ch: Channel) -> Option<call_ledger::Writer> {
        self.entries
            .iter()
            .flatten()
            .find(|(c, _)| *c == ch)
            .map(|(_, w)| *w)
    }
}

/// `ledger_ch<id>` for channel `id`, in `buf`.
fn ledger_setvar(buf: &mut [u8; 16], id: u8) -> &str {
    let p = LEDGER_SETVAR_PREFIX.as_bytes();
    buf[..p.len()].copy_from_slice(p);
    let mut n = p.len();
    if id >= 10 {
        buf[n] = b'0' + id / 10;
        n += 1;
    }
    buf[n] = b'0' + id % 10;
    n += 1;
    core::str::from_utf8(&buf[..n]).unwrap_or("")
}

/// Which way a message goes, seen from the PD that owns the observer.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Dir {
    /// Into this PD.
    In,
    /// Out of this PD.
    Out,
}

/// How a message travels.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Kind {
    /// A protected call (the request).
    Call,
    /// The reply to a protected call.
    Reply,
    /// A notification (carries no data; its label is 0).
    Notify,
}

/// One message crossing the channel layer.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct Event {
    /// Channel, as this PD names it.
    pub ch: Channel,
    /// Direction.
    pub dir: Dir,
    /// Transport.
    pub kind: Kind,
    /// Label and words (label 0 and no words for a notification).
    pub msg: Message,
}

/// A message its protocol does not allow in the current state.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct Violation {
    /// The offending message.
    pub event: Event,
    /// Index of the protocol (port) that refused it, in the observer's numbering.
    pub port: u16,
    /// Why it was refused.
    pub reason: Reason,
}

/// Why an observer refused a message.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Reason {
    /// No transition for this message in the current state.
    NotAllowed,
    /// The message is not part of the port's protocol at all.
    UnknownMessage,
    /// A guard over the message arguments or protocol variables is false.
    GuardFailed,
    /// Another protocol this message depends on does not allow it.
    DependencyRefused,
    /// The protocol has terminated (final state).
    Terminated,
    /// A timeout state was left too late (or never).
    Timeout,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotAllowed => "not allowed in this state",
            Self::UnknownMessage => "unknown message",
            Self::GuardFailed => "guard false",
            Self::DependencyRefused => "refused by a dependency",
            Self::Terminated => "protocol terminated",
            Self::Timeout => "timeout state expired",
        })
    }
}

/// A runtime protocol checker for all ports of one PD.
pub trait Observer: 'static {
    /// Check `ev` at time `now_ns`, and if it is allowed, take the transition.
    fn check(&mut self, ev: &Event, now_ns: u64) -> Result<(), Violation>;

    /// Earliest time at which a timeout state of this PD expires, if any.
    fn deadline(&self) -> Option<u64> {
        None
    }

    /// Write the state of every protocol and the last events.
    fn report(&self, w: &mut dyn fmt::Write) -> fmt::Result {
        let _ = w;
        Ok(())
    }

    /// Save the protocol state (not the trace) into `out`; the number of
    /// words used, or `None` if `out` is too short.
    fn save_state(&self, out: &mut [u64]) -> Option<usize> {
        let _ = out;
        Some(0)
    }

    /// Restore what [`Observer::save_state`] wrote; `false` (and no change)
    /// if the words are not a valid state.
    fn restore_state(&mut self, words: &[u64]) -> bool {
        words.is_empty()
    }

    /// The PD that owns these ports was restarted with its state discarded
    /// (a cold or tombstone start): put every port in its protocol's restart
    /// state (Tingu `restart state`), or its initial state if it has none.
    fn restart(&mut self, now_ns: u64) {
        let _ = now_ns;
    }
}

/// How a PD's observer begins, given how the PD itself begins.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum StartMode {
    /// First boot: every protocol in its initial state.
    Fresh,
    /// Warm restart: resume from the saved state.
    Restore,
    /// Cold or tombstone start: the PD's state was discarded, its peers'
    /// was not: every protocol in its restart state.
    Restart,
}

/// Where a PD's observer state lives between incarnations: raw pointers into
/// the PD's persistent region (for a driver), written after every transition.
///
/// The pointers must stay valid and be written by nobody else while this PD
/// runs (the monitor writes the region only while the PD is stopped).
#[derive(Copy, Clone, Debug)]
pub struct SaveArea {
    /// Number of saved words.
    pub len: *mut u64,
    /// Saved words.
    pub words: *mut u64,
    /// Capacity of `words`.
    pub capacity: usize,
    /// Published earliest timeout deadline (ns; 0 = none), for the monitor.
    pub deadline: *mut u64,
    /// Length of the last violation report.
    pub report_len: *mut u64,
    /// The last violation report (text).
    pub report: *mut u8,
    /// Capacity of `report`.
    pub report_capacity: usize,
}

impl SaveArea {
    /// The saved words, if they fit.
    ///
    /// # Safety
    /// The pointers must be valid as the type's docs require.
    unsafe fn saved(&self) -> Option<&[u64]> {
        // SAFETY: caller guarantees validity.
        let n = unsafe { core::ptr::read_volatile(self.len) } as usize;
        // SAFETY: as above; n checked against capacity.
        (n <= self.capacity).then(|| unsafe { core::slice::from_raw_parts(self.words, n) })
    }
}

/// Writes into a raw text buffer; what does not fit is cut, and
/// [`RawText::finish`] then ends the text with [`REPORT_TRUNCATED`].
struct RawText {
    buf: *mut u8,
    cap: usize,
    len: usize,
    truncated: bool,
}

impl fmt::Write for RawText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let n = s.len().min(self.cap - self.len);
        self.truncated |= n < s.len();
        // SAFETY: `buf` is valid for `cap` bytes (SaveArea contract); len + n <= cap.
        unsafe { core::ptr::copy_nonoverlapping(s.as_ptr(), self.buf.add(self.len), n) };
        self.len += n;
        Ok(())
    }
}

impl RawText {
    /// The final length, with the truncation marker if something was cut.
    fn finish(mut self) -> usize {
        let m = REPORT_TRUNCATED.as_bytes();
        if self.truncated && self.cap >= m.len() {
            let mut at = self.len.min(self.cap - m.len());
            // Cut at a character boundary, so the report stays text: step
            // back over UTF-8 continuation bytes (at most three).
            // SAFETY: at < len <= cap, inside the buffer.
            while at > 0 && unsafe { core::ptr::read(self.buf.add(at)) } & 0xc0 == 0x80 {
                at -= 1;
            }
            // SAFETY: at + m.len() <= cap.
            unsafe { core::ptr::copy_nonoverlapping(m.as_ptr(), self.buf.add(at), m.len()) };
            self.len = at + m.len();
        }
        self.len
    }
}

/// An observer that allows everything.
#[derive(Copy, Clone, Default, Debug)]
pub struct NoObserver;

impl Observer for NoObserver {
    fn check(&mut self, _ev: &Event, _now_ns: u64) -> Result<(), Violation> {
        Ok(())
    }
}

/// Static home for a PD's observer.
///
/// PD code is single-threaded (Microkit entry points never run concurrently,
/// and the hosted runtime runs PD code on one thread), so a `RefCell` in a
/// static is sound there; this cell makes that explicit in one place.
pub struct ObserverCell<O> {
    cell: core::cell::UnsafeCell<Option<RefCell<O>>>,
}

// SAFETY: only used by single-threaded PD code (see the type's docs); `init`
// is called once, before any handler runs.
unsafe impl<O> Sync for ObserverCell<O> {}

impl<O: 'static> ObserverCell<O> {
    /// An empty cell.
    pub const fn new() -> Self {
        Self {
            cell: core::cell::UnsafeCell::new(None),
        }
    }

    /// Put the observer in place and return it. Calling it again replaces the
    /// observer (a PD calls it once, from its start code).
    pub fn init(&'static self, observer: O) -> &'static RefCell<O> {
        // SAFETY: single-threaded PD code; no reference from an earlier call
        // is used after re-initialisation because a PD initialises once.
        let slot = unsafe { &mut *self.cell.get() };
        slot.insert(RefCell::new(observer))
    }
}

impl<O: 'static> Default for ObserverCell<O> {
    fn default() -> Self {
        Self::new()
    }
}

/// A PD's platform seen through the channel layer.
pub struct Checked<P: Platform, O: Observer> {
    inner: P,
    observer: &'static RefCell<O>,
    area: Option<SaveArea>,
    ledgers: Ledgers,
}

impl<P: Platform, O: Observer> Clone for Checked<P, O> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            observer: self.observer,
            area: self.area,
            ledgers: self.ledgers,
        }
    }
}

impl<P: Platform, O: Observer> Checked<P, O> {
    /// Wrap `inner`; `observer` lives as long as the PD.
    pub fn new(inner: P, observer: &'static RefCell<O>) -> Self {
        Self {
            inner,
            observer,
            area: None,
            ledgers: Ledgers::NONE,
        }
    }

    /// Keep a call ledger for every channel that has one mapped
    /// (`ledger_ch<id>`, see [`LEDGER_SETVAR_PREFIX`]); `is_error` tells
    /// which reply labels are errors (they complete a call but are no
    /// progress). At most [`MAX_LEDGERS`]; more is a configuration error,
    /// reported on the console.
    pub fn with_ledgers(mut self, is_error: fn(u64) -> bool) -> Self {
        let mut n = 0;
        for id in 0..=pd_core::MAX_CHANNEL {
            let mut buf = [0u8; 16];
            let Some(r) = self.inner.region(ledger_setvar(&mut buf, id)) else {
                continue;
            };
            if r.size < core::mem::size_of::<call_ledger::Ledger>() || r.vaddr % 8 != 0 {
                pd_core::pd_log!(
                    &self.inner,
                    "{}: ledger_ch{id} is too small or misaligned: not kept",
                    self.inner.pd_name()
                );
                continue;
            }
            let Some(slot) = self.ledgers.entries.get_mut(n) else {
                pd_core::pd_log!(
                    &self.inner,
                    "{}: more than {MAX_LEDGERS} call ledgers: ledger_ch{id} not kept",
                    self.inner.pd_name()
                );
                continue;
            };
            // SAFETY: the region is mapped read-write into this PD for its
            // whole life (a ledger is mapped writable only into its caller),
            // aligned and large enough (checked above).
            *slot = Some((Channel::of(id), unsafe {
                call_ledger::Writer::new(r.as_mut_ptr())
            }));
            n += 1;
        }
        self.ledgers.is_error = is_error;
        self
    }

    /// Wrap `inner` with an observer whose state is kept in `area` (a
    /// driver's persistent region), beginning as `mode` says: on a warm
    /// restart it takes the saved state (checking resumes where the previous
    /// incarnation was); on a cold or tombstone start it enters the restart
    /// states; on a first boot it starts fresh. The area is then overwritten.
    pub fn persistent(
        inner: P,
        observer: &'static RefCell<O>,
        area: SaveArea,
        mode: StartMode,
    ) -> Self {
        let c = Self {
            inner,
            observer,
            area: Some(area),
            ledgers: Ledgers::NONE,
        };
        let now = c.inner.now_ns();
        if let Ok(mut o) = c.observer.try_borrow_mut() {
            match mode {
                StartMode::Fresh => {}
                StartMode::Restart => o.restart(now),
                StartMode::Restore => {
                    // SAFETY: the SaveArea contract.
                    let restored = unsafe { area.saved() }.is_some_and(|w| o.restore_state(w));
                    if !restored {
                        pd_core::pd_log!(
                            &c.inner,
                            "{}: saved protocol state unusable: observer takes its restart states",
                            c.inner.pd_name()
                        );
                        o.restart(now);
                    }
                }
            }
        }
        c.persist();
        c
    }

    /// Save the observer's state and deadline into the area, if any.
    fn persist(&self) {
        let (Some(a), Ok(o)) = (self.area, self.observer.try_borrow()) else {
            return;
        };
        // SAFETY: the SaveArea contract: `words` valid for `capacity` words.
        let words = unsafe { core::slice::from_raw_parts_mut(a.words, a.capacity) };
        let n = o.save_state(words).unwrap_or(0);
        // SAFETY: the SaveArea contract.
        unsafe {
            core::ptr::write_volatile(a.len, n as u64);
            core::ptr::write_volatile(a.deadline, o.deadline().unwrap_or(0));
        }
    }

    /// The unchecked platform (for the backend and for diagnostics only).
    pub fn raw(&self) -> &P {
        &self.inner
    }

    fn check(&self, ch: Channel, dir: Dir, kind: Kind, msg: &Message) -> Result<(), Violation> {
        let ev = Event {
            ch,
            dir,
            kind,
            msg: *msg,
        };
        let now = self.inner.now_ns();
        let r = match self.observer.try_borrow_mut() {
            Ok(mut o) => o.check(&ev, now),
            // Re-entrant use would be a bug in this layer; refuse rather than panic.
            Err(_) => Err(Violation {
                event: ev,
                port: u16::MAX,
                reason: Reason::NotAllowed,
            }),
        };
        if r.is_ok() {
            self.persist();
        }
        r
    }

    /// This PD tried to send something illegal: report and trap.
    fn own_violation(&self, v: &Violation) -> ! {
        self.log_violation("own", v);
        trap::protocol_violation(v.event.ch.index(), v.event.msg.label)
    }

    fn log_violation(&self, whose: &str, v: &Violation) {
        let p = &self.inner;
        pd_core::pd_log!(
            p,
            "{}: protocol violation ({whose}) port {} {} {:?} {:?} label {}: {}",
            p.pd_name(),
            v.port,
            v.event.ch,
            v.event.dir,
            v.event.kind,
            v.event.msg.label,
            v.reason
        );
        if let Ok(o) = self.observer.try_borrow() {
            // Our own violation is followed by a trap: a PD with a save area
            // leaves the report there for its monitor, which prints it with
            // the fault. Anything else is printed here.
            let own = whose == "own";
            if !own || self.area.is_none() {
                // One diagnostic span (SO .. SI), like every log line.
                p.debug_puts("\x0e");
                let mut w = pd_core::DebugWriter(p);
                let _ = o.report(&mut w);
                p.debug_puts("\x0f");
            }
            if let (true, Some(a)) = (own, self.area) {
                // Leave the report for the monitor too (it reads the region
                // when this PD faults).
                let mut t = RawText {
                    buf: a.report,
                    cap: a.report_capacity,
                    len: 0,
                    truncated: false,
                };
                let _ = fmt::write(
                    &mut t,
                    format_args!(
                        "{whose} violation: {:?} {:?} label {:#x} on {}: {}\n",
                        v.event.dir, v.event.kind, v.event.msg.label, v.event.ch, v.reason
                    ),
                );
                let _ = o.report(&mut t);
                let len = t.finish();
                // SAFETY: the SaveArea contract.
                unsafe { core::ptr::write_volatile(a.report_len, len as u64) };
            }
        }
    }

    /// Earliest timeout-state deadline of this PD's protocols.
    pub fn deadline(&self) -> Option<u64> {
        self.observer.try_borrow().ok().and_then(|o| o.deadline())
    }
}

impl<P: Platform, O: Observer> Platform for Checked<P, O> {
    type Device = P::Device;

    fn arch(&self) -> Arch {
        self.inner.arch()
    }
    fn pd_name(&self) -> &str {
        self.inner.pd_name()
    }
    fn notify(&self, ch: Channel) {
        if let Err(v) = self.check(ch, Dir::Out, Kind::Notify, &Message::new(0)) {
            self.own_violation(&v)
        }
        self.inner.notify(ch)
    }
    fn irq_ack(&self, ch: Channel) {
        self.inner.irq_ack(ch)
    }
    fn ppcall(&self, ch: Channel, msg: &Message) -> Message {
        if let Err(v) = self.check(ch, Dir::Out, Kind::Call, msg) {
            self.own_violation(&v)
        }
        let ledger = self.ledgers.get(ch);
        if let Some(l) = ledger {
            l.begin(self.inner.now_ns(), self.deadline().unwrap_or(0));
        }
        let mut reply = self.inner.ppcall(ch, msg);
        let mut retries = 0;
        while reply.label == LABEL_RETRY {
            // The server restarted after receiving the call and before
            // recording it: nothing was done; the same call again.
            retries += 1;
            if retries > MAX_RETRIES {
                reply = Message::new(pd_core::message::LABEL_UNSUPPORTED);
                break;
            }
            reply = self.inner.ppcall(ch, msg);
        }
        if reply.label == pd_core::message::LABEL_GONE {
            // The server is quarantined: no protocol applies any more.
            if let Some(l) = ledger {
                l.end(false);
            }
            return reply;
        }
        let checked = match self.check(ch, Dir::In, Kind::Reply, &reply) {
            Ok(()) => reply,
            Err(v) => {
                // The callee answered illegally: it is the faulty one (its own
                // observer should have trapped it first). Do not deliver.
                self.log_violation("peer", &v);
                Message::new(LABEL_PROTOCOL_REFUSED)
            }
        };
        if let Some(l) = ledger {
            l.end(!(self.ledgers.is_error)(checked.label) && checked.label < LABEL_RETRY);
        }
        checked
    }
    fn reply_pending(&self, ch: Option<Channel>, msg: &Message) {
        if let Some(ch) = ch {
            self.check_reply(ch, msg);
        }
        self.inner.reply_pending(ch, msg)
    }
    fn debug_puts(&self, s: &str) {
        self.inner.debug_puts(s)
    }
    fn now_ns(&self) -> u64 {
        self.inner.now_ns()
    }
    fn set_timeout(&self, after_ns: u64) -> Result<(), PlatformError> {
        self.inner.set_timeout(after_ns)
    }
    fn timer_channel(&self) -> Option<Channel> {
        self.inner.timer_channel()
    }
    fn region(&self, setvar: &str) -> Option<Region> {
        self.inner.region(setvar)
    }
    fn device(&self, name: &str) -> Option<Self::Device> {
        self.inner.device(name)
    }
    fn child(&self, child: ChildId, op: ChildOp) -> Result<(), PlatformError> {
        self.inner.child(child, op)
    }
    fn child_ip(&self, child: ChildId) -> Option<u64> {
        self.inner.child_ip(child)
    }
}

impl<P: Platform, O: Observer> Checked<P, O> {
    /// Check a reply this PD is about to send on `ch`; trap if illegal.
    pub fn check_reply(&self, ch: Channel, reply: &Message) {
        if let Err(v) = self.check(ch, Dir::Out, Kind::Reply, reply) {
            self.own_violation(&v)
        }
    }
}

/// A PD's handler seen through the channel layer.
pub struct CheckedHandler<P: Platform, O: Observer, H: Handler> {
    platform: Checked<P, O>,
    inner: H,
}

impl<P: Platform, O: Observer, H: Handler> CheckedHandler<P, O, H> {
    /// Wrap `inner`, checking with the observer behind `platform`.
    pub fn new(platform: Checked<P, O>, inner: H) -> Self {
        Self { platform, inner }
    }

    /// The wrapped handler.
    pub fn inner(&mut self) -> &mut H {
        &mut self.inner
    }
}

impl<P: Platform, O: Observer, H: Handler> Handler for CheckedHandler<P, O, H> {
    fn notified(&mut self, channels: ChannelSet) {
        let mut allowed = ChannelSet::EMPTY;
        for ch in channels.iter() {
            match self
                .platform
                .check(ch, Dir::In, Kind::Notify, &Message::new(0))
            {
                Ok(()) => allowed = allowed.with(ch),
                Err(v) => self.platform.log_violation("peer", &v),
            }
        }
        if !allowed.is_empty() {
            self.inner.notified(allowed)
        }
    }

    fn protected(&mut self, ch: Channel, msg: &Message) -> Message {
        if let Err(v) = self.platform.check(ch, Dir::In, Kind::Call, msg) {
            // A client broke the protocol: refuse it, leave this PD untouched.
            self.platform.log_violation("peer", &v);
            return Message::new(LABEL_PROTOCOL_REFUSED);
        }
        let reply = self.inner.protected(ch, msg);
        self.platform.check_reply(ch, &reply);
        self.inner.replying(ch, &reply);
        reply
    }

    fn fault(&mut self, child: ChildId, fault: &Fault) -> FaultAction {
        self.inner.fault(child, fault)
    }

    fn replying(&mut self, ch: Channel, reply: &Message) {
        self.inner.replying(ch, reply)
    }

    fn reply_sent(&mut self) {
        self.inner.reply_sent()
    }
}

#[cfg(test)]
mod tests;
