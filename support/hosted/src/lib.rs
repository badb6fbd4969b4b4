//! The hosted runtime: the project's PDs on Linux, with Microkit semantics.
//!
//! Why this crate exists: it is the test bench for the seL4 product. The
//! same PD code, generic over [`pd_core::Platform`], runs here as one Linux
//! process per protection domain, with real shared memory for memory
//! regions, coalescing notifications, synchronous protected calls with
//! kernel-held reply objects, faults delivered to the parent (from real
//! signals: SIGSEGV, SIGILL, panics), child restarts that give a pristine
//! image (fork+exec), timers, and device models of the boards' UARTs whose
//! state survives a driver restart like hardware does. See
//! `docs/hosted-runtime.md` for the model and its known differences from seL4.
//!
//! What must never happen:
//! * a behaviour that seL4/Microkit would not have (a notification that does
//!   not coalesce, a call to an undeclared channel that succeeds, a fault
//!   that does not reach the parent, a restart that keeps the image's
//!   statics): a test that passes here would then lie about the product;
//! * an orphan PD process after the [`System`] is gone, whatever happened to
//!   the test (every PD process has a parent-death signal; drop kills them);
//! * a panic in the kernel on anything a PD or the system file can do.
//!
//! # Writing an image binary
//!
//! ```no_run
//! use pd_core::{ChannelSet, Handler, Platform};
//!
//! struct Hello;
//! impl Handler for Hello {
//!     fn notified(&mut self, _: ChannelSet) {}
//! }
//! fn init<P: Platform>(p: P) -> impl Handler {
//!     p.debug_puts("hello\n");
//!     Hello
//! }
//!
//! fn main() {
//!     hosted::image_main(&[hosted::PdImage {
//!         program: "hello.elf",
//!         entry: hosted::pd_entry!(init),
//!     }]);
//!     // Not started as a PD: an ordinary program (e.g. a launcher).
//! }
//! ```

mod irq;
mod kernel;
pub mod models;
mod pd;
mod shm;
mod sys;
/// CLOCK_MONOTONIC in nanoseconds (the clock the runtime stamps with).
pub use sys::now_ns;
mod world;

pub use kernel::{Console, LaunchConfig, PdState, PdStats, RegionRef, System};
pub use pd::{image_main, run_handler, HostedDevice, HostedPlatform, PdImage};
pub use sdf::Board;

use std::fmt;

/// Why the runtime refused or failed.
#[derive(Debug)]
pub enum Error {
    /// The system description is invalid for the board (file:line:col inside).
    Sdf(sdf::Diagnostic),
    /// The system uses something the runtime cannot provide, or the launch
    /// configuration is inconsistent.
    Config(String),
    /// A system call failed.
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// A PD could not start (e.g. a region's address is taken in the image).
    Boot {
        /// The PD.
        pd: String,
        /// Why.
        message: String,
    },
    /// Something did not happen in time.
    Timeout {
        /// What was awaited.
        what: String,
        /// The end of the console, for the diagnosis.
        console_tail: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sdf(d) => write!(f, "{d}"),
            Self::Config(m) => f.write_str(m),
            Self::Io { what, source } => write!(f, "{what}: {source}"),
            Self::Boot { pd, message } => write!(f, "PD {pd} cannot start: {message}"),
            Self::Timeout { what, console_tail } => {
                write!(
                    f,
                    "timed out waiting for {what}; console ends with:\n{console_tail}"
                )
            }
        }
    }
}

impl std::error::Error for Error {}

/// `pd_entry!(path::to::init)`: a `fn(HostedPlatform) -> !` that calls
/// `init(platform)` (any `fn init<P: Platform>(P) -> impl Handler`) and runs
/// the event loop with the handler it returns. For [`PdImage::entry`].
#[macro_export]
macro_rules! pd_entry {
    ($init:path) => {{
        fn __hosted_pd_entry(p: $crate::HostedPlatform) -> ! {
            let handler = $init(::core::clone::Clone::clone(&p));
            $crate::run_handler(p, handler)
        }
        __hosted_pd_entry as fn($crate::HostedPlatform) -> !
    }};
}
