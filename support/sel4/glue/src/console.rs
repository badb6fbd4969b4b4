//! The debug console, and panic/abort reporting.
//!
//! Output goes through `seL4_DebugPutChar` (one system call per byte) when the
//! kernel has printing (Microkit's `debug` configuration), except on x86 for
//! the PDs with a debug console port of their own, which always write there
//! (the kernel prints through the serial driver's COM1). In `release` and
//! `benchmark` kernels there is no such call: the glue then writes itself to a
//! console device the PD has (see `uart`): on qemu_virt_aarch64 the PL011,
//! mapped into every PD (`setvar_vaddr="console"`, or the driver's own
//! `uart_regs`); on x86_64_generic the serial driver's COM1, and for the other
//! PDs a QEMU debug console port each (I/O ports cannot be shared between
//! PDs), which `make qemu` muxes into the same output. Without one, the text
//! is dropped. Diagnostic lines are written whole
//! (`pd_core::log_line` frames them with SO/SI), so a line is never split by
//! another PD's output except at byte granularity inside its SO..SI span.
//!
//! Panics and aborts are reported as diagnostic lines too (rust-sel4's default
//! hooks would print raw text into the client's stream).
//!
//! With the `deferred-log` feature, text is kept in a buffer and written when
//! the PD next returns from the kernel in its event loop (or when the buffer
//! is full): lines then cost nothing inside the handler that logs them. The
//! buffer is in `.persistent`, so what a PD logged before a fault (its panic
//! message) is written by its next incarnation. Only for measuring.

use core::fmt;

/// Write `s` to the console.
pub fn puts(s: &str) {
    #[cfg(feature = "deferred-log")]
    {
        deferred::push(s.as_bytes());
    }
    #[cfg(not(feature = "deferred-log"))]
    {
        write_bytes(s.as_bytes());
    }
}

/// One diagnostic line (SO/SI framed), formatted from `args`.
pub fn line(args: fmt::Arguments<'_>) {
    let mut buf = pd_core::LineBuf::new();
    let _ = fmt::write(&mut buf, format_args!("\x0e{args}\n\x0f"));
    puts(buf.as_str());
}

/// Write out what the deferred log holds (no-op without `deferred-log`).
pub fn flush() {
    #[cfg(feature = "deferred-log")]
    deferred::flush();
}

/// Whether the deferred log is more than half full.
pub fn mostly_full() -> bool {
    #[cfg(feature = "deferred-log")]
    return deferred::mostly_full();
    #[cfg(not(feature = "deferred-log"))]
    return false;
}

sel4::sel4_cfg_if! {
    if #[sel4_cfg(PRINTING)] {
        fn write_bytes(b: &[u8]) {
            // A PD with a debug port of its own (x86) writes there even
            // when the kernel prints: the kernel's console is COM1, which
            // the serial driver programs, so a driver that misconfigures
            // it must not silence the monitor and the client with it.
            if uart::write_own_port(b) {
                return;
            }
            for &c in b {
                sel4::debug_put_char(c);
            }
        }
    } else {
        fn write_bytes(b: &[u8]) {
            uart::write(b);
        }
    }
}

/// Direct output for kernels without printing, to the first of:
/// * a register mapping named `console` or `uart_regs` (Arm: the PL011);
/// * the I/O port range holding COM1 (x86: the serial driver's 16550);
/// * an I/O port range named `console` (x86: a QEMU debug console port,
///   `-device isa-debugcon`; one byte per write).
#[allow(dead_code)]
mod uart {
    use crate::{config, DeviceDesc, Sel4Device};
    use pd_core::{DeviceIo, Width};

    const PL011_DR: usize = 0x00;
    const PL011_FR: usize = 0x18;
    const PL011_FR_TXFF: u32 = 1 << 5;
    const NS16550_LSR: usize = 5;
    const NS16550_LSR_THRE: u32 = 1 << 5;
    const COM1: u16 = 0x3f8;

    enum Console {
        Pl011(Sel4Device),
        Ns16550(Sel4Device),
        DebugPort(Sel4Device),
    }

    fn console() -> Option<Console> {
        let devices = config().devices;
        let named = |d: &&DeviceDesc| match d {
            DeviceDesc::Mmio { name, .. } => *name == "console" || *name == "uart_regs",
            DeviceDesc::IoPort(io) => io.base == COM1 || io.name == "console",
        };
        Some(match devices.iter().find(named)? {
            DeviceDesc::Mmio { vaddr, size, .. } => {
                Console::Pl011(Sel4Device::mmio(vaddr(), *size)?)
            }
            DeviceDesc::IoPort(io) if io.base == COM1 => Console::Ns16550(Sel4Device::ioport(io)),
            DeviceDesc::IoPort(io) => Console::DebugPort(Sel4Device::ioport(io)),
        })
    }

    /// Write `b` to a debug port the PD has (x86); false if it has none.
    pub fn write_own_port(b: &[u8]) -> bool {
        match console() {
            Some(Console::DebugPort(d)) => {
                for &c in b {
                    d.write(0, Width::U8, u32::from(c));
                }
                true
            }
            _ => false,
        }
    }

    pub fn write(b: &[u8]) {
        match console() {
            Some(Console::Pl011(d)) => {
                for &c in b {
                    while d.read(PL011_FR, Width::U32) & PL011_FR_TXFF != 0 {}
                    d.write(PL011_DR, Width::U32, u32::from(c));
                }
            }
            Some(Console::Ns16550(d)) => {
                for &c in b {
                    while d.read(NS16550_LSR, Width::U8) & NS16550_LSR_THRE == 0 {}
                    d.write(0, Width::U8, u32::from(c));
                }
            }
            Some(Console::DebugPort(_)) => {
                write_own_port(b);
            }
            None => {}
        }
    }
}

#[cfg(feature = "deferred-log")]
mod deferred {
    use core::cell::UnsafeCell;

    const SIZE: usize = 16 * 1024;

    struct Buf {
        data: [u8; SIZE],
        len: usize,
    }

    struct Cell(UnsafeCell<Buf>);
    // SAFETY: a PD is single-threaded.
    unsafe impl Sync for Cell {}

    /// In `.persistent`: what a PD logged just before it faulted (its panic
    /// message) is written out by its next incarnation.
    #[unsafe(link_section = ".persistent")]
    static BUF: Cell = Cell(UnsafeCell::new(Buf {
        data: [0; SIZE],
        len: 0,
    }));

    pub fn push(b: &[u8]) {
        if b.len() > SIZE {
            flush();
            super::write_bytes(b);
            return;
        }
        // SAFETY: single-threaded; no reference outlives this block.
        let full = unsafe { (*BUF.0.get()).len.min(SIZE) + b.len() > SIZE };
        if full {
            flush();
        }
        // SAFETY: as above.
        let buf = unsafe { &mut *BUF.0.get() };
        let at = buf.len.min(SIZE);
        buf.data[at..at + b.len()].copy_from_slice(b);
        buf.len = at + b.len();
    }

    pub fn mostly_full() -> bool {
        // SAFETY: as above.
        unsafe { (*BUF.0.get()).len > SIZE / 2 }
    }

    pub fn flush() {
        // SAFETY: as above.
        let buf = unsafe { &mut *BUF.0.get() };
        let n = core::mem::take(&mut buf.len).min(SIZE);
        super::write_bytes(&buf.data[..n]);
    }
}

fn panic_hook(info: &core::panic::PanicInfo<'_>) {
    // With `deferred-log`, the line stays in the persistent buffer and the
    // next incarnation writes it.
    line(format_args!("{}: panic: {info}", crate::config().name));
}

fn abort_hook(info: Option<&sel4_panicking_env::AbortInfo<'_>>) {
    // Without a message this is the end of a panic already reported.
    if let Some(info) = info {
        line(format_args!("{}: abort: {info}", crate::config().name));
    }
}

sel4_panicking_env::register_abort_hook!(abort_hook);

pub(crate) fn install_hooks() {
    sel4_microkit::panicking::set_hook(&panic_hook);
}
