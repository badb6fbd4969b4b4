//! Time and the one-shot timer.
//!
//! Clock ([`now_ns`]):
//! * aarch64: the physical counter CNTPCT_EL0 scaled by CNTFRQ_EL0 (both
//!   readable at EL0: Microkit builds seL4 with `KernelArmExportPCNTUser`).
//!   QEMU virt: 62.5 MHz, 16 ns per tick.
//! * x86_64: the TSC (readable at CPL3 in every configuration) scaled by the
//!   TSC frequency the kernel measured at boot, which the CapDL initialiser
//!   copies into a page declared with `prefill_bootinfo="x86_tsc_freq"`
//!   (MHz, after a 16-byte bootinfo header). Every PD that reads the clock
//!   maps that page, so all agree on the scale (protocol deadlines published
//!   by one PD are compared by another). Without the page the glue assumes
//!   1 GHz and says so once.
//!
//! [`ticks`] gives the raw counter, [`TICK_UNIT`] names it.
//!
//! Timer ([`set_timeout`]), for a PD that has the board timer's interrupt:
//! * qemu_virt_aarch64: the EL1 physical timer (INTID 30; its registers are
//!   usable at EL0 with `KernelArmExportPTMRUser`), compare value = deadline.
//!   Its output is level-sensitive: masked before the interrupt is acked.
//! * x86_64_generic: PIT channel 0 in mode 0 (one shot), ports 0x40..0x43,
//!   ISA IRQ 0 = IOAPIC pin 2 (edge). Its counter is 16 bits at 1.193182 MHz
//!   (at most 54.9 ms); longer timeouts are re-armed by the glue until the
//!   deadline (kept in clock ticks) has passed.
//!
//! The glue acknowledges the timer interrupt itself; the handler sees the
//! timer channel in `notified` only once the deadline has passed.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use pd_core::PlatformError;

/// Deadline in counter ticks (0 = none armed).
static DEADLINE: AtomicU64 = AtomicU64::new(0);
/// Counter frequency in Hz (x86: the TSC's, from the bootinfo page).
static FREQ_HZ: AtomicU64 = AtomicU64::new(0);
static WARNED: AtomicBool = AtomicBool::new(false);

/// What one unit of [`ticks`] is.
#[cfg(target_arch = "aarch64")]
pub const TICK_UNIT: &str = "CNTPCT ticks";
/// What one unit of [`ticks`] is.
#[cfg(target_arch = "x86_64")]
pub const TICK_UNIT: &str = "TSC cycles";

#[cfg(target_arch = "aarch64")]
mod arch {
    use core::arch::asm;

    pub fn ticks() -> u64 {
        let v: u64;
        // SAFETY: reading the EL0-accessible physical counter.
        unsafe { asm!("isb", "mrs {}, cntpct_el0", out(reg) v, options(nomem, nostack)) };
        v
    }

    pub fn freq_hz() -> Option<u64> {
        let v: u64;
        // SAFETY: reading CNTFRQ_EL0, readable at EL0.
        unsafe { asm!("mrs {}, cntfrq_el0", out(reg) v, options(nomem, nostack)) };
        (v != 0).then_some(v)
    }

    /// Fire when the counter reaches `at`.
    pub fn arm(at: u64) {
        // SAFETY: the EL1 physical timer is exported to EL0 on this board and
        // owned by the one PD that has its interrupt.
        unsafe {
            asm!("msr cntp_cval_el0, {}", "isb", in(reg) at, options(nostack));
            asm!("msr cntp_ctl_el0, {}", "isb", in(reg) 1u64, options(nostack));
        }
    }

    /// Silence the (level) output before the interrupt is acknowledged.
    pub fn disarm() {
        // SAFETY: as above. IMASK set, disabled.
        unsafe { asm!("msr cntp_ctl_el0, {}", "isb", in(reg) 2u64, options(nostack)) };
    }
}

#[cfg(target_arch = "x86_64")]
mod arch {
    use crate::device::ioport;
    use pd_core::Width;

    pub const PIT_HZ: u64 = 1_193_182;

    pub fn ticks() -> u64 {
        // SAFETY: RDTSC is allowed at CPL3 (seL4 does not set CR4.TSD).
        unsafe { core::arch::x86_64::_rdtsc() }
    }

    /// The kernel's TSC frequency, from the bootinfo page.
    pub fn freq_hz() -> Option<u64> {
        let page = crate::config().tsc_freq?();
        if page == 0 {
            return None;
        }
        // SAFETY: a read-only page mapped for the PD's life, prefilled with
        // `seL4_BootInfoHeader { id, len }` then the frequency in MHz (u32).
        let (id, mhz) = unsafe {
            (
                core::ptr::read_volatile(page as *const u64),
                core::ptr::read_volatile((page + 16) as *const u32),
            )
        };
        // SEL4_BOOTINFO_HEADER_X86_TSC_FREQ
        (id == 5 && mhz != 0).then_some(u64::from(mhz) * 1_000_000)
    }

    fn pit() -> Option<(u64, u16)> {
        let io = crate::config().timer.as_ref()?.pit.as_ref()?;
        Some((crate::BASE_IOPORT_CAP + (io.id)() as u64, io.base))
    }

    /// Fire after `ns` (at most one PIT period, 54.9 ms).
    pub fn arm_after(ns: u64) {
        let Some((cap, base)) = pit() else { return };
        // Rounded up, so that the edge never comes before the deadline.
        let count = (ns.saturating_mul(PIT_HZ).div_ceil(1_000_000_000) + 1).clamp(1, 0xffff);
        // Channel 0, lobyte/hibyte, mode 0 (interrupt on terminal count):
        // the output rises once when the count runs out (IOAPIC edge).
        ioport::write(cap, base + 3, Width::U8, 0x30);
        ioport::write(cap, base, Width::U8, (count & 0xff) as u32);
        ioport::write(cap, base, Width::U8, (count >> 8) as u32);
    }
}

/// The raw counter ([`TICK_UNIT`]).
#[inline]
pub fn ticks() -> u64 {
    arch::ticks()
}

/// Counter frequency in Hz.
pub fn freq_hz() -> u64 {
    FREQ_HZ.load(Relaxed)
}

pub(crate) fn init() {
    let f = match arch::freq_hz() {
        Some(f) => f,
        None => {
            WARNED.store(true, Relaxed);
            1_000_000_000
        }
    };
    FREQ_HZ.store(f, Relaxed);
    DEADLINE.store(0, Relaxed);
}

/// Log the clock's scale once, if it had to be guessed.
pub(crate) fn warn_once() {
    if WARNED.swap(false, Relaxed) {
        crate::console::line(format_args!(
            "{}: no counter frequency (x86: map the prefill_bootinfo=\"x86_tsc_freq\" page): now_ns assumes 1 GHz",
            crate::config().name
        ));
    }
}

/// Convert counter ticks to nanoseconds.
pub fn ticks_to_ns(t: u64) -> u64 {
    let f = freq_hz();
    if f == 1_000_000_000 {
        t
    } else if 1_000_000_000 % f == 0 {
        t.wrapping_mul(1_000_000_000 / f)
    } else {
        (t / f) * 1_000_000_000 + (t % f) * 1_000_000_000 / f
    }
}

fn ns_to_ticks(ns: u64) -> u64 {
    let f = freq_hz();
    (ns / 1_000_000_000) * f + (ns % 1_000_000_000) * f / 1_000_000_000
}

/// Monotonic nanoseconds since boot.
pub fn now_ns() -> u64 {
    ticks_to_ns(ticks())
}

pub(crate) fn set_timeout(after_ns: u64) -> Result<(), PlatformError> {
    if crate::config().timer.is_none() {
        return Err(PlatformError::NotDeclared);
    }
    let deadline = ticks().saturating_add(ns_to_ticks(after_ns)).max(1);
    DEADLINE.store(deadline, Relaxed);
    #[cfg(target_arch = "aarch64")]
    arch::arm(deadline);
    #[cfg(target_arch = "x86_64")]
    arch::arm_after(after_ns);
    Ok(())
}

/// The timer interrupt arrived: quiet the timer, ack the interrupt, and say
/// whether the deadline has passed (if not, the timer is re-armed).
pub(crate) fn on_timer_irq(ch: pd_core::Channel) -> bool {
    #[cfg(target_arch = "aarch64")]
    arch::disarm();
    let cap: sel4::cap::IrqHandler =
        sel4::Cap::from_bits(crate::BASE_IRQ_CAP + u64::from(ch.index()));
    let _ = cap.irq_handler_ack();
    let deadline = DEADLINE.load(Relaxed);
    if deadline == 0 {
        return false; // Nothing armed: a stray edge.
    }
    let now = ticks();
    if now >= deadline {
        DEADLINE.store(0, Relaxed);
        return true;
    }
    #[cfg(target_arch = "aarch64")]
    arch::arm(deadline);
    #[cfg(target_arch = "x86_64")]
    arch::arm_after(ticks_to_ns(deadline - now));
    false
}
