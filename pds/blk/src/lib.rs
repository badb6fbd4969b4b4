//! The block driver PD: finds the virtio block device among the board's
//! virtio-mmio slots (`virtio_regs`) or on its PCI bus (configuration
//! ports `pci_config`, the device's BAR mapped as `virtio_bar`), where the
//! record says the last start found it first, brings it up with its queue
//! in the `blk_dma` region, and serves the client's sDDF queues (`blk_req`, `blk_resp`, data in
//! `blk_data`) through the block server, under the driver personality: the
//! in-flight table is the driver's persistent state, committed at each step
//! of each request, so a restarted driver (any instant, any fault) resets
//! the device, resynchronises the queues and hands every held request to
//! the device again. It publishes the storage-info page (`blk_info`, with
//! the epoch) and then answers every notification from the client or the
//! device.
//!
//! Fault injection (tests): the `fault_plan` region's driver lane fires at
//! three sites of this driver: the interrupt path, right after transfers
//! were handed to the device (while it does the DMA), and a client
//! notification; and at the personality's start sites.
//!
//! Stopped for good (a tombstone), it answers every request posted "no
//! device" without touching the device, and the client reports the stop.
//!
//! What must never happen: a client request handed to the device before it
//! is recorded, a device interrupt left unacknowledged, or a start that
//! does not reset the device before setting its queue up again.
#![no_std]

use blk_device::BlockDevice;
use blk_inflight::InFlight;
use blk_queue::{BlkReq, BlkResp, RespStatus, Ring, StorageInfo};
use blk_server::{DataRegion, Record, Server};
use blk_virtio::any::AnyTransport;
use blk_virtio::hal::Window;
use blk_virtio::mmio::{MmioTransport, SlotIo};
use blk_virtio::pci::DeviceFunction;
use blk_virtio::VirtioBlk;
use core::sync::atomic::{fence, Ordering};
use fault_inject::{Plan, Site};
use pd_core::message::LABEL_UNSUPPORTED;
use pd_core::{pd_log, Channel, ChannelSet, Message, Platform, Region};
use personality::{Driver, Env, ErrorReply, Personality, Staging, StartError, StartPath};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Channel ids as `systems/blk.xml` names them (generated).
pub mod ports {
    include!(concat!(env!("OUT_DIR"), "/channels.rs"));
}
/// Channel to the client (notifications both ways).
pub const CLIENT: Channel = Channel::of(ports::CLIENT);
/// The device's interrupt.
pub const IRQ: Channel = Channel::of(ports::IRQ);
/// The channel on which the driver tells the monitor it is serving again.
pub const MONITOR: Channel = Channel::of(ports::MONITOR);
/// Requests held at once (at least the ring's depth).
pub const HELD: usize = 64;
/// Ring capacity (entries) of the request and response rings.
pub const RING: u32 = 64;
/// virtio-mmio slots in the `virtio_regs` window, 0x200 bytes apart.
pub const SLOTS: usize = 32;
/// Bytes between slots.
pub const SLOT_SIZE: usize = 0x200;

/// The driver's persistent state: its record of held requests, and where
/// the device was found.
#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy)]
pub struct BlkState {
    /// The in-flight table.
    pub table: InFlight<HELD>,
    /// Where the last start found the device, for the next to look first:
    /// 0 not known, `SLOT_BASE + slot`, or `PCI_BASE + device` (function 0
    /// on bus 0). Only a hint: the device is checked there before use.
    pub located: u32,
    _pad: u32,
}

const SLOT_BASE: u32 = 1;
const PCI_BASE: u32 = 0x100;

// SAFETY: plain data (zerocopy bounds), no pointers.
unsafe impl persist::Persistent for BlkState {
    const NAME: &'static str = "blk";
    const VERSION: u32 = 2;
}

/// The record, as the personality keeps it: a volatile copy and its commit.
struct EnvRecord<'e, P: Platform>(&'e mut Env<P, BlkState>);

impl<P: Platform> Record<HELD> for EnvRecord<'_, P> {
    fn table(&mut self) -> &mut InFlight<HELD> {
        &mut self.0.state().table
    }
    fn commit(&mut self) {
        self.0.commit();
    }
}

/// The driver.
pub struct BlkDriver<P: Platform> {
    server: Server<'static, VirtioBlk<AnyTransport<P::Device>>, HELD>,
    plan: Option<Plan>,
    persistent: Option<Region>,
}

fn region<P: Platform>(p: &P, name: &str) -> Result<Region, StartError> {
    match p.region(name) {
        Some(r) => Ok(r),
        None => {
            pd_log!(p, "blk: region {name} is not mapped");
            Err(StartError::Device)
        }
    }
}

fn window<P: Platform>(p: &P, name: &str) -> Result<Window, StartError> {
    let r = region(p, name)?;
    match p.region_paddr(name) {
        Some(paddr) => Ok(Window {
            vaddr: r.vaddr,
            paddr,
            len: r.size,
        }),
        None => {
            pd_log!(
                p,
                "blk: region {name} has no physical address (<setvar region_paddr>)"
            );
            Err(StartError::Device)
        }
    }
}

/// Where the device was found (for the log and the record).
enum Found {
    Slot(usize),
    Pci(DeviceFunction, u64, u8),
}

impl Found {
    /// As `BlkState::located` keeps it.
    fn located(&self) -> u32 {
        match self {
            Self::Slot(s) => SLOT_BASE + *s as u32,
            Self::Pci(df, _, _) => PCI_BASE + u32::from(df.device),
        }
    }
}

impl core::fmt::Display for Found {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Slot(s) => write!(f, "slot {s}"),
            Self::Pci(df, bar, line) => write!(f, "pci {df} bar {bar:#x} intx line {line}"),
        }
    }
}

/// The block device's transport: a virtio-mmio slot, or a PCI function;
/// where `located` (the record's) says first.
fn open<P: Platform>(p: &P, located: u32) -> Result<(AnyTransport<P::Device>, Found), StartError> {
    let hint = |base: u32| located.checked_sub(base);
    if let Some(io) = p.device("virtio_regs") {
        let slot_hint = hint(SLOT_BASE).filter(|&s| s < PCI_BASE - SLOT_BASE);
        let Some(slot) =
            blk_virtio::mmio::find_block(&io, SLOTS, SLOT_SIZE, slot_hint.map(|s| s as usize))
        else {
            pd_log!(
                p,
                "blk: no virtio block device in the {SLOTS} virtio-mmio slots"
            );
            return Err(StartError::Device);
        };
        return match MmioTransport::new(SlotIo::new(io, slot * SLOT_SIZE)) {
            Ok(t) => Ok((AnyTransport::Mmio(t), Found::Slot(slot))),
            Err(e) => {
                pd_log!(p, "blk: virtio slot {slot}: {e}");
                Err(StartError::Device)
            }
        };
    }
    let (Some(ports), Some(bar)) = (p.device("pci_config"), p.device("virtio_bar")) else {
        pd_log!(
            p,
            "blk: neither virtio_regs nor pci_config and virtio_bar are mapped"
        );
        return Err(StartError::Device);
    };
    let Some(paddr) = p.region_paddr("virtio_bar") else {
        pd_log!(p, "blk: virtio_bar has no physical address");
        return Err(StartError::Device);
    };
    let device_hint = hint(PCI_BASE).and_then(|d| u8::try_from(d).ok());
    match blk_virtio::pci::open(&ports, bar, paddr, device_hint) {
        Ok((t, df)) => {
            let l = t.layout();
            Ok((
                AnyTransport::Pci(t),
                Found::Pci(df, l.bar_paddr, l.irq_line),
            ))
        }
        Err(e) => {
            pd_log!(p, "blk: {e} (virtio_bar is mapped at {paddr:#x})");
            Err(StartError::Device)
        }
    }
}

impl<P: Platform> BlkDriver<P> {
    /// Reset and set up the device, resynchronise the queues with the
    /// record, and serve what is waiting.
    fn start(env: &mut Env<P, BlkState>) -> Result<Self, StartError> {
        let p = env.platform().clone();
        let plan = p
            .region("fault_plan")
            // SAFETY: the plan region is mapped read-write for the PD's life.
            .map(|r| unsafe { Plan::new(r.as_mut_ptr(), r.size) });
        let pool = window(&p, "blk_dma")?;
        let data = window(&p, "blk_data")?;
        let (transport, at) = open(&p, env.state().located)?;
        env.state().located = at.located();
        let dev = match VirtioBlk::new(transport, pool, &[data]) {
            Ok(d) => d,
            Err(e) => {
                pd_log!(&p, "blk: virtio {at}: {e}");
                return Err(StartError::Device);
            }
        };
        let capacity = dev.capacity();
        let (req_r, resp_r) = (region(&p, "blk_req")?, region(&p, "blk_resp")?);
        // SAFETY: the rings' regions are shared with the client alone, and
        // accessed only through `Ring`s.
        let rings = unsafe {
            (
                Ring::<BlkReq>::requests(req_r.as_mut_ptr(), req_r.size, RING),
                Ring::<BlkResp>::responses(resp_r.as_mut_ptr(), resp_r.size, RING),
            )
        };
        let (Ok(req), Ok(resp)) = rings else {
            pd_log!(&p, "blk: the ring regions are too small for {RING} entries");
            return Err(StartError::Device);
        };
        let data_region = DataRegion {
            base: data.vaddr as *mut u8,
            len: data.len,
        };
        let (server, r) = match Server::start(req, resp, data_region, &mut EnvRecord(env), dev) {
            Ok(x) => x,
            Err(e) => {
                pd_log!(&p, "blk: {e}");
                return Err(StartError::Inconsistent);
            }
        };
        // Without the record (first boot, cold start, untrusted region) the
        // requests an earlier incarnation took are gone: say from where.
        let cold = !matches!(env.start_path(), StartPath::Warm);
        publish_info(
            &p,
            capacity,
            env.epoch(),
            cold.then(|| server.request_head()),
        )?;
        pd_log!(
            &p,
            "blk: start epoch {}: virtio {at}, {capacity} blocks, {} held requests resubmitted",
            env.epoch(),
            r.held
        );
        let mut d = Self {
            server,
            plan,
            persistent: p.region(personality::PERSISTENT_SETVAR),
        };
        d.serve(env);
        Ok(d)
    }

    fn serve(&mut self, env: &mut Env<P, BlkState>) {
        match self.server.serve(&mut EnvRecord(env)) {
            Ok(s) => {
                if s.answered > 0 {
                    env.platform().notify(CLIENT);
                }
                if s.submitted > 0 {
                    self.inject(env, Site::BlkSubmit);
                }
                env.progress();
            }
            // A fault: the monitor's policy decides.
            Err(e) => panic!("blk: {e}"),
        }
    }

    /// Fire the plan's entry for `site` if it is due.
    fn inject(&self, env: &Env<P, BlkState>, site: Site) {
        let Some(plan) = self.plan else { return };
        let Some((kind, arg)) = plan.hit(site, env.platform().now_ns()) else {
            return;
        };
        let region = self.persistent.map(|r| (r.as_mut_ptr(), r.size));
        // SAFETY: the persistent region is mapped read-write and page
        // aligned for the PD's life. Nothing this driver acts out itself
        // is planned for it: what returns is a scribble, already done.
        let _ = unsafe { fault_inject::act(kind, arg, region) };
    }
}

/// The plan's start sites: before the device is touched.
fn inject_at_start<P: Platform>(env: &Env<P, BlkState>, site: Site) {
    let p = env.platform();
    let Some(r) = p.region("fault_plan") else {
        return;
    };
    // SAFETY: the plan region is mapped read-write for the PD's life.
    let plan = unsafe { Plan::new(r.as_mut_ptr(), r.size) };
    if let Some((kind, _)) = plan.hit(site, p.now_ns()) {
        fault_inject::perform(kind, || {});
    }
}

fn publish_info<P: Platform>(
    p: &P,
    capacity: u64,
    epoch: u64,
    cold_head: Option<u32>,
) -> Result<(), StartError> {
    let r = region(p, "blk_info")?;
    let info = r.vaddr as *mut StorageInfo;
    // SAFETY: the storage-info page is ours to write (the client maps it
    // read-only) and at least one page; `ready` goes last, with release.
    unsafe {
        (*info).capacity = capacity;
        (*info).sector_size = 512;
        (*info).block_size = 1;
        (*info).queue_depth = (RING - 1) as u16;
        (*info).epoch = epoch as u32;
        if let Some(head) = cold_head {
            StorageInfo::publish_cold(info, head, epoch as u32);
        }
        fence(Ordering::Release);
        core::ptr::write_volatile(&raw mut (*info).ready, 1);
    }
    Ok(())
}

impl<P: Platform> Driver<P> for BlkDriver<P> {
    type State = BlkState;
    const NAME: &'static str = "blk";

    fn init(env: &mut Env<P, BlkState>) -> Result<Self, StartError> {
        inject_at_start(env, Site::Init);
        Self::start(env)
    }

    fn recover(env: &mut Env<P, BlkState>) -> Result<Self, StartError> {
        inject_at_start(env, Site::Recover);
        Self::start(env)
    }

    fn request(&mut self, _env: &mut Env<P, BlkState>, _ch: Channel, _req: &Message) -> Message {
        // The queues are the interface: nobody calls this driver.
        Message::new(LABEL_UNSUPPORTED)
    }

    fn notified(&mut self, env: &mut Env<P, BlkState>, channels: ChannelSet) {
        if channels.contains(IRQ) {
            self.inject(env, Site::BlkIrq);
            self.server.device().ack_interrupt();
            env.platform().irq_ack(IRQ);
        }
        if channels.contains(CLIENT) {
            self.inject(env, Site::BlkRequest);
        }
        self.serve(env);
    }

    fn error_reply(_kind: ErrorReply, _epoch: u64) -> Message {
        Message::new(LABEL_UNSUPPORTED)
    }

    fn irq_channels() -> &'static [Channel] {
        &[IRQ]
    }

    fn stopped(p: &P, epoch: u64) {
        answer_stopped(p, epoch);
    }
}

/// Stopped for good: answer every request on the ring "no device", with the
/// epoch in the storage-info page, so that no client waits for ever. The
/// stopped driver has no record (an incarnation may have died holding
/// requests, e.g. in a cold start the monitor then stopped): it says so as
/// a cold start does, with the ring's head, and the client posts those
/// requests again, to be answered "no device" like the rest.
fn answer_stopped<P: Platform>(p: &P, epoch: u64) {
    let (Some(req_r), Some(resp_r), Some(info)) = (
        p.region("blk_req"),
        p.region("blk_resp"),
        p.region("blk_info"),
    ) else {
        return;
    };
    // SAFETY: as in `start`: the rings' regions are shared with the client
    // alone; the storage-info page is ours to write.
    let rings = unsafe {
        core::ptr::write_volatile(
            &raw mut (*(info.vaddr as *mut StorageInfo)).epoch,
            epoch as u32,
        );
        (
            Ring::<BlkReq>::requests(req_r.as_mut_ptr(), req_r.size, RING),
            Ring::<BlkResp>::responses(resp_r.as_mut_ptr(), resp_r.size, RING),
        )
    };
    let (Ok(req), Ok(resp)) = rings else { return };
    let info = info.vaddr as *mut StorageInfo;
    // SAFETY: as above.
    unsafe {
        if StorageInfo::cold(info).0 != epoch as u32 {
            StorageInfo::publish_cold(info, req.head(), epoch as u32);
        }
    }
    if blk_server::answer_all(&req, &resp, RespStatus::ErrNoDevice) {
        p.notify(CLIENT);
    }
}

/// The PD: the driver under the personality.
pub type BlkPd<P> = Personality<P, BlkDriver<P>>;

/// Entry point: start (or restart) the block driver.
pub fn init<P: Platform>(p: P) -> BlkPd<P> {
    static STAGING: Staging = Staging::new();
    let boot = match personality::Boot::<BlkState>::load(&p, &STAGING) {
        Ok(b) => b,
        Err(e) => panic!("blk: cannot start: {e:?} (is the persistent region mapped?)"),
    };
    pd_log!(
        &p,
        "blk: starting ({})",
        if boot.first_boot() {
            "first boot"
        } else {
            "restart"
        }
    );
    Personality::start(p, Some(MONITOR), boot)
}
