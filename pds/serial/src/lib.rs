//! The serial driver PD.
//!
//! Composes the exactly-once stream driver (`serial-stream`) with the board's
//! UART (PL011 on qemu_virt_aarch64, 16550 on x86_64_generic), runs it under
//! the driver personality (persistent state, replay, explicit errors) and puts
//! the channel layer around everything. Both UART drivers are compiled in and
//! chosen by the platform's architecture, so one hosted image serves both
//! boards; on seL4 the unused one costs a few KiB.
//!
//! What must never happen: code here that bypasses the channel layer or the
//! personality.
#![no_std]

pub mod check_cost;

use channel::{Checked, CheckedHandler, NoObserver, Observer, ObserverCell, SaveArea, StartMode};
use core::sync::atomic::{AtomicU64, Ordering};
use ns16550::Ns16550;

use pd_core::{pd_log, Arch, Channel, DeviceIo, Platform};
use personality::{Personality, Staging, StartPath};
use pl011::Pl011;
use serial_api::spec::{SerialChannels, SerialObserver};
use serial_stream::{AttachUart, IrqStatus, Misconfigured, SerialDriver, SerialState, Uart};

/// Channel ids of this PD's ports, as `system.xml` binds them (generated).
pub mod ports {
    include!(concat!(env!("OUT_DIR"), "/channels.rs"));
}
/// Channel on which clients call the driver.
pub const CLIENT: Channel = Channel::of(ports::CLIENT);
/// Channel on which the driver tells the monitor it is serving again.
pub const MONITOR: Channel = Channel::of(ports::MONITOR);

/// Name of the UART register mapping (Arm) or I/O port range (x86).
pub const UART_SETVAR: &str = "uart_regs";

/// The board's UART.
pub enum BoardUart<D: DeviceIo> {
    /// qemu_virt_aarch64.
    Pl011(Pl011<D>),
    /// x86_64_generic.
    Ns16550(Ns16550<D>),
}

macro_rules! each {
    ($self:ident, $u:ident => $e:expr) => {
        match $self {
            BoardUart::Pl011($u) => $e,
            BoardUart::Ns16550($u) => $e,
        }
    };
}

impl<D: DeviceIo> Uart for BoardUart<D> {
    fn init(&self) -> Result<(), Misconfigured> {
        each!(self, u => u.init())
    }
    fn resume(&self) {
        each!(self, u => u.resume())
    }
    fn tx_ready(&self) -> bool {
        each!(self, u => u.tx_ready())
    }
    fn put(&self, byte: u8) {
        each!(self, u => u.put(byte))
    }
    fn get(&self) -> Option<u8> {
        each!(self, u => u.get())
    }
    fn irq(&self) -> IrqStatus {
        each!(self, u => u.irq())
    }
}

impl<P: Platform> AttachUart<P> for BoardUart<P::Device> {
    fn attach(platform: &P) -> Option<Self> {
        let io = platform.device(UART_SETVAR)?;
        Some(match platform.arch() {
            Arch::Aarch64 => BoardUart::Pl011(Pl011::new(io)),
            Arch::X86_64 => BoardUart::Ns16550(Ns16550::new(io)),
        })
    }
}

/// The driver as a handler, inside the channel layer with observer `O`.
pub type SerialPdWith<P, O> = CheckedHandler<
    P,
    O,
    Personality<Checked<P, O>, SerialDriver<BoardUart<<P as Platform>::Device>>>,
>;

/// The driver as a handler, checked against `serial.tingu`.
pub type SerialPd<P> = SerialPdWith<P, SerialObserver>;

static OBSERVER: ObserverCell<SerialObserver> = ObserverCell::new();
static NO_OBSERVER: ObserverCell<NoObserver> = ObserverCell::new();

/// An initialised static (`.data`) and a zeroed one (`.bss`). Every start
/// logs them and then changes them: a start that sees anything but the
/// initial values would prove the platform did not reset the image. The
/// persistent byte count is logged beside them to show that it, unlike them,
/// survives.
static INIT_STATIC: AtomicU64 = AtomicU64::new(0x5eed_cafe);
static ZERO_STATIC: AtomicU64 = AtomicU64::new(0);

/// Entry point: start (or restart) the serial driver.
///
/// The protocol observer (generated from `serial.tingu`) keeps its state in
/// the persistent region: on a warm start it resumes where the previous
/// incarnation left off, so the replayed request's reply is checked against
/// the state the request put the protocol in.
pub fn init<P: Platform>(platform: P) -> SerialPd<P> {
    let channels = SerialChannels {
        client: CLIENT,
        monitor: MONITOR,
    };
    let observer = match SerialObserver::new(channels, platform.now_ns()) {
        Ok(o) => o,
        Err((a, b)) => panic!("serial: ports {a} and {b} share a channel"),
    };
    start(platform, &OBSERVER, observer)
}

/// Entry point without protocol checking (the channel layer lets everything
/// through): only for measuring what the observers cost.
pub fn init_unchecked<P: Platform>(platform: P) -> SerialPdWith<P, NoObserver> {
    start(platform, &NO_OBSERVER, NoObserver)
}

fn start<P: Platform, O: Observer>(
    platform: P,
    cell: &'static ObserverCell<O>,
    observer: O,
) -> SerialPdWith<P, O> {
    static STAGING: Staging = Staging::new();
    let mut boot = match personality::Boot::<SerialState>::load(&platform, &STAGING) {
        Ok(b) => b,
        // Without its persistent region the driver cannot honour its
        // contract: fault, and let the monitor's policy decide.
        Err(e) => panic!("serial: cannot start: {e:?} (is the persistent region mapped?)"),
    };
    let parts = boot.save_area();
    let area = SaveArea {
        len: parts.len,
        words: parts.words,
        capacity: parts.capacity,
        deadline: parts.deadline,
        report_len: parts.report_len,
        report: parts.report,
        report_capacity: parts.report_capacity,
    };
    // The observer begins like the driver: where the last commit left it
    // (warm), in its restart states (cold, tombstone, untrusted region), or
    // fresh (first boot).
    let mode = match boot.path() {
        StartPath::Warm => StartMode::Restore,
        _ if boot.first_boot() => StartMode::Fresh,
        _ => StartMode::Restart,
    };
    let p = Checked::persistent(platform, cell.init(observer), area, mode);
    // A line before any output of this start (recovery may replay stream
    // bytes): it ends, for the console checker, a line of ours that the
    // previous incarnation died in the middle of, so that no stream byte is
    // taken for the rest of that line.
    pd_log!(
        &p,
        "serial: starting ({})",
        if boot.first_boot() {
            "first boot"
        } else {
            "restart"
        }
    );
    let mut h =
        Personality::<_, SerialDriver<BoardUart<P::Device>>>::start(p.clone(), Some(MONITOR), boot);
    let (init, zero) = (
        INIT_STATIC.load(Ordering::Relaxed),
        ZERO_STATIC.load(Ordering::Relaxed),
    );
    let epoch = h.env().epoch();
    let total_tx = h.env().state().total_tx;
    pd_log!(
        &p,
        "serial: start epoch {epoch}: init-static {init:#x} zero-static {zero:#x} persistent total_tx {total_tx}"
    );
    INIT_STATIC.store(0xdead_beef, Ordering::Relaxed);
    ZERO_STATIC.store(epoch + 1, Ordering::Relaxed);
    CheckedHandler::new(p, h)
}
