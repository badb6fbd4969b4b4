//! The seL4 backend: [`pd_core::Platform`] on Microkit, for the same PD code
//! that runs on the hosted runtime.
//!
//! A PD binary is three lines (see `support/sel4/pds/*`):
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! selfheal_sel4::protection_domain!(pd_serial::init, stack_size = 0x10000);
//! ```
//!
//! Its `build.rs` generates the PD's table ([`PdConfig`]) and setvar symbols
//! from `system.xml` (crate `selfheal-sel4-build`). At start the glue acks the
//! PD's interrupts, installs panic and abort hooks that write diagnostic lines
//! (never raw text: the console also carries the client's stream), calls the
//! PD's `init` with a [`Sel4Platform`] and runs its own event loop
//! ([`event_loop`]), which dispatches to the returned [`pd_core::Handler`].
//!
//! Every PD links `sel4-reset` and is post-processed with `sel4-reset-cli`, so
//! any child can be restarted at its `_reset` entry: sel4-reset restores every
//! writable segment from a pristine copy except `.persistent`, where the glue
//! keeps what the Microkit tool patches (`microkit_*`, every `setvar_*`).
//!
//! What must never happen: a blocked caller losing its reply because a
//! restarted PD received before replying (the loop always begins with
//! `ReplyRecv`, see [`event_loop`]); the monitor dying on a child's fault
//! (faults are decoded by [`pd_core::Fault::decode`], never by rust-sel4's
//! parser, which panics on some labels).
#![no_std]

pub mod console;
mod device;
pub mod event_loop;
mod symbols;
pub mod time;
mod trace;

pub use device::Sel4Device;

use pd_core::{
    Arch, Channel, ChildId, ChildOp, Message, Platform, PlatformError, Region, MSG_WORDS,
};

/// A memory region mapped into the PD (`<map ... setvar_vaddr>`).
pub struct RegionDesc {
    /// The `setvar_vaddr` symbol name.
    pub name: &'static str,
    /// Reads the patched symbol (the vaddr).
    pub vaddr: fn() -> usize,
    /// Size of the memory region.
    pub size: usize,
    /// Reads the patched `<setvar region_paddr>` symbol of the same region,
    /// if the PD has one (the region's physical address).
    pub paddr: Option<fn() -> usize>,
}

/// An x86 I/O port range (`<ioport>`).
pub struct IoPortDesc {
    /// The `setvar_id` symbol name.
    pub name: &'static str,
    /// Reads the I/O port id (the patched `setvar_id`, or the id itself).
    pub id: fn() -> usize,
    /// First port.
    pub base: u16,
    /// Number of ports.
    pub size: u16,
}

/// A device the PD may access.
pub enum DeviceDesc {
    /// Registers mapped at a virtual address (Arm).
    Mmio {
        /// The `setvar_vaddr` symbol name.
        name: &'static str,
        /// Reads the patched symbol (the vaddr).
        vaddr: fn() -> usize,
        /// Size of the mapping.
        size: usize,
        /// The registers' physical address (the region's `phys_addr`).
        paddr: u64,
    },
    /// An I/O port range (x86).
    IoPort(IoPortDesc),
}

/// The PD's one-shot timer: the board timer interrupt arrives on `channel`.
pub struct TimerDesc {
    /// Channel of the timer interrupt.
    pub channel: u8,
    /// x86: the PIT's port range.
    pub pit: Option<IoPortDesc>,
}

/// A child PD.
pub struct ChildDesc {
    /// Child id.
    pub id: u8,
    /// PD name.
    pub name: &'static str,
    /// Address of the child's `_reset` entry (read from its final ELF at build time).
    pub reset: usize,
    /// Address of the child's quarantine entry (`selfheal_sel4_quarantine`).
    pub quarantine: usize,
}

/// The PD's table, generated from the system description at build time.
pub struct PdConfig {
    /// PD name.
    pub name: &'static str,
    /// Regions by `setvar_vaddr`.
    pub regions: &'static [RegionDesc],
    /// Devices by `setvar_vaddr` (Arm) or `setvar_id` (x86).
    pub devices: &'static [DeviceDesc],
    /// The timer, if the PD has the board timer's interrupt.
    pub timer: Option<TimerDesc>,
    /// Children.
    pub children: &'static [ChildDesc],
    /// x86: reads the vaddr of the page prefilled with the kernel's TSC
    /// frequency (`prefill_bootinfo="x86_tsc_freq"`).
    pub tsc_freq: Option<fn() -> usize>,
}

unsafe extern "Rust" {
    /// Defined by the PD binary (generated `pd_config.rs`).
    static __selfheal_sel4_pd: PdConfig;
}

/// This PD's table.
pub fn config() -> &'static PdConfig {
    // SAFETY: an immutable static defined by the generated code of every PD
    // binary, with exactly this type.
    unsafe { &__selfheal_sel4_pd }
}

// Microkit's capability layout (libmicrokit, Microkit 2.3.0).
pub(crate) const INPUT_CAP: u64 = 1;
pub(crate) const REPLY_CAP: u64 = 4;
pub(crate) const BASE_OUTPUT_NOTIFICATION_CAP: u64 = 10;
pub(crate) const BASE_ENDPOINT_CAP: u64 = 74;
pub(crate) const BASE_IRQ_CAP: u64 = 138;
pub(crate) const BASE_TCB_CAP: u64 = 202;
pub(crate) const BASE_IOPORT_CAP: u64 = 394;

/// Top of a PD's initial stack as Microkit lays it out (tool `pd_stack_top`):
/// the IPC buffer is the page holding `seL4_UserVSpaceTop`, then a guard page.
/// `_reset` switches to its own stack at once; this is only a valid `sp` for
/// the first instructions.
pub const fn pd_stack_top() -> usize {
    ((sel4::sys::seL4_UserVSpaceTop as usize) & !0xfff) - 0x1000
}

/// The platform handed to PD code on seL4. Zero-sized: everything it needs is
/// in the generated table and the PD's few statics.
#[derive(Clone, Copy)]
pub struct Sel4Platform {
    _private: (),
}

impl Sel4Platform {
    fn get() -> Self {
        Self { _private: () }
    }
}

fn declared(bits: usize, ch: Channel) -> bool {
    bits & (1 << ch.index()) != 0
}

/// Copy `msg` into the message registers and describe it.
pub(crate) fn put_msg(msg: &Message) -> sel4::MessageInfo {
    let words = msg.words();
    sel4::with_ipc_buffer_mut(|ib| ib.msg_regs_mut()[..words.len()].copy_from_slice(words));
    sel4::MessageInfo::new(msg.label, 0, 0, words.len())
}

/// The message in the message registers.
pub(crate) fn get_msg(info: &sel4::MessageInfo) -> Message {
    let n = info.length().min(MSG_WORDS);
    let mut words = [0u64; MSG_WORDS];
    sel4::with_ipc_buffer(|ib| words[..n].copy_from_slice(&ib.msg_regs()[..n]));
    Message::from_raw(info.label(), n, words)
}

impl Platform for Sel4Platform {
    type Device = Sel4Device;

    fn arch(&self) -> Arch {
        #[cfg(target_arch = "aarch64")]
        return Arch::Aarch64;
        #[cfg(target_arch = "x86_64")]
        return Arch::X86_64;
    }

    fn pd_name(&self) -> &str {
        config().name
    }

    fn notify(&self, ch: Channel) {
        if declared(symbols::notifications(), ch) {
            let cap: sel4::cap::Notification =
                sel4::Cap::from_bits(BASE_OUTPUT_NOTIFICATION_CAP + u64::from(ch.index()));
            cap.signal();
        } else {
            pd_core::pd_log!(
                self,
                "{}: notify: invalid channel given '{}'",
                config().name,
                ch.index()
            );
        }
    }

    fn irq_ack(&self, ch: Channel) {
        if declared(symbols::irqs(), ch) {
            let cap: sel4::cap::IrqHandler =
                sel4::Cap::from_bits(BASE_IRQ_CAP + u64::from(ch.index()));
            let _ = cap.irq_handler_ack();
        } else {
            pd_core::pd_log!(
                self,
                "{}: irq_ack: invalid channel given '{}'",
                config().name,
                ch.index()
            );
        }
    }

    fn ppcall(&self, ch: Channel, msg: &Message) -> Message {
        // An undeclared channel is an empty slot: the call faults with a
        // capability fault, as a plain Microkit PD would.
        let cap: sel4::cap::Endpoint =
            sel4::Cap::from_bits(BASE_ENDPOINT_CAP + u64::from(ch.index()));
        let reply = cap.call(put_msg(msg));
        get_msg(&reply)
    }

    fn reply_pending(&self, _ch: Option<Channel>, msg: &Message) {
        trace::replied();
        event_loop::store_pending_reply(msg);
    }

    fn debug_puts(&self, s: &str) {
        console::puts(s);
    }

    fn now_ns(&self) -> u64 {
        time::now_ns()
    }

    fn set_timeout(&self, after_ns: u64) -> Result<(), PlatformError> {
        time::set_timeout(after_ns)
    }

    fn timer_channel(&self) -> Option<Channel> {
        config()
            .timer
            .as_ref()
            .and_then(|t| Channel::new(t.channel))
    }

    fn region(&self, setvar: &str) -> Option<Region> {
        config()
            .regions
            .iter()
            .find(|r| r.name == setvar)
            .map(|r| Region {
                vaddr: (r.vaddr)(),
                size: r.size,
            })
            .filter(|r| r.vaddr != 0)
    }

    fn region_paddr(&self, setvar: &str) -> Option<u64> {
        let device = || {
            config().devices.iter().find_map(|d| match d {
                DeviceDesc::Mmio { name, paddr, .. } if *name == setvar => Some(*paddr),
                _ => None,
            })
        };
        config()
            .regions
            .iter()
            .find(|r| r.name == setvar)
            .and_then(|r| r.paddr)
            .map(|f| f() as u64)
            .or_else(device)
            .filter(|&p| p != 0)
    }

    fn device(&self, name: &str) -> Option<Sel4Device> {
        config().devices.iter().find_map(|d| match d {
            DeviceDesc::Mmio {
                name: n,
                vaddr,
                size,
                ..
            } if *n == name => Sel4Device::mmio(vaddr(), *size),
            DeviceDesc::IoPort(io) if io.name == name => Some(Sel4Device::ioport(io)),
            _ => None,
        })
    }

    fn child(&self, child: ChildId, op: ChildOp) -> Result<(), PlatformError> {
        let desc = config()
            .children
            .iter()
            .find(|c| c.id == child.0)
            .ok_or(PlatformError::NotDeclared)?;
        let tcb: sel4::cap::Tcb = sel4::Cap::from_bits(BASE_TCB_CAP + u64::from(desc.id));
        // Suspending first also stops a child that is running (a hang): the
        // registers written below take effect when it is resumed. Neither call
        // touches the reply object the child holds for *its* caller; only the
        // child's own pending fault IPC to us is cancelled.
        tcb.tcb_suspend().map_err(|_| PlatformError::Refused)?;
        let (pc, sp) = match op {
            ChildOp::Stop => return Ok(()),
            ChildOp::Restart => (desc.reset, pd_stack_top()),
            // On the Microkit stack; x86 functions expect the stack 8 bytes
            // off 16 on entry (as if called).
            ChildOp::Quarantine => (
                desc.quarantine,
                pd_stack_top() - if cfg!(target_arch = "x86_64") { 8 } else { 0 },
            ),
        };
        let mut ctx = sel4::UserContext::default();
        *ctx.pc_mut() = pc as sel4::Word;
        *ctx.sp_mut() = sp as sel4::Word;
        // Count 2: pc and sp on both arches.
        let r = tcb
            .tcb_write_registers(true, 2, &mut ctx)
            .map_err(|_| PlatformError::Refused);
        trace::restart_issued(desc.id);
        r
    }

    fn child_ip(&self, child: ChildId) -> Option<u64> {
        let tcb = Self::child_tcb(child)?;
        // Count 1: the pc comes first in the register set on both arches.
        let ctx = tcb.tcb_read_registers(false, 1).ok()?;
        Some(*ctx.pc())
    }
}

impl Sel4Platform {
    fn child_tcb(child: ChildId) -> Option<sel4::cap::Tcb> {
        let desc = config().children.iter().find(|c| c.id == child.0)?;
        Some(sel4::Cap::from_bits(BASE_TCB_CAP + u64::from(desc.id)))
    }
}

/// Start the PD: hooks, interrupts, clock, then `init` and the event loop.
pub fn run<H, F>(init: F) -> !
where
    H: pd_core::Handler,
    F: FnOnce(Sel4Platform) -> H,
{
    trace::entry();
    console::install_hooks();
    let p = Sel4Platform::get();
    time::init();
    // Acknowledge every interrupt once at start (seL4 issue #1536), as
    // libmicrokit does; done before `init` so that the event loop's first
    // kernel operation is its ReplyRecv.
    let irqs = symbols::irqs();
    for i in 0..=pd_core::MAX_CHANNEL {
        if irqs & (1 << i) != 0 {
            let cap: sel4::cap::IrqHandler = sel4::Cap::from_bits(BASE_IRQ_CAP + u64::from(i));
            let _ = cap.irq_handler_ack();
        }
    }
    let handler = init(p);
    event_loop::run(p, handler)
}

/// Declare a PD binary: the generated table, the Microkit entry point with
/// its stack, and `init` run by [`run`].
///
/// `protection_domain!(pd_serial::init, stack_size = 0x10000)`.
#[macro_export]
macro_rules! protection_domain {
    ($init:path) => {
        $crate::protection_domain!($init, stack_size = 0x10000);
    };
    ($init:path, stack_size = $size:expr) => {
        include!(concat!(env!("OUT_DIR"), "/pd_config.rs"));

        fn __selfheal_sel4_init() -> $crate::_private::sel4_microkit::NullHandler {
            $crate::run($init)
        }

        // What `sel4_microkit::declare_protection_domain!` declares, but for
        // where the stack lives: in `.persistent`, which sel4-reset leaves
        // alone, so a restart does not zero the whole reserved stack (no
        // program reads a stack slot it did not write, and every start
        // begins at its top).
        $crate::_private::sel4_microkit::_private::declare_entrypoint_with_stack_init!();
        $crate::_private::sel4_microkit::_private::declare_init!(__selfheal_sel4_init);
        const _: () = {
            #[unsafe(no_mangle)]
            static __sel4_runtime_common__stack_bottom: $crate::_private::sel4_stack::StackBottom = {
                #[unsafe(link_section = ".persistent")]
                static STACK: $crate::_private::sel4_stack::Stack<{ $size }> =
                    $crate::_private::sel4_stack::Stack::new();
                STACK.bottom()
            };
        };

        // Keep sel4-reset linked: it provides `_reset`, the restart entry.
        #[used]
        static __SELFHEAL_SEL4_RESET: fn() -> ! = $crate::_private::sel4_reset::reset;
        // And the quarantine entry, which the parent jumps to by address.
        #[used]
        static __SELFHEAL_SEL4_QUARANTINE: extern "C" fn() -> ! =
            $crate::event_loop::selfheal_sel4_quarantine;
    };
}

#[doc(hidden)]
pub mod _private {
    pub use sel4_microkit;
    pub use sel4_reset;
    pub use sel4_stack;
}
