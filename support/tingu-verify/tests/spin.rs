//! Our checker and Spin agree on every fixture: the verdict of every
//! property, the unreached states, and the number of states (the Promela
//! export has exactly the explorer's state variables, so the counts are
//! equal, not just close). Spin's deadlock verdict is its own check of
//! invalid end states (`end` labels only where both sides are at rest), so
//! the fixtures that deadlock must be reported by pan as invalid end states.

use tingu::verify::promela;
use tingu_verify::{fixtures, run, spin_or_skip};

/// Fixtures whose deadlock Spin must find as an invalid end state, and
/// fixtures where it must find none (an end that is valid only because it
/// is declared resting).
const DEADLOCKS: &[&str] = &[
    "deadlocking pair",
    "lost wakeup",
    "lost wakeup, with restarts",
    "resting end state, undeclared",
];
const NO_DEADLOCK: &[&str] = &["resting end state", "good", "shipped system"];

#[test]
fn spin_agrees_with_our_checker_on_every_fixture() {
    if let Err(skip) = spin_or_skip() {
        eprintln!("{skip}");
        return;
    }
    let dir = std::env::temp_dir().join(format!("tingu-verify-spin-{}", std::process::id()));
    let mut jobs = Vec::new();
    for (fi, f) in fixtures().into_iter().enumerate() {
        let (c, r) = run(&f).unwrap_or_else(|e| panic!("{}: {e}", f.name));
        for (ci, ch) in r.checked.into_iter().enumerate() {
            let pml = promela::export(&c.spec, &ch.composition).unwrap_or_else(|e| {
                panic!("{}: {}: not exported: {e}", f.name, ch.composition.name)
            });
            let file = promela::write(&dir, &format!("{fi}-{ci}-{}", ch.composition.name), &pml)
                .expect("write Promela");
            jobs.push((f.name, ch, file));
        }
    }
    for name in DEADLOCKS.iter().chain(NO_DEADLOCK) {
        assert!(jobs.iter().any(|(n, _, _)| n == name), "no fixture {name}");
    }
    // Two at a time (CI has two cores).
    let mut failures = Vec::new();
    // Per fixture: whether Spin found an invalid end state in some composition.
    let mut invalid_end: Vec<(&str, bool)> = Vec::new();
    for pair in jobs.chunks(2) {
        let results: Vec<_> = std::thread::scope(|s| {
            let hs: Vec<_> = pair
                .iter()
                .map(|(_, _, file)| s.spawn(move || promela::run_spin(file)))
                .collect();
            hs.into_iter()
                .map(|h| h.join().expect("spin thread"))
                .collect()
        });
        for ((name, ch, _), res) in pair.iter().zip(results) {
            let s = res.unwrap_or_else(|e| panic!("{name}: {}: spin: {e}", ch.composition.name));
            let cmp = promela::compare(ch, &s);
            eprint!("{name}: {cmp}");
            if !cmp.agree || cmp.states.0 as u64 != cmp.states.1 {
                failures.push(format!("{name}: {cmp}"));
            }
            let dl = s.run("deadlock").expect("a deadlock run");
            let invalid = dl.violated
                && dl
                    .error
                    .as_deref()
                    .is_some_and(|e| e.contains("invalid end state"));
            if dl.violated && !invalid {
                failures.push(format!(
                    "{name}: {}: Spin's deadlock run failed otherwise: {:?}",
                    ch.composition.name, dl.error
                ));
            }
            match invalid_end.iter_mut().find(|(n, _)| n == name) {
                Some((_, x)) => *x |= invalid,
                None => invalid_end.push((name, invalid)),
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    for (name, invalid) in &invalid_end {
        if DEADLOCKS.contains(name) && !invalid {
            failures.push(format!("{name}: Spin found no invalid end state"));
        }
        if NO_DEADLOCK.contains(name) && *invalid {
            failures.push(format!("{name}: Spin found an invalid end state"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
