//! The fault-injection plan (`fault_inject`): a region written by whoever
//! runs the experiment, read by the driver at every injection site and by
//! the monitor for its lane and its reports. Decoding any bytes, and
//! stepping a plan over any region content, size and counters, must never
//! panic; every step fires at most one entry, a fired entry stays fired, no
//! more entries fire than the region holds, and a scribble stays inside the
//! region it is given.
#![no_main]

use fault_inject::{capacity, decode, scribble, Kind, Plan, Site, HEADER_BYTES, PLAN_MAGIC};
use libfuzzer_sys::fuzz_target;
use selfheal_fuzz::Reader;

const MAX: usize = HEADER_BYTES + 64 * fault_inject::ENTRY_BYTES;

#[repr(C, align(8))]
struct Mem([u8; MAX + 64]);

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    let flags = r.u8();
    let size = (usize::from(r.u8()) * 16 + usize::from(r.u8() % 16)).min(MAX + 64);
    let mut mem = Box::new(Mem([0; MAX + 64]));
    let content = r.bytes(size);
    mem.0[..content.len()].copy_from_slice(content);
    if flags & 1 != 0 && size >= 4 {
        mem.0[..4].copy_from_slice(&PLAN_MAGIC.to_le_bytes());
    }

    // The report decoder, on the region and on any prefix of it.
    let (_, entries) = decode(&mem.0[..size]);
    assert!(entries.count() <= capacity(size));
    let _ = decode(&mem.0[..size / 2]).1.count();
    for k in Kind::ALL {
        assert_eq!(Kind::from_name(k.name()), Some(k));
    }
    let raw = r.word();
    let _ = (Kind::from_raw(raw as u16), Site::from_raw((raw >> 16) as u16));

    // The driver's and the monitor's view, aligned and not (a misaligned
    // plan is empty).
    let off = if flags & 2 != 0 { 4 } else { 0 };
    let size = size.saturating_sub(off);
    // SAFETY: `mem` outlives `plan` and holds `off + size` bytes.
    let plan = unsafe { Plan::new(mem.0.as_mut_ptr().add(off), size) };
    let cap = capacity(size) as u32;
    assert!(plan.fired_count() <= cap && plan.len() <= capacity(size));
    let mut now = 0u64;
    for _ in 0..capacity(MAX) + 8 {
        if r.is_empty() {
            break;
        }
        now += 1;
        let site = Site::ALL[usize::from(r.u8()) % Site::ALL.len()];
        let before = plan.fired_count();
        let fired = match r.u8() % 3 {
            0 => plan.due(site, r.word(), now),
            1 => plan.hit(site, now),
            _ => {
                let next = plan.next_monitor();
                let f = plan.fire_monitor(now);
                if let (Some((_, k, a)), Some(f)) = (next, f) {
                    assert_eq!((k, a), f, "fires the entry it announced");
                }
                if f.is_some() {
                    assert_eq!(plan.fired_count(), before + 1);
                }
                // Not the driver lane's: `last_fired` does not report it.
                None
            }
        };
        let after = plan.fired_count();
        assert!(
            after == before || after == before + 1,
            "one step fired {before} -> {after}"
        );
        assert!(after <= cap);
        if let Some((kind, _)) = fired {
            assert_eq!(after, before + 1);
            assert_eq!(plan.last_fired(), Some((kind, now)));
        }
        let _ = (plan.entry(usize::from(r.u8())), plan.is_empty());
    }

    // A scribble lands inside the bytes it is given, 8-byte aligned.
    #[repr(C, align(8))]
    struct Region([u8; 512]);
    let mut reg = Region([0; 512]);
    let n = usize::from(r.u8()) * 2;
    // SAFETY: `reg` holds 512 >= n bytes, aligned.
    let at = unsafe { scribble(reg.0.as_mut_ptr(), n, r.word()) };
    if n >= 8 {
        assert!(at + 8 <= n && at % 8 == 0, "{at} in {n}");
    }
    assert!(reg.0[n - n % 8..].iter().all(|&b| b == 0), "outside {n}");
});
