//! The system description (`sdf`): `system.xml` and the test systems are
//! files anyone may edit, and the build trusts what this crate accepts.
//! Parsing and validating any text, for every board and for none, must give
//! a system or a diagnostic, never a panic; an accepted system must render
//! for every board (and the rendering must be accepted again for that board)
//! and generate the monitor's child table and port constants.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sdf::Board;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Every board's view is validated (parse_str_for_boards with one board,
    // or none, runs a subset of the same code: not repeated here).
    let sys = match sdf::parse_str("fuzz.xml", &text, None) {
        Ok(sys) => sys,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    for w in &sys.warnings {
        let _ = w.to_string();
    }
    for b in Board::ALL {
        let view = sys.for_board(b);
        let out = sdf::render(&sys, b);
        assert_eq!(sdf::render(&view, b), out, "a view renders as its system");
        if let Err(e) = sdf::parse_str_for_boards("rendered.xml", &out, None, &[b]) {
            panic!("the rendering for {b} is refused: {e}\n{out}");
        }
        for pd in view.protection_domains.iter().take(8) {
            let _ = sdf::codegen::port_channels(&view, &pd.name);
            let _ = sdf::codegen::monitor_table_for_board(&sys, b, &pd.name);
        }
    }
    for pd in sys.protection_domains.iter().take(8) {
        let _ = sdf::codegen::monitor_table(&sys, &pd.name);
        let _ = sdf::codegen::port_channels(&sys, &pd.name);
    }
    let _ = sdf::codegen::monitor_table(&sys, "no such pd");
});
