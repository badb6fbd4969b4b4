//! A driver, a client and a fault at every instant: each request is
//! answered exactly once, whatever step the fault lands on.

use super::*;
use blk_queue::{ReqCode, RespStatus};

const REQ_CAP: u32 = 32;
const RESP_CAP: u32 = 128;
const SLOTS: usize = 8;

struct Crash;

/// Shared memory (the rings) and the persistent table, which both survive
/// the driver; `budget` is the number of steps before the fault.
struct Sim {
    req_mem: Vec<u64>,
    resp_mem: Vec<u64>,
    committed: InFlight<SLOTS>,
    budget: Option<u64>,
    steps: u64,
    rng: u64,
}

impl Sim {
    fn new(seed: u64) -> Self {
        Self {
            req_mem: vec![0; (16 + 32 * REQ_CAP as usize) / 8],
            resp_mem: vec![0; (8 + 12 * RESP_CAP as usize).div_ceil(8)],
            committed: InFlight::default(),
            budget: None,
            steps: 0,
            rng: seed | 1,
        }
    }

    fn rings(&mut self) -> (Ring<'static, BlkReq>, Ring<'static, BlkResp>) {
        let (q, qn) = (self.req_mem.as_mut_ptr() as *mut u8, self.req_mem.len() * 8);
        let (p, pn) = (
            self.resp_mem.as_mut_ptr() as *mut u8,
            self.resp_mem.len() * 8,
        );
        // SAFETY: the buffers live as long as the Sim, which outlives every
        // use of the rings in these tests (they are dropped with it).
        unsafe {
            (
                Ring::requests(q, qn, REQ_CAP).expect("request ring"),
                Ring::responses(p, pn, RESP_CAP).expect("response ring"),
            )
        }
    }

    fn bit(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// One step that can be interrupted before it happens.
    fn step(&mut self) -> Result<(), Crash> {
        if self.budget == Some(0) {
            return Err(Crash);
        }
        if let Some(b) = self.budget.as_mut() {
            *b -= 1;
        }
        self.steps += 1;
        Ok(())
    }

    /// The driver: takes requests and answers them in a seeded order,
    /// until nothing is left or the fault.
    fn drive(&mut self, work: &mut InFlight<SLOTS>) -> Result<(), Crash> {
        let (req, resp) = self.rings();
        loop {
            let held: Vec<usize> = work.held().map(|(k, _)| k).collect();
            let offered = req.peek().expect("sane");
            let can_take = offered.is_some() && held.len() < SLOTS;
            if !can_take && held.is_empty() {
                return Ok(());
            }
            if can_take && (held.is_empty() || self.bit().is_multiple_of(2)) {
                let e = offered.expect("offered");
                let head = req.head();
                self.step()?;
                work.take(e, head).expect("slot");
                self.committed = *work;
                self.step()?;
                req.advance();
            } else {
                let k = held[(self.bit() % held.len() as u64) as usize];
                let count = work.slots[k].req.count;
                self.step()?;
                work.answering(k, RespStatus::Ok as u32, count, resp.tail());
                self.committed = *work;
                self.step()?;
                resp.push(work.slots[k].response()).expect("room");
                self.step()?;
                work.release(k);
                self.committed = *work;
            }
        }
    }

    /// A restart: the working copy is lost, the committed table and the
    /// rings remain. `twice` restarts again right after the resync, before
    /// its commit.
    fn restart(&mut self, twice: bool) -> InFlight<SLOTS> {
        let (req, resp) = self.rings();
        let mut work = self.committed;
        work.resync(&req, &resp).expect("resync");
        if twice {
            work = self.committed;
            work.resync(&req, &resp).expect("second resync");
        }
        self.committed = work;
        work
    }
}

fn submit(sim: &mut Sim, ids: std::ops::Range<u32>) {
    let (req, _) = sim.rings();
    for id in ids {
        req.push(BlkReq::new(
            ReqCode::Write,
            u64::from(id) * 4096,
            id * 3,
            1 + (id % 4) as u16,
            id,
        ))
        .expect("room in the request ring");
    }
}

fn answers(sim: &mut Sim) -> Vec<u32> {
    let (_, resp) = sim.rings();
    let mut got = Vec::new();
    while let Some(r) = resp.pop().expect("sane") {
        assert_eq!(r.status, RespStatus::Ok as u32);
        assert_eq!(
            u32::from(r.success_count),
            1 + r.id % 4,
            "answer {} carries its own count",
            r.id
        );
        got.push(r.id);
    }
    got
}

fn exactly_once(got: &mut Vec<u32>, n: u32, what: &str) {
    got.sort_unstable();
    let want: Vec<u32> = (0..n).collect();
    assert_eq!(*got, want, "{what}");
}

/// Steps a fault-free run of `seed` takes.
fn clean_steps(seed: u64) -> u64 {
    let mut sim = Sim::new(seed);
    submit(&mut sim, 0..20);
    let mut work = InFlight::default();
    assert!(sim.drive(&mut work).is_ok());
    let mut got = answers(&mut sim);
    exactly_once(&mut got, 20, "fault-free");
    sim.steps
}

#[test]
fn a_fault_at_every_step_answers_every_request_exactly_once() {
    for seed in 1..40u64 {
        let total = clean_steps(seed);
        for at in 0..=total {
            for twice in [false, true] {
                let mut sim = Sim::new(seed);
                submit(&mut sim, 0..20);
                sim.budget = Some(at);
                let mut work = InFlight::default();
                let crashed = sim.drive(&mut work).is_err();
                assert_eq!(crashed, at < total, "seed {seed} at {at}");
                // More requests arrive while the driver is down.
                submit(&mut sim, 20..26);
                sim.budget = None;
                let mut work = sim.restart(twice);
                assert!(sim.drive(&mut work).is_ok());
                let mut got = answers(&mut sim);
                exactly_once(
                    &mut got,
                    26,
                    &format!("seed {seed}, fault before step {at}, twice {twice}"),
                );
            }
        }
    }
}

#[test]
fn two_faults_at_every_pair_of_steps_answer_exactly_once() {
    let seed = 7;
    let total = clean_steps(seed);
    for first in (0..total).step_by(3) {
        for second in 0..40 {
            let mut sim = Sim::new(seed);
            submit(&mut sim, 0..20);
            sim.budget = Some(first);
            let mut work = InFlight::default();
            let _ = sim.drive(&mut work);
            sim.budget = Some(second);
            let mut work = sim.restart(false);
            let _ = sim.drive(&mut work);
            sim.budget = None;
            let mut work = sim.restart(false);
            assert!(sim.drive(&mut work).is_ok());
            let mut got = answers(&mut sim);
            exactly_once(
                &mut got,
                20,
                &format!("faults before steps {first} and {second}"),
            );
        }
    }
}

#[test]
fn resync_reports_what_it_finished() {
    let mut sim = Sim::new(3);
    submit(&mut sim, 0..2);
    let (req, resp) = sim.rings();
    // Recorded, not advanced.
    let e = req.peek().expect("sane").expect("offered");
    sim.committed.take(e, req.head()).expect("slot");
    let mut t = sim.committed;
    let r = t.resync(&req, &resp).expect("resync");
    assert_eq!((r.finished_take, r.held), (true, 1));
    assert_eq!(req.head(), 1);
    // Answer recorded, published, not released.
    t.answering(0, RespStatus::Ok as u32, 1, resp.tail());
    resp.push(t.slots[0].response()).expect("room");
    let r = t.resync(&req, &resp).expect("resync");
    assert_eq!(
        (r.answer_was_published, r.answer_pushed, r.held),
        (true, false, 0)
    );
    assert_eq!(resp.len(), Ok(1));
}

#[test]
fn a_scribbled_slot_or_ring_is_an_error_naming_it() {
    let mut sim = Sim::new(5);
    let (req, resp) = sim.rings();
    let mut t: InFlight<SLOTS> = InFlight::default();
    t.slots[3].state = 77;
    assert_eq!(t.resync(&req, &resp), Err(Error::BadSlot(3)));
    let _ = (req, resp);
    let mut t: InFlight<SLOTS> = InFlight::default();
    // head (low word) 0, tail (high word) far beyond it.
    sim.req_mem[0] = 0xffff_0000_0000_0000;
    let (req3, resp3) = sim.rings();
    assert!(matches!(t.resync(&req3, &resp3), Err(Error::Corrupt(c)) if c.ring == "request"));
}
