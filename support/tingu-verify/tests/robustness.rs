//! The checker never panics, whatever the (valid) specification and options,
//! and a composition it cannot build is reported as not verified while the
//! others are still checked.

use tingu::verify::{self, Commit, Options, RestartMode};
use tingu_verify::{fixtures_dir, repo};

fn all_specs() -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "tingu"))
        .collect();
    v.push(repo().join("drivers/serial/api/serial.tingu"));
    v.push(repo().join("support/tingu/tests/specs/asix.tingu"));
    v.sort();
    v
}

#[test]
fn every_spec_under_every_restart_model_is_checked_without_panicking() {
    let modes = [
        vec![],
        vec![RestartMode::Warm],
        vec![RestartMode::Cold],
        vec![RestartMode::Tombstone],
        vec![RestartMode::Lossy],
        vec![
            RestartMode::Warm,
            RestartMode::Cold,
            RestartMode::Tombstone,
            RestartMode::Lossy,
        ],
    ];
    let mut runs = 0;
    for spec in all_specs() {
        let compiled = tingu::compile_files(&[&spec]).unwrap_or_else(|d| panic!("{d}"));
        for crashes in 0..=3u8 {
            for m in &modes {
                for commit in [
                    Commit::Atomic,
                    Commit::EffectThenMark,
                    Commit::MarkThenEffect,
                ] {
                    let mut o = Options::default();
                    o.restart.max_crashes = crashes;
                    o.restart.modes = m.clone();
                    o.restart.commit = commit;
                    let r = verify::verify_spec(&compiled, &o).expect("verify");
                    for c in &r.checked {
                        assert!(!c.exploration.truncated);
                        // Without crashes no restart semantics can matter.
                        if crashes == 0 || m.is_empty() {
                            assert!(
                                c.holds("exactly-once"),
                                "{}: {:?}",
                                spec.display(),
                                c.exploration.findings
                            );
                        }
                        // Every finding but reachability has a trace that
                        // starts at the initial state.
                        for f in &c.exploration.findings {
                            assert_eq!(f.trace.is_none(), f.property == "reachability", "{f:?}");
                        }
                    }
                    let _ = r.text(&compiled.spec);
                    runs += 1;
                }
            }
        }
    }
    assert!(runs > 100);
}

#[test]
fn a_composition_the_checker_cannot_build_is_not_verified_but_the_others_are() {
    // A spawn key computed from an argument: not supported by the checker.
    let src = "
        protocol Bus {
            in  open(addr: u8) = 1 call;
            out opened(addr: u8) = 0x101 reply to open;
            subport Pipe pipe[2];
            initial state ready { ?open(a) / spawn pipe(a + 1) -> opening; }
            state opening { !opened -> ready; }
        }
        protocol Pipe {
            key addr;
            in  xfer(addr: u8) = 0x30 call;
            out done(addr: u8) = 0x130 reply to xfer;
            initial state idle { ?xfer -> busy; }
            state busy { !done -> idle; }
        }
        protocol Echo {
            in  ping() = 2 call;
            out pong() = 0x102 reply to ping;
            initial state idle { ?ping -> busy; }
            state busy { !pong -> idle; }
        }";
    let compiled = tingu::compile_sources(&[("t.tingu", src)]).unwrap_or_else(|d| panic!("{d}"));
    let r = verify::verify_spec(&compiled, &Options::default()).expect("verify");
    assert!(!r.ok());
    assert_eq!(r.unsupported.len(), 1, "{:?}", r.unsupported);
    assert!(
        r.unsupported[0].contains("spawn key"),
        "{:?}",
        r.unsupported
    );
    assert_eq!(r.checked.len(), 1, "Echo is still checked");
    assert!(r.text(&compiled.spec).contains("NOT VERIFIED"));
}
