//! The block system's disk, on the host: `blk-disk make IMAGE` formats a
//! disk image for the filesystem client (MBR + FAT16, mkfs.fat);
//! `blk-disk check IMAGE [--log LOG [--min-restarts N]]` judges it
//! afterwards — fsck.fat -n clean, every file mcopy extracts equal to the
//! file set, nothing else — and, with a console log, requires the client's
//! summary line to report the whole file set verified and the driver to
//! have started again at least N times. `blk-disk plan --faults N
//! --suspends M --seed S -o FILE` writes a fault plan for the block driver
//! (its interrupt path, during DMA, on a client notification; crashes,
//! hangs, a corrupted region header, stray writes into its region; the monitor
//! stopping it asynchronously every 150-450 ms); driver faults 60-140 site
//! visits apart (`--gap G`: G/2 to 3G/2), 300 more after one that costs the
//! record. `blk-disk bench-check IMAGE --log LOG` judges a block bench run
//! (the image block by block, the client's phase lines);
//! `blk-disk bench-report --board B --clean LOG --faulted LOG -o JSON`
//! writes the two runs' figures side by side. `blk-disk check-stopped --log
//! LOG` judges a crash loop (`blk-disk plan-loop --system XML --pd PD
//! --first N -o FILE`: a panic at the Nth client notification, then in
//! every start until the policy stops the driver): the driver stopped, the
//! client told.
//!
//! What must never happen: a pass on an image the independent tools did
//! not accept, or on a log without the client's summary.

mod bench;

use blk_fat::{image, workload};
use std::path::Path;
use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!(
        "usage: blk-disk make IMAGE | blk-disk check IMAGE [--log LOG [--min-restarts N]]\n       \
         blk-disk plan --faults N --suspends M --seed S [--gap G] -o FILE\n       \
         blk-disk plan-loop --system XML --pd PD --first N -o FILE\n       \
         blk-disk check-stopped --log LOG\n       \
         blk-disk bench-check IMAGE --log LOG\n       \
         blk-disk bench-report --board B --clean LOG --faulted LOG -o JSON"
    );
    ExitCode::from(2)
}

/// The plan region's size in systems/blk.xml.
const PLAN_REGION: usize = 0x8000;

fn plan(
    faults: usize,
    suspends: usize,
    seed: u64,
    gap: Option<u64>,
    out: &Path,
) -> Result<String, String> {
    use fault_inject::{Kind, Planned, Site};
    let mut rng = fault_inject::Rng::new(seed);
    let sites = [Site::BlkIrq, Site::BlkSubmit, Site::BlkRequest];
    let kinds = [
        Kind::WildWrite,
        Kind::NullRead,
        Kind::Panic,
        Kind::WildJump,
        Kind::Loop,
        Kind::CorruptRegion,
        Kind::Scribble,
    ];
    // One position for every site: the sites are visited about equally
    // often (a request makes a notification, a submission, an interrupt),
    // so an entry fires about that many visits into the run whichever site
    // it is at.
    let mut at = 0u64;
    let mut cold_next = false;
    let mut entries = Vec::new();
    for _ in 0..faults {
        // After a fault that costs the record (a cold start follows), more
        // room: a fault right after a cold start, before any progress, is a
        // crash loop that the policy stops.
        at += match gap {
            None => 60 + rng.below(80),
            Some(g) => g / 2 + rng.below(g.max(1)),
        } + if cold_next { 300 } else { 0 };
        let site = sites[rng.below(sites.len() as u64) as usize];
        let kind = kinds[rng.below(kinds.len() as u64) as usize];
        cold_next = matches!(kind, Kind::CorruptRegion | Kind::Scribble);
        entries.push(Planned::new(site, at, kind));
    }
    for _ in 0..suspends {
        entries.push(Planned::new(
            Site::Monitor,
            150_000 + rng.below(300_000),
            Kind::Suspend,
        ));
    }
    let mut bytes = vec![0u8; PLAN_REGION];
    fault_inject::plan_bytes(&entries, PLAN_REGION, &mut bytes).map_err(|e| e.to_string())?;
    std::fs::write(out, &bytes).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut by_kind = std::collections::BTreeMap::new();
    for e in &entries {
        *by_kind.entry(e.kind.name()).or_insert(0) += 1;
    }
    Ok(format!(
        "{} faults ({by_kind:?}), seed {seed}",
        entries.len()
    ))
}

/// A crash loop for the driver PD `pd` of `system` (its restart policy's
/// `max_faults`): a panic on client notification `first`, then one in
/// each of the next `max_faults` recovers (no progress between them, so
/// the last makes the policy cold-start), then one in that cold start's
/// `init`: the policy stops the driver. Entries fire in order, so the
/// count must be the policy's.
fn plan_loop(system: &Path, pd: &str, first: u64, out: &Path) -> Result<String, String> {
    use fault_inject::{Kind, Planned, Site};
    let sys = sdf::parse_file(system).map_err(|e| e.to_string())?;
    let max_faults = sys
        .pd(pd)
        .and_then(|p| p.restart_policy())
        .map(|r| u64::from(r.max_faults))
        .ok_or_else(|| format!("{}: no restart_policy for {pd}", system.display()))?;
    let mut entries = vec![Planned::new(Site::BlkRequest, first, Kind::Panic)];
    for at in 0..max_faults {
        entries.push(Planned::new(Site::Recover, at, Kind::Panic));
    }
    // Visit 0 of `init` was the first boot.
    entries.push(Planned::new(Site::Init, 1, Kind::Panic));
    let mut bytes = vec![0u8; PLAN_REGION];
    fault_inject::plan_bytes(&entries, PLAN_REGION, &mut bytes).map_err(|e| e.to_string())?;
    std::fs::write(out, &bytes).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(format!(
        "crash loop: a panic at client notification {first}, in the next {max_faults} recovers, and in the cold start's init"
    ))
}

/// The diagnostic lines of a captured console (SO..SI spans, taken apart
/// by `frames::check::split` where a PD preempted another mid-line: every
/// PD of the block system writes to the one console).
fn diag_lines(log: &Path) -> Result<Vec<String>, String> {
    let raw = std::fs::read(log).map_err(|e| format!("{}: {e}", log.display()))?;
    Ok(frames::check::split(&raw).diags)
}

/// Starts of the driver after the first, from its "blk: start epoch N" lines.
fn restarts(lines: &[String]) -> usize {
    lines
        .iter()
        .filter_map(|l| l.split("blk: start epoch ").nth(1))
        .filter_map(|r| r.split(':').next()?.trim().parse::<u64>().ok())
        .filter(|&e| e > 0)
        .count()
}

fn check_log(log: &Path, min_restarts: usize) -> Result<String, String> {
    let lines = diag_lines(log)?;
    let line = lines
        .iter()
        .find(|l| l.contains("fsclient: done:") || l.contains("fsclient: failed:"))
        .ok_or_else(|| {
            format!(
                "{}: no summary line of the filesystem client",
                log.display()
            )
        })?;
    let want = format!(
        "files={} dirs={} written={total} verified={total} mismatched=0 ",
        workload::FILES.len(),
        workload::DIRS.len(),
        total = workload::total_bytes()
    );
    if !line.contains(&want) {
        return Err(format!(
            "{}: the client reported `{line}`, not `{want}`",
            log.display()
        ));
    }
    let n = restarts(&lines);
    if n < min_restarts {
        return Err(format!(
            "{}: the driver started again {n} times, fewer than {min_restarts}",
            log.display()
        ));
    }
    Ok(format!("{} (driver restarts: {n})", line.trim()))
}

/// A crash loop's log: the monitor stopped the driver for good, and the
/// client ended on "stopped" (not a hang, not a false success).
fn check_stopped(log: &Path) -> Result<String, String> {
    let lines = diag_lines(log)?;
    let has = |s: &str| lines.iter().find(|l| l.contains(s));
    if has("monitor: blk stopped for good; clients told").is_none() {
        return Err(format!(
            "{}: the monitor never stopped the driver",
            log.display()
        ));
    }
    if let Some(l) = has("fsclient: done:") {
        return Err(format!(
            "{}: the client says it finished: {}",
            log.display(),
            l.trim()
        ));
    }
    match has("fsclient: failed:") {
        Some(l) if l.contains("Stopped") => Ok(l.trim().to_string()),
        Some(l) => Err(format!(
            "{}: the client failed otherwise: {}",
            log.display(),
            l.trim()
        )),
        None => Err(format!(
            "{}: the client never ended (a hang)",
            log.display()
        )),
    }
}

/// The verdict of one command: its line on stdout, or "FAIL" and why on
/// stderr, and the exit status.
fn finish(r: Result<String, String>) -> ExitCode {
    match r {
        Ok(line) => {
            println!("blk-disk: {line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("blk-disk: FAIL: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `check IMAGE [--log LOG [--min-restarts N]]`: the image by fsck.fat and
/// mcopy, the log by the client's summary line.
fn check(img: &str, log: Option<&Path>, min_restarts: usize) -> Result<String, String> {
    let scratch = std::env::temp_dir().join(format!("blk-disk-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    let verdict = std::fs::read(img)
        .map_err(|e| format!("{img}: {e}"))
        .and_then(|disk| image::check_image(&scratch, &disk));
    let _ = std::fs::remove_dir_all(&scratch);
    verdict?;
    let mut line = format!(
        "{img}: fsck.fat clean, {} files ({} bytes) identical",
        workload::FILES.len(),
        workload::total_bytes()
    );
    if let Some(l) = log {
        line += &format!("\nblk-disk: client: {}", check_log(l, min_restarts)?.trim());
    }
    Ok(line)
}

/// `bench-report`: the two runs' figures, printed and written to `out`.
fn bench_report(board: &str, clean: &Path, faulted: &Path, out: &str) -> Result<String, String> {
    let (c, _) = bench::read_log(clean)?;
    let (f, restarts) = bench::read_log(faulted)?;
    let phases = bench::restart_phases(faulted)?;
    let (table, json) = bench::report(board, &c, &f, restarts, &phases);
    print!("{table}");
    std::fs::write(out, json).map_err(|e| format!("{out}: {e}"))?;
    Ok(format!("figures in {out}"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["make", img] => image::make_image(Path::new(img)).map(|()| {
            format!(
                "{img}: {} bytes, FAT16 from sector {}",
                image::DISK_BYTES,
                image::PART_SECTOR
            )
        }),
        ["plan", "--faults", n, "--suspends", m, "--seed", seed, rest @ ..] => {
            let (gap, out) = match rest {
                ["-o", out] => (None, out),
                ["--gap", g, "-o", out] => match g.parse::<u64>() {
                    Ok(g) if g > 0 => (Some(g), out),
                    _ => return usage(),
                },
                _ => return usage(),
            };
            let (Ok(n), Ok(m), Ok(seed)) = (n.parse(), m.parse(), seed.parse()) else {
                return usage();
            };
            plan(n, m, seed, gap, Path::new(out)).map(|what| format!("{out}: {what}"))
        }
        ["check", img, rest @ ..] => {
            let (log, min_restarts) = match rest {
                [] => (None, 0),
                ["--log", l] => (Some(Path::new(*l)), 0),
                ["--log", l, "--min-restarts", n] => match n.parse() {
                    Ok(n) => (Some(Path::new(*l)), n),
                    Err(_) => return usage(),
                },
                _ => return usage(),
            };
            check(img, log, min_restarts)
        }
        ["plan-loop", "--system", sys, "--pd", pd, "--first", n, "-o", out] => {
            let Ok(n) = n.parse() else {
                return usage();
            };
            plan_loop(Path::new(sys), pd, n, Path::new(out)).map(|what| format!("{out}: {what}"))
        }
        ["check-stopped", "--log", log] => check_stopped(Path::new(log))
            .map(|line| format!("{log}: the driver was stopped and the client told: {line}")),
        ["bench-check", img, "--log", log] => bench::check_image(Path::new(img))
            .and_then(|()| bench::read_log(Path::new(log)))
            .map(|(phases, restarts)| {
                format!(
                    "{img}: every bench block holds what the bench wrote; {} phases complete, none mismatched, {restarts} driver restarts",
                    phases.len()
                )
            }),
        ["bench-report", "--board", board, "--clean", clean, "--faulted", faulted, "-o", out] => {
            bench_report(board, Path::new(clean), Path::new(faulted), out)
        }
        _ => return usage(),
    };
    finish(r)
}
