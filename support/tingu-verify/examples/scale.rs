//! How large a composition the checker handles: a synthetic protocol whose
//! driver and client each keep a counter `0..=N`, checked with up to `K`
//! crashes, growing `N` (variable domain) or `K` (crash bound) until one
//! composition takes longer than a budget (default 60 s).
//!
//! `subports` grows the bound of a subport template instead (pipes keyed by
//! an address, each with a transfer call), with two crashes.
//!
//! ```text
//! cargo run -p tingu-verify --release --example scale -- [domain|crashes|subports] [budget_s] [--spin]
//! ```

use std::time::Instant;

use tingu::verify::{self, promela, Options};

fn spec(n: u32) -> String {
    format!(
        "protocol Counter {{
    in  add(k: u8)             = 1     call;
    out added(total: u32)      = 0x101 reply to add;
    in  clear()                = 2     call;
    out cleared()              = 0x102 reply to clear;
    out restarted(epoch: u64)  = 0x1f0 reply;
    out stopped(epoch: u64)    = 0x1f1 reply;
    var total: 0..={n} = 0;
    initial state idle {{
        ?add(k) [k >= 1 && k <= 2] / total = total + k -> adding;
        ?clear / total = 0 -> clearing;
        !restarted -> idle;
        !stopped -> dead;
    }}
    state adding [1s]   {{ !added -> idle; !restarted -> idle; !stopped -> dead; }}
    state clearing [1s] {{ !cleared -> idle; !restarted -> idle; !stopped -> dead; }}
    state dead  {{ ?add -> dying; ?clear -> dying; }}
    state dying {{ !stopped -> dead; }}
}}"
    )
}

fn subports(n: u32) -> String {
    format!(
        "protocol Bus {{
    in  open(addr: u8)         = 1     call;
    out opened(addr: u8)       = 0x101 reply to open;
    out restarted(epoch: u64)  = 0x1f0 reply;
    out stopped(epoch: u64)    = 0x1f1 reply;
    subport Pipe pipe[{n}];
    initial state ready {{ ?open(a) / spawn pipe(a) -> opening; !restarted -> ready; !stopped -> dead; }}
    state opening {{ !opened -> ready; !restarted -> ready; !stopped -> dead; }}
    state dead  {{ ?open -> dying; }}
    state dying {{ !stopped -> dead; }}
}}
protocol Pipe {{
    key addr;
    in  xfer(addr: u8)    = 0x30  call;
    out done(addr: u8)    = 0x130 reply to xfer;
    in  close(addr: u8)   = 0x31  call;
    out closed(addr: u8)  = 0x131 reply to close;
    initial state idle {{ ?xfer -> busy; ?close -> closing; }}
    state busy    {{ !done -> idle; }}
    state closing {{ !closed -> gone; }}
    final state gone;
}}"
    )
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let what = args.first().map_or("domain", String::as_str).to_string();
    let budget: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(60.0);
    let spin = args.iter().any(|a| a == "--spin");
    println!(
        "{:>8} {:>8} {:>12} {:>14} {:>10} {:>12}",
        "domain", "crashes", "states", "transitions", "ours s", "spin s"
    );
    let mut x: u32 = 1;
    loop {
        let (n, k) = if what == "crashes" { (64, x) } else { (x, 2) };
        let src = if what == "subports" {
            subports(n)
        } else {
            spec(n)
        };
        let compiled = match tingu::compile_sources(&[("counter.tingu", &src)]) {
            Ok(c) => c,
            Err(d) => {
                eprintln!("{d}");
                return;
            }
        };
        let mut o = Options::default();
        o.restart.max_crashes = u8::try_from(k).unwrap_or(u8::MAX);
        let t = Instant::now();
        let r = match verify::verify_spec(&compiled, &o) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{e}");
                return;
            }
        };
        let secs = t.elapsed().as_secs_f64();
        let c = &r.checked[0];
        let mut spin_s = String::from("-");
        if spin && c.exploration.states < 2_000_000 {
            if let Ok(p) = promela::export(&compiled.spec, &c.composition) {
                let dir = std::env::temp_dir().join("tingu-scale");
                if let Ok(f) = promela::write(&dir, "counter", &p) {
                    if let Ok(s) = promela::run_spin(&f) {
                        let st = s.run("states").map_or(0, |r| r.states);
                        spin_s = format!(
                            "{:.2} ({} st)",
                            s.runs.iter().map(|r| r.seconds).sum::<f64>(),
                            st
                        );
                    }
                }
            }
        }
        println!(
            "{n:>8} {k:>8} {:>12} {:>14} {:>10.3} {:>12}",
            c.exploration.states, c.exploration.transitions, secs, spin_s
        );
        if secs > budget
            || x >= 1 << 22
            || c.exploration.truncated
            || (what == "crashes" && x >= 250)
        {
            break;
        }
        x = if what == "subports" { x + 1 } else { x * 2 };
    }
}
