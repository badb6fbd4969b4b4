//! A driver's persistent region (`persist`): the driver trusts it across a
//! warm restart and the monitor reads it after a fault, yet a faulty driver
//! may have written anything there. Classifying, validating and reading the
//! header and the in-flight slot must never panic on any content, and the
//! monitor's resets must leave a region the next start accepts.
//!
//! Written against the region API of this commit and kept to this one file:
//! the layout is being redesigned (A/B commit records, marks, a control
//! page), and this target is to follow it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use persist::{
    crc, DriverRegion, Header, MonitorRegion, Persistent, StartPath, Verdict, REPORT_BYTES,
    STATE_OFFSET,
};
use selfheal_fuzz::Reader;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable)]
struct State {
    words: [u64; 16],
}

// SAFETY: plain integers.
unsafe impl Persistent for State {
    const NAME: &'static str = "FuzzState";
    const VERSION: u32 = 1;
}

const STATE_SIZE: usize = core::mem::size_of::<State>();
const MEM: usize = STATE_OFFSET + 4096;

#[repr(C, align(64))]
struct Mem([u8; MEM]);

/// Make the region's checksums (and, if asked, its magic and layout) agree
/// with its content, so that the deeper checks are reached too.
fn fix_up(mem: &mut Mem, size: usize, flags: u8) {
    let state_end = |h: &Header| {
        usize::try_from(h.state_size)
            .ok()
            .and_then(|n| STATE_OFFSET.checked_add(n))
            .filter(|&e| e <= size)
    };
    let Ok((h, _)) = Header::mut_from_prefix(&mut mem.0[..]) else {
        return;
    };
    if flags & 1 != 0 {
        h.magic = persist::MAGIC;
    }
    if flags & 2 != 0 {
        h.layout = DriverRegion::<State>::LAYOUT;
        h.state_size = STATE_SIZE as u64;
    }
    if flags & 4 != 0 {
        let b = h.inflight.as_bytes();
        h.inflight.crc = crc::crc32(&b[..b.len() - 8]);
    }
    if flags & 8 != 0 {
        h.header_crc = crc::crc32(&h.as_bytes()[..36]);
    }
    if flags & 16 != 0 {
        if let Some(end) = state_end(h) {
            let c = crc::crc32(&mem.0[STATE_OFFSET..end]);
            if let Ok((h, _)) = Header::mut_from_prefix(&mut mem.0[..]) {
                h.state_crc = c;
            }
        }
    }
}

fn driver_view(mem: &mut Mem, size: usize) {
    // SAFETY: `mem` outlives the region, which nothing else uses meanwhile.
    let Ok(mut d) = (unsafe { DriverRegion::<State>::new(mem.0.as_mut_ptr(), size) }) else {
        assert!(size < STATE_OFFSET + STATE_SIZE);
        return;
    };
    let path = d.classify();
    let _ = StartPath::name(path.code());
    if let StartPath::Fresh(u) = path {
        let _ = u.name();
    }
    let _ = (d.inflight(), d.epoch());
    // What a start does with it: format, arm, and the region is warm.
    let inflight = d.inflight();
    d.format();
    assert_eq!(d.classify(), StartPath::Cold);
    assert_eq!(
        d.inflight(),
        inflight,
        "format keeps an intact in-flight slot"
    );
    d.arm_warm();
    assert_eq!(d.classify(), StartPath::Warm);
}

fn monitor_view(mem: &mut Mem, size: usize, r: &mut Reader) {
    // SAFETY: as in `driver_view`.
    let Ok(mut m) = (unsafe { MonitorRegion::new(mem.0.as_mut_ptr(), size) }) else {
        assert!(size < STATE_OFFSET);
        return;
    };
    let verdict = m.validate();
    let _ = m.epoch();
    let mut out = vec![0u8; usize::from(r.u8()) * 8];
    assert!(m.report(&mut out) <= out.len().min(REPORT_BYTES));
    let _ = (m.start_record(), m.liveness(), m.served(), m.deadline());
    let epoch = r.word();
    match r.u8() % 4 {
        0 => {
            m.prepare_warm(epoch);
            assert_eq!(m.epoch(), epoch);
            // Sealed with a known directive (the magic is not the
            // monitor's to write: an unformatted region stays one).
            if let Verdict::Untrusted(u) = m.validate() {
                assert!(
                    !matches!(
                        u,
                        persist::Untrusted::HeaderCrc | persist::Untrusted::BadDirective
                    ),
                    "{u:?} after prepare_warm (was {verdict:?})"
                );
            }
        }
        1 => {
            m.prepare_cold(epoch);
            assert_eq!(m.validate(), Verdict::Trusted);
            assert_eq!(m.epoch(), epoch);
        }
        2 => {
            m.prepare_tombstone(epoch);
            assert_eq!(m.validate(), Verdict::Trusted);
        }
        _ => {
            m.wipe();
            assert_eq!(
                m.validate(),
                Verdict::Untrusted(persist::Untrusted::NoMagic)
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    let flags = r.u8();
    // A region size around what the header and the state need.
    let size = match r.u8() {
        0 => usize::from(r.u8()),
        s => (STATE_OFFSET + STATE_SIZE + 8 * usize::from(s)).saturating_sub(256),
    }
    .min(MEM);
    let mut mem = Box::new(Mem([0; MEM]));
    let content = r.bytes(size);
    mem.0[..content.len()].copy_from_slice(content);
    fix_up(&mut mem, size, flags);

    // A misaligned base is refused, whatever the size.
    // SAFETY: not dereferenced: `new` refuses it first.
    let odd = unsafe { mem.0.as_mut_ptr().add(8) };
    assert!(unsafe { DriverRegion::<State>::new(odd, size) }.is_err());
    assert!(unsafe { MonitorRegion::new(odd, size) }.is_err());

    let copy = mem.0;
    if flags & 0x80 != 0 {
        driver_view(&mut mem, size);
        mem.0 = copy;
    }
    monitor_view(&mut mem, size, &mut r);
});
