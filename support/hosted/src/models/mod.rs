//! Device models: the board's UART, living in shared memory.
//!
//! A register access by the driver is a handful of atomics on the shared
//! [`UartState`] under a tiny spin lock (no syscall, except a futex wake of
//! the model thread when the TX FIFO goes from empty to non-empty). The
//! kernel's model thread moves bytes between the FIFOs and the outside world
//! (console sink, injected input); only it writes to the console, so a byte
//! a driver handed to the device is never lost with the driver's process.
//! Register semantics follow the datasheets (ARM PL011 TRM r1p5, TI/NS
//! PC16550D) for the bits modelled; see each model.
//!
//! A register access is one bus transaction on real hardware: it happens
//! whole or not at all, whenever the driver dies. Here it is many stores, so
//! they are collected in a redo journal while the lock is held and published
//! with one store ([`Locked`]'s drop), then applied. A process killed before
//! that store changed nothing; one killed after it (lock still held) has its
//! access completed by the kernel ([`force_unlock`]).
//!
//! What must never happen: state that only lives in the driver's process
//! (it would not survive a driver restart, unlike real hardware), a register
//! access half done, or a register access that blocks.

pub mod ns16550;
pub mod pl011;

use crate::irq;
use crate::shm::{Control, UartState, JOURNAL};
use crate::sys::{futex_wait, futex_wake};
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

/// FIFO ring capacity in [`UartState`] (the models use up to 32).
const RING: u32 = 64;

/// Which UART.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum UartKind {
    /// ARM PL011 (qemu_virt_aarch64).
    Pl011,
    /// 16550 (x86_64_generic).
    Ns16550,
}

/// Access to a UART's shared state, holding the lock while alive. Stores
/// are journaled and take effect together when it is dropped.
pub struct Locked<'a> {
    /// The control block (for IRQ delivery).
    pub ctl: &'a Control,
    /// The UART.
    pub st: &'a UartState,
    me: i32,
    wake_model: bool,
    journal: [(u16, u32); JOURNAL],
    len: usize,
    /// An interrupt to deliver once the access has taken effect:
    /// (PD index, notification bit, edge).
    raise: Option<(usize, u64, bool)>,
    /// The access found the TX FIFO full: the bus stalls (after the lock is
    /// released) until the line has drained some of it.
    stall: bool,
}

thread_local! {
    static TID: std::cell::Cell<i32> = const { std::cell::Cell::new(0) };
}

/// The thread id of a single-threaded PD process, set once at boot.
static PROCESS_TID: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// Declare this process single-threaded (a PD): lock owners are its pid.
pub(crate) fn set_single_threaded(pid: i32) {
    PROCESS_TID.store(pid, SeqCst);
}

/// This thread's id, cached (a register access must not cost a syscall).
fn gettid() -> i32 {
    let t = PROCESS_TID.load(std::sync::atomic::Ordering::Relaxed);
    if t != 0 {
        return t;
    }
    TID.with(|t| {
        if t.get() == 0 {
            // SAFETY: plain syscall without arguments.
            t.set(unsafe { libc::syscall(libc::SYS_gettid) as i32 });
        }
        t.get()
    })
}

/// The shared words a register access may store to, by number.
mod slot {
    pub const REGS: u16 = 0; // 16
    pub const TX: u16 = 16; // 64
    pub const TX_HEAD: u16 = 80;
    pub const TX_COUNT: u16 = 81;
    pub const RX: u16 = 82; // 64
    pub const RX_HEAD: u16 = 146;
    pub const RX_COUNT: u16 = 147;
    pub const LINE: u16 = 148;
    pub const WIRE_PENDING: u16 = 149;
}

fn slot_load(st: &UartState, s: u16) -> u32 {
    let i = usize::from(s);
    match s {
        0..=15 => st.regs[i].load(SeqCst),
        16..=79 => u32::from(st.tx[i - 16].load(SeqCst)),
        slot::TX_HEAD => st.tx_head.load(SeqCst),
        slot::TX_COUNT => st.tx_count.load(SeqCst),
        82..=145 => u32::from(st.rx[i - 82].load(SeqCst)),
        slot::RX_HEAD => st.rx_head.load(SeqCst),
        slot::RX_COUNT => st.rx_count.load(SeqCst),
        slot::LINE => st.line.load(SeqCst),
        slot::WIRE_PENDING => st.wire_pending.load(SeqCst),
        _ => 0,
    }
}

fn slot_store(st: &UartState, s: u16, v: u32) {
    let i = usize::from(s);
    match s {
        0..=15 => st.regs[i].store(v, SeqCst),
        16..=79 => st.tx[i - 16].store(v as u8, SeqCst),
        slot::TX_HEAD => st.tx_head.store(v, SeqCst),
        slot::TX_COUNT => st.tx_count.store(v, SeqCst),
        82..=145 => st.rx[i - 82].store(v as u8, SeqCst),
        slot::RX_HEAD => st.rx_head.store(v, SeqCst),
        slot::RX_COUNT => st.rx_count.store(v, SeqCst),
        slot::LINE => st.line.store(v, SeqCst),
        slot::WIRE_PENDING => st.wire_pending.store(v, SeqCst),
        _ => {}
    }
}

fn encode(s: u16, v: u32) -> u64 {
    (u64::from(s) << 32) | u64::from(v)
}

/// Apply the published journal of `st`, if any, and clear it. Idempotent:
/// every entry is an absolute store.
fn apply_journal(st: &UartState) {
    let n = (st.journal_len.load(SeqCst) as usize).min(JOURNAL);
    for e in &st.journal[..n] {
        let w = e.load(SeqCst);
        slot_store(st, (w >> 32) as u16, w as u32);
    }
    st.journal_len.store(0, SeqCst);
}

/// Take the lock of `st`. The holder id is the thread id, so the kernel can
/// release a lock held by a process it killed ([`force_unlock`]).
pub fn lock<'a>(ctl: &'a Control, st: &'a UartState) -> Locked<'a> {
    let me = gettid();
    let mut spins = 0u32;
    while st
        .lock
        .compare_exchange_weak(0, me, SeqCst, SeqCst)
        .is_err()
    {
        spins += 1;
        if spins < 200 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
    Locked {
        ctl,
        st,
        me,
        wake_model: false,
        journal: [(0, 0); JOURNAL],
        len: 0,
        raise: None,
        stall: false,
    }
}

/// Release a lock held by `tid` (a process the kernel killed mid-access),
/// first completing the access it had published.
pub fn force_unlock(st: &UartState, tid: i32) {
    if st.lock.load(SeqCst) == tid {
        apply_journal(st);
        let _ = st.lock.compare_exchange(tid, 0, SeqCst, SeqCst);
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // The interrupt first: early, it is at worst spurious (a driver
        // killed before the access takes effect gets an interrupt it will
        // find no cause for), and the access ends closer to its publication,
        // which is what the driver's next store (its progress mark) follows.
        if let Some((pd, bit, edge)) = self.raise.take() {
            if let Some(pd) = self.ctl.pd(pd) {
                if edge {
                    irq::raise_edge(pd, bit);
                } else {
                    irq::raise_level(pd, bit);
                }
            }
        }
        for (e, &(s, v)) in self.st.journal.iter().zip(&self.journal[..self.len]) {
            e.store(encode(s, v), SeqCst);
        }
        // Publish: from this store on, the access has happened.
        self.st.journal_len.store(self.len as u32, SeqCst);
        apply_journal(self.st);
        let _ = self.st.lock.compare_exchange(self.me, 0, SeqCst, SeqCst);
        if self.stall {
            // The driver is about to wait for the line: now.
            wake_model(self.st);
        } else if self.wake_model {
            // A system call only if the model thread is asleep (it naps
            // while the line is busy).
            nudge_model(self.st);
        }
    }
}

/// `model_waiting`: the model thread runs.
const MODEL_RUNNING: u32 = 0;
/// `model_waiting`: it naps (the line was busy a moment ago).
const MODEL_NAPPING: u32 = 1;
/// `model_waiting`: it sleeps until woken.
const MODEL_SLEEPING: u32 = 2;

/// Wake the model thread of `st` (from a nap too).
pub fn wake_model(st: &UartState) {
    st.model_seq.fetch_add(1, SeqCst);
    if st.model_waiting.load(SeqCst) != MODEL_RUNNING {
        futex_wake(&st.model_seq, 1);
    }
}

/// Wake the model thread of `st` if it sleeps; a napping one sees the
/// change within its nap, without a system call here.
fn nudge_model(st: &UartState) {
    st.model_seq.fetch_add(1, SeqCst);
    if st.model_waiting.load(SeqCst) == MODEL_SLEEPING {
        futex_wake(&st.model_seq, 1);
    }
}

/// Sleep in the model thread until woken or `timeout`.
pub fn model_sleep(st: &UartState, seq: u32, timeout: Duration) {
    st.model_waiting.store(MODEL_SLEEPING, SeqCst);
    futex_wait(&st.model_seq, seq, Some(timeout));
    st.model_waiting.store(MODEL_RUNNING, SeqCst);
}

/// Nap in the model thread for `d`, or until woken urgently.
pub fn model_nap(st: &UartState, seq: u32, d: Duration) {
    st.model_waiting.store(MODEL_NAPPING, SeqCst);
    futex_wait(&st.model_seq, seq, Some(d));
    st.model_waiting.store(MODEL_RUNNING, SeqCst);
}

impl Locked<'_> {
    fn load(&self, s: u16) -> u32 {
        self.journal[..self.len]
            .iter()
            .rev()
            .find(|(k, _)| *k == s)
            .map_or_else(|| slot_load(self.st, s), |&(_, v)| v)
    }

    fn store(&mut self, s: u16, v: u32) {
        if let Some(e) = self.journal[..self.len].iter_mut().find(|(k, _)| *k == s) {
            e.1 = v;
            return;
        }
        if self.len == JOURNAL {
            // More stores than one access makes: never happens with these
            // models; stay correct for this process, atomicity aside.
            slot_store(self.st, s, v);
            return;
        }
        self.journal[self.len] = (s, v);
        self.len += 1;
    }

    /// Register `i`.
    pub fn reg(&self, i: usize) -> u32 {
        if i < 16 {
            self.load(slot::REGS + i as u16)
        } else {
            0
        }
    }

    /// Set register `i`.
    pub fn set_reg(&mut self, i: usize, v: u32) {
        if i < 16 {
            self.store(slot::REGS + i as u16, v);
        }
    }

    /// Ask for the model thread to run when the lock is released.
    pub fn poke_model(&mut self) {
        self.wake_model = true;
    }

    /// The TX FIFO is full and the driver polls it: wake the model thread
    /// and let this access wait (briefly) for the line to drain it, as a
    /// real UART makes its driver wait.
    pub fn stall_for_drain(&mut self) {
        self.wake_model = true;
        self.stall = true;
    }

    /// Bytes in the TX FIFO.
    pub fn tx_level(&self) -> u32 {
        self.load(slot::TX_COUNT).min(RING)
    }

    /// Bytes in the RX FIFO.
    pub fn rx_level(&self) -> u32 {
        self.load(slot::RX_COUNT).min(RING)
    }

    /// Append to the TX FIFO (caller checked the depth).
    pub fn tx_push(&mut self, b: u8) {
        let n = self.tx_level();
        let head = self.load(slot::TX_HEAD) % RING;
        self.store(slot::TX + ((head + n) % RING) as u16, u32::from(b));
        self.store(slot::TX_COUNT, n + 1);
        if n == 0 {
            self.wake_model = true;
        }
    }

    /// Take everything from the TX FIFO.
    pub fn tx_take_all(&mut self) -> Vec<u8> {
        let n = self.tx_level();
        let head = self.load(slot::TX_HEAD) % RING;
        let out = (0..n)
            .map(|i| self.load(slot::TX + ((head + i) % RING) as u16) as u8)
            .collect();
        self.store(slot::TX_HEAD, (head + n) % RING);
        self.store(slot::TX_COUNT, 0);
        out
    }

    /// Empty the TX FIFO.
    pub fn tx_clear(&mut self) {
        self.store(slot::TX_COUNT, 0);
    }

    /// Append to the RX FIFO (caller checked the depth).
    pub fn rx_push(&mut self, b: u8) {
        let n = self.rx_level();
        let head = self.load(slot::RX_HEAD) % RING;
        self.store(slot::RX + ((head + n) % RING) as u16, u32::from(b));
        self.store(slot::RX_COUNT, n + 1);
    }

    /// Take the oldest RX byte.
    pub fn rx_pop(&mut self) -> Option<u8> {
        let n = self.rx_level();
        if n == 0 {
            return None;
        }
        let head = self.load(slot::RX_HEAD) % RING;
        let b = self.load(slot::RX + head as u16) as u8;
        self.store(slot::RX_HEAD, (head + 1) % RING);
        self.store(slot::RX_COUNT, n - 1);
        if self.load(slot::WIRE_PENDING) != 0 {
            self.wake_model = true;
        }
        Some(b)
    }

    /// Empty the RX FIFO.
    pub fn rx_clear(&mut self) {
        self.store(slot::RX_COUNT, 0);
        if self.load(slot::WIRE_PENDING) != 0 {
            self.wake_model = true;
        }
    }

    /// Note whether bytes wait on the wire (model thread).
    pub fn set_wire_pending(&mut self, pending: bool) {
        self.store(slot::WIRE_PENDING, u32::from(pending));
    }

    /// Drive the interrupt output to `high` and deliver it along the route
    /// (level: whenever high and unmasked; edge: on a rising edge, latched
    /// while masked), once the access has taken effect.
    pub fn set_line(&mut self, high: bool) {
        let old = self.load(slot::LINE) != 0;
        self.store(slot::LINE, u32::from(high));
        let route = self.st.irq_pd.load(SeqCst) as usize;
        if route == 0 {
            return;
        }
        let ch = self.st.irq_ch.load(SeqCst);
        if ch > u32::from(pd_core::MAX_CHANNEL) {
            return;
        }
        let bit = 1u64 << ch;
        let edge = self.st.irq_edge.load(SeqCst) != 0;
        if high && !(edge && old) {
            self.raise = Some((route - 1, bit, edge));
        }
    }
}

/// Register access by the driver.
pub fn read(kind: UartKind, ctl: &Control, offset: usize, width: pd_core::Width) -> u32 {
    let st = state(kind, ctl);
    let drained = st.drain_seq.load(SeqCst);
    let (v, stall) = read_locked(kind, ctl, st, offset, width);
    if stall {
        // Until the line (the model thread) has drained some of the FIFO.
        futex_wait(&st.drain_seq, drained, Some(Duration::from_millis(1)));
    }
    v
}

fn read_locked(
    kind: UartKind,
    ctl: &Control,
    st: &UartState,
    offset: usize,
    width: pd_core::Width,
) -> (u32, bool) {
    let mut l = lock(ctl, st);
    let (v, side_effect) = match kind {
        UartKind::Pl011 => (
            pl011::read(&mut l, offset, width),
            offset & !3 == pl011::off::DR,
        ),
        UartKind::Ns16550 => (
            ns16550::read(&mut l, offset),
            matches!(
                offset,
                ns16550::off::DATA | ns16550::off::IIR_FCR | ns16550::off::LSR
            ),
        ),
    };
    // Only reads with side effects can change the interrupt output.
    if side_effect {
        evaluate(kind, &mut l);
    }
    (v, l.stall)
}

/// Register access by the driver.
pub fn write(kind: UartKind, ctl: &Control, offset: usize, width: pd_core::Width, value: u32) {
    let st = state(kind, ctl);
    let mut l = lock(ctl, st);
    match kind {
        UartKind::Pl011 => pl011::write(&mut l, offset, width, value),
        UartKind::Ns16550 => ns16550::write(&mut l, offset, value),
    }
    evaluate(kind, &mut l);
}

/// Re-evaluate the interrupt output (after an acknowledge).
pub fn reevaluate(kind: UartKind, ctl: &Control) {
    let mut l = lock(ctl, state(kind, ctl));
    evaluate(kind, &mut l);
}

fn evaluate(kind: UartKind, l: &mut Locked<'_>) {
    let high = match kind {
        UartKind::Pl011 => pl011::line(l),
        UartKind::Ns16550 => ns16550::line(l),
    };
    l.set_line(high);
}

/// The state of `kind` in `ctl`.
pub fn state(kind: UartKind, ctl: &Control) -> &UartState {
    match kind {
        UartKind::Pl011 => &ctl.pl011,
        UartKind::Ns16550 => &ctl.uart16550,
    }
}

/// Put the UART in its reset state and set its IRQ route.
pub fn reset(
    kind: UartKind,
    ctl: &Control,
    route: Option<crate::world::IrqRoute>,
    sink: Option<std::os::fd::RawFd>,
) {
    let st = state(kind, ctl);
    for r in &st.regs {
        r.store(0, SeqCst);
    }
    st.tx_count.store(0, SeqCst);
    st.rx_count.store(0, SeqCst);
    st.sink_fd.store(sink.map_or(0, |fd| fd + 1), SeqCst);
    st.line.store(0, SeqCst);
    st.lock.store(0, SeqCst);
    st.journal_len.store(0, SeqCst);
    match route {
        Some((pd, ch, edge)) => {
            st.irq_pd.store(pd as u32 + 1, SeqCst);
            st.irq_ch.store(u32::from(ch), SeqCst);
            st.irq_edge.store(edge as u32, SeqCst);
        }
        None => st.irq_pd.store(0, SeqCst),
    }
    let mut l = lock(ctl, st);
    match kind {
        UartKind::Pl011 => pl011::reset(&mut l),
        UartKind::Ns16550 => ns16550::reset(&mut l),
    }
}

/// TX FIFO level and depth in force, peeked without the lock (for the
/// model thread's batching only: the values may be stale).
pub fn tx_fill(kind: UartKind, ctl: &Control) -> (u32, u32) {
    let st = state(kind, ctl);
    let depth = match kind {
        UartKind::Pl011 => pl011::depth_of(st),
        UartKind::Ns16550 => ns16550::depth_of(st),
    };
    (st.tx_count.load(SeqCst).min(RING), depth)
}

/// What the model thread did in one step.
#[derive(Default, Debug, PartialEq, Eq)]
pub struct Step {
    /// Bytes transmitted (already written to the sink, if there is one).
    pub tx: Vec<u8>,
    /// Bytes moved from the wire into the RX FIFO.
    pub rx_moved: usize,
}

/// Send everything in the TX FIFO if the transmitter is enabled: write it
/// to the sink and update the TX interrupt. Returns the bytes. Only the
/// model thread transmits (in the kernel's process): a byte handed to the
/// device is on the wire whatever becomes of the driver.
pub(super) fn transmit(kind: UartKind, l: &mut Locked<'_>) -> Vec<u8> {
    let on = match kind {
        UartKind::Pl011 => pl011::tx_enabled(l),
        UartKind::Ns16550 => true,
    };
    let old = l.tx_level();
    if !on || old == 0 {
        return Vec::new();
    }
    let bytes = l.tx_take_all();
    let fd = l.st.sink_fd.load(SeqCst);
    if fd > 0 {
        crate::sys::write_all_raw(fd - 1, &bytes);
    }
    l.st.drain_seq.fetch_add(1, SeqCst);
    futex_wake(&l.st.drain_seq, i32::MAX);
    match kind {
        UartKind::Pl011 => pl011::tx_drained(l, old),
        UartKind::Ns16550 => ns16550::tx_drained(l),
    }
    bytes
}

/// One step of the model thread: transmit what the transmitter holds, and
/// move bytes from `wire` into the RX FIFO while the receiver is enabled and
/// has room (the wire is flow controlled: nothing is lost).
pub fn step(kind: UartKind, ctl: &Control, wire: &mut std::collections::VecDeque<u8>) -> Step {
    let st = state(kind, ctl);
    let mut l = lock(ctl, st);
    let mut out = Step {
        tx: transmit(kind, &mut l),
        rx_moved: 0,
    };
    let (rx_on, depth) = match kind {
        UartKind::Pl011 => (pl011::rx_enabled(&mut l), pl011::depth(&mut l)),
        UartKind::Ns16550 => (true, ns16550::depth(&mut l)),
    };
    if rx_on {
        while l.rx_level() < depth {
            let Some(b) = wire.pop_front() else { break };
            l.rx_push(b);
            out.rx_moved += 1;
        }
        if out.rx_moved > 0 {
            match kind {
                UartKind::Pl011 => pl011::rx_arrived(&mut l, wire.is_empty()),
                UartKind::Ns16550 => ns16550::rx_arrived(&mut l, wire.is_empty()),
            }
        }
    }
    l.set_wire_pending(!wire.is_empty());
    evaluate(kind, &mut l);
    // The model thread itself needs no wake-up.
    l.wake_model = false;
    out
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;
    use crate::shm::{PdBlock, Zeroable};

    /// A control block with the UART routed to PD 0, channel `ch`.
    pub fn control(kind: UartKind, ch: u8) -> Box<Control> {
        let c = Control::zeroed_box();
        reset(kind, &c, Some((0, ch, false)), None);
        c
    }

    /// Pending notification bits of PD 0 (taken).
    pub fn take_irqs(c: &Control) -> u64 {
        c.pds[0].notify_bits.swap(0, SeqCst)
    }

    /// Acknowledge like the platform does.
    pub fn ack(kind: UartKind, c: &Control, ch: u8) {
        let pd: &PdBlock = &c.pds[0];
        irq::ack(pd, 1 << ch);
        reevaluate(kind, c);
    }

    /// Run the model thread until quiescent; returns the bytes sent.
    pub fn pump(kind: UartKind, c: &Control, wire: &mut std::collections::VecDeque<u8>) -> Vec<u8> {
        let mut sent = Vec::new();
        loop {
            let s = step(kind, c, wire);
            sent.extend(&s.tx);
            if s.tx.is_empty() && s.rx_moved == 0 {
                return sent;
            }
        }
    }
}
