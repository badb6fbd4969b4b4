//! The filesystem client's file set: nested directories and files of sizes
//! chosen to cross every boundary (empty, one byte, a sector ± 1, a block
//! ± 1, many clusters), whose bytes are a function of (file, offset). The
//! client writes them through the filesystem, reads them back and compares;
//! the host regenerates them to compare with what `mcopy` extracts.

use embedded_sdmmc::{
    BlockDevice, Error, Mode, RawDirectory, TimeSource, VolumeIdx, VolumeManager,
};

/// One file: where, what it is called (8.3), how long, whose bytes.
#[derive(Copy, Clone, Debug)]
pub struct FileSpec {
    /// Directories from the root.
    pub dir: &'static [&'static str],
    /// Its 8.3 name.
    pub name: &'static str,
    /// Bytes.
    pub len: u32,
    /// Content stream.
    pub seed: u32,
}

/// Directories, parents first.
pub const DIRS: &[&[&str]] = &[
    &["DATA"],
    &["DATA", "SUB1"],
    &["DATA", "SUB1", "DEEP"],
    &["LOGS"],
];

const fn f(dir: &'static [&'static str], name: &'static str, len: u32, seed: u32) -> FileSpec {
    FileSpec {
        dir,
        name,
        len,
        seed,
    }
}

/// The files (4.6 MB in all).
pub const FILES: &[FileSpec] = &[
    f(&[], "EMPTY.TXT", 0, 1),
    f(&[], "ONE.TXT", 1, 2),
    f(&["DATA"], "S511.BIN", 511, 3),
    f(&["DATA"], "S512.BIN", 512, 4),
    f(&["DATA"], "S513.BIN", 513, 5),
    f(&["DATA", "SUB1"], "B4095.BIN", 4095, 6),
    f(&["DATA", "SUB1"], "B4096.BIN", 4096, 7),
    f(&["DATA", "SUB1"], "B4097.BIN", 4097, 8),
    f(&["DATA", "SUB1", "DEEP"], "K64.BIN", 65_537, 9),
    f(&["DATA", "SUB1", "DEEP"], "K300.BIN", 300_001, 10),
    f(&["LOGS"], "M1.LOG", 1_048_583, 11),
    f(&["LOGS"], "M15.LOG", 1_500_007, 12),
    f(&[], "BIG.BIN", 1_700_011, 13),
];

/// Total file bytes.
pub fn total_bytes() -> u64 {
    FILES.iter().map(|f| u64::from(f.len)).sum()
}

/// Byte `at` of stream `seed`.
pub fn byte(seed: u32, at: u32) -> u8 {
    let mut x = (u64::from(seed) << 32 | u64::from(at)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x >> 29;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    (x >> 32) as u8
}

/// Fill `buf` with stream `seed` from offset `at`.
pub fn fill(seed: u32, at: u32, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = byte(seed, at + i as u32);
    }
}

/// The size of the `n`-th write or read: varied, so writes straddle
/// sectors and blocks in every way.
fn chunk(n: u32) -> usize {
    1 + (n.wrapping_mul(7919) % 3000) as usize
}

/// What a run did.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Files written.
    pub files: u32,
    /// Directories made.
    pub dirs: u32,
    /// Bytes written.
    pub written: u64,
    /// Bytes read back and found equal.
    pub verified: u64,
    /// Files whose read-back differed (or had the wrong length).
    pub mismatched: u32,
}

type Vm<D, T> = VolumeManager<D, T, 4, 4, 1>;

/// Open the directory `path` below `root`, one level at a time (`None`:
/// the root itself).
fn enter<D: BlockDevice, T: TimeSource>(
    vm: &Vm<D, T>,
    root: RawDirectory,
    path: &[&str],
) -> Result<Option<RawDirectory>, Error<D::Error>> {
    let mut cur: Option<RawDirectory> = None;
    for name in path {
        let next = vm.open_dir(cur.unwrap_or(root), *name)?;
        if let Some(c) = cur.replace(next) {
            vm.close_dir(c)?;
        }
    }
    Ok(cur)
}

fn leave<D: BlockDevice, T: TimeSource>(
    vm: &Vm<D, T>,
    dir: Option<RawDirectory>,
) -> Result<(), Error<D::Error>> {
    match dir {
        Some(d) => vm.close_dir(d),
        None => Ok(()),
    }
}

/// Make the directories, write every file, read every file back.
pub fn run<D: BlockDevice, T: TimeSource>(vm: &Vm<D, T>) -> Result<Summary, Error<D::Error>> {
    let mut s = Summary::default();
    let volume = vm.open_raw_volume(VolumeIdx(0))?;
    let root = vm.open_root_dir(volume)?;
    for path in DIRS {
        let Some((last, parent)) = path.split_last() else {
            continue;
        };
        let dir = enter(vm, root, parent)?;
        let made = vm.make_dir_in_dir(dir.unwrap_or(root), *last);
        leave(vm, dir)?;
        match made {
            Ok(()) => s.dirs += 1,
            Err(Error::DirAlreadyExists) => {}
            Err(e) => return Err(e),
        }
    }
    let mut buf = [0u8; 3000];
    for spec in FILES {
        let dir = enter(vm, root, spec.dir)?;
        let file = vm.open_file_in_dir(
            dir.unwrap_or(root),
            spec.name,
            Mode::ReadWriteCreateOrTruncate,
        )?;
        let (mut at, mut n) = (0u32, 0u32);
        while at < spec.len {
            let len = chunk(n).min((spec.len - at) as usize);
            fill(spec.seed, at, &mut buf[..len]);
            vm.write(file, &buf[..len])?;
            at += len as u32;
            n += 1;
        }
        vm.close_file(file)?;
        leave(vm, dir)?;
        s.files += 1;
        s.written += u64::from(spec.len);
    }
    for spec in FILES {
        let dir = enter(vm, root, spec.dir)?;
        let file = vm.open_file_in_dir(dir.unwrap_or(root), spec.name, Mode::ReadOnly)?;
        let mut ok = vm.file_length(file)? == spec.len;
        let (mut at, mut n) = (0u32, 0u32);
        while ok && !vm.file_eof(file)? {
            let want = chunk(n + 17);
            let got = vm.read(file, &mut buf[..want])?;
            if got == 0 {
                break;
            }
            ok = buf[..got]
                .iter()
                .enumerate()
                .all(|(i, b)| *b == byte(spec.seed, at + i as u32));
            at += got as u32;
            n += 1;
        }
        ok &= at == spec.len;
        vm.close_file(file)?;
        leave(vm, dir)?;
        if ok {
            s.verified += u64::from(spec.len);
        } else {
            s.mismatched += 1;
        }
    }
    vm.close_dir(root)?;
    vm.close_volume(volume)?;
    Ok(s)
}
