//! The stream client PD: writes a long deterministic, framed byte stream
//! through the serial driver, so a checker can verify from the captured
//! console that every byte arrived exactly once (see `frames`).
//!
//! It is also the reference for how a client treats driver errors: a warm
//! restart of the driver is invisible; `restarted` (a cold start lost the
//! write in flight) is reported and the chunk resent under a new sequence
//! number; `stopped` ends the stream with a report. Never a silent loss.
//!
//! What must never happen: the client hiding an error it was given.
#![no_std]

use channel::{Checked, CheckedHandler, NoObserver, ObserverCell};
use pd_core::{pd_log, Channel, ChannelSet, Handler, Platform};
use serial_api::spec::{SerialClientChannels, SerialClientObserver};
use serial_api::{SerialClient, SerialError};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Channel to the serial driver (protected calls).
pub const SERIAL: Channel = Channel::of(0);
/// Channel from the monitor (notified when the driver stops for good).
pub const MONITOR: Channel = Channel::of(1);
/// `setvar_vaddr` of the buffer shared with the driver.
pub const TX_BUF_SETVAR: &str = "tx_buf";
/// `setvar_vaddr` of the optional stream configuration.
pub const CONFIG_SETVAR: &str = "stream_config";

/// Magic of a stream configuration ("SCFG").
pub const CONFIG_MAGIC: u32 = 0x4746_4353;

/// Stream configuration, prefilled into `stream_config` (zeroes = defaults).
#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Debug, Default)]
pub struct StreamConfig {
    /// [`CONFIG_MAGIC`].
    pub magic: u32,
    /// Frames of 64 bytes to send.
    pub frames: u32,
    /// Payload seed.
    pub seed: u64,
    /// Bytes per write (rounded down to whole frames; 0 = the whole buffer).
    pub chunk: u32,
    /// [`FLAG_PROBE_WRONG_STATE`], ...
    pub flags: u32,
}

/// Before the stream, send a `write` before `open`, going around this
/// client's own observer (as a buggy client without one would): the driver's
/// observer must refuse it and leave the driver untouched.
pub const FLAG_PROBE_WRONG_STATE: u32 = 1;

impl StreamConfig {
    /// 64 KiB of frames, seed 1.
    pub const DEFAULT: Self = Self {
        magic: CONFIG_MAGIC,
        frames: 1024,
        seed: 1,
        chunk: 0,
        flags: 0,
    };
}

/// What happened to the stream.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Outcome {
    /// Every frame sent and acknowledged.
    Done,
    /// The driver stopped; frames from `at` on were not sent.
    Abandoned {
        /// First frame not acknowledged.
        at: u64,
    },
}

/// The client's handler after the stream.
pub struct Client<P: Platform> {
    p: P,
    /// How the stream ended.
    pub outcome: Outcome,
}

impl<P: Platform> Handler for Client<P> {
    fn notified(&mut self, channels: ChannelSet) {
        if channels.contains(MONITOR) {
            pd_log!(
                &self.p,
                "client: the monitor reports the serial driver stopped"
            );
        }
    }
}

static OBSERVER: ObserverCell<SerialClientObserver> = ObserverCell::new();
static NO_OBSERVER: ObserverCell<NoObserver> = ObserverCell::new();

/// The client, inside the channel layer with observer `O`.
pub type ClientPdWith<P, O> = CheckedHandler<P, O, Client<Checked<P, O>>>;

/// The client, checked against `serial.tingu`.
pub type ClientPd<P> = ClientPdWith<P, SerialClientObserver>;

/// Entry point without protocol checking: only for measuring what the
/// observers cost.
pub fn init_unchecked<P: Platform>(platform: P) -> ClientPdWith<P, NoObserver> {
    let p = Checked::new(platform, NO_OBSERVER.init(NoObserver))
        .with_ledgers(serial_api::is_error_label);
    let outcome = run(&p);
    CheckedHandler::new(p.clone(), Client { p, outcome })
}

/// Entry point: send the whole stream, then wait for notifications.
pub fn init<P: Platform>(platform: P) -> ClientPd<P> {
    let channels = SerialClientChannels {
        serial: SERIAL,
        monitor: MONITOR,
    };
    let observer = match SerialClientObserver::new(channels, platform.now_ns()) {
        Ok(o) => o,
        Err((a, b)) => panic!("client: ports {a} and {b} share a channel"),
    };
    // The call ledger the serial driver's monitor reads (where the driver
    // cannot forge it).
    let p =
        Checked::new(platform, OBSERVER.init(observer)).with_ledgers(serial_api::is_error_label);
    if config(&p).flags & FLAG_PROBE_WRONG_STATE != 0 {
        probe_wrong_state(&p);
    }
    let outcome = run(&p);
    CheckedHandler::new(p.clone(), Client { p, outcome })
}

fn probe_wrong_state<P: Platform>(p: &Checked<P, SerialClientObserver>) {
    let req = serial_api::Request::Write {
        seq: 1,
        offset: 0,
        len: 1,
    };
    // `raw()`: not through our own observer, which would trap us first.
    let reply = serial_api::decode_reply(&p.raw().ppcall(SERIAL, &req.encode()));
    match reply {
        Err(SerialError::ProtocolRefused) => pd_log!(
            p,
            "client: probe: a write before open was refused by the driver's observer"
        ),
        other => pd_log!(p, "client: probe: a write before open got {other:?}"),
    }
}

fn config<P: Platform>(p: &P) -> StreamConfig {
    let Some(r) = p.region(CONFIG_SETVAR) else {
        return StreamConfig::DEFAULT;
    };
    // SAFETY: the region is mapped read-only for the PD's life and at least
    // one page long; any bytes form a valid StreamConfig.
    let bytes = unsafe { core::slice::from_raw_parts(r.vaddr as *const u8, r.size) };
    match StreamConfig::read_from_prefix(bytes) {
        Ok((c, _)) if c.magic == CONFIG_MAGIC => c,
        _ => StreamConfig::DEFAULT,
    }
}

/// Send the configured stream; returns how it ended.
pub fn run<P: Platform>(p: &P) -> Outcome {
    let cfg = config(p);
    let Some(buf) = p.region(TX_BUF_SETVAR) else {
        pd_log!(
            p,
            "client: no tx_buf region: nothing to send; stream abandoned"
        );
        return Outcome::Abandoned { at: 0 };
    };
    let mut serial = SerialClient::new(p.clone(), SERIAL, buf);
    match serial.open() {
        Ok(epoch) => pd_log!(
            p,
            "client: session open (driver epoch {epoch}), {} frames",
            cfg.frames
        ),
        Err(e) => {
            pd_log!(p, "client: open failed: {e}; stream abandoned");
            return Outcome::Abandoned { at: 0 };
        }
    }
    // Frames are generated into a local buffer, then copied to the shared one
    // by the stub: the shared buffer must not change while a write is replayed.
    let mut chunk = [0u8; 4096];
    let limit = match cfg.chunk as usize {
        0 => buf.size.min(chunk.len()),
        n => n.clamp(frames::FRAME, buf.size.min(chunk.len())),
    };
    let mut resends = 0u32;
    let t0 = p.now_ns();
    let result = frames::for_each_chunk(
        cfg.seed,
        cfg.frames as u64,
        &mut chunk[..limit],
        |data, at| {
            loop {
                match serial.write(data) {
                    Ok(_) => return Ok(()),
                    Err(SerialError::Restarted { epoch }) => {
                        // Explicit, never silent: the write may be partly out.
                        resends += 1;
                        pd_log!(
                        p,
                        "client: write of frames from {at} interrupted by a cold restart (epoch {epoch}); resending"
                    );
                        // The cold start also forgot our session: open it again.
                        if let Err(e) = serial.open() {
                            pd_log!(p, "client: reopen failed: {e}; stream abandoned");
                            return Err(at);
                        }
                    }
                    Err(e) => {
                        pd_log!(
                            p,
                            "client: write of frames from {at} failed: {e}; stream abandoned"
                        );
                        return Err(at);
                    }
                }
            }
        },
    );
    match result {
        Ok(()) => {
            let elapsed_us = p.now_ns().saturating_sub(t0) / 1000;
            let _ = serial.close();
            pd_log!(
                p,
                "client: stream done: {} frames, {} bytes, {resends} resends, {elapsed_us} us",
                cfg.frames,
                cfg.frames as u64 * frames::FRAME as u64
            );
            Outcome::Done
        }
        Err(at) => Outcome::Abandoned { at },
    }
}
