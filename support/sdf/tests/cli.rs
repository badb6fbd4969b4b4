//! The `sdf` command line: `-h` / `--help` answer with the usage.

use std::process::Command;

fn sdf(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sdf"))
        .args(args)
        .output()
        .expect("run sdf")
}

#[test]
fn help_prints_the_usage_on_stdout_and_succeeds() {
    for args in [
        &["--help"][..],
        &["-h"],
        &["help"],
        &["render", "--help"],
        &["check", "-h", "system.xml"],
    ] {
        let out = sdf(args);
        assert_eq!(out.status.code(), Some(0), "sdf {args:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.starts_with("usage:"), "sdf {args:?}: {stdout}");
        assert!(stdout.contains("sdf render --board BOARD"), "{stdout}");
        assert!(out.stderr.is_empty(), "sdf {args:?}");
    }
}

#[test]
fn no_arguments_and_unknown_options_still_fail() {
    let out = sdf(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage:"));
    let out = sdf(&["check", "--bogus"]);
    assert_eq!(out.status.code(), Some(2));
}
