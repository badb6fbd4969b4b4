//! The driver side of a client test: the server on the model, stepped
//! whenever the client waits, killed every `gap` events on average (one
//! death in `cold_every` also loses the record: a cold start).

use super::*;
use blk_api::{BlkQueue, Link};
use blk_bench::{PhaseReport, BLOCKS, DATA_BYTES, DEPTH};
use blk_device::BlockDevice;
use blk_device::BLOCK;
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use virtio_blk_model::Backing;

/// The driver side, stepped whenever the client waits.
pub struct DriverSide<'w> {
    pub w: &'w World,
    pub plan: Rc<Plan>,
    pub persistent: Box<Persistent>,
    pub rng: Rng,
    pub gap: u64,
    pub deaths: u64,
    pub server: Option<Driver<'w>>,
    pub irq: bool,
    pub waits: u64,
    /// One death in `cold_every` loses the record (a cold start); 0: none.
    pub cold_every: u64,
    pub cold_pending: bool,
    /// The storage-info page's (cold_epoch, cold_head).
    pub cold: (u32, u32),
    pub colds: u64,
}

impl<'w> DriverSide<'w> {
    /// The driver side on `w`, dying every `gap` events on average (seeded
    /// by `seed`), one death in `cold_every` a cold start (0: none); not
    /// started yet.
    pub fn new(w: &'w World, seed: u64, gap: u64, cold_every: u64) -> Self {
        let plan = Rc::new(Plan::default());
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        plan.at.set(1 + rng.below(gap * 2));
        Self {
            w,
            plan,
            persistent: Box::new(Persistent {
                located: None,
                working: blk_inflight::InFlight::default(),
                durable: blk_inflight::InFlight::default(),
            }),
            rng,
            gap,
            deaths: 0,
            server: None,
            irq: false,
            waits: 0,
            cold_every,
            cold_pending: false,
            cold: (0, 0),
            colds: 0,
        }
    }

    pub fn step(&mut self) {
        self.waits += 1;
        // The file set takes about 7,100 waits, the bench fewer: a request
        // never answered (lost) shows as a client that waits on and on.
        assert!(
            self.waits < 200_000,
            "the client has waited {} times",
            self.waits
        );
        if self.w.device_runs(1 + self.rng.below(4) as u32) {
            self.irq = true;
        }
        let mut server = match self.server.take() {
            Some(s) => s,
            None => {
                let s = boot(
                    self.w,
                    &self.plan,
                    &mut self.persistent,
                    &mut self.rng,
                    self.gap,
                    &mut self.deaths,
                );
                if std::mem::take(&mut self.cold_pending) {
                    // What the driver publishes on a start without its record.
                    self.cold = (self.cold.0 + 1, s.request_head());
                    self.colds += 1;
                }
                s
            }
        };
        let irq = std::mem::take(&mut self.irq);
        let r = catch_unwind(AssertUnwindSafe(|| {
            if irq {
                server.device().ack_interrupt();
            }
            let mut rec = Rec {
                p: &mut self.persistent,
                plan: self.plan.clone(),
            };
            server.serve(&mut rec)
        }));
        match r {
            Ok(Ok(_)) => self.server = Some(server),
            Ok(Err(e)) => panic!("server: {e}"),
            Err(e) if e.is::<Crash>() => {
                self.deaths += 1;
                self.plan
                    .at
                    .set(self.plan.events.get() + 1 + self.rng.below(self.gap * 2));
                std::mem::forget(server);
                if self.cold_every > 0 && self.rng.below(self.cold_every) == 0 {
                    // The record is lost: what the next start finds is empty.
                    self.persistent.durable = blk_inflight::InFlight::default();
                    self.cold_pending = true;
                }
                if self.rng.below(2) == 0 {
                    self.w.device_runs(self.rng.below(8) as u32);
                }
                self.irq = true; // the next incarnation looks at everything
            }
            Err(e) => std::panic::resume_unwind(e),
        }
    }
}

pub struct TestLink<'a, 'w>(pub &'a RefCell<DriverSide<'w>>);

impl Link for TestLink<'_, '_> {
    fn notify(&self) {}
    fn cold_start(&self) -> (u32, u32) {
        self.0.borrow().cold
    }
    fn wait(&self) {
        self.0.borrow_mut().step();
    }
}

/// What a run of the block bench's workload left.
pub struct Outcome {
    pub phases: Vec<PhaseReport>,
    pub deaths: u64,
    pub colds: u64,
    pub reposts: u64,
    pub disk: Vec<u8>,
}

/// The block bench's workload (`blk_bench::run`, 32 in flight) through a
/// `BlkQueue` on this driver side: deaths every `gap` events, one in
/// `cold_every` a cold start; the disk afterwards.
pub fn run_bench(seed: u64, gap: u64, cold_every: u64) -> Outcome {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let disk_blocks = BLOCKS as usize + 16;
    let w = World::new(vec![0; disk_blocks * BLOCK], DATA_BYTES);
    let side = RefCell::new(DriverSide::new(&w, seed, gap, cold_every));
    side.borrow_mut().step();
    // SAFETY: the data region lives in `w` for the whole run; the queue
    // touches an area only while no request owns it.
    let mut q: BlkQueue<'_, _, DEPTH> = unsafe {
        BlkQueue::new(
            w.req_ring(),
            w.resp_ring(),
            w.mem.at(POOL),
            DATA_BYTES,
            TestLink(&side),
        )
    };
    let mut phases = Vec::new();
    let ticks = std::cell::Cell::new(0u64);
    let r = blk_bench::run(
        &mut q,
        disk_blocks as u64,
        || {
            ticks.set(ticks.get() + 1);
            ticks.get()
        },
        |p| phases.push(*p),
    );
    if let Err(e) = r {
        panic!("seed {seed}: bench: {e:?}");
    }
    let reposts = q.reposts();
    let (deaths, colds) = (side.borrow().deaths, side.borrow().colds);
    let d = w.dev.lock().expect("model");
    let mut backing = d.1.clone();
    let mut disk = vec![0; backing.len() as usize];
    backing.read_at(0, &mut disk).expect("disk");
    drop(d);
    Outcome {
        phases,
        deaths,
        colds,
        reposts,
        disk,
    }
}
