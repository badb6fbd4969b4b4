//! A FAT16 filesystem (embedded-sdmmc) written and read back through the
//! block client stub, the block server and the virtio-blk driver, onto a
//! disk image made by mkfs.fat, while the driver is killed at register
//! accesses and record commits. The verdict is not the client's: fsck.fat
//! must find the image clean, and every file mcopy extracts must equal the
//! file set regenerated here.

mod common;

use blk_api::BlkClient;
use blk_fat::image::{self, DISK_BYTES, PART_SECTOR};
use blk_fat::workload::{self, Summary, FILES};
use blk_fat::FatDisk;
use common::side::{DriverSide, TestLink};
use common::*;
use embedded_sdmmc::VolumeManager;
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use virtio_blk_model::Backing;

const DATA_LEN: usize = 64 * 1024;

/// A scratch directory, removed afterwards.
struct Scratch(PathBuf);
impl Scratch {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("blk-fat-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("scratch dir");
        Self(p)
    }
}
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn make(dir: &Path) -> Vec<u8> {
    let img = dir.join("disk.img");
    if let Err(e) = image::make_image(&img) {
        panic!("{e}");
    }
    std::fs::read(&img).expect("image")
}

fn check_image(dir: &Path, disk: &[u8]) {
    if let Err(e) = image::check_image(dir, disk) {
        panic!("{e}");
    }
}

/// Run the file set with deaths every `gap` events on average; the
/// summary, the deaths, and the disk afterwards.
fn run(image: Vec<u8>, seed: u64, gap: u64) -> (Summary, u64, Vec<u8>) {
    let (s, deaths, _, _, disk) = run_with(image, seed, gap, 0);
    (s, deaths, disk)
}

/// As `run`, with one death in `cold_every` a cold start; also the cold
/// starts and the client's reposts.
fn run_with(
    image: Vec<u8>,
    seed: u64,
    gap: u64,
    cold_every: u64,
) -> (Summary, u64, u64, u64, Vec<u8>) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let w = World::new(image, DATA_LEN);
    let bench = RefCell::new(DriverSide::new(&w, seed, gap, cold_every));
    bench.borrow_mut().step();
    // SAFETY: the data region lives in `w` for the whole run; the client
    // touches it only between a request's answer and the next request.
    let client = unsafe {
        BlkClient::new(
            w.req_ring(),
            w.resp_ring(),
            w.mem.at(POOL),
            DATA_LEN,
            TestLink(&bench),
        )
    };
    let capacity = (DISK_BYTES / blk_device::BLOCK) as u32;
    let vm = VolumeManager::new(FatDisk::new(client, capacity), blk_fat::FixedClock);
    let summary = match workload::run(&vm) {
        Ok(s) => s,
        Err(e) => panic!("seed {seed}: filesystem: {e:?}"),
    };
    let (disk, _) = vm.free();
    if let Err(e) = disk.sync() {
        panic!("seed {seed}: sync: {e:?}");
    }
    let (reads, writes) = disk.transfers();
    let reposts = disk.with_client(|c| c.reposts()).unwrap_or(0);
    let (deaths, colds) = (bench.borrow().deaths, bench.borrow().colds);
    eprintln!(
        "seed {seed}: {summary:?}; {reads} block reads, {writes} block writes, {deaths} driver deaths \
         ({colds} cold), {reposts} requests posted again, {} waits",
        bench.borrow().waits
    );
    let d = w.dev.lock().expect("model");
    let mut backing = d.1.clone();
    let mut bytes = vec![0; backing.len() as usize];
    backing.read_at(0, &mut bytes).expect("disk");
    drop(d);
    (summary, deaths, colds, reposts, bytes)
}

#[test]
fn the_file_set_survives_the_driver_dying_under_the_filesystem() {
    quiet_crashes();
    let scratch = Scratch::new("faults");
    let image = make(&scratch.0);
    assert!(workload::total_bytes() >= 4 << 20);
    let (s, deaths, disk) = run(image, 5, 1200);
    assert_eq!(s.files as usize, FILES.len());
    assert_eq!(s.mismatched, 0, "{s:?}");
    assert_eq!(s.written, workload::total_bytes());
    assert_eq!(s.verified, workload::total_bytes());
    assert!(deaths >= 20, "only {deaths} deaths");
    check_image(&scratch.0, &disk);
}

#[test]
fn the_checker_rejects_a_damaged_image() {
    quiet_crashes();
    let scratch = Scratch::new("damaged");
    let image = make(&scratch.0);
    let (_, _, mut disk) = run(image, 6, u64::MAX / 4);
    check_image(&scratch.0, &disk);
    // Flip one byte of file data (found by its content), and the check fails.
    let mut needle = vec![0u8; 64];
    workload::fill(13, 100_000, &mut needle);
    let at = disk
        .windows(64)
        .position(|w| w == needle)
        .expect("BIG.BIN's bytes on the disk");
    disk[at] ^= 1;
    let r = catch_unwind(AssertUnwindSafe(|| check_image(&scratch.0, &disk)));
    assert!(r.is_err(), "a corrupted file passed the check");
    disk[at] ^= 1;
    check_image(&scratch.0, &disk);
    // Break a cluster chain in the first FAT: fsck.fat must object.
    let part = (PART_SECTOR * 512) as usize;
    let reserved = usize::from(u16::from_le_bytes([disk[part + 14], disk[part + 15]]));
    let fat = part + reserved * 512;
    disk[fat + 2 * 5..fat + 2 * 5 + 2].copy_from_slice(&0xfff0u16.to_le_bytes());
    let r = catch_unwind(AssertUnwindSafe(|| check_image(&scratch.0, &disk)));
    assert!(r.is_err(), "a broken FAT passed fsck.fat");
}

#[test]
fn frequent_deaths_over_several_seeds() {
    quiet_crashes();
    let scratch = Scratch::new("seeds");
    let image = make(&scratch.0);
    for seed in 1..=4 {
        let (s, deaths, disk) = run(image.clone(), seed, 300);
        assert_eq!(
            (s.mismatched, s.verified),
            (0, workload::total_bytes()),
            "seed {seed}"
        );
        assert!(deaths >= 100, "seed {seed}: only {deaths} deaths");
        check_image(&scratch.0, &disk);
    }
}

#[test]
fn cold_starts_lose_no_request_the_client_posts_again_what_was_lost() {
    quiet_crashes();
    let scratch = Scratch::new("cold");
    let image = make(&scratch.0);
    let mut reposted = 0;
    for seed in 1..=3 {
        let (s, deaths, colds, reposts, disk) = run_with(image.clone(), seed, 300, 4);
        assert_eq!(
            (s.mismatched, s.verified),
            (0, workload::total_bytes()),
            "seed {seed}"
        );
        assert!(
            colds >= 10,
            "seed {seed}: only {colds} cold starts of {deaths} deaths"
        );
        reposted += reposts;
        check_image(&scratch.0, &disk);
    }
    // Some cold starts found the client's request taken and lost.
    assert!(reposted > 0, "no request was ever posted again");
}
