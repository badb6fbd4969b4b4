//! The symbols the Microkit tool patches into every PD image.
//!
//! sel4-microkit's `extern-symbols` feature leaves their definition to us, so
//! that they can live in `.persistent`: the Microkit tool writes them into the
//! ELF after `sel4-reset-cli` took the pristine copy of the writable segments,
//! so a reset that restored them would zero the PD's name and its channel,
//! interrupt and I/O port masks.
#![allow(non_upper_case_globals)]

use core::ptr::{addr_of, read_volatile};

#[unsafe(no_mangle)]
#[unsafe(link_section = ".persistent")]
#[used]
static mut microkit_name: [u8; 64] = [0; 64];

#[unsafe(no_mangle)]
#[unsafe(link_section = ".persistent")]
#[used]
static mut microkit_passive: bool = false;

#[unsafe(no_mangle)]
#[unsafe(link_section = ".persistent")]
#[used]
static mut microkit_irqs: usize = 0;

#[unsafe(no_mangle)]
#[unsafe(link_section = ".persistent")]
#[used]
static mut microkit_notifications: usize = 0;

#[unsafe(no_mangle)]
#[unsafe(link_section = ".persistent")]
#[used]
static mut microkit_pps: usize = 0;

#[unsafe(no_mangle)]
#[unsafe(link_section = ".persistent")]
#[used]
static mut microkit_ioports: usize = 0;

/// Channels with an interrupt.
pub fn irqs() -> usize {
    // SAFETY: written only by the Microkit tool, before boot.
    unsafe { read_volatile(addr_of!(microkit_irqs)) }
}

/// Channels this PD may notify.
pub fn notifications() -> usize {
    // SAFETY: as above.
    unsafe { read_volatile(addr_of!(microkit_notifications)) }
}

/// Channels this PD may call.
#[allow(dead_code)]
pub fn pps() -> usize {
    // SAFETY: as above.
    unsafe { read_volatile(addr_of!(microkit_pps)) }
}
