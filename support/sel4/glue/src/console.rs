//! The debug console, and panic/abort reporting.
//!
//! Output goes through `seL4_DebugPutChar` (one system call per byte) when the
//! kernel has printing (Microkit's `debug` configuration). In `release` and
//! `benchmark` kernels there is no such call: the glue then writes to the
//! board UART itself if the PD has it (the build script marks the mapping of
//! the PL011 at 0x9000000, or the I/O port range holding COM1 at 0x3f8, as the
//! console), and drops the text otherwise. Diagnostic lines are written whole
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

/// Direct UART output for kernels without printing.
#[allow(dead_code)]
mod uart {
    use crate::{config, DeviceDesc};
    use pd_core::{DeviceIo, Width};

    /// PL011 registers.
    const PL011_DR: usize = 0x00;
    const PL011_FR: usize = 0x18;
    const PL011_FR_TXFF: u32 = 1 << 5;
    /// 16550 registers.
    const LSR: usize = 5;
    const LSR_THRE: u32 = 1 << 5;

    pub fn write(b: &[u8]) {
        let Some(d) = config().devices.iter().find(|d| match d {
            DeviceDesc::Mmio { name, .. } => *name == "uart_regs" || *name == "console",
            DeviceDesc::IoPort(io) => io.base == 0x3f8,
        }) else {
            return;
        };
        let dev = match d {
            DeviceDesc::Mmio { vaddr, size, .. } => match crate::Sel4Device::mmio(vaddr(), *size) {
                Some(d) => d,
                None => return,
            },
            DeviceDesc::IoPort(io) => crate::Sel4Device::ioport(io),
        };
        let arm = cfg!(target_arch = "aarch64");
        for &c in b {
            if arm {
                while dev.read(PL011_FR, Width::U32) & PL011_FR_TXFF != 0 {}
                dev.write(PL011_DR, Width::U32, u32::from(c));
            } else {
                while dev.read(LSR, Width::U8) & LSR_THRE == 0 {}
                dev.write(0, Width::U8, u32::from(c));
            }
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
