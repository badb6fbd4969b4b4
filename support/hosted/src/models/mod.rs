//! Device models: the board's UART, living in shared memory.
//!
//! A register access by the driver is a handful of atomics on the shared
//! [`UartState`] under a tiny spin lock (no syscall, except a futex wake of
//! the model thread when the TX FIFO goes from empty to non-empty). The
//! kernel's model thread moves bytes between the FIFOs and the outside world
//! (console sink, injected input). Register semantics follow the datasheets
//! (ARM PL011 TRM r1p5, TI/NS PC16550D) for the bits modelled; see each model.
//!
//! What must never happen: state that only lives in the driver's process
//! (it would not survive a driver restart, unlike real hardware), or a
//! register access that blocks.

pub mod ns16550;
pub mod pl011;

use crate::irq;
use crate::shm::{Control, UartState};
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

/// Access to a UART's shared state, holding the lock while alive.
pub struct Locked<'a> {
    /// The control block (for IRQ delivery).
    pub ctl: &'a Control,
    /// The UART.
    pub st: &'a UartState,
    me: i32,
    wake_model: bool,
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
    }
}

/// Release a lock held by `tid` (a process the kernel killed mid-access).
pub fn force_unlock(st: &UartState, tid: i32) {
    let _ = st.lock.compare_exchange(tid, 0, SeqCst, SeqCst);
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        let _ = self.st.lock.compare_exchange(self.me, 0, SeqCst, SeqCst);
        if self.wake_model {
            wake_model(self.st);
        }
    }
}

/// Wake the model thread of `st`.
pub fn wake_model(st: &UartState) {
    st.model_seq.fetch_add(1, SeqCst);
    if st.model_waiting.load(SeqCst) != 0 {
        futex_wake(&st.model_seq, 1);
    }
}

/// Sleep in the model thread until woken or `timeout`.
pub fn model_sleep(st: &UartState, seq: u32, timeout: Duration) {
    st.model_waiting.store(1, SeqCst);
    futex_wait(&st.model_seq, seq, Some(timeout));
    st.model_waiting.store(0, SeqCst);
}

impl Locked<'_> {
    /// Register `i`.
    pub fn reg(&self, i: usize) -> u32 {
        self.st.regs.get(i).map_or(0, |r| r.load(SeqCst))
    }

    /// Set register `i`.
    pub fn set_reg(&self, i: usize, v: u32) {
        if let Some(r) = self.st.regs.get(i) {
            r.store(v, SeqCst);
        }
    }

    /// Ask for the model thread to run when the lock is released.
    pub fn poke_model(&mut self) {
        self.wake_model = true;
    }

    /// Bytes in the TX FIFO.
    pub fn tx_level(&self) -> u32 {
        self.st.tx_count.load(SeqCst).min(RING)
    }

    /// Bytes in the RX FIFO.
    pub fn rx_level(&self) -> u32 {
        self.st.rx_count.load(SeqCst).min(RING)
    }

    /// Append to the TX FIFO (caller checked the depth).
    pub fn tx_push(&mut self, b: u8) {
        let n = self.tx_level();
        let head = self.st.tx_head.load(SeqCst) % RING;
        self.st.tx[((head + n) % RING) as usize].store(b, SeqCst);
        self.st.tx_count.store(n + 1, SeqCst);
        if n == 0 {
            self.wake_model = true;
        }
    }

    /// Take everything from the TX FIFO.
    pub fn tx_take_all(&self) -> Vec<u8> {
        let n = self.tx_level();
        let head = self.st.tx_head.load(SeqCst) % RING;
        let out = (0..n)
            .map(|i| self.st.tx[((head + i) % RING) as usize].load(SeqCst))
            .collect();
        self.st.tx_head.store((head + n) % RING, SeqCst);
        self.st.tx_count.store(0, SeqCst);
        out
    }

    /// Empty the TX FIFO.
    pub fn tx_clear(&self) {
        self.st.tx_count.store(0, SeqCst);
    }

    /// Append to the RX FIFO (caller checked the depth).
    pub fn rx_push(&self, b: u8) {
        let n = self.rx_level();
        let head = self.st.rx_head.load(SeqCst) % RING;
        self.st.rx[((head + n) % RING) as usize].store(b, SeqCst);
        self.st.rx_count.store(n + 1, SeqCst);
    }

    /// Take the oldest RX byte.
    pub fn rx_pop(&mut self) -> Option<u8> {
        let n = self.rx_level();
        if n == 0 {
            return None;
        }
        let head = self.st.rx_head.load(SeqCst) % RING;
        let b = self.st.rx[head as usize].load(SeqCst);
        self.st.rx_head.store((head + 1) % RING, SeqCst);
        self.st.rx_count.store(n - 1, SeqCst);
        if self.st.wire_pending.load(SeqCst) != 0 {
            self.wake_model = true;
        }
        Some(b)
    }

    /// Empty the RX FIFO.
    pub fn rx_clear(&mut self) {
        self.st.rx_count.store(0, SeqCst);
        if self.st.wire_pending.load(SeqCst) != 0 {
            self.wake_model = true;
        }
    }

    /// Drive the interrupt output to `high` and deliver it along the route
    /// (level: whenever high and unmasked; edge: on a rising edge, latched
    /// while masked).
    pub fn set_line(&self, high: bool) {
        let old = self.st.line.swap(high as u32, SeqCst) != 0;
        let route = self.st.irq_pd.load(SeqCst) as usize;
        if route == 0 {
            return;
        }
        let Some(pd) = self.ctl.pd(route - 1) else {
            return;
        };
        let ch = self.st.irq_ch.load(SeqCst);
        if ch > u32::from(pd_core::MAX_CHANNEL) {
            return;
        }
        let bit = 1u64 << ch;
        if self.st.irq_edge.load(SeqCst) != 0 {
            if high && !old {
                irq::raise_edge(pd, bit);
            }
        } else if high {
            irq::raise_level(pd, bit);
        }
    }
}

/// Register access by the driver.
pub fn read(kind: UartKind, ctl: &Control, offset: usize, width: pd_core::Width) -> u32 {
    let st = state(kind, ctl);
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
        evaluate(kind, &l);
    }
    v
}

/// Register access by the driver.
pub fn write(kind: UartKind, ctl: &Control, offset: usize, width: pd_core::Width, value: u32) {
    let st = state(kind, ctl);
    let mut l = lock(ctl, st);
    match kind {
        UartKind::Pl011 => pl011::write(&mut l, offset, width, value),
        UartKind::Ns16550 => ns16550::write(&mut l, offset, value),
    }
    evaluate(kind, &l);
}

/// Re-evaluate the interrupt output (after an acknowledge).
pub fn reevaluate(kind: UartKind, ctl: &Control) {
    let l = lock(ctl, state(kind, ctl));
    evaluate(kind, &l);
}

fn evaluate(kind: UartKind, l: &Locked<'_>) {
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
    match route {
        Some((pd, ch, edge)) => {
            st.irq_pd.store(pd as u32 + 1, SeqCst);
            st.irq_ch.store(u32::from(ch), SeqCst);
            st.irq_edge.store(edge as u32, SeqCst);
        }
        None => st.irq_pd.store(0, SeqCst),
    }
    let l = lock(ctl, st);
    match kind {
        UartKind::Pl011 => pl011::reset(&l),
        UartKind::Ns16550 => ns16550::reset(&l),
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
/// to the sink (under the lock, so that bytes leave in FIFO order whoever
/// transmits) and update the TX interrupt. Returns the bytes.
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
    match kind {
        UartKind::Pl011 => pl011::tx_drained(l, old),
        UartKind::Ns16550 => ns16550::tx_drained(l),
    }
    bytes
}

/// Whether transmitted bytes have somewhere to go (then a driver polling a
/// full FIFO may transmit them itself, see the models).
pub(super) fn has_sink(l: &Locked<'_>) -> bool {
    l.st.sink_fd.load(SeqCst) > 0
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
        UartKind::Pl011 => (pl011::rx_enabled(&l), pl011::depth(&l)),
        UartKind::Ns16550 => (true, ns16550::depth(&l)),
    };
    if rx_on {
        while l.rx_level() < depth {
            let Some(b) = wire.pop_front() else { break };
            l.rx_push(b);
            out.rx_moved += 1;
        }
        if out.rx_moved > 0 {
            match kind {
                UartKind::Pl011 => pl011::rx_arrived(&l, wire.is_empty()),
                UartKind::Ns16550 => ns16550::rx_arrived(&l, wire.is_empty()),
            }
        }
    }
    st.wire_pending.store(!wire.is_empty() as u32, SeqCst);
    evaluate(kind, &l);
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
