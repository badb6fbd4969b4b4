//! The conformance PD: stands in the client's place and plays a script of
//! requests against the serial driver, recording every reply, so that a test
//! can check the real driver (behind its protocol observer) against the
//! protocol the requests were generated from (`support/tingu-verify`).
//!
//! It deliberately goes around any client-side observer: scripts contain
//! out-of-state and malformed requests, which the *driver's* observer must
//! refuse (reply label 0xfffe) without the driver being disturbed.
//!
//! Regions (setvar_vaddr): `script` (prefilled), `result` (written here),
//! `tx_buf` (the buffer shared with the driver, filled with printable bytes).
//! Both script and result are little-endian `u64` words: [`MAGIC`], a count,
//! then per request or reply [`ENTRY_WORDS`] words: label, number of words,
//! and [`MSG_WORDS`] words.
//!
//! What must never happen: a reply recorded for the wrong request, or a
//! request sent that the script does not contain.
#![no_std]

use pd_core::{pd_log, Channel, ChannelSet, Handler, Message, Platform, Region, MSG_WORDS};

/// Channel to the serial driver (protected calls).
pub const SERIAL: Channel = Channel::of(0);
/// Channel from the monitor.
pub const MONITOR: Channel = Channel::of(1);
/// `setvar_vaddr` of the script region.
pub const SCRIPT_SETVAR: &str = "script";
/// `setvar_vaddr` of the result region.
pub const RESULT_SETVAR: &str = "result";
/// `setvar_vaddr` of the buffer shared with the driver.
pub const TX_BUF_SETVAR: &str = "tx_buf";
/// First word of a script and of a result ("CONFORM1").
pub const MAGIC: u64 = 0x314d_524f_464e_4f43;
/// Words per entry: label, length, words.
pub const ENTRY_WORDS: usize = 2 + MSG_WORDS;
/// A script entry with this label is no request: the PD waits until the
/// test sets the last word of the result region ([`go_word`]) to non-zero,
/// clears it, records an empty reply (label 0) and goes on. It lets a test
/// act on the system (e.g. restart the driver) between two requests.
pub const WAIT: u64 = u64::MAX;
/// Longest wait for the test, in nanoseconds.
pub const WAIT_LIMIT_NS: u64 = 60_000_000_000;

/// Index of the result region's word a test sets to end a [`WAIT`].
pub fn go_word(result_size: usize) -> usize {
    result_size / 8 - 1
}

fn word(r: &Region, i: usize) -> Option<u64> {
    let off = i.checked_mul(8)?;
    if off.checked_add(8)? > r.size {
        return None;
    }
    // SAFETY: inside the mapping, which lives as long as the PD; 8-aligned
    // (regions are page aligned).
    Some(unsafe { core::ptr::read_volatile((r.vaddr + off) as *const u64) })
}

fn set_word(r: &Region, i: usize, v: u64) -> bool {
    let Some(off) = i.checked_mul(8) else {
        return false;
    };
    if off.saturating_add(8) > r.size {
        return false;
    }
    // SAFETY: inside the mapping (checked above), mapped read-write.
    unsafe { core::ptr::write_volatile((r.vaddr + off) as *mut u64, v) };
    true
}

/// The PD after its script: it only notes notifications.
pub struct Conformance<P: Platform> {
    p: P,
    /// Requests played.
    pub played: u64,
}

impl<P: Platform> Handler for Conformance<P> {
    fn notified(&mut self, channels: ChannelSet) {
        if channels.contains(MONITOR) {
            pd_log!(
                &self.p,
                "conformance: the monitor reports the driver stopped"
            );
        }
    }
}

static NO_OBSERVER: channel::ObserverCell<channel::NoObserver> = channel::ObserverCell::new();

/// Entry point: play the script, record the replies.
///
/// The calls go through the channel layer without an observer (the script
/// must be able to break the protocol), so that the transport below every
/// protocol is the one real clients have: a call ledger, and `retry`
/// answered by calling again.
pub fn init<P: Platform>(p: P) -> Conformance<channel::Checked<P, channel::NoObserver>> {
    let p = channel::Checked::new(p, NO_OBSERVER.init(channel::NoObserver))
        .with_ledgers(serial_api::is_error_label);
    let played = play(&p);
    Conformance { p, played }
}

fn play<P: Platform>(p: &P) -> u64 {
    let (Some(script), Some(result)) = (p.region(SCRIPT_SETVAR), p.region(RESULT_SETVAR)) else {
        pd_log!(p, "conformance: no script or result region");
        return 0;
    };
    if let Some(buf) = p.region(TX_BUF_SETVAR) {
        for i in 0..buf.size {
            // SAFETY: inside the shared buffer, mapped read-write here.
            unsafe { core::ptr::write_volatile((buf.vaddr + i) as *mut u8, b'a' + (i % 26) as u8) };
        }
    }
    if word(&script, 0) != Some(MAGIC) {
        pd_log!(p, "conformance: no script (bad magic)");
        return 0;
    }
    let count = word(&script, 1).unwrap_or(0);
    set_word(&result, 0, MAGIC);
    set_word(&result, 1, 0);
    let mut done = 0u64;
    for n in 0..count as usize {
        let base = 2 + n * ENTRY_WORDS;
        let (Some(label), Some(len)) = (word(&script, base), word(&script, base + 1)) else {
            pd_log!(p, "conformance: script truncated at request {n}");
            break;
        };
        let mut words = [0u64; MSG_WORDS];
        for (i, w) in words.iter_mut().enumerate() {
            *w = word(&script, base + 2 + i).unwrap_or(0);
        }
        let reply = if label == WAIT {
            pd_log!(p, "conformance: waiting at request {n}");
            let go = go_word(result.size);
            let start = p.now_ns();
            while word(&result, go).unwrap_or(1) == 0 {
                if p.now_ns().saturating_sub(start) > WAIT_LIMIT_NS {
                    pd_log!(p, "conformance: nobody said go: stopping");
                    return done;
                }
                core::hint::spin_loop();
            }
            set_word(&result, go, 0);
            Message::new(0)
        } else {
            p.ppcall(SERIAL, &Message::from_raw(label, len as usize, words))
        };
        let ok = set_word(&result, base, reply.label)
            && set_word(&result, base + 1, reply.words().len() as u64)
            && reply
                .words()
                .iter()
                .enumerate()
                .all(|(i, w)| set_word(&result, base + 2 + i, *w));
        if !ok {
            pd_log!(p, "conformance: result region full at request {n}");
            break;
        }
        done += 1;
        set_word(&result, 1, done);
    }
    pd_log!(p, "conformance: done {done} requests");
    done
}
