//! The virtio-blk driver and the block server against the virtio-mmio
//! model, with the driver killed at its register accesses and record
//! commits while many requests are in flight. The device model, the disk,
//! guest memory and the rings outlive each death, as hardware and shared
//! memory do; the driver's own memory does not. The verdict is the disk
//! itself against an independent shadow, and each request's answers.

mod common;

use blk_device::{BlockDevice, BLOCK};
use blk_inflight::InFlight;
use blk_queue::{BlkReq, ReqCode, RespStatus};
use common::*;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use virtio_blk_model::Backing;

const DISK_BLOCKS: u64 = 256;
const MAX_COUNT: u16 = 8;
/// Each outstanding request owns one area of the data region.
const AREAS: usize = 48;
const AREA: usize = MAX_COUNT as usize * BLOCK;

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

fn run(seed: u64, requests: u32, mean_gap: u64) -> Tally {
    run_on(false, seed, requests, mean_gap)
}

/// `pci`: the device is a virtio-pci function (x86), else virtio-mmio.
fn run_on(pci: bool, seed: u64, requests: u32, mean_gap: u64) -> Tally {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let disk_bytes = DISK_BLOCKS as usize * BLOCK;
    let disk = vec![0xee; disk_bytes];
    let w = if pci {
        World::new_pci(disk, AREAS * AREA)
    } else {
        World::new(disk, AREAS * AREA)
    };
    let shadow = RefCell::new(vec![0xee_u8; disk_bytes]);
    let plan = Rc::new(Plan::default());
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut persistent = Persistent {
        located: None,
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

    let data_region = w.data_region();
    let gap = mean_gap;
    let mut server = boot(&w, &plan, &mut persistent, &mut rng, gap, &mut tally.deaths);
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
                let mut rec = Rec {
                    p: &mut persistent,
                    plan: plan.clone(),
                };
                server.serve(&mut rec)
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
                    server = boot(&w, &plan, &mut persistent, &mut rng, gap, &mut tally.deaths);
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
                    shadow.borrow_mut()[at..at + buf.len()].copy_from_slice(buf);
                    tally.writes += 1;
                }
                (Some(ReqCode::Read), RespStatus::Ok) => {
                    assert_eq!(resp.success_count, o.req.count);
                    // SAFETY: as above.
                    let buf = unsafe {
                        std::slice::from_raw_parts(data_region.base.add(o.area * AREA), n)
                    };
                    assert!(
                        buf == &shadow.borrow()[at..at + n],
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
        bytes == *shadow.borrow(),
        "seed {seed}: disk differs from what was written"
    );
    tally
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

#[test]
fn over_virtio_pci_without_faults_all_answered_and_the_disk_is_right() {
    quiet_crashes();
    let t = run_on(true, 7, 3000, u64::MAX / 4);
    assert_eq!(t.deaths, 0);
    assert!(t.max_in_flight >= 32, "{t:?}");
    assert!(t.writes > 500 && t.reads > 500 && t.invalid > 100, "{t:?}");
}

#[test]
fn over_virtio_pci_a_driver_killed_anywhere_loses_and_doubles_nothing() {
    // The PCI probe is in every start (the first enumerates bus 0: 118
    // register accesses with the capabilities and the BAR on the model's
    // bus of one function; a restart looks where the last start found the
    // device first: 50), so deaths land there too; the mean gap between
    // deaths is longer than a first start, else none would ever finish.
    quiet_crashes();
    let mut deaths = 0;
    for seed in 1..=20 {
        let t = run_on(true, seed, 400, 160);
        assert!(t.deaths >= 20, "seed {seed}: {t:?}");
        deaths += t.deaths;
    }
    eprintln!("deaths over 20 seeds (virtio-pci): {deaths}");
}

#[test]
fn a_pci_bar_left_sizing_or_placed_elsewhere_is_put_where_the_window_is() {
    use std::cell::Cell;
    // BAR4 (64-bit) of the block function: header bytes 0x20 and 0x24.
    type Leave = fn(&mut virtio_blk_model::pci::PciFront);
    let cases: [(&str, Leave); 3] = [
        ("sizing, low dword", |f| f.config_write(0x20, u32::MAX)),
        ("sizing, both dwords", |f| {
            f.config_write(0x20, u32::MAX);
            f.config_write(0x24, u32::MAX);
        }),
        ("firmware put it elsewhere", |f| {
            f.config_write(0x20, 0xfd00_0000);
            f.config_write(0x24, 1);
        }),
    ];
    for (what, left) in cases {
        let w = World::new_pci(vec![0; 64 * BLOCK], 4096);
        if let Some(pci) = &w.pci {
            left(&mut pci.lock().expect("pci"));
        }
        let plan = Rc::new(Plan {
            events: Cell::new(0),
            at: Cell::new(0),
        });
        let t = transport(&w, &plan, &mut None);
        let at = w.pci.as_ref().map(|p| p.lock().expect("pci").bar);
        assert_eq!(at, Some(BAR_PADDR), "{what}");
        assert!(matches!(t, blk_virtio::any::AnyTransport::Pci(_)), "{what}");
    }
}

#[test]
fn a_stopped_driver_answers_everything_no_device_once() {
    let w = World::new(vec![0; 64 * BLOCK], 4096);
    let (req, resp) = (w.req_ring(), w.resp_ring());
    for id in 1..=3 {
        req.push(BlkReq::new(ReqCode::Read, 0, id, 1, id))
            .expect("room");
    }
    assert!(blk_server::answer_all(&req, &resp, RespStatus::ErrNoDevice));
    assert!(!blk_server::answer_all(
        &req,
        &resp,
        RespStatus::ErrNoDevice
    ));
    let mut ids = Vec::new();
    while let Ok(Some(r)) = resp.pop() {
        assert_eq!(
            RespStatus::from_raw(r.status),
            Some(RespStatus::ErrNoDevice)
        );
        ids.push(r.id);
    }
    assert_eq!(ids, [1, 2, 3]);
}
