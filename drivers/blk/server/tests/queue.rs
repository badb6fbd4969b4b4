//! Many requests in flight through the client's queue (`BlkQueue`, the
//! block bench's workload: 32 at once, 8,192 requests of 4 KiB), the block
//! server and the virtio-blk driver, while the driver is killed at register
//! accesses and record commits and some deaths lose its record. The
//! verdict: every read the client compares is right, no answer is doubled
//! or stray (the queue refuses those), none is lost (the client would wait
//! for ever), and the disk afterwards holds exactly what the bench wrote,
//! block by block, read from the model's backing file, not from the client.

mod common;

use blk_bench::{Written, BLOCKS, DEPTH, PHASES};
use blk_device::BLOCK;
use common::side::{run_bench as run, Outcome};
use common::*;

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
