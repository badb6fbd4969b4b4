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

/// Running on seL4 under QEMU: the campaign image's build directory (PD
/// ELFs, the rendered system file), the SDK, the config.
#[derive(Clone, Debug)]
struct Qemu {
    build: PathBuf,
    sdk: PathBuf,
    config: String,
    plan_region: usize,
}

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

/// Monitor-lane entries for what the hosted harness does from outside: the
/// monitor suspends the driver at the instant (an asynchronous stop) or
/// writes into its region while it runs. Delays in microseconds, the first
/// after the boot and the client's start.
fn as_monitor_lane(actions: &[(u64, Action)], rng: &mut Rng) -> Vec<Planned> {
    let mut out = Vec::new();
    let mut first = true;
    for (delay_ms, a) in actions {
        let delay_us = if first {
            first = false;
            400_000 + rng.below(200_000)
        } else {
            delay_ms * 1000 + rng.below(1000)
        };
        let (kind, arg) = match a {
            Action::Kill | Action::Freeze { .. } => (Kind::Suspend, 0),
            // Child id 0 in the top byte; the rest seeds the place and value.
            Action::Scribble { value, .. } => (Kind::Scribble, value & ((1 << 56) - 1)),
        };
        out.push(Planned {
            site: Site::Monitor,
            at: delay_us,
            kind,
            arg,
        });
    }
    out
}

fn generate(class: &'static str, board: Board, seed: u64, qemu: bool) -> Trial {
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
            for k in 0..12 {
                let mut sites = vec![Site::Protected, Site::NotifyRx, Site::NotifyTx, Site::Bytes];
                if k > 0 {
                    // Every earlier entry was a crash: a start follows.
                    sites.push(Site::Recover);
                }
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
    if qemu {
        // No harness from outside the guest: the monitor does it, at the
        // instants the plan's own lane gives. The byte stream is longer (the
        // guest runs in real time, a boot costs seconds).
        let lane = as_monitor_lane(&t.actions, &mut rng);
        t.plan.extend(lane);
        t.actions.clear();
        if class != "storm" {
            t.frames = (t.frames * 16).max(4096);
        }
        t.timeout += Duration::from_secs(60);
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

/// The fired plan entries the monitor reported (`monitor: injected #i kind
/// at site (t=.. ms)`), the faults of a run whose plan region stays in the
/// guest.
fn injected_from_log(diags: &[String]) -> Vec<Injected> {
    let mut out = Vec::new();
    for d in diags {
        let Some(rest) = d.strip_prefix("monitor: injected #") else {
            continue;
        };
        let mut w = rest.split_whitespace();
        let (_, kind, _, site) = (w.next(), w.next(), w.next(), w.next());
        let t = rest
            .rsplit_once("(t=")
            .and_then(|(_, t)| t.strip_suffix(" ms)"))
            .and_then(|t| {
                let (ms, us) = t.split_once('.')?;
                Some(ms.parse::<u64>().ok()? * 1_000_000 + us.parse::<u64>().ok()? * 1000)
            });
        if let (Some(kind), Some(site), Some(t_ns)) = (kind, site, t) {
            out.push(Injected {
                t_ns,
                kind: kind.into(),
                site: site.into(),
            });
        }
    }
    out.sort_by_key(|i| i.t_ns);
    out
}

/// One trial on seL4 under QEMU: the plan and stream prefilled into a fresh
/// image of the campaign build (the Microkit tool again, the PD ELFs as
/// built, or a mutated copy of the driver's), booted until the client ends
/// its stream or the time is up.
fn run_qemu(q: &Qemu, t: &Trial, mutant: Option<&[u8]>, tag: &str) -> Result<Ran, String> {
    let started = Instant::now();
    let dir = q.build.join("trials").join(tag);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut plan = plan_bytes(&t.plan);
    if plan.len() > q.plan_region {
        return Err(format!(
            "the plan needs {} bytes, the region has {}",
            plan.len(),
            q.plan_region
        ));
    }
    plan.resize(q.plan_region, 0);
    std::fs::write(dir.join("fault_plan.bin"), &plan).map_err(|e| e.to_string())?;
    let listing: String = t
        .plan
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!(
                "#{} {} at {} {} arg {:#x}\n",
                i + 1,
                p.kind.name(),
                p.site.name(),
                p.at,
                p.arg
            )
        })
        .collect();
    std::fs::write(dir.join("plan.txt"), listing).map_err(|e| e.to_string())?;
    let config = pd_client::StreamConfig {
        frames: t.frames,
        seed: t.seed,
        chunk: t.chunk,
        ..pd_client::StreamConfig::DEFAULT
    };
    std::fs::write(dir.join("stream_config.bin"), config.as_bytes()).map_err(|e| e.to_string())?;
    for f in ["monitor.elf", "serial.elf", "client.elf", "selfheal.system"] {
        let from = q.build.join(f);
        let to = dir.join(f);
        match (f, mutant) {
            ("serial.elf", Some(m)) => std::fs::write(&to, m),
            _ => std::fs::copy(&from, &to).map(|_| ()),
        }
        .map_err(|e| format!("{}: {e}", from.display()))?;
    }
    let board = t.board.name();
    let image = dir.join("loader.img");
    let out = std::process::Command::new(q.sdk.join("bin/microkit"))
        .arg(dir.join("selfheal.system"))
        .args(["--search-path"])
        .arg(&dir)
        .args(["--board", board, "--config", &q.config, "-o"])
        .arg(&image)
        .arg("-r")
        .arg(dir.join("report.txt"))
        .output()
        .map_err(|e| format!("microkit: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "microkit: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
    }
    // Serial input all along the run: interrupts on the receive path.
    let rx = dir.join("rx.txt");
    std::fs::write(&rx, vec![b'r'; 512 * 1024]).map_err(|e| e.to_string())?;
    let log = dir.join("console.log");
    let secs = t.timeout.as_secs().to_string();
    let status = std::process::Command::new(common::repo().join("support/sel4/scripts/qemu.sh"))
        .args([board, &q.config])
        .arg(&image)
        .arg(&log)
        .arg(&secs)
        .arg("client: (stream done|.*stream abandoned)|MON\\|ERROR")
        .env("MICROKIT_SDK", &q.sdk)
        .env("QEMU_RX_FILE", &rx)
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("qemu.sh: {e}"))?;
    let _ = status;
    let console = std::fs::read(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let diags = system_tests::split(&console).diags;
    let injected = injected_from_log(&diags);
    let planned = t.plan.len();
    let account = frames::check::account(&console).ok();
    let text = String::from_utf8_lossy(&console);
    let monitor_down = text.contains("MON|ERROR") && text.contains("recovery_monitor");
    let hung = !finished(&diags) && !monitor_down;
    let _ = std::fs::remove_file(&image);
    Ok(Ran {
        injected,
        end: TrialEnd {
            account,
            hung,
            monitor_down,
            not_reached: planned.saturating_sub(
                diags
                    .iter()
                    .filter(|d| d.starts_with("monitor: injected #"))
                    .count(),
            ),
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
