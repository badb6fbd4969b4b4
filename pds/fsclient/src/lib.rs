//! The filesystem client PD: waits for the block driver's storage-info
//! page, mounts the FAT volume of the disk's first partition through the
//! block queues, runs the file set (`blk_fat::workload`: make directories,
//! write every file, read every one back and compare), writes back its
//! cache and logs one summary line. The host then judges the disk image
//! itself (fsck.fat, mcopy). Built with the feature `bench`, it runs the
//! block bench instead (`blk_bench`: 4 KiB requests, 32 in flight, every
//! read verified; the host judges the image block by block).
//!
//! Waiting is a spin: the driver has the higher priority, so it runs the
//! moment it is notified or its device interrupts. Each request is entered
//! in the call ledger (`blk_ledger`), the monitor's evidence that the
//! driver owes an answer and that answers arrive.
//!
//! What must never happen: a summary that claims a file verified that was
//! not read back from the disk.
#![no_std]

use blk_api::{BlkClient, BlkQueue, Link};
use blk_fat::{workload, FatDisk};
use blk_queue::{BlkReq, BlkResp, Ring, StorageInfo};
use core::sync::atomic::{fence, Ordering};
use embedded_sdmmc::VolumeManager;
use pd_core::{pd_log, Channel, ChannelSet, Handler, Platform, Region};

/// Channel ids as `systems/blk.xml` names them (generated).
pub mod ports {
    include!(concat!(env!("OUT_DIR"), "/channels.rs"));
}
/// Channel to the block driver.
pub const DRIVER: Channel = Channel::of(ports::DRIVER);
/// Ring capacity (the driver's).
pub const RING: u32 = 64;

struct PdLink<P: Platform> {
    p: P,
    info: *const StorageInfo,
    ledger: Option<call_ledger::Writer>,
}

impl<P: Platform> Link for PdLink<P> {
    fn notify(&self) {
        self.p.notify(DRIVER);
    }
    fn wait(&self) {
        for _ in 0..64 {
            core::hint::spin_loop();
        }
    }
    fn epoch(&self) -> u32 {
        // SAFETY: the storage-info page is mapped for the PD's life.
        unsafe { core::ptr::read_volatile(&raw const (*self.info).epoch) }
    }
    fn cold_start(&self) -> (u32, u32) {
        // SAFETY: as in `epoch`.
        unsafe { StorageInfo::cold(self.info) }
    }
    fn begin(&self) {
        if let Some(l) = &self.ledger {
            l.begin(self.p.now_ns(), 0);
        }
    }
    fn end(&self, ok: bool) {
        if let Some(l) = &self.ledger {
            l.end(ok);
        }
    }
}

fn region<P: Platform>(p: &P, name: &str) -> Region {
    match p.region(name) {
        Some(r) => r,
        None => panic!("fsclient: region {name} is not mapped"),
    }
}

/// The client after its run: it has nothing more to do.
pub struct Done;

impl Handler for Done {
    fn notified(&mut self, _channels: ChannelSet) {}
}

/// The queues and the disk's size, once the driver says it is ready.
struct Attached<'a, P: Platform> {
    req: Ring<'a, BlkReq>,
    resp: Ring<'a, BlkResp>,
    data: Region,
    link: PdLink<P>,
    capacity: u32,
}

fn attach<P: Platform>(p: &P) -> Attached<'static, P> {
    let info = region(p, "blk_info").vaddr as *const StorageInfo;
    // SAFETY: mapped for the PD's life; `ready` is a byte the driver sets
    // last, with release.
    while unsafe { core::ptr::read_volatile(&raw const (*info).ready) } == 0 {
        core::hint::spin_loop();
    }
    fence(Ordering::Acquire);
    // SAFETY: as above; written before `ready`.
    let capacity = unsafe { (*info).capacity };
    let Ok(capacity) = u32::try_from(capacity) else {
        panic!("fsclient: disk of {capacity} blocks is too large");
    };
    let (req_r, resp_r, data) = (
        region(p, "blk_req"),
        region(p, "blk_resp"),
        region(p, "blk_data"),
    );
    let ledger = p
        .region("blk_ledger")
        // SAFETY: the ledger region is this PD's to write (the monitor
        // reads it; the driver does not map it), page aligned, for the PD's
        // life.
        .map(|r| unsafe { call_ledger::Writer::new(r.as_mut_ptr()) });
    // SAFETY: the rings' regions are mapped for the PD's life and shared
    // with the driver alone, through `Ring`s.
    let (Ok(req), Ok(resp)) = (unsafe {
        (
            Ring::<BlkReq>::requests(req_r.vaddr as *mut u8, req_r.size, RING),
            Ring::<BlkResp>::responses(resp_r.vaddr as *mut u8, resp_r.size, RING),
        )
    }) else {
        panic!("fsclient: the ring regions are too small");
    };
    Attached {
        req,
        resp,
        data,
        link: PdLink {
            p: p.clone(),
            info,
            ledger,
        },
        capacity,
    }
}

/// Run the file set (or, built with `bench`, the block bench), then idle.
pub fn init<P: Platform>(p: P) -> Done {
    let a = attach(&p);
    if cfg!(feature = "bench") {
        bench(&p, a);
    } else {
        files(&p, a);
    }
    Done
}

/// The block bench (`blk_bench`): one line per phase, then a summary.
fn bench<P: Platform>(p: &P, a: Attached<'static, P>) {
    pd_log!(
        p,
        "fsclient: bench: disk of {} blocks; {} phases of {} requests of 4 KiB over {} blocks, {} in flight",
        a.capacity,
        blk_bench::PHASES.len(),
        blk_bench::REQUESTS,
        blk_bench::BLOCKS,
        blk_bench::DEPTH
    );
    // SAFETY: the data region is mapped for the PD's life and used only
    // through the queue.
    let mut q: BlkQueue<'_, _, { blk_bench::DEPTH }> =
        unsafe { BlkQueue::new(a.req, a.resp, a.data.vaddr as *mut u8, a.data.size, a.link) };
    let t0 = p.now_ns();
    let r = blk_bench::run(
        &mut q,
        u64::from(a.capacity),
        || p.now_ns(),
        |r| {
            pd_log!(
            p,
            "fsclient: bench phase={} requests={} bytes={} elapsed_us={} mismatched={} max_in_flight={}",
            r.phase.name(),
            r.requests,
            r.bytes,
            r.elapsed_ns / 1000,
            r.mismatched,
            r.max_in_flight
        )
        },
    );
    let elapsed_us = p.now_ns().saturating_sub(t0) / 1000;
    match r {
        Ok(()) => pd_log!(
            p,
            "fsclient: bench done: reposted={} elapsed_us={elapsed_us}",
            q.reposts()
        ),
        Err(e) => pd_log!(p, "fsclient: failed: bench: {e:?}"),
    }
}

/// The FAT file set: write, read back, compare; one summary line.
fn files<P: Platform>(p: &P, a: Attached<'static, P>) {
    // SAFETY: the data region is mapped for the PD's life and used as
    // `BlkClient` requires.
    let client =
        unsafe { BlkClient::new(a.req, a.resp, a.data.vaddr as *mut u8, a.data.size, a.link) };
    let capacity = a.capacity;
    pd_log!(
        p,
        "fsclient: disk of {capacity} blocks; writing {} files ({} bytes)",
        workload::FILES.len(),
        workload::total_bytes()
    );
    let t0 = p.now_ns();
    let vm = VolumeManager::new(FatDisk::new(client, capacity), blk_fat::FixedClock);
    let summary = workload::run(&vm);
    let (disk, _) = vm.free();
    let synced = disk.sync();
    let elapsed_us = p.now_ns().saturating_sub(t0) / 1000;
    let (reads, writes) = disk.transfers();
    let reposts = disk.with_client(|c| c.reposts()).unwrap_or(0);
    match (summary, synced) {
        (Ok(s), Ok(())) => pd_log!(
            p,
            "fsclient: done: files={} dirs={} written={} verified={} mismatched={} block_reads={reads} block_writes={writes} reposted={reposts} elapsed_us={elapsed_us}",
            s.files,
            s.dirs,
            s.written,
            s.verified,
            s.mismatched
        ),
        (Err(e), _) => pd_log!(p, "fsclient: failed: filesystem: {e:?}"),
        (_, Err(e)) => pd_log!(p, "fsclient: failed: sync: {e:?}"),
    }
}
