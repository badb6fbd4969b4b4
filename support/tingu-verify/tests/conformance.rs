//! Conformance of the real serial driver to `serial.tingu`, on the hosted
//! runtime: the `conformance` PD (in the client's place, see
//! `tests/systems/conformance.xml`) plays request scripts generated from the
//! protocol (a cover of every state and request, malformed requests, and
//! seeded random walks); every reply is checked against the protocol, and the
//! driver must never be faulted (its observer refuses what is illegal, and
//! the driver itself never sends anything illegal).

use std::time::Duration;

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

/// Run a script against the real driver; the replies and the console.
fn play(board: Board, script: &[(Wire, Intent)]) -> (Vec<Wire>, Vec<u8>) {
    let mut cfg = LaunchConfig::new(
        repo().join("tests/systems/conformance.xml"),
        board,
        system_tests::launch::image(),
    );
    cfg.prefill = vec![(
        "conformance_script".into(),
        conformance::encode(script, MAGIC),
    )];
    let sys = System::launch(cfg).expect("launch the conformance system");
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

#[test]
fn the_real_serial_driver_conforms_to_its_protocol() {
    let compiled = serial_protocol();
    let (_, proto) = compiled
        .spec
        .protocol("SerialStream")
        .expect("SerialStream");
    let mut rng = Rng::new(0x005e_41a1);
    let mut script = conformance::cover(proto, &mut rng);
    let covered_by_cover = script.len();
    let first_seq = 1_000;
    script.extend(conformance::random_walk(proto, &mut rng, 400, first_seq));
    let mut total = Checker::new(proto);
    for board in [Board::QemuVirtAarch64, Board::X86_64Generic] {
        let (replies, console) = play(board, &script);
        let mut c = Checker::new(proto);
        for (n, ((req, _), reply)) in script.iter().zip(&replies).enumerate() {
            c.step(n, req, reply);
        }
        assert!(c.failures.is_empty(), "{board}: {}", c.failures.join("\n"));
        // The driver was never faulted: not by its observer (an illegal
        // reply would trap it), not otherwise.
        let diags = split(&console).diags;
        let log = MonitorLog::parse(&diags);
        assert!(
            log.faults.is_empty(),
            "{board}: driver faulted: {:?}",
            log.faults
        );
        assert!(
            !diags.iter().any(|l| l.contains("[protocol]")),
            "{board}: {diags:#?}"
        );
        assert!(
            !diags.iter().any(|l| l.contains("protocol violation (own)")),
            "{board}: {diags:#?}"
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
        assert_eq!(peer, refused, "{board}: every refusal is the observer's");
        total.taken.extend(c.taken);
        total.refusals.extend(c.refusals);
    }
    let intents = |i: Intent| script.iter().filter(|(_, x)| *x == i).count();
    let (covered, declared, missing) = total.declared_coverage();
    eprintln!(
        "conformance SerialStream: {} requests ({} cover + {} random; {} legal, {} out of state, {} malformed) on 2 boards",
        script.len(),
        covered_by_cover,
        script.len() - covered_by_cover,
        intents(Intent::Legal),
        intents(Intent::OutOfState),
        intents(Intent::Malformed)
    );
    eprintln!(
        "conformance SerialStream: declared transitions covered {covered}/{declared}; flat {}/{}; refusals exercised in {} (state, label) pairs",
        total.taken.len(),
        proto.transitions.len(),
        total.refusals.len()
    );
    for m in &missing {
        eprintln!("  not covered: {m}");
    }
    // Every transition a client can drive is covered, except those that
    // need a cold or tombstone restart (`restarted`, `stopped`, `dead`: the
    // model checker covers them) and `invalid` to `open` and `close`, which
    // the protocol allows but the driver never sends (a malformed open or
    // close never reaches it: its observer refuses it first).
    let expected_missing = [
        "closed: !restarted",
        "closed: !stopped",
        "busy: !restarted",
        "busy: !stopped",
        "busy.opening: !invalid",
        "busy.closing: !invalid",
        "dead: ?open",
        "dead: ?write",
        "dead: ?close",
        "dead_request: !stopped",
    ];
    assert_eq!(missing, expected_missing, "coverage changed");
    assert!(
        total.refusals.iter().any(|(s, _)| s == "closed"),
        "out-of-state requests refused in closed"
    );
}
