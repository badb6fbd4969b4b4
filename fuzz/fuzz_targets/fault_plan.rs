//! The fault-injection plan (`fault_inject`): a region written by whoever
//! runs the experiment, read by the driver at every injection site and by
//! the harness for reports. Decoding any bytes, and stepping a plan over any
//! region content, size and counters, must never panic; an entry fires at
//! most once, in plan order.
#![no_main]

use fault_inject::{decode, Kind, Plan, Site, MAX_ENTRIES, PLAN_BYTES, PLAN_MAGIC};
use libfuzzer_sys::fuzz_target;
use selfheal_fuzz::Reader;

#[repr(C, align(8))]
struct Mem([u8; PLAN_BYTES + 64]);

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    let flags = r.u8();
    let size = usize::from(r.u8()) * 16 + usize::from(r.u8() % 16);
    let size = size.min(PLAN_BYTES + 64);
    let mut mem = Box::new(Mem([0; PLAN_BYTES + 64]));
    let content = r.bytes(size);
    mem.0[..content.len()].copy_from_slice(content);
    if flags & 1 != 0 && size >= 4 {
        mem.0[..4].copy_from_slice(&PLAN_MAGIC.to_le_bytes());
    }

    // The report decoder, on the region and on any prefix of it.
    let n = decode(&mem.0[..size]).count();
    assert!(n <= MAX_ENTRIES);
    let _ = decode(&mem.0[..size / 2]).count();
    for k in Kind::ALL {
        assert_eq!(Kind::from_name(k.name()), Some(k));
    }
    let _ = Kind::from_raw(u32::from(r.u8()));

    // The driver's view, aligned and not (a misaligned plan is empty).
    let off = if flags & 2 != 0 { 4 } else { 0 };
    let size = size.saturating_sub(off);
    // SAFETY: `mem` outlives `plan` and holds `off + size` bytes.
    let plan = unsafe { Plan::new(mem.0.as_mut_ptr().add(off), size) };
    let mut fired = plan.fired_count();
    let mut now = 0u64;
    // More steps than a plan has entries, fewer than would slow the fuzzer.
    for _ in 0..MAX_ENTRIES + 8 {
        if r.is_empty() {
            break;
        }
        let site = if r.bool() { Site::Bytes } else { Site::Start };
        let counter = r.word();
        now += 1;
        let before = plan.fired_count();
        let due = plan.due(site, counter, now);
        let after = plan.fired_count();
        // Each call fires at most one entry, and a fired one stays fired.
        assert!(
            after == before || after == before + 1,
            "{before} -> {after}"
        );
        if due.is_some() {
            assert_eq!(after, before + 1);
            assert_eq!(
                plan.last_fired().map(|(k, t)| (Some(k), t)),
                Some((due, now))
            );
        }
        fired = fired.max(after);
        let _ = plan.last_fired();
    }
    assert!(fired as usize <= MAX_ENTRIES);
});
