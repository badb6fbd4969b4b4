//! Launching the system's hosted image for end-to-end tests and benchmarks:
//! build it once, prefill its fault plan and stream configuration, wait for
//! the client to finish.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use fault_inject::{Kind, Planned, Site};
use hosted::{Board, LaunchConfig, System};
use zerocopy::IntoBytes;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The hosted image (`selfheal-hosted`), built once per test run with the
/// same profile as the tests, unless `SELFHEAL_HOSTED_IMAGE` names one.
pub fn image() -> PathBuf {
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            if let Ok(p) = std::env::var("SELFHEAL_HOSTED_IMAGE") {
                return PathBuf::from(p);
            }
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let release = !cfg!(debug_assertions);
            let mut cmd = std::process::Command::new(cargo);
            cmd.args(["build", "-q", "-p", "selfheal-hosted"])
                .current_dir(repo());
            if release {
                cmd.arg("--release");
            }
            let status = cmd.status().expect("run cargo build for the hosted image");
            assert!(status.success(), "building selfheal-hosted failed");
            // Tests and benches run from target/<profile>/deps/, binaries
            // (the campaign) from target/<profile>/.
            let exe = std::env::current_exe().expect("test executable path");
            let dir = exe.parent().expect("target directory");
            [dir, dir.parent().unwrap_or(dir)]
                .iter()
                .map(|d| d.join("selfheal-hosted"))
                .find(|p| p.exists())
                .expect("selfheal-hosted next to the executable")
        })
        .clone()
}

/// A plan of faults between bytes of the stream: (byte count, kind).
pub fn plan(entries: &[(u64, Kind)]) -> Vec<u8> {
    let p: Vec<Planned> = entries
        .iter()
        .map(|&(at, k)| Planned::new(Site::Bytes, at, k))
        .collect();
    planned(&p)
}

/// A plan whose entries name their site.
pub fn plan_sites(entries: &[(Site, u64, Kind)]) -> Vec<u8> {
    let p: Vec<Planned> = entries
        .iter()
        .map(|&(site, at, k)| Planned::new(site, at, k))
        .collect();
    planned(&p)
}

/// The bytes of a plan, exactly as long as it needs (the launch refuses a
/// prefill larger than its region, naming both sizes).
pub fn planned(entries: &[Planned]) -> Vec<u8> {
    let mut b = vec![0u8; fault_inject::bytes_for(entries.len())];
    match fault_inject::encode(entries, &mut b) {
        Ok(n) => b.truncate(n),
        Err(e) => panic!("{e}"),
    }
    b
}

pub fn random_plan(seed: u64, faults: usize, span: u64, kinds: &[Kind]) -> Vec<u8> {
    let mut e = vec![Planned::new(Site::Bytes, 0, Kind::Panic); faults];
    let n = fault_inject::generate(seed, faults, span, kinds, &mut e);
    planned(&e[..n])
}

pub fn config(frames: u32, seed: u64) -> Vec<u8> {
    config_flags(frames, seed, 0)
}

pub fn config_flags(frames: u32, seed: u64, flags: u32) -> Vec<u8> {
    pd_client::StreamConfig {
        frames,
        seed,
        flags,
        ..pd_client::StreamConfig::DEFAULT
    }
    .as_bytes()
    .to_vec()
}

/// Launch the real system (`system.xml`) with a fault plan and a stream configuration.
pub fn launch(board: Board, plan: Vec<u8>, config: Vec<u8>) -> System {
    launch_file(&repo().join("system.xml"), board, plan, config)
}

/// Launch the system described by `system_xml`.
pub fn launch_file(system_xml: &Path, board: Board, plan: Vec<u8>, config: Vec<u8>) -> System {
    let mut cfg = LaunchConfig::new(system_xml, board, image());
    cfg.prefill = vec![
        ("fault_plan".into(), plan),
        ("stream_config".into(), config),
    ];
    System::launch(cfg).expect("launch the system")
}

/// Wait until a diagnostic line satisfies `done`; returns the console once
/// it has settled.
pub fn run_until(sys: &System, timeout: Duration, done: impl Fn(&[String]) -> bool) -> Vec<u8> {
    let start = Instant::now();
    loop {
        let console = sys.console();
        let diags = crate::split(&console).diags;
        if done(&diags) {
            return settled(sys, console);
        }
        if start.elapsed() > timeout {
            let tail: Vec<_> = diags.iter().rev().take(30).rev().collect();
            panic!("timed out after {timeout:?}; last diagnostics:\n{tail:#?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The console once it has stopped growing (at most 2 s more): a device
/// model may still be draining the last bytes a driver handed it when the
/// line that ended the wait was printed.
fn settled(sys: &System, mut console: Vec<u8>) -> Vec<u8> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(50));
        let now = sys.console();
        if now.len() == console.len() {
            return now;
        }
        console = now;
    }
    console
}

pub fn stream_finished(d: &[String]) -> bool {
    d.iter()
        .any(|l| l.starts_with("client: stream done") || l.contains("stream abandoned"))
}
