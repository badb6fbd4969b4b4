//! What launch refuses, and how it says so.

mod common;
use common::*;
use hosted::{Board, Error, LaunchConfig, System};

fn launch_err(cfg: LaunchConfig) -> Error {
    match System::launch(cfg) {
        Ok(_) => panic!("launch succeeded"),
        Err(e) => e,
    }
}

#[test]
fn a_protected_call_to_a_lower_priority_is_refused_at_load() {
    let e = launch_err(config("bad_priority.xml", Board::X86_64Generic));
    let text = e.to_string();
    assert!(matches!(e, Error::Sdf(_)), "{text}");
    assert!(
        text.ends_with("bad_priority.xml:10:31: <end pp=\"true\">: pp=\"true\" needs a strictly higher-priority peer: \"high\" (priority 200) calls \"low\" (priority 100)"),
        "{text}"
    );
}

#[test]
fn a_malformed_system_is_refused_with_the_element_named() {
    let e = launch_err(config("malformed.xml", Board::QemuVirtAarch64));
    assert!(
        e.to_string().ends_with(
            "malformed.xml:5:9: <mapp>: unknown element <mapp> inside <protection_domain>"
        ),
        "{e}"
    );
}

#[test]
fn a_region_address_taken_in_the_image_is_named() {
    let mut cfg = config("collide.xml", Board::X86_64Generic);
    cfg.env
        .push(("HOSTED_TEST_OCCUPY".into(), "0x70000000".into()));
    let e = launch_err(cfg);
    match &e {
        Error::Boot { pd, message } => {
            assert_eq!(pd, "hello");
            assert!(
                message.contains("vaddr 0x70000000 in PD hello is already mapped in this process"),
                "{message}"
            );
        }
        other => panic!("{other}"),
    }
    // Without the squatter, the same system starts.
    let sys = launch(config("collide.xml", Board::X86_64Generic));
    expect(&sys, "hello from hello");
}

#[test]
fn an_image_without_the_program_is_refused() {
    let e = launch_err(config("noentry.xml", Board::X86_64Generic));
    assert!(
        e.to_string().contains("PD ghost cannot start: this image has no entry for program ghost.elf of PD ghost (it has: supervisor.elf,"),
        "{e}"
    );
}

#[test]
fn an_image_that_is_not_a_hosted_image_is_refused() {
    let mut cfg = config("hello.xml", Board::X86_64Generic);
    cfg.image = "/bin/true".into();
    let e = launch_err(cfg);
    assert!(e.to_string().contains("exited before booting"), "{e}");
}

#[test]
fn unsupported_and_inconsistent_configurations_are_refused() {
    let e = launch_err(config("msi.xml", Board::X86_64Generic));
    assert!(
        e.to_string()
            .contains("MSI interrupts are not supported by the hosted runtime"),
        "{e}"
    );
    let mut cfg = config("hello.xml", Board::X86_64Generic);
    cfg.prefill.push(("nope".into(), vec![1]));
    assert!(launch_err(cfg)
        .to_string()
        .contains("prefill: no memory region named nope"));
    let mut cfg = config("hello.xml", Board::X86_64Generic);
    cfg.prefill.push(("buf".into(), vec![0; 0x1001]));
    assert!(launch_err(cfg)
        .to_string()
        .contains("prefill for region buf is 4097 bytes, the region has 4096"));
    let mut cfg = config("hello.xml", Board::X86_64Generic);
    cfg.image = "/nonexistent/image".into();
    assert!(launch_err(cfg)
        .to_string()
        .contains("starting /nonexistent/image for PD hello"));
}

#[test]
fn regions_are_readable_and_writable_from_the_test() {
    let mut cfg = config("hello.xml", Board::QemuVirtAarch64);
    cfg.prefill
        .push(("buf".into(), b"prefilled by the launch!".to_vec()));
    let sys = launch(cfg);
    // The launch prefill comes after prefill_path, so it wins.
    expect(&sys, "hello: buf says 'prefilled by the launch!h'");
    let Some(r) = sys.region("buf") else {
        panic!("no region")
    };
    assert_eq!(r.len(), 0x1000);
    assert_eq!(r.read(0, 9), b"prefilled");
    assert!(r.write(0x10, &7u64.to_le_bytes()));
    assert_eq!(r.read_u64(0x10), 7);
    assert!(!r.write(0xfff, &[1, 2]), "out of range");
    assert!(sys.region("nope").is_none());
    assert!(sys.inject_rx(b"x").is_err(), "no UART in this system");
}
