//! Faults the driver did not choose, one kind at a time, on the real system
//! (system.xml, the real PDs, the hosted runtime), each at the instants that
//! broke an earlier design. The verdict is the byte stream on the console,
//! accounted by `frames::check::account` independently of the driver, and
//! the monitor's lines.
//!
//! * a hang that repeats at every replay escalates (warm, then cold) instead
//!   of looping forever: escalation follows progress, not a time window;
//! * SIGKILL at any instant, idle or busy, never replays an answered request
//!   and never upsets a protocol observer;
//! * a driver that fakes its liveness (busy flag cleared, heartbeat moving)
//!   while it hangs is still caught, by its caller's ledger;
//! * stray writes into the record in use are found, never trusted;
//! * a crash right after a byte went to the UART repeats that byte at most
//!   (counted apart), never more;
//! * a crash right after a request arrived, before it is recorded, leaves
//!   the caller retried, neither blocked nor answered twice;
//! * the monitor's own plan lane (how the seL4 campaign acts from outside)
//!   suspends the driver at its instants, and that is recovered too.

use std::time::Duration;

use fault_inject::{Kind, Planned, Site};
use frames::check::{Account, Ending};
use hosted::Board;
use system_tests::campaign::{detections, Detection};
use system_tests::trial::{run, Action, Ran, Trial};

const MS: u64 = 1;

fn trial(board: Board, seed: u64) -> Trial {
    Trial {
        timeout: Duration::from_secs(40),
        ..Trial::new(board, seed)
    }
}

struct Seen {
    ran: Ran,
    diags: Vec<String>,
    account: Account,
    detections: Vec<Detection>,
    console: String,
}

fn go(t: &Trial) -> Seen {
    let ran = run(t, Vec::new()).unwrap_or_else(|e| panic!("launch: {e}"));
    let console = String::from_utf8_lossy(&ran.console).to_string();
    let diags = system_tests::split(&ran.console).diags;
    let account = frames::check::account(&ran.console)
        .unwrap_or_else(|e| panic!("no stream to account: {e:?}\n{console}"));
    let detections = detections(&diags, "serial");
    assert!(
        !ran.end.hung,
        "hung:\n{}\nkernel state:\n{}",
        diags.join("\n"),
        ran.kernel_state
    );
    assert!(!ran.end.monitor_down, "monitor down:\n{}", diags.join("\n"));
    Seen {
        ran,
        diags,
        account,
        detections,
        console,
    }
}

/// Nothing lost, nothing duplicated, nothing foreign, the stream complete.
fn exact(s: &Seen, what: &str) {
    let a = &s.account;
    assert_eq!(
        (a.lost, a.duplicated, a.corrupt),
        (0, 0, 0),
        "{what}: {:?}\n{}",
        a.anomalies,
        s.diags.join("\n")
    );
    assert_eq!(
        a.ending,
        Some(Ending::Done),
        "{what}: {}",
        s.diags.join("\n")
    );
}

fn no_violation(s: &Seen, what: &str) {
    assert!(
        !s.console.contains("protocol violation"),
        "{what}: {}",
        s.diags.join("\n")
    );
}

fn decisions(s: &Seen) -> Vec<String> {
    s.detections
        .iter()
        .filter_map(|d| d.decision.clone())
        .collect()
}

#[test]
fn a_hang_at_every_replay_escalates_instead_of_looping() {
    for board in Board::ALL {
        let mut t = trial(board, 11);
        // A request that hangs, and hangs again each time it is replayed:
        // each hang takes the watchdog's 100 ms, so no window of 500 ms
        // ever holds max_faults of them. Only progress can tell.
        t.plan.push(Planned::new(Site::Bytes, 2000, Kind::Loop));
        for _ in 0..30 {
            t.plan.push(Planned::new(Site::Replay, 0, Kind::Loop));
        }
        let s = go(&t);
        exact(&s, "hang loop");
        let d = decisions(&s);
        let warm = d.iter().filter(|d| *d == "warm").count();
        assert!(
            d.iter().any(|d| d.starts_with("cold")),
            "{board}: escalated: {d:?}"
        );
        assert!(
            warm <= 8,
            "{board}: at most max_faults warm restarts: {d:?}"
        );
        assert!(
            s.detections.iter().all(|d| d.kind == "hang"),
            "{board}: {:?}",
            s.detections
        );
    }
}

#[test]
fn sigkill_at_any_instant_never_replays_or_violates() {
    for board in Board::ALL {
        let mut t = trial(board, 23);
        // A stream that outlasts the actions (the hosted UART takes about
        // a megabyte a second).
        t.frames = 16384;
        t.chunk = 64;
        t.rx_every_ms = Some(5);
        // Kills 2 to 23 ms after the driver is back: in requests, between
        // them, while idle.
        t.pace = true;
        let mut x = 7u64;
        for _ in 0..20 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            t.actions.push((2 + (x >> 33) % 22, Action::Kill));
        }
        let s = go(&t);
        exact(&s, "sigkill");
        no_violation(&s, "sigkill");
        assert!(
            s.ran.injected.len() >= 15,
            "{board}: kills landed: {}",
            s.ran.injected.len()
        );
        assert!(
            s.detections.len() >= s.ran.injected.len(),
            "{board}: every kill seen: {} of {}",
            s.detections.len(),
            s.ran.injected.len()
        );
        assert!(s.account.repeats.len() <= s.ran.injected.len());
    }
}

#[test]
fn a_hang_that_fakes_its_liveness_is_caught_by_the_callers_ledger() {
    let busy = core::mem::offset_of!(persist::Header, busy);
    let heartbeat = core::mem::offset_of!(persist::Header, heartbeat);
    for board in Board::ALL {
        let mut t = trial(board, 5);
        t.plan.push(Planned::new(Site::Bytes, 1500, Kind::Loop));
        // From outside, all along: the busy flag cleared, the heartbeat
        // moving, every 5 ms for 5 s (what a driver gone astray could write).
        for i in 0..2000u64 {
            t.actions.push((
                if i % 2 == 0 { 5 * MS } else { 0 },
                if i % 2 == 0 {
                    Action::Scribble {
                        offset: busy,
                        value: 0,
                    }
                } else {
                    Action::Scribble {
                        offset: heartbeat,
                        value: 1000 + i,
                    }
                },
            ));
        }
        let s = go(&t);
        exact(&s, "forged liveness");
        assert_eq!(
            s.detections.len(),
            1,
            "{board}: the hang, once: {:?}",
            s.detections
        );
        // The heartbeat moved, so only the caller's deadline can have told.
        assert_eq!(s.detections[0].kind, "protocol", "{:?}", s.detections);
    }
}

#[test]
fn stray_writes_into_the_record_in_use_are_found_never_trusted() {
    let state = std::mem::size_of::<serial_stream::SerialState>();
    let record = persist::record_size(state);
    let stride = (record + 63) & !63;
    for board in Board::ALL {
        let mut t = trial(board, 31);
        // A stream that outlasts the actions (the hosted UART takes about
        // a megabyte a second).
        t.frames = 16384;
        t.chunk = 64;
        // The same word of both records (one is the record in use), every
        // 20 ms, inside the head and the state (not the check word).
        let mut x = 99u64;
        for _ in 0..10 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let word = (x >> 20) as usize % ((record - 8) / 8);
            for r in 0..2 {
                t.actions.push((
                    if r == 0 { 20 * MS } else { 0 },
                    Action::Scribble {
                        offset: persist::RECORDS_OFFSET + r * stride + word * 8,
                        value: x | 1,
                    },
                ));
            }
        }
        let s = go(&t);
        exact(&s, "contamination");
        no_violation(&s, "contamination");
        let found = s
            .detections
            .iter()
            .filter(|d| d.kind == "contamination")
            .count();
        assert!(
            found >= 5,
            "{board}: found {found} of 10:\n{}",
            s.diags.join("\n")
        );
        assert!(
            s.diags
                .iter()
                .filter(|l| l.contains("persistent region contaminated"))
                .count()
                == found
        );
    }
}

#[test]
fn stray_writes_found_at_the_next_start_force_a_cold_one() {
    let state = std::mem::size_of::<serial_stream::SerialState>();
    let record = persist::record_size(state);
    let stride = (record + 63) & !63;
    for board in Board::ALL {
        let mut t = trial(board, 37);
        // A stream that outlasts the actions (the hosted UART takes about
        // a megabyte a second).
        t.frames = 16384;
        t.chunk = 64;
        for k in 0..4u64 {
            // Frozen first, so that no commit comes between the stray
            // writes and the death: the next start finds them.
            t.actions.push((60 * MS, Action::Freeze { for_ms: None }));
            for r in 0..2 {
                t.actions.push((
                    0,
                    Action::Scribble {
                        offset: persist::RECORDS_OFFSET + r * stride + 8 * (3 + k as usize),
                        value: 0x5151_5151_5151_5151 ^ k,
                    },
                ));
            }
            t.actions.push((0, Action::Kill));
        }
        let s = go(&t);
        let a = &s.account;
        // A cold start is explicit: the client hears `restarted` and sends
        // the chunk again (resent, not duplicated).
        assert_eq!(
            (a.lost, a.duplicated, a.corrupt),
            (0, 0, 0),
            "{:?}",
            a.anomalies
        );
        assert_eq!(a.ending, Some(Ending::Done));
        let d = decisions(&s);
        let colds = d.iter().filter(|d| d.starts_with("cold")).count();
        let untrusted = s
            .diags
            .iter()
            .filter(|l| l.starts_with("monitor: serial persistent region untrusted"))
            .count();
        assert_eq!(
            (untrusted, colds),
            (4, 4),
            "{board}: {d:?}\n{}",
            s.diags.join("\n")
        );
    }
}

#[test]
fn a_crash_after_a_byte_went_out_repeats_that_byte_at_most() {
    for board in Board::ALL {
        let mut t = trial(board, 41);
        t.frames = 512;
        for k in 1..=10u64 {
            t.plan
                .push(Planned::new(Site::AfterPut, k * 2500 + k * 7, Kind::Panic));
        }
        let s = go(&t);
        exact(&s, "window");
        let fired = s
            .ran
            .injected
            .iter()
            .filter(|i| i.site == "after-put")
            .count();
        assert_eq!(fired, 10, "{board}");
        // Each crash: the byte it had handed over is sent again when the
        // request is replayed; seen once more, never more.
        assert_eq!(
            s.account.repeats.len(),
            fired,
            "{board}: {:?}",
            s.account.repeats
        );
    }
}

#[test]
fn a_crash_before_a_request_is_recorded_leaves_the_caller_retried() {
    for board in Board::ALL {
        let mut t = trial(board, 43);
        // One frame per write: a request per frame.
        t.chunk = 64;
        for k in 0..8u64 {
            let kind =
                [Kind::Panic, Kind::WildWrite, Kind::NullRead, Kind::WildJump][k as usize % 4];
            t.plan.push(Planned::new(Site::Receive, k * 3, kind));
        }
        let s = go(&t);
        exact(&s, "receive");
        no_violation(&s, "receive");
        let fired = s
            .ran
            .injected
            .iter()
            .filter(|i| i.site == "receive")
            .count();
        assert_eq!(fired, 8, "{board}");
        assert_eq!(s.detections.len(), 8, "{board}: {:?}", s.detections);
        assert!(
            decisions(&s).iter().all(|d| d == "warm"),
            "{:?}",
            decisions(&s)
        );
        assert!(s.account.repeats.is_empty(), "{:?}", s.account.repeats);
    }
}

#[test]
fn the_monitors_plan_lane_suspends_the_driver_at_its_instants() {
    for board in Board::ALL {
        let mut t = trial(board, 47);
        // A stream that outlasts the actions (the hosted UART takes about
        // a megabyte a second).
        t.frames = 16384;
        t.chunk = 64;
        for k in 0..5u64 {
            t.plan.push(Planned {
                site: Site::Monitor,
                at: if k == 0 { 150_000 } else { 30_000 + k * 1000 },
                kind: Kind::Suspend,
                arg: 0,
            });
        }
        let s = go(&t);
        exact(&s, "monitor lane");
        no_violation(&s, "monitor lane");
        let fired = s
            .ran
            .injected
            .iter()
            .filter(|i| i.site == "monitor")
            .count();
        assert_eq!(fired, 5, "{board}: {:?}", s.ran.injected);
        assert!(
            s.diags
                .iter()
                .filter(|l| l.starts_with("monitor: injected #"))
                .count()
                == 5,
            "{}",
            s.diags.join("\n")
        );
        assert!(s.detections.len() >= 5, "{board}: {:?}", s.detections);
    }
}
