//! The contract between protection-domain code and the platform it runs on.
//!
//! Every PD in this project (monitor, drivers, clients) is written against the
//! [`Platform`] and [`Handler`] traits defined here, never against rust-sel4 or
//! Linux directly. Two backends implement them: the seL4 glue (`support/sel4`,
//! on top of `sel4-microkit`) and the hosted runtime (`support/hosted`, Linux
//! processes and shared memory). Keeping this crate `no_std`, allocation-free and
//! free of platform code is what lets the same PD source run on both.
//!
//! What must never happen: a type in here growing a dependency on one backend, or
//! an API that one backend cannot implement with Microkit semantics (channels,
//! notifications that coalesce, synchronous protected calls to higher-priority PDs,
//! faults delivered to the parent).
#![no_std]
#![deny(missing_docs)]

pub mod device;
pub mod fault;
pub mod message;
pub mod trap;

pub use device::{DeviceIo, Width};
pub use fault::{Arch, Fault, FaultKind};
pub use message::{Message, MSG_WORDS};

use core::fmt;

/// Highest channel identifier Microkit accepts (ids are `0..=MAX_CHANNEL`; the
/// badge bits above are Microkit's endpoint and fault flags).
pub const MAX_CHANNEL: u8 = 61;

/// A channel identifier, local to the PD that uses it (Microkit `microkit_channel`).
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Channel(u8);

impl Channel {
    /// A channel id; `None` if it is out of Microkit's range.
    pub const fn new(id: u8) -> Option<Self> {
        if id <= MAX_CHANNEL {
            Some(Self(id))
        } else {
            None
        }
    }

    /// A channel id known at compile time. Panics at compile time (const
    /// evaluation) or at start-up if the id is out of range.
    pub const fn of(id: u8) -> Self {
        match Self::new(id) {
            Some(ch) => ch,
            None => panic!("channel id out of range"),
        }
    }

    /// The numeric id.
    pub const fn index(self) -> u8 {
        self.0
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ch{}", self.0)
    }
}

/// The set of channels a coalesced notification arrived on (the badge bits).
#[derive(Copy, Clone, PartialEq, Eq, Default, Debug)]
pub struct ChannelSet(u64);

impl ChannelSet {
    /// The empty set.
    pub const EMPTY: Self = Self(0);

    /// From raw badge bits. Bits above [`MAX_CHANNEL`] are dropped.
    pub const fn from_bits(bits: u64) -> Self {
        Self(bits & ((1u64 << (MAX_CHANNEL + 1)) - 1))
    }

    /// Raw badge bits.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// Whether `ch` is in the set.
    pub const fn contains(self, ch: Channel) -> bool {
        self.0 & (1 << ch.0) != 0
    }

    /// The set with `ch` added.
    pub const fn with(self, ch: Channel) -> Self {
        Self(self.0 | (1 << ch.0))
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The channels in ascending order.
    pub fn iter(self) -> impl Iterator<Item = Channel> {
        let mut bits = self.0;
        core::iter::from_fn(move || {
            if bits == 0 {
                return None;
            }
            let i = bits.trailing_zeros() as u8;
            bits &= bits - 1;
            Some(Channel(i))
        })
    }
}

/// A child PD, as named by its parent (the `id` of a nested `protection_domain`).
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ChildId(pub u8);

impl fmt::Display for ChildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "child{}", self.0)
    }
}

/// A memory region mapped into this PD (a `<map ... setvar_vaddr=..>`).
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct Region {
    /// Virtual address of the first byte.
    pub vaddr: usize,
    /// Size in bytes.
    pub size: usize,
}

impl Region {
    /// The region as a raw byte pointer.
    pub fn as_mut_ptr(self) -> *mut u8 {
        self.vaddr as *mut u8
    }
}

/// What the parent does to a child that has faulted or hung.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum ChildOp {
    /// Discard the child's thread state and start it again at its entry point.
    /// The backend guarantees that every writable byte of the program image
    /// (data, bss, heap, stack) is back to its initial value when the child's
    /// code runs again; mapped memory regions are untouched.
    Restart,
    /// Stop the child: it runs no more code until restarted.
    Stop,
    /// The last resort, when even the child's stopped ("tombstone") mode
    /// fails: start it again in a minimal server of the backend's, none of
    /// the child's own code, that answers every call with
    /// [`message::LABEL_GONE`] (its callers are never left blocked) and
    /// does nothing else.
    Quarantine,
}

/// Why a platform operation failed.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum PlatformError {
    /// The channel, child or device is not declared for this PD.
    NotDeclared,
    /// The kernel or runtime refused the operation.
    Refused,
}

impl fmt::Display for PlatformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotDeclared => f.write_str("not declared in the system description"),
            Self::Refused => f.write_str("refused by the kernel or runtime"),
        }
    }
}

/// Services a PD gets from its platform. Every method has Microkit semantics.
///
/// Implementations are cheap handles (`Clone`); on seL4 they are zero-sized.
pub trait Platform: Clone {
    /// Register access to a device (MMIO on Arm, I/O ports on x86; a device
    /// model on the hosted runtime).
    type Device: DeviceIo;

    /// The architecture whose fault encoding and conventions apply.
    fn arch(&self) -> Arch;

    /// This PD's name, from the system description.
    fn pd_name(&self) -> &str;

    /// Signal the notification on `ch` (never blocks; notifications coalesce).
    fn notify(&self, ch: Channel);

    /// Acknowledge the interrupt delivered on `ch`, unmasking it.
    fn irq_ack(&self, ch: Channel);

    /// Synchronous protected procedure call to the PD at the other end of `ch`
    /// (which must have strictly higher priority).
    fn ppcall(&self, ch: Channel, msg: &Message) -> Message;

    /// Reply to a caller left blocked by an earlier incarnation of this PD (the
    /// kernel keeps the reply object across a restart). Harmless when nobody is
    /// waiting. `ch` is the channel the call came in on, when known (it is
    /// used for protocol checking; the reply object itself identifies the caller).
    fn reply_pending(&self, ch: Option<Channel>, msg: &Message);

    /// Write to the debug console (`seL4_DebugPutChar` on seL4).
    fn debug_puts(&self, s: &str);

    /// Monotonic time in nanoseconds since an arbitrary origin.
    fn now_ns(&self) -> u64;

    /// Arm this PD's one-shot timer: the timer channel (see
    /// [`Platform::timer_channel`]) is notified `after_ns` from now.
    fn set_timeout(&self, after_ns: u64) -> Result<(), PlatformError>;

    /// The channel on which timer expiries arrive, if this PD has a timer.
    fn timer_channel(&self) -> Option<Channel>;

    /// A memory region mapped into this PD, by its `setvar_vaddr` symbol name.
    fn region(&self, setvar: &str) -> Option<Region>;

    /// The physical address of a region mapped into this PD, by its
    /// `setvar_vaddr`, when the system description fixes it (a DMA region:
    /// a `<setvar region_paddr=...>` of this PD names its memory region; a
    /// device's registers: the region's `phys_addr`).
    fn region_paddr(&self, setvar: &str) -> Option<u64> {
        let _ = setvar;
        None
    }

    /// A device, by the `setvar_vaddr` of its register mapping (Arm) or the
    /// `setvar_id` of its I/O port range (x86).
    fn device(&self, name: &str) -> Option<Self::Device>;

    /// Act on a child PD (only a parent may).
    fn child(&self, child: ChildId, op: ChildOp) -> Result<(), PlatformError>;

    /// The instruction pointer of a stopped child, if the platform can read
    /// it (seL4: `TCB_ReadRegisters`); for the log of an asynchronous stop.
    fn child_ip(&self, child: ChildId) -> Option<u64> {
        let _ = child;
        None
    }
}

/// What a parent decided about a child's fault.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum FaultAction {
    /// Reply to the fault: the child resumes at the faulting instruction.
    Resume,
    /// The parent restarted or stopped the child through [`Platform::child`];
    /// the fault is not replied to.
    Handled,
}

/// The event handlers of a PD (Microkit entry points other than `init`).
///
/// Handlers are atomic: the backend never runs two of them at once and never
/// re-enters one (seed 004's event-driven model).
pub trait Handler {
    /// A coalesced notification arrived on `channels`.
    fn notified(&mut self, channels: ChannelSet);

    /// A protected procedure call arrived on `ch`; the returned message is the reply.
    fn protected(&mut self, ch: Channel, msg: &Message) -> Message {
        let _ = (ch, msg);
        Message::new(message::LABEL_UNSUPPORTED)
    }

    /// A child faulted (or was found hung by a watchdog).
    fn fault(&mut self, child: ChildId, fault: &Fault) -> FaultAction {
        let _ = (child, fault);
        FaultAction::Resume
    }

    /// The reply `protected` returned for `ch` has passed the channel layer
    /// and is about to be handed to the kernel (a server commits it here).
    fn replying(&mut self, ch: Channel, reply: &Message) {
        let _ = (ch, reply);
    }

    /// A reply (of `protected`, or one stored with
    /// [`Platform::reply_pending`]) has been handed to the kernel, and nothing
    /// has been received since. Both backends send a reply and receive the
    /// next message in two separate steps with this call between them, so a
    /// server can tell "answered but maybe not sent" from "sent" across a
    /// fault at any instant.
    fn reply_sent(&mut self) {}
}

/// `core::fmt::Write` adaptor over [`Platform::debug_puts`].
pub struct DebugWriter<'a, P: Platform>(pub &'a P);

impl<P: Platform> fmt::Write for DebugWriter<'_, P> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.debug_puts(s);
        Ok(())
    }
}

/// Formats into a fixed buffer and writes it to the debug console in one call,
/// so a line from one PD is never interleaved with another's at byte level.
///
/// The line is wrapped in SO (0x0e) ... SI (0x0f): terminals ignore them, and
/// the stream checker uses them to cut diagnostic text out of a captured
/// console that also carries a client's data stream.
pub fn log_line<P: Platform>(p: &P, args: fmt::Arguments<'_>) {
    let mut buf = LineBuf::new();
    let _ = fmt::write(&mut buf, format_args!("\x0e{args}\n\x0f"));
    p.debug_puts(buf.as_str());
}

/// Start of a diagnostic span on the console (see [`log_line`]).
pub const DIAG_START: u8 = 0x0e;
/// End of a diagnostic span on the console (see [`log_line`]).
pub const DIAG_END: u8 = 0x0f;

/// A fixed-size formatting buffer that truncates instead of failing.
pub struct LineBuf {
    buf: [u8; 256],
    len: usize,
}

impl LineBuf {
    /// An empty buffer.
    pub const fn new() -> Self {
        Self {
            buf: [0; 256],
            len: 0,
        }
    }

    /// The text written so far (always valid UTF-8: truncation respects
    /// character boundaries).
    pub fn as_str(&self) -> &str {
        match core::str::from_utf8(&self.buf[..self.len]) {
            Ok(s) => s,
            Err(e) => {
                // Only reachable if truncation split a character; keep the valid prefix.
                let valid = e.valid_up_to();
                core::str::from_utf8(&self.buf[..valid]).unwrap_or("")
            }
        }
    }
}

impl Default for LineBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Write for LineBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len() - self.len;
        let mut n = s.len().min(room);
        while n > 0 && !s.is_char_boundary(n) {
            n -= 1;
        }
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// `pd_log!(platform, "fmt", args..)`: one diagnostic line on the debug console.
#[macro_export]
macro_rules! pd_log {
    ($p:expr, $($arg:tt)*) => {
        $crate::log_line($p, format_args!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    #[test]
    fn channel_range_is_microkits() {
        assert!(Channel::new(61).is_some());
        assert!(Channel::new(62).is_none());
    }

    #[test]
    fn channel_set_iterates_in_order_and_drops_high_bits() {
        let set = ChannelSet::from_bits((1 << 3) | (1 << 0) | (1 << 61) | (1 << 62) | (1 << 63));
        let mut it = set.iter();
        assert_eq!(it.next(), Some(Channel::of(0)));
        assert_eq!(it.next(), Some(Channel::of(3)));
        assert_eq!(it.next(), Some(Channel::of(61)));
        assert_eq!(it.next(), None);
        assert!(set.contains(Channel::of(3)));
        assert!(!set.contains(Channel::of(4)));
    }

    #[test]
    fn line_buf_truncates_on_char_boundary() {
        let mut b = LineBuf::new();
        for _ in 0..300 {
            let _ = b.write_str("é");
        }
        assert!(b.as_str().len() <= 256);
        assert!(b.as_str().chars().all(|c| c == 'é'));
    }
}
