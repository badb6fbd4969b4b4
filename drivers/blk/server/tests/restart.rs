//! The virtio-blk driver and the block server against the virtio-mmio
//! model, with the driver killed at its register accesses and record
//! commits while many requests are in flight. The device model, the disk,
//! guest memory and the rings outlive each death, as hardware and shared
//! memory do; the driver's own memory does not. The verdict is the disk
//! itself against an independent shadow, and each request's answers.

use blk_device::{BlockDevice, BLOCK};
use blk_inflight::InFlight;
use blk_queue::{BlkReq, BlkResp, ReqCode, RespStatus, Ring};
use blk_server::{DataRegion, Record, Server};
use blk_virtio::hal::Window;
use blk_virtio::VirtioBlk;
use pd_core::{DeviceIo, Width};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use virtio_blk_model::{Backing, GuestMemory, MemBacking, VirtioBlk as Model};

const N: usize = 64;
const RING: u32 = 64;
const DISK_BLOCKS: u64 = 256;
const MAX_COUNT: u16 = 8;
/// Each outstanding request owns one area of the data region.
const AREAS: usize = 48;
const AREA: usize = MAX_COUNT as usize * BLOCK;
const POOL: usize = 8 * 4096;
/// Device addresses are not ours: catches a driver handing out a vaddr.
const PHYS: u64 = 0x4000_0000;

struct Crash;

/// Page-aligned zeroed memory that lives for the test.
struct Memory {
    base: *mut u8,
    len: usize,
}

impl Drop for Memory {
    fn drop(&mut self) {
        let layout = std::alloc::Layout::from_size_align(self.len, 4096).expect("layout");
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.base, layout) };
    }
}

impl Memory {
    fn new(len: usize) -> Self {
        let layout = std::alloc::Layout::from_size_align(len, 4096).expect("layout");
        // SAFETY: non-zero size.
        let base = unsafe { std::alloc::alloc_zeroed(layout) };
        assert!(!base.is_null());
        Self { base, len }
    }
    fn at(&self, off: usize) -> *mut u8 {
        assert!(off <= self.len);
        // SAFETY: in bounds.
        unsafe { self.base.add(off) }
    }
    fn paddr(&self, off: usize) -> u64 {
        PHYS + off as u64
    }
}

/// Guest memory as the device sees it: the pool and the data region.
struct Dma<'a>(&'a Memory);

impl GuestMemory for Dma<'_> {
    fn read(&self, paddr: u64, buf: &mut [u8]) -> bool {
        let Some(off) = paddr.checked_sub(PHYS).map(|o| o as usize) else {
            return false;
        };
        if off.checked_add(buf.len()).is_none_or(|e| e > self.0.len) {
            return false;
        }
        // SAFETY: in bounds; the driver side is this same thread.
        unsafe { std::ptr::copy_nonoverlapping(self.0.at(off), buf.as_mut_ptr(), buf.len()) };
        true
    }
    fn write(&self, paddr: u64, data: &[u8]) -> bool {
        let Some(off) = paddr.checked_sub(PHYS).map(|o| o as usize) else {
            return false;
        };
        if off.checked_add(data.len()).is_none_or(|e| e > self.0.len) {
            return false;
        }
        // SAFETY: as above.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.0.at(off), data.len()) };
        true
    }
}

/// Where the driver dies: at the `at`-th event (register access or commit).
#[derive(Default)]
struct Plan {
    events: Cell<u64>,
    at: Cell<u64>,
}

impl Plan {
    fn tick(&self) {
        let n = self.events.get() + 1;
        self.events.set(n);
        if n == self.at.get() {
            std::panic::panic_any(Crash);
        }
    }
}

type Device = Arc<Mutex<(Model, MemBacking)>>;

/// The driver's view of the device's registers.
struct Regs {
    dev: Device,
    plan: Rc<Plan>,
}

impl DeviceIo for Regs {
    fn read(&self, offset: usize, width: Width) -> u32 {
        self.plan.tick();
        let w = match width {
            Width::U8 => 1,
            Width::U16 => 2,
            Width::U32 => 4,
        };
        self.dev.lock().expect("model").0.read(offset, w)
    }
    fn write(&self, offset: usize, width: Width, value: u32) {
        self.plan.tick();
        let w = match width {
            Width::U8 => 1,
            Width::U16 => 2,
            Width::U32 => 4,
        };
        // A doorbell only marks the queue; the device runs when the test says.
        self.dev.lock().expect("model").0.write(offset, w, value);
    }
}

/// The persistent table: `working` is what the driver writes, `durable`
/// what a restart finds (the last commit).
struct Persistent {
    working: InFlight<N>,
    durable: InFlight<N>,
}

struct Rec<'a> {
    p: &'a mut Persistent,
    plan: Rc<Plan>,
}

impl Record<N> for Rec<'_> {
    fn table(&mut self) -> &mut InFlight<N> {
        &mut self.p.working
    }
    fn commit(&mut self) {
        self.plan.tick();
        self.p.durable = self.p.working;
        self.plan.tick();
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn pattern(id: u32, block: u64, i: usize) -> u8 {
    (id as u64 * 31 + block * 7 + i as u64 * 13 + (i as u64 >> 8)) as u8
}

/// What the client expects of one outstanding request.
#[derive(Clone, Debug)]
struct Outstanding {
    req: BlkReq,
    area: usize,
    expect: RespStatus,
}

struct World {
    mem: Memory,
    rings: Memory,
    dev: Device,
    /// Pool: mem[0..POOL]; data region: mem[POOL..].
    shadow: RefCell<Vec<u8>>,
}

impl World {
    fn new() -> Self {
        let disk_bytes = DISK_BLOCKS as usize * BLOCK;
        Self {
            mem: Memory::new(POOL + AREAS * AREA),
            rings: Memory::new(2 * 4096),
            dev: Arc::new(Mutex::new((
                Model::new(disk_bytes as u64, false),
                MemBacking(vec![0xee; disk_bytes]),
            ))),
            shadow: RefCell::new(vec![0xee; disk_bytes]),
        }
    }
    fn pool(&self) -> Window {
        Window {
            vaddr: self.mem.base as usize,
            paddr: self.mem.paddr(0),
            len: POOL,
        }
    }
    fn data(&self) -> Window {
        Window {
            vaddr: self.mem.at(POOL) as usize,
            paddr: self.mem.paddr(POOL),
            len: AREAS * AREA,
        }
    }
    fn req_ring(&self) -> Ring<'_, BlkReq> {
        // SAFETY: the first page of `rings`, used only through Rings.
        match unsafe { Ring::requests(self.rings.at(0), 4096, RING) } {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }
    fn resp_ring(&self) -> Ring<'_, BlkResp> {
        // SAFETY: the second page of `rings`, used only through Rings.
        match unsafe { Ring::responses(self.rings.at(4096), 4096, RING) } {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }
    /// The device serves up to `n` requests (the driver may be dead).
    fn device_runs(&self, n: u32) -> bool {
        let mut d = self.dev.lock().expect("model");
        let (model, disk) = &mut *d;
        model.process(&Dma(&self.mem), disk, n).irq
    }
}

/// Counters of one run.
#[derive(Debug, Default)]
struct Tally {
    deaths: u64,
    answered: u64,
    writes: u64,
    reads: u64,
    invalid: u64,
    max_in_flight: usize,
}

/// The driver's Hal is global (one device per PD): one run at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn run(seed: u64, requests: u32, mean_gap: u64) -> Tally {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let w = World::new();
    let plan = Rc::new(Plan::default());
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut persistent = Persistent {
        working: InFlight::default(),
        durable: InFlight::default(),
    };
    let mut tally = Tally::default();
    let mut outstanding: BTreeMap<u32, Outstanding> = BTreeMap::new();
    let mut answered: BTreeMap<u32, u32> = BTreeMap::new();
    let mut next_id = 0u32;
    let mut free_areas: Vec<usize> = (0..AREAS).collect();
    let client_req = w.req_ring();
    let client_resp = w.resp_ring();
    plan.at.set(1 + rng.below(mean_gap * 2));

    let data_region = DataRegion {
        base: w.mem.at(POOL),
        len: AREAS * AREA,
    };
    // Bring a driver up (it may die doing so: then again, as the monitor would).
    let boot = |persistent: &mut Persistent, tally: &mut Tally, rng: &mut Rng| loop {
        persistent.working = persistent.durable; // what the region holds
        let p = &mut *persistent;
        let r = catch_unwind(AssertUnwindSafe(|| {
            let regs = Regs {
                dev: w.dev.clone(),
                plan: plan.clone(),
            };
            let dev = match VirtioBlk::new(regs, w.pool(), &[w.data()]) {
                Ok(d) => d,
                Err(e) => panic!("virtio init: {e}"),
            };
            let rec = Rec {
                p: unsafe_extend(p),
                plan: plan.clone(),
            };
            match Server::start(w.req_ring(), w.resp_ring(), data_region, rec, dev) {
                Ok((s, _)) => s,
                Err(e) => panic!("server start: {e}"),
            }
        }));
        match r {
            Ok(s) => return s,
            Err(e) if e.is::<Crash>() => {
                tally.deaths += 1;
                plan.at.set(plan.events.get() + 1 + rng.below(mean_gap * 2));
            }
            Err(e) => std::panic::resume_unwind(e),
        }
    };
    let mut server = boot(&mut persistent, &mut tally, &mut rng);
    let mut irq = false;
    let mut notified = false;
    let mut stalled = 0;
    let mut pause = 0;
    loop {
        // The client posts a few requests, over ranges no in-flight request
        // touches (a filesystem never races itself on a block).
        let done_posting = next_id >= requests;
        if !done_posting && rng.below(3) == 0 {
            for _ in 0..rng.below(6) {
                if next_id >= requests || free_areas.is_empty() {
                    break;
                }
                let len = client_req.len().expect("ring");
                if len + 1 >= client_req.capacity() {
                    break;
                }
                let kind = rng.below(20);
                let count = 1 + rng.below(u64::from(MAX_COUNT)) as u16;
                let block = rng.below(DISK_BLOCKS - u64::from(count) + 1);
                let overlaps = outstanding.values().any(|o| {
                    let (b, c) = (u64::from(o.req.block_number), u64::from(o.req.count));
                    block < b + c.max(1) && b < block + u64::from(count)
                });
                if overlaps {
                    continue;
                }
                let area = free_areas.pop().expect("area");
                let id = next_id;
                next_id += 1;
                let off = (area * AREA) as u64;
                let (req, expect) = match kind {
                    0 => (
                        BlkReq::new(ReqCode::Read, off, (DISK_BLOCKS - 1) as u32, 2, id),
                        RespStatus::ErrInvalidParam,
                    ),
                    1 => (
                        BlkReq::new(ReqCode::Write, (AREAS * AREA) as u64, 0, 1, id),
                        RespStatus::ErrInvalidParam,
                    ),
                    2 => (BlkReq::new(ReqCode::Flush, 0, 0, 0, id), RespStatus::Ok),
                    3..=10 => {
                        // SAFETY: the area is the client's until answered.
                        let buf = unsafe {
                            std::slice::from_raw_parts_mut(
                                data_region.base.add(area * AREA),
                                usize::from(count) * BLOCK,
                            )
                        };
                        for (i, b) in buf.iter_mut().enumerate() {
                            *b = pattern(id, block, i);
                        }
                        (
                            BlkReq::new(ReqCode::Write, off, block as u32, count, id),
                            RespStatus::Ok,
                        )
                    }
                    _ => {
                        // SAFETY: as above.
                        let buf = unsafe {
                            std::slice::from_raw_parts_mut(
                                data_region.base.add(area * AREA),
                                usize::from(count) * BLOCK,
                            )
                        };
                        buf.fill(0x5a);
                        (
                            BlkReq::new(ReqCode::Read, off, block as u32, count, id),
                            RespStatus::Ok,
                        )
                    }
                };
                client_req.push(req).expect("room checked");
                outstanding.insert(id, Outstanding { req, area, expect });
                notified = true;
            }
        }
        tally.max_in_flight = tally.max_in_flight.max(server.held());
        // The device runs some requests, whatever the driver is doing; now
        // and then it stalls a while (a busy disk), and requests pile up.
        if pause == 0 && rng.below(150) == 0 {
            pause = 50 + rng.below(300);
        }
        pause = pause.saturating_sub(1);
        if pause == 0 && rng.below(2) == 0 && w.device_runs(rng.below(5) as u32) {
            irq = true;
        }
        // The driver runs when notified or interrupted.
        if irq || notified || rng.below(4) == 0 {
            let was_irq = std::mem::take(&mut irq);
            notified = false;
            let r = catch_unwind(AssertUnwindSafe(|| {
                if was_irq {
                    server.device().ack_interrupt();
                }
                server.serve()
            }));
            match r {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => panic!("seed {seed}: server: {e}"),
                Err(e) if e.is::<Crash>() => {
                    tally.deaths += 1;
                    plan.at.set(plan.events.get() + 1 + rng.below(mean_gap * 2));
                    std::mem::forget(server);
                    // The device may go on while the driver is dead.
                    if rng.below(2) == 0 {
                        w.device_runs(rng.below(8) as u32);
                    }
                    server = boot(&mut persistent, &mut tally, &mut rng);
                    irq = true; // a restarted driver looks at everything
                }
                Err(e) => std::panic::resume_unwind(e),
            }
        }
        // The client consumes answers.
        while let Some(resp) = client_resp.pop().expect("response ring") {
            *answered.entry(resp.id).or_default() += 1;
            let o = outstanding.remove(&resp.id).unwrap_or_else(|| {
                panic!("seed {seed}: answer for {} twice or never asked", resp.id)
            });
            let status = RespStatus::from_raw(resp.status);
            assert_eq!(status, Some(o.expect), "seed {seed}: request {:?}", o.req);
            tally.answered += 1;
            let n = usize::from(o.req.count) * BLOCK;
            let at = o.req.block_number as usize * BLOCK;
            match (ReqCode::from_raw(o.req.code), o.expect) {
                (Some(ReqCode::Write), RespStatus::Ok) => {
                    assert_eq!(resp.success_count, o.req.count);
                    // SAFETY: the area, answered, is the client's again.
                    let buf = unsafe {
                        std::slice::from_raw_parts(data_region.base.add(o.area * AREA), n)
                    };
                    w.shadow.borrow_mut()[at..at + buf.len()].copy_from_slice(buf);
                    tally.writes += 1;
                }
                (Some(ReqCode::Read), RespStatus::Ok) => {
                    assert_eq!(resp.success_count, o.req.count);
                    // SAFETY: as above.
                    let buf = unsafe {
                        std::slice::from_raw_parts(data_region.base.add(o.area * AREA), n)
                    };
                    assert!(
                        buf == &w.shadow.borrow()[at..at + n],
                        "seed {seed}: read {:?} returned other data",
                        o.req
                    );
                    tally.reads += 1;
                }
                (_, RespStatus::ErrInvalidParam) => tally.invalid += 1,
                _ => {}
            }
            free_areas.push(o.area);
        }
        if done_posting && outstanding.is_empty() {
            break;
        }
        stalled += 1;
        if stalled == 200_000 {
            let d = w.dev.lock().expect("model");
            panic!(
                "seed {seed}: no progress: {} outstanding, server holds {}, req ring {:?} resp ring {:?}, device {:?}, record {:?}",
                outstanding.len(),
                server.held(),
                client_req.len(),
                client_resp.len(),
                d.0,
                persistent.durable.slots.iter().filter(|s| s.state != 0).map(|s| (s.req.id, s.state, s.taken_at)).collect::<Vec<_>>()
            );
        }
    }
    // Every request answered exactly once.
    assert_eq!(answered.len() as u32, requests, "seed {seed}");
    assert!(answered.values().all(|&n| n == 1), "seed {seed}");
    // The disk itself, against the shadow.
    let d = w.dev.lock().expect("model");
    let mut disk = d.1.clone();
    let mut bytes = vec![0; disk.len() as usize];
    disk.read_at(0, &mut bytes).expect("disk");
    assert!(
        bytes == *w.shadow.borrow(),
        "seed {seed}: disk differs from what was written"
    );
    tally
}

/// The persistent table is borrowed by each incarnation's server in turn;
/// the previous one is dead (forgotten) before the next is made.
fn unsafe_extend<'b>(p: &mut Persistent) -> &'b mut Persistent {
    // SAFETY: the test forgets each server before booting the next, so one
    // incarnation at a time uses the table, and it outlives them all.
    unsafe { &mut *(p as *mut Persistent) }
}

fn quiet_crashes() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !info.payload().is::<Crash>() {
            default(info);
        }
    }));
}

#[test]
fn without_faults_many_requests_in_flight_all_answered_and_the_disk_is_right() {
    quiet_crashes();
    let t = run(7, 3000, u64::MAX / 4);
    assert_eq!(t.deaths, 0);
    assert!(t.max_in_flight >= 32, "{t:?}");
    assert!(t.writes > 500 && t.reads > 500 && t.invalid > 100, "{t:?}");
}

#[test]
fn a_driver_killed_at_any_register_access_or_commit_loses_and_doubles_nothing() {
    quiet_crashes();
    let mut deaths = 0;
    let seeds: Vec<u64> = match std::env::var("BLK_SEED") {
        Ok(v) => vec![v.parse().expect("BLK_SEED")],
        Err(_) => (1..=40).collect(),
    };
    for seed in seeds {
        let t = run(seed, 400, 60);
        assert!(t.deaths >= 20, "seed {seed}: {t:?}");
        deaths += t.deaths;
    }
    eprintln!("deaths over 40 seeds: {deaths}");
}
