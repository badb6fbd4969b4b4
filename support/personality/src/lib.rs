//! How a driver is written: the driver personality.
//!
//! A driver implements [`Driver`]: `init` for a first (or cold) start,
//! `recover` for a start after a fault with its persistent state intact, and
//! `request` to serve one protected call. [`Personality`] turns it into a
//! [`pd_core::Handler`] and does the rest, after seeds 000 and 003:
//!
//! * the driver works on a volatile copy of its [`Driver::State`]; the
//!   personality **commits** it to the persistent region (`persist`) when a
//!   request arrives, when it is answered and after every notification,
//!   together with the request itself and the protocol observer's state, so
//!   the three always agree; between commits a driver records progress with
//!   one-word **marks** ([`Env::mark_word`], [`Env::store_mark`]);
//! * after a warm restart the caller the previous incarnation left waiting is
//!   answered from what the record says, whatever instant the fault hit:
//!
//!   | request in the record            | a warm start              | a cold or tombstone start |
//!   |----------------------------------|---------------------------|---------------------------|
//!   | received, not answered           | replayed (`recovered`)    | `restarted` / `stopped`   |
//!   | answered, not known to be sent   | the saved reply re-sent   | the saved reply re-sent   |
//!   | sent, none, or region untrusted  | `retry`                   | `retry`                   |
//!
//!   `retry` ([`pd_core::message::LABEL_RETRY`]) reaches only a caller the
//!   server received but never recorded (a fault right after the kernel call
//!   returned), which therefore was not served: its channel layer makes the
//!   same call again. Nobody waiting is the usual case, and then nothing is
//!   delivered at all. So an answered request is never replayed and a waiting
//!   caller is never left blocked or given another caller's reply;
//! * a cold start discards the state; a stopped driver ("tombstone") answers
//!   every call with "stopped" and never touches its device;
//! * the epoch and the monitor's directive come from the control page, which
//!   the driver can read but not write;
//! * a heartbeat in the region lets the monitor's watchdog see progress;
//! * when a start is complete the driver notifies its monitor (`ready`), with
//!   timestamps of each start phase in the region.
//!
//! What must never happen: a request lost or answered twice across a restart;
//! a caller left blocked or answered with a reply meant for another; a warm
//! start from a region that failed its checks.
#![no_std]

use core::cell::UnsafeCell;

use pd_core::message::LABEL_RETRY;
use pd_core::{pd_log, Channel, ChannelSet, Handler, Message, Platform};
pub use persist::StartPath;
use persist::{
    CommitCheck, ControlPage, Directive, DriverRegion, Loaded, Persistent, SlotPhase, StartRecord,
    Untrusted, Work, MARK_DELIVERED, MARK_DRIVER, OBSERVER_WORDS,
};

pub use persist;

/// Conventional `setvar_vaddr` of a driver's persistent region.
pub const PERSISTENT_SETVAR: &str = "persistent";
/// Conventional `setvar_vaddr` of a driver's control page (read-only).
pub const CONTROL_SETVAR: &str = "control";

/// Why a start failed.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum StartError {
    /// The driver has no recovery procedure (seed 000: `Recover` defaults to
    /// "cannot recover", which means a full restart).
    Unsupported,
    /// The persistent state is inconsistent with itself or the device.
    Inconsistent,
    /// The device did not respond as expected.
    Device,
}

/// Error replies the personality sends on a driver's behalf.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum ErrorReply {
    /// The driver was cold-started while the request was in flight.
    Restarted,
    /// The driver is stopped.
    Stopped,
}

/// Where the channel layer keeps the protocol observer's state between
/// commits: volatile memory at a fixed address (the observer is checked on
/// every message; the personality copies this into each commit).
pub struct Staging {
    len: UnsafeCell<u64>,
    words: UnsafeCell<[u64; OBSERVER_WORDS]>,
}

// SAFETY: PD code is single-threaded (Microkit entry points never run
// concurrently, nor do the hosted runtime's); the channel layer and the
// personality take turns.
unsafe impl Sync for Staging {}

impl Default for Staging {
    fn default() -> Self {
        Self::new()
    }
}

impl Staging {
    /// An empty staging area (a PD declares one `static`).
    pub const fn new() -> Self {
        Self {
            len: UnsafeCell::new(0),
            words: UnsafeCell::new([0; OBSERVER_WORDS]),
        }
    }

    /// Pointers for the channel layer's save area: (len, words, capacity).
    pub fn parts(&'static self) -> (*mut u64, *mut u64, usize) {
        (self.len.get(), self.words.get() as *mut u64, OBSERVER_WORDS)
    }

    fn load(&self, len: u64, words: &[u64; OBSERVER_WORDS]) {
        // SAFETY: see `Sync`: nothing else uses the staging area now.
        unsafe {
            *self.len.get() = len;
            *self.words.get() = *words;
        }
    }

    fn store(&self, len: &mut u64, words: &mut [u64; OBSERVER_WORDS]) {
        // SAFETY: as in `load`.
        unsafe {
            *len = *self.len.get();
            *words = *self.words.get();
        }
    }
}

/// What the persistent region and the control page say, read once when the
/// driver's PD starts, before its channel layer is built (which restores its
/// observer from it).
pub struct Boot<S: Persistent> {
    region: DriverRegion<S>,
    work: Work<S>,
    loaded: Loaded,
    path: StartPath,
    epoch: u64,
    staging: &'static Staging,
}

/// Why the personality could not even start.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum SetupError {
    /// No region mapped with the persistent setvar.
    NoRegion,
    /// The region is too small or misaligned.
    Region(persist::RegionError),
}

impl<S: Persistent> Boot<S> {
    /// Read the region and the control page, and decide the start path; on
    /// a warm start, put the saved observer state into `staging`.
    pub fn load(platform: &impl Platform, staging: &'static Staging) -> Result<Self, SetupError> {
        let r = platform
            .region(PERSISTENT_SETVAR)
            .ok_or(SetupError::NoRegion)?;
        // SAFETY: the PD's persistent mapping, used only through the
        // personality from here on.
        let mut region = unsafe { DriverRegion::<S>::new(r.as_mut_ptr(), r.size) }
            .map_err(SetupError::Region)?;
        let control = match platform.region(CONTROL_SETVAR) {
            Some(c) if c.size >= core::mem::size_of::<ControlPage>() => {
                // SAFETY: mapped readable for the PD's life, page aligned.
                unsafe { persist::read_control(c.as_mut_ptr()) }.decode()
            }
            // Without a control page nobody can direct us: as on a first boot.
            _ => Ok(None),
        };
        let (loaded, work) = region.load();
        let (epoch, directive) = match control {
            Ok(Some(x)) => x,
            Ok(None) => (0, Directive::Warm),
            // Only the monitor writes the page: never trust a broken one.
            Err(_) => (0, Directive::Cold),
        };
        let path = match (directive, loaded) {
            (Directive::Warm, Loaded::Trusted) => StartPath::Warm,
            (Directive::Warm, Loaded::Untrusted(why)) => StartPath::Fresh(why),
            (Directive::Cold, _) => StartPath::Cold,
            (Directive::Tombstone, _) => StartPath::Tombstone,
        };
        if path == StartPath::Warm {
            staging.load(work.head.observer_len, &work.head.observer);
        }
        Ok(Self {
            region,
            work,
            loaded,
            path,
            epoch,
            staging,
        })
    }

    /// The start path.
    pub fn path(&self) -> StartPath {
        self.path
    }

    /// Whether the system has never run this driver before (no region, no
    /// restart): nothing can predate this incarnation.
    pub fn first_boot(&self) -> bool {
        self.path == StartPath::Fresh(Untrusted::NoMagic) && self.epoch == 0
    }

    /// Where the channel layer keeps the observer: its state in the staging
    /// area (committed by the personality), its deadline and violation report
    /// in the region (for the monitor).
    pub fn save_area(&mut self) -> SaveParts {
        let (len, words, capacity) = self.staging.parts();
        let (deadline, report_len, report, report_capacity) = self.region.diagnostics_home();
        SaveParts {
            len,
            words,
            capacity,
            deadline,
            report_len,
            report,
            report_capacity,
        }
    }
}

/// The raw parts of a channel-layer save area (`channel::SaveArea`).
#[derive(Copy, Clone, Debug)]
pub struct SaveParts {
    /// Saved observer words.
    pub len: *mut u64,
    /// Words.
    pub words: *mut u64,
    /// Capacity of `words`.
    pub capacity: usize,
    /// Published deadline.
    pub deadline: *mut u64,
    /// Report length.
    pub report_len: *mut u64,
    /// Report text.
    pub report: *mut u8,
    /// Report capacity.
    pub report_capacity: usize,
}

/// What a driver gets besides its state: the platform, and whether the
/// request being handled is a replay.
pub struct Env<P: Platform, S: Persistent> {
    platform: P,
    region: DriverRegion<S>,
    work: Work<S>,
    recovered: bool,
    path: StartPath,
    epoch: u64,
    first_boot: bool,
    staging: &'static Staging,
    /// A tombstone commits nothing: the least code between a stopped
    /// driver and its callers' `stopped` answers.
    read_only: bool,
}

impl<P: Platform, S: Persistent> Env<P, S> {
    /// The platform.
    pub fn platform(&self) -> &P {
        &self.platform
    }

    /// True while the request being handled is a replay after a warm restart
    /// (seed 000's `Recovered` flag): work recorded in the persistent state as
    /// done must not be done again.
    pub fn recovered(&self) -> bool {
        self.recovered
    }

    /// How this incarnation started. After a cold start (anything but a first
    /// boot or a warm restart) clients may still believe in sessions the
    /// discarded state held: a driver answers them "restarted".
    pub fn start_path(&self) -> StartPath {
        self.path
    }

    /// Whether this incarnation is the system's first: nothing can predate it.
    pub fn first_boot(&self) -> bool {
        self.first_boot
    }

    /// The driver's (volatile) state, committed by the personality.
    pub fn state(&mut self) -> &mut S {
        &mut self.work.state
    }

    /// Tell the watchdog the driver is making progress.
    #[inline]
    pub fn progress(&mut self) {
        self.region.progress()
    }

    /// Current epoch (number of restarts the monitor has performed).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Publish the earliest protocol timeout deadline for the monitor.
    pub fn set_deadline(&mut self, deadline_ns: u64) {
        self.region.set_deadline(deadline_ns)
    }

    /// Commit the state now (the personality commits at every request, reply
    /// and notification; a driver commits where a mark cannot say enough,
    /// e.g. when it starts a new unit of work).
    pub fn commit(&mut self) {
        if self.read_only {
            return;
        }
        self.staging.store(
            &mut self.work.head.observer_len,
            &mut self.work.head.observer,
        );
        if let CommitCheck::Contaminated(why) = self.region.commit(&mut self.work) {
            // The volatile copy is intact, and the commit has just replaced
            // what was overwritten: detected and repaired.
            let now = self.platform.now_ns();
            pd_log!(
                &self.platform,
                "{}: persistent region contaminated ({}) since the last commit: rewritten from the working copy (t={}.{:03} ms)",
                self.platform.pd_name(),
                why.name(),
                now / 1_000_000,
                now / 1000 % 1000
            );
        }
    }

    /// The word that marks `value` as this driver's progress since the last
    /// commit. Compute it *before* the side effect it records, then
    /// [`Self::store_mark`] it right after: one store is all that separates
    /// the two.
    #[inline]
    pub fn mark_word(&self, value: u32) -> u64 {
        self.region.mark_word(MARK_DRIVER, value)
    }

    /// Store a word from [`Self::mark_word`].
    #[inline(always)]
    pub fn store_mark(&mut self, word: u64) {
        self.region.store_mark(MARK_DRIVER, word)
    }

    /// The driver's mark found by this start, if it marked progress after its
    /// last commit (for `recover`; gone after the next commit).
    pub fn recovered_mark(&self) -> Option<u32> {
        self.work.marks[MARK_DRIVER]
    }
}

/// A driver. `P` is the platform it runs on.
pub trait Driver<P: Platform>: Sized {
    /// State that survives warm restarts.
    type State: Persistent;

    /// Name for logs.
    const NAME: &'static str;

    /// Start with zeroed state: first boot, cold start, or an untrusted region.
    fn init(env: &mut Env<P, Self::State>) -> Result<Self, StartError>;

    /// Start with the state of the previous incarnation's last commit (and
    /// its mark, [`Env::recovered_mark`]). The default cannot recover, which
    /// turns the start into a cold one.
    fn recover(env: &mut Env<P, Self::State>) -> Result<Self, StartError> {
        let _ = env;
        Err(StartError::Unsupported)
    }

    /// Serve one protected call. Runs again for the same request after a warm
    /// restart, with [`Env::recovered`] set.
    fn request(&mut self, env: &mut Env<P, Self::State>, ch: Channel, req: &Message) -> Message;

    /// A request arrived and is not recorded yet: the instant right after
    /// the kernel call returned. Nothing for a driver to do; a fault-injection
    /// site (a fault here leaves a caller the record does not know, whom the
    /// next start answers `retry`).
    fn received(&mut self, env: &mut Env<P, Self::State>) {
        let _ = env;
    }

    /// Notifications (including interrupts).
    fn notified(&mut self, env: &mut Env<P, Self::State>, channels: ChannelSet) {
        let _ = (env, channels);
    }

    /// Encode an error reply in the driver's protocol.
    fn error_reply(kind: ErrorReply, epoch: u64) -> Message;

    /// Stopped for good (a tombstone): at its start and on every
    /// notification. A driver whose clients wait on shared queues rather
    /// than in a call answers what they posted with an error here, without
    /// its device (a tombstone never touches it), so that nobody waits for
    /// ever. The default does nothing: a caller is answered "stopped" by
    /// the personality.
    fn stopped(platform: &P, epoch: u64) {
        let _ = (platform, epoch);
    }

    /// Called on every start before `init`/`recover`, to acknowledge device
    /// interrupts that a previous incarnation may have left unacknowledged.
    fn irq_channels() -> &'static [Channel] {
        &[]
    }
}

enum Mode<D> {
    Serving(D),
    Tombstone,
}

/// A [`Driver`] running as a PD.
pub struct Personality<P: Platform, D: Driver<P>> {
    env: Env<P, D::State>,
    mode: Mode<D>,
    /// The reply handed to the backend answers the slot's request (so its
    /// sending makes the slot delivered); false for `retry`.
    sending_slot_reply: bool,
}

/// What a start answers the caller it may have left waiting.
struct Answer {
    reply: Message,
    /// Channel to check the reply on (`None`: already checked, or a reply
    /// below the protocol).
    checked_on: Option<Channel>,
    /// It answers the slot's request.
    slot_reply: bool,
}

impl<P: Platform, D: Driver<P>> Personality<P, D> {
    /// Start the driver: run `init` or `recover` as `boot` says, answer the
    /// caller the previous incarnation may have left waiting, commit, and
    /// notify the monitor on `ready` (if given).
    pub fn start(platform: P, ready: Option<Channel>, boot: Boot<D::State>) -> Self {
        let t_entry = platform.now_ns();
        for &ch in D::irq_channels() {
            platform.irq_ack(ch);
        }
        let first_boot = boot.first_boot();
        let Boot {
            region,
            mut work,
            loaded,
            path,
            epoch,
            staging,
        } = boot;
        // A reply marked as sent after the last commit: fold the mark in, so
        // the next commit (which resets the marks) keeps knowing it.
        let s = &mut work.head.slot;
        if s.phase() == SlotPhase::Answered
            && work.marks[MARK_DELIVERED] == Some(s.delivered_mark())
        {
            s.deliver();
        }
        // Who may be waiting, as far as a record that passed its checks says.
        let slot = (loaded == Loaded::Trusted).then_some(work.head.slot);
        let mut env = Env {
            platform,
            region,
            work,
            recovered: false,
            path,
            epoch,
            first_boot,
            staging,
            read_only: false,
        };
        env.region.set_busy(true);
        env.region.progress();

        let mut path_taken = path;
        let mut mode = match path {
            StartPath::Warm => match D::recover(&mut env) {
                Ok(driver) => Mode::Serving(driver),
                Err(e) => {
                    pd_log!(
                        &env.platform,
                        "{}: recover failed ({e:?}): starting cold",
                        D::NAME
                    );
                    path_taken = StartPath::Cold;
                    env.path = StartPath::Cold;
                    Self::cold(&mut env, slot.as_ref())
                }
            },
            StartPath::Cold | StartPath::Fresh(_) => Self::cold(&mut env, slot.as_ref()),
            StartPath::Tombstone => {
                // The region is left as it is (the record's slot says who
                // may be waiting); nothing is committed from here on.
                env.read_only = true;
                D::stopped(&env.platform, epoch);
                Mode::Tombstone
            }
        };
        let t_ready = env.platform.now_ns();
        // The start proper is over: what follows (the answer to a caller
        // left waiting, a replayed write as long as the request) is serving,
        // which the monitor judges by the heartbeat again.
        env.region.record_start(StartRecord {
            epoch,
            path: path_taken.code(),
            replayed: 0,
            t_entry,
            t_ready,
            t_replayed: persist::REPLAYING,
        });

        let answer = Self::answer(&mut env, &mut mode, path_taken, slot.as_ref());
        let replayed = u32::from(answer.slot_reply);
        if answer.slot_reply {
            env.work.head.slot.answer(&answer.reply);
            env.work.head.served += 1;
        }
        // Checked first (the observer's transition is part of the commit),
        // handed to the backend, which sends it before it receives anything.
        env.platform.reply_pending(answer.checked_on, &answer.reply);
        env.commit();
        env.region.set_busy(false);
        let t_replayed = env.platform.now_ns();
        env.region.record_start(StartRecord {
            epoch,
            path: path_taken.code(),
            replayed,
            t_entry,
            t_ready,
            t_replayed,
        });
        if let StartPath::Fresh(reason) = path {
            if reason != Untrusted::NoMagic {
                pd_log!(
                    &env.platform,
                    "{}: persistent region untrusted ({}): started fresh",
                    D::NAME,
                    reason.name()
                );
            }
        }
        if let Some(ch) = ready {
            env.platform.notify(ch);
        }
        Self {
            env,
            mode,
            sending_slot_reply: answer.slot_reply,
        }
    }

    /// The start's reply, per the table in the crate docs.
    fn answer(
        env: &mut Env<P, D::State>,
        mode: &mut Mode<D>,
        path: StartPath,
        slot: Option<&persist::Slot>,
    ) -> Answer {
        let retry = Answer {
            reply: Message::new(LABEL_RETRY),
            checked_on: None,
            slot_reply: false,
        };
        let Some(s) = slot else { return retry };
        match s.phase() {
            SlotPhase::Received => {
                let Some(ch) = s.channel() else { return retry };
                let req = s.request.message();
                let reply = match (mode, path) {
                    (Mode::Serving(driver), StartPath::Warm) => {
                        // Seed 000 Fig. 8: reprocess the last message, then
                        // reply to the caller still blocked on us.
                        env.recovered = true;
                        let r = driver.request(env, ch, &req);
                        env.recovered = false;
                        r
                    }
                    (Mode::Tombstone, _) => D::error_reply(ErrorReply::Stopped, env.epoch),
                    (Mode::Serving(_), _) => D::error_reply(ErrorReply::Restarted, env.epoch),
                };
                Answer {
                    reply,
                    checked_on: Some(ch),
                    slot_reply: true,
                }
            }
            // Computed and checked before the fault: its caller may still
            // wait (or it was sent and the re-send goes nowhere).
            SlotPhase::Answered => Answer {
                reply: s.reply.message(),
                checked_on: None,
                slot_reply: true,
            },
            SlotPhase::Delivered | SlotPhase::Empty => retry,
        }
    }

    /// Format the region for a start from scratch, keeping the slot (the
    /// request it names is answered by the start, even if this start faults
    /// before it gets that far: the slot is committed at once).
    fn reformat(env: &mut Env<P, D::State>, slot: Option<&persist::Slot>) {
        env.region.format();
        env.work = Work::zeroed();
        if let Some(s) = slot {
            env.work.head.slot = *s;
        }
        env.commit();
    }

    fn cold(env: &mut Env<P, D::State>, slot: Option<&persist::Slot>) -> Mode<D> {
        Self::reformat(env, slot);
        match D::init(env) {
            Ok(driver) => Mode::Serving(driver),
            // A driver that cannot start is a fault for the monitor to count
            // (restart, then stop with the clients told), never a driver
            // that quietly serves errors on its own, unsupervised.
            Err(e) => panic!("{}: init failed ({e:?})", D::NAME),
        }
    }

    /// Whether the driver serves only errors.
    pub fn is_tombstone(&self) -> bool {
        matches!(self.mode, Mode::Tombstone)
    }

    /// The driver (for tests).
    pub fn driver(&mut self) -> Option<&mut D> {
        match &mut self.mode {
            Mode::Serving(d) => Some(d),
            Mode::Tombstone => None,
        }
    }

    /// The environment (for tests).
    pub fn env(&mut self) -> &mut Env<P, D::State> {
        &mut self.env
    }
}

impl<P: Platform, D: Driver<P>> Handler for Personality<P, D> {
    fn notified(&mut self, channels: ChannelSet) {
        match &mut self.mode {
            Mode::Serving(driver) => {
                self.env.region.set_busy(true);
                self.env.region.progress();
                driver.notified(&mut self.env, channels);
                self.env.work.head.events += 1;
                self.env.commit();
                self.env.region.set_busy(false);
            }
            Mode::Tombstone => D::stopped(&self.env.platform, self.env.epoch),
        }
    }

    fn protected(&mut self, ch: Channel, msg: &Message) -> Message {
        if let Mode::Serving(driver) = &mut self.mode {
            driver.received(&mut self.env);
        }
        // Saved, with the observer's transition for it, before anything is
        // done about it.
        self.env.work.head.slot.receive(ch, msg);
        self.env.region.set_busy(true);
        self.env.commit();
        self.env.region.progress();
        match &mut self.mode {
            Mode::Serving(driver) => driver.request(&mut self.env, ch, msg),
            Mode::Tombstone => D::error_reply(ErrorReply::Stopped, self.env.epoch),
        }
    }

    fn replying(&mut self, _ch: Channel, reply: &Message) {
        let w = &mut self.env.work.head;
        w.slot.answer(reply);
        w.served += 1;
        w.events += 1;
        self.env.commit();
        self.env.region.set_busy(false);
        self.sending_slot_reply = true;
    }

    fn reply_sent(&mut self) {
        if core::mem::take(&mut self.sending_slot_reply) && !self.env.read_only {
            let s = &mut self.env.work.head.slot;
            let m = s.delivered_mark();
            s.deliver();
            self.env.region.mark(MARK_DELIVERED, m);
        }
    }
}

#[cfg(test)]
mod tests;
