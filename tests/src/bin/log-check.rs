//! Check a captured console log (e.g. QEMU's serial output): the client's
//! stream must be exact and the monitor's log must show the expected faults.
//!
//! Usage: log-check <log> [--min-bytes N] [--min-faults N] [--kinds a,b,..] [--all-warm]

use std::process::ExitCode;
use system_tests::{check_run, percentile, Expect};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!(
            "usage: log-check <log> [--min-bytes N] [--min-faults N] [--kinds a,b] [--all-warm]"
        );
        return ExitCode::from(2);
    };
    let mut expect = Expect::default();
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
