//! The Tingu compiler (`tingu::compile_sources`): a specification is input
//! (its own crate says so), and `build.rs` scripts run it on every build.
//! Lexing, parsing and checking any text must give an IR or diagnostics,
//! never a panic; whatever compiles goes through both backends.
//!
//! The input holds up to four sources separated by NUL bytes, named
//! `0.tingu` .. `3.tingu`, so that imports between them resolve.
#![no_main]

use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 4] = ["0.tingu", "1.tingu", "2.tingu", "3.tingu"];

fuzz_target!(|data: &[u8]| {
    let texts: Vec<String> = data
        .split(|&b| b == 0)
        .take(NAMES.len())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    let sources: Vec<(&str, &str)> = NAMES
        .iter()
        .zip(&texts)
        .map(|(n, t)| (*n, t.as_str()))
        .collect();
    match tingu::compile_sources(&sources) {
        Ok(c) => {
            let names: Vec<String> = sources.iter().map(|(n, _)| n.to_string()).collect();
            let _ = tingu::rust::generate(&c.spec, &names);
            for p in &c.spec.protocols {
                let _ = tingu::dot::protocol(p);
            }
            for w in &c.warnings {
                let _ = w.render(&c.map);
            }
        }
        Err(d) => {
            assert!(d.error_count() > 0, "an Err carries at least one error");
            let _ = d.to_string();
        }
    }
});
