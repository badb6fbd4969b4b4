//! A FAT16/32 client of the block queues: [`FatDisk`] presents the
//! client stub as embedded-sdmmc's 512-byte-sector device (with a small
//! write-back cache of 4 KiB blocks, the queues' transfer size), and
//! [`workload`] is the deterministic set of files the filesystem client PD
//! writes, reads back and verifies — the host regenerates the same set to
//! check the disk image independently (fsck.fat, mcopy).
//!
//! What must never happen: a sector written to the disk other than the one
//! embedded-sdmmc asked for, a dirty cached block dropped without being
//! written, or a verification that passes on data not read from the disk.
#![cfg_attr(not(feature = "host"), no_std)]

mod disk;
#[cfg(feature = "host")]
pub mod image;
pub mod workload;

pub use disk::{DiskError, FatDisk};

/// The time stamped on files: fixed (the PDs have no calendar), so that
/// the same run makes the same image.
pub struct FixedClock;

impl embedded_sdmmc::TimeSource for FixedClock {
    fn get_timestamp(&self) -> embedded_sdmmc::Timestamp {
        embedded_sdmmc::Timestamp {
            year_since_1970: 56,
            zero_indexed_month: 11,
            zero_indexed_day: 3,
            hours: 12,
            minutes: 0,
            seconds: 0,
        }
    }
}
