//! No PD process outlives its system: not after shutdown, not after a test
//! panics, not after the launching process is killed.

mod common;
use common::*;
use hosted::Board;
use std::io::BufRead;

#[test]
fn shutdown_and_drop_leave_no_process() {
    let mut sys = launch(config("hello.xml", Board::X86_64Generic));
    let pids = sys.pids();
    assert_eq!(pids.len(), 3);
    assert!(pids.iter().all(|&p| alive(p)));
    sys.shutdown();
    assert!(all_gone(&pids));
    assert!(sys.pids().is_empty());
    sys.shutdown(); // idempotent
    drop(sys);

    let sys = launch(config("hello.xml", Board::QemuVirtAarch64));
    let pids = sys.pids();
    drop(sys);
    assert!(all_gone(&pids));
}

#[test]
fn a_panicking_test_leaves_no_process() {
    let (tx, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        let sys = launch(config("hello.xml", Board::X86_64Generic));
        let _ = tx.send(sys.pids());
        panic!("the test failed");
    });
    assert!(t.join().is_err());
    let pids = rx.recv().unwrap_or_default();
    assert_eq!(pids.len(), 3);
    assert!(all_gone(&pids));
}

#[test]
fn killing_the_launcher_kills_its_pds() {
    let mut launcher = match std::process::Command::new(env!("CARGO_BIN_EXE_hosted-test-image"))
        .arg("launch")
        .arg(system_file("hello.xml"))
        .arg("x86_64_generic")
        .stdout(std::process::Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let Some(out) = launcher.stdout.take() else {
        panic!("no stdout")
    };
    let mut line = String::new();
    let _ = std::io::BufReader::new(out).read_line(&mut line);
    let pids: Vec<i32> = line
        .trim()
        .strip_prefix("pids: ")
        .unwrap_or("")
        .split(' ')
        .filter_map(|p| p.parse().ok())
        .collect();
    assert_eq!(pids.len(), 3, "{line:?}");
    assert!(pids.iter().all(|&p| alive(p)));
    let _ = launcher.kill(); // SIGKILL: no destructor runs
    let _ = launcher.wait();
    assert!(all_gone(&pids), "PD processes survived their kernel");
}
