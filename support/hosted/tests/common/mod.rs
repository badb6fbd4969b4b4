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

/// Whether a process exists (a reaped one does not).
pub fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks existence.
    unsafe { libc::kill(pid, 0) == 0 }
}
