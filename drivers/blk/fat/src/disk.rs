//! embedded-sdmmc's block device over the block client stub.

use blk_api::{BlkClient, BlkError, Link};
use blk_queue::BLK_TRANSFER_SIZE;
use core::cell::RefCell;
use embedded_sdmmc::{Block, BlockCount, BlockDevice, BlockIdx};

/// Sectors (embedded-sdmmc blocks) in one transfer block.
const PER: u32 = (BLK_TRANSFER_SIZE / Block::LEN) as u32;
/// Transfer blocks cached.
const WAYS: usize = 8;

/// Why a sector access failed.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum DiskError {
    /// The request failed.
    Blk(BlkError),
    /// A sector beyond the disk.
    OutOfRange(u32),
    /// Re-entered while busy (embedded-sdmmc never does this).
    Busy,
}

struct Way {
    block: Option<u32>,
    dirty: bool,
    used: u64,
    data: [u8; BLK_TRANSFER_SIZE],
}

struct Inner<'a, L: Link> {
    client: BlkClient<'a, L>,
    ways: [Way; WAYS],
    clock: u64,
    reads: u64,
    writes: u64,
}

/// The disk as embedded-sdmmc sees it.
pub struct FatDisk<'a, L: Link> {
    inner: RefCell<Inner<'a, L>>,
    /// Transfer blocks on the disk.
    capacity: u32,
}

impl<'a, L: Link> FatDisk<'a, L> {
    /// A disk of `capacity` transfer blocks behind `client`.
    pub fn new(client: BlkClient<'a, L>, capacity: u32) -> Self {
        const EMPTY: Way = Way {
            block: None,
            dirty: false,
            used: 0,
            data: [0; BLK_TRANSFER_SIZE],
        };
        Self {
            inner: RefCell::new(Inner {
                client,
                ways: [EMPTY; WAYS],
                clock: 0,
                reads: 0,
                writes: 0,
            }),
            capacity,
        }
    }

    /// Write every dirty cached block, then flush the device.
    pub fn sync(&self) -> Result<(), DiskError> {
        let mut i = self.inner.try_borrow_mut().map_err(|_| DiskError::Busy)?;
        for w in 0..WAYS {
            i.clean(w)?;
        }
        i.client.flush().map_err(DiskError::Blk)
    }

    /// Transfer-block reads and writes issued so far.
    pub fn transfers(&self) -> (u64, u64) {
        self.inner
            .try_borrow()
            .map(|i| (i.reads, i.writes))
            .unwrap_or((0, 0))
    }

    /// The client stub (after the filesystem is done with the disk).
    pub fn with_client<R>(&self, f: impl FnOnce(&mut BlkClient<'a, L>) -> R) -> Option<R> {
        self.inner
            .try_borrow_mut()
            .ok()
            .map(|mut i| f(&mut i.client))
    }

    fn sector(&self, idx: BlockIdx, i: usize) -> Result<u32, DiskError> {
        let s = idx
            .0
            .checked_add(i as u32)
            .ok_or(DiskError::OutOfRange(u32::MAX))?;
        if s / PER >= self.capacity {
            return Err(DiskError::OutOfRange(s));
        }
        Ok(s)
    }
}

impl<L: Link> Inner<'_, L> {
    fn clean(&mut self, w: usize) -> Result<(), DiskError> {
        let way = &mut self.ways[w];
        if let (Some(b), true) = (way.block, way.dirty) {
            self.client.write(b, &way.data).map_err(DiskError::Blk)?;
            way.dirty = false;
            self.writes += 1;
        }
        Ok(())
    }

    /// The way holding transfer block `b`, loading it (`fill`) if needed.
    fn way(&mut self, b: u32, fill: bool) -> Result<usize, DiskError> {
        self.clock += 1;
        if let Some(w) = self.ways.iter().position(|w| w.block == Some(b)) {
            self.ways[w].used = self.clock;
            return Ok(w);
        }
        let w = (0..WAYS).min_by_key(|&w| self.ways[w].used).unwrap_or(0);
        self.clean(w)?;
        self.ways[w].block = None;
        if fill {
            let way = &mut self.ways[w];
            self.client.read(b, &mut way.data).map_err(DiskError::Blk)?;
            self.reads += 1;
        } else {
            self.ways[w].data.fill(0);
        }
        self.ways[w].block = Some(b);
        self.ways[w].used = self.clock;
        Ok(w)
    }
}

impl<L: Link> BlockDevice for FatDisk<'_, L> {
    type Error = DiskError;

    fn read(&self, blocks: &mut [Block], start: BlockIdx) -> Result<(), DiskError> {
        let mut i = self.inner.try_borrow_mut().map_err(|_| DiskError::Busy)?;
        for (n, blk) in blocks.iter_mut().enumerate() {
            let s = self.sector(start, n)?;
            let w = i.way(s / PER, true)?;
            let at = (s % PER) as usize * Block::LEN;
            blk.contents
                .copy_from_slice(&i.ways[w].data[at..at + Block::LEN]);
        }
        Ok(())
    }

    fn write(&self, blocks: &[Block], start: BlockIdx) -> Result<(), DiskError> {
        let mut i = self.inner.try_borrow_mut().map_err(|_| DiskError::Busy)?;
        let mut n = 0;
        while n < blocks.len() {
            let s = self.sector(start, n)?;
            // A whole aligned transfer block in this call needs no read.
            let whole = s % PER == 0 && blocks.len() - n >= PER as usize;
            let w = i.way(s / PER, !whole)?;
            let run = if whole { PER as usize } else { 1 };
            for k in 0..run {
                let at = ((s + k as u32) % PER) as usize * Block::LEN;
                i.ways[w].data[at..at + Block::LEN].copy_from_slice(&blocks[n + k].contents);
            }
            i.ways[w].dirty = true;
            n += run;
        }
        Ok(())
    }

    fn num_blocks(&self) -> Result<BlockCount, DiskError> {
        Ok(BlockCount(self.capacity * PER))
    }
}
