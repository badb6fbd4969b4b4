//! The call ledger: a caller's own record of the protected calls it makes to
//! a supervised server, in a memory region that the caller writes and the
//! server's monitor reads, and that is not mapped writable into the server.
//!
//! It is the monitor's evidence about the server that the server cannot
//! forge or erase, whatever it does to its own memory:
//!
//! * **busy**: a call is outstanding (`issued > completed`) since `t_issued`;
//! * **deadline**: the time by which the caller's protocol requires the
//!   answer (the caller's observer's timeout state), so that a server that
//!   keeps signalling progress but never answers is still found;
//! * **progress**: `succeeded` counts calls answered with a reply that is not
//!   an error, as the caller saw them. A restart after which it grew led to
//!   useful work; one after which it did not (a replay that faulted again, a
//!   restart that only re-sent an error) did not.
//!
//! The caller writes only while it is not inside a call (before and after),
//! so a reader sees a consistent snapshot whenever a call is outstanding.
//! Counters only grow; a reader that sees a torn update sees an older one.
//!
//! What must never happen: the server being able to write its callers'
//! ledgers (the system description maps them read-only into it, or not at
//! all, and the validator refuses anything else); a reader trusting a ledger
//! whose magic is wrong.
#![no_std]

use core::ptr;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Magic of a ledger in use.
pub const MAGIC: u64 = u64::from_le_bytes(*b"SHLEDGR1");

/// The ledger's layout in its region.
#[repr(C)]
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub struct Ledger {
    /// [`MAGIC`] once the caller has written it.
    pub magic: u64,
    /// Number of the last call issued (1 for the first).
    pub issued: u64,
    /// Number of the last call whose reply the caller received.
    pub completed: u64,
    /// Calls answered with a reply that is not an error.
    pub succeeded: u64,
    /// When the last call was issued (ns, the caller's clock).
    pub t_issued: u64,
    /// When the caller's protocol requires its answer (ns; 0 for no bound).
    pub deadline: u64,
}

impl Ledger {
    /// Whether a call is outstanding.
    pub fn busy(&self) -> bool {
        self.magic == MAGIC && self.issued > self.completed
    }

    /// Whether the caller has written this ledger.
    pub fn valid(&self) -> bool {
        self.magic == MAGIC && self.completed <= self.issued && self.succeeded <= self.completed
    }
}

/// The caller's handle: the channel layer of the calling PD.
#[derive(Copy, Clone, Debug)]
pub struct Writer {
    base: *mut Ledger,
}

impl Writer {
    /// A ledger at `base`.
    ///
    /// # Safety
    /// `base` must be 8-byte aligned, mapped read-write for the life of the
    /// program, at least `size_of::<Ledger>()` bytes, and written by nobody
    /// else.
    pub unsafe fn new(base: *mut u8) -> Self {
        let w = Self {
            base: base as *mut Ledger,
        };
        let l = w.read();
        if !l.valid() {
            w.write(Ledger {
                magic: MAGIC,
                ..Ledger::default()
            });
        }
        w
    }

    fn read(&self) -> Ledger {
        // SAFETY: `new`'s contract; any bytes are a valid Ledger.
        unsafe { ptr::read_volatile(self.base) }
    }

    fn write(&self, l: Ledger) {
        // SAFETY: `new`'s contract.
        unsafe { ptr::write_volatile(self.base, l) }
    }

    /// A call is about to be made at `now` (ns), to be answered by `deadline`
    /// (0 for no bound). Returns its number.
    pub fn begin(&self, now: u64, deadline: u64) -> u64 {
        let n = self.read().completed.wrapping_add(1);
        // SAFETY: fields of the ledger (`new`'s contract); single aligned
        // stores, the number published last so that a reader that sees it
        // sees the rest.
        unsafe {
            ptr::write_volatile(ptr::addr_of_mut!((*self.base).t_issued), now);
            ptr::write_volatile(ptr::addr_of_mut!((*self.base).deadline), deadline);
            ptr::write_volatile(ptr::addr_of_mut!((*self.base).issued), n);
        }
        n
    }

    /// The call's reply arrived; `ok` if it is not an error.
    pub fn end(&self, ok: bool) {
        let mut l = self.read();
        if ok {
            l.succeeded = l.succeeded.wrapping_add(1);
        }
        l.completed = l.issued;
        l.deadline = 0;
        self.write(l);
    }

    /// The current content.
    pub fn snapshot(&self) -> Ledger {
        self.read()
    }
}

/// A reader's handle: the monitor (and anyone with a read-only mapping).
#[derive(Copy, Clone, Debug)]
pub struct Reader {
    base: *const Ledger,
}

impl Reader {
    /// A ledger at `base`.
    ///
    /// # Safety
    /// `base` must be 8-byte aligned, mapped readable for the life of the
    /// program and at least `size_of::<Ledger>()` bytes.
    pub unsafe fn new(base: *const u8) -> Self {
        Self {
            base: base as *const Ledger,
        }
    }

    /// The current content; `None` if the caller never wrote it (or it is
    /// not a ledger).
    pub fn snapshot(&self) -> Option<Ledger> {
        // SAFETY: `new`'s contract; any bytes are a valid Ledger.
        let l = unsafe { ptr::read_volatile(self.base) };
        l.valid().then_some(l)
    }
}

/// Magic of the monitor's heartbeat page.
pub const BEAT_MAGIC: u64 = u64::from_le_bytes(*b"SHBEAT01");

/// The other direction: the monitor's heartbeat, in a page the monitor
/// writes (at every watchdog tick) and its drivers' clients read, so that a
/// client can say when its drivers run unsupervised (on seL4 a faulted
/// monitor is merely suspended by Microkit's, silently in a release build).
#[derive(Copy, Clone, Debug)]
pub struct Beat {
    base: *mut u64,
}

impl Beat {
    /// The page at `base`.
    ///
    /// # Safety
    /// `base` must be 8-byte aligned and mapped for the life of the program,
    /// at least 16 bytes; writable if [`Self::beat`] is called.
    pub unsafe fn new(base: *mut u8) -> Self {
        Self {
            base: base as *mut u64,
        }
    }

    /// The monitor: alive at `now` (ns).
    pub fn beat(&self, now: u64) {
        // SAFETY: `new`'s contract; two aligned words.
        unsafe {
            ptr::write_volatile(self.base.add(1), now);
            ptr::write_volatile(self.base, BEAT_MAGIC);
        }
    }

    /// The last beat (ns), if the monitor ever wrote one.
    pub fn last(&self) -> Option<u64> {
        // SAFETY: `new`'s contract.
        let (magic, at) = unsafe {
            (
                ptr::read_volatile(self.base),
                ptr::read_volatile(self.base.add(1)),
            )
        };
        (magic == BEAT_MAGIC).then_some(at)
    }
}

/// A reader's verdict on a heartbeat it polls: the beat must change within
/// `limit_ns` of the reader's own clock.
#[derive(Clone, Debug)]
pub struct BeatWatch {
    last: Option<u64>,
    since: u64,
    limit_ns: u64,
    told: bool,
}

impl BeatWatch {
    /// A watch that calls a beat older than `limit_ns` stale.
    pub const fn new(limit_ns: u64) -> Self {
        Self {
            last: None,
            since: 0,
            limit_ns,
            told: false,
        }
    }

    /// Look at `beat` at `now`: `Some(ms without a beat)` the first time the
    /// beat has not moved for `limit_ns` (once: the caller says it once).
    pub fn check(&mut self, beat: Option<u64>, now: u64) -> Option<u64> {
        let b = beat?;
        if self.last != Some(b) {
            self.last = Some(b);
            self.since = now;
            return None;
        }
        let quiet = now.saturating_sub(self.since);
        if quiet >= self.limit_ns && !self.told {
            self.told = true;
            return Some(quiet / 1_000_000);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[repr(C, align(8))]
    struct Mem([u8; 64]);

    #[test]
    fn a_call_is_busy_until_it_ends_and_successes_are_counted() {
        let mut m = Mem([0; 64]);
        // SAFETY: the buffer outlives the handles.
        let w = unsafe { Writer::new(m.0.as_mut_ptr()) };
        // SAFETY: as above.
        let r = unsafe { Reader::new(m.0.as_ptr()) };
        let l = r.snapshot().expect("written at creation");
        assert!(!l.busy());
        assert_eq!(w.begin(100, 3100), 1);
        let l = r.snapshot().expect("valid");
        assert!(l.busy());
        assert_eq!((l.t_issued, l.deadline), (100, 3100));
        w.end(true);
        assert_eq!(w.begin(200, 0), 2);
        w.end(false);
        let l = r.snapshot().expect("valid");
        assert!(!l.busy());
        assert_eq!((l.issued, l.completed, l.succeeded), (2, 2, 1));
    }

    #[test]
    fn garbage_is_not_a_ledger_and_a_writer_reinitialises_it() {
        let mut m = Mem([0xab; 64]);
        // SAFETY: as above.
        let r = unsafe { Reader::new(m.0.as_ptr()) };
        assert_eq!(r.snapshot(), None);
        // SAFETY: as above.
        let w = unsafe { Writer::new(m.0.as_mut_ptr()) };
        assert_eq!(w.snapshot().issued, 0);
        let mut bad = w.snapshot();
        bad.completed = bad.issued + 5;
        assert!(!bad.valid(), "completed beyond issued is not a ledger");
    }

    #[test]
    fn a_beat_that_stops_is_told_once() {
        let mut m = Mem([0; 64]);
        // SAFETY: 64 aligned bytes.
        let b = unsafe { Beat::new(m.0.as_mut_ptr()) };
        let mut w = BeatWatch::new(1000);
        assert_eq!(w.check(b.last(), 0), None, "never beaten: nothing to say");
        b.beat(5);
        assert_eq!(w.check(b.last(), 10), None);
        assert_eq!(w.check(b.last(), 900), None);
        b.beat(6);
        assert_eq!(w.check(b.last(), 950), None, "moved");
        assert_eq!(w.check(b.last(), 1949), None);
        assert_eq!(w.check(b.last(), 2_000_950), Some(2));
        assert_eq!(w.check(b.last(), 3_000_000), None, "once");
    }
}
