//! The virtio-mmio transport (version 2, virtio 1.2 §4.2.2) over
//! `pd_core::DeviceIo`, so the same driver runs on mapped registers (seL4)
//! and on a device model (hosted). virtio-drivers' own `MmioTransport`
//! needs a raw pointer, which a model behind calls cannot give.
//!
//! The register offsets are written here from the specification and, on
//! purpose, again in the hosted model: a misreading of the specification
//! in one of them is then a failing test, not a shared blind spot.

use pd_core::{DeviceIo, Width};
use virtio_drivers::transport::{DeviceStatus, DeviceType, InterruptStatus, Transport};
use virtio_drivers::{Error, PhysAddr};
use zerocopy::{FromBytes, Immutable, IntoBytes};

const MAGIC: usize = 0x000;
const VERSION: usize = 0x004;
const DEVICE_ID: usize = 0x008;
const DEVICE_FEATURES: usize = 0x010;
const DEVICE_FEATURES_SEL: usize = 0x014;
const DRIVER_FEATURES: usize = 0x020;
const DRIVER_FEATURES_SEL: usize = 0x024;
const QUEUE_SEL: usize = 0x030;
const QUEUE_NUM_MAX: usize = 0x034;
const QUEUE_NUM: usize = 0x038;
const QUEUE_READY: usize = 0x044;
const QUEUE_NOTIFY: usize = 0x050;
const INTERRUPT_STATUS: usize = 0x060;
const INTERRUPT_ACK: usize = 0x064;
const STATUS: usize = 0x070;
const QUEUE_DESC_LOW: usize = 0x080;
const QUEUE_DESC_HIGH: usize = 0x084;
const QUEUE_DRIVER_LOW: usize = 0x090;
const QUEUE_DRIVER_HIGH: usize = 0x094;
const QUEUE_DEVICE_LOW: usize = 0x0a0;
const QUEUE_DEVICE_HIGH: usize = 0x0a4;
const CONFIG_GENERATION: usize = 0x0fc;
const CONFIG: usize = 0x100;

/// "virt".
const MAGIC_VALUE: u32 = 0x7472_6976;

/// Why a device is not one this transport drives.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum ProbeError {
    /// No virtio-mmio header (the magic value read back).
    NoDevice(u32),
    /// A legacy (version 1) or unknown interface (the version read back).
    Version(u32),
    /// An empty slot (device id 0) or an unknown device type.
    NoDeviceType(u32),
}

impl core::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoDevice(m) => write!(f, "no virtio-mmio device (magic {m:#x})"),
            Self::Version(v) => write!(f, "virtio-mmio version {v}, only 2 is driven"),
            Self::NoDeviceType(d) => write!(f, "virtio-mmio slot with device id {d}"),
        }
    }
}

/// A virtio-mmio device's registers.
pub struct MmioTransport<D: DeviceIo> {
    dev: D,
    device_type: DeviceType,
}

impl<D: DeviceIo> MmioTransport<D> {
    /// Probe the registers at `dev`.
    pub fn new(dev: D) -> Result<Self, ProbeError> {
        let magic = dev.read32(MAGIC);
        if magic != MAGIC_VALUE {
            return Err(ProbeError::NoDevice(magic));
        }
        let version = dev.read32(VERSION);
        if version != 2 {
            return Err(ProbeError::Version(version));
        }
        let id = dev.read32(DEVICE_ID);
        let device_type = DeviceType::try_from(id).map_err(|_| ProbeError::NoDeviceType(id))?;
        Ok(Self { dev, device_type })
    }

    fn write_u64(&self, low: usize, high: usize, v: u64) {
        self.dev.write32(low, v as u32);
        self.dev.write32(high, (v >> 32) as u32);
    }

    /// Config space access: aligned words where possible, else bytes.
    fn config_bytes(&self, offset: usize, out: &mut [u8]) {
        let mut i = 0;
        while i < out.len() {
            let at = CONFIG + offset + i;
            if at.is_multiple_of(4) && out.len() - i >= 4 {
                out[i..i + 4].copy_from_slice(&self.dev.read32(at).to_le_bytes());
                i += 4;
            } else {
                out[i] = self.dev.read(at, Width::U8) as u8;
                i += 1;
            }
        }
    }
}

impl<D: DeviceIo> Transport for MmioTransport<D> {
    fn device_type(&self) -> DeviceType {
        self.device_type
    }

    fn read_device_features(&mut self) -> u64 {
        self.dev.write32(DEVICE_FEATURES_SEL, 1);
        let high = u64::from(self.dev.read32(DEVICE_FEATURES));
        self.dev.write32(DEVICE_FEATURES_SEL, 0);
        (high << 32) | u64::from(self.dev.read32(DEVICE_FEATURES))
    }

    fn write_driver_features(&mut self, driver_features: u64) {
        self.dev.write32(DRIVER_FEATURES_SEL, 0);
        self.dev.write32(DRIVER_FEATURES, driver_features as u32);
        self.dev.write32(DRIVER_FEATURES_SEL, 1);
        self.dev
            .write32(DRIVER_FEATURES, (driver_features >> 32) as u32);
    }

    fn max_queue_size(&mut self, queue: u16) -> u32 {
        self.dev.write32(QUEUE_SEL, u32::from(queue));
        self.dev.read32(QUEUE_NUM_MAX)
    }

    fn notify(&mut self, queue: u16) {
        self.dev.write32(QUEUE_NOTIFY, u32::from(queue));
    }

    fn get_status(&self) -> DeviceStatus {
        DeviceStatus::from_bits_truncate(self.dev.read32(STATUS))
    }

    fn set_status(&mut self, status: DeviceStatus) {
        self.dev.write32(STATUS, status.bits());
    }

    fn set_guest_page_size(&mut self, _guest_page_size: u32) {
        // Legacy interface only.
    }

    fn requires_legacy_layout(&self) -> bool {
        false
    }

    fn queue_set(
        &mut self,
        queue: u16,
        size: u32,
        descriptors: PhysAddr,
        driver_area: PhysAddr,
        device_area: PhysAddr,
    ) {
        self.dev.write32(QUEUE_SEL, u32::from(queue));
        self.dev.write32(QUEUE_NUM, size);
        self.write_u64(QUEUE_DESC_LOW, QUEUE_DESC_HIGH, descriptors);
        self.write_u64(QUEUE_DRIVER_LOW, QUEUE_DRIVER_HIGH, driver_area);
        self.write_u64(QUEUE_DEVICE_LOW, QUEUE_DEVICE_HIGH, device_area);
        self.dev.write32(QUEUE_READY, 1);
    }

    fn queue_unset(&mut self, queue: u16) {
        self.dev.write32(QUEUE_SEL, u32::from(queue));
        self.dev.write32(QUEUE_READY, 0);
        // §4.2.2.2: read back until the device has let go of the queue.
        while self.dev.read32(QUEUE_READY) != 0 {}
        self.dev.write32(QUEUE_NUM, 0);
        self.write_u64(QUEUE_DESC_LOW, QUEUE_DESC_HIGH, 0);
        self.write_u64(QUEUE_DRIVER_LOW, QUEUE_DRIVER_HIGH, 0);
        self.write_u64(QUEUE_DEVICE_LOW, QUEUE_DEVICE_HIGH, 0);
    }

    fn queue_used(&mut self, queue: u16) -> bool {
        self.dev.write32(QUEUE_SEL, u32::from(queue));
        self.dev.read32(QUEUE_READY) != 0
    }

    fn ack_interrupt(&mut self) -> InterruptStatus {
        let pending = self.dev.read32(INTERRUPT_STATUS);
        if pending != 0 {
            self.dev.write32(INTERRUPT_ACK, pending);
        }
        InterruptStatus::from_bits_truncate(pending)
    }

    fn read_config_generation(&self) -> u32 {
        self.dev.read32(CONFIG_GENERATION)
    }

    fn read_config_space<T: FromBytes + IntoBytes>(&self, offset: usize) -> Result<T, Error> {
        let mut v = T::new_zeroed();
        self.config_bytes(offset, v.as_mut_bytes());
        Ok(v)
    }

    fn write_config_space<T: IntoBytes + Immutable>(
        &mut self,
        offset: usize,
        value: T,
    ) -> Result<(), Error> {
        for (i, b) in value.as_bytes().iter().enumerate() {
            self.dev
                .write(CONFIG + offset + i, Width::U8, u32::from(*b));
        }
        Ok(())
    }
}

/// One virtio-mmio slot of a window that holds several (the board puts
/// them `stride` bytes apart): registers at `base` within `dev`.
pub struct SlotIo<D: DeviceIo> {
    dev: D,
    base: usize,
}

impl<D: DeviceIo> SlotIo<D> {
    /// The slot at byte `base` of `dev`.
    pub fn new(dev: D, base: usize) -> Self {
        Self { dev, base }
    }
}

impl<D: DeviceIo> DeviceIo for SlotIo<D> {
    fn read(&self, offset: usize, width: Width) -> u32 {
        self.dev.read(self.base + offset, width)
    }
    fn write(&self, offset: usize, width: Width, value: u32) {
        self.dev.write(self.base + offset, width, value)
    }
}

/// The first of `slots` slots, `stride` bytes apart in `dev`, that holds a
/// virtio block device.
pub fn find_block<D: DeviceIo>(
    dev: &D,
    slots: usize,
    stride: usize,
    hint: Option<usize>,
) -> Option<usize> {
    let is_block = |s: usize| {
        MmioTransport::new(SlotIo::new(dev, s * stride))
            .is_ok_and(|t| t.device_type() == DeviceType::Block)
    };
    // Where an earlier start found it, if it is still there (a restart need
    // not scan every slot again).
    hint.filter(|&s| s < slots && is_block(s))
        .or_else(|| (0..slots).find(|&s| is_block(s)))
}
