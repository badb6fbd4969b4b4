//! A driver's persistent memory region: its layout, and the checks that tell a
//! trustworthy region from a corrupt or stale one.
//!
//! The region is a memory region of its own (not a section of the driver's
//! image), mapped at the same address into the driver and into its monitor. It
//! survives a warm restart untouched; every other writable byte of the driver is
//! reset. Layout, front to back:
//!
//! ```text
//! Header      magic, layout id, state size, epoch, directive, crcs
//! Inflight    the request being handled (seed 000 §3.3.2), with its own crc
//! StartRecord what the last start did and when (for the monitor's log)
//! state       the driver's `Persistent` type
//! ```
//!
//! Who writes what: the driver writes everything while it runs; the monitor
//! writes only the header's epoch and directive (and wipes the state for a cold
//! start), and only while the driver is not running.
//!
//! What must never happen: a region that fails a check being used for a warm
//! restart; a panic on any region content (the content is input).
#![no_std]

pub mod crc;

use core::mem::size_of;
use core::ptr;

use pd_core::{Channel, Message, MSG_WORDS};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Magic at the start of a formatted region.
pub const MAGIC: [u8; 8] = *b"SHPERS01";

/// Driver state that lives in the persistent region.
///
/// # Safety
/// The type must be plain data whose every bit pattern is valid (ensured by
/// the zerocopy bounds) and must not hold pointers to non-persistent memory.
pub unsafe trait Persistent: FromBytes + IntoBytes + KnownLayout + Immutable {
    /// Name of the state type, part of its layout id.
    const NAME: &'static str;
    /// Bump whenever the meaning of a field changes without its size changing.
    const VERSION: u32;
}

/// The layout id of `S`: a hash of its name, version, size and alignment. A
/// region written by a build with a different layout is stale.
pub const fn layout_id<S: Persistent>() -> u64 {
    let mut h = crc::fnv1a64(0xcbf2_9ce4_8422_2325, S::NAME.as_bytes());
    h = crc::fnv1a64(h, &S::VERSION.to_le_bytes());
    h = crc::fnv1a64(h, &(size_of::<S>() as u64).to_le_bytes());
    crc::fnv1a64(h, &(core::mem::align_of::<S>() as u64).to_le_bytes())
}

/// What the next start of the driver must do. Written by the monitor.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
#[repr(u32)]
pub enum Directive {
    /// Recover from the persistent state and replay the in-flight request.
    Warm = 1,
    /// Discard the state, initialise from scratch, and answer the in-flight
    /// request with a "restarted" error.
    Cold = 2,
    /// Do not touch the device; answer every request with a "stopped" error.
    Tombstone = 3,
}

impl Directive {
    fn from_raw(v: u32) -> Option<Self> {
        match v {
            1 => Some(Self::Warm),
            2 => Some(Self::Cold),
            3 => Some(Self::Tombstone),
            _ => None,
        }
    }
}

/// Words of protocol-observer state kept in the header.
pub const OBSERVER_WORDS: usize = 32;
/// Bytes of violation report kept in the header.
pub const REPORT_BYTES: usize = 1024;

/// No handler is running: the state is consistent and sealed by `state_crc`.
pub const PHASE_IDLE: u32 = 0;
/// A handler (request, notification or start) is running; the state may be
/// mid-update.
pub const PHASE_BUSY: u32 = 1;

/// The request being handled, saved before its handler runs.
#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Debug, Default)]
pub struct Inflight {
    /// 1 while a request is in flight.
    pub valid: u32,
    /// Channel it arrived on.
    pub channel: u32,
    /// Number of requests received since the region was formatted.
    pub seq: u64,
    /// Message label.
    pub label: u64,
    /// Number of meaningful words.
    pub len: u64,
    /// Message words.
    pub words: [u64; MSG_WORDS],
    /// crc32 of all fields above.
    pub crc: u32,
    /// Padding.
    pub _pad: u32,
}

impl Inflight {
    fn compute_crc(&self) -> u32 {
        let bytes = self.as_bytes();
        crc::crc32(&bytes[..bytes.len() - 8])
    }

    /// The saved message, if the slot is valid and intact.
    pub fn message(&self) -> Option<(Channel, Message)> {
        if self.valid != 1 || self.crc != self.compute_crc() {
            return None;
        }
        let ch = Channel::new(u8::try_from(self.channel).ok()?)?;
        Some((
            ch,
            Message::from_raw(self.label, self.len as usize, self.words),
        ))
    }
}

/// How the last start went, with timestamps (ns, platform clock).
#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Debug, Default)]
pub struct StartRecord {
    /// Epoch the start ran in.
    pub epoch: u64,
    /// A [`StartPath`] code.
    pub path: u32,
    /// 1 if a request was replayed (warm) or answered with an error (cold/tombstone).
    pub replayed: u32,
    /// Entry to the driver's start code (after the platform reset memory).
    pub t_entry: u64,
    /// Init or recover finished.
    pub t_ready: u64,
    /// In-flight request replayed and answered (equals `t_ready` if none).
    pub t_replayed: u64,
}

/// Region header.
#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Debug)]
pub struct Header {
    /// [`MAGIC`] once formatted.
    pub magic: [u8; 8],
    /// [`layout_id`] of the state type; 0 after a monitor wipe.
    pub layout: u64,
    /// Size of the state in bytes.
    pub state_size: u64,
    /// Incremented by the monitor at every restart.
    pub epoch: u64,
    /// A [`Directive`] for the next start.
    pub directive: u32,
    /// crc32 of magic..directive.
    pub header_crc: u32,
    /// [`PHASE_IDLE`] or [`PHASE_BUSY`].
    pub phase: u32,
    /// crc32 of the state at the last idle point (meaningful when idle).
    pub state_crc: u32,
    /// Heartbeat: bumped by the driver whenever it makes progress (watchdog input).
    pub progress: u64,
    /// Earliest protocol timeout-state deadline of the driver (ns), 0 for none.
    pub deadline: u64,
    /// Requests answered since the region was formatted (the monitor's measure
    /// of whether a restart led to useful work).
    pub served: u64,
    /// Number of meaningful words in `observer`.
    pub observer_len: u64,
    /// The driver's protocol observer state, saved after every transition so
    /// that a warm restart resumes checking where the last incarnation was.
    pub observer: [u64; OBSERVER_WORDS],
    /// Length of `report`.
    pub report_len: u64,
    /// The driver's last protocol-violation report (text), for the monitor.
    pub report: [u8; REPORT_BYTES],
    /// The request in flight.
    pub inflight: Inflight,
    /// The last start.
    pub start: StartRecord,
}

impl Header {
    fn compute_header_crc(&self) -> u32 {
        let b = self.as_bytes();
        crc::crc32(&b[..36]) // magic(8) layout(8) state_size(8) epoch(8) directive(4)
    }

    fn seal(&mut self) {
        self.header_crc = self.compute_header_crc();
    }

    fn intact(&self) -> bool {
        self.magic == MAGIC && self.header_crc == self.compute_header_crc()
    }
}

/// Pointers into a driver's header for the channel layer: where the protocol
/// observer saves its state, publishes its deadline and leaves its violation
/// report. Raw, because the channel layer writes them from inside checks.
#[derive(Copy, Clone, Debug)]
pub struct ObserverHome {
    /// Saved word count.
    pub len: *mut u64,
    /// [`OBSERVER_WORDS`] words.
    pub words: *mut u64,
    /// Earliest timeout-state deadline (ns), 0 for none.
    pub deadline: *mut u64,
    /// Report length.
    pub report_len: *mut u64,
    /// [`REPORT_BYTES`] bytes.
    pub report: *mut u8,
}

/// Offset of the state from the start of the region.
pub const STATE_OFFSET: usize = (size_of::<Header>() + 63) & !63;

/// Why a region cannot be used.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum RegionError {
    /// The region is smaller than header plus state.
    TooSmall {
        /// Bytes needed.
        need: usize,
        /// Bytes mapped.
        have: usize,
    },
    /// The region is not 64-byte aligned.
    Misaligned,
}

/// Why a start must not recover from the region.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Untrusted {
    /// Never formatted (first boot) or magic overwritten.
    NoMagic,
    /// Header fields do not match their crc.
    HeaderCrc,
    /// Written by a build with another state layout.
    StaleLayout,
    /// State size out of range for the region.
    BadSize,
    /// In-flight slot marked valid but does not match its crc.
    InflightCrc,
    /// Idle state does not match its crc (a wild write hit it between requests).
    StateCrc,
    /// Directive field holds no known directive.
    BadDirective,
}

impl Untrusted {
    /// Short name for logs.
    pub const fn name(self) -> &'static str {
        match self {
            Self::NoMagic => "no-magic",
            Self::HeaderCrc => "header-crc",
            Self::StaleLayout => "stale-layout",
            Self::BadSize => "bad-size",
            Self::InflightCrc => "inflight-crc",
            Self::StateCrc => "state-crc",
            Self::BadDirective => "bad-directive",
        }
    }
}

/// The path a driver start takes, decided from the region.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum StartPath {
    /// Initialise from scratch: first boot or an untrusted region.
    Fresh(Untrusted),
    /// Recover and replay.
    Warm,
    /// Initialise from scratch as the monitor asked.
    Cold,
    /// Serve only errors.
    Tombstone,
}

impl StartPath {
    /// Numeric code for [`StartRecord::path`].
    pub const fn code(self) -> u32 {
        match self {
            Self::Fresh(_) => 0,
            Self::Warm => 1,
            Self::Cold => 2,
            Self::Tombstone => 3,
        }
    }

    /// Name for logs.
    pub const fn name(code: u32) -> &'static str {
        match code {
            0 => "fresh",
            1 => "warm",
            2 => "cold",
            3 => "tombstone",
            _ => "?",
        }
    }
}

fn check_region(base: *mut u8, size: usize, state_size: usize) -> Result<(), RegionError> {
    if !(base as usize).is_multiple_of(64) {
        return Err(RegionError::Misaligned);
    }
    let need = STATE_OFFSET + state_size;
    if size < need {
        return Err(RegionError::TooSmall { need, have: size });
    }
    Ok(())
}

/// The driver's view of its region: typed state plus the header it maintains.
pub struct DriverRegion<S: Persistent> {
    base: *mut u8,
    _state: core::marker::PhantomData<S>,
}

impl<S: Persistent> DriverRegion<S> {
    /// The layout id of this driver's state.
    pub const LAYOUT: u64 = layout_id::<S>();

    /// Take the region at `base`.
    ///
    /// # Safety
    /// `base..base+size` must be mapped read-write for the life of the program
    /// and used by no other code of this PD.
    pub unsafe fn new(base: *mut u8, size: usize) -> Result<Self, RegionError> {
        check_region(base, size, size_of::<S>())?;
        Ok(Self {
            base,
            _state: core::marker::PhantomData,
        })
    }

    /// The header.
    pub fn header(&self) -> &Header {
        // SAFETY: checked in `new`: mapped, aligned, large enough; Header is FromBytes.
        unsafe { &*(self.base as *const Header) }
    }

    fn header_mut(&mut self) -> &mut Header {
        // SAFETY: as in `header`; `&mut self` gives exclusive access in this PD.
        unsafe { &mut *(self.base as *mut Header) }
    }

    /// The state.
    pub fn state(&mut self) -> &mut S {
        // SAFETY: region checked in `new` to hold STATE_OFFSET + size_of::<S>()
        // bytes at 64-byte alignment; S is FromBytes so any content is valid.
        unsafe { &mut *(self.base.add(STATE_OFFSET) as *mut S) }
    }

    fn state_bytes(&self) -> &[u8] {
        // SAFETY: as in `state`.
        unsafe { core::slice::from_raw_parts(self.base.add(STATE_OFFSET), size_of::<S>()) }
    }

    /// Decide how to start from what the region holds.
    pub fn classify(&self) -> StartPath {
        let h = self.header();
        if h.magic != MAGIC {
            return StartPath::Fresh(Untrusted::NoMagic);
        }
        if !h.intact() {
            return StartPath::Fresh(Untrusted::HeaderCrc);
        }
        match Directive::from_raw(h.directive) {
            None => StartPath::Fresh(Untrusted::BadDirective),
            Some(Directive::Cold) => StartPath::Cold,
            Some(Directive::Tombstone) => StartPath::Tombstone,
            Some(Directive::Warm) => {
                if h.layout != Self::LAYOUT {
                    return StartPath::Fresh(Untrusted::StaleLayout);
                }
                if h.state_size != size_of::<S>() as u64 {
                    return StartPath::Fresh(Untrusted::BadSize);
                }
                if h.inflight.valid != 0 && h.inflight.message().is_none() {
                    return StartPath::Fresh(Untrusted::InflightCrc);
                }
                if h.phase == PHASE_IDLE && h.state_crc != crc::crc32(self.state_bytes()) {
                    return StartPath::Fresh(Untrusted::StateCrc);
                }
                StartPath::Warm
            }
        }
    }

    /// The request that was in flight, if any and intact.
    pub fn inflight(&self) -> Option<(Channel, Message)> {
        self.header().inflight.message()
    }

    /// Current epoch.
    pub fn epoch(&self) -> u64 {
        self.header().epoch
    }

    /// Zero the state and write a fresh header (keeping the epoch if the header
    /// was intact, so clients see epochs only grow). An intact in-flight slot
    /// is kept: its caller must still be answered (with an error) even if the
    /// start faults before it is, so only [`Self::retire_inflight`] clears it.
    /// The directive is Cold until [`Self::arm_warm`].
    pub fn format(&mut self) {
        let epoch = if self.header().intact() {
            self.header().epoch
        } else {
            0
        };
        // SAFETY: as in `state`; writing zeros is valid for a FromBytes type.
        unsafe { ptr::write_bytes(self.base.add(STATE_OFFSET), 0, size_of::<S>()) };
        let state_crc = crc::crc32(self.state_bytes());
        let h = self.header_mut();
        h.magic = MAGIC;
        h.layout = Self::LAYOUT;
        h.state_size = size_of::<S>() as u64;
        h.epoch = epoch;
        // Stays Cold until `arm_warm`: a fault before the start completes
        // must not warm-start from a half-initialised state.
        h.directive = Directive::Cold as u32;
        h.phase = PHASE_IDLE;
        h.state_crc = state_crc;
        if h.inflight.message().is_none() {
            h.inflight = Inflight::default();
        }
        h.observer_len = 0;
        h.report_len = 0;
        h.deadline = 0;
        h.seal();
    }

    /// Mark the region as serving normally again (after init, recover or the
    /// monitor's cold/tombstone directive has been acted on).
    pub fn arm_warm(&mut self) {
        let h = self.header_mut();
        h.directive = Directive::Warm as u32;
        h.seal();
    }

    /// Save the request about to be handled (seed 000: "always commit the last
    /// received message").
    pub fn begin_request(&mut self, ch: Channel, msg: &Message) {
        let h = self.header_mut();
        let seq = h.inflight.seq.wrapping_add(1);
        let mut slot = Inflight {
            valid: 1,
            channel: ch.index() as u32,
            seq,
            label: msg.label,
            len: msg.len() as u64,
            words: *msg.raw_words(),
            crc: 0,
            _pad: 0,
        };
        slot.crc = slot.compute_crc();
        h.phase = PHASE_BUSY;
        h.inflight = slot;
    }

    /// A handler without a request to save (a notification) begins. Any event
    /// means the previous request's reply has been delivered, so its in-flight
    /// slot is retired here (not in `end_request`: a fault between the end of
    /// the handler and the delivery of the reply must still replay it).
    pub fn begin_busy(&mut self) {
        let h = self.header_mut();
        if h.inflight.valid != 0 {
            h.inflight.valid = 0;
            h.inflight.crc = h.inflight.compute_crc();
        }
        h.phase = PHASE_BUSY;
    }

    /// The in-flight request has been answered (by a start, with an error):
    /// forget it.
    pub fn retire_inflight(&mut self) {
        let h = self.header_mut();
        h.inflight = Inflight::default();
    }

    /// Mark the region busy without retiring the in-flight request (a start,
    /// which may have to replay it).
    pub fn begin_start(&mut self) {
        self.header_mut().phase = PHASE_BUSY;
    }

    /// Bump the heartbeat the monitor's watchdog watches.
    #[inline]
    pub fn progress(&mut self) {
        let h = self.header_mut();
        // Volatile: the monitor reads it from another PD while we run.
        // SAFETY: `h.progress` is a valid, aligned field of the mapped header.
        unsafe {
            let p = ptr::addr_of_mut!(h.progress);
            ptr::write_volatile(p, ptr::read_volatile(p).wrapping_add(1));
        }
    }

    /// Publish the earliest protocol timeout deadline (0 = none).
    pub fn set_deadline(&mut self, deadline: u64) {
        let h = self.header_mut();
        // SAFETY: as in `progress`.
        unsafe { ptr::write_volatile(ptr::addr_of_mut!(h.deadline), deadline) };
    }

    /// The handler is done: seal the state. The in-flight slot stays valid
    /// until the next event (see [`Self::begin_busy`]): replaying an answered
    /// request is harmless for an idempotent driver, losing an unanswered one
    /// is not. `answered` counts a served request.
    pub fn end_request(&mut self, answered: bool) {
        let state_crc = crc::crc32(self.state_bytes());
        let h = self.header_mut();
        if answered {
            // SAFETY: field of the mapped header; volatile because the
            // monitor reads it while we run.
            unsafe {
                let p = ptr::addr_of_mut!(h.served);
                ptr::write_volatile(p, ptr::read_volatile(p).wrapping_add(1));
            }
        }
        h.state_crc = state_crc;
        h.phase = PHASE_IDLE;
    }

    /// Where the channel layer keeps the protocol observer's state.
    pub fn observer_home(&mut self) -> ObserverHome {
        let h = self.header_mut();
        ObserverHome {
            len: ptr::addr_of_mut!(h.observer_len),
            words: ptr::addr_of_mut!(h.observer) as *mut u64,
            deadline: ptr::addr_of_mut!(h.deadline),
            report_len: ptr::addr_of_mut!(h.report_len),
            report: ptr::addr_of_mut!(h.report) as *mut u8,
        }
    }

    /// Record how this start went.
    pub fn record_start(&mut self, rec: StartRecord) {
        self.header_mut().start = rec;
    }
}

/// Result of the monitor's check of a child's region.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Verdict {
    /// Usable for a warm restart.
    Trusted,
    /// Must not be recovered from.
    Untrusted(Untrusted),
}

/// The monitor's view of a child's region: no knowledge of the state type,
/// only the header and the state's size and crc.
///
/// Every method must be called only while the child is not running.
pub struct MonitorRegion {
    base: *mut u8,
    size: usize,
}

impl MonitorRegion {
    /// Take the region at `base`.
    ///
    /// # Safety
    /// `base..base+size` must be mapped read-write for the life of the program.
    pub unsafe fn new(base: *mut u8, size: usize) -> Result<Self, RegionError> {
        check_region(base, size, 0)?;
        Ok(Self { base, size })
    }

    /// A copy of the header (volatile: another PD writes it).
    pub fn header(&self) -> Header {
        // SAFETY: checked in `new`; Header is FromBytes so any content is valid.
        unsafe { ptr::read_volatile(self.base as *const Header) }
    }

    fn write_header(&mut self, h: &Header) {
        // SAFETY: as in `header`.
        unsafe { ptr::write_volatile(self.base as *mut Header, *h) }
    }

    fn state_len(&self, h: &Header) -> Option<usize> {
        let n = usize::try_from(h.state_size).ok()?;
        (STATE_OFFSET.checked_add(n)? <= self.size).then_some(n)
    }

    fn state_crc(&self, len: usize) -> u32 {
        // SAFETY: `len` validated by `state_len` to lie inside the region.
        let s = unsafe { core::slice::from_raw_parts(self.base.add(STATE_OFFSET), len) };
        crc::crc32(s)
    }

    /// Check the region the way a warm start would (except the layout id,
    /// which only the driver knows).
    pub fn validate(&self) -> Verdict {
        let h = self.header();
        if h.magic != MAGIC {
            return Verdict::Untrusted(Untrusted::NoMagic);
        }
        if !h.intact() {
            return Verdict::Untrusted(Untrusted::HeaderCrc);
        }
        if Directive::from_raw(h.directive).is_none() {
            return Verdict::Untrusted(Untrusted::BadDirective);
        }
        let Some(len) = self.state_len(&h) else {
            return Verdict::Untrusted(Untrusted::BadSize);
        };
        if h.inflight.valid != 0 && h.inflight.message().is_none() {
            return Verdict::Untrusted(Untrusted::InflightCrc);
        }
        if h.phase == PHASE_IDLE && h.state_crc != self.state_crc(len) {
            return Verdict::Untrusted(Untrusted::StateCrc);
        }
        Verdict::Trusted
    }

    /// Epoch the region carries (0 if the header is not intact).
    pub fn epoch(&self) -> u64 {
        let h = self.header();
        if h.intact() {
            h.epoch
        } else {
            0
        }
    }

    /// Heartbeat and busy flag, read while the child may be running (a torn
    /// read only delays hang detection by one tick).
    pub fn liveness(&self) -> (bool, u64) {
        let h = self.base as *const Header;
        // SAFETY: fields of the mapped, aligned header; any value is valid.
        unsafe {
            (
                ptr::read_volatile(ptr::addr_of!((*h).phase)) != PHASE_IDLE,
                ptr::read_volatile(ptr::addr_of!((*h).progress)),
            )
        }
    }

    /// The driver's last violation report, copied into `out`; returns its length.
    pub fn report(&self, out: &mut [u8]) -> usize {
        let h = self.header();
        let n = (h.report_len as usize).min(REPORT_BYTES).min(out.len());
        out[..n].copy_from_slice(&h.report[..n]);
        n
    }

    /// Requests the driver has answered since its region was formatted.
    pub fn served(&self) -> u64 {
        let h = self.base as *const Header;
        // SAFETY: as in `liveness`.
        unsafe { ptr::read_volatile(ptr::addr_of!((*h).served)) }
    }

    /// The driver's published protocol deadline (0 = none), read while it runs.
    pub fn deadline(&self) -> u64 {
        let h = self.base as *const Header;
        // SAFETY: as in `liveness`.
        unsafe { ptr::read_volatile(ptr::addr_of!((*h).deadline)) }
    }

    /// The last start record (meaningful after the child reported ready).
    pub fn start_record(&self) -> StartRecord {
        self.header().start
    }

    /// Prepare a warm restart at `epoch`.
    pub fn prepare_warm(&mut self, epoch: u64) {
        let mut h = self.header();
        h.epoch = epoch;
        h.directive = Directive::Warm as u32;
        h.seal();
        self.write_header(&h);
    }

    /// Prepare a cold start at `epoch`: wipe the state, keep an intact
    /// in-flight slot if the driver was busy (in a handler or a start) when
    /// it faulted, so that its blocked caller gets an explicit error through
    /// the driver's observer; drop anything else. An idle driver's slot holds
    /// a request already answered: answering it again would move the
    /// observer as if a caller had been waiting.
    pub fn prepare_cold(&mut self, epoch: u64) {
        self.prepare_reset(epoch, Directive::Cold);
    }

    /// Prepare a tombstone start at `epoch` (the driver only answers errors).
    pub fn prepare_tombstone(&mut self, epoch: u64) {
        self.prepare_reset(epoch, Directive::Tombstone);
    }

    fn prepare_reset(&mut self, epoch: u64, d: Directive) {
        let old = self.header();
        let inflight = match old.inflight.message() {
            Some(_) if old.phase != PHASE_IDLE => old.inflight,
            _ => Inflight::default(),
        };
        // Wipe everything after the header: the state may be what failed.
        // SAFETY: STATE_OFFSET <= size checked in `new`.
        unsafe { ptr::write_bytes(self.base.add(STATE_OFFSET), 0, self.size - STATE_OFFSET) };
        let mut h = Header::new_zeroed_header();
        h.magic = MAGIC;
        h.epoch = epoch;
        h.directive = d as u32;
        h.inflight = inflight;
        h.seal();
        self.write_header(&h);
    }

    /// Zero the whole region (not even a header is left).
    pub fn wipe(&mut self) {
        // SAFETY: the region is mapped for `size` bytes (checked in `new`).
        unsafe { ptr::write_bytes(self.base, 0, self.size) };
    }
}

impl Header {
    fn new_zeroed_header() -> Self {
        <Self as zerocopy::FromZeros>::new_zeroed()
    }
}

#[cfg(test)]
mod tests;
