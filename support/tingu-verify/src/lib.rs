//! Why this crate exists: the protocol model checker lives in `tingu::verify`
//! (so that `tingu verify` is a subcommand of the one `tingu` tool); this
//! crate holds what proves it right: the fixtures (`fixtures/`: a protocol
//! that survives every restart, a session protocol with a restart state and
//! without one, a deadlocking pair, a non-realizable dependency, a missing
//! reception, dynamic subports, a wakeup lost to coalescing notifications,
//! an end state that is valid only because it is declared `idle`, and
//! restart models that lose or duplicate a request), the expected verdict
//! of each, the cross-check with Spin on every fixture, and the conformance
//! tests that drive the real serial driver on the hosted runtime with
//! message sequences generated from its protocol.
//!
//! What must never happen: a fixture whose verdict changes unnoticed, a Spin
//! cross-check that passes because Spin was not run (it says so, and fails
//! under `REQUIRE_SPIN=1`), or a conformance run that accepts a reply its
//! protocol forbids.

use std::path::{Path, PathBuf};

use tingu::verify::{self, Commit, Options, Report, RestartMode};
use tingu::Compiled;

pub mod conformance;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The fixtures directory.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// What a fixture is verified from.
#[derive(Clone, Debug)]
pub enum Input {
    /// Specification files (compositions of their components and protocols).
    Spec(Vec<PathBuf>),
    /// A system description.
    System(PathBuf),
}

/// A fixture: input, options, and the properties expected to be violated
/// (in any of its compositions).
#[derive(Clone, Debug)]
pub struct Fixture {
    /// Name.
    pub name: &'static str,
    /// Input.
    pub input: Input,
    /// Options.
    pub options: Options,
    /// Properties violated somewhere (all others hold everywhere).
    pub violated: &'static [&'static str],
}

fn opts(f: impl FnOnce(&mut Options)) -> Options {
    let mut o = Options::default();
    f(&mut o);
    o
}

/// Every fixture, with its expected verdicts.
pub fn fixtures() -> Vec<Fixture> {
    let spec = |n: &str| Input::Spec(vec![fixtures_dir().join(n)]);
    vec![
        Fixture {
            name: "good",
            input: spec("good.tingu"),
            options: Options::default(),
            violated: &[],
        },
        Fixture {
            name: "good, restarts that lose the request in flight",
            input: spec("good.tingu"),
            options: opts(|o| o.restart.modes = vec![RestartMode::Warm, RestartMode::Lossy]),
            violated: &["deadlock", "progress", "reachability", "timeout"],
        },
        Fixture {
            name: "good, effect then mark (crash between them)",
            input: spec("good.tingu"),
            options: opts(|o| o.restart.commit = Commit::EffectThenMark),
            violated: &["exactly-once"],
        },
        Fixture {
            name: "good, mark then effect (crash between them)",
            input: spec("good.tingu"),
            options: opts(|o| o.restart.commit = Commit::MarkThenEffect),
            violated: &["exactly-once"],
        },
        Fixture {
            name: "session with a restart state",
            input: spec("session.tingu"),
            options: Options::default(),
            violated: &[],
        },
        Fixture {
            name: "session with a restart state, warm restarts only",
            input: spec("session.tingu"),
            options: opts(|o| o.restart.modes = vec![RestartMode::Warm]),
            // `reset` and `stale` are entered only through a cold or
            // tombstone start, `dead` only through a tombstone.
            violated: &["reachability"],
        },
        Fixture {
            name: "session without a restart state",
            input: spec("session-no-restart.tingu"),
            options: Options::default(),
            // After a cold or tombstone start while the client holds a
            // session, the driver's side (in `idle`) refuses its next request.
            violated: &["reception"],
        },
        Fixture {
            name: "deadlocking pair",
            input: spec("deadlock.tingu"),
            options: Options::default(),
            violated: &["deadlock", "progress", "reachability"],
        },
        Fixture {
            name: "non-realizable dependency",
            input: spec("unrealizable.tingu"),
            options: opts(|o| o.restart.max_crashes = 0),
            violated: &["deadlock", "reachability"],
        },
        Fixture {
            name: "missing reception",
            input: spec("reception.tingu"),
            options: opts(|o| o.restart.max_crashes = 0),
            violated: &["reception"],
        },
        Fixture {
            name: "subports, no crash",
            input: spec("subports.tingu"),
            options: opts(|o| o.restart.max_crashes = 0),
            // `dead` is entered only through a tombstone.
            violated: &["reachability"],
        },
        Fixture {
            name: "subports with restarts",
            input: spec("subports.tingu"),
            options: Options::default(),
            // A cold start forgets the driver's pipes (reception); a call in
            // flight on a pipe has no `restarted` reply to be answered with
            // (deadlock, progress).
            violated: &["deadlock", "progress", "reception"],
        },
        Fixture {
            name: "lost wakeup",
            input: spec("lost-wakeup.tingu"),
            options: opts(|o| o.restart.max_crashes = 0),
            // Two kicks before the consumer runs are one wakeup
            // (notifications coalesce): the consumer waits for a second kick,
            // the producer for `done`.
            violated: &["deadlock"],
        },
        Fixture {
            name: "lost wakeup, with restarts",
            input: spec("lost-wakeup.tingu"),
            options: Options::default(),
            violated: &["deadlock"],
        },
        Fixture {
            name: "resting end state",
            input: spec("resting.tingu"),
            options: opts(|o| o.restart.max_crashes = 0),
            // A spent session stops in `ready`, declared `idle`.
            violated: &[],
        },
        Fixture {
            name: "resting end state, undeclared",
            input: spec("resting-undeclared.tingu"),
            options: opts(|o| o.restart.max_crashes = 0),
            // The same end, in a state not declared resting.
            violated: &["deadlock"],
        },
        Fixture {
            name: "shipped system",
            input: Input::System(repo().join("system.xml")),
            options: Options::default(),
            // Finding F1 (docs/verification.md) is fixed by `SerialStream`'s
            // restart state: every property holds.
            violated: &[],
        },
        Fixture {
            name: "shipped system, warm restarts only",
            input: Input::System(repo().join("system.xml")),
            options: opts(|o| o.restart.modes = vec![RestartMode::Warm]),
            // `reset` and `reset_request` are entered only through a cold or
            // tombstone start, `dead` only through a tombstone.
            violated: &["reachability"],
        },
    ]
}

/// Verify a fixture.
pub fn run(f: &Fixture) -> Result<(Compiled, Report), String> {
    match &f.input {
        Input::Spec(files) => {
            let c = tingu::compile_files(files).map_err(|d| d.to_string())?;
            let r = verify::verify_spec(&c, &f.options)?;
            Ok((c, r))
        }
        Input::System(path) => {
            let (s, r) = verify::verify_system(path, &f.options).map_err(|e| e.join("\n"))?;
            Ok((s.compiled, r))
        }
    }
}

/// Properties violated in a report (sorted, deduplicated).
pub fn violated(r: &Report) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = r
        .checked
        .iter()
        .flat_map(|c| c.exploration.findings.iter().map(|f| f.property))
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Whether Spin can run here. If not: `Err` with the message to print, and
/// a panic instead when `REQUIRE_SPIN=1` (CI), so that a missing Spin never
/// passes silently.
pub fn spin_or_skip() -> Result<(), String> {
    if tingu::verify::promela::spin_available() {
        return Ok(());
    }
    if std::env::var("REQUIRE_SPIN").is_ok_and(|v| v == "1") {
        panic!("REQUIRE_SPIN=1 but spin (or gcc) is not installed");
    }
    Err("skipped: spin not installed".into())
}
