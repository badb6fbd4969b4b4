//! The system's image for the hosted runtime, and its command-line front end.
//!
//! As an image, it holds the same three PDs as the seL4 image (`monitor.elf`,
//! `serial.elf`, `client.elf`); the hosted runtime starts one process per PD
//! from it. As a program, it launches the system described by `system.xml`:
//!
//! ```text
//! selfheal-hosted demo  [--board B] [--frames N] [--faults N] [--seed S] [--kinds k,..]
//! selfheal-hosted run   [--board B] [--frames N] [--faults N] [--seed S] [--kinds k,..]
//! selfheal-hosted plan  [--frames N] [--faults N] [--seed S] [--kinds k,..] [--escalation | --monitor-crash MS] -o FILE
//! selfheal-hosted config --frames N [--seed S] -o FILE
//! ```
//!
//! `demo` prints a readable recovery log and a summary, and checks the stream;
//! `run` streams the raw console to stdout; `plan` and `config` write the
//! fault-plan and stream-config region images that the seL4 build prefills.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use fault_inject::{Kind, Planned, Site};
use hosted::{Board, Console, LaunchConfig, System};
use zerocopy::IntoBytes;

fn main() -> ExitCode {
    hosted::image_main(&[
        hosted::PdImage {
            program: "monitor.elf",
            entry: hosted::pd_entry!(pd_monitor::init),
        },
        hosted::PdImage {
            program: "serial.elf",
            entry: hosted::pd_entry!(pd_serial::init),
        },
        hosted::PdImage {
            program: "client.elf",
            entry: hosted::pd_entry!(pd_client::init),
        },
        // Conformance tests: a scripted client (support/tingu-verify).
        hosted::PdImage {
            program: "conformance.elf",
            entry: hosted::pd_entry!(pd_conformance::init),
        },
        // The same PDs without protocol observers, to measure what they cost.
        hosted::PdImage {
            program: "monitor-unchecked.elf",
            entry: hosted::pd_entry!(pd_monitor::init_unchecked),
        },
        hosted::PdImage {
            program: "serial-unchecked.elf",
            entry: hosted::pd_entry!(pd_serial::init_unchecked),
        },
        hosted::PdImage {
            program: "client-unchecked.elf",
            entry: hosted::pd_entry!(pd_client::init_unchecked),
        },
    ]);
    match cli(std::env::args().skip(1).collect()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("selfheal-hosted: {e}");
            ExitCode::from(2)
        }
    }
}

/// Options shared by the subcommands.
struct Opts {
    board: Board,
    system: PathBuf,
    frames: u32,
    faults: usize,
    seed: u64,
    kinds: Vec<Kind>,
    out: Option<PathBuf>,
    timeout: Duration,
    flags: u32,
    /// `plan --escalation`: the crash loop of the escalation tests.
    escalation: bool,
    /// `plan --monitor-crash MS`: the monitor panics MS ms after its start.
    monitor_crash: Option<u64>,
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        board: Board::QemuVirtAarch64,
        system: PathBuf::from("system.xml"),
        frames: 16_384,
        faults: 24,
        seed: 1,
        kinds: Kind::ALL[..4].to_vec(),
        out: None,
        timeout: Duration::from_secs(120),
        flags: 0,
        escalation: false,
        monitor_crash: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{a} needs a value"))
        };
        match a.as_str() {
            "--board" => {
                let v = val()?;
                o.board = Board::from_name(&v).ok_or_else(|| format!("unknown board {v:?}"))?;
            }
            "--system" => o.system = PathBuf::from(val()?),
            "--frames" => o.frames = val()?.parse().map_err(|e| format!("--frames: {e}"))?,
            "--faults" => o.faults = val()?.parse().map_err(|e| format!("--faults: {e}"))?,
            "--seed" => o.seed = val()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--timeout" => {
                o.timeout =
                    Duration::from_secs(val()?.parse().map_err(|e| format!("--timeout: {e}"))?)
            }
            "--kinds" => {
                o.kinds = val()?
                    .split(',')
                    .map(|k| Kind::from_name(k).ok_or_else(|| format!("unknown fault kind {k:?}")))
                    .collect::<Result<_, _>>()?
            }
            "-o" | "--out" => o.out = Some(PathBuf::from(val()?)),
            "--probe-wrong-state" => o.flags |= pd_client::FLAG_PROBE_WRONG_STATE,
            "--escalation" => o.escalation = true,
            "--monitor-crash" => {
                o.monitor_crash = Some(
                    val()?
                        .parse()
                        .map_err(|e| format!("--monitor-crash: {e}"))?,
                )
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(o)
}

/// Size of the `fault_plan` memory region in the system description.
fn plan_region_size(o: &Opts) -> Result<usize, String> {
    let sys = sdf::parse_file_for_boards(&o.system, &[o.board]).map_err(|e| e.to_string())?;
    let view = sys.for_board(o.board);
    view.memory_region("fault_plan")
        .map(|m| m.size as usize)
        .ok_or_else(|| format!("{}: no memory_region named fault_plan", o.system.display()))
}

/// The plan region's image for the seL4 build's prefill: the plan, padded
/// to the whole region (the Microkit tool takes a prefill page by page).
fn plan_image(o: &Opts) -> Result<Vec<u8>, String> {
    let mut b = plan_bytes(o)?;
    let size = plan_region_size(o)?;
    if b.len() > size {
        return Err(format!(
            "the plan needs {} bytes; the fault_plan region has {size} ({} faults fit)",
            b.len(),
            fault_inject::capacity(size)
        ));
    }
    b.resize(size, 0);
    Ok(b)
}

/// The fault plan for a stream of `frames` frames: every fault asked for,
/// or an error (never a plan silently cut short).
fn plan_bytes(o: &Opts) -> Result<Vec<u8>, String> {
    if let Some(ms) = o.monitor_crash {
        // One entry in the monitor's lane, aimed at the monitor itself.
        let plan = [Planned {
            site: Site::Monitor,
            at: ms.saturating_mul(1000),
            kind: Kind::Panic,
            arg: u64::from(fault_inject::MONITOR_SELF) << 56,
        }];
        let mut bytes = vec![0u8; fault_inject::bytes_for(plan.len())];
        let len = fault_inject::encode(&plan, &mut bytes).map_err(|e| e.to_string())?;
        bytes.truncate(len);
        return Ok(bytes);
    }
    if o.escalation {
        // Nine panics 300 bytes apart: the request in flight faults on every
        // replay (a crash loop: 8 warm restarts, then a cold start); the
        // cold start faults at its start (epoch 9), so the driver is
        // stopped. As in the hosted escalation test.
        let mut plan: Vec<Planned> = (1..=9)
            .map(|i| Planned::new(Site::Bytes, i * 300, Kind::Panic))
            .collect();
        plan.push(Planned::new(Site::Start, 9, Kind::WildWrite));
        let mut bytes = vec![0u8; fault_inject::bytes_for(plan.len())];
        let len = fault_inject::encode(&plan, &mut bytes).map_err(|e| e.to_string())?;
        bytes.truncate(len);
        return Ok(bytes);
    }
    let span = o.frames as u64 * 64;
    let mut entries = vec![Planned::new(Site::Bytes, 0, Kind::Panic); o.faults];
    let n = fault_inject::generate(o.seed, o.faults, span, &o.kinds, &mut entries);
    if n < o.faults {
        return Err(format!(
            "{} faults cannot be placed in a stream of {span} bytes",
            o.faults
        ));
    }
    let mut bytes = vec![0u8; fault_inject::bytes_for(n)];
    let len = fault_inject::encode(&entries[..n], &mut bytes).map_err(|e| e.to_string())?;
    bytes.truncate(len);
    Ok(bytes)
}

fn config_bytes(o: &Opts) -> Vec<u8> {
    pd_client::StreamConfig {
        frames: o.frames,
        seed: o.seed,
        flags: o.flags,
        ..pd_client::StreamConfig::DEFAULT
    }
    .as_bytes()
    .to_vec()
}

fn launch(o: &Opts, console: Console) -> Result<System, String> {
    let image = std::env::current_exe().map_err(|e| format!("own executable: {e}"))?;
    let mut cfg = LaunchConfig::new(&o.system, o.board, image);
    cfg.console = console;
    cfg.prefill = vec![
        ("fault_plan".to_string(), plan_bytes(o)?),
        ("stream_config".to_string(), config_bytes(o)),
    ];
    System::launch(cfg).map_err(|e| e.to_string())
}

const USAGE: &str = "\
usage: selfheal-hosted demo  [--board B] [--frames N] [--faults N] [--seed S] [--kinds k,..]
       selfheal-hosted run   [--board B] [--frames N] [--faults N] [--seed S] [--kinds k,..] [--timeout S]
       selfheal-hosted plan  [--board B] [--frames N] [--faults N] [--seed S] [--kinds k,..]
                             [--escalation | --monitor-crash MS] -o FILE
       selfheal-hosted config --frames N [--seed S] [--probe-wrong-state] -o FILE
boards: qemu_virt_aarch64 (default), x86_64_generic; --system FILE (default system.xml)";

fn cli(args: Vec<String>) -> Result<ExitCode, String> {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return Ok(ExitCode::SUCCESS);
    }
    let Some((cmd, rest)) = args.split_first() else {
        return Err(USAGE.into());
    };
    let o = parse(rest)?;
    match cmd.as_str() {
        "demo" => demo(&o),
        "run" => {
            let sys = launch(&o, Console::Stdout)?;
            let end = Instant::now() + o.timeout;
            while Instant::now() < end && sys.running() {
                std::thread::sleep(Duration::from_millis(20));
            }
            let failure = sys.failure();
            drop(sys);
            match failure {
                Some(f) => {
                    eprintln!("selfheal-hosted: {f}");
                    Ok(ExitCode::FAILURE)
                }
                None => Ok(ExitCode::SUCCESS),
            }
        }
        "plan" => {
            let image = plan_image(&o)?;
            // What the plan really holds, for the image's banner (the
            // escalation and monitor-crash plans ignore --faults).
            if let Some(path) = &o.out {
                let txt = path.with_extension("txt");
                std::fs::write(&txt, describe_plan(&image) + "\n")
                    .map_err(|e| format!("{}: {e}", txt.display()))?;
            }
            write_out(&o, &image)
        }
        "config" => write_out(&o, &config_bytes(&o)),
        other => Err(format!("unknown command {other:?}")),
    }
}

/// One line: how many faults a plan holds, by kind and by site.
fn describe_plan(bytes: &[u8]) -> String {
    use std::collections::BTreeMap;
    let (_, entries) = fault_inject::decode(bytes);
    let (mut n, mut kinds, mut sites) = (0, BTreeMap::new(), BTreeMap::new());
    for e in entries {
        n += 1;
        *kinds
            .entry(Kind::from_raw(e.kind).map_or("?", Kind::name))
            .or_insert(0) += 1;
        *sites
            .entry(Site::from_raw(e.site).map_or("?", Site::name))
            .or_insert(0) += 1;
    }
    let list = |m: BTreeMap<&str, u32>| {
        m.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if n == 0 {
        return "no planned faults".into();
    }
    format!(
        "{n} planned faults (kinds: {}; sites: {})",
        list(kinds),
        list(sites)
    )
}

fn write_out(o: &Opts, bytes: &[u8]) -> Result<ExitCode, String> {
    let path = o.out.as_ref().ok_or("-o FILE is required")?;
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(ExitCode::SUCCESS)
}

fn demo(o: &Opts) -> Result<ExitCode, String> {
    println!(
        "selfheal demo: board {}, {} frames ({} KiB), {} injected faults ({}), seed {}",
        o.board.name(),
        o.frames,
        o.frames as u64 * 64 / 1024,
        o.faults,
        o.kinds
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(", "),
        o.seed
    );
    let started = Instant::now();
    let sys = launch(o, Console::Capture)?;
    let mut shown = 0;
    let done = loop {
        let console = sys.console();
        let diags = system_tests::split(&console).diags;
        for d in &diags[shown.min(diags.len())..] {
            println!("  {d}");
        }
        shown = diags.len();
        if diags
            .iter()
            .any(|d| d.starts_with("client: stream done") || d.contains("stream abandoned"))
        {
            break true;
        }
        if started.elapsed() > o.timeout || !sys.running() {
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let elapsed = started.elapsed();
    let console = sys.console();
    let sys_failure = sys.failure();
    drop(sys);
    if !done {
        match sys_failure {
            Some(f) => println!("demo: FAILED: {f}"),
            None => println!("demo: timed out after {:?}", o.timeout),
        }
        return Ok(ExitCode::FAILURE);
    }
    let expect = system_tests::Expect::default();
    match system_tests::check_run(&console, &expect) {
        Ok((v, log)) => {
            let mut totals: Vec<u64> = log.restarts.iter().map(|r| r.us[4]).collect();
            totals.sort_unstable();
            println!("summary:");
            println!(
                "  stream      {} frames, {} bytes, exact (every byte once, in order) in {:.2} s",
                v.frames,
                v.bytes,
                elapsed.as_secs_f64()
            );
            println!("  faults      {} {:?}", log.faults.len(), log.kinds());
            let warm = log.restarts.iter().filter(|r| r.path == "warm").count();
            println!(
                "  restarts    {} ({} warm), fault->serving p50 {} us, p99 {} us",
                log.restarts.len(),
                warm,
                system_tests::percentile(&totals, 50.0),
                system_tests::percentile(&totals, 99.0)
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(f) => {
            println!("demo: FAILED: {f}");
            Ok(ExitCode::FAILURE)
        }
    }
}
