//! Check a captured console log (e.g. QEMU's serial output): the client's
//! stream must be exact and the monitor's log must show the expected faults.
//!
//! Usage: log-check <log> [--min-bytes N] [--min-faults N] [--max-faults N]
//!                  [--kinds a,b,..] [--all-warm] [--no-stream] [--account]
//!                  [--expect TEXT]... [--expect-console TEXT]... [--decisions d1,d2,..]
//!
//! `--account` prints the byte accounting of the stream (lost, duplicated,
//! resent after an explicit error, single-byte window repeats, corrupt, with
//! where each was found) instead of requiring it exact, and fails if
//! anything was lost, duplicated or corrupted;
//! `--no-stream` skips the exactness check (for runs where a cold start
//! makes the client resend, explicitly); `--expect` requires a diagnostic
//! line containing TEXT; `--expect-console` a console line containing TEXT
//! (also outside the PDs' framed diagnostics: Microkit's own monitor, the
//! kernel); `--decisions` requires exactly these monitor
//! decisions, in order.

use std::process::ExitCode;
use system_tests::{check_run, percentile, Expect};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    const USAGE: &str = "usage: log-check <log> [--min-bytes N] [--min-faults N] [--max-faults N] [--kinds a,b] [--all-warm] [--no-stream] [--account] [--expect TEXT].. [--expect-console TEXT].. [--decisions d1,d2,..]";
    let Some(path) = args.next() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    if path == "--help" || path == "-h" {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let mut account = false;
    let mut expect = Expect::default();
    let mut no_stream = false;
    let mut max_faults = usize::MAX;
    let mut lines: Vec<String> = Vec::new();
    let mut console_lines: Vec<String> = Vec::new();
    let mut decisions: Option<Vec<String>> = None;
    while let Some(a) = args.next() {
        let mut num = |name: &str| -> Result<usize, String> {
            args.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{name} needs a number"))
        };
        let r = match a.as_str() {
            "--min-bytes" => num("--min-bytes").map(|n| expect.min_bytes = n),
            "--min-faults" => num("--min-faults").map(|n| expect.min_faults = n),
            "--kinds" => args
                .next()
                .map(|v| expect.kinds = v.split(',').map(str::to_string).collect())
                .ok_or_else(|| "--kinds needs a list".to_string()),
            "--all-warm" => {
                expect.all_warm = true;
                Ok(())
            }
            "--no-stream" => {
                no_stream = true;
                Ok(())
            }
            "--account" => {
                account = true;
                Ok(())
            }
            "--max-faults" => num("--max-faults").map(|n| max_faults = n),
            "--expect" => args
                .next()
                .map(|v| lines.push(v))
                .ok_or_else(|| "--expect needs a text".to_string()),
            "--expect-console" => args
                .next()
                .map(|v| console_lines.push(v))
                .ok_or_else(|| "--expect-console needs a text".to_string()),
            "--decisions" => args
                .next()
                .map(|v| decisions = Some(v.split(',').map(str::to_string).collect()))
                .ok_or_else(|| "--decisions needs a list".to_string()),
            other => Err(format!("unknown option {other}")),
        };
        if let Err(e) = r {
            eprintln!("log-check: {e}");
            return ExitCode::from(2);
        }
    }
    let console = match std::fs::read(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("log-check: {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let diags = system_tests::split(&console).diags;
    let log = system_tests::MonitorLog::parse(&diags);
    let text = String::from_utf8_lossy(&console);
    for want in &console_lines {
        if !text.lines().any(|l| l.contains(want.as_str())) {
            eprintln!("log-check: FAILED: no console line contains {want:?}");
            return ExitCode::FAILURE;
        }
    }
    for want in &lines {
        if !diags.iter().any(|d| d.contains(want.as_str())) {
            eprintln!("log-check: FAILED: no diagnostic line contains {want:?}");
            return ExitCode::FAILURE;
        }
    }
    if log.faults.len() > max_faults {
        eprintln!(
            "log-check: FAILED: {} faults, at most {max_faults} expected",
            log.faults.len()
        );
        return ExitCode::FAILURE;
    }
    if let Some(want) = &decisions {
        let got: Vec<&String> = log.decisions.iter().map(|(_, d)| d).collect();
        if got.len() != want.len() || got.iter().zip(want).any(|(a, b)| *a != b) {
            eprintln!("log-check: FAILED: decisions {got:?}, expected {want:?}");
            return ExitCode::FAILURE;
        }
    }
    if account {
        return match frames::check::account(&console) {
            Ok(a) => {
                println!(
                    "log-check: account: frames {} ending {:?}: lost {} duplicated {} corrupt {} resent {} window-repeats {} matched {}",
                    a.frames,
                    a.ending,
                    a.lost,
                    a.duplicated,
                    a.corrupt,
                    a.resent,
                    a.repeats.len(),
                    a.matched
                );
                for (what, stream, console, n) in &a.anomalies {
                    println!("log-check:   {what} {n} bytes at stream offset {stream} (console offset {console})");
                }
                if a.clean() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!("log-check: FAILED: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if no_stream {
        println!(
            "log-check: {} expected lines found; faults {} by kind {:?}; decisions {:?}",
            lines.len(),
            log.faults.len(),
            log.kinds(),
            log.decisions
                .iter()
                .map(|(_, d)| d.as_str())
                .collect::<Vec<_>>()
        );
        return ExitCode::SUCCESS;
    }
    match check_run(&console, &expect) {
        Ok((v, log)) => {
            let mut totals: Vec<u64> = log.restarts.iter().map(|r| r.us[4]).collect();
            totals.sort_unstable();
            println!(
                "log-check: stream exact: {} frames, {} bytes (seed {})",
                v.frames, v.bytes, v.seed
            );
            println!(
                "log-check: faults {} by kind {:?}",
                log.faults.len(),
                log.kinds()
            );
            println!(
                "log-check: restarts completed {} (p50 {} us, p99 {} us)",
                log.restarts.len(),
                percentile(&totals, 50.0),
                percentile(&totals, 99.0)
            );
            ExitCode::SUCCESS
        }
        Err(f) => {
            eprintln!("log-check: FAILED: {f}");
            ExitCode::FAILURE
        }
    }
}
