//! The wire layout: `repr(C)` structs whose offsets are asserted against
//! sDDF's C definitions at compile time.

use core::mem::{offset_of, size_of};
use core::sync::atomic::{AtomicU32, AtomicU8};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Size of one block, in bytes (sDDF `BLK_TRANSFER_SIZE`).
pub const BLK_TRANSFER_SIZE: usize = 4096;

/// Request codes (sDDF `blk_req_code_t`).
#[repr(u32)]
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum ReqCode {
    /// Read `count` blocks into the buffer.
    Read = 0,
    /// Write `count` blocks from the buffer.
    Write = 1,
    /// Make earlier writes durable.
    Flush = 2,
    /// Order earlier requests before later ones.
    Barrier = 3,
}

impl ReqCode {
    /// The code for a raw `code` word, `None` if it is none of sDDF's.
    pub const fn from_raw(v: u32) -> Option<Self> {
        match v {
            0 => Some(Self::Read),
            1 => Some(Self::Write),
            2 => Some(Self::Flush),
            3 => Some(Self::Barrier),
            _ => None,
        }
    }
}

/// Response statuses (sDDF `blk_resp_status_t`, and one of ours after them).
#[repr(u32)]
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum RespStatus {
    /// Done.
    Ok = 0,
    /// Unspecified error.
    ErrUnspec = 1,
    /// Invalid request parameters.
    ErrInvalidParam = 2,
    /// The device failed the request.
    ErrIo = 3,
    /// No device.
    ErrNoDevice = 4,
    /// Ours: the driver restarted and could not redo this request; the
    /// storage-info page's `epoch` is the new incarnation's.
    ErrRestarted = 5,
}

impl RespStatus {
    /// The status for a raw word, `None` if it is unknown.
    pub const fn from_raw(v: u32) -> Option<Self> {
        match v {
            0 => Some(Self::Ok),
            1 => Some(Self::ErrUnspec),
            2 => Some(Self::ErrInvalidParam),
            3 => Some(Self::ErrIo),
            4 => Some(Self::ErrNoDevice),
            5 => Some(Self::ErrRestarted),
            _ => None,
        }
    }
}

/// One request (sDDF `blk_req_t`: the C padding made explicit).
#[repr(C)]
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Copy, Clone, PartialEq, Eq, Debug, Default,
)]
pub struct BlkReq {
    /// A [`ReqCode`], raw (the peer may send anything).
    pub code: u32,
    _pad0: u32,
    /// Offset of the buffer in the data region, or its I/O address.
    pub io_or_offset: u64,
    /// First block.
    pub block_number: u32,
    /// Number of blocks.
    pub count: u16,
    _pad1: u16,
    /// The client's request id, echoed in the response.
    pub id: u32,
    _pad2: u32,
}

impl BlkReq {
    /// A request.
    pub const fn new(
        code: ReqCode,
        io_or_offset: u64,
        block_number: u32,
        count: u16,
        id: u32,
    ) -> Self {
        Self {
            code: code as u32,
            _pad0: 0,
            io_or_offset,
            block_number,
            count,
            _pad1: 0,
            id,
            _pad2: 0,
        }
    }
}

/// One response (sDDF `blk_resp_t`).
#[repr(C)]
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Copy, Clone, PartialEq, Eq, Debug, Default,
)]
pub struct BlkResp {
    /// A [`RespStatus`], raw.
    pub status: u32,
    /// Blocks read or written.
    pub success_count: u16,
    _pad: u16,
    /// The id of the request this answers.
    pub id: u32,
}

impl BlkResp {
    /// A response.
    pub const fn new(status: RespStatus, success_count: u16, id: u32) -> Self {
        Self {
            status: status as u32,
            success_count,
            _pad: 0,
            id,
        }
    }
}

/// Header of the request ring (sDDF `blk_req_queue_t` before `buffers[]`).
#[repr(C)]
pub struct ReqHeader {
    /// Next entry the consumer (driver) takes.
    pub head: AtomicU32,
    /// Next entry the producer (client) fills.
    pub tail: AtomicU32,
    /// sDDF's `plugged`: requests are not to be taken while set.
    pub plugged: AtomicU8,
    _pad: [u8; 7],
}

/// Header of the response ring (sDDF `blk_resp_queue_t` before `buffers[]`).
#[repr(C)]
pub struct RespHeader {
    /// Next entry the consumer (client) takes.
    pub head: AtomicU32,
    /// Next entry the producer (driver) fills.
    pub tail: AtomicU32,
}

/// Length of sDDF's serial number field, with its terminator.
pub const SERIAL_LEN: usize = 64;

/// The storage-info page (sDDF `blk_storage_info_t`), then our `epoch`.
#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Copy, Clone, Debug)]
pub struct StorageInfo {
    /// NUL-terminated serial number.
    pub serial_number: [u8; SERIAL_LEN],
    /// 1 if the device refuses writes.
    pub read_only: u8,
    /// 1 once the driver has filled the page and serves the queues
    /// (sDDF reads it with acquire ordering).
    pub ready: u8,
    /// Sector size, bytes.
    pub sector_size: u16,
    /// Optimal block size, in `BLK_TRANSFER_SIZE` units.
    pub block_size: u16,
    /// Ring capacity.
    pub queue_depth: u16,
    /// Geometry.
    pub cylinders: u16,
    /// Geometry.
    pub heads: u16,
    /// Geometry.
    pub blocks: u16,
    _pad: u16,
    /// Capacity in `BLK_TRANSFER_SIZE` units.
    pub capacity: u64,
    /// Ours: the driver's incarnation, bumped by every restart before
    /// `ready` is set again (sDDF's design notes ask for one).
    pub epoch: u32,
    /// Ours: the epoch of the driver's last start without its record (a
    /// first boot or a cold start), published after `cold_head`.
    pub cold_epoch: u32,
    /// Ours: the request ring's `head` at that start. A request posted at a
    /// ring index below it was taken by an earlier incarnation and, unless
    /// it was answered, is gone: its client posts it again.
    pub cold_head: u32,
    _pad2: u32,
}

impl StorageInfo {
    /// Publish a start without the record: `cold_head` first, then
    /// `cold_epoch`, with release, so that a reader that sees the epoch
    /// sees the head.
    ///
    /// # Safety
    /// `this` points to a mapped storage-info page this side may write.
    pub unsafe fn publish_cold(this: *mut Self, head: u32, epoch: u32) {
        use core::sync::atomic::{fence, Ordering};
        // SAFETY: the caller's promise; plain aligned stores.
        unsafe {
            core::ptr::write_volatile(&raw mut (*this).cold_head, head);
            fence(Ordering::Release);
            core::ptr::write_volatile(&raw mut (*this).cold_epoch, epoch);
        }
    }

    /// The last start without the record: (`cold_epoch`, `cold_head`), the
    /// epoch read first, with acquire (the pair [`Self::publish_cold`]
    /// wrote).
    ///
    /// # Safety
    /// `this` points to a mapped storage-info page.
    pub unsafe fn cold(this: *const Self) -> (u32, u32) {
        use core::sync::atomic::{fence, Ordering};
        // SAFETY: the caller's promise; plain aligned loads.
        unsafe {
            let epoch = core::ptr::read_volatile(&raw const (*this).cold_epoch);
            fence(Ordering::Acquire);
            (
                epoch,
                core::ptr::read_volatile(&raw const (*this).cold_head),
            )
        }
    }
}

// sDDF's offsets (x86_64 and aarch64 LP64 C ABI: enums are 4-byte ints).
const _: () = {
    assert!(size_of::<BlkReq>() == 32);
    assert!(offset_of!(BlkReq, io_or_offset) == 8);
    assert!(offset_of!(BlkReq, block_number) == 16);
    assert!(offset_of!(BlkReq, count) == 20);
    assert!(offset_of!(BlkReq, id) == 24);
    assert!(size_of::<BlkResp>() == 12);
    assert!(offset_of!(BlkResp, success_count) == 4);
    assert!(offset_of!(BlkResp, id) == 8);
    // `buffers[]` follows the header at the entry's alignment.
    assert!(size_of::<ReqHeader>() == 16);
    assert!(offset_of!(ReqHeader, plugged) == 8);
    assert!(size_of::<RespHeader>() == 8);
    assert!(offset_of!(StorageInfo, read_only) == 64);
    assert!(offset_of!(StorageInfo, ready) == 65);
    assert!(offset_of!(StorageInfo, sector_size) == 66);
    assert!(offset_of!(StorageInfo, queue_depth) == 70);
    assert!(offset_of!(StorageInfo, blocks) == 76);
    assert!(offset_of!(StorageInfo, capacity) == 80);
    assert!(offset_of!(StorageInfo, epoch) == 88);
    assert!(offset_of!(StorageInfo, cold_epoch) == 92);
    assert!(offset_of!(StorageInfo, cold_head) == 96);
    assert!(size_of::<StorageInfo>() <= 4096);
};

#[cfg(test)]
mod tests {
    use super::StorageInfo;
    use zerocopy::FromZeros;

    #[test]
    fn a_published_cold_marker_reads_back_as_a_pair() {
        let mut page = StorageInfo::new_zeroed();
        let p = &raw mut page;
        // SAFETY: a local page.
        unsafe {
            assert_eq!(StorageInfo::cold(p), (0, 0));
            StorageInfo::publish_cold(p, 17, 3);
            assert_eq!(StorageInfo::cold(p), (3, 17));
        }
        assert_eq!((page.cold_epoch, page.cold_head), (3, 17));
    }
}
