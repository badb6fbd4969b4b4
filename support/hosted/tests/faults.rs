//! A child's faults reach its parent decoded; the parent restarts or stops
//! it; a restart gives a fresh image while regions keep their contents.

mod common;
use common::*;
use hosted::{Board, PdState, System};

fn run(board: Board, words: &[u64]) -> System {
    let mut cfg = config("faults.xml", board);
    cfg.prefill.push(("plan".into(), plan(words)));
    launch(cfg)
}

/// The fault, then a restart, then a well-behaved second start whose
/// region counter went on while the image's static started over.
fn fault_then_restart(board: Board, behaviour: u64, fault_text: &str, kind: &str) {
    let sys = run(board, &[behaviour]);
    expect(&sys, "worker: start region=1 static=1");
    let line = format!("supervisor: child 0 fault: {fault_text}");
    let c = expect(&sys, &line);
    let fault_line = c
        .lines()
        .find(|l| l.contains(&line))
        .unwrap_or_default()
        .to_string();
    assert!(
        fault_line.contains(&format!("[{kind}]")),
        "{board}: {fault_line}"
    );
    expect(&sys, "supervisor: restarted child 0 (Ok(()))");
    expect(&sys, "worker: start region=2 static=1");
    expect(&sys, "supervisor: child ready");
    let st = sys.stats("worker").unwrap_or_else(|| panic!("no stats"));
    assert_eq!(
        (st.starts, st.faults, st.state),
        (2, 1, PdState::Running),
        "{board}"
    );
    assert_eq!(sys.region("state").map(|r| r.read_u64(0)), Some(2));
}

#[test]
fn vm_fault_is_delivered_decoded_and_the_child_restarted() {
    for board in Board::ALL {
        fault_then_restart(board, 1, "vm-fault data addr=0x10 ", "memory");
    }
}

#[test]
fn write_to_a_read_only_mapping_is_a_vm_fault() {
    for board in Board::ALL {
        fault_then_restart(board, 5, "vm-fault data addr=0x2100000 ", "memory");
    }
}

#[test]
fn panic_is_delivered_as_the_boards_panic_fault() {
    let sys = run(Board::QemuVirtAarch64, &[2]);
    expect(&sys, "worker: panic: panicked at");
    expect(&sys, "planned panic");
    drop(sys);
    fault_then_restart(
        Board::QemuVirtAarch64,
        2,
        "debug-exception reason=3",
        "panic",
    );
    fault_then_restart(Board::X86_64Generic, 2, "user-exception number=6", "panic");
}

#[test]
fn illegal_instruction_is_a_user_exception() {
    // On x86 seL4 cannot tell ud2 from a panic's ud2: both are #UD.
    fault_then_restart(Board::X86_64Generic, 3, "user-exception number=6", "panic");
    fault_then_restart(
        Board::QemuVirtAarch64,
        3,
        "user-exception number=0",
        "exception",
    );
}

#[test]
fn resume_re_executes_the_faulting_instruction() {
    // The supervisor resumes twice, then restarts: three identical faults.
    let sys = run(Board::X86_64Generic, &[1, 0, 2]);
    expect(&sys, "worker: start region=2 static=1");
    assert_eq!(
        count(&sys, "supervisor: child 0 fault: vm-fault data addr=0x10 "),
        3
    );
    assert_eq!(count(&sys, "supervisor: resuming child 0"), 2);
    assert_eq!(
        count(&sys, "worker: writing to 0x10"),
        1,
        "resumed, not restarted"
    );
    assert_eq!(
        sys.stats("worker").map(|s| (s.starts, s.faults)),
        Some((2, 3))
    );
}

#[test]
fn a_hung_child_is_found_by_the_timer_and_restarted() {
    for board in Board::ALL {
        let sys = run(board, &[4]);
        expect(&sys, "worker: spinning");
        expect(&sys, "supervisor: child 0 hung for");
        expect(&sys, "supervisor: restarted child 0 (Ok(()))");
        expect(&sys, "worker: start region=2 static=1");
        expect(&sys, "supervisor: child ready");
    }
}

#[test]
fn a_hung_child_can_be_stopped() {
    let sys = run(Board::X86_64Generic, &[4, 1]);
    expect(&sys, "supervisor: stopped child 0 (Ok(()))");
    let st = sys.wait_stats("worker", T, |s| s.state == PdState::Stopped);
    assert!(
        st.is_ok_and(|s| s.pid.is_none() && s.starts == 1),
        "{}",
        sys.console_text()
    );
}

#[test]
fn a_child_killed_from_outside_is_delivered_as_died() {
    let sys = run(Board::X86_64Generic, &[0]);
    expect(&sys, "supervisor: child ready");
    let pid = sys.stats("worker").and_then(|s| s.pid).unwrap_or(0);
    assert!(pid > 0);
    // SAFETY: killing a PD process of this test.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    expect(&sys, "supervisor: child 0 fault: died signal=9 [died]");
    expect(&sys, "worker: start region=2 static=1");
}

#[test]
fn a_fault_without_a_parent_is_logged_and_the_pd_stays_stopped() {
    let mut cfg = config("root_fault.xml", Board::X86_64Generic);
    cfg.prefill.push(("plan".into(), plan(&[1])));
    let sys = launch(cfg);
    expect(
        &sys,
        "hosted: PD worker faulted and has no parent to handle it: vm-fault data addr=0x10",
    );
    let st = sys.wait_stats("worker", T, |s| s.state == PdState::Stopped);
    assert!(st.is_ok_and(|s| s.faults == 1 && s.pid.is_none()));
    // The other PD is unaffected.
    expect(&sys, "hello from bystander");
}

#[test]
fn a_caller_blocked_on_a_faulting_callee_is_answered_after_the_restart() {
    let sys = launch(config("blocked_call.xml", Board::X86_64Generic));
    expect(&sys, "driver: faulting while serving label 5");
    expect(&sys, "supervisor: child 0 fault: vm-fault data addr=0x10");
    expect(&sys, "driver: start #2");
    expect(
        &sys,
        "driver: answered the call left by the previous incarnation",
    );
    expect(&sys, "caller: answered with label 105");
    let restart = lines(&sys)
        .into_iter()
        .find(|l| l.starts_with("supervisor: restarted child 0"))
        .unwrap_or_default();
    println!("{restart}");
}
