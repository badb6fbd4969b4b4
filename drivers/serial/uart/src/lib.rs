//! The UART device class: what a serial driver needs of a chip, as a trait
//! that register drivers (`pl011`, `ns16550`) implement and the stream
//! driver uses. It knows nothing of IPC, persistence or recovery, so a chip
//! driver depends on this crate and `pd-core` alone.
//!
//! What must never happen: a method that resets the device on `resume` (a
//! warm restart would drop bytes the previous incarnation counted as sent).
#![no_std]

use pd_core::Platform;

/// What an interrupt was about.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Default)]
pub struct IrqStatus {
    /// Received data (or receive timeout).
    pub rx: bool,
    /// Transmit FIFO below its level.
    pub tx: bool,
}

/// A register that did not read back what `init` wrote to it: the device
/// did not take its configuration (absent, broken, or programmed wrongly),
/// so whatever the driver writes after it may never reach the line.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct Misconfigured {
    /// The register's name in the chip's manual.
    pub register: &'static str,
    /// What `init` wanted it to hold (the bits it checks).
    pub expected: u32,
    /// What it read back (the same bits).
    pub found: u32,
}

/// Compare a register's read-back `found` with `expected` under `mask`.
pub fn expect(
    register: &'static str,
    found: u32,
    expected: u32,
    mask: u32,
) -> Result<(), Misconfigured> {
    if found & mask == expected & mask {
        Ok(())
    } else {
        Err(Misconfigured {
            register,
            expected: expected & mask,
            found: found & mask,
        })
    }
}

/// A UART's register protocol, as a stream driver needs it.
pub trait Uart {
    /// Bring the device to a known configuration (first or cold start), and
    /// read it back: a device that did not take it is an error, never a
    /// driver that carries on writing into the void.
    fn init(&self) -> Result<(), Misconfigured>;
    /// Make the device usable after a warm restart without disturbing bytes in
    /// flight (no reset, no FIFO flush).
    fn resume(&self);
    /// Whether one more byte can be written now.
    fn tx_ready(&self) -> bool;
    /// Hand one byte to the transmitter.
    fn put(&self, byte: u8);
    /// Take one received byte, if any.
    fn get(&self) -> Option<u8>;
    /// Identify and clear the device's interrupt condition.
    fn irq(&self) -> IrqStatus;
}

/// How a platform's device becomes a UART (the PD chooses the chip).
pub trait AttachUart<P: Platform>: Uart + Sized {
    /// The UART behind `platform`, if the PD has one.
    fn attach(platform: &P) -> Option<Self>;
}
