//! `figures`: the seL4 benchmarks' reports, records and README tables.
//!
//! ```text
//! figures bench CLEAN_LOG FAULTED_LOG [RECORD_OPTS]    restart phases, throughput
//! figures observers ON_LOG OFF_LOG COST_LOG [RECORD_OPTS]  observers' cost
//! figures readme [--check] README DIR                  render README tables from DIR/*.json
//! RECORD_OPTS: --record FILE --board B --config C --commit X --date YYYY-MM-DD
//! ```

use figures::bench::Bench;
use figures::console::{diags, parse_check_cost, parse_run};
use figures::observers::Observers;
use figures::readme::{render, Records};
use figures::Made;
use std::path::Path;
use std::process::ExitCode;

const USAGE: &str = "usage: figures bench CLEAN_LOG FAULTED_LOG [OPTS] | observers ON_LOG OFF_LOG COST_LOG [OPTS] | readme [--check] README DIR
OPTS: --record FILE --board B --config C --commit X --date YYYY-MM-DD (all five to record)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("figures: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Positional arguments and the record options.
struct Opts<'a> {
    pos: Vec<&'a str>,
    record: Option<(String, Made)>,
    check: bool,
}

fn opts(args: &[String]) -> Result<Opts<'_>, String> {
    let mut pos = Vec::new();
    let mut kv = std::collections::BTreeMap::new();
    let mut check = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--check" => check = true,
            k @ ("--record" | "--board" | "--config" | "--commit" | "--date") => {
                let v = it.next().ok_or(format!("{k} needs a value"))?;
                kv.insert(k, v.clone());
            }
            k if k.starts_with("--") => return Err(format!("unknown option {k}\n{USAGE}")),
            p => pos.push(p),
        }
    }
    let record = if kv.is_empty() {
        None
    } else {
        let get = |k: &str| {
            kv.get(k).cloned().filter(|v| !v.is_empty()).ok_or(format!(
                "recording needs {k} (all of --record --board --config --commit --date)"
            ))
        };
        Some((
            get("--record")?,
            Made {
                board: get("--board")?,
                config: get("--config")?,
                commit: get("--commit")?,
                date: get("--date")?,
            },
        ))
    };
    Ok(Opts { pos, record, check })
}

fn unrecorded() -> Made {
    Made {
        board: "(board?)".into(),
        config: "(config?)".into(),
        commit: "(not recorded)".into(),
        date: "-".into(),
    }
}

fn write_record<T: serde::Serialize>(path: &str, r: &T) -> Result<(), String> {
    let json = serde_json::to_string_pretty(r).map_err(|e| format!("{path}: {e}"))?;
    std::fs::write(path, json + "\n").map_err(|e| format!("{path}: {e}"))?;
    println!("figures: recorded in {path}");
    Ok(())
}

fn run(args: &[String]) -> Result<(), String> {
    let Some((cmd, rest)) = args.split_first() else {
        return Err(USAGE.into());
    };
    let o = opts(rest)?;
    let (path, made) = o
        .record
        .clone()
        .map_or((None, unrecorded()), |(p, m)| (Some(p), m));
    match (cmd.as_str(), o.pos.as_slice()) {
        ("bench", [clean, faulted]) => {
            let b = Bench::measure(
                made,
                &parse_run(&diags(clean)?),
                &parse_run(&diags(faulted)?),
            )?;
            print!("{}", b.report());
            path.map_or(Ok(()), |p| write_record(&p, &b))
        }
        ("observers", [on, off, cost]) => {
            let c = parse_check_cost(&diags(cost)?).ok_or(format!(
                "{cost}: no \"check-cost: serial ...\" line (built with check-cost?)"
            ))?;
            let r = Observers::measure(made, c, &parse_run(&diags(on)?), &parse_run(&diags(off)?))?;
            print!("{}", r.report());
            path.map_or(Ok(()), |p| write_record(&p, &r))
        }
        ("readme", [readme, dir]) => {
            let rec = Records::load(Path::new(dir))?;
            let text = std::fs::read_to_string(readme).map_err(|e| format!("{readme}: {e}"))?;
            let new = render(&text, &rec.tables())?;
            if o.check {
                if new != text {
                    return Err(format!(
                        "{readme}: figure tables differ from {dir}/*.json (make readme-figures)"
                    ));
                }
            } else if new != text {
                std::fs::write(readme, new).map_err(|e| format!("{readme}: {e}"))?;
                println!("figures: {readme} tables rendered from {dir}");
            }
            Ok(())
        }
        ("--help" | "-h", []) => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(USAGE.into()),
    }
}
