extern crate std;

use super::*;
use pd_core::DeviceIo;
use persist::{MonitorRegion, Verdict};
use std::boxed::Box;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::vec::Vec;
use testkit::{MockDevice, MockPlatform};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

const READY: Channel = Channel::of(1);
const CLIENT: Channel = Channel::of(0);
const DATA: u32 = 0x10;
const RESTARTED: u64 = 0xe1;
const STOPPED: u64 = 0xe2;

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
/// position is marked right after each word is out, and committed when a new
/// write begins.
struct Stream {
    dev: MockDevice,
}

std::thread_local! {
    static CRASH_AT: core::cell::Cell<Option<u64>> = const { core::cell::Cell::new(None) };
    static CRASH_INIT: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

impl Driver<MockPlatform> for Stream {
    type State = Progress;
    const NAME: &'static str = "stream";

    fn init(env: &mut Env<MockPlatform, Progress>) -> Result<Self, StartError> {
        if CRASH_INIT.with(|c| c.get()) {
            panic!("crash in init");
        }
        env.state().inits += 1;
        Self::new(env)
    }

    fn recover(env: &mut Env<MockPlatform, Progress>) -> Result<Self, StartError> {
        if env.state().pos > 1000 {
            return Err(StartError::Inconsistent);
        }
        if let Some(m) = env.recovered_mark() {
            if env.state().cur_seq != 0 {
                env.state().pos = u64::from(m);
            }
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
            return Message::with_words(2, &[seq, len]).unwrap_or_default();
        }
        if env.state().cur_seq != seq {
            env.state().cur_seq = seq;
            env.state().pos = 0;
            env.commit();
        }
        while env.state().pos < len {
            let pos = env.state().pos;
            if CRASH_AT.with(|c| c.get()) == Some(seq * 1000 + pos) {
                panic!("crash");
            }
            let w = env.mark_word(pos as u32 + 1);
            self.dev.write32(DATA as usize, (seq * 1000 + pos) as u32);
            env.store_mark(w);
            env.state().pos = pos + 1;
            env.progress();
        }
        env.state().done_seq = seq;
        env.state().cur_seq = 0;
        Message::with_words(2, &[seq, len]).unwrap_or_default()
    }

    fn error_reply(kind: ErrorReply, epoch: u64) -> Message {
        let label = match kind {
            ErrorReply::Restarted => RESTARTED,
            ErrorReply::Stopped => STOPPED,
        };
        Message::with_words(label, &[epoch]).unwrap_or_default()
    }
}

impl Stream {
    fn new(env: &mut Env<MockPlatform, Progress>) -> Result<Self, StartError> {
        let dev = env.platform().device("dev").ok_or(StartError::Device)?;
        Ok(Self { dev })
    }
}

type Pd = Personality<MockPlatform, Stream>;

fn platform() -> (MockPlatform, MockDevice) {
    let p = MockPlatform::new("stream", pd_core::Arch::Aarch64);
    p.add_region(PERSISTENT_SETVAR, 4096);
    p.add_region(CONTROL_SETVAR, 4096);
    let d = p.add_device("dev");
    (p, d)
}

fn monitor(p: &MockPlatform) -> MonitorRegion {
    let r = p.region(PERSISTENT_SETVAR).expect("region");
    // SAFETY: region memory lives as long as the platform.
    unsafe { MonitorRegion::new(r.as_mut_ptr(), r.size) }.expect("valid")
}

/// Start the driver as the backend does after the monitor wrote `control`
/// (`None`: first boot, the page is blank).
fn start(p: &MockPlatform, control: Option<(u64, Directive)>) -> Pd {
    if let Some((epoch, d)) = control {
        let c = p.region(CONTROL_SETVAR).expect("control");
        // SAFETY: the mock's region is mapped for the platform's life.
        unsafe { persist::write_control(c.as_mut_ptr(), &ControlPage::new(epoch, d)) };
    }
    p.clear_record();
    let staging: &'static Staging = Box::leak(Box::new(Staging::new()));
    let boot = Boot::<Progress>::load(p, staging).expect("boot");
    Personality::start(p.clone(), Some(READY), boot)
}

/// The start's one reply to whoever may wait; the backend then sends it.
fn start_reply(p: &MockPlatform, pers: &mut Pd) -> (Option<Channel>, Message) {
    let replies = p.record(|r| r.pending_replies.clone());
    assert_eq!(replies.len(), 1, "{replies:?}");
    pers.reply_sent();
    replies[0]
}

/// One call as the channel layer and the backend run it.
fn serve(pers: &mut Pd, req: &Message) -> Message {
    let r = pers.protected(CLIENT, req);
    pers.replying(CLIENT, &r);
    pers.reply_sent();
    r
}

fn write_req(seq: u64, len: u64) -> Message {
    Message::with_words(1, &[seq, len]).unwrap_or_default()
}

fn written(seq: u64, len: u64) -> Message {
    Message::with_words(2, &[seq, len]).unwrap_or_default()
}

fn retry() -> (Option<Channel>, Message) {
    (None, Message::new(LABEL_RETRY))
}

fn set_crash(at: Option<u64>) {
    CRASH_AT.with(|c| c.set(at));
}

fn crash(f: impl FnOnce()) {
    assert!(
        catch_unwind(AssertUnwindSafe(f)).is_err(),
        "expected a crash"
    );
}

#[test]
fn a_first_boot_answers_nobody_with_anything_but_retry() {
    set_crash(None);
    let (p, _) = platform();
    let mut pers = start(&p, None);
    assert_eq!(p.record(|r| r.notified.clone()), [READY]);
    assert_eq!(start_reply(&p, &mut pers), retry());
    assert_eq!(monitor(&p).validate(), Verdict::Trusted);
}

#[test]
fn a_warm_restart_replays_the_request_without_repeating_bytes() {
    set_crash(Some(1003));
    let (p, dev) = platform();
    let mut pers = start(&p, None);
    start_reply(&p, &mut pers);
    crash(|| {
        pers.protected(CLIENT, &write_req(1, 8));
    });
    drop(pers);
    assert_eq!(dev.writes_to(DATA as usize), [1000, 1001, 1002]);
    assert_eq!(monitor(&p).validate(), Verdict::Trusted);
    set_crash(None);
    let mut pers = start(&p, Some((1, Directive::Warm)));
    assert_eq!(
        dev.writes_to(DATA as usize),
        (1000..1008).collect::<Vec<_>>(),
        "every word exactly once"
    );
    assert_eq!(start_reply(&p, &mut pers), (Some(CLIENT), written(1, 8)));
    let rec = monitor(&p).start_record();
    assert_eq!((rec.path, rec.replayed, rec.epoch), (1, 1, 1));
    assert_eq!(pers.env().state().inits, 1, "recover, not init");
    assert_eq!(serve(&mut pers, &write_req(2, 2)).word(0), Some(2));
}

#[test]
fn a_fault_after_the_reply_was_computed_resends_it_and_replays_nothing() {
    set_crash(None);
    let (p, dev) = platform();
    let mut pers = start(&p, None);
    start_reply(&p, &mut pers);
    let r = pers.protected(CLIENT, &write_req(1, 4));
    pers.replying(CLIENT, &r);
    // The fault hits before the backend sent the reply.
    drop(pers);
    let mut pers = start(&p, Some((1, Directive::Warm)));
    assert_eq!(dev.writes_to(DATA as usize).len(), 4, "not replayed");
    assert_eq!(
        start_reply(&p, &mut pers),
        (None, written(1, 4)),
        "the saved reply, already checked"
    );
}

#[test]
fn a_fault_after_the_reply_was_sent_or_while_idle_sends_only_retry() {
    set_crash(None);
    let (p, dev) = platform();
    let mut pers = start(&p, None);
    start_reply(&p, &mut pers);
    serve(&mut pers, &write_req(1, 4));
    // Killed while idle, or right after the kernel call returned with the
    // next request (received but not yet recorded).
    drop(pers);
    let mut pers = start(&p, Some((1, Directive::Warm)));
    assert_eq!(start_reply(&p, &mut pers), retry());
    assert_eq!(dev.writes_to(DATA as usize).len(), 4);
    // A second restart while still idle: the same.
    drop(pers);
    let mut pers = start(&p, Some((2, Directive::Warm)));
    assert_eq!(start_reply(&p, &mut pers), retry());
    // The retried call is then served normally.
    assert_eq!(serve(&mut pers, &write_req(2, 2)), written(2, 2));
    assert_eq!(dev.writes_to(DATA as usize).len(), 6);
}

#[test]
fn a_fault_in_a_notification_after_an_answered_request_does_not_replay_it() {
    set_crash(None);
    let (p, dev) = platform();
    let mut pers = start(&p, None);
    start_reply(&p, &mut pers);
    serve(&mut pers, &write_req(1, 4));
    pers.notified(ChannelSet::EMPTY.with(Channel::of(2)));
    drop(pers);
    let mut pers = start(&p, Some((1, Directive::Warm)));
    assert_eq!(start_reply(&p, &mut pers), retry());
    assert_eq!(dev.writes_to(DATA as usize).len(), 4);
}

#[test]
fn a_cold_start_answers_the_blocked_caller_with_restarted_and_the_epoch() {
    set_crash(Some(1001));
    let (p, _dev) = platform();
    let mut pers = start(&p, None);
    start_reply(&p, &mut pers);
    crash(|| {
        pers.protected(CLIENT, &write_req(1, 4));
    });
    drop(pers);
    set_crash(None);
    let mut pers = start(&p, Some((5, Directive::Cold)));
    assert_eq!(
        start_reply(&p, &mut pers),
        (
            Some(CLIENT),
            Message::with_words(RESTARTED, &[5]).unwrap_or_default()
        )
    );
    assert_eq!(pers.env().state().pos, 0, "state discarded");
    assert_eq!(pers.env().epoch(), 5);
    assert_eq!(monitor(&p).start_record().path, 2);
}

#[test]
fn a_cold_start_that_faults_in_init_still_answers_the_caller_next_time() {
    set_crash(Some(1001));
    let (p, _dev) = platform();
    let mut pers = start(&p, None);
    start_reply(&p, &mut pers);
    crash(|| {
        pers.protected(CLIENT, &write_req(1, 4));
    });
    drop(pers);
    // The cold start's init faults.
    CRASH_INIT.with(|c| c.set(true));
    crash(|| {
        start(&p, Some((5, Directive::Cold)));
    });
    CRASH_INIT.with(|c| c.set(false));
    let mut pers = start(&p, Some((6, Directive::Tombstone)));
    assert_eq!(
        start_reply(&p, &mut pers),
        (
            Some(CLIENT),
            Message::with_words(STOPPED, &[6]).unwrap_or_default()
        )
    );
}

#[test]
fn a_failed_recover_falls_back_to_init() {
    set_crash(None);
    let (p, _dev) = platform();
    let mut pers = start(&p, None);
    start_reply(&p, &mut pers);
    pers.env().state().pos = 5000; // inconsistent: recover refuses it
    pers.env().commit();
    drop(pers);
    let mut pers = start(&p, Some((1, Directive::Warm)));
    assert_eq!(pers.env().state().pos, 0);
    assert_eq!(pers.env().state().inits, 1);
    assert!(p.record(|r| r.console.contains("recover failed")));
    assert_eq!(monitor(&p).start_record().path, 2);
}

#[test]
fn a_tombstone_answers_stopped_and_never_touches_the_device() {
    set_crash(None);
    let (p, dev) = platform();
    let mut pers = start(&p, None);
    start_reply(&p, &mut pers);
    drop(pers);
    let mut pers = start(&p, Some((9, Directive::Tombstone)));
    assert!(pers.is_tombstone());
    assert_eq!(start_reply(&p, &mut pers), retry());
    let r = serve(&mut pers, &write_req(1, 4));
    assert_eq!((r.label, r.word(0)), (STOPPED, Some(9)));
    assert!(dev.writes().is_empty());
}

#[test]
fn a_region_contaminated_between_requests_is_not_trusted() {
    set_crash(None);
    let (p, _dev) = platform();
    let mut pers = start(&p, None);
    start_reply(&p, &mut pers);
    serve(&mut pers, &write_req(1, 3));
    drop(pers);
    scribble_current_state(&p);
    assert!(matches!(monitor(&p).validate(), Verdict::Untrusted(_)));
    let mut pers = start(&p, Some((1, Directive::Warm)));
    assert!(matches!(pers.env().start_path(), StartPath::Fresh(_)));
    assert!(p.record(|r| r.console.contains("untrusted")));
    assert_eq!(pers.env().state().done_seq, 0, "nothing taken from it");
}

#[test]
fn contamination_while_running_is_detected_and_repaired_at_the_next_commit() {
    set_crash(None);
    let (p, dev) = platform();
    let mut pers = start(&p, None);
    start_reply(&p, &mut pers);
    serve(&mut pers, &write_req(1, 3));
    scribble_current_state(&p);
    serve(&mut pers, &write_req(2, 3));
    assert!(p.record(|r| r.console.contains("contaminated")));
    assert_eq!(monitor(&p).validate(), Verdict::Trusted, "repaired");
    drop(pers);
    let mut pers = start(&p, Some((1, Directive::Warm)));
    assert_eq!(pers.env().state().done_seq, 2);
    assert_eq!(serve(&mut pers, &write_req(2, 3)), written(2, 3));
    assert_eq!(dev.writes_to(DATA as usize).len(), 6, "no repeat");
}

/// Flip a byte of the state in the record the region names as current.
fn scribble_current_state(p: &MockPlatform) {
    let r = p.region(PERSISTENT_SETVAR).expect("region");
    let gen = monitor(p).summary().expect("trusted").gen;
    let stride = (persist::record_size(core::mem::size_of::<Progress>()) + 63) & !63;
    let at = persist::RECORDS_OFFSET
        + (gen as usize & 1) * stride
        + core::mem::size_of::<persist::RecordHead>()
        + 16; // done_seq
              // SAFETY: inside the mapped region.
    unsafe { *r.as_mut_ptr().add(at) ^= 0x55 };
}

#[test]
fn a_duplicate_request_after_completion_is_not_repeated() {
    set_crash(None);
    let (p, dev) = platform();
    let mut pers = start(&p, None);
    start_reply(&p, &mut pers);
    serve(&mut pers, &write_req(1, 3));
    serve(&mut pers, &write_req(1, 3));
    assert_eq!(dev.writes_to(DATA as usize).len(), 3);
}

#[test]
fn a_fault_at_every_step_of_a_request_never_repeats_or_loses_a_word() {
    // Crash at each word of a write, then once more at every word of the
    // replay: whatever the sequence, the device sees each word once.
    for first in 0..6u64 {
        for second in first..7u64 {
            let (p, dev) = platform();
            set_crash(None);
            let mut pers = start(&p, None);
            start_reply(&p, &mut pers);
            set_crash(Some(1000 + first));
            crash(|| {
                pers.protected(CLIENT, &write_req(1, 6));
            });
            drop(pers);
            set_crash((second < 6).then_some(1000 + second));
            let replay = catch_unwind(AssertUnwindSafe(|| start(&p, Some((1, Directive::Warm)))));
            if second < 6 {
                assert!(replay.is_err(), "second crash at {second}");
                set_crash(None);
                let mut pers = start(&p, Some((2, Directive::Warm)));
                assert_eq!(start_reply(&p, &mut pers), (Some(CLIENT), written(1, 6)));
            } else if let Ok(mut pers) = replay {
                assert_eq!(start_reply(&p, &mut pers), (Some(CLIENT), written(1, 6)));
            }
            assert_eq!(
                dev.writes_to(DATA as usize),
                (1000..1006).collect::<Vec<_>>(),
                "crashes at {first} then {second}"
            );
        }
    }
}

#[test]
fn a_driver_that_cannot_start_faults_for_the_monitor_instead_of_serving_errors_alone() {
    set_crash(None);
    // No device: `init` fails with `StartError::Device`.
    let p = MockPlatform::new("stream", pd_core::Arch::Aarch64);
    p.add_region(PERSISTENT_SETVAR, 4096);
    p.add_region(CONTROL_SETVAR, 4096);
    crash(|| {
        start(&p, None);
    });
    assert!(
        p.record(|r| r.notified.clone()).is_empty(),
        "a start that failed must not tell the monitor it is ready"
    );
}
