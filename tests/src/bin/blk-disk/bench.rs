//! The block bench judged on the host: the image holds, block by block,
//! what the bench's writes leave (`blk_bench::first_wrong_block`), and the
//! client's lines report every phase complete with nothing mismatched;
//! then the figures of a fault-free and a faulted run side by side.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// One phase as the client logged it.
#[derive(Clone, Debug, PartialEq)]
pub struct Phase {
    pub requests: u64,
    pub bytes: u64,
    pub elapsed_us: u64,
    pub mismatched: u64,
    pub max_in_flight: u64,
}

fn field(line: &str, key: &str) -> Option<u64> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
}

/// The monitor's split of each driver restart of a log (`restarted: ...
/// | delivery D us, reset R us, recover C us, replay P us, total T us`):
/// one row of [D, R, C, P, T] a restart, and whether it was cold.
pub fn restart_phases(log: &Path) -> Result<Vec<([u64; 5], bool)>, String> {
    let mut rows = Vec::new();
    for l in super::diag_lines(log)?
        .iter()
        .filter(|l| l.contains("monitor: blk restarted:"))
    {
        let Some((head, tail)) = l.split_once('|') else {
            continue;
        };
        let mut row = [0u64; 5];
        for (i, key) in ["delivery", "reset", "recover", "replay", "total"]
            .iter()
            .enumerate()
        {
            row[i] = tail
                .split(',')
                .find_map(|f| {
                    f.trim()
                        .strip_prefix(key)?
                        .trim()
                        .strip_suffix("us")?
                        .trim()
                        .parse()
                        .ok()
                })
                .ok_or_else(|| format!("{}: no {key} in `{}`", log.display(), l.trim()))?;
        }
        rows.push((row, head.contains("cold start")));
    }
    Ok(rows)
}

/// The phases of a run's log, by name, and its driver restarts; an error
/// if the client did not finish, or reported a phase short or mismatched.
pub fn read_log(log: &Path) -> Result<(BTreeMap<String, Phase>, usize), String> {
    let lines = super::diag_lines(log)?;
    if let Some(l) = lines.iter().find(|l| l.contains("fsclient: failed:")) {
        return Err(format!("{}: {}", log.display(), l.trim()));
    }
    if !lines.iter().any(|l| l.contains("fsclient: bench done:")) {
        return Err(format!("{}: the bench did not finish", log.display()));
    }
    let mut phases = BTreeMap::new();
    for l in &lines {
        let Some(rest) = l.split("fsclient: bench phase=").nth(1) else {
            continue;
        };
        let name = rest.split_whitespace().next().unwrap_or("").to_string();
        let get = |k| {
            field(rest, k).ok_or_else(|| format!("{}: no {k} in `{}`", log.display(), l.trim()))
        };
        let p = Phase {
            requests: get("requests")?,
            bytes: get("bytes")?,
            elapsed_us: get("elapsed_us")?,
            mismatched: get("mismatched")?,
            max_in_flight: get("max_in_flight")?,
        };
        if p.requests != u64::from(blk_bench::REQUESTS) || p.mismatched != 0 || p.elapsed_us == 0 {
            return Err(format!(
                "{}: phase {name} incomplete or mismatched: {p:?}",
                log.display()
            ));
        }
        phases.insert(name, p);
    }
    for ph in blk_bench::PHASES {
        if !phases.contains_key(ph.name()) {
            return Err(format!(
                "{}: no line for phase {}",
                log.display(),
                ph.name()
            ));
        }
    }
    Ok((phases, super::restarts(&lines)))
}

/// The image holds the bench's last generation in every bench block.
pub fn check_image(img: &Path) -> Result<(), String> {
    let disk = std::fs::read(img).map_err(|e| format!("{}: {e}", img.display()))?;
    match blk_bench::first_wrong_block(&disk) {
        None => Ok(()),
        Some((b, g)) => Err(format!(
            "{}: block {b} does not hold generation {g} of the bench",
            img.display()
        )),
    }
}

fn mb_s(p: &Phase) -> f64 {
    p.bytes as f64 / p.elapsed_us as f64
}

/// The figures of the two runs: a table for the console and a JSON record
/// (with the faulted run's restarts split into phases, `phases`).
pub fn report(
    board: &str,
    clean: &BTreeMap<String, Phase>,
    faulted: &BTreeMap<String, Phase>,
    restarts: usize,
    phases: &[([u64; 5], bool)],
) -> (String, String) {
    let requests = u64::from(blk_bench::REQUESTS) * blk_bench::PHASES.len() as u64;
    let rate = restarts as f64 * 1000.0 / requests as f64;
    let mut table = format!(
        "block bench ({board}, virtual time = instructions): {} x {} requests of 4 KiB, {} in flight; faulted run: {restarts} driver restarts, {rate:.2} per 1,000 requests\n\
         phase        fault-free MB/s  faulted MB/s  ratio\n",
        blk_bench::PHASES.len(),
        blk_bench::REQUESTS,
        blk_bench::DEPTH
    );
    let mut json = format!(
        "{{\n  \"board\": \"{board}\",\n  \"requests_per_phase\": {},\n  \"in_flight\": {},\n  \"faulted_restarts\": {restarts},\n  \"faults_per_1000_requests\": {rate:.3},\n  \"phases\": {{",
        blk_bench::REQUESTS,
        blk_bench::DEPTH
    );
    let (mut tc, mut tf) = (0u64, 0u64);
    for (i, ph) in blk_bench::PHASES.iter().enumerate() {
        let (Some(c), Some(f)) = (clean.get(ph.name()), faulted.get(ph.name())) else {
            continue;
        };
        tc += c.elapsed_us;
        tf += f.elapsed_us;
        let ratio = mb_s(f) / mb_s(c);
        let _ = writeln!(
            table,
            "{:<12} {:>15.2} {:>13.2} {:>6.3}",
            ph.name(),
            mb_s(c),
            mb_s(f),
            ratio
        );
        let _ = write!(
            json,
            "{}\n    \"{}\": {{ \"fault_free_us\": {}, \"faulted_us\": {}, \"fault_free_mb_s\": {:.3}, \"faulted_mb_s\": {:.3}, \"ratio\": {ratio:.4} }}",
            if i == 0 { "" } else { "," },
            ph.name(),
            c.elapsed_us,
            f.elapsed_us,
            mb_s(c),
            mb_s(f)
        );
    }
    let total = tc as f64 / tf.max(1) as f64;
    let _ = writeln!(table, "{:<12} {tc:>12} us {tf:>10} us {total:>6.3}", "all");
    let _ = write!(
        json,
        "\n  }},\n  \"fault_free_us\": {tc},\n  \"faulted_us\": {tf},\n  \"ratio\": {total:.4},\n  \"restart_phases_us\": {{"
    );
    // Fault -> serving again, by phase: mean over warm and over cold
    // restarts (us of virtual time = thousands of guest instructions).
    let names = ["delivery", "reset", "recover", "replay", "total"];
    for (k, cold) in [("warm", false), ("cold", true)] {
        let rows: Vec<&[u64; 5]> = phases
            .iter()
            .filter(|(_, c)| *c == cold)
            .map(|(r, _)| r)
            .collect();
        let mean =
            |i: usize| rows.iter().map(|r| r[i]).sum::<u64>() as f64 / rows.len().max(1) as f64;
        let _ = writeln!(
            table,
            "{k} restarts ({}), mean us: {}",
            rows.len(),
            names
                .iter()
                .enumerate()
                .map(|(i, n)| format!("{n} {:.1}", mean(i)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = write!(
            json,
            "{}\n    \"{k}\": {{ \"count\": {}, {} }}",
            if cold { "," } else { "" },
            rows.len(),
            names
                .iter()
                .enumerate()
                .map(|(i, n)| format!("\"{n}\": {:.1}", mean(i)))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    json.push_str("\n  }\n}\n");
    (table, json)
}
