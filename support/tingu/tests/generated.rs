//! The generated code that `tingu-runtime`'s tests compile and exercise is
//! checked in (so `cargo test` needs no build script); this test regenerates
//! it and fails if it is stale. `TINGU_BLESS=1 cargo test -p tingu` rewrites it.
//! It also puts this system's own specifications through the checker.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fresh(out: &str, inputs: &[&str]) {
    let root = root();
    let files: Vec<PathBuf> = inputs.iter().map(|f| root.join(f)).collect();
    let compiled = match tingu::compile_files(&files) {
        Ok(c) => c,
        Err(d) => panic!("{inputs:?} does not compile:\n{d}"),
    };
    let names: Vec<String> = files
        .iter()
        .map(|f| {
            f.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    let code = match tingu::rust::generate(&compiled.spec, &names) {
        Ok(c) => c,
        Err(e) => panic!("codegen failed: {e}"),
    };
    let path = root.join(out);
    if std::env::var_os("TINGU_BLESS").is_some() {
        std::fs::write(&path, &code).expect("write blessed file");
        return;
    }
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        old == code,
        "{out} is stale: run `TINGU_BLESS=1 cargo test -p tingu --test generated`"
    );
}

#[test]
fn paper_specs_generated_code_is_fresh() {
    fresh(
        "support/tingu-runtime/tests/gen/asix.rs",
        &["support/tingu/tests/specs/asix.tingu"],
    );
}

#[test]
fn system_specs_generated_code_is_fresh() {
    fresh(
        "support/tingu-runtime/tests/gen/system.rs",
        &["drivers/serial/api/serial.tingu"],
    );
}

#[test]
fn system_specs_check() {
    let root = root();
    for f in [
        "drivers/serial/api/serial.tingu",
        "recovery/monitor/lifecycle.tingu",
        "recovery/monitor/control.tingu",
    ] {
        let c = match tingu::compile_files(&[root.join(f)]) {
            Ok(c) => c,
            Err(d) => panic!("{f}:\n{d}"),
        };
        assert!(c.warnings.is_empty(), "{f}: {:?}", c.warnings);
    }
    let c = tingu::compile_files(&[root.join("drivers/serial/api/serial.tingu")])
        .expect("checked above");
    // serial.tingu imports both monitor specs.
    assert_eq!(c.files().len(), 3);
    let names: Vec<&str> = c.spec.components.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["serial", "serial_client", "monitor"]);
    let (_, ss) = c.spec.protocol("SerialStream").expect("SerialStream");
    let labels: Vec<(String, u64)> = ss
        .messages
        .iter()
        .map(|m| (m.name.clone(), m.label))
        .collect();
    let want: Vec<(String, u64)> = [
        ("open", 1),
        ("opened", 0x101),
        ("write", 2),
        ("written", 0x102),
        ("close", 3),
        ("closed", 0x103),
        ("restarted", 0x1f0),
        ("stopped", 0x1f1),
        ("invalid", 0x1f2),
    ]
    .iter()
    .map(|(n, l)| (n.to_string(), *l))
    .collect();
    assert_eq!(labels, want);
}

#[test]
fn docs_first_example_compiles() {
    let doc = std::fs::read_to_string(root().join("docs/tingu.md")).expect("docs/tingu.md");
    let start = doc.find("```tingu\nconst D0").expect("example") + "```tingu\n".len();
    let len = doc[start..].find("```").expect("closing fence");
    let c = tingu::compile_sources(&[("doc.tingu", &doc[start..start + len])]);
    let c = c.unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(c.spec.components[0].name, "asix");
}
