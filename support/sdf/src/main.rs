//! `sdf`: check, render and inspect the project's system description.
//!
//! ```text
//! sdf check [--board B] system.xml             validate for every board (or B)
//! sdf render --board B system.xml [-o OUT]     Microkit SDF for board B
//! sdf policy system.xml                        print the restart policies
//! sdf table --monitor PD system.xml            print the monitor's child table
//! ```
//! `sdf -h` / `sdf --help` (also after a command) prints this usage on
//! stdout, exit status 0. Exit status 2 with the diagnostic on stderr on any
//! error.

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage:
  sdf check [--board BOARD] SYSTEM.xml
  sdf render --board BOARD SYSTEM.xml [-o OUT]
  sdf policy SYSTEM.xml
  sdf table --monitor PD SYSTEM.xml";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("{msg}");
            ExitCode::from(2)
        }
    }
}

struct Opts {
    board: Option<String>,
    out: Option<PathBuf>,
    monitor: Option<String>,
    file: Option<PathBuf>,
}

fn parse_opts(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        board: None,
        out: None,
        monitor: None,
        file: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--board" => o.board = Some(value("--board")?),
            "-o" | "--output" => o.out = Some(PathBuf::from(value("-o")?)),
            "--monitor" => o.monitor = Some(value("--monitor")?),
            s if s.starts_with('-') => return Err(format!("unknown option {s}\n{USAGE}")),
            s if o.file.is_none() => o.file = Some(PathBuf::from(s)),
            s => return Err(format!("unexpected argument {s}\n{USAGE}")),
        }
    }
    Ok(o)
}

fn load(o: &Opts) -> Result<sdf::System, String> {
    let file = o
        .file
        .as_ref()
        .ok_or_else(|| format!("no system file given\n{USAGE}"))?;
    let boards = match o.board.as_deref() {
        None => sdf::Board::ALL.to_vec(),
        Some(name) => vec![board(name)?],
    };
    let sys = sdf::parse_file_for_boards(file, &boards).map_err(|e| format!("error: {e}"))?;
    for w in &sys.warnings {
        eprintln!("warning: {w}");
    }
    Ok(sys)
}

fn board(name: &str) -> Result<sdf::Board, String> {
    sdf::Board::from_name(name).ok_or_else(|| {
        format!(
            "unknown board \"{name}\" (known: {})",
            sdf::Board::known_names()
        )
    })
}

fn run(args: &[String]) -> Result<(), String> {
    // `-h` or `--help` anywhere (`sdf --help`, `sdf render -h`): the usage.
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return Ok(());
    }
    let Some((cmd, rest)) = args.split_first() else {
        return Err(USAGE.to_string());
    };
    let o = parse_opts(rest)?;
    match cmd.as_str() {
        "check" => {
            let sys = load(&o)?;
            let boards = match o.board.as_deref() {
                Some(b) => b.to_string(),
                None => sdf::Board::known_names(),
            };
            println!("{}: valid for {boards}", sys.file);
            Ok(())
        }
        "render" => {
            let name = o
                .board
                .as_deref()
                .ok_or_else(|| format!("render needs --board\n{USAGE}"))?;
            let board = board(name)?;
            let sys = load(&o)?;
            let text = sdf::render(&sys, board);
            match &o.out {
                Some(p) => std::fs::write(p, text)
                    .map_err(|e| format!("error: cannot write {}: {e}", p.display())),
                None => {
                    print!("{text}");
                    Ok(())
                }
            }
        }
        "policy" => {
            let sys = load(&o)?;
            for pd in &sys.protection_domains {
                for rp in &pd.restart_policies {
                    let parent = pd
                        .parent
                        .and_then(|p| sys.protection_domains.get(p))
                        .map_or("?", |p| p.name.as_str());
                    let boards: Vec<&str> = sdf::Board::ALL
                        .iter()
                        .filter(|b| rp.src.boards.contains(**b) && pd.src.boards.contains(**b))
                        .map(|b| b.name())
                        .collect();
                    println!(
                        "{} (id {}, parent {parent}): max_faults={} window_ms={} hang_ms={} region={} notify=[{}] boards=[{}]",
                        pd.name,
                        pd.id.unwrap_or(0),
                        rp.max_faults,
                        rp.window_ms,
                        rp.hang_ms,
                        rp.region,
                        rp.notify.join(" "),
                        boards.join(" ")
                    );
                }
            }
            Ok(())
        }
        "table" => {
            let mon = o
                .monitor
                .as_deref()
                .ok_or_else(|| format!("table needs --monitor\n{USAGE}"))?;
            let sys = load(&o)?;
            let text = sdf::codegen::monitor_table(&sys, mon).map_err(|e| format!("error: {e}"))?;
            print!("{text}");
            Ok(())
        }
        "help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command {other}\n{USAGE}")),
    }
}
