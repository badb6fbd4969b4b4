//! ARM PrimeCell UART (PL011) register driver, after the PL011 TRM (DDI 0183).
//!
//! Only the register protocol lives here; the stream semantics (exactly-once
//! delivery across restarts) are in `serial-stream`; the device class is `uart`. On QEMU's `virt` board
//! the PL011 is at 0x9000000 with SPI 1 (IRQ 33).
//!
//! What must never happen: a warm restart that resets the UART (it would drop
//! bytes still in the TX FIFO, which the previous incarnation counted as sent).
#![no_std]

use pd_core::DeviceIo;
use uart::{expect, IrqStatus, Misconfigured, Uart};

/// Register offsets.
pub mod reg {
    /// Data register.
    pub const DR: usize = 0x00;
    /// Flag register.
    pub const FR: usize = 0x18;
    /// Integer baud rate divisor.
    pub const IBRD: usize = 0x24;
    /// Fractional baud rate divisor.
    pub const FBRD: usize = 0x28;
    /// Line control.
    pub const LCR_H: usize = 0x2c;
    /// Control.
    pub const CR: usize = 0x30;
    /// Interrupt FIFO level select.
    pub const IFLS: usize = 0x34;
    /// Interrupt mask set/clear.
    pub const IMSC: usize = 0x38;
    /// Raw interrupt status.
    pub const RIS: usize = 0x3c;
    /// Masked interrupt status.
    pub const MIS: usize = 0x40;
    /// Interrupt clear.
    pub const ICR: usize = 0x44;
}

/// FR bits.
pub mod fr {
    /// UART busy transmitting.
    pub const BUSY: u32 = 1 << 3;
    /// Receive FIFO empty.
    pub const RXFE: u32 = 1 << 4;
    /// Transmit FIFO full.
    pub const TXFF: u32 = 1 << 5;
    /// Transmit FIFO empty.
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

/// LCR_H bits.
pub mod lcr_h {
    /// FIFO enable.
    pub const FEN: u32 = 1 << 4;
    /// 8-bit words.
    pub const WLEN_8: u32 = 0b11 << 5;
}

/// Interrupt bits (IMSC, RIS, MIS, ICR).
pub mod int {
    /// Receive.
    pub const RX: u32 = 1 << 4;
    /// Transmit.
    pub const TX: u32 = 1 << 5;
    /// Receive timeout.
    pub const RT: u32 = 1 << 6;
    /// All interrupt sources (bits 0..=10).
    pub const ALL: u32 = 0x7ff;
}

/// A PL011 reached through `io`.
pub struct Pl011<D: DeviceIo> {
    io: D,
}

impl<D: DeviceIo> Pl011<D> {
    /// The UART whose registers `io` reaches.
    pub fn new(io: D) -> Self {
        Self { io }
    }

    fn enabled_bits() -> u32 {
        cr::UARTEN | cr::TXE | cr::RXE
    }
}

impl<D: DeviceIo> Uart for Pl011<D> {
    fn init(&self) -> Result<(), Misconfigured> {
        // TRM 3.3.8: disable, wait for the end of the current character,
        // flush by clearing FEN, program, then enable.
        self.io.write32(reg::CR, 0);
        let mut spins = 0u32;
        while self.io.read32(reg::FR) & fr::BUSY != 0 && spins < 1_000_000 {
            spins += 1;
        }
        self.io.write32(reg::LCR_H, 0);
        // 115200 baud from a 24 MHz reference clock (QEMU ignores the rate).
        self.io.write32(reg::IBRD, 13);
        self.io.write32(reg::FBRD, 1);
        self.io.write32(reg::LCR_H, lcr_h::FEN | lcr_h::WLEN_8);
        self.io.write32(reg::ICR, int::ALL);
        self.io.write32(reg::IMSC, int::RX | int::RT);
        self.io.write32(reg::CR, Self::enabled_bits());
        // Read back what decides whether bytes reach the line.
        let lcr = lcr_h::FEN | lcr_h::WLEN_8;
        expect("UARTLCR_H", self.io.read32(reg::LCR_H), lcr, 0xff)?;
        let on = Self::enabled_bits();
        expect("UARTCR", self.io.read32(reg::CR), on, on)?;
        expect("UARTIBRD", self.io.read32(reg::IBRD), 13, 0xffff)?;
        let rx = int::RX | int::RT;
        expect("UARTIMSC", self.io.read32(reg::IMSC), rx, int::ALL)
    }

    fn resume(&self) {
        // Keep whatever is in flight; only make sure TX/RX and the receive
        // interrupts are on (a fault may have hit in the middle of `init`).
        let cr = self.io.read32(reg::CR);
        if cr & Self::enabled_bits() != Self::enabled_bits() {
            self.io.write32(reg::CR, cr | Self::enabled_bits());
        }
        self.io.write32(reg::IMSC, int::RX | int::RT);
    }

    fn tx_ready(&self) -> bool {
        self.io.read32(reg::FR) & fr::TXFF == 0
    }

    fn put(&self, byte: u8) {
        self.io.write32(reg::DR, byte as u32);
    }

    fn get(&self) -> Option<u8> {
        if self.io.read32(reg::FR) & fr::RXFE != 0 {
            None
        } else {
            Some((self.io.read32(reg::DR) & 0xff) as u8)
        }
    }

    fn irq(&self) -> IrqStatus {
        let mis = self.io.read32(reg::MIS);
        // RX and RT are left to the FIFO (TRM: reading below the trigger
        // clears RX, emptying the FIFO clears RT): a driver that takes only
        // part of what waits keeps its interrupt asserted, so nothing is
        // left in a full FIFO that raises no more interrupts.
        self.io.write32(reg::ICR, mis & !(int::RX | int::RT));
        IrqStatus {
            rx: mis & (int::RX | int::RT) != 0,
            tx: mis & int::TX != 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testkit::MockDevice;

    #[test]
    fn init_programs_8n1_fifo_and_enables_last() {
        let d = MockDevice::default();
        assert_eq!(Pl011::new(d.clone()).init(), Ok(()));
        let w = d.writes();
        assert_eq!(w.first(), Some(&(reg::CR, 0)));
        assert_eq!(w.last(), Some(&(reg::CR, cr::UARTEN | cr::TXE | cr::RXE)));
        assert!(w.contains(&(reg::LCR_H, lcr_h::FEN | lcr_h::WLEN_8)));
        assert!(w.contains(&(reg::IMSC, int::RX | int::RT)));
    }

    #[test]
    fn init_names_a_register_that_did_not_take() {
        // A write lost on its way (a mutated store): CR keeps UARTEN clear.
        struct LostCr(MockDevice);
        impl DeviceIo for LostCr {
            fn read(&self, offset: usize, width: pd_core::Width) -> u32 {
                self.0.read(offset, width)
            }
            fn write(&self, offset: usize, width: pd_core::Width, value: u32) {
                if offset != reg::CR {
                    self.0.write(offset, width, value)
                }
            }
        }
        let e = Pl011::new(LostCr(MockDevice::default())).init();
        assert_eq!(
            e,
            Err(Misconfigured {
                register: "UARTCR",
                expected: cr::UARTEN | cr::TXE | cr::RXE,
                found: 0
            })
        );
    }

    #[test]
    fn resume_never_disables_the_uart() {
        let d = MockDevice::default();
        d.set(reg::CR, cr::UARTEN | cr::TXE | cr::RXE);
        Pl011::new(d.clone()).resume();
        assert!(d.writes_to(reg::CR).is_empty());
        assert!(!d
            .writes()
            .iter()
            .any(|&(r, v)| r == reg::CR && v & cr::UARTEN == 0));
    }

    #[test]
    fn irq_clears_tx_but_leaves_rx_to_the_fifo() {
        let d = MockDevice::default();
        d.set(reg::MIS, int::RX | int::RT | int::TX);
        let s = Pl011::new(d.clone()).irq();
        assert!(s.rx && s.tx);
        assert_eq!(d.writes_to(reg::ICR), [int::TX]);
    }

    #[test]
    fn tx_waits_for_fifo_space_and_rx_reads_dr() {
        let d = MockDevice::default();
        let u = Pl011::new(d.clone());
        d.set(reg::FR, fr::TXFF | fr::RXFE);
        assert!(!u.tx_ready());
        assert_eq!(u.get(), None);
        d.set(reg::FR, 0);
        d.set(reg::DR, 0x141);
        assert!(u.tx_ready());
        assert_eq!(u.get(), Some(0x41));
        u.put(b'x');
        assert_eq!(d.writes_to(reg::DR), [b'x' as u32]);
    }
}
