//! A virtio block device behind the virtio-mmio transport (version 2, the
//! "modern" interface), as the virtio 1.2 specification describes it
//! (§4.2.2 the register layout, §2.7 split virtqueues, §5.2 the block
//! device), with its disk in a file or in memory.
//!
//! The model is plain data ([`VirtioBlk`] is `repr(C)` and `Copy`) so a
//! host process can keep it in shared memory where it outlives the driver,
//! as a real device outlives its driver. Three entry points act on it: a
//! register [`VirtioBlk::read`], a register [`VirtioBlk::write`] (a notify
//! only records the queue as kicked, as the doorbell of a real device does),
//! and [`VirtioBlk::process`], the device side, which serves available
//! descriptor chains from guest memory ([`GuestMemory`]) against the disk
//! ([`Backing`]) and raises the interrupt. The caller decides when the device
//! runs, so a test can keep many requests in flight.
//!
//! Guest errors are handled as QEMU does: a malformed descriptor chain
//! puts the device in `DEVICE_NEEDS_RESET` and it serves nothing more until
//! the driver resets it; a request outside the disk is answered `IOERR`;
//! an unknown request type `UNSUPP`.
//!
//! What must never happen: a descriptor followed outside guest memory, a
//! used-ring entry published before the data it reports, a queue served
//! after a reset, or state that lives outside the [`VirtioBlk`] value.
#![forbid(unsafe_code)]

mod chain;
mod disk;
pub mod pci;
mod regs;
#[cfg(test)]
mod tests;

pub use disk::{Backing, GuestMemory, MemBacking};
pub use regs::*;

/// Sector size of the block device (§5.2: capacity is in 512-byte sectors).
pub const SECTOR: u64 = 512;

/// The largest queue the device offers (`QueueNumMax`).
pub const QUEUE_NUM_MAX: u32 = 256;

/// Device status bits (§2.1).
pub mod status {
    /// The guest has found the device.
    pub const ACKNOWLEDGE: u32 = 1;
    /// The guest knows how to drive it.
    pub const DRIVER: u32 = 2;
    /// The driver is ready.
    pub const DRIVER_OK: u32 = 4;
    /// Feature negotiation is complete.
    pub const FEATURES_OK: u32 = 8;
    /// The device has hit an error it cannot recover from without a reset.
    pub const DEVICE_NEEDS_RESET: u32 = 64;
    /// The guest has given up on the device.
    pub const FAILED: u32 = 128;
}

/// Feature bits the model can offer (§5.2.3, §6).
pub mod feature {
    /// The device is read-only.
    pub const BLK_RO: u64 = 1 << 5;
    /// `blk_size` in the configuration is valid.
    pub const BLK_BLK_SIZE: u64 = 1 << 6;
    /// The device has a cache flush command.
    pub const BLK_FLUSH: u64 = 1 << 9;
    /// The device complies with virtio 1.x.
    pub const VERSION_1: u64 = 1 << 32;
}

/// Block request types and status bytes (§5.2.6).
pub mod blk {
    /// Read.
    pub const T_IN: u32 = 0;
    /// Write.
    pub const T_OUT: u32 = 1;
    /// Flush.
    pub const T_FLUSH: u32 = 4;
    /// Device id string (20 bytes).
    pub const T_GET_ID: u32 = 8;
    /// Success.
    pub const S_OK: u8 = 0;
    /// Device or driver error.
    pub const S_IOERR: u8 = 1;
    /// Request unsupported by the device.
    pub const S_UNSUPP: u8 = 2;
}

/// Interrupt status bits (§4.2.2).
pub mod interrupt {
    /// A buffer has been used.
    pub const USED_BUFFER: u32 = 1;
    /// The configuration (or status) changed.
    pub const CONFIG_CHANGE: u32 = 2;
}
