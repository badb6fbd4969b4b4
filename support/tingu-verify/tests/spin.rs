//! Our checker and Spin agree on every fixture: the verdict of every
//! property, the unreached states, and the number of states (the Promela
//! export has exactly the explorer's state variables, so the counts are
//! equal, not just close).

use tingu::verify::promela;
use tingu_verify::{fixtures, run, spin_or_skip};

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
    // Two at a time (CI has two cores).
    let mut failures = Vec::new();
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
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
