//! A virtio-blk chip driver: virtio-drivers' split virtqueue, negotiated
//! and set up by us over [`mmio::MmioTransport`], behind the block class's
//! [`BlockDevice`] trait. It knows nothing of client queues or restarts:
//! [`VirtioBlk::new`] resets the device and sets everything up again from
//! nothing, which is also how a restarted driver resumes (the block server
//! then submits its held requests again).
//!
//! virtio-drivers' own `VirtIOBlk` is not used because its queue has 16
//! descriptors, i.e. 5 requests in flight without indirect descriptors
//! (which need a heap the device can reach); this driver's queue has
//! [`QUEUE_SIZE`] and takes [`IN_FLIGHT`] requests at once.
//!
//! What must never happen: a buffer handed to the device outside the
//! windows given to [`hal::configure`], a completion reported for a tag
//! not in flight, or a queue set up on a device that was not reset first.
#![no_std]

pub mod any;
pub mod hal;
pub mod mmio;
pub mod pci;

pub use virtio_drivers::transport::DeviceType;

use blk_device::{BlockDevice, Op, Outcome, SubmitError, Transfer, BLOCK};
use core::ptr::NonNull;
use hal::RegionHal;
use virtio_drivers::queue::VirtQueue;
use virtio_drivers::transport::{DeviceStatus, InterruptStatus, Transport};
use virtio_drivers::{BufferDirection, Hal, PAGE_SIZE};

/// Descriptors in the request queue (a power of two).
pub const QUEUE_SIZE: usize = 128;
/// Requests in flight at once (each takes up to 3 descriptors).
pub const IN_FLIGHT: usize = QUEUE_SIZE / 3;

/// Feature bits (virtio 1.2 §5.2.3, §6).
mod feature {
    pub const BLK_RO: u64 = 1 << 5;
    pub const BLK_FLUSH: u64 = 1 << 9;
    pub const VERSION_1: u64 = 1 << 32;
}

/// Request types and status bytes (§5.2.6).
const T_IN: u32 = 0;
const T_OUT: u32 = 1;
const T_FLUSH: u32 = 4;
const S_OK: u8 = 0;
const S_UNSUPP: u8 = 2;
/// Written before submission: a status the device never writes.
const S_PENDING: u8 = 0xff;

/// Sectors per class block.
const SECTORS_PER_BLOCK: u64 = (BLOCK / 512) as u64;

/// Why the device could not be brought up.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum InitError {
    /// A virtio device, but not a block device.
    NotBlock(DeviceType),
    /// The device does not offer VERSION_1.
    NoVersion1,
    /// The device refused the features we accepted (FEATURES_OK cleared).
    FeaturesRefused,
    /// The queue could not be set up (the device's largest queue is
    /// smaller than [`QUEUE_SIZE`], the queue is in use, or the pool is
    /// too small).
    Queue(virtio_drivers::Error),
    /// The pool has no page left for the request headers.
    Pool,
}

impl core::fmt::Display for InitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NotBlock(t) => write!(f, "virtio device type {t:?}, not a block device"),
            Self::NoVersion1 => f.write_str("device does not offer VIRTIO_F_VERSION_1"),
            Self::FeaturesRefused => f.write_str("device refused the negotiated features"),
            Self::Queue(e) => write!(f, "request queue: {e}"),
            Self::Pool => f.write_str("DMA pool exhausted by the request headers"),
        }
    }
}

/// A request's header and status byte, in the pool (§5.2.6).
#[repr(C)]
struct Header {
    kind: u32,
    reserved: u32,
    sector: u64,
    status: u8,
    _pad: [u8; 15],
}

/// A request with the device.
#[derive(Copy, Clone)]
struct Chain {
    tag: u16,
    header: usize,
    t: Transfer,
}

/// The driver.
pub struct VirtioBlk<T: Transport> {
    transport: T,
    queue: VirtQueue<RegionHal, QUEUE_SIZE>,
    headers: NonNull<Header>,
    /// Descriptor chain head (token) -> what is in flight on it.
    by_token: [Option<Chain>; QUEUE_SIZE],
    /// Header slots in use.
    header_used: [bool; IN_FLIGHT],
    capacity_sectors: u64,
    read_only: bool,
    broken: bool,
    /// Transfers added since the last doorbell.
    unkicked: bool,
}

impl<T: Transport> VirtioBlk<T> {
    /// Reset the device behind `t` and set it up (virtio 1.2 §3.1.1), with
    /// its queue and headers in the pool given to [`hal::configure`], which
    /// this rewinds. Whatever the device was doing is abandoned.
    pub fn new(mut t: T, pool: hal::Window, data: &[hal::Window]) -> Result<Self, InitError> {
        if t.device_type() != DeviceType::Block {
            return Err(InitError::NotBlock(t.device_type()));
        }
        // Reset first: the device may still be serving a queue in the pool
        // set up by an earlier incarnation.
        t.set_status(DeviceStatus::empty());
        hal::configure(pool, data).map_err(|_| InitError::Pool)?;
        t.set_status(DeviceStatus::ACKNOWLEDGE | DeviceStatus::DRIVER);
        let offered = t.read_device_features();
        if offered & feature::VERSION_1 == 0 {
            t.set_status(DeviceStatus::FAILED);
            return Err(InitError::NoVersion1);
        }
        let accepted = offered & (feature::VERSION_1 | feature::BLK_RO | feature::BLK_FLUSH);
        t.write_driver_features(accepted);
        let ok = DeviceStatus::ACKNOWLEDGE | DeviceStatus::DRIVER | DeviceStatus::FEATURES_OK;
        t.set_status(ok);
        if !t.get_status().contains(DeviceStatus::FEATURES_OK) {
            t.set_status(DeviceStatus::FAILED);
            return Err(InitError::FeaturesRefused);
        }
        let queue = VirtQueue::new(&mut t, 0, false, false).map_err(|e| {
            t.set_status(DeviceStatus::FAILED);
            InitError::Queue(e)
        })?;
        let pages = (IN_FLIGHT * size_of::<Header>()).div_ceil(PAGE_SIZE);
        let (paddr, headers) = RegionHal::dma_alloc(pages, BufferDirection::Both);
        if paddr == 0 {
            t.set_status(DeviceStatus::FAILED);
            return Err(InitError::Pool);
        }
        let capacity_sectors = t
            .read_consistent(|| t.read_config_space::<u64>(0))
            .unwrap_or(0);
        t.finish_init();
        Ok(Self {
            transport: t,
            queue,
            headers: headers.cast(),
            by_token: [None; QUEUE_SIZE],
            header_used: [false; IN_FLIGHT],
            capacity_sectors,
            read_only: accepted & feature::BLK_RO != 0,
            broken: false,
            unkicked: false,
        })
    }

    fn header(&self, h: usize) -> *mut Header {
        // SAFETY: h < IN_FLIGHT (callers take it from header_used) and the
        // headers page(s) hold IN_FLIGHT headers.
        unsafe { self.headers.as_ptr().add(h) }
    }

    /// The byte slices of a chain, as added and as popped.
    ///
    /// # Safety
    /// `t` is the transfer in flight with header `h`, whose memory submit's
    /// contract reserves for the device.
    unsafe fn buffers<'a>(&self, h: usize, t: &Transfer) -> (&'a [u8], &'a mut [u8], &'a mut [u8]) {
        let h = self.header(h) as *mut u8;
        let len = usize::from(t.count) * BLOCK;
        // SAFETY: the header is ours in the pool; the status byte is at
        // offset 16 inside it; the data is the caller's promise.
        unsafe {
            (
                core::slice::from_raw_parts(h, 16),
                core::slice::from_raw_parts_mut(h.add(16), 1),
                if t.op == Op::Flush || len == 0 {
                    &mut []
                } else {
                    core::slice::from_raw_parts_mut(t.data, len)
                },
            )
        }
    }

    /// Requests in flight.
    pub fn in_flight(&self) -> usize {
        self.by_token.iter().filter(|t| t.is_some()).count()
    }
}

impl<T: Transport> BlockDevice for VirtioBlk<T> {
    fn capacity(&self) -> u64 {
        self.capacity_sectors / SECTORS_PER_BLOCK
    }

    fn read_only(&self) -> bool {
        self.read_only
    }

    fn has_room(&self) -> bool {
        !self.broken && self.queue.available_desc() >= 3 && self.header_used.contains(&false)
    }

    unsafe fn submit(&mut self, tag: u16, t: Transfer) -> Result<(), SubmitError> {
        if self.broken {
            return Err(SubmitError::Broken);
        }
        if t.op != Op::Flush && t.count == 0 {
            return Err(SubmitError::Invalid);
        }
        let Some(k) = self.header_used.iter().position(|u| !u) else {
            return Err(SubmitError::Busy);
        };
        let kind = match t.op {
            Op::Read => T_IN,
            Op::Write => T_OUT,
            Op::Flush => T_FLUSH,
        };
        let sector = t
            .block
            .checked_mul(SECTORS_PER_BLOCK)
            .ok_or(SubmitError::Invalid)?;
        // SAFETY: k < IN_FLIGHT; the header is not in flight (unused).
        unsafe {
            self.header(k).write_volatile(Header {
                kind,
                reserved: 0,
                sector,
                status: S_PENDING,
                _pad: [0; 15],
            })
        };
        // SAFETY: the transfer's memory is the caller's promise; the
        // header is this tag's own.
        let (hdr, status, data) = unsafe { self.buffers(k, &t) };
        // SAFETY: the buffers stay untouched until pop_used (complete).
        let added = unsafe {
            match t.op {
                Op::Read => self.queue.add(&[hdr], &mut [data, status]),
                Op::Write => self.queue.add(&[hdr, data], &mut [status]),
                Op::Flush => self.queue.add(&[hdr], &mut [status]),
            }
        };
        let token = match added {
            Ok(tok) => tok,
            Err(virtio_drivers::Error::QueueFull) => return Err(SubmitError::Busy),
            Err(_) => return Err(SubmitError::Invalid),
        };
        match self.by_token.get_mut(usize::from(token)) {
            Some(slot) => *slot = Some(Chain { tag, header: k, t }),
            None => {
                self.broken = true;
                return Err(SubmitError::Broken);
            }
        }
        self.header_used[k] = true;
        self.unkicked = true;
        Ok(())
    }

    fn kick(&mut self) {
        if core::mem::take(&mut self.unkicked) && self.queue.should_notify() {
            self.transport.notify(0);
        }
    }

    fn complete(&mut self) -> Option<(u16, Outcome)> {
        let token = self.queue.peek_used()?;
        let Some(Chain { tag, header: k, t }) =
            self.by_token.get(usize::from(token)).copied().flatten()
        else {
            // The device used a chain we never added.
            self.broken = true;
            return None;
        };
        // SAFETY: the transfer in flight under this tag.
        let (hdr, status, data) = unsafe { self.buffers(k, &t) };
        // SAFETY: the same buffers, in the same order, as submit added.
        let popped = unsafe {
            match t.op {
                Op::Read => self.queue.pop_used(token, &[hdr], &mut [data, status]),
                Op::Write => self.queue.pop_used(token, &[hdr, data], &mut [status]),
                Op::Flush => self.queue.pop_used(token, &[hdr], &mut [status]),
            }
        };
        if popped.is_err() {
            self.broken = true;
            return None;
        }
        self.by_token[usize::from(token)] = None;
        self.header_used[k] = false;
        // SAFETY: the header is ours, and the device is done with it.
        let st = unsafe { core::ptr::addr_of!((*self.header(k)).status).read_volatile() };
        let outcome = match st {
            S_OK => Outcome::Ok,
            S_UNSUPP => Outcome::Unsupported,
            _ => Outcome::IoError,
        };
        Some((tag, outcome))
    }

    fn ack_interrupt(&mut self) {
        // A device that needs a reset says so with a configuration-change
        // interrupt (virtio 1.2 §2.1.2): the status register is read then,
        // not on every submission and every pass of the server.
        let cause = self.transport.ack_interrupt();
        if cause.contains(InterruptStatus::DEVICE_CONFIGURATION_INTERRUPT)
            && self
                .transport
                .get_status()
                .contains(DeviceStatus::DEVICE_NEEDS_RESET)
        {
            self.broken = true;
        }
    }

    fn broken(&self) -> bool {
        self.broken
    }
}
