//! Model checking of protocol compositions, driver restarts included.
//!
//! Every bound channel (a port and its mirror, from `system.xml` or from
//! specification files) is composed with the monitor's restart semantics:
//! the driver may crash at any step, and is restarted warm (state kept,
//! request replayed), cold (state reset to the protocols' restart states,
//! `restarted` reply) or as a tombstone (`stopped` to everything), up to a
//! bound on crashes. The state
//! space is explored exhaustively, breadth first, and six properties are
//! checked separately: deadlock (stopping anywhere but in the resting
//! states the protocols declare: initial, final, `idle`), unspecified
//! reception, progress,
//! reachability, timeout states and exactly-once. Every violation comes with
//! the shortest run showing it, as a sequence chart. The same compositions
//! are exported to Promela ([`promela`]) to cross-check with Spin.
//!
//! The semantics and every property's definition are in
//! `docs/verification.md`.
//!
//! ```
//! use tingu::verify::{self, Options};
//! let c = tingu::compile_sources(&[("p.tingu", "
//!     protocol P {
//!         in  req() = 1 call;
//!         out ack() = 0x101 reply to req;
//!         out restarted() = 0x1f0 reply;
//!         out stopped() = 0x1f1 reply;
//!         initial state idle { ?req -> busy; !restarted -> idle; !stopped -> dead; }
//!         state busy { !ack -> idle; !restarted -> idle; !stopped -> dead; }
//!         state dead { ?req -> dying; }
//!         state dying { !stopped -> dead; }
//!     }")]).unwrap();
//! let report = verify::verify_spec(&c, &Options::default()).unwrap();
//! assert!(report.ok(), "{}", report.text(&c.spec));
//! ```
//!
//! What must never happen: a "verified" verdict for a composition that was
//! not explored completely (a truncated exploration is a failure), or a
//! panic on any specification or system file.

pub mod bind;
pub mod chart;
pub mod explore;
pub mod model;
pub mod promela;

use std::fmt::Write as _;
use std::path::Path;

pub use explore::{Exploration, Finding, Trace, PROPERTIES};
pub use model::{Commit, Composition, RestartMode, RestartModel};

use crate::ir::Spec;
use crate::Compiled;

/// Verification options.
#[derive(Clone, Debug)]
pub struct Options {
    /// The restart model.
    pub restart: RestartModel,
    /// Most states per composition (exceeding it fails the composition).
    pub max_states: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            restart: RestartModel::default(),
            max_states: explore::DEFAULT_MAX_STATES,
        }
    }
}

/// One composition and what exploring it found.
#[derive(Clone, Debug)]
pub struct Checked {
    /// The composition.
    pub composition: Composition,
    /// The exploration.
    pub exploration: Exploration,
}

impl Checked {
    /// Whether every property holds and the exploration was complete.
    pub fn ok(&self) -> bool {
        self.exploration.findings.is_empty() && !self.exploration.truncated
    }

    /// Findings of one property.
    pub fn findings(&self, property: &str) -> Vec<&Finding> {
        self.exploration
            .findings
            .iter()
            .filter(|f| f.property == property)
            .collect()
    }

    /// Whether `property` holds.
    pub fn holds(&self, property: &str) -> bool {
        self.findings(property).is_empty()
    }
}

/// The verification of a set of compositions.
#[derive(Clone, Debug)]
pub struct Report {
    /// Per composition.
    pub checked: Vec<Checked>,
    /// Compositions that could not be built (not verified), with why.
    pub unsupported: Vec<String>,
}

impl Report {
    /// Whether every composition passed.
    pub fn ok(&self) -> bool {
        self.checked.iter().all(Checked::ok) && self.unsupported.is_empty()
    }

    /// The composition called `name`.
    pub fn get(&self, name: &str) -> Option<&Checked> {
        self.checked.iter().find(|c| c.composition.name == name)
    }

    /// Number of violations.
    pub fn violations(&self) -> usize {
        self.checked
            .iter()
            .map(|c| c.exploration.findings.len() + usize::from(c.exploration.truncated))
            .sum::<usize>()
            + self.unsupported.len()
    }

    /// The report as text: per composition, the model, state counts and
    /// time, each property's verdict, and every counterexample as a chart.
    pub fn text(&self, spec: &Spec) -> String {
        let mut o = String::new();
        for c in &self.checked {
            let comp = &c.composition;
            let e = &c.exploration;
            let _ = writeln!(o, "composition {}", comp.name);
            let _ = writeln!(o, "  protocol    {}", spec.protocols[comp.protocol].name);
            match comp.crash_side {
                Some(d) => {
                    let modes: Vec<&str> = comp.restart.modes.iter().map(|m| m.name()).collect();
                    let _ = writeln!(
                        o,
                        "  restarts    {} may crash at any step, at most {} time(s); restarts: {}; commit: {}",
                        comp.sides[d].label,
                        comp.restart.max_crashes,
                        modes.join(", "),
                        comp.restart.commit.name()
                    );
                }
                None => {
                    let _ = writeln!(o, "  restarts    none (neither side has a restart policy)");
                }
            }
            for side in &comp.sides {
                if side.ports.len() > 1 {
                    let env: Vec<&str> = side.ports[1..].iter().map(|p| p.name.as_str()).collect();
                    let _ = writeln!(
                        o,
                        "  env ports   {}: {} (dependencies; their peers conform)",
                        side.label,
                        env.join(", ")
                    );
                }
            }
            if !comp.abstracted_args.is_empty() {
                let _ = writeln!(
                    o,
                    "  arguments   represented by finite sets: {}",
                    comp.abstracted_args.join(", ")
                );
            }
            let _ = writeln!(
                o,
                "  explored    {} states, {} transitions, depth {}, {}{}",
                e.states,
                e.transitions,
                e.depth,
                secs(e.seconds),
                if e.truncated {
                    " -- TRUNCATED (state bound hit): not verified"
                } else {
                    ""
                }
            );
            for p in PROPERTIES {
                let fs = c.findings(p);
                if fs.is_empty() {
                    let _ = writeln!(o, "  {p:<13} ok");
                    continue;
                }
                for f in fs {
                    let _ = writeln!(o, "  {p:<13} VIOLATED: {}", f.message);
                    if let Some(t) = &f.trace {
                        let _ =
                            writeln!(o, "    shortest counterexample ({} steps):", t.steps.len());
                        let viol = t
                            .steps
                            .last()
                            .and_then(|(_, n)| n.is_none().then_some(f.message.as_str()));
                        for line in chart::text(spec, comp, t, viol).lines() {
                            let _ = writeln!(o, "    {line}");
                        }
                    }
                }
            }
            o.push('\n');
        }
        for u in &self.unsupported {
            let _ = writeln!(o, "NOT VERIFIED: {u}\n");
        }
        let total_states: usize = self.checked.iter().map(|c| c.exploration.states).sum();
        let total_time: f64 = self.checked.iter().map(|c| c.exploration.seconds).sum();
        let _ = writeln!(
            o,
            "{} composition(s), {} states, {}: {}",
            self.checked.len(),
            total_states,
            secs(total_time),
            if self.ok() {
                "every property holds".to_string()
            } else {
                format!("{} violation(s)", self.violations())
            }
        );
        o
    }

    /// Write every counterexample as Graphviz (`<dir>/<n>-<property>.dot`)
    /// and, when `dot` is installed, SVG. Returns the files written.
    pub fn write_charts(
        &self,
        spec: &Spec,
        dir: &Path,
    ) -> std::io::Result<Vec<std::path::PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let have_dot = crate::dot::dot_available();
        let mut files = Vec::new();
        for (ci, c) in self.checked.iter().enumerate() {
            for (fi, f) in c.exploration.findings.iter().enumerate() {
                let Some(t) = &f.trace else { continue };
                let title = format!(
                    "{}: {} violated: {}",
                    c.composition.name, f.property, f.message
                );
                let src = chart::dot(spec, &c.composition, t, &title);
                let base = dir.join(format!("{ci}-{fi}-{}", f.property));
                let dotf = base.with_extension("dot");
                std::fs::write(&dotf, &src)?;
                files.push(dotf);
                if have_dot {
                    let svg = base.with_extension("svg");
                    if crate::dot::svg(&src, &svg).is_ok() {
                        files.push(svg);
                    }
                }
            }
        }
        Ok(files)
    }
}

/// A duration for people: `0.042 ms`, `1.250 s`.
fn secs(s: f64) -> String {
    if s < 1.0 {
        format!("{:.3} ms", s * 1000.0)
    } else {
        format!("{s:.3} s")
    }
}

/// Explore every composition.
pub fn check(spec: &Spec, compositions: Vec<Composition>, opts: &Options) -> Report {
    let checked = compositions
        .into_iter()
        .map(|c| {
            let exploration = explore::explore(spec, &c, opts.max_states);
            Checked {
                composition: c,
                exploration,
            }
        })
        .collect();
    Report {
        checked,
        unsupported: Vec::new(),
    }
}

/// Verify the compositions of specification files (see [`bind::from_spec`]).
pub fn verify_spec(compiled: &Compiled, opts: &Options) -> Result<Report, String> {
    let (comps, unsupported): (Vec<_>, Vec<_>) = bind::from_spec(compiled, &opts.restart)
        .into_iter()
        .partition(|r| r.is_ok());
    let mut report = check(
        &compiled.spec,
        comps.into_iter().filter_map(Result::ok).collect(),
        opts,
    );
    report.unsupported = unsupported.into_iter().filter_map(Result::err).collect();
    Ok(report)
}

/// Verify every bound channel of a system description. Errors (in the system
/// file, the specifications or the bindings) are rendered diagnostics.
pub fn verify_system(path: &Path, opts: &Options) -> Result<(bind::System, Report), Vec<String>> {
    let sys = bind::load_system(path)?;
    let comps = bind::from_system(&sys, &opts.restart)?;
    let report = check(&sys.compiled.spec, comps, opts);
    Ok((sys, report))
}
