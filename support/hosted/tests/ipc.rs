//! Notifications coalesce; protected calls round-trip; a call without pp
//! faults the caller with a capability fault delivered to its parent.

mod common;
use common::*;
use hosted::{Board, PdState};

#[test]
fn notifications_coalesce_and_calls_round_trip() {
    let sys = launch(config("ipc.xml", Board::X86_64Generic));
    // 5 notifications on one channel and 3 on another, sent while the sink
    // was not in its event loop: one `notified` with both channels.
    expect(&sys, "sink: notified #1 channels=[7, 9]");
    expect(&sys, "server: call on ch5 label=7");
    expect(&sys, "client: reply label=8 words=[6]");
    let c = expect(&sys, "sink: notified #2 channels=[7]");
    assert_eq!(c.matches("sink: notified #").count(), 2, "{c}");
    let timing = lines(&sys)
        .into_iter()
        .find(|l| l.starts_with("client: first call"))
        .unwrap_or_default();
    println!("{timing}");
}

#[test]
fn a_call_without_pp_is_a_capability_fault_for_the_parent() {
    let sys = launch(config("ipc.xml", Board::X86_64Generic));
    expect(&sys, "client: calling on a channel without pp");
    // cptr = libmicrokit's BASE_ENDPOINT_CAP (74) + channel 3.
    expect(&sys, "supervisor: child 1 fault: cap-fault cptr=0x4d");
    expect(&sys, "[capability]");
    expect(&sys, "supervisor: stopped child 1 (Ok(()))");
    let st = sys.wait_stats("client", T, |s| s.state == PdState::Stopped);
    let st = match st {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(st.faults, 1);
    assert_eq!(st.pid, None);
    assert!(!sys.console_text().contains("UNREACHABLE"));
}
