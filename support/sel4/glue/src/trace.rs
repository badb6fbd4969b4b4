//! Raw counter timestamps of restarts, as the glue sees them (feature
//! `trace`; no-ops otherwise). For `make bench-qemu`: the monitor's own
//! restart lines have microsecond resolution, these are in counter ticks
//! ([`crate::time::TICK_UNIT`]; under QEMU `-icount shift=0`, one TSC cycle is
//! one instruction, one CNTPCT tick sixteen).
//!
//! Lines (written through the console, so deferred under `deferred-log`):
//! * `<pd>: trace clock <unit> <hz> Hz` once per start;
//! * `<pd>: trace restart child <id> after <event> received <t> issued <t>`
//!   in a parent, for every restart: the event (`fault` IPC or `notification`,
//!   e.g. the watchdog tick that found a hang) returned from the kernel, and
//!   the handler had issued the restart;
//! * `<pd>: trace start entry <t> replied <t> loop <t>` in every PD once its
//!   event loop's first `ReplyRecv` has returned: the glue was entered (after
//!   sel4-reset and the Rust runtime), `reply_pending` was called (0 if not),
//!   the first `ReplyRecv` was issued.
//!
//! The PD's name comes first, as in every log line: the console checker
//! tells interleaved diagnostic spans apart by that prefix (on x86 `release`
//! the monitor's debug port and the serial driver's UART share one console,
//! and two spans both named `trace` were taken for one PD's dead line).

#[cfg(feature = "trace")]
mod imp {
    use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

    use crate::time::ticks;

    static ENTRY: AtomicU64 = AtomicU64::new(0);
    static REPLIED: AtomicU64 = AtomicU64::new(0);
    static LOOP: AtomicU64 = AtomicU64::new(0);
    static RECEIVED: AtomicU64 = AtomicU64::new(0);
    static ISSUED: AtomicU64 = AtomicU64::new(0);
    static CHILD: AtomicU64 = AtomicU64::new(0);

    pub fn entry() {
        ENTRY.store(ticks(), Relaxed);
    }

    pub fn replied() {
        if REPLIED.load(Relaxed) == 0 {
            REPLIED.store(ticks(), Relaxed);
        }
    }

    pub fn first_reply_recv() {
        LOOP.store(ticks(), Relaxed);
    }

    pub fn report_start() {
        let name = crate::config().name;
        crate::console::line(format_args!(
            "{name}: trace clock {} {} Hz",
            crate::time::TICK_UNIT,
            crate::time::freq_hz()
        ));
        crate::console::line(format_args!(
            "{name}: trace start entry {} replied {} loop {}",
            ENTRY.load(Relaxed),
            REPLIED.load(Relaxed),
            LOOP.load(Relaxed)
        ));
    }

    pub fn received() {
        RECEIVED.store(ticks(), Relaxed);
        ISSUED.store(0, Relaxed);
    }

    pub fn restart_issued(child: u8) {
        ISSUED.store(ticks(), Relaxed);
        CHILD.store(u64::from(child), Relaxed);
    }

    pub fn report_restart(event: &str) {
        let issued = ISSUED.swap(0, Relaxed);
        if issued != 0 {
            crate::console::line(format_args!(
                "{}: trace restart child {} after {event} received {} issued {issued}",
                crate::config().name,
                CHILD.load(Relaxed),
                RECEIVED.load(Relaxed),
            ));
        }
    }
}

#[cfg(not(feature = "trace"))]
mod imp {
    #[inline(always)]
    pub fn entry() {}
    #[inline(always)]
    pub fn replied() {}
    #[inline(always)]
    pub fn first_reply_recv() {}
    #[inline(always)]
    pub fn report_start() {}
    #[inline(always)]
    pub fn received() {}
    #[inline(always)]
    pub fn restart_issued(_child: u8) {}
    #[inline(always)]
    pub fn report_restart(_event: &str) {}
}

pub(crate) use imp::*;
