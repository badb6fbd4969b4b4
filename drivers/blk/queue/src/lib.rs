//! The block device class's interface: request and response rings and the
//! storage-info page in shared memory, laid out byte for byte as sDDF's
//! `include/sddf/blk/queue.h` and `storage_info.h` (so an sDDF client or
//! virtualiser can sit on the other side), plus an `epoch` after sDDF's
//! fields that tells a client the driver behind the queues has restarted.
//!
//! Rings follow sDDF's rules: `head` is written only by the consumer, `tail`
//! only by the producer, both count up without bound and index modulo the
//! capacity; a ring is full at `capacity - 1` entries. An entry is written
//! before the release store of `tail` that publishes it. Unlike sDDF's
//! inline functions, every access checks the indices: the other side (or a
//! faulty driver) may have scribbled on them, and that is reported as
//! [`Corrupt`], naming the ring, never followed out of bounds.
//!
//! What must never happen: an access outside the ring's memory whatever the
//! indices say, or an entry read before the store that published it.
#![cfg_attr(not(test), no_std)]

pub mod layout;
pub mod ring;

pub use layout::{
    BlkReq, BlkResp, ReqCode, ReqHeader, RespHeader, RespStatus, StorageInfo, BLK_TRANSFER_SIZE,
};
pub use ring::{Corrupt, Full, Ring};
