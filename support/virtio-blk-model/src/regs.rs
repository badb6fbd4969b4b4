//! The virtio-mmio register file (§4.2.2) of a block device.

use crate::{feature, interrupt, status, QUEUE_NUM_MAX, SECTOR};

/// Register offsets (§4.2.2, table "MMIO Device Register Layout").
pub mod reg {
    /// "virt".
    pub const MAGIC: usize = 0x000;
    /// 2: the modern interface.
    pub const VERSION: usize = 0x004;
    /// 2: block device.
    pub const DEVICE_ID: usize = 0x008;
    /// Vendor.
    pub const VENDOR_ID: usize = 0x00c;
    /// Device features, 32 bits of them as `DEVICE_FEATURES_SEL` picks.
    pub const DEVICE_FEATURES: usize = 0x010;
    /// Which 32 device feature bits.
    pub const DEVICE_FEATURES_SEL: usize = 0x014;
    /// Driver features, 32 bits of them as `DRIVER_FEATURES_SEL` picks.
    pub const DRIVER_FEATURES: usize = 0x020;
    /// Which 32 driver feature bits.
    pub const DRIVER_FEATURES_SEL: usize = 0x024;
    /// Queue the queue registers address.
    pub const QUEUE_SEL: usize = 0x030;
    /// Largest size of the selected queue (0: no such queue).
    pub const QUEUE_NUM_MAX: usize = 0x034;
    /// Size of the selected queue.
    pub const QUEUE_NUM: usize = 0x038;
    /// The selected queue is live.
    pub const QUEUE_READY: usize = 0x044;
    /// Doorbell: the value is the queue index.
    pub const QUEUE_NOTIFY: usize = 0x050;
    /// Pending interrupt causes.
    pub const INTERRUPT_STATUS: usize = 0x060;
    /// Clears interrupt causes.
    pub const INTERRUPT_ACK: usize = 0x064;
    /// Device status; writing 0 resets the device.
    pub const STATUS: usize = 0x070;
    /// Descriptor table address, low 32 bits.
    pub const QUEUE_DESC_LOW: usize = 0x080;
    /// Descriptor table address, high 32 bits.
    pub const QUEUE_DESC_HIGH: usize = 0x084;
    /// Driver (available) ring address, low.
    pub const QUEUE_DRIVER_LOW: usize = 0x090;
    /// Driver ring address, high.
    pub const QUEUE_DRIVER_HIGH: usize = 0x094;
    /// Device (used) ring address, low.
    pub const QUEUE_DEVICE_LOW: usize = 0x0a0;
    /// Device ring address, high.
    pub const QUEUE_DEVICE_HIGH: usize = 0x0a4;
    /// Configuration generation.
    pub const CONFIG_GENERATION: usize = 0x0fc;
    /// Device configuration (§5.2.4).
    pub const CONFIG: usize = 0x100;
}

/// "virt", little-endian.
pub const MAGIC: u32 = 0x7472_6976;
/// The vendor id QEMU reports ("QEMU").
pub const VENDOR: u32 = 0x554d_4551;

/// The split virtqueue's device-side state.
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Queue {
    /// Queue size set by the driver.
    pub num: u32,
    /// `QueueReady`.
    pub ready: u32,
    /// Descriptor table.
    pub desc: u64,
    /// Driver (available) ring.
    pub driver: u64,
    /// Device (used) ring.
    pub device: u64,
    /// Next available-ring index the device will serve.
    pub last_avail: u32,
    /// Next used-ring index the device will fill.
    pub used_idx: u32,
    /// Kicked since the device last looked.
    pub kicked: u32,
    _pad: u32,
}

/// The device: registers, queue and geometry. Plain data (see the crate
/// documentation).
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct VirtioBlk {
    /// Disk size in sectors.
    pub capacity: u64,
    /// Features offered.
    pub device_features: u64,
    /// Features the driver wrote.
    pub driver_features: u64,
    /// `DeviceFeaturesSel`.
    pub device_features_sel: u32,
    /// `DriverFeaturesSel`.
    pub driver_features_sel: u32,
    /// `QueueSel`.
    pub queue_sel: u32,
    /// `InterruptStatus`.
    pub interrupt_status: u32,
    /// `Status`.
    pub status: u32,
    /// `ConfigGeneration`.
    pub config_generation: u32,
    /// The one request queue.
    pub queue: Queue,
    /// Requests served since power-on (for tests and statistics).
    pub served: u64,
    /// Device resets since power-on.
    pub resets: u64,
}

/// What a register write asks of the device side.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Nothing beyond the register.
    None,
    /// The queue was kicked: run [`VirtioBlk::process`].
    Notify,
    /// The device was reset.
    Reset,
}

impl VirtioBlk {
    /// A device with a disk of `bytes` (rounded down to sectors).
    pub fn new(bytes: u64, read_only: bool) -> Self {
        let mut device_features = feature::VERSION_1 | feature::BLK_FLUSH | feature::BLK_BLK_SIZE;
        if read_only {
            device_features |= feature::BLK_RO;
        }
        Self {
            capacity: bytes / SECTOR,
            device_features,
            driver_features: 0,
            device_features_sel: 0,
            driver_features_sel: 0,
            queue_sel: 0,
            interrupt_status: 0,
            status: 0,
            config_generation: 0,
            queue: Queue::default(),
            served: 0,
            resets: 0,
        }
    }

    /// The interrupt line: asserted while a cause is pending.
    pub fn irq_line(&self) -> bool {
        self.interrupt_status != 0
    }

    /// The device serves its queue (driver ready, queue live, no error).
    pub fn live(&self) -> bool {
        self.status & status::DRIVER_OK != 0
            && self.status & status::DEVICE_NEEDS_RESET == 0
            && self.queue.ready != 0
    }

    /// The 32-bit configuration word at byte offset `off` (§5.2.4:
    /// capacity at 0, blk_size at 20).
    fn config_word(&self, off: usize) -> u32 {
        match off {
            0 => self.capacity as u32,
            4 => (self.capacity >> 32) as u32,
            20 => SECTOR as u32,
            _ => 0,
        }
    }

    /// A register read of `width` bytes (1, 2 or 4). The common registers
    /// take only aligned 32-bit reads (§4.2.2.2); others read as 0.
    pub fn read(&self, offset: usize, width: usize) -> u32 {
        if offset >= reg::CONFIG {
            let off = offset - reg::CONFIG;
            let word = self.config_word(off & !3);
            let shift = (off & 3) * 8;
            return match width {
                1 => (word >> shift) & 0xff,
                2 if off & 1 == 0 => (word >> shift) & 0xffff,
                4 if off & 3 == 0 => word,
                _ => 0,
            };
        }
        if width != 4 || offset & 3 != 0 {
            return 0;
        }
        let q = &self.queue;
        match offset {
            reg::MAGIC => MAGIC,
            reg::VERSION => 2,
            reg::DEVICE_ID => 2,
            reg::VENDOR_ID => VENDOR,
            reg::DEVICE_FEATURES => match self.device_features_sel {
                0 => self.device_features as u32,
                1 => (self.device_features >> 32) as u32,
                _ => 0,
            },
            reg::QUEUE_NUM_MAX if self.queue_sel == 0 => QUEUE_NUM_MAX,
            reg::QUEUE_READY if self.queue_sel == 0 => q.ready,
            reg::INTERRUPT_STATUS => self.interrupt_status,
            reg::STATUS => self.status,
            reg::CONFIG_GENERATION => self.config_generation,
            _ => 0,
        }
    }

    /// A register write. Writes to read-only registers, of other widths, or
    /// to a queue's setup while it is live are ignored, as the specification
    /// requires of the driver (§4.2.2.3) and QEMU tolerates.
    pub fn write(&mut self, offset: usize, width: usize, value: u32) -> Effect {
        if offset >= reg::CONFIG || width != 4 || offset & 3 != 0 {
            return Effect::None; // the block configuration is read-only here
        }
        let sel0 = self.queue_sel == 0;
        let setup = sel0 && self.queue.ready == 0;
        let q = &mut self.queue;
        let lo = |r: &mut u64| *r = (*r & !0xffff_ffff) | u64::from(value);
        let hi = |r: &mut u64| *r = (*r & 0xffff_ffff) | (u64::from(value) << 32);
        match offset {
            reg::DEVICE_FEATURES_SEL => self.device_features_sel = value,
            reg::DRIVER_FEATURES_SEL => self.driver_features_sel = value,
            reg::DRIVER_FEATURES => match self.driver_features_sel {
                0 => lo(&mut self.driver_features),
                1 => hi(&mut self.driver_features),
                _ => {}
            },
            reg::QUEUE_SEL => self.queue_sel = value,
            reg::QUEUE_NUM if setup => q.num = value,
            reg::QUEUE_DESC_LOW if setup => lo(&mut q.desc),
            reg::QUEUE_DESC_HIGH if setup => hi(&mut q.desc),
            reg::QUEUE_DRIVER_LOW if setup => lo(&mut q.driver),
            reg::QUEUE_DRIVER_HIGH if setup => hi(&mut q.driver),
            reg::QUEUE_DEVICE_LOW if setup => lo(&mut q.device),
            reg::QUEUE_DEVICE_HIGH if setup => hi(&mut q.device),
            reg::QUEUE_READY if sel0 => {
                if value & 1 == 1 && q.ready == 0 {
                    if q.num == 0 || q.num > QUEUE_NUM_MAX || !q.num.is_power_of_two() {
                        return self.needs_reset();
                    }
                    q.ready = 1;
                    q.last_avail = 0;
                    q.used_idx = 0;
                    q.kicked = 0;
                } else if value & 1 == 0 {
                    q.ready = 0;
                }
            }
            reg::QUEUE_NOTIFY if value == 0 && q.ready != 0 => {
                q.kicked = 1;
                return Effect::Notify;
            }
            reg::INTERRUPT_ACK => self.interrupt_status &= !value,
            reg::STATUS => return self.write_status(value),
            _ => {}
        }
        Effect::None
    }

    fn write_status(&mut self, value: u32) -> Effect {
        if value == 0 {
            *self = Self {
                resets: self.resets + 1,
                served: self.served,
                ..Self::new(
                    self.capacity * SECTOR,
                    self.device_features & feature::BLK_RO != 0,
                )
            };
            return Effect::Reset;
        }
        let mut v = value & !status::DEVICE_NEEDS_RESET;
        // §3.1.1: the device refuses FEATURES_OK for features it did not
        // offer, or without VERSION_1 (this device has no legacy interface).
        if v & status::FEATURES_OK != 0
            && self.status & status::FEATURES_OK == 0
            && (self.driver_features & !self.device_features != 0
                || self.driver_features & feature::VERSION_1 == 0)
        {
            v &= !status::FEATURES_OK;
        }
        self.status = v | (self.status & status::DEVICE_NEEDS_RESET);
        Effect::None
    }

    /// Enter `DEVICE_NEEDS_RESET` and tell the driver (§2.1.2).
    pub(crate) fn needs_reset(&mut self) -> Effect {
        self.status |= status::DEVICE_NEEDS_RESET;
        self.interrupt_status |= interrupt::CONFIG_CHANGE;
        Effect::None
    }
}
