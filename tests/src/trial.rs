//! One trial of the fault-anywhere campaign: a run of the real system with
//! a fault plan and actions from outside, on the hosted runtime or on seL4
//! under QEMU, and what came of it (the stream's account, detections,
//! hang). The campaign binary and the targeted tests share it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::campaign::{Injected, TrialEnd};
use crate::launch as common;
use fault_inject::{Kind, Planned, Rng, Site};
use hosted::{Board, LaunchConfig, System};
use zerocopy::IntoBytes;

/// Running on seL4 under QEMU: the campaign image's build directory (PD
/// ELFs, the rendered system file), the SDK, the config, and the size of
/// the plan region (from system.xml).
#[derive(Clone, Debug)]
pub struct Qemu {
    pub build: PathBuf,
    pub sdk: PathBuf,
    pub config: String,
    pub plan_region: usize,
}

pub use hosted::now_ns;

/// Something the harness does from outside, after `delay_ms`.
#[derive(Clone, Debug)]
pub enum Action {
    Kill,
    Freeze { for_ms: Option<u64> },
    Scribble { offset: usize, value: u64 },
}

#[derive(Clone, Debug)]
pub struct Trial {
    pub board: Board,
    pub seed: u64,
    pub frames: u32,
    /// Bytes per write (0: the client's whole buffer).
    pub chunk: u32,
    pub plan: Vec<Planned>,
    pub actions: Vec<(u64, Action)>,
    pub rx_every_ms: Option<u64>,
    pub timeout: Duration,
    /// Each action waits until the driver serves again after the last kill
    /// (its restart is on the console), then its delay: a trial whose kills
    /// must each find a running driver, however slow restarts are on a
    /// loaded machine (kills during a start are the `entry` class's).
    pub pace: bool,
}

pub const CRASHES: [Kind; 4] = [Kind::WildWrite, Kind::NullRead, Kind::Panic, Kind::WildJump];

pub fn crash(rng: &mut Rng) -> Kind {
    CRASHES[rng.below(CRASHES.len() as u64) as usize]
}

/// Positions in a stream of `frames` frames, increasing and spaced.
pub fn positions(rng: &mut Rng, n: usize, frames: u32, min_gap: u64) -> Vec<u64> {
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
pub fn as_monitor_lane(actions: &[(u64, Action)], rng: &mut Rng) -> Vec<Planned> {
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

impl Trial {
    /// A trial of 256 frames, whole-buffer writes, no faults, 30 s.
    pub fn new(board: Board, seed: u64) -> Self {
        Self {
            board,
            seed,
            frames: 256,
            chunk: 0,
            plan: Vec::new(),
            actions: Vec::new(),
            rx_every_ms: None,
            timeout: Duration::from_secs(30),
            pace: false,
        }
    }
}

pub fn generate(class: &'static str, board: Board, seed: u64, qemu: bool) -> Trial {
    let mut rng = Rng::new(seed);
    let mut t = Trial::new(board, seed);
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
                let mut sites = vec![
                    Site::Receive,
                    Site::Protected,
                    Site::NotifyRx,
                    Site::NotifyTx,
                    Site::Bytes,
                ];
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
            // At most 512 KiB: x86_64 under QEMU (TCG) prints some 15 KB/s
            // on a loaded machine, and 2 MiB (async's 2048 frames x 16)
            // outlasted the time limit with every fault long recovered.
            t.frames = (t.frames * 16).clamp(4096, 8192);
        }
        // A boot, and the stream at no less than 8 KB/s.
        t.timeout += Duration::from_secs(60 + u64::from(t.frames) * 64 / 8192);
    }
    t
}

pub struct Ran {
    pub injected: Vec<Injected>,
    pub console: Vec<u8>,
    pub end: TrialEnd,
    pub elapsed: Duration,
    /// The hosted kernel's state of every PD when the trial ended unfinished
    /// (`System::debug_state`; empty otherwise, and on seL4).
    pub kernel_state: String,
}

pub fn plan_bytes(p: &[Planned]) -> Vec<u8> {
    common::planned(p)
}

pub fn launch(t: &Trial, images: Vec<(String, PathBuf)>, frames: u32) -> Result<System, String> {
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

pub fn finished(diags: &[String]) -> bool {
    common::stream_finished(diags)
}

pub fn run(t: &Trial, images: Vec<(String, PathBuf)>) -> Result<Ran, String> {
    let started = Instant::now();
    let sys = launch(t, images, t.frames)?;
    let stop_flag = std::sync::atomic::AtomicBool::new(false);
    let harness: Vec<Injected> = std::thread::scope(|s| {
        let stop = &stop_flag;
        let sys = &sys;
        let actions = s.spawn(move || {
            let mut done = Vec::new();
            let mut killed: Option<i32> = None;
            for (delay, a) in &t.actions {
                if t.pace {
                    let kills = done
                        .iter()
                        .filter(|i: &&Injected| i.kind == "sigkill")
                        .count();
                    let back = Instant::now() + Duration::from_secs(5);
                    while Instant::now() < back && !stop.load(std::sync::atomic::Ordering::SeqCst) {
                        let console = sys.console();
                        let restarts = String::from_utf8_lossy(&console)
                            .matches("monitor: serial restarted:")
                            .count();
                        if restarts >= kills {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(3));
                    }
                }
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
                        // The driver may be between two processes, or the
                        // one killed last may not be reaped yet (a signal
                        // to it does nothing): try again.
                        let mut tries = 0;
                        loop {
                            match sys.signal("serial", sig) {
                                Ok(pid) if Some(pid) != killed => {
                                    if matches!(a, Action::Kill) {
                                        killed = Some(pid);
                                    }
                                    break;
                                }
                                _ if tries < 100 => tries += 1,
                                _ => break,
                            }
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
            let diags = crate::split(&sys.console()).diags;
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
    let kernel_state = if finished(&crate::split(&console).diags) {
        String::new()
    } else {
        sys.debug_state()
    };
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
    let diags = crate::split(&console).diags;
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
        kernel_state,
    })
}

/// The fired plan entries the monitor reported (`monitor: injected #i kind
/// at site (t=.. ms)`), the faults of a run whose plan region stays in the
/// guest.
pub fn injected_from_log(diags: &[String]) -> Vec<Injected> {
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
pub fn run_qemu(q: &Qemu, t: &Trial, mutant: Option<&[u8]>, tag: &str) -> Result<Ran, String> {
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
            // A link, not a copy: some 14 MB a trial otherwise, left behind.
            _ => std::fs::hard_link(&from, &to).or_else(|_| std::fs::copy(&from, &to).map(|_| ())),
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
    let diags = crate::split(&console).diags;
    let injected = injected_from_log(&diags);
    let planned = t.plan.len();
    let account = frames::check::account(&console).ok();
    let text = String::from_utf8_lossy(&console);
    let monitor_down = text.contains("MON|ERROR") && text.contains("recovery_monitor");
    let hung = !finished(&diags) && !monitor_down;
    let _ = std::fs::remove_file(&image);
    let _ = std::fs::remove_file(&rx);
    if mutant.is_some() {
        // The campaign makes mutant k again from its seed when asked.
        let _ = std::fs::remove_file(dir.join("serial.elf"));
    }
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
        kernel_state: String::new(),
    })
}
