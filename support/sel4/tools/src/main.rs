//! Host tools for the Makefile's seL4 targets.
//!
//! ```text
//! sel4-tools check-escalation LOG        warm x8 -> cold -> stop, client told, nothing hangs
//! ```
//!
//! The benchmarks' figures are the root workspace's `figures` tool.
//!
//! Logs are QEMU serial captures: diagnostic lines are the SO (0x0e) .. SI
//! (0x0f) spans.

use std::process::ExitCode;

const USAGE: &str = "usage: sel4-tools check-escalation LOG";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["check-escalation", log] => check_escalation(log),
        ["--help"] | ["-h"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(USAGE.into()),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sel4-tools: {e}");
            ExitCode::FAILURE
        }
    }
}

fn diags(path: &str) -> Result<Vec<String>, String> {
    let console = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    Ok(frames::check::split(&console).diags)
}

fn check_escalation(log: &str) -> Result<(), String> {
    let d = diags(log)?;
    let decisions: Vec<&str> = d
        .iter()
        .filter_map(|l| l.strip_prefix("monitor: serial -> "))
        .filter_map(|l| l.split_once(" restart, epoch "))
        .map(|(decision, _)| decision)
        .collect();
    for l in &d {
        println!("  {l}");
    }
    let want = [
        "warm",
        "warm",
        "warm",
        "warm",
        "warm",
        "warm",
        "warm",
        "warm",
        "cold(budget)",
        "stop",
    ];
    let has = |s: &str| d.iter().any(|l| l.contains(s));
    let mut failed = Vec::new();
    if decisions != want {
        failed.push(format!("decisions {decisions:?}, expected {want:?}"));
    }
    for needle in [
        "monitor: serial stopped for good; clients told",
        "failed: driver stopped (epoch 10); stream abandoned",
        "client: the monitor reports the serial driver stopped",
        "monitor: serial restarted: tombstone start epoch 10",
    ] {
        if !has(needle) {
            failed.push(format!("no line with {needle:?}"));
        }
    }
    if failed.is_empty() {
        println!(
            "check-escalation: ok: {} -> clients told",
            decisions.join(", ")
        );
        Ok(())
    } else {
        Err(format!(
            "check-escalation FAILED:\n  {}",
            failed.join("\n  ")
        ))
    }
}
