//! Fault injection controlled from outside the driver.
//!
//! A *plan* lives in a memory region written by whoever controls the
//! experiment (the test harness on the hosted runtime; a prefilled region,
//! generated from a seed, on seL4). It has two lanes, each firing its entries
//! strictly in order:
//!
//! * the **driver lane**: the driver calls [`Plan::hit`] at its injection
//!   sites (the plan counts the visits of each site itself, in the region,
//!   so the count survives restarts, cold ones too) or [`Plan::due`] (a
//!   site with a counter of its own: the epoch at a start), in every entry
//!   point: start, `init`, `recover`, the IRQ path for TX and RX,
//!   `protected`, a replay, between two bytes, right after a device side
//!   effect;
//! * the **monitor lane** ([`Site::Monitor`]): the monitor's own timer fires
//!   entries at instants the driver does not choose (an asynchronous stop of
//!   the driver, or a stray write into its region while it runs).
//!
//! When an entry fires it is marked fired (with a timestamp, for the fault
//! delivery latency and for the campaign's accounting) before the fault
//! happens, so it never fires twice. Kinds: wild write, null read, panic,
//! infinite loop, corrupted region header, wild jump (a corrupted pc), an
//! untrapped scribble into the driver's own persistent region, an illegal
//! reply, a livelock, an asynchronous stop.
//!
//! The plan holds as many entries as its region has room for
//! ([`capacity`]); [`encode`] refuses more, never drops them. An all-zero
//! region is an empty plan: production images map it and inject nothing.
//!
//! What must never happen: a fault that fires twice, a plan silently cut
//! short, or an injection site that costs more than a few loads when the
//! plan is empty.
#![no_std]

use core::ptr;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Magic of a plan region ("PLN2").
pub const PLAN_MAGIC: u32 = 0x324e_4c50;

/// An injected fault.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum Kind {
    /// Store to an unmapped address.
    WildWrite = 1,
    /// Load from address 0.
    NullRead = 2,
    /// `panic!` (aborts: a breakpoint on aarch64, `ud2` on x86_64).
    Panic = 3,
    /// Spin forever (found by the monitor's watchdog).
    Loop = 4,
    /// Flip a byte of the persistent region's header, then wild-write.
    CorruptRegion = 5,
    /// Not a crash: the driver answers the request in flight with a reply its
    /// protocol does not allow (its own observer must catch it).
    IllegalReply = 6,
    /// Not a crash: the driver keeps signalling progress but never finishes
    /// the request (the watchdog is fooled; a protocol timeout is not).
    Livelock = 7,
    /// Not a trap: a stray write of a pseudo-random word at a pseudo-random
    /// place of the driver's own persistent region (from the entry's `arg`),
    /// after which the driver carries on.
    Scribble = 8,
    /// Jump to an unmapped address (a corrupted program counter).
    WildJump = 9,
    /// Monitor lane: stop the driver asynchronously, wherever it is, and
    /// handle that like a fault.
    Suspend = 10,
}

impl Kind {
    /// All kinds, in numeric order.
    pub const ALL: [Kind; 10] = [
        Kind::WildWrite,
        Kind::NullRead,
        Kind::Panic,
        Kind::Loop,
        Kind::CorruptRegion,
        Kind::IllegalReply,
        Kind::Livelock,
        Kind::Scribble,
        Kind::WildJump,
        Kind::Suspend,
    ];

    /// From the raw value stored in a plan.
    pub fn from_raw(v: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|k| *k as u16 == v)
    }

    /// Name for logs and plans.
    pub const fn name(self) -> &'static str {
        match self {
            Self::WildWrite => "wild-write",
            Self::NullRead => "null-read",
            Self::Panic => "panic",
            Self::Loop => "loop",
            Self::CorruptRegion => "corrupt-region",
            Self::IllegalReply => "illegal-reply",
            Self::Livelock => "livelock",
            Self::Scribble => "scribble",
            Self::WildJump => "wild-jump",
            Self::Suspend => "suspend",
        }
    }

    /// Parse a name as produced by [`Kind::name`].
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// Where in the driver an entry fires.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum Site {
    /// Between bytes of a write (counted visits: bytes about to be sent,
    /// a byte sent again after a restart counted again).
    Bytes = 0,
    /// At the start of `init`/`recover`; the counter is the epoch.
    Start = 1,
    /// In `init` (counted visits, here and below).
    Init = 2,
    /// In `recover`.
    Recover = 3,
    /// In the IRQ path, while TX drains (the first interrupt after a write).
    NotifyTx = 4,
    /// In the IRQ path, while RX arrives (before each byte is taken).
    NotifyRx = 5,
    /// At the entry of a protected call.
    Protected = 6,
    /// At the entry of a replayed request.
    Replay = 7,
    /// Right after a byte was handed to the UART, before its progress mark
    /// (the one window a UART cannot make exactly-once; only in builds with
    /// the driver's `fault-window` feature).
    AfterPut = 8,
    /// A request arrived and is not recorded yet (right after the kernel
    /// call returned).
    Receive = 9,
    /// Block driver: in the device interrupt path, before the completions
    /// are collected.
    BlkIrq = 10,
    /// Block driver: right after a transfer was handed to the device (the
    /// device is doing its DMA).
    BlkSubmit = 11,
    /// Block driver: on a notification from the client, before new
    /// requests are taken.
    BlkRequest = 12,
    /// The monitor's lane: `at` is a delay in microseconds after the previous
    /// monitor entry fired (or after the monitor started).
    Monitor = 15,
}

impl Site {
    /// All sites.
    pub const ALL: [Site; 14] = [
        Site::Bytes,
        Site::Start,
        Site::Init,
        Site::Recover,
        Site::NotifyTx,
        Site::NotifyRx,
        Site::Protected,
        Site::Replay,
        Site::AfterPut,
        Site::Receive,
        Site::BlkIrq,
        Site::BlkSubmit,
        Site::BlkRequest,
        Site::Monitor,
    ];

    /// From the raw value stored in a plan.
    pub fn from_raw(v: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|s| *s as u16 == v)
    }

    /// Name for logs and plans.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Bytes => "bytes",
            Self::Start => "start",
            Self::Init => "init",
            Self::Recover => "recover",
            Self::NotifyTx => "notify-tx",
            Self::NotifyRx => "notify-rx",
            Self::Protected => "protected",
            Self::Replay => "replay",
            Self::AfterPut => "after-put",
            Self::Receive => "receive",
            Self::BlkIrq => "blk-irq",
            Self::BlkSubmit => "blk-submit",
            Self::BlkRequest => "blk-request",
            Self::Monitor => "monitor",
        }
    }

    /// The lane the site's entries fire in.
    pub const fn lane(self) -> usize {
        match self {
            Self::Monitor => 1,
            _ => 0,
        }
    }
}

/// Plan header.
#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Debug, Default)]
pub struct PlanHeader {
    /// [`PLAN_MAGIC`] if the region holds a plan.
    pub magic: u32,
    /// Number of entries.
    pub count: u32,
    /// Index of the next entry to fire, per lane (driver, monitor).
    pub next: [u32; 2],
    /// Visits of each counted site so far.
    pub hits: [u32; 16],
}

/// One planned fault.
#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Debug, Default)]
pub struct Entry {
    /// Fire when the site's counter reaches this value.
    pub at: u64,
    /// Kind-specific argument (a scribble's place and value).
    pub arg: u64,
    /// A [`Kind`].
    pub kind: u16,
    /// A [`Site`].
    pub site: u16,
    /// 1 once fired.
    pub fired: u32,
    /// Platform time when it fired (ns).
    pub t_fired: u64,
}

/// Bytes of the plan header.
pub const HEADER_BYTES: usize = core::mem::size_of::<PlanHeader>();
/// Bytes of one entry.
pub const ENTRY_BYTES: usize = core::mem::size_of::<Entry>();

/// Entries a plan region of `bytes` holds.
pub const fn capacity(bytes: usize) -> usize {
    bytes.saturating_sub(HEADER_BYTES) / ENTRY_BYTES
}

/// Bytes a plan of `entries` entries needs.
pub const fn bytes_for(entries: usize) -> usize {
    HEADER_BYTES + entries * ENTRY_BYTES
}

/// A fault to plan.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct Planned {
    /// Where.
    pub site: Site,
    /// When (the site's counter).
    pub at: u64,
    /// What.
    pub kind: Kind,
    /// Kind-specific argument.
    pub arg: u64,
}

impl Planned {
    /// An entry without argument.
    pub const fn new(site: Site, at: u64, kind: Kind) -> Self {
        Self {
            site,
            at,
            kind,
            arg: 0,
        }
    }
}

/// Why a plan cannot be written.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum PlanError {
    /// More entries than the region holds.
    TooMany {
        /// Entries asked for.
        entries: usize,
        /// Entries that fit.
        capacity: usize,
    },
}

impl core::fmt::Display for PlanError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::TooMany { entries, capacity } => write!(
                f,
                "a plan of {entries} faults does not fit: the plan region holds {capacity} (make the region larger)"
            ),
        }
    }
}

/// Serialise a plan into `out` (its whole length is the region); returns the
/// bytes used. Entries fire in the given order within their lane.
pub fn encode(entries: &[Planned], out: &mut [u8]) -> Result<usize, PlanError> {
    let cap = capacity(out.len());
    if entries.len() > cap || entries.len() > u32::MAX as usize {
        return Err(PlanError::TooMany {
            entries: entries.len(),
            capacity: cap,
        });
    }
    let h = PlanHeader {
        magic: PLAN_MAGIC,
        count: entries.len() as u32,
        ..PlanHeader::default()
    };
    out[..HEADER_BYTES].copy_from_slice(h.as_bytes());
    for (i, p) in entries.iter().enumerate() {
        let e = Entry {
            at: p.at,
            arg: p.arg,
            kind: p.kind as u16,
            site: p.site as u16,
            fired: 0,
            t_fired: 0,
        };
        let off = HEADER_BYTES + i * ENTRY_BYTES;
        out[off..off + ENTRY_BYTES].copy_from_slice(e.as_bytes());
    }
    Ok(bytes_for(entries.len()))
}

/// A plan as a byte vector sized for its entries (hosted launches and the
/// seL4 build's prefill), or an error if `region` bytes cannot hold it.
pub fn plan_bytes(entries: &[Planned], region: usize, out: &mut [u8]) -> Result<usize, PlanError> {
    let cap = capacity(region);
    if entries.len() > cap {
        return Err(PlanError::TooMany {
            entries: entries.len(),
            capacity: cap,
        });
    }
    encode(entries, out)
}

/// The header and entries of a plan in `bytes` (for reports), bounded by the
/// bytes present whatever the header claims.
pub fn decode(bytes: &[u8]) -> (Option<PlanHeader>, impl Iterator<Item = Entry> + '_) {
    let header = PlanHeader::read_from_prefix(bytes)
        .ok()
        .map(|(h, _)| h)
        .filter(|h| h.magic == PLAN_MAGIC);
    let count = header.map_or(0, |h| (h.count as usize).min(capacity(bytes.len())));
    let entries = (0..count).filter_map(move |i| {
        let off = HEADER_BYTES + i * ENTRY_BYTES;
        bytes
            .get(off..off + ENTRY_BYTES)
            .and_then(|b| Entry::read_from_bytes(b).ok())
    });
    (header, entries)
}

/// splitmix64: the plans' pseudo-random numbers.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// From a seed.
    pub const fn new(seed: u64) -> Self {
        Self(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 if `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

/// A deterministic plan: `count` faults at distinct random points of the
/// byte stream in `1..span`, cycling through `kinds` so every kind occurs,
/// from `seed`, sorted by position.
pub fn generate(seed: u64, count: usize, span: u64, kinds: &[Kind], out: &mut [Planned]) -> usize {
    let n = count.min(out.len());
    if kinds.is_empty() || span < 2 {
        return 0;
    }
    let mut rng = Rng::new(seed);
    for (i, slot) in out.iter_mut().take(n).enumerate() {
        *slot = Planned {
            site: Site::Bytes,
            at: 1 + rng.below(span - 1),
            kind: kinds[i % kinds.len()],
            arg: rng.next_u64(),
        };
    }
    out[..n].sort_unstable_by_key(|e| e.at);
    for i in 1..n {
        if out[i].at <= out[i - 1].at {
            out[i].at = out[i - 1].at + 1;
        }
    }
    n
}

/// The driver's (or monitor's) handle on a plan region.
#[derive(Copy, Clone)]
pub struct Plan {
    base: *mut u8,
    size: usize,
}

impl Plan {
    /// A plan over `base..base+size`.
    ///
    /// # Safety
    /// The range must stay mapped read-write for the life of the program.
    pub unsafe fn new(base: *mut u8, size: usize) -> Self {
        Self { base, size }
    }

    fn header(&self) -> Option<PlanHeader> {
        if self.size < HEADER_BYTES || !(self.base as usize).is_multiple_of(8) {
            return None;
        }
        // SAFETY: in bounds and aligned (checked above); any bytes are a valid header.
        let h = unsafe { ptr::read_volatile(self.base as *const PlanHeader) };
        (h.magic == PLAN_MAGIC).then_some(h)
    }

    fn write_header(&self, h: &PlanHeader) {
        // SAFETY: header in bounds (checked in `header`, which every caller
        // went through).
        unsafe { ptr::write_volatile(self.base as *mut PlanHeader, *h) };
    }

    fn entry_ptr(&self, i: usize) -> Option<*mut Entry> {
        let off = HEADER_BYTES + i * ENTRY_BYTES;
        (off + ENTRY_BYTES <= self.size)
            // SAFETY: in bounds (checked); 8-byte aligned since base is.
            .then(|| unsafe { self.base.add(off) } as *mut Entry)
    }

    /// The next unfired entry of `lane`, with its index.
    fn next_entry(&self, h: &PlanHeader, lane: usize) -> Option<(usize, Entry)> {
        let count = (h.count as usize).min(capacity(self.size));
        let mut i = *h.next.get(lane)? as usize;
        while i < count {
            let p = self.entry_ptr(i)?;
            // SAFETY: `entry_ptr` checked bounds and alignment.
            let e = unsafe { ptr::read_volatile(p) };
            match Site::from_raw(e.site) {
                // An entry fires once: one marked fired already (a plan
                // written that way, or a header whose `next` went back) is
                // passed over.
                Some(s) if s.lane() == lane && e.fired == 0 => return Some((i, e)),
                // Another lane's entry, or garbage: skip it in this lane.
                _ => i += 1,
            }
        }
        None
    }

    fn fire(
        &self,
        mut h: PlanHeader,
        lane: usize,
        i: usize,
        mut e: Entry,
        now: u64,
    ) -> Option<Entry> {
        e.fired = 1;
        e.t_fired = now;
        let p = self.entry_ptr(i)?;
        // SAFETY: as in `next_entry`.
        unsafe { ptr::write_volatile(p, e) };
        h.next[lane] = i as u32 + 1;
        self.write_header(&h);
        Some(e)
    }

    /// The next driver-lane fault due at `site` with its counter at
    /// `counter`, if any, marked fired (with `now`) before it is returned, so
    /// it never fires twice.
    pub fn due(&self, site: Site, counter: u64, now: u64) -> Option<(Kind, u64)> {
        let h = self.header()?;
        let (i, e) = self.next_entry(&h, 0)?;
        if e.site != site as u16 || counter < e.at {
            return None;
        }
        let e = self.fire(h, 0, i, e, now)?;
        Some((Kind::from_raw(e.kind)?, e.arg))
    }

    /// A visit of a counted `site`: the fault due, as [`Self::due`] with the
    /// number of earlier visits as the counter (an entry `at` N fires at the
    /// first visit after N others; `at` 0 at the site's next visit), then
    /// the visit counted (in the plan, so the count survives restarts).
    pub fn hit(&self, site: Site, now: u64) -> Option<(Kind, u64)> {
        let mut h = self.header()?;
        let slot = h.hits.get_mut(site as usize)?;
        let count = u64::from(*slot);
        *slot = slot.saturating_add(1);
        self.write_header(&h);
        self.due(site, count, now)
    }

    /// The next monitor-lane entry, not fired: (its delay in microseconds
    /// after the previous one, kind, argument).
    pub fn next_monitor(&self) -> Option<(u64, Kind, u64)> {
        let h = self.header()?;
        let (_, e) = self.next_entry(&h, 1)?;
        Some((e.at, Kind::from_raw(e.kind)?, e.arg))
    }

    /// Mark the next monitor-lane entry fired at `now`.
    pub fn fire_monitor(&self, now: u64) -> Option<(Kind, u64)> {
        let h = self.header()?;
        let (i, e) = self.next_entry(&h, 1)?;
        let e = self.fire(h, 1, i, e, now)?;
        Some((Kind::from_raw(e.kind)?, e.arg))
    }

    /// Kind and time of the most recently fired driver-lane entry, if any.
    pub fn last_fired(&self) -> Option<(Kind, u64)> {
        let h = self.header()?;
        let mut i = h.next[0] as usize;
        while i > 0 {
            i -= 1;
            // SAFETY: `entry_ptr` checked bounds and alignment.
            let e = unsafe { ptr::read_volatile(self.entry_ptr(i)?) };
            if e.fired == 1 && Site::from_raw(e.site).is_some_and(|s| s.lane() == 0) {
                return Some((Kind::from_raw(e.kind)?, e.t_fired));
            }
        }
        None
    }

    /// The entry at `index`, if the plan has one.
    pub fn entry(&self, index: usize) -> Option<Entry> {
        let h = self.header()?;
        if index >= (h.count as usize).min(capacity(self.size)) {
            return None;
        }
        // SAFETY: `entry_ptr` checks bounds and alignment.
        Some(unsafe { ptr::read_volatile(self.entry_ptr(index)?) })
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.header()
            .map_or(0, |h| (h.count as usize).min(capacity(self.size)))
    }

    /// Whether the plan has no entries (or is not a plan).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries fired so far, both lanes.
    pub fn fired_count(&self) -> u32 {
        let Some(h) = self.header() else { return 0 };
        (0..(h.count as usize).min(capacity(self.size)))
            .filter_map(|i| self.entry_ptr(i))
            // SAFETY: `entry_ptr` checked bounds and alignment.
            .filter(|&p| unsafe { ptr::read_volatile(p) }.fired == 1)
            .count() as u32
    }
}

/// Carry out an injected crash. Only [`Kind::Loop`] can be survived, by being
/// restarted from outside; nothing after this call runs. The kinds that are
/// not crashes (illegal reply, livelock, scribble, suspend) are carried out
/// by their callers; given here, they spin like [`Kind::Loop`].
///
/// `corrupt` flips a byte of the persistent region for [`Kind::CorruptRegion`].
pub fn perform(kind: Kind, corrupt: impl FnOnce()) -> ! {
    match kind {
        Kind::IllegalReply | Kind::Livelock | Kind::Scribble | Kind::Suspend | Kind::Loop => loop {
            core::hint::spin_loop();
        },
        Kind::WildWrite => wild_write(),
        Kind::NullRead => null_read(),
        Kind::Panic => panic!("injected panic"),
        Kind::CorruptRegion => {
            corrupt();
            wild_write()
        }
        Kind::WildJump => wild_jump(),
    }
}

/// Act out a fired entry in a driver whose persistent region is `region`
/// (base, size): a scribble writes into the region and returns; the kinds
/// the driver must act out itself (illegal reply, livelock) are returned
/// untouched; every other kind is a crash ([`perform`], a corrupted region
/// flipping the region's first byte, its header magic) and does not return.
///
/// # Safety
/// `region`, if given, must be mapped writable and 8-byte aligned.
pub unsafe fn act(kind: Kind, arg: u64, region: Option<(*mut u8, usize)>) -> Kind {
    match kind {
        Kind::IllegalReply | Kind::Livelock => kind,
        Kind::Scribble => {
            if let Some((base, size)) = region {
                // SAFETY: the caller's promise.
                unsafe { scribble(base, size, arg) };
            }
            kind
        }
        _ => perform(kind, || {
            if let Some((base, _)) = region {
                // SAFETY: the caller's promise; byte 0 is in the region.
                unsafe { ptr::write_volatile(base, !ptr::read_volatile(base)) };
            }
        }),
    }
}

/// A stray write into `base..base+size` (a region the caller owns), chosen
/// by `arg`: an aligned word at a pseudo-random offset gets a pseudo-random
/// value. Returns the offset written.
///
/// # Safety
/// `base..base+size` must be mapped writable and 8-byte aligned.
pub unsafe fn scribble(base: *mut u8, size: usize, arg: u64) -> usize {
    let words = size / 8;
    if words == 0 {
        return 0;
    }
    let mut rng = Rng::new(arg);
    let off = rng.below(words as u64) as usize * 8;
    let v = rng.next_u64();
    // SAFETY: off + 8 <= size; aligned (caller's contract).
    unsafe { ptr::write_volatile(base.add(off) as *mut u64, v) };
    off
}

/// The target of a monitor-lane entry (the top byte of its argument; the
/// others name a child by id) that is the monitor itself: a crash kind there
/// crashes the monitor.
pub const MONITOR_SELF: u8 = 0xff;

/// Address of the injected wild write: unmapped in every PD and host process.
pub const WILD_ADDR: usize = 0xdead_0000;
/// Address of the injected wild jump: unmapped too.
pub const WILD_PC: usize = 0xdead_1000;

fn wild_write() -> ! {
    loop {
        // SAFETY: deliberately faults; the store is to an address reserved as
        // unmapped. Done in asm so no language-level precondition check runs.
        unsafe { store(WILD_ADDR) }
    }
}

fn null_read() -> ! {
    loop {
        // SAFETY: deliberately faults by loading from address 0 (never mapped).
        unsafe { load(0) };
    }
}

fn wild_jump() -> ! {
    loop {
        // SAFETY: deliberately faults on instruction fetch from an address
        // reserved as unmapped.
        unsafe { jump(WILD_PC) }
    }
}

#[cfg(target_arch = "aarch64")]
unsafe fn store(addr: usize) {
    // SAFETY: caller wants the fault.
    unsafe { core::arch::asm!("str xzr, [{0}]", in(reg) addr, options(nostack)) }
}

#[cfg(target_arch = "aarch64")]
unsafe fn load(addr: usize) {
    // SAFETY: caller wants the fault.
    unsafe {
        core::arch::asm!("ldr {1}, [{0}]", in(reg) addr, out(reg) _, options(nostack, readonly))
    }
}

#[cfg(target_arch = "aarch64")]
unsafe fn jump(addr: usize) {
    // SAFETY: caller wants the fault; it never returns.
    unsafe { core::arch::asm!("br {0}", in(reg) addr, options(noreturn)) }
}

#[cfg(target_arch = "x86_64")]
unsafe fn store(addr: usize) {
    // SAFETY: caller wants the fault.
    unsafe { core::arch::asm!("mov qword ptr [{0}], 0", in(reg) addr, options(nostack)) }
}

#[cfg(target_arch = "x86_64")]
unsafe fn load(addr: usize) {
    // SAFETY: caller wants the fault.
    unsafe {
        core::arch::asm!("mov {1}, qword ptr [{0}]", in(reg) addr, out(reg) _, options(nostack, readonly))
    }
}

#[cfg(target_arch = "x86_64")]
unsafe fn jump(addr: usize) {
    // SAFETY: caller wants the fault; it never returns.
    unsafe { core::arch::asm!("jmp {0}", in(reg) addr, options(noreturn)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[repr(C, align(8))]
    struct Buf([u8; 4096]);

    fn plan_of(b: &mut Buf, entries: &[Planned]) -> Plan {
        encode(entries, &mut b.0).expect("fits");
        // SAFETY: the buffer outlives the plan.
        unsafe { Plan::new(b.0.as_mut_ptr(), b.0.len()) }
    }

    #[test]
    fn entries_fire_once_in_order() {
        let mut b = Buf([0; 4096]);
        let plan = plan_of(
            &mut b,
            &[
                Planned::new(Site::Bytes, 10, Kind::Panic),
                Planned::new(Site::Bytes, 20, Kind::Loop),
            ],
        );
        assert_eq!(plan.due(Site::Bytes, 9, 0), None);
        assert_eq!(plan.due(Site::Bytes, 10, 5), Some((Kind::Panic, 0)));
        assert_eq!(plan.last_fired(), Some((Kind::Panic, 5)));
        assert_eq!(
            plan.due(Site::Bytes, 10, 6),
            None,
            "a fired entry never fires again"
        );
        assert_eq!(plan.due(Site::Bytes, 25, 7), Some((Kind::Loop, 0)));
        assert_eq!(plan.due(Site::Bytes, 1000, 8), None);
        assert_eq!(plan.fired_count(), 2);
        let fired: usize = decode(&b.0).1.filter(|e| e.fired == 1).count();
        assert_eq!(fired, 2);
    }

    #[test]
    fn an_empty_region_injects_nothing() {
        let mut b = Buf([0; 4096]);
        // SAFETY: as above.
        let plan = unsafe { Plan::new(b.0.as_mut_ptr(), b.0.len()) };
        assert_eq!(plan.due(Site::Bytes, u64::MAX, 0), None);
        assert_eq!(plan.hit(Site::Protected, 0), None);
        assert_eq!(plan.next_monitor(), None);
        assert_eq!(decode(&b.0).1.count(), 0);
        assert!(b.0.iter().all(|&x| x == 0), "an empty plan is not written");
    }

    #[test]
    fn a_plan_larger_than_its_region_is_refused_not_cut() {
        let mut b = Buf([0; 4096]);
        let n = capacity(4096);
        let many = vec_of(n + 1);
        assert_eq!(
            encode(&many[..n + 1], &mut b.0),
            Err(PlanError::TooMany {
                entries: n + 1,
                capacity: n
            })
        );
        assert_eq!(encode(&many[..n], &mut b.0), Ok(bytes_for(n)));
        assert_eq!(decode(&b.0).1.count(), n);
    }

    fn vec_of(n: usize) -> [Planned; 200] {
        let mut a = [Planned::new(Site::Bytes, 0, Kind::Panic); 200];
        for (i, p) in a.iter_mut().enumerate().take(n) {
            p.at = i as u64;
        }
        a
    }

    #[test]
    fn counted_sites_fire_on_their_nth_visit_and_lanes_are_independent() {
        let mut b = Buf([0; 4096]);
        let plan = plan_of(
            &mut b,
            &[
                Planned::new(Site::Protected, 2, Kind::Panic),
                Planned::new(Site::Monitor, 500, Kind::Suspend),
                Planned::new(Site::NotifyRx, 0, Kind::Loop),
            ],
        );
        assert_eq!(plan.next_monitor(), Some((500, Kind::Suspend, 0)));
        assert_eq!(plan.hit(Site::Protected, 0), None);
        assert_eq!(plan.hit(Site::NotifyRx, 0), None, "not its turn yet");
        assert_eq!(plan.hit(Site::Protected, 0), None);
        assert_eq!(
            plan.hit(Site::Protected, 1),
            Some((Kind::Panic, 0)),
            "after two earlier visits"
        );
        assert_eq!(plan.fire_monitor(2), Some((Kind::Suspend, 0)));
        assert_eq!(plan.next_monitor(), None);
        // `at` 0: the next visit once it is this entry's turn.
        assert_eq!(plan.hit(Site::NotifyRx, 3), Some((Kind::Loop, 0)));
    }

    #[test]
    fn generated_plans_cover_every_kind_in_distinct_sorted_points() {
        let mut out = [Planned::new(Site::Bytes, 0, Kind::Panic); 24];
        let n = generate(42, 24, 65_536, &Kind::ALL[..4], &mut out);
        assert_eq!(n, 24);
        for k in &Kind::ALL[..4] {
            assert!(out.iter().any(|e| e.kind == *k));
        }
        assert!(out.windows(2).all(|w| w[0].at < w[1].at));
        let mut again = [Planned::new(Site::Bytes, 0, Kind::Panic); 24];
        generate(42, 24, 65_536, &Kind::ALL[..4], &mut again);
        assert_eq!(out, again, "deterministic for a seed");
    }

    #[test]
    fn a_truncated_region_is_safe() {
        let mut b = Buf([0; 4096]);
        encode(&[Planned::new(Site::Bytes, 1, Kind::Panic)], &mut b.0).expect("fits");
        // SAFETY: claims only 20 bytes.
        let plan = unsafe { Plan::new(b.0.as_mut_ptr(), 20) };
        assert_eq!(plan.due(Site::Bytes, 5, 0), None);
        // A header that claims more entries than the bytes hold.
        b.0[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&b.0[..200]).1.count() <= capacity(200));
    }

    #[test]
    fn a_scribble_stays_inside_its_region() {
        let mut b = Buf([0; 4096]);
        for arg in 0..200u64 {
            // SAFETY: the buffer is 4096 bytes, aligned.
            let off = unsafe { scribble(b.0.as_mut_ptr(), 256, arg) };
            assert!(off + 8 <= 256 && off % 8 == 0);
        }
        assert!(b.0[256..].iter().all(|&x| x == 0));
    }

    #[test]
    fn a_corrupt_header_never_claims_more_than_a_plan_holds() {
        // Found by fuzz/fuzz_targets/fault_plan.rs: `next` and `count` far
        // past the plan's capacity were reported as that many faults fired.
        let mut b = Buf([0; 4096]);
        let h = PlanHeader {
            magic: PLAN_MAGIC,
            count: u32::MAX,
            next: [0x00ff_fff8, u32::MAX],
            hits: [u32::MAX; 16],
        };
        b.0[..core::mem::size_of::<PlanHeader>()].copy_from_slice(h.as_bytes());
        // SAFETY: the buffer outlives the plan.
        let plan = unsafe { Plan::new(b.0.as_mut_ptr(), b.0.len()) };
        assert!(plan.fired_count() as usize <= capacity(4096));
        assert!(plan.len() <= capacity(4096));
        assert_eq!(plan.due(Site::Bytes, u64::MAX, 0), None);
        assert_eq!(plan.hit(Site::Bytes, 0), None);
        assert_eq!(plan.next_monitor(), None);
        assert_eq!(plan.last_fired(), None);
        assert!(decode(&b.0).1.count() <= capacity(4096));
    }

    #[test]
    fn an_entry_marked_fired_never_fires_again() {
        // Found by fuzz/fuzz_targets/fault_plan.rs.
        let mut b = Buf([0; 4096]);
        encode(
            &[
                Planned::new(Site::Bytes, 0, Kind::Panic),
                Planned::new(Site::Bytes, 0, Kind::NullRead),
            ],
            &mut b.0,
        )
        .expect("fits");
        // SAFETY: the buffer outlives the plan.
        let plan = unsafe { Plan::new(b.0.as_mut_ptr(), b.0.len()) };
        assert_eq!(plan.hit(Site::Bytes, 1).map(|k| k.0), Some(Kind::Panic));
        // The header's `next` goes back (a corrupt or rewritten plan).
        b.0[8..12].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(plan.hit(Site::Bytes, 2).map(|k| k.0), Some(Kind::NullRead));
        assert_eq!(plan.fired_count(), 2);
    }
}
