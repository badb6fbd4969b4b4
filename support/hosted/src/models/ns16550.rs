//! PC16550D UART at I/O port 0x3f8 (COM1) on x86_64_generic.
//!
//! Modelled: RBR/THR, IER, IIR/FCR, LCR (DLAB), MCR, LSR (DR, OE, THRE,
//! TEMT), MSR, SCR, DLL/DLM. 16-byte FIFOs when FCR bit 0 is set, one-byte
//! holding registers otherwise (the reset state).
//!
//! Semantics from the datasheet: IIR reports the highest-priority pending
//! source (line status 0x6 > received data 0x4 > character timeout 0xC >
//! THR empty 0x2), with bits 7:6 set while FIFOs are enabled, and bit 0 set
//! when nothing is pending. The THRE interrupt is set when the transmitter
//! holding register (or TX FIFO) empties, and when ETBEI is enabled while it
//! is empty; it is cleared by writing THR or by reading IIR while it is the
//! reported source. Received-data interrupts follow the FCR trigger level
//! (1, 4, 8, 14). The character timeout is set when data sits in the RX FIFO
//! and no more follows (here: the wire went idle), cleared by reading RBR.
//! As on a PC, the interrupt reaches the interrupt controller only while
//! MCR.OUT2 is set. Changing FCR bit 0 clears both FIFOs.
//!
//! The line is fast: the model thread sends the FIFO as soon as it can, and
//! a driver that reads LSR while bytes wait to be sent finds them sent.
//!
//! Not modelled: parity/framing/break errors, loopback, modem status
//! interrupts (MSR reads CTS|DSR|DCD), scratch semantics beyond storage.
//! Accesses of any width act on the 8-bit register at the offset.

use super::Locked;

/// Register offsets.
pub mod off {
    /// RBR (read) / THR (write) / DLL (DLAB).
    pub const DATA: usize = 0;
    /// IER / DLM (DLAB).
    pub const IER: usize = 1;
    /// IIR (read) / FCR (write).
    pub const IIR_FCR: usize = 2;
    /// Line control.
    pub const LCR: usize = 3;
    /// Modem control.
    pub const MCR: usize = 4;
    /// Line status.
    pub const LSR: usize = 5;
    /// Modem status.
    pub const MSR: usize = 6;
    /// Scratch.
    pub const SCR: usize = 7;
}

/// IER bits.
pub mod ier {
    /// Received data available.
    pub const ERBFI: u32 = 1 << 0;
    /// THR empty.
    pub const ETBEI: u32 = 1 << 1;
    /// Receiver line status.
    pub const ELSI: u32 = 1 << 2;
}

/// LSR bits.
pub mod lsr {
    /// Data ready.
    pub const DR: u32 = 1 << 0;
    /// Overrun.
    pub const OE: u32 = 1 << 1;
    /// THR (TX FIFO) empty.
    pub const THRE: u32 = 1 << 5;
    /// Transmitter empty.
    pub const TEMT: u32 = 1 << 6;
}

/// LCR divisor latch access.
pub const LCR_DLAB: u32 = 1 << 7;
/// MCR OUT2 (gates the interrupt line on a PC).
pub const MCR_OUT2: u32 = 1 << 3;

// Indices into UartState::regs.
const IER: usize = 0;
const LCR: usize = 1;
const MCR: usize = 2;
const SCR: usize = 3;
const DLL: usize = 4;
const DLM: usize = 5;
const FCR: usize = 6;
const LSR_ERR: usize = 7;
const THRE_INT: usize = 8;
const TIMEOUT: usize = 9;

const FIFO: u32 = 16;

pub(super) fn reset(l: &mut Locked<'_>) {
    // All zero: FIFOs off, interrupts disabled, THR empty.
    let _ = l;
}

fn fifo_on(l: &mut Locked<'_>) -> bool {
    l.reg(FCR) & 1 != 0
}

/// FIFO depth in force (lock-free peek).
pub(super) fn depth_of(st: &crate::shm::UartState) -> u32 {
    if st.regs[FCR].load(std::sync::atomic::Ordering::SeqCst) & 1 != 0 {
        FIFO
    } else {
        1
    }
}

/// FIFO depth in force.
pub(super) fn depth(l: &mut Locked<'_>) -> u32 {
    if fifo_on(l) {
        FIFO
    } else {
        1
    }
}

fn rx_trigger(l: &mut Locked<'_>) -> u32 {
    if !fifo_on(l) {
        return 1;
    }
    match (l.reg(FCR) >> 6) & 3 {
        0 => 1,
        1 => 4,
        2 => 8,
        _ => 14,
    }
}

/// The pending source IIR would report (its id bits), if any.
fn pending(l: &mut Locked<'_>) -> Option<u32> {
    let ie = l.reg(IER);
    let rx = l.rx_level();
    if ie & ier::ELSI != 0 && l.reg(LSR_ERR) != 0 {
        return Some(0x6);
    }
    if ie & ier::ERBFI != 0 && rx > 0 && rx >= rx_trigger(l) {
        return Some(0x4);
    }
    if ie & ier::ERBFI != 0 && fifo_on(l) && rx > 0 && l.reg(TIMEOUT) != 0 {
        return Some(0xc);
    }
    if ie & ier::ETBEI != 0 && l.reg(THRE_INT) != 0 {
        return Some(0x2);
    }
    None
}

fn dlab(l: &mut Locked<'_>) -> bool {
    l.reg(LCR) & LCR_DLAB != 0
}

pub(super) fn read(l: &mut Locked<'_>, offset: usize) -> u32 {
    match offset {
        off::DATA if dlab(l) => l.reg(DLL),
        off::DATA => {
            let b = l.rx_pop();
            if l.rx_level() == 0 {
                l.set_reg(TIMEOUT, 0);
            }
            b.map_or(0, u32::from)
        }
        off::IER if dlab(l) => l.reg(DLM),
        off::IER => l.reg(IER),
        off::IIR_FCR => {
            let fifo_bits = if fifo_on(l) { 0xc0 } else { 0 };
            match pending(l) {
                Some(id) => {
                    if id == 0x2 {
                        // Reading IIR clears a THRE interrupt it reports.
                        l.set_reg(THRE_INT, 0);
                    }
                    fifo_bits | id
                }
                None => fifo_bits | 1,
            }
        }
        off::LCR => l.reg(LCR),
        off::MCR => l.reg(MCR),
        off::LSR => {
            // A driver polling for THRE waits for the line: make sure the
            // model thread is on it.
            if l.tx_level() > 0 {
                l.stall_for_drain();
            }
            let mut v = 0;
            if l.rx_level() > 0 {
                v |= lsr::DR;
            }
            v |= l.reg(LSR_ERR);
            if l.tx_level() == 0 {
                v |= lsr::THRE | lsr::TEMT;
            }
            l.set_reg(LSR_ERR, 0);
            v
        }
        off::MSR => 0xb0,
        off::SCR => l.reg(SCR),
        _ => 0xff,
    }
}

pub(super) fn write(l: &mut Locked<'_>, offset: usize, value: u32) {
    let v = value & 0xff;
    match offset {
        off::DATA if dlab(l) => l.set_reg(DLL, v),
        off::DATA => {
            if l.tx_level() < depth(l) {
                l.tx_push(v as u8);
            }
            l.set_reg(THRE_INT, 0);
        }
        off::IER if dlab(l) => l.set_reg(DLM, v),
        off::IER => {
            let old = l.reg(IER);
            l.set_reg(IER, v & 0x0f);
            if v & ier::ETBEI != 0 && old & ier::ETBEI == 0 && l.tx_level() == 0 {
                l.set_reg(THRE_INT, 1);
            }
        }
        off::IIR_FCR => {
            let was_on = fifo_on(l);
            let on = v & 1 != 0;
            if on != was_on || v & 2 != 0 {
                l.rx_clear();
                l.set_reg(TIMEOUT, 0);
            }
            if on != was_on || v & 4 != 0 {
                l.tx_clear();
            }
            l.set_reg(FCR, v & 0xc1);
        }
        off::LCR => l.set_reg(LCR, v),
        off::MCR => l.set_reg(MCR, v & 0x1f),
        off::SCR => l.set_reg(SCR, v),
        _ => {}
    }
}

pub(super) fn line(l: &mut Locked<'_>) -> bool {
    l.reg(MCR) & MCR_OUT2 != 0 && pending(l).is_some()
}

/// The model thread emptied the TX FIFO.
pub(super) fn tx_drained(l: &mut Locked<'_>) {
    l.set_reg(THRE_INT, 1);
}

/// Bytes were pushed into the RX FIFO; `wire_idle` if no more follow.
pub(super) fn rx_arrived(l: &mut Locked<'_>, wire_idle: bool) {
    if wire_idle && l.rx_level() > 0 {
        l.set_reg(TIMEOUT, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{ack, control, pump, take_irqs};
    use super::super::{read, write, UartKind};
    use super::*;
    use pd_core::Width;
    use std::collections::VecDeque;

    const K: UartKind = UartKind::Ns16550;
    const IRQ: u8 = 2;

    fn w(c: &crate::shm::Control, o: usize, v: u32) {
        write(K, c, o, Width::U8, v);
    }
    fn r(c: &crate::shm::Control, o: usize) -> u32 {
        read(K, c, o, Width::U8)
    }
    fn init(c: &crate::shm::Control, ie: u32) {
        w(c, off::IER, 0);
        w(c, off::LCR, LCR_DLAB);
        w(c, off::DATA, 1); // 115200
        w(c, off::IER, 0);
        w(c, off::LCR, 3); // 8N1
        w(c, off::IIR_FCR, 0xc7); // FIFOs on, cleared, trigger 14
        w(c, off::MCR, 0x0b); // DTR, RTS, OUT2
        w(c, off::IER, ie);
    }

    #[test]
    fn reset_state() {
        let c = control(K, IRQ);
        assert_eq!(r(&c, off::LSR), lsr::THRE | lsr::TEMT);
        assert_eq!(r(&c, off::IIR_FCR), 0x01);
        assert_eq!(r(&c, off::MSR), 0xb0);
        assert_eq!(r(&c, 9), 0xff, "outside the register block");
    }

    #[test]
    fn divisor_latch_shadows_data_and_ier() {
        let c = control(K, IRQ);
        w(&c, off::LCR, LCR_DLAB);
        w(&c, off::DATA, 0x0c);
        w(&c, off::IER, 0x00);
        assert_eq!(r(&c, off::DATA), 0x0c);
        w(&c, off::LCR, 3);
        assert_eq!(r(&c, off::IER), 0);
        assert_eq!(
            pump(K, &c, &mut VecDeque::new()),
            b"",
            "DLL write sent nothing"
        );
        w(&c, off::SCR, 0x5a);
        assert_eq!(r(&c, off::SCR), 0x5a);
    }

    #[test]
    fn tx_through_the_fifo_and_lsr_bits() {
        let c = control(K, IRQ);
        init(&c, 0);
        assert_ne!(r(&c, off::LSR) & lsr::THRE, 0);
        for b in b"hello 16550" {
            // 11 bytes fit the 16-byte FIFO.
            w(&c, off::DATA, u32::from(*b));
        }
        assert_eq!(r(&c, off::LSR) & (lsr::THRE | lsr::TEMT), 0);
        assert_eq!(pump(K, &c, &mut VecDeque::new()), b"hello 16550");
        assert_eq!(
            r(&c, off::LSR) & (lsr::THRE | lsr::TEMT),
            lsr::THRE | lsr::TEMT
        );
    }

    #[test]
    fn without_fifos_the_holding_register_takes_one_byte() {
        let c = control(K, IRQ);
        w(&c, off::DATA, u32::from(b'a'));
        w(&c, off::DATA, u32::from(b'b')); // lost: THR full
        assert_eq!(pump(K, &c, &mut VecDeque::new()), b"a");
    }

    #[test]
    fn thre_interrupt_needs_out2_and_clears_on_iir_read() {
        let c = control(K, IRQ);
        init(&c, 0);
        w(&c, off::MCR, 0x03); // OUT2 clear
        w(&c, off::IER, ier::ETBEI);
        // Enabling ETBEI with THR empty raises THRE at once...
        assert_eq!(r(&c, off::IIR_FCR) & 0x0f, 0x2);
        // ...which that IIR read cleared. No line: OUT2 was clear.
        assert_eq!(take_irqs(&c), 0);
        assert_eq!(r(&c, off::IIR_FCR), 0xc1);
        w(&c, off::MCR, 0x0b);
        w(&c, off::DATA, u32::from(b'z'));
        pump(K, &c, &mut VecDeque::new());
        // THR emptied: interrupt delivered, IIR says THRE, FIFO bits set.
        assert_eq!(take_irqs(&c), 1 << IRQ);
        assert_eq!(r(&c, off::IIR_FCR), 0xc2);
        assert_eq!(r(&c, off::IIR_FCR), 0xc1);
    }

    #[test]
    fn rx_trigger_levels_and_character_timeout() {
        let c = control(K, IRQ);
        init(&c, ier::ERBFI);
        let mut wire: VecDeque<u8> = b"0123456789".iter().copied().collect();
        pump(K, &c, &mut wire);
        // 10 bytes < trigger 14, but the wire went idle: character timeout.
        assert_eq!(r(&c, off::IIR_FCR), 0xcc);
        assert_eq!(take_irqs(&c), 1 << IRQ);
        let mut got = Vec::new();
        while r(&c, off::LSR) & lsr::DR != 0 {
            got.push(r(&c, off::DATA) as u8);
        }
        assert_eq!(got, b"0123456789");
        assert_eq!(r(&c, off::IIR_FCR), 0xc1);
        ack(K, &c, IRQ);
        assert_eq!(take_irqs(&c), 0);
        // 20 bytes: FIFO fills to 16 >= 14: received-data interrupt.
        let mut wire: VecDeque<u8> = (0..20).collect();
        pump(K, &c, &mut wire);
        assert_eq!(r(&c, off::IIR_FCR), 0xc4);
        assert_eq!(wire.len(), 4);
    }

    #[test]
    fn fcr_clears_fifos() {
        let c = control(K, IRQ);
        init(&c, 0);
        let mut wire: VecDeque<u8> = b"abc".iter().copied().collect();
        pump(K, &c, &mut wire);
        assert_ne!(r(&c, off::LSR) & lsr::DR, 0);
        w(&c, off::IIR_FCR, 0xc3);
        assert_eq!(r(&c, off::LSR) & lsr::DR, 0);
    }
}
