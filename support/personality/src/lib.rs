//! How a driver is written: the driver personality.
//!
//! A driver implements [`Driver`]: `init` for a first (or cold) start,
//! `recover` for a start after a fault with its persistent state intact, and
//! `request` to serve one protected call. [`Personality`] turns it into a
//! [`pd_core::Handler`] and does the rest, after seeds 000 and 003:
//!
//! * the driver's [`Driver::State`] lives in the persistent region (same
//!   address, same contents across a warm restart), behind a header that
//!   detects corrupt or stale content;
//! * every request is saved to the region before its handler runs; after a
//!   warm restart it is **replayed** with [`Env::recovered`] set, and the reply
//!   goes to the caller that the previous incarnation left blocked;
//! * after a cold start (state discarded) the blocked caller gets an explicit
//!   "restarted" error carrying the new epoch; a stopped driver ("tombstone")
//!   answers every call with "stopped" and never touches its device;
//! * a heartbeat in the region lets the monitor's watchdog see progress;
//! * when a start is complete the driver notifies its monitor (`ready`), with
//!   timestamps of each start phase in the region.
//!
//! What must never happen: a request lost or answered twice across a restart;
//! a caller left blocked; a warm start from a region that failed its checks.
#![no_std]

use core::fmt::Write as _;

#[cfg(test)]
use pd_core::DeviceIo;
use pd_core::{pd_log, Channel, ChannelSet, Handler, LineBuf, Message, Platform};
pub use persist::StartPath;
use persist::{DriverRegion, Persistent, StartRecord};

pub use persist;

/// Conventional `setvar_vaddr` of a driver's persistent region.
pub const PERSISTENT_SETVAR: &str = "persistent";

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

/// What a driver gets besides its state: the platform, and whether the
/// request being handled is a replay.
pub struct Env<P: Platform, S: Persistent> {
    platform: P,
    region: DriverRegion<S>,
    recovered: bool,
    path: StartPath,
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

    /// Whether this incarnation is the system's first (the region was never
    /// formatted): nothing can predate it.
    pub fn first_boot(&self) -> bool {
        self.path == StartPath::Fresh(persist::Untrusted::NoMagic)
    }

    /// The persistent state.
    pub fn state(&mut self) -> &mut S {
        self.region.state()
    }

    /// Tell the watchdog the driver is making progress.
    #[inline]
    pub fn progress(&mut self) {
        self.region.progress()
    }

    /// Current epoch (number of restarts the monitor has performed).
    pub fn epoch(&self) -> u64 {
        self.region.epoch()
    }

    /// Publish the earliest protocol timeout deadline for the monitor.
    pub fn set_deadline(&mut self, deadline_ns: u64) {
        self.region.set_deadline(deadline_ns)
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

    /// Start with the state of the previous incarnation. The default cannot
    /// recover, which turns the start into a cold one.
    fn recover(env: &mut Env<P, Self::State>) -> Result<Self, StartError> {
        let _ = env;
        Err(StartError::Unsupported)
    }

    /// Serve one protected call. Runs again for the same request after a warm
    /// restart, with [`Env::recovered`] set.
    fn request(&mut self, env: &mut Env<P, Self::State>, ch: Channel, req: &Message) -> Message;

    /// Notifications (including interrupts).
    fn notified(&mut self, env: &mut Env<P, Self::State>, channels: ChannelSet) {
        let _ = (env, channels);
    }

    /// Encode an error reply in the driver's protocol.
    fn error_reply(kind: ErrorReply, epoch: u64) -> Message;

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
}

/// What the next start of a driver with state `S` will do, and where the
/// channel layer keeps its protocol observer's state, without changing
/// anything. A PD calls this before building its channel layer, to restore
/// its observer on a warm start (and only then).
pub fn peek<S: Persistent>(
    platform: &impl Platform,
) -> Result<(StartPath, persist::ObserverHome), SetupError> {
    let region = platform
        .region(PERSISTENT_SETVAR)
        .ok_or(SetupError::NoRegion)?;
    // SAFETY: the PD's persistent mapping; `classify` only reads, and the
    // home is raw pointers for the channel layer.
    let mut region = unsafe { DriverRegion::<S>::new(region.as_mut_ptr(), region.size) }
        .map_err(SetupError::Region)?;
    Ok((region.classify(), region.observer_home()))
}

/// Why the personality could not even start.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum SetupError {
    /// No region mapped with the persistent setvar.
    NoRegion,
    /// The region is too small or misaligned.
    Region(persist::RegionError),
}

impl<P: Platform, D: Driver<P>> Personality<P, D> {
    /// Start the driver: decide the path from the persistent region, run
    /// `init` or `recover`, replay or answer the in-flight request, and notify
    /// the monitor on `ready` (if given).
    pub fn start(platform: P, ready: Option<Channel>) -> Result<Self, SetupError> {
        let t_entry = platform.now_ns();
        let region = platform
            .region(PERSISTENT_SETVAR)
            .ok_or(SetupError::NoRegion)?;
        // SAFETY: the region is this PD's persistent mapping, used only through
        // the personality.
        let region = unsafe { DriverRegion::<D::State>::new(region.as_mut_ptr(), region.size) }
            .map_err(SetupError::Region)?;
        for &ch in D::irq_channels() {
            platform.irq_ack(ch);
        }
        let path = region.classify();
        let inflight = region.inflight();
        let mut env = Env {
            platform,
            region,
            recovered: false,
            path,
        };
        // Busy, but the in-flight request stays: it may have to be replayed.
        env.region.begin_start();
        env.region.progress();

        let mut replayed = 0;
        let mut path_taken = path;
        let mode = match path {
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
                    Self::cold(&mut env)
                }
            },
            StartPath::Cold | StartPath::Fresh(_) => Self::cold(&mut env),
            StartPath::Tombstone => Mode::Tombstone,
        };
        let t_ready = env.platform.now_ns();

        let mode = match (mode, path_taken) {
            (Mode::Serving(mut driver), StartPath::Warm) => {
                if let Some((ch, msg)) = inflight {
                    // Seed 000 Fig. 8: reprocess the last message, then reply
                    // to the caller that is still blocked on us.
                    env.recovered = true;
                    let reply = driver.request(&mut env, ch, &msg);
                    env.recovered = false;
                    env.region.end_request(true);
                    env.platform.reply_pending(Some(ch), &reply);
                    replayed = 1;
                } else {
                    // Nothing saved, yet a caller may be blocked on us (a fault
                    // before its request was saved): tell it, never leave it.
                    env.region.end_request(false);
                    let reply = D::error_reply(ErrorReply::Restarted, env.region.epoch());
                    env.platform.reply_pending(None, &reply);
                }
                Mode::Serving(driver)
            }
            (mode, _) => {
                // Not a warm start: whoever may be blocked on us gets an
                // explicit error. Harmless when nobody is.
                let kind = match mode {
                    Mode::Tombstone => ErrorReply::Stopped,
                    Mode::Serving(_) => ErrorReply::Restarted,
                };
                let reply = D::error_reply(kind, env.region.epoch());
                env.platform
                    .reply_pending(inflight.map(|(ch, _)| ch), &reply);
                replayed = u32::from(inflight.is_some());
                env.region.retire_inflight();
                env.region.end_request(false);
                mode
            }
        };
        if matches!(mode, Mode::Serving(_)) {
            env.region.arm_warm();
        }
        let t_replayed = env.platform.now_ns();
        env.region.record_start(StartRecord {
            epoch: env.region.epoch(),
            path: path_taken.code(),
            replayed,
            t_entry,
            t_ready,
            t_replayed,
        });
        if let StartPath::Fresh(reason) = path {
            if reason != persist::Untrusted::NoMagic {
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
        Ok(Self { env, mode })
    }

    fn cold(env: &mut Env<P, D::State>) -> Mode<D> {
        env.region.format();
        env.region.begin_busy();
        match D::init(env) {
            Ok(driver) => Mode::Serving(driver),
            Err(e) => {
                let mut line = LineBuf::new();
                let _ = write!(line, "{e:?}");
                pd_log!(
                    &env.platform,
                    "{}: init failed ({}): serving errors only",
                    D::NAME,
                    line.as_str()
                );
                Mode::Tombstone
            }
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
        if let Mode::Serving(driver) = &mut self.mode {
            self.env.region.begin_busy();
            self.env.region.progress();
            driver.notified(&mut self.env, channels);
            self.env.region.end_request(false);
        }
    }

    fn protected(&mut self, ch: Channel, msg: &Message) -> Message {
        match &mut self.mode {
            Mode::Serving(driver) => {
                self.env.region.begin_request(ch, msg);
                self.env.region.progress();
                let reply = driver.request(&mut self.env, ch, msg);
                self.env.region.end_request(true);
                reply
            }
            Mode::Tombstone => D::error_reply(ErrorReply::Stopped, self.env.region.epoch()),
        }
    }
}

#[cfg(test)]
mod tests;
