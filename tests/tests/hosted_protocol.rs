//! Protocol observers at work on the hosted runtime (issue 3): every PD's
//! channel layer checks every message against the Tingu specs; violations
//! are detected, reported with the observer's trace, and recovered from.

use system_tests::launch as common;

use std::time::Duration;

use fault_inject::Kind;
use hosted::Board;
use system_tests::{check_run, split, Expect, MonitorLog};

/// The driver, mutated at random points to answer a write with `closed`
/// (out of order), is caught by its own observer before the reply leaves,
/// faults, and is restarted warm; the replayed write gets its legal reply.
/// The stream stays exact.
#[test]
fn a_driver_sending_an_out_of_order_reply_is_caught_reported_and_restarted() {
    let frames = 4096u32;
    let mut plan = Vec::new();
    for i in 0..6u64 {
        let kind = if i % 2 == 0 {
            Kind::IllegalReply
        } else {
            Kind::Panic
        };
        plan.push((1000 + i * 40_000, kind));
    }
    let sys = common::launch(
        Board::QemuVirtAarch64,
        common::plan(&plan),
        common::config(frames, 21),
    );
    let console = common::run_until(&sys, Duration::from_secs(120), common::stream_finished);
    drop(sys);
    let (v, log) = check_run(
        &console,
        &Expect {
            min_bytes: frames as usize * 64,
            min_faults: 6,
            kinds: vec!["protocol".into(), "panic".into()],
            all_warm: false,
        },
    )
    .unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(v.frames, frames as u64);
    let protocol: Vec<_> = log.faults.iter().filter(|f| f.kind == "protocol").collect();
    assert_eq!(protocol.len(), 3, "{:?}", log.faults);
    for f in &protocol {
        // Trapped on the client channel (0) with the label of `closed`.
        assert!(
            f.detail.starts_with("protocol-violation ch0 label=259"),
            "{f:?}"
        );
    }
    assert!(
        log.decisions.iter().all(|(_, d)| d == "warm"),
        "{:?}",
        log.decisions
    );
    let diags = split(&console).diags;
    let has = |needle: &str| diags.iter().any(|l| l.contains(needle));
    // The driver's own line, then the observer's report through the monitor:
    // the state of every protocol and the last events.
    assert!(has("serial: protocol violation (own)"), "{diags:#?}");
    assert!(
        has("monitor: serial report: own violation: Out Reply label 0x103 on ch0"),
        "{diags:#?}"
    );
    assert!(
        has("monitor: serial report:   port client (SerialStream) on ch0: busy.writing"),
        "{diags:#?}"
    );
    assert!(has("monitor: serial report: last "), "{diags:#?}");
}

/// A client that sends `write` before `open` (going around its own observer)
/// is refused by the driver's observer: the client gets an error, the driver
/// is untouched (no fault, no restart) and serves the real stream after.
#[test]
fn a_client_sending_in_the_wrong_state_is_refused_and_the_driver_untouched() {
    let frames = 512u32;
    let sys = common::launch(
        Board::X86_64Generic,
        common::plan(&[]),
        common::config_flags(frames, 4, pd_client::FLAG_PROBE_WRONG_STATE),
    );
    let console = common::run_until(&sys, Duration::from_secs(60), common::stream_finished);
    let starts = sys.stats("serial").map(|s| s.starts);
    drop(sys);
    let (v, log) = check_run(&console, &Expect::default()).unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(v.frames, frames as u64);
    assert!(log.faults.is_empty(), "{:?}", log.faults);
    assert_eq!(starts, Some(1), "the driver was never restarted");
    let diags = split(&console).diags;
    let has = |needle: &str| diags.iter().any(|l| l.contains(needle));
    assert!(
        has("client: probe: a write before open was refused by the driver's observer"),
        "{diags:#?}"
    );
    assert!(has("serial: protocol violation (peer)"), "{diags:#?}");
    assert!(
        has("client ?write(1, 0, 1) [call]: REFUSED in closed"),
        "{diags:#?}"
    );
}

/// A driver stuck in a livelock (it keeps bumping its heartbeat, so the
/// watchdog sees progress) stays in the protocol's `busy [3s]` timeout state
/// past its deadline; the monitor finds the deadline its observer published,
/// stops it, and cold-starts it, since the request can no longer be answered
/// legally: the client is told `restarted` and resends.
#[test]
fn a_driver_stuck_past_a_timeout_state_is_found_and_recovered() {
    let plan = [(5_000u64, Kind::Livelock)];
    let sys = common::launch(
        Board::QemuVirtAarch64,
        common::plan(&plan),
        common::config(256, 9),
    );
    let console = common::run_until(&sys, Duration::from_secs(60), common::stream_finished);
    drop(sys);
    let diags = split(&console).diags;
    let log = MonitorLog::parse(&diags);
    assert_eq!(log.faults.len(), 1, "{diags:#?}");
    assert_eq!(log.faults[0].kind, "protocol");
    assert!(
        log.faults[0]
            .detail
            .starts_with("protocol-timeout deadline-in="),
        "{:?}",
        log.faults[0]
    );
    assert_eq!(
        log.decisions,
        [("serial".to_string(), "cold(timeout)".to_string())]
    );
    let has = |needle: &str| diags.iter().any(|l| l.contains(needle));
    assert!(
        has("interrupted by a cold restart (epoch 1); resending"),
        "{diags:#?}"
    );
    assert!(has("client: stream done: 256 frames"), "{diags:#?}");
}
