//! Every fixture gets its expected verdicts from our checker, with shortest
//! counterexamples that show what is wrong.

use tingu::verify::model::StepKind;
use tingu::verify::{chart, Options};
use tingu_verify::{fixtures, run, violated, Fixture, Input};

fn fixture(name: &str) -> Fixture {
    fixtures()
        .into_iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no fixture {name}"))
}

#[test]
fn every_fixture_has_its_expected_verdicts() {
    let mut failures = Vec::new();
    for f in fixtures() {
        let (c, r) = run(&f).unwrap_or_else(|e| panic!("{}: {e}", f.name));
        assert!(!r.checked.is_empty(), "{}: no composition", f.name);
        for ch in &r.checked {
            assert!(!ch.exploration.truncated, "{}: truncated", f.name);
            assert!(ch.exploration.states > 0);
        }
        let got = violated(&r);
        if got != f.violated {
            failures.push(format!(
                "{}: violated {got:?}, expected {:?}\n{}",
                f.name,
                f.violated,
                r.text(&c.spec)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_deadlocking_pair_shows_the_blocked_call_as_the_shortest_run() {
    let f = fixture("deadlocking pair");
    let (c, r) = run(&f).expect("verify");
    let ch = &r.checked[0];
    let dl = ch.findings("deadlock");
    assert_eq!(dl.len(), 1);
    let t = dl[0].trace.as_ref().expect("a trace");
    // req, then the driver saves and commits, and can go no further: it
    // waits for `go`, which the blocked client cannot send.
    let kinds: Vec<&StepKind> = t.steps.iter().map(|(k, _)| k).collect();
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    assert!(matches!(kinds[0], StepKind::Call { from: 1, .. }));
    assert_eq!(kinds[1], &StepKind::Save);
    assert_eq!(kinds[2], &StepKind::Commit);
    assert!(
        dl[0].message.contains("owner=waiting [serving req]"),
        "{}",
        dl[0].message
    );
    assert!(
        dl[0].message.contains("[blocked in req]"),
        "{}",
        dl[0].message
    );
    let text = chart::text(&c.spec, &ch.composition, t, None);
    assert!(text.contains("req()"), "{text}");
    assert!(text.contains("[waiting]"), "{text}");
    // Progress: the client waits forever, shown as a stuck state.
    let p = ch.findings("progress");
    assert_eq!(p.len(), 1);
    assert!(p[0].trace.as_ref().is_some_and(|t| t.cycle_from.is_some()));
}

#[test]
fn a_lossy_restart_leaves_the_caller_blocked_after_exactly_one_crash() {
    let f = fixture("good, restarts that lose the request in flight");
    let (c, r) = run(&f).expect("verify");
    let ch = &r.checked[0];
    let p = ch.findings("progress");
    assert_eq!(p.len(), 1);
    let t = p[0].trace.as_ref().expect("trace");
    let crashes = t
        .steps
        .iter()
        .filter(|(k, _)| matches!(k, StepKind::Crash { .. }))
        .count();
    assert_eq!(
        crashes,
        1,
        "{}",
        chart::text(&c.spec, &ch.composition, t, None)
    );
    assert!(matches!(t.steps[0].0, StepKind::Call { .. }));
    let text = chart::text(&c.spec, &ch.composition, t, None);
    assert!(text.contains("crash, lossy restart"), "{text}");
    assert!(text.contains("stay here forever"), "{text}");
}

#[test]
fn a_non_atomic_commit_is_caught_as_a_duplicate_or_a_lost_effect() {
    let (c, r) = run(&fixture("good, effect then mark (crash between them)")).expect("verify");
    let e = r.checked[0].findings("exactly-once");
    assert_eq!(e.len(), 1);
    assert!(
        e[0].message.contains("takes effect 2 times"),
        "{}",
        e[0].message
    );
    let t = e[0].trace.as_ref().expect("trace");
    // ping, save, effect, crash (warm: replayed), effect again.
    let text = chart::text(&c.spec, &r.checked[0].composition, t, Some(&e[0].message));
    assert!(text.contains("the call in flight is replayed"), "{text}");
    assert!(
        matches!(t.steps.last(), Some((StepKind::Effect, None))),
        "{text}"
    );

    let (_, r) = run(&fixture("good, mark then effect (crash between them)")).expect("verify");
    let e = r.checked[0].findings("exactly-once");
    assert_eq!(e.len(), 1);
    assert!(
        e[0].message.contains("took effect 0 time(s)"),
        "{}",
        e[0].message
    );
}

#[test]
fn the_missing_reception_is_the_race_between_a_notification_and_a_call() {
    let (_, r) = run(&fixture("missing reception")).expect("verify");
    let v = r.checked[0].findings("reception");
    assert_eq!(v.len(), 1);
    assert!(
        v[0].message.contains("cannot accept get()"),
        "{}",
        v[0].message
    );
    assert!(
        v[0].message.contains("not allowed in `changing`"),
        "{}",
        v[0].message
    );
    let t = v[0].trace.as_ref().expect("trace");
    // changed (pending, not yet delivered), then get.
    assert_eq!(t.steps.len(), 2);
    assert!(matches!(t.steps[0].0, StepKind::Notify { from: 0, .. }));
    assert!(matches!(t.steps[1], (StepKind::Call { from: 1, .. }, None)));
}

#[test]
fn the_non_realizable_dependency_never_starts_the_device() {
    let (_, r) = run(&fixture("non-realizable dependency")).expect("verify");
    let lc = r.get("user.lc <-> dev.lc").expect("composition");
    assert!(lc
        .findings("reachability")
        .iter()
        .any(|f| f.message.contains("never reached: on")));
    assert_eq!(
        lc.composition.sides[0].ports.len(),
        2,
        "the power port is in the model"
    );
    // On the lifecycle channel both sides stay in `off`, the initial (so
    // resting) state: not a deadlock there. The power channel stops in
    // `asleep`, which is not resting.
    assert!(lc.findings("deadlock").is_empty());
    let pm = r.get("user.pm <-> dev.pm").expect("composition");
    let dl = pm.findings("deadlock");
    assert_eq!(dl.len(), 1);
    assert!(
        dl[0].message.contains("pm=asleep{armed=0} lc=off"),
        "{}",
        dl[0].message
    );
}

/// Notifications coalesce: two kicks sent before the consumer runs are one
/// wakeup. The consumer then waits for a second kick, the producer for
/// `done`: each waits for input, neither is in a resting state, and the
/// shortest counterexample is kick, kick, one delivery.
#[test]
fn a_wakeup_lost_to_coalescing_is_a_deadlock() {
    let (c, r) = run(&fixture("lost wakeup")).expect("verify");
    let ch = &r.checked[0];
    let comp = &ch.composition;
    let dl = ch.findings("deadlock");
    assert_eq!(dl.len(), 1, "{:?}", ch.exploration.findings);
    assert!(
        dl[0].message.contains("owner=one") && dl[0].message.contains("peer=two"),
        "{}",
        dl[0].message
    );
    let t = dl[0].trace.as_ref().expect("a trace");
    let kinds: Vec<&StepKind> = t.steps.iter().map(|(k, _)| k).collect();
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    assert!(matches!(kinds[0], StepKind::Notify { from: 1, .. }));
    assert!(matches!(kinds[1], StepKind::Notify { from: 1, .. }));
    assert!(matches!(kinds[2], StepKind::Deliver { to: 0, .. }));
    let state = |i: usize| t.steps[i].1.as_deref().expect("a state");
    // One pending bit, not a counter: the second kick changed only the
    // producer's state, and one delivery consumed both.
    let pending = |s: &[u32]| {
        comp.describe(&c.spec, s)
            .matches("[notification pending]")
            .count()
    };
    assert_eq!(pending(state(0)), 1);
    assert_eq!(pending(state(1)), 1);
    assert_eq!(pending(state(2)), 0);
    assert_eq!(comp.leaf(state(0), 0, 0), comp.leaf(state(1), 0, 0));
    let end = state(2);
    assert!(comp.steps(&c.spec, end).is_empty(), "stuck");
    // Each side waits for a message it receives there: "waiting for input"
    // is not a valid end state, only a declared resting state is.
    for side in 0..2 {
        let leaf = comp.leaf(end, side, 0);
        let p = comp.proto(&c.spec, side, 0);
        assert!(p.transitions_from(leaf).any(|tr| match tr.trigger {
            tingu::ir::Trigger::Own(m) => comp.eff_dir(&c.spec, side, 0, m) == tingu::ir::Dir::In,
            tingu::ir::Trigger::Foreign(_) => false,
        }));
        assert!(!comp.at_rest(&c.spec, end, side));
    }
    // No other property is violated: every state is reached (the kicks
    // may also be delivered one at a time), nothing is refused.
    assert!(ch.holds("reachability") && ch.holds("reception"));
}

/// A composition may stop only in states its protocol declares resting:
/// the spent session in `ready` is fine with `idle state ready`, and the
/// same end is a deadlock without it.
#[test]
fn only_states_declared_resting_are_valid_end_states() {
    let (c, r) = run(&fixture("resting end state")).expect("verify");
    let ch = &r.checked[0];
    assert!(ch.ok(), "{:?}", ch.exploration.findings);
    let p = ch.composition.proto(&c.spec, 0, 0);
    let ready = p.state("ready").expect("ready");
    assert!(p.states[ready].is_idle && p.is_resting(ready));
    let states = ch.exploration.states;

    let (c, r) = run(&fixture("resting end state, undeclared")).expect("verify");
    let ch = &r.checked[0];
    assert_eq!(ch.exploration.states, states, "the same state space");
    let p = ch.composition.proto(&c.spec, 0, 0);
    assert!(!p.is_resting(p.state("ready").expect("ready")));
    let dl = ch.findings("deadlock");
    assert_eq!(dl.len(), 1);
    assert!(
        dl[0].message.contains("owner=ready{left=0}")
            && dl[0].message.contains("peer=ready{left=0}"),
        "{}",
        dl[0].message
    );
    // open, then two requests (call, save, commit, reply each).
    assert_eq!(dl[0].trace.as_ref().map(|t| t.steps.len()), Some(12));
}

#[test]
fn the_shipped_system_binds_three_channels_and_restarts_only_the_driver() {
    let f = fixture("shipped system");
    let Input::System(_) = f.input else {
        panic!("not a system fixture")
    };
    let (_, r) = run(&f).expect("verify");
    let names: Vec<&str> = r
        .checked
        .iter()
        .map(|c| c.composition.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "client.serial <-> serial.client",
            "recovery_monitor.serial_lc <-> serial.monitor",
            "client.monitor <-> recovery_monitor.serial_client"
        ]
    );
    let serial = &r.checked[0];
    assert_eq!(serial.composition.crash_side, Some(0));
    // Finding F1 is fixed: after a cold or tombstone restart while the client
    // holds a session, the driver's observer begins in `reset`, which answers
    // the client's next request `restarted` (or `stopped`).
    assert!(serial.ok(), "{:?}", serial.exploration.findings);
    assert!(!serial.composition.stale.is_empty());
    // The lifecycle channel: every restart notifies `ready`.
    let lc = &r.checked[1];
    assert!(lc.composition.restart_notify.is_some());
    assert!(lc.ok(), "{:?}", lc.exploration.findings);
    // The control channel: no restarts at all.
    assert_eq!(r.checked[2].composition.crash_side, None);
    assert!(r.checked[2].ok());
}

#[test]
fn counterexamples_are_written_as_dot_and_svg() {
    let (c, r) = run(&fixture("deadlocking pair")).expect("verify");
    let dir = std::env::temp_dir().join(format!("tingu-verify-charts-{}", std::process::id()));
    let files = r.write_charts(&c.spec, &dir).expect("write");
    let dots: Vec<_> = files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "dot"))
        .collect();
    assert_eq!(
        dots.len(),
        r.checked[0]
            .exploration
            .findings
            .iter()
            .filter(|f| f.trace.is_some())
            .count()
    );
    let text = std::fs::read_to_string(dots[0]).expect("read");
    assert!(text.starts_with("digraph counterexample"), "{text}");
    assert!(text.contains("req()"), "{text}");
    if tingu::dot::dot_available() {
        assert!(files
            .iter()
            .any(|f| f.extension().is_some_and(|e| e == "svg")));
    } else {
        eprintln!("skipped SVG: graphviz `dot` not installed");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn more_crashes_mean_more_states_and_zero_crashes_no_restart_steps() {
    let spec = |crashes: u8| {
        let mut f = fixture("good");
        f.options = Options::default();
        f.options.restart.max_crashes = crashes;
        let (_, r) = run(&f).expect("verify");
        r.checked[0].exploration.states
    };
    let (s0, s1, s2, s3) = (spec(0), spec(1), spec(2), spec(3));
    assert!(s0 < s1 && s1 < s2 && s2 < s3, "{s0} {s1} {s2} {s3}");
}

/// Finding F1 in miniature: without a restart state, a cold or tombstone
/// start while the client is idle in a session makes the driver's side
/// refuse the client's next request; with one, it is answered.
#[test]
fn without_a_restart_state_a_restart_while_idle_loses_the_session() {
    let (_, r) = run(&fixture("session without a restart state")).expect("verify");
    let rec = r.checked[0].findings("reception");
    assert!(!rec.is_empty());
    for f in &rec {
        assert!(f.message.contains("not allowed in `idle`"), "{}", f.message);
        let t = f.trace.as_ref().expect("trace");
        assert!(t.steps.iter().any(|(k, _)| matches!(
            k,
            StepKind::Crash {
                mode: tingu::verify::RestartMode::Cold | tingu::verify::RestartMode::Tombstone,
                answered: None,
                ..
            }
        )));
    }
    let (_, r) = run(&fixture("session with a restart state")).expect("verify");
    assert!(r.checked[0].ok(), "{:?}", r.checked[0].exploration.findings);
}

/// States entered only through a restart are expected on the side that
/// restarts (and reported if no restart reaches them), never on the other.
#[test]
fn restart_states_are_expected_only_on_the_side_that_restarts() {
    let (_, r) = run(&fixture("session with a restart state, warm restarts only")).expect("verify");
    let ch = &r.checked[0];
    let mut unreached = ch.exploration.unreached.clone();
    unreached.sort();
    let want: Vec<(usize, String)> = [
        (0, "dead"),
        (0, "dying"),
        (0, "reset"),
        (0, "stale"),
        (1, "dead"),
        (1, "dying"),
    ]
    .iter()
    .map(|&(s, n)| (s, n.to_string()))
    .collect();
    assert_eq!(unreached, want);
}
