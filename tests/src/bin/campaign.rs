//! The fault-anywhere campaign on the hosted runtime.
//!
//! ```text
//! campaign [--faults N] [--mutations M] [--first-mutation K] [--seed S] [--board B|both]
//!          [--classes c,..] [--report FILE] [--keep-failed DIR]
//! ```
//!
//! Runs the real system (`system.xml`, the real PDs) again and again, each
//! run (a *trial*) a stream of framed bytes through the serial driver while
//! faults of one class land on the driver wherever the class puts them,
//! until N faults have happened (not merely been planned):
//!
//! * `entry`: crashes (wild write, null read, panic, wild jump) in every
//!   entry point: `init` (first and cold starts), `recover`, the IRQ path
//!   while TX drains and while RX arrives, right after a request arrived
//!   (before it is recorded), `protected`, a replay, between
//!   bytes;
//! * `async`: the driver's process killed (SIGKILL) or frozen (SIGSTOP, for
//!   a random while, or for good) from outside, at random instants, idle or
//!   busy;
//! * `window`: a crash right after a byte was handed to the UART, before its
//!   progress mark (the window a UART cannot make exactly-once);
//! * `contamination`: stray words written into the driver's own persistent
//!   region while it runs (by the harness at random instants, and by the
//!   driver itself at its sites), without a trap, some followed by a crash;
//! * `hang`: infinite loops at random sites, a livelock, a process frozen
//!   for good;
//! * `protocol`: illegal replies and a livelock past a protocol timeout;
//! * `burst`: several crashes inside one request, so that escalation runs.
//!
//! Then M code mutations, each in a copy of the image that only the serial
//! driver's process runs. Every trial's stream is checked byte by byte by
//! `frames::check::account`, independently of the driver.
//!
//! Output: a table per board in the shape of Arc's Tables 5.3-5.6, the
//! figures (restarts per second, the largest burst survived without a stop),
//! and the two final lines `campaign: ...` and `campaign-mutations: ...`.
//! The exit status is 0 only if every runtime class shows lost=0, hung=0,
//! monitor_down=0 and detected = manifested, and the mutations hung=0 and
//! monitor_down=0.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use fault_inject::Rng;
use hosted::Board;
use system_tests::campaign::{
    attribute, detections, mutation_line, mutation_outcome, mutation_table, runtime_line, table,
    ClassTotals, MutationTotals,
};
use system_tests::launch as common;
use system_tests::trial::{generate, run, run_qemu, Qemu, Trial};

const CLASSES: [&str; 8] = [
    "entry",
    "async",
    "window",
    "contamination",
    "hang",
    "protocol",
    "burst",
    "storm",
];

/// The crates whose code is the serial driver's (for mutations).
const DRIVER_CRATES: [&str; 7] = [
    "serial_stream::",
    "pl011::",
    "ns16550::",
    "personality::",
    "persist::",
    "pd_serial::",
    "serial_api::",
];

struct Args {
    /// `--qemu DIR`: run on seL4 under QEMU, from the campaign image built
    /// in DIR (`make campaign-qemu` does it).
    qemu: Option<Qemu>,
    faults: u64,
    mutations: u64,
    /// The index of the first mutation (to rerun one: `--first-mutation K --mutations 1`).
    first_mutation: u64,
    seed: u64,
    boards: Vec<Board>,
    classes: Vec<&'static str>,
    report: Option<PathBuf>,
    keep_failed: Option<PathBuf>,
}

const USAGE: &str = "usage: campaign [--faults N] [--mutations M] [--first-mutation K] [--seed S] [--board qemu_virt_aarch64|x86_64_generic|both] [--classes c,..] [--report FILE] [--keep-failed DIR] [--qemu BUILD_DIR --config debug|release]";

fn parse() -> Result<Option<Args>, String> {
    let mut a = Args {
        qemu: None,
        faults: 10_000,
        mutations: 100,
        first_mutation: 0,
        seed: 1,
        boards: Board::ALL.to_vec(),
        classes: CLASSES.to_vec(),
        report: None,
        keep_failed: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            "--faults" => a.faults = val()?.parse().map_err(|e| format!("--faults: {e}"))?,
            "--mutations" => {
                a.mutations = val()?.parse().map_err(|e| format!("--mutations: {e}"))?
            }
            "--first-mutation" => {
                a.first_mutation = val()?
                    .parse()
                    .map_err(|e| format!("--first-mutation: {e}"))?
            }
            "--seed" => a.seed = val()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--board" => {
                let v = val()?;
                a.boards = if v == "both" {
                    Board::ALL.to_vec()
                } else {
                    vec![Board::from_name(&v).ok_or_else(|| format!("unknown board {v:?}"))?]
                };
            }
            "--classes" => {
                let v = val()?;
                a.classes = v
                    .split(',')
                    .map(|c| {
                        CLASSES.iter().find(|k| **k == c).copied().ok_or_else(|| {
                            format!("unknown class {c:?} (known: {})", CLASSES.join(", "))
                        })
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--report" => a.report = Some(PathBuf::from(val()?)),
            "--qemu" => {
                let build = PathBuf::from(val()?);
                let sdk = std::env::var_os("MICROKIT_SDK")
                    .map(PathBuf::from)
                    .ok_or("--qemu needs MICROKIT_SDK")?;
                a.qemu = Some(Qemu {
                    build,
                    sdk,
                    config: "debug".into(),
                    plan_region: 0,
                });
            }
            "--config" => {
                let v = val()?;
                match a.qemu.as_mut() {
                    Some(q) => q.config = v,
                    None => return Err("--config goes after --qemu".into()),
                }
            }
            "--keep-failed" => a.keep_failed = Some(PathBuf::from(val()?)),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    if let Some(q) = a.qemu.as_mut() {
        if a.boards.len() != 1 {
            return Err("--qemu runs one board: give --board".into());
        }
        let sys = sdf::parse_file_for_boards(&common::repo().join("system.xml"), &a.boards)
            .map_err(|e| e.to_string())?;
        q.plan_region = sys
            .for_board(a.boards[0])
            .memory_region("fault_plan")
            .map(|m| m.size as usize)
            .ok_or("system.xml has no fault_plan region")?;
    }
    Ok(Some(a))
}

fn keep(dir: &Option<PathBuf>, name: &str, console: &[u8], why: &str) {
    if let Some(d) = dir {
        let _ = std::fs::create_dir_all(d);
        let p = d.join(format!("{name}.log"));
        let _ = std::fs::write(&p, console);
        let _ = std::fs::write(d.join(format!("{name}.why")), why);
        eprintln!("campaign: {name}: {why}; console kept in {}", p.display());
    }
}

fn main() -> ExitCode {
    let a = match parse() {
        Ok(Some(a)) => a,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("campaign: {e}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let mut report = String::new();
    let mut runtime_all = ClassTotals::default();
    let mut mutations_all = MutationTotals::default();
    let per_board = a.faults.div_ceil(a.boards.len() as u64);
    let per_class = per_board.div_ceil(a.classes.len() as u64);
    let mut largest_burst_survived = 0u64;
    let mut restarts = 0u64;
    let mut restart_time = Duration::ZERO;
    for &board in &a.boards {
        let mut rows: BTreeMap<String, ClassTotals> = BTreeMap::new();
        for (ci, &class) in a.classes.iter().enumerate() {
            let mut t = ClassTotals::default();
            let mut n = 0u64;
            while t.injected < per_class {
                let seed = a.seed.wrapping_mul(0x1000_0000)
                    ^ ((ci as u64) << 20)
                    ^ n
                    ^ ((board as u64) << 40);
                n += 1;
                let trial = generate(class, board, seed, a.qemu.is_some());
                let ran = match &a.qemu {
                    Some(q) => run_qemu(q, &trial, None, &format!("{class}-{n}")),
                    None => run(&trial, Vec::new()),
                };
                let ran = match ran {
                    Ok(r) => r,
                    Err(e) => {
                        eprintln!("campaign: {class} trial {seed:#x} on {board}: {e}");
                        return ExitCode::FAILURE;
                    }
                };
                let diags = system_tests::split(&ran.console).diags;
                let det = detections(&diags, "serial");
                let (outcomes, stray) = attribute(&ran.injected, &det);
                if class == "burst" {
                    let fired = ran.injected.len() as u64;
                    let stopped = outcomes.iter().any(|o| o.stopped);
                    if !stopped && fired == trial.plan.len() as u64 {
                        largest_burst_survived = largest_burst_survived.max(fired);
                    }
                }
                if class == "storm" {
                    let log = system_tests::MonitorLog::parse(&diags);
                    restarts += log.restarts.len() as u64;
                    restart_time += ran.elapsed;
                }
                let bad = ran.end.hung
                    || ran.end.monitor_down
                    || ran.end.account.as_ref().is_none_or(|x| !x.clean())
                    || outcomes.iter().any(|o| o.manifested && !o.detected);
                if bad {
                    keep(
                        &a.keep_failed,
                        &format!("{}-{class}-{seed:x}", board.name()),
                        &ran.console,
                        &format!("{:?}\n{}", ran.end.account, ran.kernel_state),
                    );
                }
                t.add(&outcomes, stray.len(), &ran.end);
            }
            eprintln!(
                "campaign: {board} {class}: {} trials, {} faults ({} not reached)",
                t.trials, t.injected, t.not_reached
            );
            rows.insert(class.to_string(), t);
        }
        let mut sum = ClassTotals::default();
        for t in rows.values() {
            sum.merge(t);
        }
        rows.insert("(all)".into(), sum.clone());
        runtime_all.merge(&sum);
        let backend = if a.qemu.is_some() {
            "seL4 under QEMU"
        } else {
            "hosted"
        };
        report.push_str(&table(
            &format!("### Runtime faults, {board} ({backend})"),
            &rows,
        ));
        report.push('\n');

        // Code mutations.
        let mut mrows: BTreeMap<String, MutationTotals> = BTreeMap::new();
        let per_board_m = a.mutations.div_ceil(a.boards.len() as u64);
        // The driver's binary: the hosted image (which only the driver's
        // process will run mutated), or the driver's seL4 ELF.
        let driver_binary = match &a.qemu {
            Some(q) => q.build.join("serial.elf"),
            None => common::image(),
        };
        let image = match std::fs::read(&driver_binary) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("campaign: {}: {e}", driver_binary.display());
                return ExitCode::FAILURE;
            }
        };
        let dir = std::env::temp_dir().join(format!("selfheal-mutants-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        for k in a.first_mutation..a.first_mutation + per_board_m {
            let class =
                system_tests::mutate::CLASSES[k as usize % system_tests::mutate::CLASSES.len()];
            let seed = a.seed ^ 0x6d75_7461 ^ (k << 8) ^ ((board as u64) << 40);
            let mut rng = Rng::new(seed);
            let mut copy = image.clone();
            let m = match system_tests::mutate::mutate(&mut copy, &DRIVER_CRATES, class, &mut rng) {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("campaign: mutation {k} ({class}): {e}");
                    continue;
                }
            };
            let path = dir.join(format!("mutant-{k}"));
            if std::fs::write(&path, &copy).is_err() {
                continue;
            }
            {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755));
            }
            let trial = Trial {
                board,
                seed,
                frames: if a.qemu.is_some() { 256 } else { 128 },
                chunk: 0,
                plan: Vec::new(),
                actions: Vec::new(),
                rx_every_ms: Some(5),
                timeout: Duration::from_secs(if a.qemu.is_some() { 60 } else { 40 }),
                pace: false,
            };
            let ran = match &a.qemu {
                Some(q) => run_qemu(q, &trial, Some(&copy), &format!("mutant-{k}")),
                None => run(&trial, vec![("serial".into(), path.clone())]),
            };
            let _ = std::fs::remove_file(&path);
            let ran = match ran {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("campaign: mutation {k}: {e}");
                    continue;
                }
            };
            let diags = system_tests::split(&ran.console).diags;
            let det = detections(&diags, "serial");
            let stopped = diags
                .iter()
                .any(|l| l == "monitor: serial stopped for good; clients told");
            let o = mutation_outcome(det.len(), &ran.end, stopped);
            // Keep every run that ended other than recovered, stopped or
            // unaffected: those are the ones a reader must be able to open.
            if o.hung || o.monitor_down || o.silent || (o.effective && !o.recovered && !o.stopped) {
                keep(
                    &a.keep_failed,
                    &format!("{}-mutant-{k}", board.name()),
                    &ran.console,
                    &format!("{m:?}\n{o:?}\n{:?}", ran.end.account),
                );
            }
            mrows.entry(class.to_string()).or_default().add(&o);
        }
        let _ = std::fs::remove_dir_all(&dir);
        let mut msum = MutationTotals::default();
        for t in mrows.values() {
            msum.merge(t);
        }
        mrows.insert("(all)".into(), msum.clone());
        mutations_all.merge(&msum);
        report.push_str(&mutation_table(
            &format!("### Code mutations in the serial driver, {board} ({backend})"),
            &mrows,
        ));
        report.push('\n');
    }
    let secs = restart_time.as_secs_f64().max(1e-9);
    report.push_str(&format!(
        "storm: restarts completed {restarts} in {secs:.1} s ({:.0} restarts/s sustained, a crash every 70 bytes); largest burst in one request survived without a stop: {largest_burst_survived}; total {:.0} s\n",
        restarts as f64 / secs,
        started.elapsed().as_secs_f64()
    ));
    report.push_str(&format!(
        "campaign-window: repeats={} (a fault between a byte handed to the UART and its mark; counted apart from duplicates)\n",
        runtime_all.window_repeats
    ));
    report.push_str(&runtime_line(&runtime_all));
    report.push('\n');
    report.push_str(&mutation_line(&mutations_all));
    report.push('\n');
    print!("{report}");
    if let Some(p) = &a.report {
        if let Err(e) = std::fs::write(p, &report) {
            eprintln!("campaign: {}: {e}", p.display());
        }
    }
    let ok = runtime_all.lost == 0
        && runtime_all.duplicated == 0
        && runtime_all.hung == 0
        && runtime_all.monitor_down == 0
        && runtime_all.detected == runtime_all.manifested
        && mutations_all.hung == 0
        && mutations_all.monitor_down == 0;
    if ok {
        ExitCode::SUCCESS
    } else {
        eprintln!("campaign: FAILED");
        ExitCode::FAILURE
    }
}
