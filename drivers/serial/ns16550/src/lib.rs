//! 16550 UART register driver (PC COM1 at I/O port 0x3f8, IRQ 4), after the
//! TI PC16550D datasheet.
//!
//! Only the register protocol lives here; the stream semantics are in
//! `serial-stream`. Offsets are relative to the port base.
//!
//! What must never happen: a warm restart that resets the FIFOs (it would
//! drop bytes the previous incarnation counted as sent).
#![no_std]

use pd_core::DeviceIo;
use uart::{expect, IrqStatus, Misconfigured, Uart};

/// Register offsets (DLAB = 0 unless noted).
pub mod reg {
    /// Receiver buffer (read) / transmitter holding (write).
    pub const RBR_THR: usize = 0;
    /// Interrupt enable; divisor latch high when DLAB = 1.
    pub const IER: usize = 1;
    /// Interrupt identification (read) / FIFO control (write).
    pub const IIR_FCR: usize = 2;
    /// Line control.
    pub const LCR: usize = 3;
    /// Modem control.
    pub const MCR: usize = 4;
    /// Line status.
    pub const LSR: usize = 5;
    /// Divisor latch low (DLAB = 1).
    pub const DLL: usize = 0;
    /// Divisor latch high (DLAB = 1).
    pub const DLM: usize = 1;
}

/// LSR bits.
pub mod lsr {
    /// Data ready.
    pub const DR: u8 = 1 << 0;
    /// Transmitter holding register empty.
    pub const THRE: u8 = 1 << 5;
}

/// LCR values.
pub mod lcr {
    /// Divisor latch access.
    pub const DLAB: u8 = 1 << 7;
    /// 8 data bits, no parity, 1 stop bit.
    pub const BITS_8N1: u8 = 0b11;
}

/// IER bits.
pub mod ier {
    /// Received data available.
    pub const ERBFI: u8 = 1 << 0;
}

/// FCR bits.
pub mod fcr {
    /// Enable FIFOs.
    pub const ENABLE: u8 = 1 << 0;
    /// Clear the receive FIFO.
    pub const CLEAR_RX: u8 = 1 << 1;
    /// Clear the transmit FIFO.
    pub const CLEAR_TX: u8 = 1 << 2;
}

/// MCR bits.
pub mod mcr {
    /// Data terminal ready.
    pub const DTR: u8 = 1 << 0;
    /// Request to send.
    pub const RTS: u8 = 1 << 1;
    /// OUT2: gates the interrupt line on PC hardware.
    pub const OUT2: u8 = 1 << 3;
}

/// The 16 bytes a 16550 FIFO holds; THRE means all of them are free.
pub const TX_FIFO: u32 = 16;

/// A 16550 reached through `io`.
pub struct Ns16550<D: DeviceIo> {
    io: D,
    /// Bytes written since THRE was last seen (the FIFO's fill, bounded).
    burst: core::cell::Cell<u32>,
}

impl<D: DeviceIo> Ns16550<D> {
    /// The UART whose registers `io` reaches.
    pub fn new(io: D) -> Self {
        Self {
            io,
            burst: core::cell::Cell::new(TX_FIFO),
        }
    }
}

impl<D: DeviceIo> Uart for Ns16550<D> {
    fn init(&self) -> Result<(), Misconfigured> {
        self.io.write8(reg::IER, 0);
        self.io.write8(reg::LCR, lcr::DLAB);
        self.io.write8(reg::DLL, 1); // 115200 baud
        self.io.write8(reg::DLM, 0);
        self.io.write8(reg::LCR, lcr::BITS_8N1);
        self.io
            .write8(reg::IIR_FCR, fcr::ENABLE | fcr::CLEAR_RX | fcr::CLEAR_TX);
        let modem = mcr::DTR | mcr::RTS | mcr::OUT2;
        self.io.write8(reg::MCR, modem);
        self.io.write8(reg::IER, ier::ERBFI);
        // Read back what decides whether bytes reach the line: a DLAB left
        // set turns every THR write into a divisor write.
        let all = 0xff;
        expect(
            "LCR",
            self.io.read8(reg::LCR).into(),
            lcr::BITS_8N1.into(),
            all,
        )?;
        expect("MCR", self.io.read8(reg::MCR).into(), modem.into(), 0x1f)?;
        expect(
            "IER",
            self.io.read8(reg::IER).into(),
            ier::ERBFI.into(),
            0x0f,
        )
    }

    fn resume(&self) {
        // No FIFO reset, no divisor change: bytes in flight keep going. A
        // line setting other than 8N1 (DLAB left set by a fault inside
        // `init`, or a wrong value) is put right.
        if self.io.read8(reg::LCR) != lcr::BITS_8N1 {
            self.io.write8(reg::LCR, lcr::BITS_8N1);
        }
        self.io.write8(reg::MCR, mcr::DTR | mcr::RTS | mcr::OUT2);
        self.io.write8(reg::IER, ier::ERBFI);
    }

    fn tx_ready(&self) -> bool {
        // THRE says the FIFO is empty; after seeing it we may write a whole
        // FIFO's worth without polling again (one port read per 16 bytes).
        if self.burst.get() < TX_FIFO {
            return true;
        }
        if self.io.read8(reg::LSR) & lsr::THRE != 0 {
            self.burst.set(0);
            true
        } else {
            false
        }
    }

    fn put(&self, byte: u8) {
        self.burst.set(self.burst.get().saturating_add(1));
        self.io.write8(reg::RBR_THR, byte);
    }

    fn get(&self) -> Option<u8> {
        if self.io.read8(reg::LSR) & lsr::DR != 0 {
            Some(self.io.read8(reg::RBR_THR))
        } else {
            None
        }
    }

    fn irq(&self) -> IrqStatus {
        // IIR bit 0 clear = interrupt pending; reading RBR clears RX sources.
        let iir = self.io.read8(reg::IIR_FCR);
        let id = (iir >> 1) & 0b111;
        IrqStatus {
            rx: iir & 1 == 0 && (id == 0b010 || id == 0b110),
            tx: iir & 1 == 0 && id == 0b001,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testkit::MockDevice;

    #[test]
    fn init_sets_the_divisor_under_dlab_then_8n1() {
        let d = MockDevice::default();
        assert_eq!(Ns16550::new(d.clone()).init(), Ok(()));
        let w = d.writes();
        let dlab = w.iter().position(|&e| e == (reg::LCR, lcr::DLAB as u32));
        let n81 = w
            .iter()
            .position(|&e| e == (reg::LCR, lcr::BITS_8N1 as u32));
        let dll = w.iter().position(|&e| e == (reg::DLL, 1));
        assert!(dlab < dll && dll < n81, "{w:?}");
        assert_eq!(w.last(), Some(&(reg::IER, ier::ERBFI as u32)));
    }

    /// A device that does not keep LCR (x86 campaign mutant 18 left DLAB
    /// set: every byte after it went into the divisor latch, unseen).
    struct StuckLcr(MockDevice, u8);

    impl DeviceIo for StuckLcr {
        fn read(&self, offset: usize, width: pd_core::Width) -> u32 {
            if offset == reg::LCR {
                return self.1.into();
            }
            self.0.read(offset, width)
        }
        fn write(&self, offset: usize, width: pd_core::Width, value: u32) {
            self.0.write(offset, width, value)
        }
    }

    #[test]
    fn init_reads_back_its_configuration_and_names_what_did_not_take() {
        let d = MockDevice::default();
        let e = Ns16550::new(StuckLcr(d, lcr::DLAB | lcr::BITS_8N1)).init();
        assert_eq!(
            e,
            Err(Misconfigured {
                register: "LCR",
                expected: lcr::BITS_8N1.into(),
                found: (lcr::DLAB | lcr::BITS_8N1).into()
            })
        );
    }

    #[test]
    fn resume_never_clears_the_fifos() {
        let d = MockDevice::default();
        Ns16550::new(d.clone()).resume();
        assert!(d.writes_to(reg::IIR_FCR).is_empty());
    }

    #[test]
    fn tx_polls_lsr_once_per_fifo_burst() {
        let d = MockDevice::default();
        let u = Ns16550::new(d.clone());
        assert!(!u.tx_ready(), "THRE clear: full");
        d.set(reg::LSR, lsr::THRE as u32);
        for b in 0..TX_FIFO {
            assert!(u.tx_ready());
            u.put(b as u8);
        }
        d.set(reg::LSR, 0);
        assert!(!u.tx_ready(), "a full FIFO's worth written: poll again");
        assert_eq!(d.writes_to(reg::RBR_THR).len(), TX_FIFO as usize);
    }
}
