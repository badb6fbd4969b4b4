//! Helpers shared by the integration tests.
#![allow(dead_code)]

use hosted::{Board, LaunchConfig, System};
use std::path::PathBuf;
use std::time::Duration;

/// Generous: tests run in parallel on 2 cores; nothing here is a timing assertion.
pub const T: Duration = Duration::from_secs(20);

pub fn system_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/systems")
        .join(name)
}

pub fn config(name: &str, board: Board) -> LaunchConfig {
    LaunchConfig::new(
        system_file(name),
        board,
        env!("CARGO_BIN_EXE_hosted-test-image"),
    )
}

pub fn launch(cfg: LaunchConfig) -> System {
    match System::launch(cfg) {
        Ok(s) => s,
        Err(e) => panic!("launch failed: {e}"),
    }
}

/// Wait for `needle` on the console, panicking with the console on timeout.
pub fn expect(sys: &System, needle: &str) -> String {
    match sys.wait_console_contains(needle, T) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

/// Diagnostic lines (between SO and SI) of the console, in order.
pub fn lines(sys: &System) -> Vec<String> {
    sys.console_text()
        .split(['\x0e', '\x0f', '\n'])
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// The u64 plan words as prefill bytes.
pub fn plan(words: &[u64]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// Whether a process exists and is not a zombie (an orphaned zombie may
/// wait for a PID 1 that never reaps it).
pub fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks existence.
    if unsafe { libc::kill(pid, 0) } != 0 {
        return false;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The state follows the parenthesised command name.
    let state = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .trim_start()
        .chars()
        .next();
    !matches!(state, Some('Z') | Some('X') | None)
}

/// Wait until none of `pids` is alive.
pub fn all_gone(pids: &[i32]) -> bool {
    let end = std::time::Instant::now() + T;
    while std::time::Instant::now() < end {
        if pids.iter().all(|&p| !alive(p)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

/// Number of occurrences of `needle` in the console.
pub fn count(sys: &System, needle: &str) -> usize {
    sys.console_text().matches(needle).count()
}

/// The console without diagnostic spans (SO ... SI): what the UART sent.
pub fn uart_stream(console: &[u8]) -> String {
    let mut out = Vec::new();
    let mut in_diag = false;
    for &b in console {
        match b {
            0x0e => in_diag = true,
            0x0f => in_diag = false,
            _ if !in_diag => out.push(b),
            _ => {}
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
