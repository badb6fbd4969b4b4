//! The block driver PD: finds the virtio block device among the board's
//! virtio-mmio slots, brings it up with its queue in the `blk_dma` region,
//! and serves the client's sDDF queues (`blk_req`, `blk_resp`, data in
//! `blk_data`) through the block server, with the in-flight record in
//! `blk_persistent`. It publishes the storage-info page (`blk_info`) and
//! then answers every notification from the client or the device.
//!
//! Not yet: the driver personality (control page, epoch, checksummed
//! commits, `ready` to a monitor); the record here is committed by plain
//! stores.
//!
//! What must never happen: a client request handed to the device before it
//! is recorded, or a device interrupt left unacknowledged.
#![no_std]

use blk_device::BlockDevice;
use blk_inflight::InFlight;
use blk_queue::{BlkReq, BlkResp, Ring, StorageInfo};
use blk_server::{DataRegion, Record, Server};
use blk_virtio::hal::Window;
use blk_virtio::mmio::{find_block, SlotIo};
use blk_virtio::VirtioBlk;
use core::sync::atomic::{fence, Ordering};
use pd_core::{pd_log, Channel, ChannelSet, Handler, Platform, Region};

/// Channel to the client (notifications both ways), as `systems/blk.xml`
/// binds it.
pub const CLIENT: Channel = Channel::of(0);
/// The device's interrupt.
pub const IRQ: Channel = Channel::of(1);
/// Requests held at once (at least the ring's depth).
pub const HELD: usize = 64;
/// Ring capacity (entries) of the request and response rings.
pub const RING: u32 = 64;
/// virtio-mmio slots in the `virtio_regs` window, 0x200 bytes apart.
pub const SLOTS: usize = 32;
/// Bytes between slots.
pub const SLOT_SIZE: usize = 0x200;

/// The record: the table in the persistent region.
pub struct RegionRecord {
    table: &'static mut InFlight<HELD>,
}

impl Record<HELD> for RegionRecord {
    fn table(&mut self) -> &mut InFlight<HELD> {
        self.table
    }
    fn commit(&mut self) {
        fence(Ordering::SeqCst);
    }
}

/// The PD.
pub struct BlkPd<P: Platform> {
    p: P,
    server: Server<'static, RegionRecord, VirtioBlk<SlotIo<P::Device>>, HELD>,
}

fn region<P: Platform>(p: &P, name: &str) -> Region {
    match p.region(name) {
        Some(r) => r,
        None => panic!("blk: region {name} is not mapped"),
    }
}

fn window<P: Platform>(p: &P, name: &str) -> Window {
    let r = region(p, name);
    match p.region_paddr(name) {
        Some(paddr) => Window {
            vaddr: r.vaddr,
            paddr,
            len: r.size,
        },
        None => panic!("blk: region {name} has no physical address (<setvar region_paddr>)"),
    }
}

/// Start the driver.
pub fn init<P: Platform>(p: P) -> BlkPd<P> {
    let pool = window(&p, "blk_dma");
    let data = window(&p, "blk_data");
    let Some(io) = p.device("virtio_regs") else {
        panic!("blk: no virtio_regs mapping");
    };
    let Some(slot) = find_block(&io, SLOTS, SLOT_SIZE) else {
        panic!("blk: no virtio block device in the {SLOTS} virtio-mmio slots");
    };
    let dev = SlotIo::new(io, slot * SLOT_SIZE);
    let dev = match VirtioBlk::new(dev, pool, &[data]) {
        Ok(d) => d,
        Err(e) => panic!("blk: virtio slot {slot}: {e}"),
    };
    let capacity = dev.capacity();
    let req_r = region(&p, "blk_req");
    let resp_r = region(&p, "blk_resp");
    // SAFETY: the rings' regions are shared with the client alone, and
    // accessed only through `Ring`s.
    let (req, resp) = unsafe {
        (
            Ring::<BlkReq>::requests(req_r.vaddr as *mut u8, req_r.size, RING),
            Ring::<BlkResp>::responses(resp_r.vaddr as *mut u8, resp_r.size, RING),
        )
    };
    let (Ok(req), Ok(resp)) = (req, resp) else {
        panic!("blk: the ring regions are too small for {RING} entries");
    };
    let rec = region(&p, "blk_persistent");
    if rec.size < size_of::<InFlight<HELD>>() {
        panic!("blk: blk_persistent is smaller than the in-flight table");
    }
    // SAFETY: the region is this PD's alone, large enough (checked) and
    // page-aligned; every bit pattern is a valid table.
    let table = unsafe { &mut *(rec.vaddr as *mut InFlight<HELD>) };
    let data_region = DataRegion {
        base: data.vaddr as *mut u8,
        len: data.len,
    };
    let server = match Server::start(req, resp, data_region, RegionRecord { table }, dev) {
        Ok((s, r)) => {
            if r.held > 0 {
                pd_log!(&p, "blk: resubmitting {} held requests", r.held);
            }
            s
        }
        Err(e) => panic!("blk: {e}"),
    };
    publish_info(&p, capacity);
    pd_log!(
        &p,
        "blk: virtio-blk in slot {slot}, {capacity} blocks of 4096 bytes, serving"
    );
    let mut pd = BlkPd { p, server };
    pd.serve();
    pd
}

fn publish_info<P: Platform>(p: &P, capacity: u64) {
    let r = region(p, "blk_info");
    let info = r.vaddr as *mut StorageInfo;
    // SAFETY: the storage-info page is ours to write (the client maps it
    // read-only) and at least one page; `ready` goes last, with release.
    unsafe {
        (*info).capacity = capacity;
        (*info).sector_size = 512;
        (*info).block_size = 1;
        (*info).queue_depth = (RING - 1) as u16;
        (*info).epoch = (*info).epoch.wrapping_add(1);
        fence(Ordering::Release);
        core::ptr::write_volatile(&raw mut (*info).ready, 1);
    }
}

impl<P: Platform> BlkPd<P> {
    fn serve(&mut self) {
        match self.server.serve() {
            Ok(s) if s.answered > 0 => self.p.notify(CLIENT),
            Ok(_) => {}
            // A fault: the monitor's policy decides.
            Err(e) => panic!("blk: {e}"),
        }
    }
}

impl<P: Platform> Handler for BlkPd<P> {
    fn notified(&mut self, channels: ChannelSet) {
        if channels.contains(IRQ) {
            self.server.device().ack_interrupt();
            self.p.irq_ack(IRQ);
        }
        self.serve();
    }
}
