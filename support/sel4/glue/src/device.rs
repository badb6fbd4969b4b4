//! Device register access: volatile MMIO on Arm, I/O port invocations on x86.

use crate::IoPortDesc;
use pd_core::{DeviceIo, Width};

/// A device as seen by its driver.
#[derive(Copy, Clone)]
pub struct Sel4Device {
    kind: Kind,
}

#[derive(Copy, Clone)]
enum Kind {
    /// Registers mapped (uncached) at `base`, `size` bytes.
    Mmio { base: usize, size: usize },
    /// Ports `base..base + size` through I/O port capability `cap`.
    IoPort { cap: u64, base: u16, size: u16 },
}

impl Sel4Device {
    pub(crate) fn mmio(base: usize, size: usize) -> Option<Self> {
        (base != 0).then_some(Self {
            kind: Kind::Mmio { base, size },
        })
    }

    pub(crate) fn ioport(io: &IoPortDesc) -> Self {
        Self {
            kind: Kind::IoPort {
                cap: crate::BASE_IOPORT_CAP + (io.id)() as u64,
                base: io.base,
                size: io.size,
            },
        }
    }
}

fn bytes(w: Width) -> usize {
    match w {
        Width::U8 => 1,
        Width::U16 => 2,
        Width::U32 => 4,
    }
}

impl DeviceIo for Sel4Device {
    fn window(&self) -> Option<usize> {
        Some(match self.kind {
            Kind::Mmio { size, .. } => size,
            Kind::IoPort { size, .. } => usize::from(size),
        })
    }

    fn read(&self, offset: usize, width: Width) -> u32 {
        match self.kind {
            Kind::Mmio { base, size } => {
                if offset + bytes(width) > size {
                    return 0;
                }
                let a = base + offset;
                // SAFETY: inside the device mapping (checked above), which is
                // mapped uncached for this PD's whole life.
                unsafe {
                    match width {
                        Width::U8 => u32::from(core::ptr::read_volatile(a as *const u8)),
                        Width::U16 => u32::from(core::ptr::read_volatile(a as *const u16)),
                        Width::U32 => core::ptr::read_volatile(a as *const u32),
                    }
                }
            }
            Kind::IoPort { cap, base, size } => {
                if offset + bytes(width) > usize::from(size) {
                    return 0;
                }
                ioport::read(cap, base + offset as u16, width)
            }
        }
    }

    fn write(&self, offset: usize, width: Width, value: u32) {
        match self.kind {
            Kind::Mmio { base, size } => {
                if offset + bytes(width) > size {
                    return;
                }
                let a = base + offset;
                // SAFETY: as in `read`.
                unsafe {
                    match width {
                        Width::U8 => core::ptr::write_volatile(a as *mut u8, value as u8),
                        Width::U16 => core::ptr::write_volatile(a as *mut u16, value as u16),
                        Width::U32 => core::ptr::write_volatile(a as *mut u32, value),
                    }
                }
            }
            Kind::IoPort { cap, base, size } => {
                if offset + bytes(width) > usize::from(size) {
                    return;
                }
                ioport::write(cap, base + offset as u16, width, value)
            }
        }
    }
}

/// x86 I/O ports: every access is a kernel invocation on the range's
/// capability (`BASE_IOPORT_CAP + id` in Microkit's layout). rust-sel4 has no
/// wrapper for them, so the generated raw invocations are used.
#[cfg(target_arch = "x86_64")]
pub(crate) mod ioport {
    use pd_core::Width;

    /// Read `port`; all ones if the kernel refuses (as a floating bus reads).
    pub fn read(cap: u64, port: u16, width: Width) -> u32 {
        sel4::with_ipc_buffer_mut(|ib| {
            let ib = ib.inner_mut();
            match width {
                Width::U8 => {
                    let r = ib.seL4_X86_IOPort_In8(cap, port);
                    if r.error == 0 {
                        u32::from(r.result)
                    } else {
                        0xff
                    }
                }
                Width::U16 => {
                    let r = ib.seL4_X86_IOPort_In16(cap, port);
                    if r.error == 0 {
                        u32::from(r.result)
                    } else {
                        0xffff
                    }
                }
                Width::U32 => {
                    let r = ib.seL4_X86_IOPort_In32(cap, port);
                    if r.error == 0 {
                        r.result
                    } else {
                        u32::MAX
                    }
                }
            }
        })
    }

    /// Write `port` (a refused write is dropped, as on a floating bus).
    pub fn write(cap: u64, port: u16, width: Width, value: u32) {
        sel4::with_ipc_buffer_mut(|ib| {
            let ib = ib.inner_mut();
            let (port, value) = (u64::from(port), u64::from(value));
            let _ = match width {
                Width::U8 => ib.seL4_X86_IOPort_Out8(cap, port, value & 0xff),
                Width::U16 => ib.seL4_X86_IOPort_Out16(cap, port, value & 0xffff),
                Width::U32 => ib.seL4_X86_IOPort_Out32(cap, port, value),
            };
        })
    }
}

/// No I/O ports on Arm: every access reads as a floating bus.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) mod ioport {
    use pd_core::Width;

    pub fn read(_cap: u64, _port: u16, _width: Width) -> u32 {
        u32::MAX
    }

    pub fn write(_cap: u64, _port: u16, _width: Width, _value: u32) {}
}
