//! The protocol observers generated from Tingu: every message a PD sends or
//! receives passes one (`channel::Observer::check`), and a driver's observer
//! state is saved to, and restored from, its persistent region, which a
//! faulty incarnation may have scribbled on. Covered: the three observers of
//! `serial.tingu` (`SerialObserver`, `SerialClientObserver`,
//! `MonitorObserver`) and the test specification `asix.tingu` (variables,
//! guards, nested timeout states, dynamic subports).
//!
//! The input is a program: events (any channel, direction, transport, label,
//! words, time), saves, restores of arbitrary words, restarts and reports.
//! Properties: no panic; a refused restore changes nothing; a saved state
//! restores to itself; a refused event changes no state.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pd_core::{Channel, Message, MSG_WORDS};
use selfheal_fuzz::{Reader, Sink};
use serial_api::spec::{self, serial_stream::label as sl};
use tingu_runtime::channel::{Dir, Event, Kind, Observer};

#[allow(dead_code, clippy::all)]
mod asix {
    include!("../../support/tingu-runtime/tests/gen/asix.rs");
}

/// Labels of every protocol above (a byte picks one; others are raw words).
const LABELS: &[u64] = &[
    0,
    sl::OPEN,
    sl::WRITE,
    sl::CLOSE,
    sl::OPENED,
    sl::WRITTEN,
    sl::CLOSED,
    sl::RESTARTED,
    sl::STOPPED,
    sl::INVALID,
    asix::lifecycle::label::START,
    asix::lifecycle::label::START_COMPLETE,
    asix::lifecycle::label::START_FAILED,
    asix::lifecycle::label::STOP,
    asix::lifecycle::label::STOP_COMPLETE,
    asix::power_management::label::SLEEP,
    asix::power_management::label::SLEEP_COMPLETE,
    asix::power_management::label::WAKE,
    asix::power_management::label::WAKE_COMPLETE,
    asix::usb_interface::label::PIPE_OPEN,
    asix::usb_interface::label::PIPE_OPENED,
    asix::usb_interface::label::PIPE_BUSY,
    asix::usb_pipe::label::XFER,
    asix::usb_pipe::label::XFER_DONE,
    asix::usb_pipe::label::CLOSE,
    asix::usb_pipe::label::CLOSED,
    tingu_runtime::channel::LABEL_PROTOCOL_REFUSED,
];

/// Words of the save area (the persistent region keeps 32).
const SAVE_WORDS: usize = 64;

fn ch(id: u8) -> Channel {
    Channel::new(id % 62).unwrap_or(Channel::of(0))
}

fn saved<O: Observer>(o: &O) -> Option<Vec<u64>> {
    let mut out = [0u64; SAVE_WORDS];
    let n = o.save_state(&mut out)?;
    assert!(n <= SAVE_WORDS);
    Some(out[..n].to_vec())
}

/// Operations per input: enough to walk every protocol through its states
/// and back; longer programs only slow the fuzzer down.
const MAX_OPS: usize = 96;

fn drive<O: Observer>(o: &mut O, chans: &[Channel], r: &mut Reader) {
    let mut now: u64 = 0;
    // Reports are written once, at the end (formatting the event ring is
    // what a check costs least and a report most).
    let mut report: Option<usize> = None;
    for _ in 0..MAX_OPS {
        if r.is_empty() {
            break;
        }
        let op = r.u8();
        match op % 16 {
            0..=9 => {
                let c = match chans.get(usize::from(op >> 4)) {
                    Some(&c) => c,
                    None => ch(r.u8()),
                };
                let dir = if r.bool() { Dir::In } else { Dir::Out };
                let kind = match r.u8() % 3 {
                    0 => Kind::Call,
                    1 => Kind::Reply,
                    _ => Kind::Notify,
                };
                let label = r.label(LABELS);
                let mut words = [0u64; MSG_WORDS];
                let n = usize::from(r.u8() % 10);
                for w in words.iter_mut().take(n) {
                    *w = r.word();
                }
                let ev = Event {
                    ch: c,
                    dir,
                    kind,
                    msg: Message::from_raw(label, n, words),
                };
                let before = saved(o);
                match o.check(&ev, now) {
                    Ok(()) => {}
                    Err(v) => {
                        assert_eq!(v.event, ev);
                        let _ = v.reason.to_string();
                        // A refused message changes no protocol state.
                        assert_eq!(saved(o), before, "refused {ev:?} changed the state");
                    }
                }
            }
            10 => {
                // Save into an area of any size.
                let mut out = vec![0u64; usize::from(r.u8() % 48)];
                if let Some(n) = o.save_state(&mut out) {
                    assert!(n <= out.len());
                }
            }
            11 => {
                // Restore arbitrary words (a scribbled-on region).
                let n = usize::from(r.u8() % 48);
                let words: Vec<u64> = (0..n).map(|_| r.word()).collect();
                let before = saved(o);
                if !o.restore_state(&words) {
                    assert_eq!(saved(o), before, "a refused restore changed the state");
                }
            }
            12 => {
                // What is saved restores to itself.
                if let Some(s) = saved(o) {
                    assert!(o.restore_state(&s), "own saved state refused");
                    assert_eq!(saved(o), Some(s));
                }
            }
            13 => o.restart(now),
            14 => {
                report = Some(usize::from(r.u8()) * 8);
                let _ = o.deadline();
            }
            _ => {
                // Time passes: a little, up to a timeout, or arbitrarily.
                now = match r.u8() % 4 {
                    0 => now.saturating_add(u64::from(r.u8()) * 1_000_000),
                    1 => now.saturating_add(u64::from(r.u8()) * 100_000_000),
                    2 => o.deadline().unwrap_or(now),
                    _ => r.u64(),
                };
            }
        }
    }
    if let Some(cap) = report {
        let mut full = Sink::new(usize::MAX);
        let _ = o.report(&mut full);
        // Into a buffer too short for it (a region's report area).
        let mut short = Sink::new(cap.min(full.text.len().saturating_sub(1)));
        let _ = o.report(&mut short);
    }
}

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    let which = r.u8();
    let a = ch(r.u8());
    let b = ch(r.u8());
    let c = ch(r.u8());
    let now = r.word();
    match which % 4 {
        0 => {
            let chans = spec::SerialChannels {
                client: a,
                monitor: b,
            };
            if let Ok(mut o) = spec::SerialObserver::<16>::new(chans, now) {
                drive(&mut o, &[a, b], &mut r);
            }
        }
        1 => {
            let chans = spec::SerialClientChannels {
                serial: a,
                monitor: b,
            };
            if let Ok(mut o) = spec::SerialClientObserver::<16>::new(chans, now) {
                drive(&mut o, &[a, b], &mut r);
            }
        }
        2 => {
            let chans = spec::MonitorChannels {
                serial_lc: a,
                serial_client: b,
            };
            if let Ok(mut o) = spec::MonitorObserver::<4>::new(chans, now) {
                drive(&mut o, &[a, b], &mut r);
            }
        }
        _ => {
            let chans = asix::AsixChannels {
                lc: a,
                pm: b,
                usb: c,
            };
            if let Ok(mut o) = asix::AsixObserver::<8>::new(chans, now) {
                drive(&mut o, &[a, b, c], &mut r);
            }
        }
    }
});
