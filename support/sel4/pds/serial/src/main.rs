//! serial.elf: the serial driver (`pd_serial::init`) on seL4.
//!
//! Features, for measuring only: `unchecked` starts the driver without its
//! protocol observer (`pd_serial::init_unchecked`); `check-cost` first
//! measures one observer check in place (`pd_serial::check_cost`) and logs
//! it, in clock ticks and nanoseconds (guest instructions under QEMU
//! `-icount shift=0`).
#![no_std]
#![no_main]

#[cfg(not(feature = "unchecked"))]
use pd_serial::init as start;
#[cfg(feature = "unchecked")]
use pd_serial::init_unchecked as start;

#[cfg(feature = "check-cost")]
fn init(p: selfheal_sel4::Sel4Platform) -> impl pd_core::Handler {
    use selfheal_sel4::time::{ticks, ticks_to_ns, TICK_UNIT};
    // Few enough to stay well inside the monitor's first heartbeat check.
    const PAIRS: u32 = 20_000;
    match pd_serial::check_cost::measure(PAIRS, ticks) {
        Some(c) => selfheal_sel4::console::line(format_args!(
            "check-cost: serial {} checks: observer {} {TICK_UNIT} ({} ns), baseline {} {TICK_UNIT} ({} ns)",
            2 * c.pairs,
            c.observed,
            ticks_to_ns(c.observed),
            c.baseline,
            ticks_to_ns(c.baseline),
        )),
        None => selfheal_sel4::console::line(format_args!(
            "check-cost: the observer refused the measured messages"
        )),
    }
    start(p)
}
#[cfg(not(feature = "check-cost"))]
use start as init;

selfheal_sel4::protection_domain!(init, stack_size = 0x10000);
