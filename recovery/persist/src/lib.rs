//! A driver's persistent memory region and its monitor's control page: their
//! layout, the commit protocol that keeps the region's content trustworthy
//! across faults that land anywhere, and the checks that tell a trustworthy
//! region from a torn, contaminated or stale one.
//!
//! The region is a memory region of its own (not a section of the driver's
//! image), mapped at the same address into the driver and into its monitor.
//! It survives a warm restart untouched; every other writable byte of the
//! driver is reset. The driver never works on it in place: it works on a
//! volatile copy ([`Work`]) and **commits** it (transactional persistent
//! memory, seed 003 §5.3 future work):
//!
//! ```text
//! Header     magic, layout id, sizes, static check      (written by format)
//!            done: generation of the last complete commit (self-checked word)
//!            marks: single-word progress records since that commit
//!            heartbeat, busy, deadline, report, start record (diagnostics:
//!            never trusted for a decision)
//! record 0   } generation, in-flight slot, protocol-observer state, the
//! record 1   } driver's `Persistent` state, check written last
//! ```
//!
//! A commit writes the record *not* named by `done` (shadow copy), seals it
//! with its check, then publishes it by writing `done`, then resets the marks.
//! A fault at any instant leaves either the old record named by `done` or the
//! new one complete: a torn commit is never used. A **mark** is one aligned
//! 64-bit store carrying a value, the generation it extends and its own check:
//! it records progress between commits in one instruction, right after a
//! device side effect (the serial driver marks each byte handed to the UART).
//!
//! Stray writes by the driver itself into the region (a wild pointer, a
//! corrupted index) are *contamination*: they break the check of what they
//! hit. The record named by `done`, `done` itself and the marks are verified
//! at the next commit (the volatile copy is intact, so the commit repairs the
//! region and the detection is reported) and at every start (then the region
//! is untrusted and the start is cold: an explicit error, never silently
//! skipped or repeated output).
//!
//! The **control page** is a second region, written only by the monitor and
//! mapped read-only into the driver: the epoch and the directive for the next
//! start live there, where the driver cannot forge them.
//!
//! What must never happen: a region that fails a check being used for a warm
//! restart; a torn or contaminated record mistaken for a complete one; a panic
//! on any region content (the content is input).
#![no_std]

pub mod crc;

use core::mem::size_of;
use core::ptr;
use core::sync::atomic::{compiler_fence, Ordering};

use pd_core::{Channel, Message, MSG_WORDS};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

/// Magic at the start of a formatted region.
pub const MAGIC: [u8; 8] = *b"SHPERS03";
/// Magic of a control page written by a monitor.
pub const CONTROL_MAGIC: u64 = u64::from_le_bytes(*b"SHCTRL01");

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
    h = crc::fnv1a64(h, &(core::mem::align_of::<S>() as u64).to_le_bytes());
    // The record layout around the state is part of it too.
    crc::fnv1a64(h, &(size_of::<RecordHead>() as u64).to_le_bytes())
}

/// What the next start of the driver must do. Written by the monitor.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
#[repr(u32)]
pub enum Directive {
    /// Recover from the persistent state and answer the caller it left waiting.
    Warm = 1,
    /// Discard the state, initialise from scratch, and answer the in-flight
    /// request with a "restarted" error.
    Cold = 2,
    /// Do not touch the device; answer every request with a "stopped" error.
    Tombstone = 3,
}

impl Directive {
    /// From the raw value stored in a control page.
    pub fn from_raw(v: u64) -> Option<Self> {
        match v {
            1 => Some(Self::Warm),
            2 => Some(Self::Cold),
            3 => Some(Self::Tombstone),
            _ => None,
        }
    }
}

/// Words of protocol-observer state kept in a record.
pub const OBSERVER_WORDS: usize = 32;
/// Bytes of violation report kept in the header.
pub const REPORT_BYTES: usize = 1024;
/// Progress marks in the header.
pub const MARKS: usize = 4;
/// The mark the driver uses for its own progress ([`DriverRegion::mark`]).
pub const MARK_DRIVER: usize = 0;
/// The mark the personality sets once the answered reply has been sent.
pub const MARK_DELIVERED: usize = 1;
/// The value of a mark that records nothing (reset by every commit).
pub const MARK_EMPTY: u32 = u32::MAX;

/// A message saved in a record.
#[repr(C)]
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub struct SavedMsg {
    /// Label.
    pub label: u64,
    /// Number of meaningful words.
    pub len: u64,
    /// Words.
    pub words: [u64; MSG_WORDS],
}

impl SavedMsg {
    /// Save `m`.
    pub fn of(m: &Message) -> Self {
        Self {
            label: m.label,
            len: m.len() as u64,
            words: *m.raw_words(),
        }
    }

    /// The message (a length out of range is clamped: the content is input).
    pub fn message(&self) -> Message {
        Message::from_raw(
            self.label,
            usize::try_from(self.len).unwrap_or(MSG_WORDS),
            self.words,
        )
    }
}

/// Where the request the driver last received stands.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum SlotPhase {
    /// Nothing received since the region was formatted.
    Empty,
    /// Received and saved; its handler may have run partly.
    Received,
    /// Answered: the reply is saved; it may or may not have been sent (see
    /// [`MARK_DELIVERED`]).
    Answered,
    /// Answered and the reply handed to the kernel: nobody waits for it.
    Delivered,
}

/// The request being handled (seed 000 §3.3.2: "always commit the last
/// received message") and, once answered, its reply.
#[repr(C)]
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub struct Slot {
    /// 0 empty, 1 received, 2 answered, 3 delivered.
    pub phase: u32,
    /// Channel the request arrived on.
    pub channel: u32,
    /// Requests received since the region was formatted (this one's number).
    pub seq: u64,
    /// The request.
    pub request: SavedMsg,
    /// Its reply (meaningful when answered).
    pub reply: SavedMsg,
}

impl Slot {
    /// The phase (an unknown raw phase reads as empty: it cannot come from a
    /// record that passed its check).
    pub fn phase(&self) -> SlotPhase {
        match self.phase {
            1 => SlotPhase::Received,
            2 => SlotPhase::Answered,
            3 => SlotPhase::Delivered,
            _ => SlotPhase::Empty,
        }
    }

    /// The channel, if valid.
    pub fn channel(&self) -> Option<Channel> {
        Channel::new(u8::try_from(self.channel).ok()?)
    }

    /// Record that request `msg` arrived on `ch`.
    pub fn receive(&mut self, ch: Channel, msg: &Message) {
        self.phase = 1;
        self.channel = u32::from(ch.index());
        self.seq = self.seq.wrapping_add(1);
        self.request = SavedMsg::of(msg);
        self.reply = SavedMsg::default();
    }

    /// Record the reply to the received request.
    pub fn answer(&mut self, reply: &Message) {
        self.phase = 2;
        self.reply = SavedMsg::of(reply);
    }

    /// Record that the reply was handed to the kernel.
    pub fn deliver(&mut self) {
        if self.phase == 2 {
            self.phase = 3;
        }
    }

    /// The value [`MARK_DELIVERED`] carries for this slot's reply.
    pub fn delivered_mark(&self) -> u32 {
        self.seq as u32
    }
}

/// Everything a record holds besides the driver's state.
#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Debug)]
pub struct RecordHead {
    /// Commit generation (1 for the first commit after a format).
    pub gen: u64,
    /// Handlers (requests and notifications) completed since the format.
    pub events: u64,
    /// Requests answered since the format.
    pub served: u64,
    /// The request in flight.
    pub slot: Slot,
    /// Number of meaningful words in `observer`.
    pub observer_len: u64,
    /// The driver's protocol observer state, committed with the request it
    /// belongs to, so that a warm restart resumes checking where the record
    /// left off.
    pub observer: [u64; OBSERVER_WORDS],
}

/// How the last start went, with timestamps (ns, platform clock). Diagnostic.
#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Debug, Default)]
pub struct StartRecord {
    /// Epoch the start ran in.
    pub epoch: u64,
    /// A [`StartPath`] code.
    pub path: u32,
    /// 1 if a request was replayed, re-sent or answered with an error.
    pub replayed: u32,
    /// Entry to the driver's start code (after the platform reset memory).
    pub t_entry: u64,
    /// Init or recover finished.
    pub t_ready: u64,
    /// The caller left waiting answered (equals `t_ready` if none);
    /// [`REPLAYING`] while that answer (a replayed write) is under way.
    pub t_replayed: u64,
}

/// [`StartRecord::t_replayed`] of a start whose `init` or `recover` has
/// finished and whose answer to the caller left waiting is still under way:
/// the driver is serving again (its heartbeat counts), not yet `ready`.
pub const REPLAYING: u64 = u64::MAX;

/// Region header.
#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Debug)]
pub struct Header {
    /// [`MAGIC`] once formatted.
    pub magic: [u8; 8],
    /// [`layout_id`] of the state type.
    pub layout: u64,
    /// Size of the state in bytes.
    pub state_size: u64,
    /// Bytes of one record: head, state padded to 8, check.
    pub record_size: u64,
    /// [`crc::check64`] of the four fields above.
    pub static_check: u64,
    /// Generation of the last complete commit, self-checked ([`done_word`]).
    pub done: u64,
    /// Progress marks (see [`DriverRegion::mark`]).
    pub marks: [u64; MARKS],
    /// Heartbeat: bumped by the driver whenever it makes progress. Untrusted:
    /// the monitor keeps its own last value and time.
    pub heartbeat: u64,
    /// 1 while the driver is in a handler or a start. Untrusted.
    pub busy: u64,
    /// Earliest protocol timeout-state deadline of the driver (ns), 0 for
    /// none. Untrusted (the caller's ledger holds the one that counts).
    pub deadline: u64,
    /// Length of `report`.
    pub report_len: u64,
    /// The driver's last protocol-violation report (text), for the monitor.
    pub report: [u8; REPORT_BYTES],
    /// The last start.
    pub start: StartRecord,
}

const SEED_STATIC: u64 = 0x5348_5354_4154_4943;
const SEED_RECORD: u64 = 0x5348_5245_434f_5244;
const SEED_DONE: u64 = 0x5348_444f_4e45_0000;
const SEED_MARK: u64 = 0x5348_4d41_524b_0000;
const SEED_CONTROL: u64 = 0x5348_4354_524c_0000;

const GEN_BITS: u64 = 48;
const GEN_MASK: u64 = (1 << GEN_BITS) - 1;

/// The self-checked word that names generation `gen` as complete.
pub fn done_word(gen: u64) -> u64 {
    let g = gen & GEN_MASK;
    g | (crc::check16(SEED_DONE, g, 0) << GEN_BITS)
}

/// The generation a `done` word names, if its check holds.
pub fn done_gen(word: u64) -> Option<u64> {
    let g = word & GEN_MASK;
    (word == done_word(g)).then_some(g)
}

/// The self-checked word of mark `index` carrying `value` after commit `gen`.
#[inline]
pub fn mark_word(gen: u64, index: usize, value: u32) -> u64 {
    let tag = gen & 0xffff;
    let low = u64::from(value) | (tag << 32);
    low | (crc::check16(SEED_MARK, low, index as u64) << 48)
}

/// What a mark word says, relative to the record of generation `gen`.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Mark {
    /// Nothing marked since that commit (or a mark left from the commit
    /// before it, which that commit superseded).
    None,
    /// A value marked since that commit.
    Value(u32),
    /// Neither: the word was overwritten (contamination).
    Corrupt,
}

/// Decode mark `index` relative to generation `gen`.
pub fn read_mark(word: u64, gen: u64, index: usize) -> Mark {
    let low = word & 0xffff_ffff_ffff;
    if crc::check16(SEED_MARK, low, index as u64) != word >> 48 {
        return Mark::Corrupt;
    }
    let tag = (low >> 32) & 0xffff;
    let value = low as u32;
    if tag == gen & 0xffff {
        if value == MARK_EMPTY {
            Mark::None
        } else {
            Mark::Value(value)
        }
    } else if tag == gen.wrapping_sub(1) & 0xffff {
        // Left from before the commit that folded it in (the commit had
        // published `done` but not yet reset the marks).
        Mark::None
    } else {
        Mark::Corrupt
    }
}

/// Offset of record 0 from the start of the region.
pub const RECORDS_OFFSET: usize = (size_of::<Header>() + 63) & !63;

/// Bytes of one record for a state of `state_size` bytes.
pub const fn record_size(state_size: usize) -> usize {
    size_of::<RecordHead>() + ((state_size + 7) & !7) + 8
}

const fn stride(record_size: usize) -> usize {
    (record_size + 63) & !63
}

/// Bytes a region needs for a state of `state_size` bytes.
pub const fn region_bytes(state_size: usize) -> usize {
    RECORDS_OFFSET + 2 * stride(record_size(state_size))
}

/// Why a region cannot be used.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum RegionError {
    /// The region is smaller than header plus two records.
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
    /// The static header fields do not match their check.
    HeaderCheck,
    /// Written by a build with another state layout.
    StaleLayout,
    /// State or record size out of range for the region.
    BadSize,
    /// The `done` word fails its check.
    DoneCheck,
    /// The record named by `done` fails its check (contaminated after it was
    /// committed), or carries another generation.
    RecordCheck,
    /// No commit since the format.
    NoRecord,
    /// A mark fails its check or belongs to no recent commit.
    MarkCheck,
    /// The control page fails its check (only the monitor writes it).
    ControlCheck,
}

impl Untrusted {
    /// Short name for logs.
    pub const fn name(self) -> &'static str {
        match self {
            Self::NoMagic => "no-magic",
            Self::HeaderCheck => "header-check",
            Self::StaleLayout => "stale-layout",
            Self::BadSize => "bad-size",
            Self::DoneCheck => "done-check",
            Self::RecordCheck => "record-check",
            Self::NoRecord => "no-record",
            Self::MarkCheck => "mark-check",
            Self::ControlCheck => "control-check",
        }
    }
}

/// [`StartRecord::path`] of a region no start has finished in yet (a
/// blank region's record, whose epoch 0 would otherwise pass for the first
/// boot's).
pub const NO_START: u32 = 0;

/// The path a driver start takes.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum StartPath {
    /// Initialise from scratch: first boot or an untrusted region.
    Fresh(Untrusted),
    /// Recover and answer the caller left waiting.
    Warm,
    /// Initialise from scratch as the monitor asked.
    Cold,
    /// Serve only errors.
    Tombstone,
}

impl StartPath {
    /// Numeric code for [`StartRecord::path`]; never [`NO_START`].
    pub const fn code(self) -> u32 {
        match self {
            Self::Fresh(_) => 4,
            Self::Warm => 1,
            Self::Cold => 2,
            Self::Tombstone => 3,
        }
    }

    /// Name for logs.
    pub const fn name(code: u32) -> &'static str {
        match code {
            NO_START => "none",
            4 => "fresh",
            1 => "warm",
            2 => "cold",
            3 => "tombstone",
            _ => "?",
        }
    }
}

fn check_region(base: *mut u8, size: usize, need: usize) -> Result<(), RegionError> {
    if !(base as usize).is_multiple_of(64) {
        return Err(RegionError::Misaligned);
    }
    if size < need {
        return Err(RegionError::TooSmall { need, have: size });
    }
    Ok(())
}

fn static_check(h: &Header) -> u64 {
    let b = h.as_bytes();
    crc::check64(SEED_STATIC, &b[..32]) // magic layout state_size record_size
}

/// A record found valid in a region: its generation, and where it is.
#[derive(Copy, Clone, Debug)]
struct Found {
    offset: usize,
    gen: u64,
}

/// The checks shared by the driver's load and the monitor's validation: the
/// header's static fields, `done`, the record it names, the marks. `expect`
/// is the layout id the caller requires (the monitor does not know it).
///
/// # Safety
/// `base..base+size` must be mapped and readable, `base` 64-byte aligned and
/// `size >= RECORDS_OFFSET`.
unsafe fn examine(
    base: *const u8,
    size: usize,
    expect: Option<(u64, usize)>,
) -> Result<Found, Untrusted> {
    // SAFETY: caller guarantees the header is mapped; Header is FromBytes.
    let h: Header = unsafe { ptr::read_volatile(base as *const Header) };
    if h.magic != MAGIC {
        return Err(Untrusted::NoMagic);
    }
    if h.static_check != static_check(&h) {
        return Err(Untrusted::HeaderCheck);
    }
    if let Some((layout, state_size)) = expect {
        if h.layout != layout {
            return Err(Untrusted::StaleLayout);
        }
        if h.state_size != state_size as u64 {
            return Err(Untrusted::BadSize);
        }
    }
    let state_size = usize::try_from(h.state_size).map_err(|_| Untrusted::BadSize)?;
    let rsize = record_size(state_size.min(size));
    if state_size > size
        || h.record_size != rsize as u64
        || RECORDS_OFFSET + 2 * stride(rsize) > size
    {
        return Err(Untrusted::BadSize);
    }
    let gen = done_gen(h.done).ok_or(Untrusted::DoneCheck)?;
    if gen == 0 {
        return Err(Untrusted::NoRecord);
    }
    let offset = RECORDS_OFFSET + (gen as usize & 1) * stride(rsize);
    // SAFETY: offset + rsize <= size, checked above.
    let rec = unsafe { core::slice::from_raw_parts(base.add(offset), rsize) };
    let (body, tail) = rec.split_at(rsize - 8);
    let mut c = [0u8; 8];
    c.copy_from_slice(tail);
    if crc::check64(SEED_RECORD, body) != u64::from_le_bytes(c) {
        return Err(Untrusted::RecordCheck);
    }
    let head = RecordHead::read_from_prefix(body)
        .map_err(|_| Untrusted::BadSize)?
        .0;
    if head.gen != gen {
        return Err(Untrusted::RecordCheck);
    }
    for (i, &w) in h.marks.iter().enumerate() {
        if read_mark(w, gen, i) == Mark::Corrupt {
            return Err(Untrusted::MarkCheck);
        }
    }
    Ok(Found { offset, gen })
}

/// The driver's working copy of its persistent record: what it changes
/// between commits, in its own (volatile) memory.
#[derive(Clone)]
pub struct Work<S: Persistent> {
    /// Generation, slot, counters and observer state.
    pub head: RecordHead,
    /// The driver's state.
    pub state: S,
    /// The marks valid for `head.gen` when the region was loaded.
    pub marks: [Option<u32>; MARKS],
}

impl<S: Persistent> Work<S> {
    /// A zeroed working copy (generation 0: nothing committed).
    pub fn zeroed() -> Self {
        Self {
            head: RecordHead::new_zeroed(),
            state: S::new_zeroed(),
            marks: [None; MARKS],
        }
    }
}

/// How a region loaded.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Loaded {
    /// The record named by `done` passed every check.
    Trusted,
    /// The region cannot be recovered from.
    Untrusted(Untrusted),
}

/// What a commit found when it verified the region before writing.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum CommitCheck {
    /// The region was as the last commit left it.
    Clean,
    /// Something had overwritten it since (repaired by this commit).
    Contaminated(Untrusted),
}

/// The driver's view of its region.
pub struct DriverRegion<S: Persistent> {
    base: *mut u8,
    size: usize,
    /// Generation of the last commit this incarnation made or loaded.
    gen: u64,
    _state: core::marker::PhantomData<S>,
}

impl<S: Persistent> DriverRegion<S> {
    /// The layout id of this driver's state.
    pub const LAYOUT: u64 = layout_id::<S>();
    const RECORD: usize = record_size(size_of::<S>());

    /// Take the region at `base`.
    ///
    /// # Safety
    /// `base..base+size` must be mapped read-write for the life of the program
    /// and used by no other code of this PD.
    pub unsafe fn new(base: *mut u8, size: usize) -> Result<Self, RegionError> {
        check_region(base, size, region_bytes(size_of::<S>()))?;
        Ok(Self {
            base,
            size,
            gen: 0,
            _state: core::marker::PhantomData,
        })
    }

    fn header(&self) -> *mut Header {
        self.base as *mut Header
    }

    /// Generation of the last commit.
    pub fn gen(&self) -> u64 {
        self.gen
    }

    /// Read the region into a working copy, checking everything a warm start
    /// relies on. On `Untrusted` the copy is zeroed, except that a slot whose
    /// record passed its check is kept (it tells who may be waiting).
    pub fn load(&mut self) -> (Loaded, Work<S>) {
        let mut work = Work::zeroed();
        // SAFETY: `new` checked the mapping, alignment and size.
        let found = unsafe { examine(self.base, self.size, Some((Self::LAYOUT, size_of::<S>()))) };
        let f = match found {
            Ok(f) => f,
            Err(why) => return (Loaded::Untrusted(why), work),
        };
        // SAFETY: `examine` checked that the record lies inside the region.
        let rec = unsafe { core::slice::from_raw_parts(self.base.add(f.offset), Self::RECORD) };
        let hs = size_of::<RecordHead>();
        let (Ok(head), Ok(state)) = (
            RecordHead::read_from_bytes(&rec[..hs]),
            S::read_from_bytes(&rec[hs..hs + size_of::<S>()]),
        ) else {
            return (Loaded::Untrusted(Untrusted::BadSize), work);
        };
        work.head = head;
        work.state = state;
        // SAFETY: header mapped (checked in `new`).
        let marks = unsafe { ptr::read_volatile(ptr::addr_of!((*self.header()).marks)) };
        for (i, &w) in marks.iter().enumerate() {
            work.marks[i] = match read_mark(w, f.gen, i) {
                Mark::Value(v) => Some(v),
                _ => None,
            };
        }
        self.gen = f.gen;
        (Loaded::Trusted, work)
    }

    /// The header's static fields (magic, layout, sizes and their check).
    fn write_static(&mut self) {
        let h = self.header();
        // SAFETY: header mapped read-write (checked in `new`); single
        // aligned fields.
        unsafe {
            let mut hd = ptr::read_volatile(h);
            hd.magic = MAGIC;
            hd.layout = Self::LAYOUT;
            hd.state_size = size_of::<S>() as u64;
            hd.record_size = Self::RECORD as u64;
            hd.static_check = static_check(&hd);
            ptr::write_volatile(ptr::addr_of_mut!((*h).magic), hd.magic);
            ptr::write_volatile(ptr::addr_of_mut!((*h).layout), hd.layout);
            ptr::write_volatile(ptr::addr_of_mut!((*h).state_size), hd.state_size);
            ptr::write_volatile(ptr::addr_of_mut!((*h).record_size), hd.record_size);
            ptr::write_volatile(ptr::addr_of_mut!((*h).static_check), hd.static_check);
        }
    }

    /// Write a fresh header: no record yet (generation 0). Diagnostics are
    /// kept; the next [`Self::commit`] writes generation 1.
    pub fn format(&mut self) {
        let h = self.header();
        // SAFETY: header mapped read-write (checked in `new`); the records
        // after it too.
        unsafe {
            ptr::write_bytes(self.base.add(RECORDS_OFFSET), 0, self.size - RECORDS_OFFSET);
            let mut hd = ptr::read_volatile(h);
            hd.magic = MAGIC;
            hd.layout = Self::LAYOUT;
            hd.state_size = size_of::<S>() as u64;
            hd.record_size = Self::RECORD as u64;
            hd.static_check = static_check(&hd);
            hd.done = done_word(0);
            hd.marks = [0; MARKS];
            hd.report_len = 0;
            hd.deadline = 0;
            ptr::write_volatile(h, hd);
        }
        self.gen = 0;
    }

    /// Verify what the last commit left: the header's static fields, `done`,
    /// the record it names and the marks.
    pub fn verify(&self) -> Result<(), Untrusted> {
        if self.gen == 0 {
            // Formatted, nothing committed yet: the header as `format` left it.
            // SAFETY: header mapped (checked in `new`); any bytes are a Header.
            let h: Header = unsafe { ptr::read_volatile(self.header()) };
            if h.magic != MAGIC {
                return Err(Untrusted::NoMagic);
            }
            if h.static_check != static_check(&h) {
                return Err(Untrusted::HeaderCheck);
            }
            if h.layout != Self::LAYOUT {
                return Err(Untrusted::StaleLayout);
            }
            if h.state_size != size_of::<S>() as u64 || h.record_size != Self::RECORD as u64 {
                return Err(Untrusted::BadSize);
            }
            if h.done != done_word(0) {
                return Err(Untrusted::DoneCheck);
            }
            return Ok(());
        }
        // SAFETY: `new` checked the mapping.
        let f = unsafe { examine(self.base, self.size, Some((Self::LAYOUT, size_of::<S>()))) }?;
        if f.gen != self.gen {
            return Err(Untrusted::DoneCheck);
        }
        Ok(())
    }

    /// Commit `work`: verify the region (see [`CommitCheck`]), write the
    /// shadow record with the next generation and its check, publish it in
    /// `done`, reset the marks.
    pub fn commit(&mut self, work: &mut Work<S>) -> CommitCheck {
        let check = match self.verify() {
            Ok(()) => CommitCheck::Clean,
            Err(why) => {
                // The static fields are the driver's constants: rewritten
                // with the record, so that the region is whole again.
                self.write_static();
                CommitCheck::Contaminated(why)
            }
        };
        let gen = (self.gen + 1) & GEN_MASK;
        work.head.gen = gen;
        let offset = RECORDS_OFFSET + (gen as usize & 1) * stride(Self::RECORD);
        let hs = size_of::<RecordHead>();
        let ss = size_of::<S>();
        // SAFETY: two records fit in the region (checked in `new`); the
        // shadow record is not the one `done` names, so a fault while it is
        // written leaves the current one intact.
        unsafe {
            let rec = self.base.add(offset);
            ptr::copy_nonoverlapping(work.head.as_bytes().as_ptr(), rec, hs);
            ptr::copy_nonoverlapping(work.state.as_bytes().as_ptr(), rec.add(hs), ss);
            ptr::write_bytes(rec.add(hs + ss), 0, Self::RECORD - 8 - hs - ss);
            let body = core::slice::from_raw_parts(rec, Self::RECORD - 8);
            let c = crc::check64(SEED_RECORD, body);
            compiler_fence(Ordering::SeqCst);
            ptr::write_volatile(rec.add(Self::RECORD - 8) as *mut u64, c.to_le());
            compiler_fence(Ordering::SeqCst);
            // Publish: from here on this record is the current one.
            ptr::write_volatile(ptr::addr_of_mut!((*self.header()).done), done_word(gen));
            compiler_fence(Ordering::SeqCst);
            let marks = ptr::addr_of_mut!((*self.header()).marks) as *mut u64;
            for i in 0..MARKS {
                ptr::write_volatile(marks.add(i), mark_word(gen, i, MARK_EMPTY));
            }
        }
        self.gen = gen;
        work.marks = [None; MARKS];
        check
    }

    /// The word [`Self::store_mark`] stores to mark `value` on mark `index`:
    /// computed *before* the side effect it records, so that only one store
    /// separates the two.
    #[inline]
    pub fn mark_word(&self, index: usize, value: u32) -> u64 {
        mark_word(self.gen, index, value)
    }

    /// Store a word made by [`Self::mark_word`] (one aligned 64-bit store).
    #[inline(always)]
    pub fn store_mark(&mut self, index: usize, word: u64) {
        if index < MARKS {
            // SAFETY: header mapped read-write; index in range.
            unsafe {
                let p = (ptr::addr_of_mut!((*self.header()).marks) as *mut u64).add(index);
                ptr::write_volatile(p, word);
            }
        }
    }

    /// Mark `value` on mark `index` (progress since the last commit).
    #[inline]
    pub fn mark(&mut self, index: usize, value: u32) {
        let w = self.mark_word(index, value);
        self.store_mark(index, w);
    }

    /// Bump the heartbeat the monitor's watchdog watches.
    #[inline]
    pub fn progress(&mut self) {
        // SAFETY: header mapped; volatile because the monitor reads it while
        // we run.
        unsafe {
            let p = ptr::addr_of_mut!((*self.header()).heartbeat);
            ptr::write_volatile(p, ptr::read_volatile(p).wrapping_add(1));
        }
    }

    /// Tell the watchdog whether a handler is running.
    #[inline]
    pub fn set_busy(&mut self, busy: bool) {
        // SAFETY: as in `progress`.
        unsafe { ptr::write_volatile(ptr::addr_of_mut!((*self.header()).busy), u64::from(busy)) };
    }

    /// Publish the earliest protocol timeout deadline (0 = none).
    pub fn set_deadline(&mut self, deadline: u64) {
        // SAFETY: as in `progress`.
        unsafe { ptr::write_volatile(ptr::addr_of_mut!((*self.header()).deadline), deadline) };
    }

    /// Where the channel layer publishes the observer's deadline and leaves
    /// its violation report: (deadline, report_len, report, capacity).
    pub fn diagnostics_home(&mut self) -> (*mut u64, *mut u64, *mut u8, usize) {
        let h = self.header();
        // SAFETY: field addresses of the mapped header.
        unsafe {
            (
                ptr::addr_of_mut!((*h).deadline),
                ptr::addr_of_mut!((*h).report_len),
                ptr::addr_of_mut!((*h).report) as *mut u8,
                REPORT_BYTES,
            )
        }
    }

    /// Record how this start went.
    pub fn record_start(&mut self, rec: StartRecord) {
        // SAFETY: as in `progress`.
        unsafe { ptr::write_volatile(ptr::addr_of_mut!((*self.header()).start), rec) };
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

/// What the monitor reads of a region that passed its checks.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Default)]
pub struct RecordSummary {
    /// Generation.
    pub gen: u64,
    /// Handlers completed since the format.
    pub events: u64,
    /// Requests answered since the format.
    pub served: u64,
}

/// The monitor's view of a child's region: no knowledge of the state type,
/// only the header and the records' size and checks. It never writes the
/// region: what the monitor tells the driver goes into the control page.
pub struct MonitorRegion {
    base: *mut u8,
    size: usize,
}

impl MonitorRegion {
    /// Take the region at `base`.
    ///
    /// # Safety
    /// `base..base+size` must be mapped readable for the life of the program.
    pub unsafe fn new(base: *mut u8, size: usize) -> Result<Self, RegionError> {
        check_region(base, size, RECORDS_OFFSET)?;
        Ok(Self { base, size })
    }

    fn header(&self) -> *const Header {
        self.base as *const Header
    }

    /// Check the region the way a warm start would (except the layout id,
    /// which only the driver knows). Meaningful while the child is stopped.
    pub fn validate(&self) -> Verdict {
        match self.summary() {
            Ok(_) => Verdict::Trusted,
            Err(why) => Verdict::Untrusted(why),
        }
    }

    /// The counters of the record a warm start would use.
    pub fn summary(&self) -> Result<RecordSummary, Untrusted> {
        // SAFETY: `new` checked mapping, alignment and the header's size.
        let f = unsafe { examine(self.base, self.size, None) }?;
        // SAFETY: `examine` checked that the record lies inside the region.
        let head = unsafe { ptr::read_volatile(self.base.add(f.offset) as *const RecordHead) };
        Ok(RecordSummary {
            gen: f.gen,
            events: head.events,
            served: head.served,
        })
    }

    /// Heartbeat, busy flag and published deadline, read while the child may
    /// be running. Untrusted (a torn read only delays hang detection).
    pub fn liveness(&self) -> (bool, u64, u64) {
        let h = self.header();
        // SAFETY: fields of the mapped, aligned header; any value is valid.
        unsafe {
            (
                ptr::read_volatile(ptr::addr_of!((*h).busy)) != 0,
                ptr::read_volatile(ptr::addr_of!((*h).heartbeat)),
                ptr::read_volatile(ptr::addr_of!((*h).deadline)),
            )
        }
    }

    /// The driver's last violation report, copied into `out`; returns its
    /// length (the channel layer ends a report that did not fit with a
    /// marker).
    pub fn report(&self, out: &mut [u8]) -> usize {
        let h = self.header();
        // SAFETY: as in `liveness`; the report array lies inside the header.
        unsafe {
            let len = ptr::read_volatile(ptr::addr_of!((*h).report_len));
            let n = usize::try_from(len)
                .unwrap_or(usize::MAX)
                .min(REPORT_BYTES)
                .min(out.len());
            let src = ptr::addr_of!((*h).report) as *const u8;
            for (i, o) in out.iter_mut().take(n).enumerate() {
                *o = ptr::read_volatile(src.add(i));
            }
            n
        }
    }

    /// The last start record (meaningful after the child reported ready).
    pub fn start_record(&self) -> StartRecord {
        // SAFETY: as in `liveness`.
        unsafe { ptr::read_volatile(ptr::addr_of!((*self.header()).start)) }
    }

    /// Zero the whole region (tests).
    pub fn wipe(&mut self) {
        // SAFETY: the region is mapped for `size` bytes (checked in `new`).
        unsafe { ptr::write_bytes(self.base, 0, self.size) };
    }
}

/// The monitor's control page for one child.
#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Debug, Default)]
pub struct ControlPage {
    /// [`CONTROL_MAGIC`].
    pub magic: u64,
    /// Restarts the monitor has performed (the epoch clients see).
    pub epoch: u64,
    /// A [`Directive`] for the next start.
    pub directive: u64,
    /// [`crc::check64`] of the three fields above.
    pub check: u64,
}

impl ControlPage {
    fn compute_check(&self) -> u64 {
        crc::check64(SEED_CONTROL, &self.as_bytes()[..24])
    }

    /// A sealed page.
    pub fn new(epoch: u64, directive: Directive) -> Self {
        let mut c = Self {
            magic: CONTROL_MAGIC,
            epoch,
            directive: directive as u64,
            check: 0,
        };
        c.check = c.compute_check();
        c
    }

    /// What the page tells the next start: `Ok(None)` for a page the monitor
    /// never wrote (first boot).
    pub fn decode(&self) -> Result<Option<(u64, Directive)>, Untrusted> {
        if self.magic == 0 && self.epoch == 0 && self.directive == 0 && self.check == 0 {
            return Ok(None);
        }
        if self.magic != CONTROL_MAGIC || self.check != self.compute_check() {
            return Err(Untrusted::ControlCheck);
        }
        let d = Directive::from_raw(self.directive).ok_or(Untrusted::ControlCheck)?;
        Ok(Some((self.epoch, d)))
    }
}

/// Read the control page at `base` (mapped read-only into the driver).
///
/// # Safety
/// `base..base+size_of::<ControlPage>()` must be mapped readable and 8-byte
/// aligned.
pub unsafe fn read_control(base: *const u8) -> ControlPage {
    // SAFETY: caller's contract; any bytes are a valid ControlPage.
    unsafe { ptr::read_volatile(base as *const ControlPage) }
}

/// Write the control page at `base` (the monitor, while the child is stopped).
///
/// # Safety
/// `base..base+size_of::<ControlPage>()` must be mapped writable and 8-byte
/// aligned.
pub unsafe fn write_control(base: *mut u8, page: &ControlPage) {
    // SAFETY: caller's contract.
    unsafe { ptr::write_volatile(base as *mut ControlPage, *page) }
}

#[cfg(test)]
mod tests;
