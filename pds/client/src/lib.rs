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

/// Channel ids of this PD's ports, as `system.xml` binds them (generated).
pub mod ports {
    include!(concat!(env!("OUT_DIR"), "/channels.rs"));
}
/// Channel to the serial driver (protected calls).
pub const SERIAL: Channel = Channel::of(ports::SERIAL);
/// Channel from the monitor (notified when the driver stops for good).
pub const MONITOR: Channel = Channel::of(ports::MONITOR);
/// `setvar_vaddr` of the buffer shared with the driver.
pub const TX_BUF_SETVAR: &str = "tx_buf";
/// `setvar_vaddr` of the optional stream configuration.
pub const CONFIG_SETVAR: &str = "stream_config";
/// `setvar_vaddr` of the monitor's heartbeat page, mapped read-only.
pub const BEAT_SETVAR: &str = "monitor_beat";
/// A monitor heartbeat older than this: the monitor is down.
pub const MONITOR_SILENT_NS: u64 = 1_000_000_000;

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

    /// The configuration the bytes of a `stream_config` region hold: the
    /// default unless they start with a configuration carrying
    /// [`CONFIG_MAGIC`] (the region is written by another party: any bytes).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        match Self::read_from_prefix(bytes) {
            Ok((c, _)) if c.magic == CONFIG_MAGIC => c,
            _ => Self::DEFAULT,
        }
    }

    /// Bytes per write through a shared buffer of `buf_size` bytes and a
    /// local buffer of `scratch` bytes: `chunk` (0 = as much as fits) within
    /// one frame and what both buffers hold. `None` if not even one frame
    /// fits.
    pub fn write_limit(&self, buf_size: usize, scratch: usize) -> Option<usize> {
        let room = buf_size.min(scratch);
        if room < frames::FRAME {
            return None;
        }
        Some(match self.chunk as usize {
            0 => room,
            n => n.clamp(frames::FRAME, room),
        })
    }
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
    StreamConfig::from_bytes(bytes)
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
    // Frames are generated into a local buffer, then copied to the shared one
    // by the stub: the shared buffer must not change while a write is replayed.
    let mut chunk = [0u8; 4096];
    let Some(limit) = cfg.write_limit(buf.size, chunk.len()) else {
        pd_log!(
            p,
            "client: tx_buf of {} bytes holds no {}-byte frame: nothing to send",
            buf.size,
            frames::FRAME
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
    let mut resends = 0u32;
    // The monitor's heartbeat: a client is the one PD left to say when the
    // drivers it uses run unsupervised.
    let beat = p
        .region(BEAT_SETVAR)
        .filter(|r| r.size >= 16)
        // SAFETY: mapped read-only for the PD's life, page aligned.
        .map(|r| unsafe { call_ledger::Beat::new(r.as_mut_ptr()) });
    let mut watch = call_ledger::BeatWatch::new(MONITOR_SILENT_NS);
    let t0 = p.now_ns();
    let result = frames::for_each_chunk(
        cfg.seed,
        cfg.frames as u64,
        &mut chunk[..limit],
        |data, at| {
            if let Some(ms) = beat.and_then(|b| watch.check(b.last(), p.now_ns())) {
                pd_log!(
                    p,
                    "client: the recovery monitor is down (no heartbeat for {ms} ms): the serial driver runs unsupervised"
                );
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_bytes_without_magic_give_the_default() {
        let d = StreamConfig::from_bytes(&[]);
        assert_eq!(d.frames, StreamConfig::DEFAULT.frames);
        let mut c = StreamConfig {
            frames: 7,
            ..StreamConfig::DEFAULT
        };
        assert_eq!(StreamConfig::from_bytes(c.as_bytes()).frames, 7);
        c.magic = 0;
        assert_eq!(StreamConfig::from_bytes(c.as_bytes()).frames, 1024);
        // A short region is the default too.
        let short = &StreamConfig::DEFAULT.as_bytes()[..10];
        assert_eq!(StreamConfig::from_bytes(short).seed, 1);
    }

    #[test]
    fn a_buffer_smaller_than_a_frame_is_refused_not_a_panic() {
        // Was `chunk.clamp(FRAME, buf_size)`: a panic for a buffer under 64
        // bytes, and an out-of-bounds frame copy with `chunk` 0.
        for chunk in [0, 1, 64, 5000] {
            let c = StreamConfig {
                chunk,
                ..StreamConfig::DEFAULT
            };
            assert_eq!(c.write_limit(63, 4096), None);
            assert_eq!(c.write_limit(4096, 0), None);
        }
        let c = StreamConfig::DEFAULT;
        assert_eq!(c.write_limit(0x1000, 4096), Some(4096));
        assert_eq!(c.write_limit(100, 4096), Some(100));
        let c = StreamConfig {
            chunk: 1,
            ..StreamConfig::DEFAULT
        };
        assert_eq!(c.write_limit(0x1000, 4096), Some(frames::FRAME));
        let c = StreamConfig {
            chunk: u32::MAX,
            ..StreamConfig::DEFAULT
        };
        assert_eq!(c.write_limit(0x1000, 2048), Some(2048));
    }
}
