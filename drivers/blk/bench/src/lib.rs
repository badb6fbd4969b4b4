//! The block benchmark's workload, the same on seL4 and hosted: four
//! phases over the first [`BLOCKS`] blocks of the disk, 4 KiB per request,
//! [`DEPTH`] requests in flight: sequential writes (generation 1),
//! sequential reads, random writes (generation 2, [`SEED`]), random reads.
//! Every read is compared with what the disk must hold then; afterwards
//! [`first_wrong_block`] judges the disk image itself (on the host), not
//! the client's word.
//!
//! What must never happen: a read counted verified that differs from the
//! expected content, or a phase timed without all its answers.
#![no_std]

use blk_api::{BlkError, BlkQueue, Link};
use blk_queue::{ReqCode, BLK_TRANSFER_SIZE};

/// The blocks the bench writes and reads (8 MiB).
pub const BLOCKS: u32 = 2048;
/// Requests per phase.
pub const REQUESTS: u32 = 2048;
/// Requests in flight at once.
pub const DEPTH: usize = 32;
/// The random phases' sequence.
pub const SEED: u64 = 0x5eed_b10c;
/// The data region the bench needs: one 4 KiB area per request in flight.
pub const DATA_BYTES: usize = DEPTH * BLK_TRANSFER_SIZE;

/// One phase of the bench.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Phase {
    /// Blocks 0.. in order, generation 1.
    SeqWrite,
    /// Blocks 0.. in order.
    SeqRead,
    /// Random blocks, generation 2.
    RandWrite,
    /// Random blocks (another sequence).
    RandRead,
}

/// The phases, in the order they run.
pub const PHASES: [Phase; 4] = [
    Phase::SeqWrite,
    Phase::SeqRead,
    Phase::RandWrite,
    Phase::RandRead,
];

impl Phase {
    /// Its name in the log and the figures.
    pub fn name(self) -> &'static str {
        match self {
            Self::SeqWrite => "seq-write",
            Self::SeqRead => "seq-read",
            Self::RandWrite => "rand-write",
            Self::RandRead => "rand-read",
        }
    }

    fn writes(self) -> bool {
        matches!(self, Self::SeqWrite | Self::RandWrite)
    }

    /// The block of request `i`.
    fn block(self, order: &mut Order, i: u32) -> u32 {
        match self {
            Self::SeqWrite | Self::SeqRead => i % BLOCKS,
            Self::RandWrite | Self::RandRead => order.next_block(),
        }
    }
}

/// The random phases' block sequence (xorshift64*).
pub struct Order(u64);

impl Order {
    /// The sequence of `phase` (each random phase has its own).
    pub fn of(phase: Phase) -> Self {
        Self(SEED ^ (phase as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    /// The next block.
    pub fn next_block(&mut self) -> u32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32 % BLOCKS
    }
}

/// Word `j` of `block` as generation `generation` writes it.
fn word(block: u32, generation: u8, j: usize) -> u64 {
    let mut z = (u64::from(block) << 24 | u64::from(generation) << 16 | j as u64)
        .wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Fill `buf` (one block) as `generation` writes `block`.
pub fn fill(block: u32, generation: u8, buf: &mut [u8]) {
    for (j, w) in buf.chunks_exact_mut(8).enumerate() {
        w.copy_from_slice(&word(block, generation, j).to_le_bytes());
    }
}

/// Whether `buf` is `block` as `generation` wrote it.
pub fn holds(block: u32, generation: u8, buf: &[u8]) -> bool {
    buf.len() == BLK_TRANSFER_SIZE
        && buf
            .chunks_exact(8)
            .enumerate()
            .all(|(j, w)| w == word(block, generation, j).to_le_bytes())
}

/// Which blocks the random writes hit.
pub struct Written([u64; BLOCKS as usize / 64]);

impl Written {
    /// Replay the random-write phase's sequence.
    pub fn replay() -> Self {
        let mut w = Self([0; BLOCKS as usize / 64]);
        let mut order = Order::of(Phase::RandWrite);
        for _ in 0..REQUESTS {
            w.mark(order.next_block());
        }
        w
    }

    fn none() -> Self {
        Self([0; BLOCKS as usize / 64])
    }

    fn mark(&mut self, b: u32) {
        self.0[b as usize / 64] |= 1 << (b % 64);
    }

    /// The generation `block` holds after the random writes.
    pub fn generation(&self, block: u32) -> u8 {
        if self.0[block as usize / 64] & 1 << (block % 64) != 0 {
            2
        } else {
            1
        }
    }
}

/// The first bench block of `disk` (an image from block 0) that does not
/// hold what a complete run leaves, with the generation it should hold;
/// `None` if every one does. A disk shorter than the area fails at the
/// first missing block.
pub fn first_wrong_block(disk: &[u8]) -> Option<(u32, u8)> {
    let written = Written::replay();
    (0..BLOCKS).find_map(|b| {
        let g = written.generation(b);
        let at = b as usize * BLK_TRANSFER_SIZE;
        match disk.get(at..at + BLK_TRANSFER_SIZE) {
            Some(got) if holds(b, g, got) => None,
            _ => Some((b, g)),
        }
    })
}

/// One phase's figures.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct PhaseReport {
    /// Which.
    pub phase: Phase,
    /// Requests answered.
    pub requests: u32,
    /// Bytes moved.
    pub bytes: u64,
    /// From its first request to its last answer.
    pub elapsed_ns: u64,
    /// Reads that did not hold the expected content.
    pub mismatched: u32,
    /// Most requests in flight at once.
    pub max_in_flight: usize,
}

/// Why a run stopped.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum BenchError {
    /// The disk is smaller than the bench area.
    DiskTooSmall(u64),
    /// The data region holds fewer areas than requests in flight.
    DataTooSmall(usize),
    /// A request or the queue failed.
    Blk(BlkError),
}

impl From<BlkError> for BenchError {
    fn from(e: BlkError) -> Self {
        Self::Blk(e)
    }
}

/// Run the four phases on `q` (the disk has `capacity` blocks), calling
/// `report` after each; `now` is a clock in nanoseconds.
pub fn run<L: Link, const N: usize>(
    q: &mut BlkQueue<'_, L, N>,
    capacity: u64,
    now: impl Fn() -> u64,
    mut report: impl FnMut(&PhaseReport),
) -> Result<(), BenchError> {
    if capacity < u64::from(BLOCKS) {
        return Err(BenchError::DiskTooSmall(capacity));
    }
    if N < DEPTH || q.data_len() < DATA_BYTES {
        return Err(BenchError::DataTooSmall(q.data_len()));
    }
    let mut written = Written::none();
    for phase in PHASES {
        let r = run_phase(q, phase, &mut written, &now)?;
        report(&r);
    }
    Ok(())
}

fn run_phase<L: Link, const N: usize>(
    q: &mut BlkQueue<'_, L, N>,
    phase: Phase,
    written: &mut Written,
    now: &impl Fn() -> u64,
) -> Result<PhaseReport, BenchError> {
    let mut order = Order::of(phase);
    let generation = if phase == Phase::RandWrite { 2 } else { 1 };
    // The request each area of the data region carries: (id, block).
    let mut areas: [Option<(u32, u32)>; DEPTH] = [None; DEPTH];
    let mut r = PhaseReport {
        phase,
        requests: 0,
        bytes: 0,
        elapsed_ns: 0,
        mismatched: 0,
        max_in_flight: 0,
    };
    let t0 = now();
    let mut posted = 0;
    while posted < REQUESTS || areas.iter().any(Option::is_some) {
        // Fill every free area while requests remain.
        while posted < REQUESTS {
            let Some(a) = areas.iter().position(Option::is_none) else {
                break;
            };
            let block = phase.block(&mut order, posted);
            let offset = a * BLK_TRANSFER_SIZE;
            let code = if phase.writes() {
                q.with_area_mut(offset, BLK_TRANSFER_SIZE, |buf| {
                    fill(block, generation, buf)
                })?;
                if phase == Phase::RandWrite {
                    written.mark(block);
                }
                ReqCode::Write
            } else {
                ReqCode::Read
            };
            let id = q.submit(code, offset, block, 1)?;
            areas[a] = Some((id, block));
            posted += 1;
        }
        r.max_in_flight = r.max_in_flight.max(q.outstanding());
        let c = q.wait_any()?;
        c.result?;
        let a = areas
            .iter()
            .position(|x| x.is_some_and(|(id, _)| id == c.id))
            .ok_or(BlkError::Unexpected { id: c.id })?;
        let Some((_, block)) = areas[a].take() else {
            continue;
        };
        if !phase.writes() {
            let want = written.generation(block);
            let ok = q.with_area(a * BLK_TRANSFER_SIZE, BLK_TRANSFER_SIZE, |buf| {
                holds(block, want, buf)
            })?;
            r.mismatched += u32::from(!ok);
        }
        r.requests += 1;
        r.bytes += BLK_TRANSFER_SIZE as u64;
    }
    r.elapsed_ns = now().saturating_sub(t0);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_differ_by_block_and_generation_and_round_trip() {
        let mut a = [0u8; BLK_TRANSFER_SIZE];
        fill(7, 1, &mut a);
        assert!(holds(7, 1, &a));
        assert!(!holds(7, 2, &a));
        assert!(!holds(8, 1, &a));
        a[4095] ^= 1;
        assert!(!holds(7, 1, &a));
    }

    #[test]
    fn the_random_writes_hit_many_blocks_but_not_all() {
        let w = Written::replay();
        let hit = (0..BLOCKS).filter(|&b| w.generation(b) == 2).count();
        // 2048 draws over 2048 blocks: about 1 - 1/e of them.
        assert!((1100..1500).contains(&hit), "{hit}");
    }
}
