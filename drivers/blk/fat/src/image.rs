//! Host side of the file set (feature `host`): the disk image the FAT
//! client runs on, made by mkfs.fat, and the independent verdict on the
//! image afterwards: fsck.fat must find it clean, and every file mcopy
//! extracts must equal the file set regenerated here, with nothing else on
//! the disk.

use crate::workload::{self, DIRS, FILES};
use std::format;
use std::path::Path;
use std::process::Command;
use std::string::String;
use std::vec;
use std::vec::Vec;

/// Disk size.
pub const DISK_BYTES: usize = 16 << 20;
/// The partition starts at 1 MiB (sector 2048), as partitioning tools put it.
pub const PART_SECTOR: u64 = 2048;

/// Why an image is not what the file set should have made.
pub type Verdict = Result<(), String>;

fn tool(cmd: &mut Command, what: &str) -> Result<String, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{what}: cannot run it ({e}); install dosfstools and mtools"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("{what} failed ({}):\n{text}", out.status))
    }
}

/// The tool `name`: from `PATH`, else from the sbin directories Debian
/// installs dosfstools into (not on a normal user's `PATH`).
fn program(name: &str) -> std::path::PathBuf {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    on_path
        .or_else(|| {
            ["/usr/sbin", "/sbin", "/usr/bin"]
                .iter()
                .map(|d| Path::new(d).join(name))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| name.into())
}

fn io<T>(what: &str, p: &Path, r: std::io::Result<T>) -> Result<T, String> {
    r.map_err(|e| format!("{}: {what}: {e}", p.display()))
}

/// Make a disk image at `path`: an MBR with one FAT16 (LBA) partition from
/// [`PART_SECTOR`] to the end, formatted by mkfs.fat.
pub fn make_image(path: &Path) -> Result<(), String> {
    let mut mbr = vec![0u8; 512];
    let sectors = (DISK_BYTES as u64 / 512 - PART_SECTOR) as u32;
    mbr[446 + 4] = 0x0e;
    mbr[446 + 8..446 + 12].copy_from_slice(&(PART_SECTOR as u32).to_le_bytes());
    mbr[446 + 12..446 + 16].copy_from_slice(&sectors.to_le_bytes());
    mbr[510] = 0x55;
    mbr[511] = 0xaa;
    let mut disk = vec![0u8; DISK_BYTES];
    disk[..512].copy_from_slice(&mbr);
    io("write", path, std::fs::write(path, &disk))?;
    tool(
        Command::new(program("mkfs.fat"))
            .args(["-F", "16", "-n", "SELFHEAL", "--offset"])
            .arg(PART_SECTOR.to_string())
            .arg(path)
            .arg((sectors / 2).to_string()),
        "mkfs.fat",
    )?;
    Ok(())
}

/// Judge the disk image `disk`, using `scratch` (an empty directory) for
/// the extracted partition and files.
pub fn check_image(scratch: &Path, disk: &[u8]) -> Verdict {
    let start = (PART_SECTOR * 512) as usize;
    let Some(partition) = disk.get(start..) else {
        return Err(format!("image of {} bytes has no partition", disk.len()));
    };
    let part = scratch.join("part.img");
    io("write", &part, std::fs::write(&part, partition))?;
    let fsck = tool(
        Command::new(program("fsck.fat"))
            .arg("-n")
            .arg("-v")
            .arg(&part),
        "fsck.fat -n",
    )?;
    if fsck.contains("differences between boot sector") {
        return Err(fsck);
    }
    let out = scratch.join("out");
    let _ = std::fs::remove_dir_all(&out);
    io("mkdir", &out, std::fs::create_dir_all(&out))?;
    tool(
        Command::new(program("mcopy"))
            .env("MTOOLS_SKIP_CHECK", "1")
            .args(["-s", "-n", "-i"])
            .arg(&part)
            .arg("::/*")
            .arg(&out),
        "mcopy",
    )?;
    for d in DIRS {
        let p = d.iter().fold(out.clone(), |p, c| p.join(c));
        if !p.is_dir() {
            return Err(format!("mcopy extracted no directory {}", p.display()));
        }
    }
    for spec in FILES {
        let p = spec
            .dir
            .iter()
            .fold(out.clone(), |p, c| p.join(c))
            .join(spec.name);
        let got = io("read", &p, std::fs::read(&p))?;
        let mut want = vec![0u8; spec.len as usize];
        workload::fill(spec.seed, 0, &mut want);
        if got != want {
            let at = got.iter().zip(&want).position(|(a, b)| a != b);
            return Err(format!(
                "{}: {} bytes, {} expected, first difference at {at:?}",
                p.display(),
                got.len(),
                want.len()
            ));
        }
    }
    let found = walk(&out)?;
    if found != FILES.len() {
        return Err(format!(
            "{found} files on the disk, the file set has {}",
            FILES.len()
        ));
    }
    Ok(())
}

fn walk(p: &Path) -> Result<usize, String> {
    let mut n = 0;
    for e in io("read_dir", p, std::fs::read_dir(p))? {
        let e = io("read_dir", p, e)?;
        n += if e.path().is_dir() {
            walk(&e.path())?
        } else {
            1
        };
    }
    Ok(n)
}
