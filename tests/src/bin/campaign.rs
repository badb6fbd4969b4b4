//! The fault-anywhere campaign on the hosted runtime.
//!
//! ```text
//! campaign [--faults N] [--mutations M] [--seed S] [--board B|both]
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
//!   while TX drains and while RX arrives, `protected`, a replay, between
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

use fault_inject::{Kind, Planned, Rng, Site};
use hosted::{Board, LaunchConfig, System};
use system_tests::campaign::{
    attribute, detections, mutation_line, mutation_outcome, mutation_table, runtime_line, table,
    ClassTotals, Injected, MutationTotals, TrialEnd,
};
use system_tests::launch as common;
use zerocopy::IntoBytes;

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
    faults: u64,
    mutations: u64,
    seed: u64,
    boards: Vec<Board>,
    classes: Vec<&'static str>,
    report: Option<PathBuf>,
    keep_failed: Option<PathBuf>,
}

const USAGE: &str = "usage: campaign [--faults N] [--mutations M] [--seed S] [--board qemu_virt_aarch64|x86_64_generic|both] [--classes c,..] [--report FILE] [--keep-failed DIR]";

fn parse() -> Result<Option<Args>, String> {
    let mut a = Args {
        faults: 10_000,
        mutations: 100,
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
            "--keep-failed" => a.keep_failed = Some(PathBuf::from(val()?)),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    Ok(Some(a))
}

fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Something the harness does from outside, after `delay_ms`.
#[derive(Clone, Debug)]
enum Action {
    Kill,
    Freeze { for_ms: Option<u64> },
    Scribble { offset: usize, value: u64 },
}

#[derive(Clone, Debug)]
struct Trial {
    board: Board,
    seed: u64,
    frames: u32,
    /// Bytes per write (0: the client's whole buffer).
    chunk: u32,
    plan: Vec<Planned>,
    actions: Vec<(u64, Action)>,
    rx_every_ms: Option<u64>,
    timeout: Duration,
}

const CRASHES: [Kind; 4] = [Kind::WildWrite, Kind::NullRead, Kind::Panic, Kind::WildJump];

fn crash(rng: &mut Rng) -> Kind {
    CRASHES[rng.below(CRASHES.len() as u64) as usize]
}

/// Positions in a stream of `frames` frames, increasing and spaced.
fn positions(rng: &mut Rng, n: usize, frames: u32, min_gap: u64) -> Vec<u64> {
    let span = u64::from(frames) * 64;
    let mut v: Vec<u64> = (0..n).map(|_| 1 + rng.below(span.max(2) - 1)).collect();
    v.sort_unstable();
    for i in 1..v.len() {
        if v[i] < v[i - 1] + min_gap {
            v[i] = v[i - 1] + min_gap;
        }
    }
    v.retain(|&p| p < span);
    v
}

fn generate(class: &'static str, board: Board, seed: u64) -> Trial {
    let mut rng = Rng::new(seed);
    let mut t = Trial {
        board,
        seed,
        frames: 256,
        chunk: 0,
        plan: Vec::new(),
        actions: Vec::new(),
        rx_every_ms: None,
        timeout: Duration::from_secs(30),
    };
    match class {
        "entry" => {
            // Entry points, each entry firing at its site's next visit once
            // the one before it has fired; a site is chosen only where it
            // will be visited (a replay only after a fault inside a request,
            // `init` only after a crash loop forced a cold start).
            t.rx_every_ms = Some(3);
            let mut at_bytes = 0u64;
            let mut replay_pending = false;
            for _ in 0..12 {
                let mut sites = vec![
                    Site::Protected,
                    Site::Recover,
                    Site::NotifyRx,
                    Site::NotifyTx,
                    Site::Bytes,
                ];
                if replay_pending {
                    sites.push(Site::Replay);
                    sites.push(Site::Replay);
                }
                let site = sites[rng.below(sites.len() as u64) as usize];
                let at = if site == Site::Bytes {
                    at_bytes += 200 + rng.below(800);
                    at_bytes
                } else {
                    0
                };
                t.plan.push(Planned {
                    site,
                    at,
                    kind: crash(&mut rng),
                    arg: 0,
                });
                replay_pending = match site {
                    Site::Bytes | Site::Protected | Site::Replay => true,
                    Site::Recover => replay_pending,
                    _ => false,
                };
            }
            if rng.below(3) == 0 {
                // A crash loop in `recover`, the cold start it forces, and a
                // fault in that cold start's `init`.
                for _ in 0..9 {
                    t.plan.push(Planned::new(Site::Recover, 0, Kind::Panic));
                }
                t.plan.push(Planned::new(Site::Init, 0, crash(&mut rng)));
            }
        }
        "async" => {
            t.frames = 2048;
            t.rx_every_ms = Some(5);
            for _ in 0..12 {
                let delay = 1 + rng.below(25);
                let a = if rng.below(10) < 6 {
                    Action::Kill
                } else {
                    Action::Freeze {
                        for_ms: (rng.below(4) != 0).then(|| 1 + rng.below(250)),
                    }
                };
                t.actions.push((delay, a));
            }
        }
        "window" => {
            // Visit counts of the after-put site are bytes handed over.
            for p in positions(&mut rng, 10, t.frames, 300) {
                t.plan
                    .push(Planned::new(Site::AfterPut, p, crash(&mut rng)));
            }
        }
        "contamination" => {
            let region = persist::region_bytes(std::mem::size_of::<serial_stream::SerialState>());
            for _ in 0..10 {
                let offset = rng.below((region / 8) as u64) as usize * 8;
                t.actions.push((
                    1 + rng.below(15),
                    Action::Scribble {
                        offset,
                        value: rng.next_u64(),
                    },
                ));
                if rng.below(3) == 0 {
                    // Found at the next start, not the next commit.
                    t.actions.push((rng.below(2), Action::Kill));
                }
            }
            // The driver's own stray writes, at its sites.
            let mut at = 0;
            for _ in 0..4 {
                at += 500 + rng.below(2000);
                t.plan.push(Planned {
                    site: Site::Bytes,
                    at,
                    kind: Kind::Scribble,
                    arg: rng.next_u64(),
                });
                if rng.below(2) == 0 {
                    t.plan
                        .push(Planned::new(Site::Bytes, at + 1, crash(&mut rng)));
                    at += 1;
                }
            }
        }
        "hang" => {
            t.rx_every_ms = Some(4);
            let sites = [Site::Bytes, Site::Protected, Site::NotifyRx, Site::Recover];
            let mut at_bytes = 0;
            for _ in 0..6 {
                let site = sites[rng.below(sites.len() as u64) as usize];
                let at = if site == Site::Bytes {
                    at_bytes += 300 + rng.below(1500);
                    at_bytes
                } else {
                    0
                };
                t.plan.push(Planned::new(site, at, Kind::Loop));
            }
            if rng.below(4) == 0 {
                t.plan
                    .push(Planned::new(Site::Bytes, at_bytes + 100, Kind::Livelock));
                t.timeout += Duration::from_secs(8);
            }
            t.actions
                .push((5 + rng.below(30), Action::Freeze { for_ms: None }));
        }
        "protocol" => {
            let mut at = 0;
            for _ in 0..8 {
                at += 300 + rng.below(1500);
                t.plan
                    .push(Planned::new(Site::Bytes, at, Kind::IllegalReply));
            }
            if rng.below(3) == 0 {
                t.plan
                    .push(Planned::new(Site::Bytes, at + 200, Kind::Livelock));
                t.timeout += Duration::from_secs(8);
            }
        }
        "storm" => {
            // As many restarts as the monitor sustains: a crash every 70
            // bytes, one frame per write, so that every restart makes
            // progress (a crash loop this is not).
            t.frames = 1024;
            t.chunk = 64;
            let mut at = 0;
            while at + 70 < u64::from(t.frames) * 64 {
                at += 70;
                t.plan.push(Planned::new(Site::Bytes, at, crash(&mut rng)));
            }
            t.timeout = Duration::from_secs(120);
        }
        "burst" => {
            // One burst of b crashes inside one request, b from 2 to 20:
            // up to max_faults warm restarts, then a cold start, and if the
            // burst goes on past that, a stop.
            t.frames = 512;
            let b = 2 + seed % 19;
            let mut at = 1000 + rng.below(4000);
            for _ in 0..b {
                t.plan.push(Planned::new(Site::Bytes, at, crash(&mut rng)));
                at += 20 + rng.below(60);
            }
        }
        _ => {}
    }
    t
}

struct Ran {
    injected: Vec<Injected>,
    console: Vec<u8>,
    end: TrialEnd,
    elapsed: Duration,
}

fn plan_bytes(p: &[Planned]) -> Vec<u8> {
    common::planned(p)
}

fn launch(t: &Trial, images: Vec<(String, PathBuf)>, frames: u32) -> Result<System, String> {
    let mut cfg = LaunchConfig::new(common::repo().join("system.xml"), t.board, common::image());
    cfg.prefill = vec![
        ("fault_plan".into(), plan_bytes(&t.plan)),
        (
            "stream_config".into(),
            pd_client::StreamConfig {
                frames,
                seed: t.seed,
                chunk: t.chunk,
                ..pd_client::StreamConfig::DEFAULT
            }
            .as_bytes()
            .to_vec(),
        ),
    ];
    cfg.images = images;
    System::launch(cfg).map_err(|e| e.to_string())
}

fn finished(diags: &[String]) -> bool {
    common::stream_finished(diags)
}

fn run(t: &Trial, images: Vec<(String, PathBuf)>) -> Result<Ran, String> {
    let started = Instant::now();
    let sys = launch(t, images, t.frames)?;
    let stop_flag = std::sync::atomic::AtomicBool::new(false);
    let harness: Vec<Injected> = std::thread::scope(|s| {
        let stop = &stop_flag;
        let sys = &sys;
        let actions = s.spawn(move || {
            let mut done = Vec::new();
            for (delay, a) in &t.actions {
                std::thread::sleep(Duration::from_millis(*delay));
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                match a {
                    Action::Kill | Action::Freeze { .. } => {
                        let sig = if matches!(a, Action::Kill) {
                            libc::SIGKILL
                        } else {
                            libc::SIGSTOP
                        };
                        // The driver may be between two processes: try again.
                        let mut tries = 0;
                        while sys.signal("serial", sig).is_err() && tries < 100 {
                            tries += 1;
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        if tries == 100 {
                            continue;
                        }
                        let t_ns = now_ns();
                        let (kind, site) = match a {
                            Action::Kill => ("sigkill", "async"),
                            Action::Freeze { for_ms: None } => ("sigstop-forever", "async"),
                            _ => ("sigstop", "async"),
                        };
                        done.push(Injected {
                            t_ns,
                            kind: kind.into(),
                            site: site.into(),
                        });
                        if let Action::Freeze { for_ms: Some(ms) } = a {
                            std::thread::sleep(Duration::from_millis(*ms));
                            let _ = sys.signal("serial", libc::SIGCONT);
                        }
                    }
                    Action::Scribble { offset, value } => {
                        if let Some(r) = sys.region("serial_persistent") {
                            if r.write_u64(*offset, *value) {
                                done.push(Injected {
                                    t_ns: now_ns(),
                                    kind: "scribble".into(),
                                    site: "harness".into(),
                                });
                            }
                        }
                    }
                }
            }
            done
        });
        if let Some(ms) = t.rx_every_ms {
            s.spawn(move || {
                let mut n = 0u32;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) && n < 2000 {
                    let _ = sys.inject_rx(b"rx!");
                    n += 1;
                    std::thread::sleep(Duration::from_millis(ms));
                }
            });
        }
        let end = Instant::now() + t.timeout;
        loop {
            let diags = system_tests::split(&sys.console()).diags;
            if finished(&diags) || !sys.running() || Instant::now() > end {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        actions.join().unwrap_or_default()
    });
    // Let the UART model drain the last bytes.
    let mut console = sys.console();
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(25));
        let c = sys.console();
        if c.len() == console.len() {
            break;
        }
        console = c;
    }
    let plan = sys
        .region("fault_plan")
        .map(|r| r.read(0, r.len()))
        .unwrap_or_default();
    let failure = sys.failure();
    drop(sys);
    let (_, entries) = fault_inject::decode(&plan);
    let mut injected = harness;
    let mut not_reached = 0;
    for e in entries {
        if e.fired == 1 {
            injected.push(Injected {
                t_ns: e.t_fired,
                kind: Kind::from_raw(e.kind).map_or("?", Kind::name).into(),
                site: Site::from_raw(e.site).map_or("?", Site::name).into(),
            });
        } else {
            not_reached += 1;
        }
    }
    injected.sort_by_key(|i| i.t_ns);
    let diags = system_tests::split(&console).diags;
    let account = frames::check::account(&console).ok();
    let hung = !finished(&diags) && failure.is_none();
    let monitor_down = failure.is_some();
    Ok(Ran {
        injected,
        end: TrialEnd {
            account,
            hung,
            monitor_down,
            not_reached,
        },
        console,
        elapsed: started.elapsed(),
    })
}

fn keep(dir: &Option<PathBuf>, name: &str, console: &[u8], why: &str) {
    if let Some(d) = dir {
        let _ = std::fs::create_dir_all(d);
        let p = d.join(format!("{name}.log"));
        let _ = std::fs::write(&p, console);
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
                let trial = generate(class, board, seed);
                let ran = match run(&trial, Vec::new()) {
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
                        &format!("{:?}", ran.end.account),
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
        report.push_str(&table(
            &format!("### Runtime faults, {board} (hosted)"),
            &rows,
        ));
        report.push('\n');

        // Code mutations.
        let mut mrows: BTreeMap<String, MutationTotals> = BTreeMap::new();
        let per_board_m = a.mutations.div_ceil(a.boards.len() as u64);
        let image = match std::fs::read(common::image()) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("campaign: the image: {e}");
                return ExitCode::FAILURE;
            }
        };
        let dir = std::env::temp_dir().join(format!("selfheal-mutants-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        for k in 0..per_board_m {
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
                frames: 128,
                chunk: 0,
                plan: Vec::new(),
                actions: Vec::new(),
                rx_every_ms: Some(5),
                timeout: Duration::from_secs(40),
            };
            let ran = match run(&trial, vec![("serial".into(), path.clone())]) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("campaign: mutation {k}: {e}");
                    let _ = std::fs::remove_file(&path);
                    continue;
                }
            };
            let _ = std::fs::remove_file(&path);
            let diags = system_tests::split(&ran.console).diags;
            let det = detections(&diags, "serial");
            let stopped = diags
                .iter()
                .any(|l| l == "monitor: serial stopped for good; clients told");
            let o = mutation_outcome(det.len(), &ran.end, stopped);
            if o.hung || o.monitor_down {
                keep(
                    &a.keep_failed,
                    &format!("{}-mutant-{k}", board.name()),
                    &ran.console,
                    &format!("{m:?}"),
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
            &format!("### Code mutations in the serial driver, {board} (hosted)"),
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
