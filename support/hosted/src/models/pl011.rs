//! ARM PrimeCell UART (PL011) r1p5, at 0x0900_0000 on qemu_virt_aarch64.
//!
//! Modelled: DR, RSR/ECR, FR (TXFE, RXFF, TXFF, RXFE, BUSY), ILPR, IBRD,
//! FBRD, LCR_H (FEN), CR (UARTEN, TXE, RXE), IFLS, IMSC, RIS, MIS, ICR,
//! DMACR (stored), peripheral and PrimeCell ids. 32-entry FIFOs, or a
//! one-entry holding register when LCR_H.FEN is clear.
//!
//! Semantics from the TRM: data is sent only while UARTEN and TXE are set
//! (QEMU ignores them; real hardware does not). The TX interrupt is set when
//! the TX FIFO level crosses down through the IFLS trigger level (with FIFOs
//! off: when the holding register empties after data left it), not merely
//! because it is low; it is cleared by ICR or by writes that lift the level
//! above the trigger. The RX interrupt is set when the RX level reaches the
//! trigger, cleared by ICR or by reading below it. The receive timeout is set
//! when received data sits in the FIFO and no more follows (here: when the
//! wire has nothing more to deliver), cleared by ICR or by emptying the
//! FIFO. The interrupt output is MIS != 0.
//!
//! The line is fast: the model thread sends the FIFO as soon as it can, and
//! a driver that reads FR while the TX FIFO is full finds it sent (so a
//! polling driver never waits for another process to be scheduled).
//!
//! Not modelled: parity/framing/break errors, overrun (the wire is flow
//! controlled), loopback, modem lines, DMA, IrDA.

use super::Locked;
use pd_core::Width;

/// Register offsets.
pub mod off {
    /// Data.
    pub const DR: usize = 0x000;
    /// Receive status / error clear.
    pub const RSR: usize = 0x004;
    /// Flags.
    pub const FR: usize = 0x018;
    /// IrDA low-power counter.
    pub const ILPR: usize = 0x020;
    /// Integer baud rate divisor.
    pub const IBRD: usize = 0x024;
    /// Fractional baud rate divisor.
    pub const FBRD: usize = 0x028;
    /// Line control.
    pub const LCR_H: usize = 0x02c;
    /// Control.
    pub const CR: usize = 0x030;
    /// Interrupt FIFO level select.
    pub const IFLS: usize = 0x034;
    /// Interrupt mask set/clear.
    pub const IMSC: usize = 0x038;
    /// Raw interrupt status.
    pub const RIS: usize = 0x03c;
    /// Masked interrupt status.
    pub const MIS: usize = 0x040;
    /// Interrupt clear.
    pub const ICR: usize = 0x044;
    /// DMA control.
    pub const DMACR: usize = 0x048;
}

/// FR bits.
pub mod fr {
    /// Busy transmitting.
    pub const BUSY: u32 = 1 << 3;
    /// RX FIFO empty.
    pub const RXFE: u32 = 1 << 4;
    /// TX FIFO full.
    pub const TXFF: u32 = 1 << 5;
    /// RX FIFO full.
    pub const RXFF: u32 = 1 << 6;
    /// TX FIFO empty.
    pub const TXFE: u32 = 1 << 7;
}

/// CR bits.
pub mod cr {
    /// UART enable.
    pub const UARTEN: u32 = 1 << 0;
    /// Transmit enable.
    pub const TXE: u32 = 1 << 8;
    /// Receive enable.
    pub const RXE: u32 = 1 << 9;
}

/// LCR_H FIFO enable.
pub const LCR_H_FEN: u32 = 1 << 4;

/// Interrupt bits.
pub mod int {
    /// Receive.
    pub const RX: u32 = 1 << 4;
    /// Transmit.
    pub const TX: u32 = 1 << 5;
    /// Receive timeout.
    pub const RT: u32 = 1 << 6;
    /// Overrun.
    pub const OE: u32 = 1 << 10;
    /// All bits IMSC/ICR know.
    pub const ALL: u32 = 0x7ff;
}

// Indices into UartState::regs.
const CR: usize = 0;
const LCRH: usize = 1;
const IBRD: usize = 2;
const FBRD: usize = 3;
const IFLS: usize = 4;
const IMSC: usize = 5;
const RIS: usize = 6;
const ILPR: usize = 7;
const DMACR: usize = 8;

const FIFO: u32 = 32;
const IDS: [u32; 8] = [0x11, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1];

pub(super) fn reset(l: &mut Locked<'_>) {
    l.set_reg(CR, cr::TXE | cr::RXE);
    l.set_reg(IFLS, 0x12);
}

/// FIFO depth in force.
pub(super) fn depth(l: &mut Locked<'_>) -> u32 {
    depth_of(l.st)
}

/// FIFO depth in force (lock-free peek).
pub(super) fn depth_of(st: &crate::shm::UartState) -> u32 {
    if st.regs[LCRH].load(std::sync::atomic::Ordering::SeqCst) & LCR_H_FEN != 0 {
        FIFO
    } else {
        1
    }
}

fn level_for(sel: u32) -> u32 {
    // 1/8, 1/4, 1/2, 3/4, 7/8 of 32; reserved encodings act as 1/2.
    match sel & 7 {
        0 => 4,
        1 => 8,
        3 => 24,
        4 => 28,
        _ => 16,
    }
}

/// TX interrupt when the level crosses down to this.
fn tx_trigger(l: &mut Locked<'_>) -> u32 {
    if depth(l) == 1 {
        0
    } else {
        level_for(l.reg(IFLS))
    }
}

/// RX interrupt when the level reaches this.
fn rx_trigger(l: &mut Locked<'_>) -> u32 {
    if depth(l) == 1 {
        1
    } else {
        level_for(l.reg(IFLS) >> 3)
    }
}

pub(super) fn tx_enabled(l: &mut Locked<'_>) -> bool {
    let c = l.reg(CR);
    c & cr::UARTEN != 0 && c & cr::TXE != 0
}

pub(super) fn rx_enabled(l: &mut Locked<'_>) -> bool {
    let c = l.reg(CR);
    c & cr::UARTEN != 0 && c & cr::RXE != 0
}

fn set_ris(l: &mut Locked<'_>, bits: u32) {
    l.set_reg(RIS, l.reg(RIS) | bits);
}

fn clear_ris(l: &mut Locked<'_>, bits: u32) {
    l.set_reg(RIS, l.reg(RIS) & !bits);
}

fn flags(l: &mut Locked<'_>) -> u32 {
    let (tx, rx, d) = (l.tx_level(), l.rx_level(), depth(l));
    let mut f = 0;
    if tx == 0 {
        f |= fr::TXFE;
    }
    if tx >= d {
        f |= fr::TXFF;
    }
    if rx == 0 {
        f |= fr::RXFE;
    }
    if rx >= d {
        f |= fr::RXFF;
    }
    if tx > 0 {
        f |= fr::BUSY;
    }
    f
}

pub(super) fn read(l: &mut Locked<'_>, offset: usize, width: Width) -> u32 {
    let reg = offset & !3;
    let v = match reg {
        off::DR => {
            let b = l.rx_pop();
            let level = l.rx_level();
            if level < rx_trigger(l) {
                clear_ris(l, int::RX);
            }
            if level == 0 {
                clear_ris(l, int::RT);
            }
            b.map_or(0, u32::from)
        }
        off::RSR => 0,
        off::FR => {
            // A driver polling a full FIFO waits for the line: make sure the
            // model thread is on it.
            if l.tx_level() >= depth(l) {
                l.stall_for_drain();
            }
            flags(l)
        }
        off::ILPR => l.reg(ILPR),
        off::IBRD => l.reg(IBRD),
        off::FBRD => l.reg(FBRD),
        off::LCR_H => l.reg(LCRH),
        off::CR => l.reg(CR),
        off::IFLS => l.reg(IFLS),
        off::IMSC => l.reg(IMSC),
        off::RIS => l.reg(RIS),
        off::MIS => l.reg(RIS) & l.reg(IMSC),
        off::DMACR => l.reg(DMACR),
        0xfe0..=0xffc => IDS[(reg - 0xfe0) / 4],
        _ => 0,
    };
    let shift = (offset & 3) * 8;
    let mask = match width {
        Width::U8 => 0xff,
        Width::U16 => 0xffff,
        Width::U32 => u32::MAX,
    };
    (v >> shift) & mask
}

pub(super) fn write(l: &mut Locked<'_>, offset: usize, _width: Width, value: u32) {
    let value = value << ((offset & 3) * 8);
    match offset & !3 {
        off::DR => {
            if l.tx_level() < depth(l) {
                l.tx_push(value as u8);
            }
            if l.tx_level() > tx_trigger(l) {
                clear_ris(l, int::TX);
            }
        }
        off::RSR => {}
        off::ILPR => l.set_reg(ILPR, value & 0xff),
        off::IBRD => l.set_reg(IBRD, value & 0xffff),
        off::FBRD => l.set_reg(FBRD, value & 0x3f),
        off::LCR_H => l.set_reg(LCRH, value & 0xff),
        off::CR => {
            let old = l.reg(CR);
            l.set_reg(CR, value & 0xff87);
            if value & !old & (cr::UARTEN | cr::TXE | cr::RXE) != 0 {
                l.poke_model();
            }
        }
        off::IFLS => l.set_reg(IFLS, value & 0x3f),
        off::IMSC => l.set_reg(IMSC, value & int::ALL),
        off::ICR => clear_ris(l, value & int::ALL),
        off::DMACR => l.set_reg(DMACR, value & 7),
        _ => {}
    }
}

pub(super) fn line(l: &mut Locked<'_>) -> bool {
    l.reg(RIS) & l.reg(IMSC) != 0
}

/// The model thread emptied the TX FIFO, whose level was `old`.
pub(super) fn tx_drained(l: &mut Locked<'_>, old: u32) {
    if old > tx_trigger(l) {
        set_ris(l, int::TX);
    }
}

/// Bytes were pushed into the RX FIFO; `wire_idle` if no more follow.
pub(super) fn rx_arrived(l: &mut Locked<'_>, wire_idle: bool) {
    if l.rx_level() >= rx_trigger(l) {
        set_ris(l, int::RX);
    }
    if wire_idle && l.rx_level() > 0 {
        set_ris(l, int::RT);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{ack, control, pump, take_irqs};
    use super::super::{read, write, UartKind};
    use super::*;
    use std::collections::VecDeque;

    const K: UartKind = UartKind::Pl011;
    const IRQ: u8 = 2;

    fn w(c: &crate::shm::Control, o: usize, v: u32) {
        write(K, c, o, Width::U32, v);
    }
    fn r(c: &crate::shm::Control, o: usize) -> u32 {
        read(K, c, o, Width::U32)
    }
    /// The init sequence a datasheet driver performs.
    fn init(c: &crate::shm::Control, imsc: u32) {
        w(c, off::CR, 0);
        w(c, off::IBRD, 13);
        w(c, off::FBRD, 1);
        w(c, off::LCR_H, LCR_H_FEN | (3 << 5));
        w(c, off::ICR, int::ALL);
        w(c, off::IMSC, imsc);
        w(c, off::CR, cr::UARTEN | cr::TXE | cr::RXE);
    }

    #[test]
    fn reset_state_and_ids() {
        let c = control(K, IRQ);
        assert_eq!(r(&c, off::CR), cr::TXE | cr::RXE);
        assert_eq!(r(&c, off::IFLS), 0x12);
        assert_eq!(r(&c, off::FR), fr::TXFE | fr::RXFE);
        assert_eq!(r(&c, 0xfe0), 0x11);
        assert_eq!(r(&c, 0xffc), 0xb1);
        assert_eq!(read(K, &c, 0xfe1, Width::U8), 0, "byte lanes");
    }

    #[test]
    fn nothing_is_sent_until_the_uart_is_enabled() {
        let c = control(K, IRQ);
        let mut wire = VecDeque::new();
        w(&c, off::DR, u32::from(b'x'));
        // FIFOs are off at reset: one byte fills the holding register.
        assert_eq!(r(&c, off::FR) & (fr::TXFF | fr::BUSY), fr::TXFF | fr::BUSY);
        assert_eq!(pump(K, &c, &mut wire), b"", "UARTEN clear: the byte waits");
        w(&c, off::CR, cr::UARTEN | cr::TXE | cr::RXE);
        assert_eq!(pump(K, &c, &mut wire), b"x");
        assert_eq!(r(&c, off::FR) & (fr::TXFE | fr::BUSY), fr::TXFE);
    }

    #[test]
    fn tx_fifo_fills_to_32_and_sets_txff() {
        let c = control(K, IRQ);
        init(&c, 0);
        for i in 0..32 {
            assert_eq!(r(&c, off::FR) & fr::TXFF, 0, "byte {i}");
            w(&c, off::DR, i);
        }
        assert_ne!(r(&c, off::FR) & fr::TXFF, 0);
        w(&c, off::DR, 99); // dropped
        let sent = pump(K, &c, &mut VecDeque::new());
        assert_eq!(sent, (0..32u8).collect::<Vec<_>>());
    }

    #[test]
    fn tx_interrupt_is_a_transition_through_the_trigger_level() {
        let c = control(K, IRQ);
        init(&c, int::TX);
        // Enabling TXIM with an empty FIFO raises nothing (TRM r1p5 note).
        assert_eq!(r(&c, off::RIS) & int::TX, 0);
        // A few bytes (below the 1/2 trigger) drain without an interrupt.
        for b in b"hi" {
            w(&c, off::DR, u32::from(*b));
        }
        pump(K, &c, &mut VecDeque::new());
        assert_eq!(r(&c, off::RIS) & int::TX, 0);
        assert_eq!(take_irqs(&c), 0);
        // Above the trigger, draining crosses it: TX interrupt.
        for i in 0..20 {
            w(&c, off::DR, i);
        }
        pump(K, &c, &mut VecDeque::new());
        assert_eq!(r(&c, off::MIS), int::TX);
        assert_eq!(take_irqs(&c), 1 << IRQ);
        // Writing above the trigger clears it.
        for i in 0..17 {
            w(&c, off::DR, i);
        }
        assert_eq!(r(&c, off::RIS) & int::TX, 0);
    }

    #[test]
    fn rx_trigger_timeout_and_clearing_by_reads() {
        let c = control(K, IRQ);
        init(&c, int::RX | int::RT);
        let mut wire: VecDeque<u8> = (0..20).collect();
        pump(K, &c, &mut wire);
        // 20 >= 16 (1/2 of 32): RX; the wire went idle: RT.
        assert_eq!(r(&c, off::MIS), int::RX | int::RT);
        assert_eq!(take_irqs(&c), 1 << IRQ);
        for i in 0..5 {
            assert_eq!(r(&c, off::DR), i);
        }
        // 15 left: below the trigger, RX clears; RT stays until empty.
        assert_eq!(r(&c, off::MIS), int::RT);
        while r(&c, off::FR) & fr::RXFE == 0 {
            r(&c, off::DR);
        }
        assert_eq!(r(&c, off::MIS), 0);
    }

    #[test]
    fn an_irq_is_redelivered_after_ack_only_while_asserted() {
        let c = control(K, IRQ);
        init(&c, int::RX | int::RT);
        let mut wire: VecDeque<u8> = b"abc".iter().copied().collect();
        pump(K, &c, &mut wire);
        assert_eq!(take_irqs(&c), 1 << IRQ);
        // Still asserted (RT): an ack delivers again.
        ack(K, &c, IRQ);
        assert_eq!(take_irqs(&c), 1 << IRQ);
        // Cleared by ICR, then ack: nothing.
        w(&c, off::ICR, int::RT);
        ack(K, &c, IRQ);
        assert_eq!(take_irqs(&c), 0);
        // Masked in IMSC: data arrives, no interrupt.
        w(&c, off::IMSC, 0);
        wire.extend(b"de");
        pump(K, &c, &mut wire);
        assert_eq!(take_irqs(&c), 0);
        assert_ne!(r(&c, off::RIS) & int::RT, 0);
    }

    #[test]
    fn the_wire_is_flow_controlled_and_waits_for_the_receiver() {
        let c = control(K, IRQ);
        let mut wire: VecDeque<u8> = (0..40).collect();
        // Receiver disabled (UARTEN clear): nothing moves.
        pump(K, &c, &mut wire);
        assert_eq!(wire.len(), 40);
        init(&c, 0);
        pump(K, &c, &mut wire);
        assert_eq!(wire.len(), 8, "32 in the FIFO, 8 still on the wire");
        assert_ne!(r(&c, off::FR) & fr::RXFF, 0);
        let got: Vec<u32> = (0..32).map(|_| r(&c, off::DR)).collect();
        assert_eq!(got, (0..32).collect::<Vec<_>>());
        pump(K, &c, &mut wire);
        assert!(wire.is_empty());
        assert_eq!(r(&c, off::DR), 32);
    }
}
