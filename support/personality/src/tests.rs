extern crate std;

use super::*;
use persist::MonitorRegion;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::vec::Vec;
use testkit::{MockDevice, MockPlatform};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

const READY: Channel = Channel::of(1);
const CLIENT: Channel = Channel::of(0);
const DATA: u32 = 0x10;

#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable)]
struct Progress {
    cur_seq: u64,
    pos: u64,
    done_seq: u64,
    inits: u64,
}

// SAFETY: plain integers.
unsafe impl Persistent for Progress {
    const NAME: &'static str = "Progress";
    const VERSION: u32 = 1;
}

/// A stream driver in the style of seed 000's parallel-port driver: the
/// position is persistent and advanced right after each byte is out.
struct Stream {
    dev: MockDevice,
    crash_at: Option<u64>,
}

std::thread_local! {
    static CRASH_AT: core::cell::Cell<Option<u64>> = const { core::cell::Cell::new(None) };
}

impl Driver<MockPlatform> for Stream {
    type State = Progress;
    const NAME: &'static str = "stream";

    fn init(env: &mut Env<MockPlatform, Progress>) -> Result<Self, StartError> {
        env.state().inits += 1;
        Self::new(env)
    }

    fn recover(env: &mut Env<MockPlatform, Progress>) -> Result<Self, StartError> {
        if env.state().pos > 1000 {
            return Err(StartError::Inconsistent);
        }
        Self::new(env)
    }

    fn request(
        &mut self,
        env: &mut Env<MockPlatform, Progress>,
        _ch: Channel,
        req: &Message,
    ) -> Message {
        let (seq, len) = (req.word(0).unwrap_or(0), req.word(1).unwrap_or(0));
        if seq == env.state().done_seq {
            return Message::new(2);
        }
        if env.state().cur_seq != seq {
            env.state().cur_seq = seq;
            env.state().pos = 0;
        }
        while env.state().pos < len {
            let pos = env.state().pos;
            if self.crash_at == Some(seq * 1000 + pos) {
                panic!("crash");
            }
            self.dev.write32(DATA as usize, (seq * 1000 + pos) as u32);
            env.state().pos = pos + 1;
            env.progress();
        }
        env.state().done_seq = seq;
        Message::with_words(2, &[seq, len]).unwrap_or_default()
    }

    fn error_reply(kind: ErrorReply, epoch: u64) -> Message {
        let label = match kind {
            ErrorReply::Restarted => 0xe1,
            ErrorReply::Stopped => 0xe2,
        };
        Message::with_words(label, &[epoch]).unwrap_or_default()
    }
}

impl Stream {
    fn new(env: &mut Env<MockPlatform, Progress>) -> Result<Self, StartError> {
        let dev = env.platform().device("dev").ok_or(StartError::Device)?;
        let crash_at = CRASH_AT.with(|c| c.get());
        Ok(Self { dev, crash_at })
    }
}

fn platform() -> (MockPlatform, MockDevice) {
    let p = MockPlatform::new("stream", pd_core::Arch::Aarch64);
    p.add_region(PERSISTENT_SETVAR, 4096);
    let d = p.add_device("dev");
    (p, d)
}

fn monitor(p: &MockPlatform) -> MonitorRegion {
    let r = p.region(PERSISTENT_SETVAR).expect("region");
    // SAFETY: region memory lives as long as the platform.
    unsafe { MonitorRegion::new(r.as_mut_ptr(), r.size) }.expect("valid")
}

/// A first boot sends one "restarted" reply to whoever may be blocked: with a
/// zeroed region nobody can be, so it names no channel.
fn first_boot_answers_nobody(p: &MockPlatform) {
    let replies = p.record(|r| r.pending_replies.clone());
    assert_eq!(replies.len(), 1);
    assert_eq!((replies[0].0, replies[0].1.label), (None, 0xe1));
    p.clear_record();
}

fn write_req(seq: u64, len: u64) -> Message {
    Message::with_words(1, &[seq, len]).unwrap_or_default()
}

fn set_crash(at: Option<u64>) {
    CRASH_AT.with(|c| c.set(at));
}

#[test]
fn a_warm_restart_replays_the_request_without_repeating_bytes() {
    set_crash(Some(1003));
    let (p, dev) = platform();
    let mut pers = Personality::<_, Stream>::start(p.clone(), Some(READY)).expect("start");
    assert_eq!(p.record(|r| r.notified.clone()), [READY]);
    first_boot_answers_nobody(&p);
    let crashed = catch_unwind(AssertUnwindSafe(|| {
        pers.protected(CLIENT, &write_req(1, 8))
    }));
    assert!(crashed.is_err());
    drop(pers);
    assert_eq!(dev.writes_to(DATA as usize), [1000, 1001, 1002]);

    // The monitor finds the region trustworthy and asks for a warm start.
    assert_eq!(monitor(&p).validate(), persist::Verdict::Trusted);
    monitor(&p).prepare_warm(1);
    set_crash(None);
    let mut pers = Personality::<_, Stream>::start(p.clone(), Some(READY)).expect("restart");
    let writes = dev.writes_to(DATA as usize);
    assert_eq!(
        writes,
        (1000..1008).collect::<Vec<_>>(),
        "every byte exactly once"
    );
    let replies = p.record(|r| r.pending_replies.clone());
    assert_eq!(
        replies,
        [(
            Some(CLIENT),
            Message::with_words(2, &[1, 8]).unwrap_or_default()
        )]
    );
    let rec = monitor(&p).start_record();
    assert_eq!((rec.path, rec.replayed, rec.epoch), (1, 1, 1));
    assert_eq!(pers.env().state().inits, 1, "recover, not init");
    // And it keeps serving.
    let r = pers.protected(CLIENT, &write_req(2, 2));
    assert_eq!(r.word(0), Some(2));
}

#[test]
fn a_cold_start_answers_the_blocked_caller_with_restarted_and_the_epoch() {
    set_crash(Some(1001));
    let (p, _dev) = platform();
    let mut pers = Personality::<_, Stream>::start(p.clone(), None).expect("start");
    first_boot_answers_nobody(&p);
    let _ = catch_unwind(AssertUnwindSafe(|| {
        pers.protected(CLIENT, &write_req(1, 4))
    }));
    drop(pers);
    monitor(&p).prepare_cold(5);
    set_crash(None);
    let mut pers = Personality::<_, Stream>::start(p.clone(), None).expect("restart");
    let replies = p.record(|r| r.pending_replies.clone());
    assert_eq!(
        replies,
        [(
            Some(CLIENT),
            Message::with_words(0xe1, &[5]).unwrap_or_default()
        )]
    );
    assert_eq!(pers.env().state().pos, 0, "state discarded");
    assert_eq!(pers.env().epoch(), 5);
    assert_eq!(monitor(&p).start_record().path, 2);
}

#[test]
fn a_failed_recover_falls_back_to_init() {
    set_crash(None);
    let (p, _dev) = platform();
    let mut pers = Personality::<_, Stream>::start(p.clone(), None).expect("start");
    pers.env().state().pos = 5000; // inconsistent: recover refuses it
    pers.env().region.end_request(false);
    drop(pers);
    monitor(&p).prepare_warm(1);
    let mut pers = Personality::<_, Stream>::start(p.clone(), None).expect("restart");
    assert_eq!(pers.env().state().pos, 0);
    assert_eq!(pers.env().state().inits, 1);
    assert!(p.record(|r| r.console.contains("recover failed")));
    assert_eq!(monitor(&p).start_record().path, 2);
}

#[test]
fn a_tombstone_answers_stopped_and_never_touches_the_device() {
    set_crash(None);
    let (p, dev) = platform();
    drop(Personality::<_, Stream>::start(p.clone(), None).expect("start"));
    first_boot_answers_nobody(&p);
    monitor(&p).prepare_tombstone(9);
    let mut pers = Personality::<_, Stream>::start(p.clone(), None).expect("restart");
    assert!(pers.is_tombstone());
    let r = pers.protected(CLIENT, &write_req(1, 4));
    assert_eq!((r.label, r.word(0)), (0xe2, Some(9)));
    assert!(dev.writes().is_empty());
    assert_eq!(
        p.record(|r| r.pending_replies.clone()),
        [(None, Message::with_words(0xe2, &[9]).unwrap_or_default())]
    );
}

#[test]
fn a_region_corrupted_between_requests_is_not_trusted() {
    set_crash(None);
    let (p, _dev) = platform();
    let mut pers = Personality::<_, Stream>::start(p.clone(), None).expect("start");
    pers.protected(CLIENT, &write_req(1, 3));
    drop(pers);
    let r = p.region(PERSISTENT_SETVAR).expect("region");
    // SAFETY: inside the region (state starts at STATE_OFFSET).
    unsafe { *r.as_mut_ptr().add(persist::STATE_OFFSET + 8) ^= 0x55 };
    assert_eq!(
        monitor(&p).validate(),
        persist::Verdict::Untrusted(persist::Untrusted::StateCrc)
    );
}

#[test]
fn a_duplicate_request_after_completion_is_not_repeated() {
    set_crash(None);
    let (p, dev) = platform();
    let mut pers = Personality::<_, Stream>::start(p.clone(), None).expect("start");
    pers.protected(CLIENT, &write_req(1, 3));
    pers.protected(CLIENT, &write_req(1, 3));
    assert_eq!(dev.writes_to(DATA as usize).len(), 3);
}
