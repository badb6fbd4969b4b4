//! System benchmarks on the hosted runtime (release build), each comparing
//! against a baseline measured in the same run:
//!
//! * stream throughput with protocol observers on every PD vs. the same PDs
//!   with the channel layer letting everything through;
//! * stream throughput with injected faults vs. without;
//! * restart latency, fault to serving again, over >= 1000 restarts, with
//!   its phases (delivery, reset, recover, replay), p50 and p99.
//!
//! Run: `cargo bench -p system-tests --bench system` (or `make bench`).
//! Timings come from the PDs' own clocks (the client times its stream, the
//! monitor times each restart), not from timed tests.

use std::time::Duration;

use fault_inject::Kind;
use hosted::Board;
use system_tests::{launch, percentile, split, MonitorLog};

const FRAMES: u32 = 16_384; // 1 MiB

/// The client's own measurement of its stream, in microseconds.
fn stream_us(console: &[u8]) -> u64 {
    split(console)
        .diags
        .iter()
        .find_map(|d| {
            d.strip_prefix("client: stream done: ")
                .and_then(|rest| rest.rsplit(", ").next())
                .and_then(|t| t.strip_suffix(" us"))
                .and_then(|t| t.parse().ok())
        })
        .unwrap_or(0)
}

fn run(system: &std::path::Path, plan: Vec<u8>, seed: u64) -> Vec<u8> {
    let sys = launch::launch_file(
        system,
        Board::QemuVirtAarch64,
        plan,
        launch::config(FRAMES, seed),
    );
    let console = launch::run_until(&sys, Duration::from_secs(300), launch::stream_finished);
    drop(sys);
    console
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

fn mib_per_s(us: u64) -> f64 {
    (FRAMES as f64 * 64.0 / (1 << 20) as f64) / (us as f64 / 1e6)
}

fn main() {
    let real = launch::repo().join("system.xml");
    let text = std::fs::read_to_string(&real).expect("system.xml");
    let unchecked_text = ["monitor", "serial", "client"].iter().fold(text, |t, pd| {
        t.replace(
            &format!("path=\"{pd}.elf\""),
            &format!("path=\"{pd}-unchecked.elf\""),
        )
    });
    let dir = std::env::temp_dir().join(format!("selfheal-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let unchecked = dir.join("system.xml");
    std::fs::write(&unchecked, unchecked_text).expect("write system");

    // 1. Observers on vs off, interleaved so both see the same machine. A
    // hosted run's time depends on how the host schedules four processes
    // (spread of +-25% on two cores): many runs, medians and minima.
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for i in 0..15 {
        on.push(stream_us(&run(&real, launch::plan(&[]), i)));
        off.push(stream_us(&run(&unchecked, launch::plan(&[]), i)));
    }
    println!("  runs (us): on {on:?}, off {off:?}");
    let (on_min, off_min) = (
        on.iter().copied().min().unwrap_or(0),
        off.iter().copied().min().unwrap_or(0),
    );
    println!(
        "  fastest runs: on {on_min} us, off {off_min} us: ratio on/off {:.3}",
        off_min as f64 / on_min.max(1) as f64
    );
    let (on, off) = (median(on), median(off));
    println!(
        "throughput, no faults: observers on {:.2} MiB/s ({} us), off {:.2} MiB/s ({} us): ratio on/off {:.3}",
        mib_per_s(on),
        on,
        mib_per_s(off),
        off,
        off as f64 / on as f64
    );

    // 2. With 24 crash faults vs without (observers on).
    let crash = [Kind::WildWrite, Kind::NullRead, Kind::Panic];
    let mut faulted = Vec::new();
    for i in 0..5 {
        let plan = launch::random_plan(100 + i, 24, FRAMES as u64 * 64, &crash);
        faulted.push(stream_us(&run(&real, plan, i)));
    }
    let faulted = median(faulted);
    println!(
        "throughput, 24 faults per MiB: {:.2} MiB/s ({} us): ratio faulted/clean {:.3}",
        mib_per_s(faulted),
        faulted,
        on as f64 / faulted as f64
    );

    // 3. Restart latency over >= 1000 completed restarts (runs of 125 faults;
    // a fault that hits the replay of the previous one leaves that restart
    // uncompleted, so more faults than restarts are needed).
    let mut phases: [Vec<u64>; 5] = Default::default();
    let mut faults = 0;
    let mut i = 0u64;
    while phases[4].len() < 1000 && i < 40 {
        i += 1;
        let plan = launch::random_plan(1000 + i, 125, FRAMES as u64 * 64, &crash);
        let console = run(&real, plan, i);
        let log = MonitorLog::parse(&split(&console).diags);
        faults += log.faults.len();
        for r in log.restarts.iter().filter(|r| r.path == "warm") {
            for (k, v) in r.us.iter().enumerate() {
                phases[k].push(*v);
            }
        }
    }
    let names = ["delivery", "reset", "recover", "replay", "total"];
    println!(
        "restart latency over {} completed warm restarts ({faults} faults) (us):",
        phases[4].len()
    );
    for (name, v) in names.iter().zip(phases.iter_mut()) {
        v.sort_unstable();
        println!(
            "  {name:<8} p50 {:>6}  p99 {:>6}  max {:>6}",
            percentile(v, 50.0),
            percentile(v, 99.0),
            v.last().copied().unwrap_or(0)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
