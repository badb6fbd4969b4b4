use super::*;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable)]
struct Counter {
    sent: u64,
    seq: u64,
}

// SAFETY: plain integers.
unsafe impl Persistent for Counter {
    const NAME: &'static str = "Counter";
    const VERSION: u32 = 1;
}

#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable)]
struct CounterV2 {
    sent: u64,
    seq: u64,
}

// SAFETY: plain integers.
unsafe impl Persistent for CounterV2 {
    const NAME: &'static str = "Counter";
    const VERSION: u32 = 2;
}

#[repr(C, align(64))]
struct Mem([u8; 4096]);

fn mem() -> Mem {
    Mem([0; 4096])
}

fn driver<S: Persistent>(m: &mut Mem) -> DriverRegion<S> {
    // SAFETY: the buffer outlives the region within each test.
    unsafe { DriverRegion::new(m.0.as_mut_ptr(), m.0.len()) }.expect("region fits")
}

fn monitor(m: &mut Mem) -> MonitorRegion {
    // SAFETY: as above.
    unsafe { MonitorRegion::new(m.0.as_mut_ptr(), m.0.len()) }.expect("region fits")
}

fn msg(label: u64, words: &[u64]) -> Message {
    Message::with_words(label, words).expect("fits")
}

#[test]
fn zeroed_region_is_fresh_then_warm_after_format() {
    let mut m = mem();
    let mut r = driver::<Counter>(&mut m);
    assert_eq!(r.classify(), StartPath::Fresh(Untrusted::NoMagic));
    r.format();
    assert_eq!(
        r.classify(),
        StartPath::Cold,
        "not warm until the start completes"
    );
    r.arm_warm();
    assert_eq!(r.classify(), StartPath::Warm);
    assert_eq!(monitor(&mut m).validate(), Verdict::Trusted);
}

#[test]
fn state_survives_and_inflight_is_replayable() {
    let mut m = mem();
    let mut r = driver::<Counter>(&mut m);
    r.format();
    r.arm_warm();
    let ch = Channel::of(3);
    r.begin_request(ch, &msg(7, &[1, 2, 3]));
    r.state().sent = 41;
    // Crash here: no end_request. The monitor still trusts the region,
    // because a request in flight leaves the state legitimately mid-update.
    assert_eq!(monitor(&mut m).validate(), Verdict::Trusted);
    monitor(&mut m).prepare_warm(1);
    let mut r = driver::<Counter>(&mut m);
    assert_eq!(r.classify(), StartPath::Warm);
    assert_eq!(r.state().sent, 41);
    assert_eq!(r.epoch(), 1);
    let (c, got) = r.inflight().expect("in flight");
    assert_eq!((c, got), (ch, msg(7, &[1, 2, 3])));
    r.end_request(true);
    assert!(r.inflight().is_some(), "kept until the next event");
    r.begin_busy();
    assert!(r.inflight().is_none());
    assert_eq!(monitor(&mut m).served(), 1);
}

#[test]
fn wild_write_between_requests_is_caught_by_the_state_crc() {
    let mut m = mem();
    let mut r = driver::<Counter>(&mut m);
    r.format();
    r.arm_warm();
    r.begin_request(Channel::of(0), &msg(1, &[]));
    r.state().sent = 5;
    r.end_request(true);
    m.0[STATE_OFFSET] ^= 0x40;
    assert_eq!(
        monitor(&mut m).validate(),
        Verdict::Untrusted(Untrusted::StateCrc)
    );
    assert_eq!(
        driver::<Counter>(&mut m).classify(),
        StartPath::Fresh(Untrusted::StateCrc)
    );
}

#[test]
fn corrupt_header_and_inflight_are_detected() {
    let mut m = mem();
    driver::<Counter>(&mut m).format();
    m.0[20] ^= 1; // state_size
    assert_eq!(
        monitor(&mut m).validate(),
        Verdict::Untrusted(Untrusted::HeaderCrc)
    );

    let mut m = mem();
    let mut r = driver::<Counter>(&mut m);
    r.format();
    r.begin_request(Channel::of(0), &msg(9, &[4]));
    let off = core::mem::offset_of!(Header, inflight) + core::mem::offset_of!(Inflight, words);
    m.0[off] ^= 0xff;
    assert_eq!(
        monitor(&mut m).validate(),
        Verdict::Untrusted(Untrusted::InflightCrc)
    );
    assert!(driver::<Counter>(&mut m).inflight().is_none());
}

#[test]
fn a_new_layout_treats_the_old_region_as_stale() {
    let mut m = mem();
    let mut r = driver::<Counter>(&mut m);
    r.format();
    r.arm_warm();
    assert_ne!(layout_id::<Counter>(), layout_id::<CounterV2>());
    assert_eq!(
        driver::<CounterV2>(&mut m).classify(),
        StartPath::Fresh(Untrusted::StaleLayout)
    );
}

#[test]
fn cold_wipes_state_but_keeps_the_caller_to_answer() {
    let mut m = mem();
    let mut r = driver::<Counter>(&mut m);
    r.format();
    r.state().sent = 99;
    r.begin_request(Channel::of(2), &msg(5, &[8]));
    monitor(&mut m).prepare_cold(7);
    let mut r = driver::<Counter>(&mut m);
    assert_eq!(r.classify(), StartPath::Cold);
    assert_eq!(r.inflight(), Some((Channel::of(2), msg(5, &[8]))));
    r.format();
    assert_eq!(r.state().sent, 0);
    assert_eq!(r.epoch(), 7, "format keeps the epoch the monitor set");
    r.arm_warm();
    assert_eq!(r.classify(), StartPath::Warm);
}

#[test]
fn tombstone_and_garbage_never_panic() {
    let mut m = mem();
    monitor(&mut m).prepare_tombstone(3);
    assert_eq!(driver::<Counter>(&mut m).classify(), StartPath::Tombstone);
    // Arbitrary content: classify and validate must not panic.
    let mut seed = 0x1234_5678_u32;
    for round in 0..200 {
        let mut m = mem();
        for b in m.0.iter_mut() {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            *b = (seed >> 24) as u8;
        }
        if round % 2 == 0 {
            m.0[..8].copy_from_slice(&MAGIC);
        }
        let _ = monitor(&mut m).validate();
        let r = driver::<Counter>(&mut m);
        assert!(matches!(
            r.classify(),
            StartPath::Fresh(_) | StartPath::Cold | StartPath::Tombstone | StartPath::Warm
        ));
        let _ = r.inflight();
    }
}

#[test]
fn too_small_or_misaligned_regions_are_refused() {
    let mut m = mem();
    // SAFETY: buffer valid for the call.
    let e = unsafe { DriverRegion::<Counter>::new(m.0.as_mut_ptr(), STATE_OFFSET) };
    assert!(matches!(e, Err(RegionError::TooSmall { .. })));
    // SAFETY: as above.
    let e = unsafe { MonitorRegion::new(m.0.as_mut_ptr().add(8), 1024) };
    assert!(matches!(e, Err(RegionError::Misaligned)));
}
