//! Generate the monitor's child table from the one system description.

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let system = std::env::var("SELFHEAL_SYSTEM")
        .map(PathBuf::from)
        .unwrap_or_else(|_| manifest.join("../../system.xml"));
    println!("cargo:rerun-if-changed={}", system.display());
    println!("cargo:rerun-if-env-changed=SELFHEAL_SYSTEM");
    let sys = match sdf::parse_file(&system) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let table = match sdf::codegen::monitor_table(&sys, "recovery_monitor") {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("children.rs");
    if let Err(e) = std::fs::write(&out, table) {
        eprintln!("cannot write {}: {e}", out.display());
        std::process::exit(1);
    }
}
