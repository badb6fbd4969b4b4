//! Register access to a device, independent of how the bus reaches it.
//!
//! On seL4/aarch64 the implementation is volatile MMIO on a mapped register
//! page; on seL4/x86_64 it is `seL4_X86_IOPort_In/Out` on an I/O port range;
//! on the hosted runtime it is a device model living outside the driver's
//! process, so device state survives a driver restart as hardware state does.

/// Width of one register access.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Width {
    /// 8 bits.
    U8,
    /// 16 bits.
    U16,
    /// 32 bits.
    U32,
}

/// Byte-offset register access relative to a device's base.
pub trait DeviceIo {
    /// Read a register.
    fn read(&self, offset: usize, width: Width) -> u32;
    /// Write a register.
    fn write(&self, offset: usize, width: Width, value: u32);

    /// Bytes of registers behind this access, where known (a mapping's
    /// size): a driver checks a device's self-description against it.
    fn window(&self) -> Option<usize> {
        None
    }

    /// Read an 8-bit register.
    fn read8(&self, offset: usize) -> u8 {
        self.read(offset, Width::U8) as u8
    }
    /// Write an 8-bit register.
    fn write8(&self, offset: usize, value: u8) {
        self.write(offset, Width::U8, value as u32)
    }
    /// Read a 32-bit register.
    fn read32(&self, offset: usize) -> u32 {
        self.read(offset, Width::U32)
    }
    /// Write a 32-bit register.
    fn write32(&self, offset: usize, value: u32) {
        self.write(offset, Width::U32, value)
    }
}

impl<T: DeviceIo + ?Sized> DeviceIo for &T {
    fn read(&self, offset: usize, width: Width) -> u32 {
        (**self).read(offset, width)
    }
    fn window(&self) -> Option<usize> {
        (**self).window()
    }
    fn write(&self, offset: usize, width: Width, value: u32) {
        (**self).write(offset, width, value)
    }
}
