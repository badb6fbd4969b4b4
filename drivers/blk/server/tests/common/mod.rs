//! The bench shared by the block server's tests: guest memory, the
//! virtio block model behind register calls that can kill the driver (its
//! virtio-mmio registers, or the same device as a virtio-pci function),
//! the persistent record, and booting a driver incarnation.
#![allow(dead_code)]

pub mod side;

use blk_inflight::InFlight;
use blk_queue::{BlkReq, BlkResp, Ring};
use blk_server::{DataRegion, Record, Server};
use blk_virtio::any::AnyTransport;
use blk_virtio::hal::Window;
use blk_virtio::mmio::{MmioTransport, SlotIo};
use blk_virtio::VirtioBlk;
use pd_core::{DeviceIo, Width};
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use virtio_blk_model::pci::PciFront;
use virtio_blk_model::{GuestMemory, MemBacking, VirtioBlk as Model};

/// Slots in the in-flight table.
pub const N: usize = 64;
/// Ring capacity.
pub const RING: u32 = 64;
/// The DMA pool.
pub const POOL: usize = 8 * 4096;
/// Device addresses are not ours: catches a driver handing out a vaddr.
pub const PHYS: u64 = 0x4000_0000;

pub struct Crash;

/// Page-aligned zeroed memory that lives for the test.
pub struct Memory {
    pub base: *mut u8,
    pub len: usize,
}

impl Drop for Memory {
    fn drop(&mut self) {
        let layout = std::alloc::Layout::from_size_align(self.len, 4096).expect("layout");
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.base, layout) };
    }
}

impl Memory {
    pub fn new(len: usize) -> Self {
        let layout = std::alloc::Layout::from_size_align(len, 4096).expect("layout");
        // SAFETY: non-zero size.
        let base = unsafe { std::alloc::alloc_zeroed(layout) };
        assert!(!base.is_null());
        Self { base, len }
    }
    pub fn at(&self, off: usize) -> *mut u8 {
        assert!(off <= self.len);
        // SAFETY: in bounds.
        unsafe { self.base.add(off) }
    }
    pub fn paddr(&self, off: usize) -> u64 {
        PHYS + off as u64
    }
}

/// Guest memory as the device sees it: the pool and the data region.
pub struct Dma<'a>(&'a Memory);

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
pub struct Plan {
    pub events: Cell<u64>,
    pub at: Cell<u64>,
}

impl Plan {
    pub fn tick(&self) {
        let n = self.events.get() + 1;
        self.events.set(n);
        if n == self.at.get() {
            std::panic::panic_any(Crash);
        }
    }
}

pub type Device = Arc<Mutex<(Model, MemBacking)>>;

/// The function's PCI state (its configuration header, the host bridge's
/// latch): hardware, it outlives the driver like the device.
pub type Pci = Arc<Mutex<PciFront>>;

/// Where the PCI function's BAR is (the test's firmware put it there).
pub const BAR_PADDR: u64 = 0xfe00_0000;

/// Which registers a [`Regs`] reaches.
#[derive(Clone)]
pub enum Bus {
    /// The virtio-mmio register file.
    Mmio,
    /// The PCI function's BAR.
    Bar(Pci),
    /// The host bridge's configuration ports (0xcf8..0xd00).
    Ports(Pci),
}

/// The driver's view of the device's registers. A dead incarnation is
/// leaked (`mem::forget`: it runs no destructor, like a killed process),
/// so it must not keep the device, and its disk, alive: a weak reference.
pub struct Regs {
    pub dev: std::sync::Weak<Mutex<(Model, MemBacking)>>,
    pub plan: Rc<Plan>,
    pub bus: Bus,
}

fn bytes(width: Width) -> usize {
    match width {
        Width::U8 => 1,
        Width::U16 => 2,
        Width::U32 => 4,
    }
}

impl Regs {
    fn device(&self) -> Device {
        match self.dev.upgrade() {
            Some(d) => d,
            None => panic!("register access after the world is gone"),
        }
    }
}

impl DeviceIo for Regs {
    fn read(&self, offset: usize, width: Width) -> u32 {
        self.plan.tick();
        let w = bytes(width);
        match &self.bus {
            Bus::Mmio => self.device().lock().expect("model").0.read(offset, w),
            Bus::Bar(pci) => {
                let pci = pci.lock().expect("pci");
                pci.bar_read(&mut self.device().lock().expect("model").0, offset, w)
            }
            Bus::Ports(pci) => pci.lock().expect("pci").port_read(offset, w),
        }
    }
    fn write(&self, offset: usize, width: Width, value: u32) {
        self.plan.tick();
        let w = bytes(width);
        // A doorbell only marks the queue; the device runs when the test says.
        match &self.bus {
            Bus::Mmio => {
                self.device()
                    .lock()
                    .expect("model")
                    .0
                    .write(offset, w, value);
            }
            Bus::Bar(pci) => {
                let pci = pci.lock().expect("pci");
                pci.bar_write(
                    &mut self.device().lock().expect("model").0,
                    offset,
                    w,
                    value,
                );
            }
            Bus::Ports(pci) => pci.lock().expect("pci").port_write(offset, w, value),
        }
    }
    fn window(&self) -> Option<usize> {
        match self.bus {
            Bus::Bar(_) => Some(virtio_blk_model::pci::BAR_SIZE as usize),
            _ => None,
        }
    }
}

/// The device's transport, as the driver PD opens it: the mmio registers,
/// or the PCI function found on bus 0 (at device `located` first, where
/// an earlier start found it, which is then set) and checked against its
/// BAR.
pub fn transport(w: &World, plan: &Rc<Plan>, located: &mut Option<u8>) -> AnyTransport<Regs> {
    let regs = |bus| Regs {
        dev: Arc::downgrade(&w.dev),
        plan: plan.clone(),
        bus,
    };
    let Some(pci) = &w.pci else {
        match MmioTransport::new(SlotIo::new(regs(Bus::Mmio), 0)) {
            Ok(t) => return AnyTransport::Mmio(t),
            Err(e) => panic!("virtio-mmio probe: {e}"),
        }
    };
    let ports = regs(Bus::Ports(pci.clone()));
    match blk_virtio::pci::open(&ports, regs(Bus::Bar(pci.clone())), BAR_PADDR, *located) {
        Ok((t, df)) => {
            *located = Some(df.device);
            AnyTransport::Pci(t)
        }
        Err(e) => panic!("virtio-pci: {e}"),
    }
}

/// The persistent table: `working` is what the driver writes, `durable`
/// what a restart finds (the last commit); and where the device was found.
pub struct Persistent {
    pub located: Option<u8>,
    pub working: InFlight<N>,
    pub durable: InFlight<N>,
}

pub struct Rec<'a> {
    pub p: &'a mut Persistent,
    pub plan: Rc<Plan>,
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

pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Memory, rings and device of one bench: the pool is mem[0..POOL], the
/// data region mem[POOL..].
pub struct World {
    pub mem: Memory,
    pub rings: Memory,
    pub dev: Device,
    /// The device is a PCI function (else a virtio-mmio slot).
    pub pci: Option<Pci>,
    pub data_len: usize,
}

impl World {
    pub fn new(disk: Vec<u8>, data_len: usize) -> Self {
        Self {
            mem: Memory::new(POOL + data_len),
            rings: Memory::new(2 * 4096),
            dev: Arc::new(Mutex::new((
                Model::new(disk.len() as u64, false),
                MemBacking(disk),
            ))),
            pci: None,
            data_len,
        }
    }
    /// The same, the device a virtio-pci function at 00:04.0 whose INTx
    /// firmware routed to line 11.
    pub fn new_pci(disk: Vec<u8>, data_len: usize) -> Self {
        Self {
            pci: Some(Arc::new(Mutex::new(PciFront::new(4, BAR_PADDR, 11)))),
            ..Self::new(disk, data_len)
        }
    }
    pub fn pool(&self) -> Window {
        Window {
            vaddr: self.mem.base as usize,
            paddr: self.mem.paddr(0),
            len: POOL,
        }
    }
    pub fn data(&self) -> Window {
        Window {
            vaddr: self.mem.at(POOL) as usize,
            paddr: self.mem.paddr(POOL),
            len: self.data_len,
        }
    }
    pub fn data_region(&self) -> DataRegion {
        DataRegion {
            base: self.mem.at(POOL),
            len: self.data_len,
        }
    }
    pub fn req_ring(&self) -> Ring<'_, BlkReq> {
        // SAFETY: the first page of `rings`, used only through Rings.
        match unsafe { Ring::requests(self.rings.at(0), 4096, RING) } {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }
    pub fn resp_ring(&self) -> Ring<'_, BlkResp> {
        // SAFETY: the second page of `rings`, used only through Rings.
        match unsafe { Ring::responses(self.rings.at(4096), 4096, RING) } {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }
    /// The device serves up to `n` requests (the driver may be dead).
    pub fn device_runs(&self, n: u32) -> bool {
        let pci = self.pci.as_ref().map(|p| *p.lock().expect("pci"));
        let mut d = self.dev.lock().expect("model");
        let (model, disk) = &mut *d;
        match pci {
            None => model.process(&Dma(&self.mem), disk, n).irq,
            // No bus mastering, no DMA; the interrupt is INTx.
            Some(f) if !f.may_dma() => false,
            Some(f) => model.process(&Dma(&self.mem), disk, n).irq && f.irq_line(model),
        }
    }
}

/// One incarnation of the driver.
pub type Driver<'w> = Server<'w, VirtioBlk<AnyTransport<Regs>>, N>;

/// Bring a driver up from what the persistent region holds; it may die
/// doing so (then again, as the monitor would). Counts deaths.
pub fn boot<'w>(
    w: &'w World,
    plan: &Rc<Plan>,
    persistent: &mut Persistent,
    rng: &mut Rng,
    gap: u64,
    deaths: &mut u64,
) -> Driver<'w> {
    loop {
        persistent.working = persistent.durable;
        let p = &mut *persistent;
        let r = catch_unwind(AssertUnwindSafe(|| {
            let t = transport(w, plan, &mut p.located);
            let dev = match VirtioBlk::new(t, w.pool(), &[w.data()]) {
                Ok(d) => d,
                Err(e) => panic!("virtio init: {e}"),
            };
            let mut rec = Rec {
                p,
                plan: plan.clone(),
            };
            match Server::start(w.req_ring(), w.resp_ring(), w.data_region(), &mut rec, dev) {
                Ok((s, _)) => s,
                Err(e) => panic!("server start: {e}"),
            }
        }));
        match r {
            Ok(s) => return s,
            Err(e) if e.is::<Crash>() => {
                *deaths += 1;
                plan.at.set(plan.events.get() + 1 + rng.below(gap * 2));
            }
            Err(e) => std::panic::resume_unwind(e),
        }
    }
}

/// The driver's Hal is global (one device per PD): one bench at a time.
pub static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

pub fn quiet_crashes() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !info.payload().is::<Crash>() {
            default(info);
        }
    }));
}
