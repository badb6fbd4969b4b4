//! The block device class: the interface between a block chip driver
//! (virtio-blk, later others) and the block server that owns the client
//! queues and the recovery record. A chip driver knows nothing of queues,
//! clients or restarts; it moves blocks between memory the device can reach
//! and the disk, and reports each transfer's outcome by the tag it was
//! given.
//!
//! What must never happen: a completion reported for a tag never submitted,
//! twice for one submission, or a transfer touching memory outside the
//! `count` blocks it was given.
#![no_std]

/// Bytes in one block of the class (sDDF's `BLK_TRANSFER_SIZE`).
pub const BLOCK: usize = 4096;

/// What a transfer does.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Op {
    /// Disk to memory.
    Read,
    /// Memory to disk.
    Write,
    /// Make earlier writes durable.
    Flush,
}

/// One transfer: `count` blocks of [`BLOCK`] bytes from block `block`,
/// to or from `data` (ignored for a flush).
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct Transfer {
    /// Direction.
    pub op: Op,
    /// First block.
    pub block: u64,
    /// Blocks.
    pub count: u16,
    /// The memory, in a region the device can reach.
    pub data: *mut u8,
}

/// How a transfer ended.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Outcome {
    /// Done, all `count` blocks.
    Ok,
    /// The device failed it.
    IoError,
    /// The device does not do this.
    Unsupported,
}

/// Why a transfer could not be submitted.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum SubmitError {
    /// No room in the device's queue now; retry after a completion.
    Busy,
    /// The device needs a reset (it reported an error, or refused the queue).
    Broken,
    /// The transfer cannot be expressed to the device (e.g. too large).
    Invalid,
}

/// A block chip driver, initialised.
pub trait BlockDevice {
    /// Blocks of [`BLOCK`] bytes on the disk.
    fn capacity(&self) -> u64;

    /// Whether the device takes a read-only disk.
    fn read_only(&self) -> bool;

    /// Whether one more transfer can be submitted now.
    fn has_room(&self) -> bool;

    /// Queue transfer `t` for the device, to be reported by `tag`; the
    /// device sees it at the next [`BlockDevice::kick`] at the latest.
    ///
    /// # Safety
    /// `t.data .. t.data + t.count * BLOCK` is memory the device may reach,
    /// not accessed by anyone else until the transfer's completion has been
    /// returned by [`BlockDevice::complete`] (or the device reset).
    unsafe fn submit(&mut self, tag: u16, t: Transfer) -> Result<(), SubmitError>;

    /// Tell the device about the transfers submitted since the last kick
    /// (one doorbell for a batch).
    fn kick(&mut self);

    /// The next finished transfer, if any.
    fn complete(&mut self) -> Option<(u16, Outcome)>;

    /// Acknowledge the device's interrupt (before collecting completions).
    fn ack_interrupt(&mut self);

    /// Whether the device has stopped serving and needs a reset.
    fn broken(&self) -> bool;
}
