//! `tingu`: check specifications, generate Rust observers, draw statecharts.
//!
//! ```text
//! tingu check <files>...
//! tingu gen --rust <out.rs> <files>...
//! tingu dot --out-dir <dir> <files>...
//! tingu verify [options] <system.xml | files...>
//! tingu help | --help | -h        (and `tingu <command> --help`)
//! ```
//! Exit status: 0 on success (and for `--help`, which prints the usage on
//! stdout), 1 if the specification has errors, 2 on usage or I/O errors.

use std::path::PathBuf;
use std::process::ExitCode;

#[path = "../verify_cli.rs"]
mod verify;

const USAGE: &str = "usage:
  tingu check <files>...                  check specifications
  tingu gen --rust <out.rs> <files>...    generate the Rust observers
  tingu dot --out-dir <dir> <files>...    draw statecharts (Graphviz)
  tingu verify [--crashes N] [--restarts warm,cold,tombstone,lossy] [--commit atomic|effect-then-mark|mark-then-effect]
               [--max-states N] [--charts DIR] [--spin] [--promela DIR] <system.xml | files...>
                                          model-check compositions (tingu verify --help)
  tingu help | --help | -h                this text (also `tingu <command> --help`)
exit status: 0 ok, 1 specification errors (or a violation), 2 usage or I/O errors";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    if matches!(cmd.as_str(), "help" | "--help" | "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    if cmd == "verify" {
        return verify::main(&args[1..]);
    }
    if !matches!(cmd.as_str(), "check" | "gen" | "dot") {
        eprintln!("tingu: unknown command `{cmd}`\n{USAGE}");
        return ExitCode::from(2);
    }
    let mut rust_out: Option<PathBuf> = None;
    let mut out_dir: Option<PathBuf> = None;
    let mut files: Vec<PathBuf> = Vec::new();
    let mut it = args[1..].iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--rust" => rust_out = it.next().map(PathBuf::from),
            "--out-dir" => out_dir = it.next().map(PathBuf::from),
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ => files.push(PathBuf::from(a)),
        }
    }
    if files.is_empty() {
        eprintln!("tingu: no input files\n{USAGE}");
        return ExitCode::from(2);
    }
    let compiled = match tingu::compile_files(&files) {
        Ok(c) => c,
        Err(d) => {
            eprint!("{d}");
            eprintln!("tingu: {} error(s)", d.error_count());
            return ExitCode::from(1);
        }
    };
    for w in &compiled.warnings {
        eprintln!("{}", w.render(&compiled.map));
    }
    match cmd.as_str() {
        "check" => {
            let s = &compiled.spec;
            let states: usize = s.protocols.iter().map(|p| p.states.len()).sum();
            let trans: usize = s.protocols.iter().map(|p| p.transitions.len()).sum();
            println!(
                "ok: {} protocol(s), {} component(s), {states} state(s), {trans} flat transition(s)",
                s.protocols.len(),
                s.components.len()
            );
            ExitCode::SUCCESS
        }
        "gen" => {
            let Some(out) = rust_out else {
                eprintln!("tingu gen: --rust <out.rs> is required\n{USAGE}");
                return ExitCode::from(2);
            };
            let names: Vec<String> = files
                .iter()
                .map(|f| {
                    f.file_name().map_or_else(
                        || f.display().to_string(),
                        |n| n.to_string_lossy().into_owned(),
                    )
                })
                .collect();
            let code = match tingu::rust::generate(&compiled.spec, &names) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("tingu: {e}");
                    return ExitCode::from(1);
                }
            };
            if let Err(e) = std::fs::write(&out, code) {
                eprintln!("tingu: writing {}: {e}", out.display());
                return ExitCode::from(2);
            }
            println!("wrote {}", out.display());
            ExitCode::SUCCESS
        }
        "dot" => {
            let Some(dir) = out_dir else {
                eprintln!("tingu dot: --out-dir <dir> is required\n{USAGE}");
                return ExitCode::from(2);
            };
            if let Err(e) = std::fs::create_dir_all(&dir) {
                eprintln!("tingu: creating {}: {e}", dir.display());
                return ExitCode::from(2);
            }
            let have_dot = tingu::dot::dot_available();
            if !have_dot {
                eprintln!("tingu: `dot` (Graphviz) not found: writing .dot files only, no SVG");
            }
            for p in &compiled.spec.protocols {
                let src = tingu::dot::protocol(p);
                let path = dir.join(format!("{}.dot", p.name));
                if let Err(e) = std::fs::write(&path, &src) {
                    eprintln!("tingu: writing {}: {e}", path.display());
                    return ExitCode::from(2);
                }
                println!("wrote {}", path.display());
                if have_dot {
                    let svg = dir.join(format!("{}.svg", p.name));
                    match tingu::dot::svg(&src, &svg) {
                        Ok(()) => println!("wrote {}", svg.display()),
                        Err(e) => eprintln!("tingu: {e}"),
                    }
                }
            }
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("tingu: unknown command `{other}`\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
