//! Conformance of the real serial driver to `serial.tingu`, on the hosted
//! runtime: the `conformance` PD (in the client's place, see
//! `tests/systems/conformance.xml`) plays request scripts generated from the
//! protocol (a cover of every state and request, malformed requests, and
//! seeded random walks); every reply is checked against the protocol, and the
//! driver must never be faulted (its observer refuses what is illegal, and
//! the driver itself never sends anything illegal).

use std::time::Duration;

use fault_inject::{Kind, Site};
use hosted::{Board, LaunchConfig, System};
use system_tests::{split, MonitorLog};
use tingu_verify::conformance::{self, Checker, Intent, Rng, Wire};
use tingu_verify::repo;

/// "CONFORM1", as `pd_conformance::MAGIC`.
const MAGIC: u64 = 0x314d_524f_464e_4f43;

fn serial_protocol() -> tingu::Compiled {
    tingu::compile_files(&[repo().join("drivers/serial/api/serial.tingu")])
        .expect("serial.tingu compiles")
}

fn launch(board: Board, script: &[(Wire, Intent)], plan: Vec<u8>) -> System {
    let mut cfg = LaunchConfig::new(
        repo().join("tests/systems/conformance.xml"),
        board,
        system_tests::launch::image(),
    );
    cfg.prefill = vec![
        (
            "conformance_script".into(),
            conformance::encode(script, MAGIC),
        ),
        ("fault_plan".into(), plan),
    ];
    System::launch(cfg).expect("launch the conformance system")
}

fn results(sys: &System) -> Vec<u64> {
    let result = sys.region("conformance_result").expect("result region");
    (0..result.len() / 8)
        .map(|i| result.read_u64(i * 8))
        .collect()
}

/// Run a script against the real driver; the replies and the console.
fn play(board: Board, script: &[(Wire, Intent)], plan: Vec<u8>) -> (Vec<Wire>, Vec<u8>) {
    let sys = launch(board, script, plan);
    // Every fault is logged (with the monitor's decision) before the
    // restart that answers the request in flight, so before "done".
    let console = system_tests::launch::run_until(&sys, Duration::from_secs(120), |d| {
        d.iter().any(|l| l.starts_with("conformance: done"))
    });
    let result = sys.region("conformance_result").expect("result region");
    let words: Vec<u64> = (0..result.len() / 8)
        .map(|i| result.read_u64(i * 8))
        .collect();
    drop(sys);
    assert_eq!(words.first(), Some(&MAGIC), "no result written");
    let n = words.get(1).copied().unwrap_or(0) as usize;
    assert_eq!(n, script.len(), "every request answered");
    (conformance::decode_replies(&words, n), console)
}

/// How a run ends for the driver: what the fault plan does to the first,
/// long write of the script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Faults {
    /// No fault.
    None,
    /// It faults on every replay: eight warm restarts, then a cold start
    /// (`restarted`).
    Cold,
    /// Then the cold start faults too: tombstone (`stopped` to everything).
    Tombstone,
}

fn plan(f: Faults) -> Vec<u8> {
    let mut p: Vec<(Site, u64, Kind)> = match f {
        Faults::None => Vec::new(),
        _ => (1..=9)
            .map(|i| (Site::Bytes, i * 300, Kind::Panic))
            .collect(),
    };
    if f == Faults::Tombstone {
        p.push((Site::Start, 9, Kind::WildWrite));
    }
    system_tests::launch::plan_sites(&p)
}

#[test]
fn the_real_serial_driver_conforms_to_its_protocol() {
    let compiled = serial_protocol();
    let (_, proto) = compiled
        .spec
        .protocol("SerialStream")
        .expect("SerialStream");
    let mut rng = Rng::new(0x005e_41a1);
    // A long first write (where the fault plans strike), then the cover of
    // every state and request, then a random walk.
    let (open, _) = proto.message("open").expect("open");
    let (write, _) = proto.message("write").expect("write");
    let mut script = vec![
        (
            Wire {
                label: proto.messages[open].label,
                words: vec![],
            },
            Intent::Legal,
        ),
        (
            Wire {
                label: proto.messages[write].label,
                words: vec![1, 0, 4000],
            },
            Intent::Legal,
        ),
    ];
    let cover = conformance::cover(proto, &mut rng);
    let covered_by_cover = cover.len();
    script.extend(cover);
    script.extend(conformance::random_walk(proto, &mut rng, 400, 1_000));
    let mut total = Checker::new(proto);
    let mut restart_state_replies = std::collections::BTreeSet::new();
    let runs = [
        (Board::QemuVirtAarch64, Faults::None),
        (Board::X86_64Generic, Faults::None),
        (Board::QemuVirtAarch64, Faults::Cold),
        (Board::X86_64Generic, Faults::Cold),
        (Board::QemuVirtAarch64, Faults::Tombstone),
        (Board::X86_64Generic, Faults::Tombstone),
    ];
    for (board, faults) in runs {
        let (replies, console) = play(board, &script, plan(faults));
        let mut c = Checker::new(proto);
        for (n, ((req, _), reply)) in script.iter().zip(&replies).enumerate() {
            c.step(n, req, reply);
        }
        assert!(
            c.failures.is_empty(),
            "{board} {faults:?}: {}",
            c.failures.join("\n")
        );
        // The driver was never faulted by its observer (an illegal reply
        // would trap it): the only faults are the planned ones.
        let diags = split(&console).diags;
        let log = MonitorLog::parse(&diags);
        assert!(
            log.faults.iter().all(|f| f.kind != "protocol"),
            "{board} {faults:?}: {:?}",
            log.faults
        );
        assert!(
            !diags.iter().any(|l| l.contains("protocol violation (own)")),
            "{board}: {diags:#?}"
        );
        let expected_faults = match faults {
            Faults::None => 0,
            Faults::Cold => 9,
            Faults::Tombstone => 10,
        };
        assert_eq!(
            log.faults.len(),
            expected_faults,
            "{board} {faults:?}: {:?}",
            log.faults
        );
        // Every refusal came from the driver's observer, logged as the peer's.
        let peer = diags
            .iter()
            .filter(|l| l.contains("serial: protocol violation (peer)"))
            .count();
        let refused = replies
            .iter()
            .filter(|r| r.label == conformance::REFUSED)
            .count();
        assert_eq!(
            peer, refused,
            "{board} {faults:?}: every refusal is the observer's"
        );
        // After a cold or tombstone start the driver's observer begins in its
        // restart state (`reset`): it sent the error reply from there, while
        // the client's side (which the checker replays) went from `busy`.
        // (The monitor logs its decision before it restarts the driver.)
        let decided = |d: &str| log.decisions.iter().any(|(_, x)| x == d);
        match faults {
            Faults::None => assert!(log.decisions.is_empty(), "{board}: {:?}", log.decisions),
            Faults::Cold => {
                assert!(decided("cold(budget)"), "{board}: {:?}", log.decisions);
                restart_state_replies.insert("reset: !restarted");
            }
            Faults::Tombstone => {
                assert!(decided("stop"), "{board}: {:?}", log.decisions);
                restart_state_replies.insert("reset: !stopped");
            }
        }
        total.taken.extend(c.taken);
        total.refusals.extend(c.refusals);
    }
    let intents = |i: Intent| script.iter().filter(|(_, x)| *x == i).count();
    let (covered, declared, missing) = total.declared_coverage();
    let missing: Vec<String> = missing
        .into_iter()
        .filter(|m| !restart_state_replies.contains(m.as_str()))
        .collect();
    let covered = covered + restart_state_replies.len();
    eprintln!(
        "conformance SerialStream: {} requests per run ({} cover + {} random + 2; {} legal, {} out of state, {} malformed), {} runs (no fault, cold and tombstone, on both boards)",
        script.len(),
        covered_by_cover,
        script.len() - covered_by_cover - 2,
        intents(Intent::Legal),
        intents(Intent::OutOfState),
        intents(Intent::Malformed),
        runs.len()
    );
    eprintln!(
        "conformance SerialStream: declared transitions covered {covered}/{declared}; refusals exercised in {} (state, label) pairs",
        total.refusals.len()
    );
    for m in &missing {
        eprintln!("  not covered: {m}");
    }
    // Every transition is covered but those of the restart state the
    // checker (replaying the client's view) cannot see: a stale session's
    // request after a restart while idle (`reset: ?write`, `reset_request:
    // !restarted`: `finding_f1_fixed_...` below), and `invalid` to `open`
    // and `close`, which the protocol allows but the driver never sends (a
    // malformed open or close never reaches it: its observer refuses it
    // first).
    assert_eq!(
        missing,
        [
            "reset: ?open",
            "reset: ?write",
            "reset: ?close",
            "reset_request: !restarted",
            "reset_request: !stopped",
            "busy.opening: !invalid",
            "busy.closing: !invalid"
        ],
        "coverage changed"
    );
    assert!(
        total.refusals.iter().any(|(s, _)| s == "closed"),
        "out-of-state requests refused in closed"
    );
}

/// Finding F2 (docs/verification.md), fixed: when a cold start faults in
/// `init`, the in-flight slot survives (`format()` keeps it, the monitor's
/// `prepare_tombstone` too), so the tombstone that follows answers the
/// blocked caller `stopped` through the channel layer, and the driver's
/// observer (in its restart state) sees it and goes to `dead`, as the
/// client's does. Every later request is answered `stopped`, none refused.
#[test]
fn finding_f2_fixed_after_a_tombstone_every_request_is_answered_stopped() {
    let compiled = serial_protocol();
    let (_, proto) = compiled
        .spec
        .protocol("SerialStream")
        .expect("SerialStream");
    let w = |label: u64, words: Vec<u64>| (Wire { label, words }, Intent::Legal);
    let script = vec![
        w(1, vec![]),           // open
        w(2, vec![1, 0, 4000]), // write: faults 9 times, cold start faults: stop
        w(2, vec![2, 0, 16]),   // write, in `dead`
        w(3, vec![]),           // close, in `dead`
        w(1, vec![]),           // open, in `dead`
        w(2, vec![3, 0, 16]),   // write, in `dead`
    ];
    let (replies, console) = play(Board::X86_64Generic, &script, plan(Faults::Tombstone));
    let diags = split(&console).diags;
    let log = MonitorLog::parse(&diags);
    assert_eq!(
        log.decisions.last().map(|(_, d)| d.as_str()),
        Some("stop"),
        "{:?}",
        log.decisions
    );
    let labels: Vec<u64> = replies.iter().map(|r| r.label).collect();
    let (stopped, _) = proto.message("stopped").expect("stopped");
    let stopped = proto.messages[stopped].label;
    assert_eq!(
        labels,
        [0x101, stopped, stopped, stopped, stopped, stopped],
        "{replies:?}"
    );
    assert!(
        !diags.iter().any(|l| l.contains("protocol violation")),
        "{diags:#?}"
    );
    // The checker, replaying the protocol, agrees with every reply.
    let mut c = Checker::new(proto);
    for (n, ((req, _), reply)) in script.iter().zip(&replies).enumerate() {
        c.step(n, req, reply);
    }
    assert!(c.failures.is_empty(), "{}", c.failures.join("\n"));
}

/// Finding F1 (docs/verification.md), found by the model checker, fixed by
/// `SerialStream`'s restart state: the client has a session and no request
/// in flight; the driver's persistent region goes bad and the driver dies;
/// the monitor cold-starts it (`cold(region)`). The driver's observer begins
/// in `reset` and the driver knows sessions were lost, so the client's next
/// `write` is answered `restarted` (not refused); then `open` starts a new
/// session, and writes work again. The checker, replaying the client's view
/// of the protocol, accepts every reply.
#[test]
fn finding_f1_fixed_a_cold_start_while_idle_answers_the_stale_session_restarted() {
    const WAIT: u64 = u64::MAX; // pd_conformance::WAIT
    let compiled = serial_protocol();
    let (_, proto) = compiled
        .spec
        .protocol("SerialStream")
        .expect("SerialStream");
    let w = |label: u64, words: Vec<u64>| (Wire { label, words }, Intent::Legal);
    let script = vec![
        w(1, vec![]),         // open
        w(2, vec![1, 0, 8]),  // write
        w(WAIT, vec![]),      // the test restarts the driver cold here
        w(2, vec![2, 8, 8]),  // write: the session is gone: `restarted`
        w(1, vec![]),         // open: a new session
        w(2, vec![3, 16, 8]), // write: works
    ];
    let sys = launch(Board::QemuVirtAarch64, &script, plan(Faults::None));
    system_tests::launch::run_until(&sys, Duration::from_secs(60), |d| {
        d.iter()
            .any(|l| l.starts_with("conformance: waiting at request 2"))
    });
    // Corrupt the driver's persistent region (a header field, so that the
    // header's crc fails: a corrupted region, not a never-formatted one,
    // which would be a first boot) and kill it while it is idle: the
    // monitor finds the region untrusted and starts it cold.
    let region = sys.region("serial_persistent").expect("persistent region");
    let layout = region.read(8, 8);
    let bad: Vec<u8> = layout.iter().map(|b| !b).collect();
    assert!(region.write(8, &bad));
    let before = sys.stats("serial").expect("serial");
    let pid = before.pid.expect("serial runs");
    // SAFETY: kill(2) on the driver's process, which this test's system
    // started; no memory is involved.
    let rc = unsafe { kill(pid, 9) };
    assert_eq!(rc, 0, "kill the driver");
    system_tests::launch::run_until(&sys, Duration::from_secs(60), |d| {
        // The monitor's decision (a call made before the restart completes
        // waits for it, as on seL4).
        d.iter().any(|l| l.starts_with("monitor: serial -> "))
    });
    let n = results(&sys);
    let go = n.len() - 1;
    let result = sys.region("conformance_result").expect("result region");
    assert!(result.write(go * 8, &1u64.to_le_bytes()));
    let console = system_tests::launch::run_until(&sys, Duration::from_secs(60), |d| {
        d.iter().any(|l| l.starts_with("conformance: done"))
    });
    let words = results(&sys);
    drop(sys);
    let replies = conformance::decode_replies(&words, script.len());
    let labels: Vec<u64> = replies.iter().map(|r| r.label).collect();
    let diags = split(&console).diags;
    let log = MonitorLog::parse(&diags);
    assert_eq!(
        log.decisions
            .iter()
            .map(|(_, d)| d.as_str())
            .collect::<Vec<_>>(),
        ["cold(region)"],
        "{:?}",
        log
    );
    let (restarted, _) = proto.message("restarted").expect("restarted");
    let restarted = proto.messages[restarted].label;
    assert_eq!(restarted, 0x1f0);
    // opened, written, (wait), restarted, opened, written: never silent.
    assert_eq!(
        labels,
        [0x101, 0x102, 0, restarted, 0x101, 0x102],
        "{replies:?}\n{diags:#?}"
    );
    assert!(
        !diags.iter().any(|l| l.contains("protocol violation")),
        "{diags:#?}"
    );
    let mut c = Checker::new(proto);
    for (n, ((req, _), reply)) in script.iter().zip(&replies).enumerate() {
        if req.label != WAIT {
            c.step(n, req, reply);
        }
    }
    assert!(c.failures.is_empty(), "{}", c.failures.join("\n"));
}

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

/// The conformance system is the real one with the client replaced: the
/// monitor and the driver (with their maps, interrupts, restart policy and
/// channels) render identically for both boards.
#[test]
fn the_conformance_system_keeps_the_real_monitor_and_driver() {
    let load = |rel: &str| sdf::parse_file(&repo().join(rel)).unwrap_or_else(|e| panic!("{e}"));
    let real = load("system.xml");
    let conf = load("tests/systems/conformance.xml");
    let block = |sys: &sdf::System, board: sdf::Board| -> String {
        let text = sdf::render(sys, board);
        let start = text
            .find("<protection_domain name=\"recovery_monitor\"")
            .expect("monitor");
        let end = text[start..]
            .find("\n    </protection_domain>")
            .map_or(text.len(), |e| start + e);
        text[start..end].replace("notify=\"conformance\"", "notify=\"client\"")
    };
    for board in sdf::Board::ALL {
        assert_eq!(block(&real, board), block(&conf, board), "{board}");
    }
    let ends = |sys: &sdf::System, peer: &str| -> Vec<(String, u8, bool, Option<String>)> {
        sys.channels
            .iter()
            .flat_map(|c| c.ends.iter())
            .map(|e| {
                let pd = if e.pd == peer {
                    "client".to_string()
                } else {
                    e.pd.clone()
                };
                (pd, e.id, e.pp, e.port.clone())
            })
            .collect()
    };
    assert_eq!(ends(&real, "client"), ends(&conf, "conformance"));
}
