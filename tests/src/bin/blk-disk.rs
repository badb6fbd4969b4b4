//! The block system's disk, on the host: `blk-disk make IMAGE` formats a
//! disk image for the filesystem client (MBR + FAT16, mkfs.fat);
//! `blk-disk check IMAGE [--log LOG]` judges it afterwards — fsck.fat -n
//! clean, every file mcopy extracts equal to the file set, nothing else —
//! and, with a console log, requires the client's summary line to report
//! the whole file set verified.
//!
//! What must never happen: a pass on an image the independent tools did
//! not accept, or on a log without the client's summary.

use blk_fat::{image, workload};
use std::path::Path;
use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!("usage: blk-disk make IMAGE | blk-disk check IMAGE [--log LOG]");
    ExitCode::from(2)
}

fn check_log(log: &Path) -> Result<String, String> {
    let text = std::fs::read(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let text = String::from_utf8_lossy(&text);
    let line = text
        .lines()
        .find(|l| l.contains("fsclient: done:") || l.contains("fsclient: failed:"))
        .ok_or_else(|| {
            format!(
                "{}: no summary line of the filesystem client",
                log.display()
            )
        })?;
    let want = format!(
        "files={} dirs={} written={total} verified={total} mismatched=0 ",
        workload::FILES.len(),
        workload::DIRS.len(),
        total = workload::total_bytes()
    );
    if !line.contains(&want) {
        return Err(format!(
            "{}: the client reported `{line}`, not `{want}`",
            log.display()
        ));
    }
    Ok(line.to_string())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["make", img] => match image::make_image(Path::new(img)) {
            Ok(()) => {
                println!(
                    "blk-disk: {img}: {} bytes, FAT16 from sector {}",
                    image::DISK_BYTES,
                    image::PART_SECTOR
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("blk-disk: {e}");
                ExitCode::FAILURE
            }
        },
        ["check", img, rest @ ..] => {
            let log = match rest {
                [] => None,
                ["--log", l] => Some(Path::new(*l)),
                _ => return usage(),
            };
            let scratch = std::env::temp_dir().join(format!("blk-disk-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&scratch);
            if let Err(e) = std::fs::create_dir_all(&scratch) {
                eprintln!("blk-disk: {}: {e}", scratch.display());
                return ExitCode::FAILURE;
            }
            let verdict = std::fs::read(img)
                .map_err(|e| format!("{img}: {e}"))
                .and_then(|disk| image::check_image(&scratch, &disk));
            let _ = std::fs::remove_dir_all(&scratch);
            let logged = match log.map(check_log) {
                Some(Err(e)) => Err(e),
                Some(Ok(l)) => Ok(Some(l)),
                None => Ok(None),
            };
            match (verdict, logged) {
                (Ok(()), Ok(line)) => {
                    println!(
                        "blk-disk: {img}: fsck.fat clean, {} files ({} bytes) identical",
                        workload::FILES.len(),
                        workload::total_bytes()
                    );
                    if let Some(l) = line {
                        println!("blk-disk: client: {}", l.trim());
                    }
                    ExitCode::SUCCESS
                }
                (Err(e), _) | (_, Err(e)) => {
                    eprintln!("blk-disk: FAIL: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => usage(),
    }
}
