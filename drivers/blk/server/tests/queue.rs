//! Many requests in flight through the client's queue (`BlkQueue`, the
//! block bench's workload: 32 at once, 8,192 requests of 4 KiB), the block
//! server and the virtio-blk driver, while the driver is killed at register
//! accesses and record commits and some deaths lose its record. The
//! verdict: every read the client compares is right, no answer is doubled
//! or stray (the queue refuses those), none is lost (the client would wait
//! for ever), and the disk afterwards holds exactly what the bench wrote,
//! block by block, read from the model's backing file, not from the client.

mod common;

use blk_api::BlkQueue;
use blk_bench::{PhaseReport, Written, BLOCKS, DATA_BYTES, DEPTH, PHASES};
use blk_device::BLOCK;
use common::side::{DriverSide, TestLink};
use common::*;
use std::cell::RefCell;
use virtio_blk_model::Backing;

struct Outcome {
    phases: Vec<PhaseReport>,
    deaths: u64,
    colds: u64,
    reposts: u64,
    disk: Vec<u8>,
}

fn run(seed: u64, gap: u64, cold_every: u64) -> Outcome {
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

/// The disk holds what the bench wrote: every bench block its last
/// generation, the blocks after it untouched.
fn check_disk(disk: &[u8]) -> Result<(), String> {
    if let Some((b, g)) = blk_bench::first_wrong_block(disk) {
        return Err(format!("block {b} does not hold generation {g}"));
    }
    if disk[BLOCKS as usize * BLOCK..].iter().any(|&x| x != 0) {
        return Err("a block past the bench area was written".into());
    }
    Ok(())
}

fn assert_complete(o: &Outcome, seed: u64) {
    assert_eq!(o.phases.len(), PHASES.len(), "seed {seed}");
    for p in &o.phases {
        assert_eq!(p.requests, blk_bench::REQUESTS, "seed {seed}: {p:?}");
        assert_eq!(p.mismatched, 0, "seed {seed}: {p:?}");
        assert_eq!(p.max_in_flight, DEPTH, "seed {seed}: {p:?}");
    }
    if let Err(e) = check_disk(&o.disk) {
        panic!("seed {seed}: {e}");
    }
}

#[test]
fn without_faults_32_in_flight_and_the_disk_holds_what_was_written() {
    quiet_crashes();
    let o = run(1, u64::MAX / 4, 0);
    assert_eq!(o.deaths, 0);
    assert_complete(&o, 1);
}

#[test]
fn deaths_and_cold_starts_with_32_in_flight_lose_and_double_nothing() {
    quiet_crashes();
    let (mut deaths, mut colds, mut reposts) = (0, 0, 0);
    for seed in 1..=6 {
        let o = run(seed, 400, 4);
        assert_complete(&o, seed);
        assert!(o.deaths >= 20, "seed {seed}: {} deaths", o.deaths);
        deaths += o.deaths;
        colds += o.colds;
        reposts += o.reposts;
    }
    eprintln!("{deaths} deaths, {colds} cold starts, {reposts} requests posted again");
    assert!(
        colds > 0 && reposts > 0,
        "no cold start exercised the reposts"
    );
}

#[test]
fn the_disk_check_sees_a_stale_block() {
    quiet_crashes();
    let mut o = run(2, u64::MAX / 4, 0);
    assert!(check_disk(&o.disk).is_ok());
    // A block of generation 2 put back to generation 1: a lost write.
    let written = Written::replay();
    let b = (0..BLOCKS)
        .find(|&b| written.generation(b) == 2)
        .unwrap_or(0);
    let at = b as usize * BLOCK;
    blk_bench::fill(b, 1, &mut o.disk[at..at + BLOCK]);
    assert!(check_disk(&o.disk).is_err());
}
