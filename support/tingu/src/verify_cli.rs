//! `tingu verify`: model-check every bound channel of a system description,
//! or the compositions of specification files, restarts included.
//!
//! Exit status: 0 if every property holds, 1 on a violation (or a
//! specification or binding error), 2 on usage or I/O errors.

use std::path::PathBuf;
use std::process::ExitCode;

use tingu::verify::{self, promela, Commit, Options, RestartMode};

/// `tingu verify --help`.
pub const USAGE: &str = "usage: tingu verify [options] <system.xml | files.tingu...>
  Model-checks every bound channel of a system description (or the
  compositions of specification files), driver restarts included:
  deadlock, reception, progress, reachability, timeout, exactly-once
  (docs/verification.md).
options:
  --crashes N            most crashes of the driver per run (default 2)
  --restarts MODES       restart modes, comma-separated: warm,cold,tombstone,lossy
                         (default warm,cold,tombstone)
  --commit DISCIPLINE    atomic (default), effect-then-mark, mark-then-effect
  --max-states N         give up (and fail) beyond N states (default 20000000)
  --charts DIR           write every counterexample as Graphviz (and SVG)
  --promela DIR          write the Promela models
  --spin                 also run Spin on each model and compare its verdicts
  -h, --help             this text
exit status: 0 every property holds, 1 a violation (or a spec, system or
binding error, or a disagreement with Spin), 2 usage or I/O errors";

pub fn main(args: &[String]) -> ExitCode {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tingu verify: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    let mut opts = Options::default();
    let mut files: Vec<PathBuf> = Vec::new();
    let mut charts: Option<PathBuf> = None;
    let mut promela_dir: Option<PathBuf> = None;
    let mut spin = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--crashes" => {
                opts.restart.max_crashes = val()?.parse().map_err(|e| format!("--crashes: {e}"))?
            }
            "--restarts" => {
                opts.restart.modes = val()?
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|m| RestartMode::from_name(m).ok_or(format!("unknown restart mode {m:?}")))
                    .collect::<Result<_, _>>()?
            }
            "--commit" => {
                let v = val()?;
                opts.restart.commit =
                    Commit::from_name(&v).ok_or(format!("unknown commit discipline {v:?}"))?
            }
            "--max-states" => {
                opts.max_states = val()?.parse().map_err(|e| format!("--max-states: {e}"))?
            }
            "--charts" => charts = Some(PathBuf::from(val()?)),
            "--promela" => promela_dir = Some(PathBuf::from(val()?)),
            "--spin" => spin = true,
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s => files.push(PathBuf::from(s)),
        }
    }
    if files.is_empty() {
        return Err("no system file or specification given".into());
    }
    let system = files.len() == 1 && files[0].extension().is_some_and(|e| e == "xml");
    let (compiled, report) = if system {
        match verify::verify_system(&files[0], &opts) {
            Ok((s, r)) => (s.compiled, r),
            Err(errs) => {
                for e in &errs {
                    eprintln!("{e}");
                }
                eprintln!("tingu verify: {} error(s)", errs.len());
                return Ok(ExitCode::from(1));
            }
        }
    } else {
        let compiled = match tingu::compile_files(&files) {
            Ok(c) => c,
            Err(d) => {
                eprint!("{d}");
                eprintln!("tingu: {} error(s)", d.error_count());
                return Ok(ExitCode::from(1));
            }
        };
        match verify::verify_spec(&compiled, &opts) {
            Ok(r) => (compiled, r),
            Err(e) => {
                eprintln!("{e}");
                return Ok(ExitCode::from(1));
            }
        }
    };
    let spec = &compiled.spec;
    print!("{}", report.text(spec));
    if let Some(dir) = &charts {
        let files = report
            .write_charts(spec, dir)
            .map_err(|e| format!("writing charts to {}: {e}", dir.display()))?;
        for f in files {
            println!("wrote {}", f.display());
        }
    }
    let mut disagree = false;
    if spin || promela_dir.is_some() {
        let dir = match &promela_dir {
            Some(d) => d.clone(),
            None => std::env::temp_dir().join(format!("tingu-spin-{}", std::process::id())),
        };
        for c in &report.checked {
            let pml = match promela::export(spec, &c.composition) {
                Ok(p) => p,
                Err(e) => {
                    println!("promela {}: not exported: {e}", c.composition.name);
                    continue;
                }
            };
            let file = promela::write(&dir, &c.composition.name, &pml)
                .map_err(|e| format!("writing Promela to {}: {e}", dir.display()))?;
            println!("promela {}: {}", c.composition.name, file.display());
            if spin {
                match promela::run_spin(&file) {
                    Ok(s) => {
                        let cmp = promela::compare(c, &s);
                        print!("{cmp}");
                        disagree |= !cmp.agree;
                    }
                    Err(e) => {
                        println!("spin {}: {e}", c.composition.name);
                        disagree = true;
                    }
                }
            }
        }
        if promela_dir.is_none() {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    Ok(if report.ok() && !disagree {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
