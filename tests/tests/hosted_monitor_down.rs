//! The monitor's own failure is not silent: when the one PD that supervises
//! the drivers dies, the hosted runtime says so and stops the whole system
//! within a second (nothing may go on unsupervised), and the command-line
//! launcher exits with a failure.

use system_tests::launch as common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hosted::Board;

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for the process.
    unsafe { libc::kill(pid, 0) == 0 }
}

#[test]
fn the_monitors_death_stops_the_system_within_a_second() {
    for board in Board::ALL {
        let sys = common::launch(board, common::plan(&[]), common::config(100_000, 1));
        let _ = common::run_until(&sys, Duration::from_secs(30), |d| {
            d.iter().any(|l| l.starts_with("client: session open"))
        });
        let pids = sys.pids();
        let killed = sys
            .signal("recovery_monitor", libc::SIGKILL)
            .unwrap_or_else(|e| panic!("{e}"));
        let t = Instant::now();
        while sys.running() || pids.iter().any(|&p| p != killed && alive(p)) {
            assert!(
                t.elapsed() < Duration::from_secs(1),
                "{board}: still running {:?} after the monitor died",
                t.elapsed()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let failure = sys.failure().unwrap_or_default();
        assert!(
            failure.contains("supervisor recovery_monitor is down"),
            "{board}: {failure:?}"
        );
        let console = String::from_utf8_lossy(&sys.console()).to_string();
        assert!(console.contains("stopping the system"), "{console}");
    }
}

#[test]
fn the_launcher_exits_with_a_failure_when_the_monitor_dies() {
    let mut child = Command::new(common::image())
        .args([
            "run",
            "--frames",
            "100000",
            "--faults",
            "0",
            "--timeout",
            "60",
        ])
        .current_dir(common::repo())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("launch: {e}"));
    // Find the monitor's process (its arg0 is pd:recovery_monitor).
    let t = Instant::now();
    let monitor = loop {
        let found = std::fs::read_dir("/proc").ok().and_then(|d| {
            d.flatten().find_map(|e| {
                let pid: i32 = e.file_name().to_str()?.parse().ok()?;
                let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
                let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
                let ppid: u32 = stat
                    .rsplit(')')
                    .next()?
                    .split_whitespace()
                    .nth(1)?
                    .parse()
                    .ok()?;
                (cmd.starts_with(b"pd:recovery_monitor\0") && ppid == child.id()).then_some(pid)
            })
        });
        if let Some(p) = found {
            break p;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "no monitor process");
        std::thread::sleep(Duration::from_millis(20));
    };
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: killing the monitor process found above.
    unsafe { libc::kill(monitor, libc::SIGKILL) };
    let t = Instant::now();
    let status = loop {
        if let Ok(Some(s)) = child.try_wait() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "the launcher is still running after the monitor died"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(!status.success(), "{status:?}");
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    assert!(err.contains("supervisor recovery_monitor is down"), "{err}");
}

#[test]
fn the_monitors_own_crash_is_reported_and_stops_the_system() {
    // The monitor's plan lane aimed at the monitor itself (what
    // `make test-qemu-monitor-down` boots on seL4).
    let plan = common::planned(&[fault_inject::Planned {
        site: fault_inject::Site::Monitor,
        at: 300_000,
        kind: fault_inject::Kind::Panic,
        arg: u64::from(fault_inject::MONITOR_SELF) << 56,
    }]);
    for board in Board::ALL {
        let sys = common::launch(board, plan.clone(), common::config(1_000_000, 1));
        let t = Instant::now();
        while sys.running() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "{board}: still running"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let failure = sys.failure().unwrap_or_default();
        assert!(
            failure.contains("supervisor recovery_monitor is down"),
            "{board}: {failure:?}"
        );
        let console = String::from_utf8_lossy(&sys.console()).to_string();
        assert!(
            console.contains("monitor: injected panic into the monitor itself"),
            "{console}"
        );
        assert!(console.contains("stopping the system"), "{console}");
    }
}
