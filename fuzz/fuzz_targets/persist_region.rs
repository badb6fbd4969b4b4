//! A driver's persistent region (`persist`) and its control page: the
//! driver trusts the region across a warm restart and the monitor reads it
//! after a fault, yet a faulty driver may have written anything there.
//!
//! Three parts, driven by the input:
//! * arbitrary bytes: loading, verifying and the monitor's reads never panic,
//!   and the monitor's verdict agrees with the driver's load;
//! * a life: commits of input-chosen content, stray writes of input-chosen
//!   bytes at input-chosen offsets (contamination), marks, and loads. A load
//!   that trusts the region returns exactly the last committed record and
//!   only marks stored since; a commit over a contaminated record says so;
//! * a control page of arbitrary bytes decodes to nothing but what a sealed
//!   page would hold.
#![no_main]

use libfuzzer_sys::fuzz_target;
use persist::{
    read_control, read_mark, ControlPage, Directive, DriverRegion, Loaded, Mark, MonitorRegion,
    Persistent, Verdict, MARKS, REPORT_BYTES,
};
use selfheal_fuzz::Reader;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, PartialEq, Eq, Debug)]
struct State {
    words: [u64; 8],
}

// SAFETY: plain integers.
unsafe impl Persistent for State {
    const NAME: &'static str = "FuzzState";
    const VERSION: u32 = 1;
}

const NEED: usize = persist::region_bytes(core::mem::size_of::<State>());
const MEM: usize = NEED + 512;

#[repr(C, align(64))]
struct Mem([u8; MEM]);

/// The monitor's reads of whatever the region holds.
fn monitor_reads(mem: &mut Mem, size: usize, r: &mut Reader) -> Option<Verdict> {
    // SAFETY: `mem` outlives the view; nothing else uses it meanwhile.
    let m = unsafe { MonitorRegion::new(mem.0.as_mut_ptr(), size) }.ok()?;
    let v = m.validate();
    assert_eq!(v == Verdict::Trusted, m.summary().is_ok());
    let mut out = vec![0u8; usize::from(r.u8()) * 8];
    assert!(m.report(&mut out) <= out.len().min(REPORT_BYTES));
    let _ = (m.start_record(), m.liveness());
    Some(v)
}

/// Arbitrary content: no panic, and the two views agree.
fn arbitrary(mem: &mut Mem, size: usize, r: &mut Reader) {
    let verdict = monitor_reads(mem, size, r);
    // SAFETY: as in `monitor_reads`.
    let Ok(mut d) = (unsafe { DriverRegion::<State>::new(mem.0.as_mut_ptr(), size) }) else {
        assert!(size < NEED);
        return;
    };
    let (loaded, _work) = d.load();
    if loaded == Loaded::Trusted {
        // What the driver trusts, the monitor trusts (the monitor knows less:
        // not the layout).
        assert_eq!(verdict, Some(Verdict::Trusted));
        assert_eq!(d.verify(), Ok(()));
    }
}

/// A life of commits, stray writes and loads.
fn life(mem: &mut Mem, r: &mut Reader) {
    mem.0.fill(0);
    // SAFETY: as in `monitor_reads`.
    let Ok(mut d) = (unsafe { DriverRegion::<State>::new(mem.0.as_mut_ptr(), NEED) }) else {
        panic!("a region of region_bytes() is refused");
    };
    d.format();
    let (_, mut work) = d.load();
    // The last committed record and the marks stored since, as the driver
    // wrote them; `dirty` once a stray write may have touched anything.
    let mut committed: Option<(u64, State)> = None;
    let mut marks: [Option<u32>; MARKS] = [None; MARKS];
    let mut dirty = false;
    let mut history: Vec<(u64, u64, State)> = Vec::new();
    for _ in 0..32 {
        if r.is_empty() {
            break;
        }
        match r.u8() % 5 {
            0 => {
                for w in work.state.words.iter_mut() {
                    *w = r.word();
                }
                work.head.events = r.word();
                let check = d.commit(&mut work);
                if !dirty {
                    assert_eq!(check, persist::CommitCheck::Clean);
                }
                // Whatever was there, a commit leaves the region whole.
                assert_eq!(d.verify(), Ok(()), "after a commit ({check:?})");
                dirty = false;
                committed = Some((work.head.events, work.state));
                history.push((work.head.gen, work.head.events, work.state));
                marks = [None; MARKS];
            }
            1 => {
                // A stray write: anywhere in the region, any bytes.
                let off = usize::from(r.u8()) << 4 | usize::from(r.u8() & 15);
                let off = off % NEED;
                let bytes = r.bytes(8);
                let end = (off + bytes.len()).min(NEED);
                let before = mem.0[off..end].to_vec();
                mem.0[off..end].copy_from_slice(&bytes[..end - off]);
                dirty |= before != mem.0[off..end];
            }
            2 => {
                let i = usize::from(r.u8()) % MARKS;
                let v = (r.word() as u32).min(u32::MAX - 1);
                d.mark(i, v);
                marks[i] = Some(v);
            }
            3 => {
                // A restart: load what is there.
                let (loaded, w) = d.load();
                if loaded == Loaded::Trusted {
                    if !dirty {
                        match committed {
                            Some((events, state)) => {
                                assert_eq!(w.state, state, "a trusted load is the last commit");
                                assert_eq!(w.head.events, events);
                            }
                            None => assert_eq!(w.head.gen, 0),
                        }
                        assert_eq!(w.marks, marks, "marks are the ones stored");
                    } else if w.head.gen != 0 {
                        // After contamination, a trusted load is a record the
                        // driver committed (the last one, or the one before
                        // if the stray write was exactly that one's `done`
                        // word), never content it did not write.
                        let known = history.iter().any(|(g, e, st)| {
                            *g == w.head.gen && *e == w.head.events && *st == w.state
                        });
                        assert!(known, "contamination trusted: gen {}", w.head.gen);
                    }
                    work = w;
                } else {
                    // A start formats an untrusted region.
                    d.format();
                    work = d.load().1;
                    committed = None;
                    history.clear();
                    marks = [None; MARKS];
                    dirty = false;
                }
            }
            _ => {
                let _ = d.verify();
            }
        }
    }
}

/// A control page of any bytes.
fn control(r: &mut Reader) {
    #[repr(C, align(8))]
    struct Page([u8; 32]);
    let mut p = Page([0; 32]);
    let b = r.bytes(32);
    p.0[..b.len()].copy_from_slice(b);
    // SAFETY: 32 readable, aligned bytes.
    let page = unsafe { read_control(p.0.as_ptr()) };
    if let Ok(Some((epoch, d))) = page.decode() {
        // Only a page the monitor could have sealed decodes.
        assert_eq!(ControlPage::new(epoch, d).as_bytes(), page.as_bytes());
        let _ = Directive::from_raw(d as u64);
    }
    let w = r.word();
    let _ = read_mark(w, r.word(), usize::from(r.u8()));
    assert!(matches!(read_mark(w, 0, MARKS), Mark::None | Mark::Corrupt | Mark::Value(_)));
}

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    match r.u8() % 3 {
        0 => {
            let size = match r.u8() {
                0 => usize::from(r.u8()),
                s => (NEED + 8 * usize::from(s)).saturating_sub(512),
            }
            .min(MEM);
            let mut mem = Box::new(Mem([0; MEM]));
            let content = r.bytes(size);
            mem.0[..content.len()].copy_from_slice(content);
            // A misaligned base is refused, whatever the size.
            // SAFETY: not dereferenced: `new` refuses it first.
            let odd = unsafe { mem.0.as_mut_ptr().add(8) };
            assert!(unsafe { DriverRegion::<State>::new(odd, size) }.is_err());
            assert!(unsafe { MonitorRegion::new(odd, size) }.is_err());
            arbitrary(&mut mem, size, &mut r);
        }
        1 => life(&mut Box::new(Mem([0; MEM])), &mut r),
        _ => control(&mut r),
    }
});
