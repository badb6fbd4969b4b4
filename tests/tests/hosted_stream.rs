//! The walking skeleton end to end on the hosted runtime: a 1 MiB stream
//! through the serial driver while it is faulted at random points with every
//! fault kind, on both emulated boards.

use system_tests::launch as common;

use std::time::Duration;

use fault_inject::Kind;
use hosted::Board;
use system_tests::{check_run, split, Expect, MonitorLog};

const FRAMES: u32 = 16_384; // 1 MiB
const FAULTS: usize = 24;

fn faulted_stream(board: Board, seed: u64) {
    let kinds = [Kind::WildWrite, Kind::NullRead, Kind::Panic, Kind::Loop];
    let plan = common::random_plan(seed, FAULTS, FRAMES as u64 * 64, &kinds);
    let sys = common::launch(board, plan, common::config(FRAMES, seed));
    let console = common::run_until(&sys, Duration::from_secs(240), common::stream_finished);
    drop(sys);

    let expect = Expect {
        min_bytes: 1 << 20,
        min_faults: 20,
        kinds: vec!["memory".into(), "panic".into(), "hang".into()],
        all_warm: false,
    };
    let (verified, log) = match check_run(&console, &expect) {
        Ok(r) => r,
        Err(f) => panic!(
            "{f}\n{}",
            String::from_utf8_lossy(&console[console.len().saturating_sub(3000)..])
        ),
    };
    assert_eq!(verified.frames, FRAMES as u64);
    assert_eq!(
        log.faults.len(),
        FAULTS,
        "every planned fault fired and was delivered"
    );
    assert!(
        log.decisions
            .iter()
            .all(|(pd, d)| pd == "serial" && d == "warm"),
        "{:?}",
        log.decisions
    );
    // Every restart that completed was warm and replayed the request in flight.
    assert!(
        log.restarts.len() >= FAULTS * 2 / 3,
        "{} restarts logged",
        log.restarts.len()
    );
    assert!(log
        .restarts
        .iter()
        .all(|r| r.path == "warm" && r.replayed == 1));
    // Each fault line decodes the fault: an address for memory faults.
    for f in &log.faults {
        match f.kind.as_str() {
            "memory" => assert!(
                f.detail.contains("addr=0xdead0000") || f.detail.contains("addr=0x0 "),
                "{f:?}"
            ),
            "panic" | "hang" => {}
            other => panic!("unexpected fault kind {other}: {f:?}"),
        }
    }
    let diags = split(&console).diags;
    statics_are_reset_and_persistent_state_survives(&diags);
}

/// The serial PD logs its statics and its persistent byte count at every
/// start: the statics must always be back at their initial values, while
/// the byte count carries over.
fn statics_are_reset_and_persistent_state_survives(diags: &[String]) {
    let starts: Vec<&String> = diags
        .iter()
        .filter(|d| d.starts_with("serial: start epoch"))
        .collect();
    assert!(starts.len() >= 10, "{starts:?}");
    let mut last_total = 0u64;
    for s in &starts {
        assert!(s.contains("init-static 0x5eedcafe zero-static 0x0 "), "{s}");
        let total: u64 = s
            .rsplit(' ')
            .next()
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("no total_tx in {s}"));
        assert!(total >= last_total, "persistent byte count went back: {s}");
        last_total = total;
    }
    assert!(last_total > 0, "restarts happened with bytes already sent");
}

#[test]
fn stream_is_exact_under_faults_on_aarch64() {
    faulted_stream(Board::QemuVirtAarch64, 7);
}

#[test]
fn stream_is_exact_under_faults_on_x86_64() {
    faulted_stream(Board::X86_64Generic, 11);
}

/// A crash loop against the real policy (8 faults without a served request):
/// the request in flight faults on every replay, eight warm restarts, then a
/// cold start; the cold start faults in `init`, before serving anything, so
/// the driver is stopped: the blocked client gets `stopped` and the monitor
/// notifies it. Nothing hangs, nothing is silent.
#[test]
fn escalation_goes_warm_then_cold_then_stop_and_clients_are_told() {
    use fault_inject::Site;
    let mut plan: Vec<(Site, u64, Kind)> = (1..=9)
        .map(|i| (Site::Bytes, i * 300, Kind::Panic))
        .collect();
    plan.push((Site::Start, 9, Kind::WildWrite));
    let sys = common::launch(
        Board::QemuVirtAarch64,
        common::plan_sites(&plan),
        common::config(64, 3),
    );
    let console = common::run_until(&sys, Duration::from_secs(60), |d| {
        d.iter()
            .any(|l| l.contains("the monitor reports the serial driver stopped"))
            && common::stream_finished(d)
    });
    drop(sys);
    let diags = split(&console).diags;
    let log = MonitorLog::parse(&diags);
    let decisions: Vec<&str> = log.decisions.iter().map(|(_, d)| d.as_str()).collect();
    assert_eq!(
        decisions,
        [
            "warm",
            "warm",
            "warm",
            "warm",
            "warm",
            "warm",
            "warm",
            "warm",
            "cold(budget)",
            "stop"
        ],
        "{diags:#?}"
    );
    assert_eq!(log.stopped, ["serial"]);
    let has = |needle: &str| diags.iter().any(|l| l.contains(needle));
    assert!(
        has("client: write of frames from 0 failed: driver stopped (epoch 10); stream abandoned"),
        "{diags:#?}"
    );
    assert!(has("client: the monitor reports the serial driver stopped"));
    assert!(
        log.restarts.iter().any(|r| r.path == "tombstone"),
        "{:?}",
        log.restarts
    );
    assert_eq!(log.faults.last().map(|f| f.kind.as_str()), Some("memory"));
}

/// A cold start after which the client is told `restarted`, reopens and
/// resends: the explicit path, never silent.
#[test]
fn a_cold_start_is_reported_to_the_client_which_resends() {
    let plan: Vec<(u64, Kind)> = (1..=9).map(|i| (i * 300, Kind::Panic)).collect();
    let sys = common::launch(
        Board::X86_64Generic,
        common::plan(&plan),
        common::config(256, 5),
    );
    let console = common::run_until(&sys, Duration::from_secs(60), common::stream_finished);
    drop(sys);
    let diags = split(&console).diags;
    let log = MonitorLog::parse(&diags);
    assert_eq!(
        log.decisions.last().map(|(_, d)| d.as_str()),
        Some("cold(budget)")
    );
    let has = |needle: &str| diags.iter().any(|l| l.contains(needle));
    assert!(
        has("client: write of frames from 0 interrupted by a cold restart (epoch 9); resending"),
        "{diags:#?}"
    );
    assert!(
        has("client: stream done: 256 frames, 16384 bytes, 1 resends"),
        "{diags:#?}"
    );
    assert!(log
        .restarts
        .iter()
        .any(|r| r.path == "cold" && r.replayed == 1));
}

#[test]
fn a_malformed_system_description_is_refused_with_the_place() {
    let dir = std::env::temp_dir().join(format!("selfheal-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let bad = dir.join("bad.xml");
    let text = std::fs::read_to_string(common::repo().join("system.xml")).expect("system.xml");
    std::fs::write(
        &bad,
        text.replace(
            "<end pd=\"client\" id=\"0\" pp=\"true\"",
            "<end pd=\"cleint\" id=\"0\" pp=\"true\"",
        ),
    )
    .expect("write");
    let cfg = hosted::LaunchConfig::new(&bad, Board::QemuVirtAarch64, common::image());
    let err = match hosted::System::launch(cfg) {
        Ok(_) => panic!("a system with an unknown PD in a channel launched"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("bad.xml:"), "{err}");
    assert!(err.contains("cleint"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
