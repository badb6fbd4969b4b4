//! virtio-drivers' `Hal` over memory regions with known physical addresses.
//!
//! One region is the *pool*: the virtqueue and the request headers are
//! allocated from it, in the same order and so at the same addresses on
//! every initialisation ([`configure`] rewinds it). Up to [`SHARED`] more
//! regions hold data the device reads and writes in place (the clients'
//! data regions): `share` translates an address in them and copies
//! nothing. The pool outlives the driver's restart with the device still
//! pointing into it, which is why a restarted driver resets the device
//! before it allocates again.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use virtio_drivers::{BufferDirection, Hal, PhysAddr, PAGE_SIZE};

/// Memory the device can reach: `len` bytes at `vaddr` (ours) and `paddr`
/// (the device's).
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct Window {
    /// Our address.
    pub vaddr: usize,
    /// The device's address.
    pub paddr: u64,
    /// Bytes.
    pub len: usize,
}

/// Most data regions.
pub const SHARED: usize = 3;

/// Why a window set is refused.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum WindowError {
    /// The pool is not page-aligned (on either side) or empty.
    PoolAlignment,
    /// More than [`SHARED`] data regions.
    TooMany,
}

struct Slot {
    vaddr: AtomicUsize,
    paddr: AtomicU64,
    len: AtomicUsize,
}

impl Slot {
    const fn empty() -> Slot {
        Slot {
            vaddr: AtomicUsize::new(0),
            paddr: AtomicU64::new(0),
            len: AtomicUsize::new(0),
        }
    }
    fn set(&self, w: Window) {
        self.vaddr.store(w.vaddr, Relaxed);
        self.paddr.store(w.paddr, Relaxed);
        self.len.store(w.len, Relaxed);
    }
    fn get(&self) -> Window {
        Window {
            vaddr: self.vaddr.load(Relaxed),
            paddr: self.paddr.load(Relaxed),
            len: self.len.load(Relaxed),
        }
    }
}

// A PD drives one device from one thread; the Hal's functions take no
// `self`, so its state is global.
static POOL: Slot = Slot::empty();
static DATA: [Slot; SHARED] = [Slot::empty(), Slot::empty(), Slot::empty()];
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Set the windows and rewind the pool. Call before creating the device.
pub fn configure(pool: Window, data: &[Window]) -> Result<(), WindowError> {
    if pool.len < PAGE_SIZE
        || !pool.vaddr.is_multiple_of(PAGE_SIZE)
        || !pool.paddr.is_multiple_of(PAGE_SIZE as u64)
    {
        return Err(WindowError::PoolAlignment);
    }
    if data.len() > SHARED {
        return Err(WindowError::TooMany);
    }
    POOL.set(pool);
    for (i, s) in DATA.iter().enumerate() {
        s.set(data.get(i).copied().unwrap_or(Window {
            vaddr: 0,
            paddr: 0,
            len: 0,
        }));
    }
    NEXT.store(0, Relaxed);
    Ok(())
}

/// Pool bytes allocated since the last [`configure`].
pub fn pool_used() -> usize {
    NEXT.load(Relaxed)
}

/// The device address of `len` bytes at `vaddr`, if one window holds them.
pub fn translate(vaddr: usize, len: usize) -> Option<u64> {
    let end = vaddr.checked_add(len)?;
    core::iter::once(&POOL)
        .chain(DATA.iter())
        .map(Slot::get)
        .find(|w| w.len != 0 && vaddr >= w.vaddr && end <= w.vaddr + w.len)
        .map(|w| w.paddr + (vaddr - w.vaddr) as u64)
}

/// The Hal.
pub struct RegionHal;

// SAFETY: dma_alloc hands out disjoint, page-aligned, zeroed ranges of the
// pool (a bump allocator, rewound only by `configure`, before a new device
// is created); share returns the device address of memory the device can
// reach through the windows given to `configure`, or panics.
unsafe impl Hal for RegionHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        let pool = POOL.get();
        let off = NEXT.load(Relaxed);
        let Some(need) = pages.checked_mul(PAGE_SIZE) else {
            return (0, NonNull::dangling());
        };
        if pool.len.saturating_sub(off) < need {
            return (0, NonNull::dangling()); // virtio-drivers: DmaError
        }
        NEXT.store(off + need, Relaxed);
        let v = (pool.vaddr + off) as *mut u8;
        // SAFETY: in the pool (checked above), which configure's caller
        // gave us to use exclusively, and not yet handed out.
        unsafe { core::ptr::write_bytes(v, 0, need) };
        match NonNull::new(v) {
            Some(p) => (pool.paddr + off as u64, p),
            None => (0, NonNull::dangling()),
        }
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, _vaddr: NonNull<u8>, _pages: usize) -> i32 {
        // The pool is rewound as a whole at the next initialisation.
        0
    }

    unsafe fn mmio_phys_to_virt(_paddr: PhysAddr, _size: usize) -> NonNull<u8> {
        // Only the PCI transport maps BARs; this driver uses virtio-mmio.
        panic!("virtio: BAR mapping is not provided by RegionHal");
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        let (v, len) = (buffer.cast::<u8>().as_ptr() as usize, buffer.len());
        match translate(v, len) {
            Some(p) => p,
            // The server validates every client buffer against its data
            // region first: reaching here is a bug of this driver.
            None => panic!("virtio: buffer {v:#x}+{len:#x} outside the DMA windows"),
        }
    }

    unsafe fn unshare(_paddr: PhysAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {
        // Shared in place: nothing to copy back.
    }
}
