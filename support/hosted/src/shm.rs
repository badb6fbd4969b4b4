//! The kernel's state shared with every PD process: one memfd holding a
//! [`Control`] block.
//!
//! Everything in it is an atomic, so any bit pattern (including the zeros of
//! a fresh memfd) is a valid state, and every process may touch it through a
//! shared reference. This is the hosted equivalent of kernel objects:
//! notification words, endpoint queues, reply objects, fault messages, IRQ
//! masks, and the device models' registers.

use crate::sys::{futex_wait, futex_wake};
use pd_core::{Fault, Message, MSG_WORDS};
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, AtomicU8, Ordering::SeqCst};
use std::time::Duration;

/// Most PDs (Microkit's limit).
pub const MAX_PDS: usize = 63;

/// Magic at the start of the control block.
pub const MAGIC: u64 = 0x4d4b_484f_5354_4431; // "MKHOSTD1"

/// A message as it sits in shared memory.
#[repr(C)]
#[derive(Default)]
pub struct MsgSlot {
    label: AtomicU64,
    len: AtomicU64,
    words: [AtomicU64; MSG_WORDS],
}

impl MsgSlot {
    /// Store `m`.
    pub fn put(&self, m: &Message) {
        self.label.store(m.label, SeqCst);
        self.len.store(m.len() as u64, SeqCst);
        for (w, v) in self.words.iter().zip(m.raw_words()) {
            w.store(*v, SeqCst);
        }
    }

    /// Load the message (length clamped: never trusts the slot).
    pub fn get(&self) -> Message {
        let mut words = [0u64; MSG_WORDS];
        for (d, w) in words.iter_mut().zip(&self.words) {
            *d = w.load(SeqCst);
        }
        let len = usize::try_from(self.len.load(SeqCst)).unwrap_or(MSG_WORDS);
        Message::from_raw(self.label.load(SeqCst), len, words)
    }
}

/// Encoded fault kinds in a [`FaultSlot`].
mod kind {
    pub const VM: u64 = 1;
    pub const USER: u64 = 2;
    pub const DEBUG: u64 = 3;
    pub const CAP: u64 = 4;
    pub const DIED: u64 = 5;
    pub const SYSCALL: u64 = 6;
}

/// A fault record (written by the faulting PD's signal handler, or by the
/// kernel for a PD that died).
#[repr(C)]
#[derive(Default)]
pub struct FaultSlot {
    kind: AtomicU64,
    w: [AtomicU64; 4],
}

impl FaultSlot {
    /// Store `f`. Async-signal-safe.
    pub fn put(&self, f: &Fault) {
        let (k, w) = match *f {
            Fault::VmFault {
                ip,
                addr,
                instruction,
                fsr,
            } => (kind::VM, [ip, addr, instruction as u64, fsr]),
            Fault::UserException { ip, number, code } => (kind::USER, [ip, number, code, 0]),
            Fault::DebugException { ip, reason } => (kind::DEBUG, [ip, reason, 0, 0]),
            Fault::CapFault { ip, cptr } => (kind::CAP, [ip, cptr, 0, 0]),
            Fault::UnknownSyscall { ip, syscall } => (kind::SYSCALL, [ip, syscall, 0, 0]),
            Fault::Died { signal } => (kind::DIED, [signal, 0, 0, 0]),
            // Not produced by the runtime; stored so that nothing is lost.
            _ => (0, [0; 4]),
        };
        for (slot, v) in self.w.iter().zip(w) {
            slot.store(v, SeqCst);
        }
        self.kind.store(k, SeqCst);
    }

    /// Load the fault; an unknown kind decodes to [`Fault::Unknown`].
    pub fn get(&self) -> Fault {
        let w: [u64; 4] = std::array::from_fn(|i| self.w[i].load(SeqCst));
        match self.kind.load(SeqCst) {
            kind::VM => Fault::VmFault {
                ip: w[0],
                addr: w[1],
                instruction: w[2] != 0,
                fsr: w[3],
            },
            kind::USER => Fault::UserException {
                ip: w[0],
                number: w[1],
                code: w[2],
            },
            kind::DEBUG => Fault::DebugException {
                ip: w[0],
                reason: w[1],
            },
            kind::CAP => Fault::CapFault {
                ip: w[0],
                cptr: w[1],
            },
            kind::SYSCALL => Fault::UnknownSyscall {
                ip: w[0],
                syscall: w[1],
            },
            kind::DIED => Fault::Died { signal: w[0] },
            other => Fault::Unknown { label: other },
        }
    }
}

/// Caller-side call states (low 8 bits of `call_state`; the rest is a sequence).
pub mod call {
    /// No call.
    pub const IDLE: u32 = 0;
    /// Blocked waiting for the callee.
    pub const CALLING: u32 = 1;
    /// The callee is writing the reply.
    pub const REPLYING: u32 = 2;
    /// Reply ready.
    pub const REPLIED: u32 = 3;
}

/// Fault states (`fault_state`).
pub mod fault {
    /// No fault outstanding.
    pub const NONE: u32 = 0;
    /// Fault posted, waiting for the parent.
    pub const PENDING: u32 = 1;
    /// The parent answered "resume".
    pub const RESUME: u32 = 2;
}

/// Child-operation request states (`op_state`).
pub mod op {
    /// No request.
    pub const IDLE: u32 = 0;
    /// Waiting for the kernel.
    pub const REQUESTED: u32 = 1;
    /// Done; result in `op_result`.
    pub const DONE: u32 = 2;
    /// Restart.
    pub const RESTART: u32 = 1;
    /// Stop.
    pub const STOP: u32 = 2;
    /// Restart into the minimal "gone" server.
    pub const QUARANTINE: u32 = 3;
}

/// PD life-cycle (`run_state`).
pub mod run {
    /// Process exec'd, mapping its regions.
    pub const BOOTING: u32 = 1;
    /// Running its code.
    pub const RUNNING: u32 = 2;
    /// Blocked on an unanswered fault.
    pub const FAULTED: u32 = 3;
    /// Being restarted by the kernel.
    pub const RESTARTING: u32 = 4;
    /// Stopped by its parent or the kernel.
    pub const STOPPED: u32 = 5;
    /// The process ended on its own.
    pub const DEAD: u32 = 6;
}

/// Boot handshake (`boot_status`).
pub mod boot {
    /// Not reported yet.
    pub const PENDING: u32 = 0;
    /// Regions mapped, entry about to run.
    pub const OK: u32 = 1;
    /// Failed; reason in `boot_error`.
    pub const FAILED: u32 = 2;
}

/// Per-PD kernel state.
#[repr(C)]
pub struct PdBlock {
    /// Bumped on every event for this PD (futex word of its event loop).
    pub wake_seq: AtomicU32,
    /// 1 while the event loop sleeps (producers skip the wake syscall otherwise).
    pub waiting: AtomicU32,
    /// Pending notification badge bits.
    pub notify_bits: AtomicU64,
    /// As a parent: child ids with a fault message pending.
    pub fault_pending: AtomicU64,
    /// As a callee: PD indices of callers queued on our endpoint.
    pub call_pending: AtomicU64,
    /// Reply object: 0, or `(caller_index + 1) | (seq << 8)`.
    pub reply_to: AtomicU64,

    /// As a caller: `(seq << 8) | call::*` (futex word while blocked).
    pub call_state: AtomicU32,
    /// As a caller: callee PD index.
    pub call_callee: AtomicU32,
    /// As a caller: the callee's channel id for this call.
    pub call_channel: AtomicU32,
    /// As a caller: the request.
    pub call_msg: MsgSlot,
    /// As a caller: the reply.
    pub reply_msg: MsgSlot,

    /// Fault state (futex word while blocked in a fault).
    pub fault_state: AtomicU32,
    /// The fault.
    pub fault: FaultSlot,

    /// As a parent: child-operation request state (futex word).
    pub op_state: AtomicU32,
    /// Child id of the request.
    pub op_child: AtomicU32,
    /// `op::RESTART` or `op::STOP`.
    pub op_kind: AtomicU32,
    /// 0 ok, 1 not declared, 2 refused.
    pub op_result: AtomicU32,

    /// Absolute CLOCK_MONOTONIC deadline of the one-shot timer, 0 if disarmed.
    pub timer_deadline: AtomicU64,
    /// IRQ channels delivered and not yet acknowledged.
    pub irq_masked: AtomicU64,
    /// Edge IRQs that fired while masked.
    pub irq_latched: AtomicU64,

    /// `run::*`.
    pub run_state: AtomicU32,
    /// Process id of the current incarnation.
    pub pid: AtomicI32,
    /// Number of starts (1 after launch).
    pub starts: AtomicU64,
    /// Faults this PD raised (delivered to its parent or to the kernel).
    pub faults: AtomicU64,
    /// Boot handshake, `boot::*`.
    pub boot_status: AtomicU32,
    /// Boot failure reason (NUL-terminated UTF-8).
    pub boot_error: [AtomicU8; 240],
}

/// UART state shared by the driver (register accesses) and the kernel's
/// model thread (transmission, reception). See `models`.
#[repr(C)]
pub struct UartState {
    /// Lock: 0 free, otherwise the pid of the holder.
    pub lock: AtomicI32,
    /// Register file (meaning depends on the model).
    pub regs: [AtomicU32; 16],
    /// TX FIFO ring.
    pub tx: [AtomicU8; 64],
    /// TX ring head (next to send).
    pub tx_head: AtomicU32,
    /// Bytes in the TX FIFO.
    pub tx_count: AtomicU32,
    /// Console descriptor + 1 that transmitted bytes go to (0: none; the
    /// bytes are then only handed back to the caller, as in unit tests).
    pub sink_fd: AtomicI32,
    /// RX FIFO ring.
    pub rx: [AtomicU8; 64],
    /// RX ring head (next to read).
    pub rx_head: AtomicU32,
    /// Bytes in the RX FIFO.
    pub rx_count: AtomicU32,
    /// Level of the interrupt output at the last evaluation.
    pub line: AtomicU32,
    /// Bumped to wake the model thread (futex word).
    pub model_seq: AtomicU32,
    /// 1 while the model thread sleeps.
    pub model_waiting: AtomicU32,
    /// 1 while bytes wait on the wire for room in the RX FIFO.
    pub wire_pending: AtomicU32,
    /// IRQ route: PD index + 1 (0 = no PD declares the IRQ).
    pub irq_pd: AtomicU32,
    /// IRQ route: channel id.
    pub irq_ch: AtomicU32,
    /// IRQ route: 1 if edge triggered.
    pub irq_edge: AtomicU32,
    /// Redo journal of the register access in progress (see
    /// `models::Locked`): its stores, encoded, valid when `journal_len` is
    /// not 0. A process that dies holding the lock after publishing it has
    /// its access completed by the kernel.
    pub journal: [AtomicU64; JOURNAL],
    /// Entries of `journal` published (0: none).
    pub journal_len: AtomicU32,
    /// Bumped by the model thread whenever it has transmitted (futex word a
    /// driver polling a full FIFO waits on).
    pub drain_seq: AtomicU32,
}

/// Most stores one register access makes.
pub const JOURNAL: usize = 48;

/// The whole control block.
#[repr(C)]
pub struct Control {
    /// [`MAGIC`].
    pub magic: AtomicU64,
    /// Set when the system shuts down.
    pub shutdown: AtomicU32,
    /// Per-PD state, by index in the board view's PD list.
    pub pds: [PdBlock; MAX_PDS],
    /// The PL011 (qemu_virt_aarch64).
    pub pl011: UartState,
    /// The 16550 (x86_64_generic).
    pub uart16550: UartState,
}

#[cfg(test)]
/// Types made only of atomics (and arrays of them), for which all-zero
/// bytes are a valid value.
///
/// # Safety
/// Implementors must be valid when zero-filled.
pub unsafe trait Zeroable: Sized {
    /// A zero-filled value on the heap.
    fn zeroed_box() -> Box<Self> {
        let layout = std::alloc::Layout::new::<Self>();
        // SAFETY: Self is not zero-sized (all implementors hold atomics);
        // alloc_zeroed returns memory valid for Self per the trait contract,
        // and Box takes ownership of exactly that layout.
        unsafe {
            let p = std::alloc::alloc_zeroed(layout) as *mut Self;
            if p.is_null() {
                std::alloc::handle_alloc_error(layout);
            }
            Box::from_raw(p)
        }
    }
}

// SAFETY: all fields are atomics or arrays/structs of atomics.
#[cfg(test)]
unsafe impl Zeroable for Control {}
// SAFETY: as above.
#[cfg(test)]
unsafe impl Zeroable for PdBlock {}

impl Control {
    /// Size of the block in bytes.
    pub const SIZE: usize = std::mem::size_of::<Control>();

    /// The block of PD `i`, if in range.
    pub fn pd(&self, i: usize) -> Option<&PdBlock> {
        self.pds.get(i)
    }
}

impl PdBlock {
    /// Wake this PD's event loop. Async-signal-safe.
    pub fn wake(&self) {
        self.wake_seq.fetch_add(1, SeqCst);
        if self.waiting.load(SeqCst) != 0 {
            futex_wake(&self.wake_seq, 1);
        }
    }

    /// Add notification bits and wake the PD. Async-signal-safe.
    pub fn signal(&self, bits: u64) {
        self.notify_bits.fetch_or(bits, SeqCst);
        self.wake();
    }

    /// Record a boot failure reason.
    pub fn set_boot_error(&self, msg: &str) {
        let bytes = msg.as_bytes();
        let n = bytes.len().min(self.boot_error.len() - 1);
        for (i, b) in bytes[..n].iter().enumerate() {
            self.boot_error[i].store(*b, SeqCst);
        }
        self.boot_error[n].store(0, SeqCst);
        self.boot_status.store(boot::FAILED, SeqCst);
    }

    /// The boot failure reason.
    pub fn boot_error(&self) -> String {
        let bytes: Vec<u8> = self
            .boot_error
            .iter()
            .map(|b| b.load(SeqCst))
            .take_while(|b| *b != 0)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Sleep until `wake_seq` moves from `seq` (or `timeout`).
    pub fn sleep(&self, seq: u32, timeout: Option<Duration>) {
        futex_wait(&self.wake_seq, seq, timeout);
    }
}

/// Encode a reply object.
pub fn reply_object(caller: usize, seq: u32) -> u64 {
    (caller as u64 + 1) | ((seq as u64) << 8)
}

/// Decode a reply object into (caller index, call sequence).
pub fn decode_reply_object(r: u64) -> Option<(usize, u32)> {
    let caller = (r & 0xff) as usize;
    if caller == 0 {
        return None;
    }
    Some((caller - 1, (r >> 8) as u32))
}

/// Deliver `msg` as the reply to call `seq` of `caller`, if that call is
/// still outstanding. Returns whether it was delivered.
pub fn deliver_reply(ctl: &Control, caller: usize, seq: u32, msg: &Message) -> bool {
    let Some(c) = ctl.pd(caller) else {
        return false;
    };
    let calling = (seq << 8) | call::CALLING;
    let replying = (seq << 8) | call::REPLYING;
    if c.call_state
        .compare_exchange(calling, replying, SeqCst, SeqCst)
        .is_err()
    {
        return false;
    }
    c.reply_msg.put(msg);
    let _ = c
        .call_state
        .compare_exchange(replying, (seq << 8) | call::REPLIED, SeqCst, SeqCst);
    futex_wake(&c.call_state, 1);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_control_is_valid_and_faults_round_trip() {
        let c = Control::zeroed_box();
        let slot = &c.pds[0].fault;
        assert_eq!(slot.get(), Fault::Unknown { label: 0 });
        for f in [
            Fault::VmFault {
                ip: 1,
                addr: 2,
                instruction: true,
                fsr: 4,
            },
            Fault::UserException {
                ip: 5,
                number: 6,
                code: 7,
            },
            Fault::DebugException { ip: 8, reason: 9 },
            Fault::CapFault { ip: 10, cptr: 11 },
            Fault::UnknownSyscall {
                ip: 12,
                syscall: 13,
            },
            Fault::Died { signal: 9 },
        ] {
            slot.put(&f);
            assert_eq!(slot.get(), f);
        }
    }

    #[test]
    fn messages_round_trip_and_lengths_are_clamped() {
        let c = Control::zeroed_box();
        let m = Message::with_words(7, &[1, 2, 3]).unwrap_or_default();
        c.pds[1].call_msg.put(&m);
        assert_eq!(c.pds[1].call_msg.get(), m);
        c.pds[1].call_msg.len.store(u64::MAX, SeqCst);
        assert_eq!(c.pds[1].call_msg.get().len(), MSG_WORDS);
    }

    #[test]
    fn replies_reach_only_the_outstanding_call() {
        let c = Control::zeroed_box();
        let m = Message::new(42);
        // No call outstanding: nothing delivered.
        assert!(!deliver_reply(&c, 3, 5, &m));
        c.pds[3].call_state.store((5 << 8) | call::CALLING, SeqCst);
        // Wrong sequence: refused.
        assert!(!deliver_reply(&c, 3, 4, &m));
        assert!(deliver_reply(&c, 3, 5, &m));
        assert_eq!(c.pds[3].call_state.load(SeqCst), (5 << 8) | call::REPLIED);
        assert_eq!(c.pds[3].reply_msg.get().label, 42);
        // Index out of range is harmless.
        assert!(!deliver_reply(&c, 99, 5, &m));
        assert_eq!(decode_reply_object(reply_object(3, 5)), Some((3, 5)));
        assert_eq!(decode_reply_object(0), None);
    }
}
