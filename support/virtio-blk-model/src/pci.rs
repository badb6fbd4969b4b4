//! The same block device behind the virtio-pci transport, modern interface
//! only (virtio 1.2 §4.1; QEMU's `virtio-blk-pci,disable-legacy=on`): a PCI
//! type 0 configuration header with the four virtio capabilities, one
//! 64-bit memory BAR that holds the structures, and the PC host bridge's
//! configuration mechanism #1 (the address latch at 0xcf8, data at 0xcfc).
//!
//! [`PciFront`] is plain data like the device; its methods take the
//! [`VirtioBlk`] they front, so a test keeps both where they outlive the
//! driver. The register file underneath is the virtio-mmio one: each
//! common-configuration field is the same device state as its mmio
//! register, which is what the specification says it is.

use crate::regs::{reg, Effect, VirtioBlk};
use crate::QUEUE_NUM_MAX;

/// PCI ids (§4.1.2): the virtio vendor, a modern block device.
pub const VENDOR: u16 = 0x1af4;
/// 0x1040 + device type 2.
pub const DEVICE: u16 = 0x1042;
/// The BAR that holds the structures, and its size.
pub const BAR: u8 = 4;
/// Bytes of the BAR.
pub const BAR_SIZE: u64 = 0x4000;
/// Offsets of the structures in the BAR (QEMU's layout).
pub const COMMON: usize = 0x0000;
/// The ISR status byte.
pub const ISR: usize = 0x1000;
/// The block configuration.
pub const DEVICE_CFG: usize = 0x2000;
/// The doorbells.
pub const NOTIFY: usize = 0x3000;
/// Bytes between doorbells.
pub const NOTIFY_MULTIPLIER: u32 = 4;

/// Command register bits (PCI 3.0 §6.2.2).
pub mod command {
    /// The function answers memory accesses to its BARs.
    pub const MEMORY: u16 = 1 << 1;
    /// The function may master the bus (DMA).
    pub const BUS_MASTER: u16 = 1 << 2;
    /// INTx is not asserted.
    pub const INTX_DISABLE: u16 = 1 << 10;
}

/// Where the capabilities are, and of which `cfg_type` (§4.1.4).
const CAPS: [(u8, u8, usize, u32); 4] = [
    (0x40, 1, COMMON, 0x38),
    (0x50, 2, NOTIFY, 0x1000),
    (0x68, 3, ISR, 1),
    (0x78, 4, DEVICE_CFG, 0x100),
];

/// The function's PCI state and the host bridge's address latch.
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct PciFront {
    /// Configuration address latch (0xcf8).
    pub address: u32,
    /// The command register.
    pub command: u16,
    /// The interrupt line firmware wrote.
    pub interrupt_line: u8,
    /// BAR low/high dwords last written 0xffffffff (a sizing read next).
    sizing: [u8; 2],
    /// The BAR's address.
    pub bar: u64,
    /// Bus 0 device number of the function.
    pub slot: u8,
    _pad: [u8; 7],
}

impl PciFront {
    /// A function at 00:`slot`.0 whose BAR firmware put at `bar`, its INTx
    /// routed to `line`, memory decoding on (as SeaBIOS leaves it).
    pub fn new(slot: u8, bar: u64, line: u8) -> Self {
        Self {
            address: 0,
            command: command::MEMORY,
            interrupt_line: line,
            sizing: [0; 2],
            bar,
            slot,
            _pad: [0; 7],
        }
    }

    /// INTx is asserted.
    pub fn irq_line(&self, dev: &VirtioBlk) -> bool {
        dev.irq_line() && self.command & command::INTX_DISABLE == 0
    }

    /// The device may do DMA (the caller runs [`VirtioBlk::process`] only
    /// then).
    pub fn may_dma(&self) -> bool {
        self.command & command::BUS_MASTER != 0
    }

    /// A read of the host bridge's ports, `port` 0..8 from 0xcf8.
    pub fn port_read(&self, port: usize, width: usize) -> u32 {
        match (port, width) {
            (0, 4) => self.address,
            (4..=7, _) => {
                let word = self
                    .selected()
                    .map_or(u32::MAX, |off| self.config_dword(off));
                let shift = (port - 4) * 8;
                match width {
                    1 => (word >> shift) & 0xff,
                    2 => (word >> shift) & 0xffff,
                    _ => word,
                }
            }
            _ => u32::MAX,
        }
    }

    /// A write of the host bridge's ports.
    pub fn port_write(&mut self, port: usize, width: usize, value: u32) {
        match (port, width) {
            (0, 4) => self.address = value,
            (4, 4) => {
                if let Some(off) = self.selected() {
                    self.config_write(off, value);
                }
            }
            _ => {} // sub-dword configuration writes: nothing here needs them
        }
    }

    /// The dword offset the latch selects in this function, if it does.
    fn selected(&self) -> Option<u8> {
        let a = self.address;
        let (enable, bus, dev, func) = (a >> 31, (a >> 16) & 0xff, (a >> 11) & 0x1f, (a >> 8) & 7);
        (enable == 1 && bus == 0 && dev == u32::from(self.slot) && func == 0)
            .then_some((a & 0xfc) as u8)
    }

    /// The configuration dword at `off` (dword-aligned).
    pub fn config_dword(&self, off: u8) -> u32 {
        let bar_lo = 0x10 + 4 * u32::from(BAR);
        // The notify capability has the multiplier after the common 16 bytes.
        let cap_len = |kind: u8| if kind == 2 { 20 } else { 16 };
        let cap = CAPS.iter().find(|c| off >= c.0 && off < c.0 + cap_len(c.1));
        if let Some(&(at, kind, offset, length)) = cap {
            let next = CAPS.iter().find(|c| c.0 > at).map_or(0, |c| u32::from(c.0));
            let len = u32::from(cap_len(kind));
            return match off - at {
                0 => 0x09 | next << 8 | len << 16 | u32::from(kind) << 24,
                4 => u32::from(BAR),
                8 => offset as u32,
                12 => length,
                16 if kind == 2 => NOTIFY_MULTIPLIER,
                _ => 0,
            };
        }
        match u32::from(off) {
            0x00 => u32::from(VENDOR) | u32::from(DEVICE) << 16,
            // Status: capabilities list.
            0x04 => u32::from(self.command) | 0x10 << 16,
            // Class 01 (mass storage), subclass 00, revision 1 (modern).
            0x08 => 0x0100_0001,
            0x2c => u32::from(VENDOR) | 2 << 16,
            0x34 => u32::from(CAPS[0].0),
            0x3c => u32::from(self.interrupt_line) | 1 << 8,
            o if o == bar_lo => {
                if self.sizing[0] != 0 {
                    (!(BAR_SIZE as u32 - 1)) | 0b1100
                } else {
                    (self.bar as u32 & !0xf) | 0b1100 // 64-bit, prefetchable
                }
            }
            o if o == bar_lo + 4 => {
                if self.sizing[1] != 0 {
                    u32::MAX
                } else {
                    (self.bar >> 32) as u32
                }
            }
            _ => 0,
        }
    }

    /// A configuration dword write.
    pub fn config_write(&mut self, off: u8, value: u32) {
        let bar_lo = 0x10 + 4 * BAR;
        match off {
            0x04 => self.command = value as u16,
            0x3c => self.interrupt_line = value as u8,
            o if o == bar_lo || o == bar_lo + 4 => {
                let hi = usize::from(o == bar_lo + 4);
                if value == u32::MAX {
                    self.sizing[hi] = 1;
                } else {
                    self.sizing[hi] = 0;
                    self.bar = if hi == 1 {
                        (self.bar & 0xffff_ffff) | u64::from(value) << 32
                    } else {
                        (self.bar & !0xffff_ffff) | u64::from(value & !(BAR_SIZE as u32 - 1))
                    };
                }
            }
            _ => {}
        }
    }

    /// A read of the BAR at byte `offset`. Reading the ISR clears it
    /// (§4.1.4.5), hence `dev` mutable. Without memory decoding the
    /// function does not answer: all ones, as a master abort reads.
    pub fn bar_read(&self, dev: &mut VirtioBlk, offset: usize, width: usize) -> u32 {
        if self.command & command::MEMORY == 0 {
            return u32::MAX;
        }
        if offset == ISR && width == 1 {
            let pending = dev.read(reg::INTERRUPT_STATUS, 4);
            dev.write(reg::INTERRUPT_ACK, 4, pending);
            return pending;
        }
        if (DEVICE_CFG..DEVICE_CFG + 0x100).contains(&offset) {
            return dev.read(reg::CONFIG + offset - DEVICE_CFG, width);
        }
        let sel0 = dev.queue_sel == 0;
        let mmio = |r| dev.read(r, 4);
        match (offset.wrapping_sub(COMMON), width) {
            (0x00, 4) => dev.device_features_sel,
            (0x04, 4) => mmio(reg::DEVICE_FEATURES),
            (0x08, 4) => dev.driver_features_sel,
            (0x0c, 4) => match dev.driver_features_sel {
                0 => dev.driver_features as u32,
                1 => (dev.driver_features >> 32) as u32,
                _ => 0,
            },
            (0x10, 2) | (0x1a, 2) => 0xffff, // no MSI-X: NO_VECTOR
            (0x12, 2) => 1,
            (0x14, 1) => mmio(reg::STATUS) & 0xff,
            (0x15, 1) => mmio(reg::CONFIG_GENERATION) & 0xff,
            (0x16, 2) => dev.queue_sel,
            (0x18, 2) if sel0 => match dev.queue.num {
                0 => QUEUE_NUM_MAX,
                n => n,
            },
            (0x1c, 2) => mmio(reg::QUEUE_READY),
            (0x1e, 2) => 0,
            (0x20, 4) if sel0 => dev.queue.desc as u32,
            (0x24, 4) if sel0 => (dev.queue.desc >> 32) as u32,
            (0x28, 4) if sel0 => dev.queue.driver as u32,
            (0x2c, 4) if sel0 => (dev.queue.driver >> 32) as u32,
            (0x30, 4) if sel0 => dev.queue.device as u32,
            (0x34, 4) if sel0 => (dev.queue.device >> 32) as u32,
            _ => 0,
        }
    }

    /// A write of the BAR.
    pub fn bar_write(&self, dev: &mut VirtioBlk, offset: usize, width: usize, v: u32) -> Effect {
        if self.command & command::MEMORY == 0 {
            return Effect::None;
        }
        if offset == NOTIFY && width == 2 {
            return dev.write(reg::QUEUE_NOTIFY, 4, v);
        }
        let r = match (offset.wrapping_sub(COMMON), width) {
            (0x00, 4) => reg::DEVICE_FEATURES_SEL,
            (0x08, 4) => reg::DRIVER_FEATURES_SEL,
            (0x0c, 4) => reg::DRIVER_FEATURES,
            (0x14, 1) => reg::STATUS,
            (0x16, 2) => reg::QUEUE_SEL,
            (0x18, 2) => reg::QUEUE_NUM,
            // §4.1.4.3.2: the driver never writes 0 to queue_enable.
            (0x1c, 2) if v == 1 => reg::QUEUE_READY,
            (0x20, 4) => reg::QUEUE_DESC_LOW,
            (0x24, 4) => reg::QUEUE_DESC_HIGH,
            (0x28, 4) => reg::QUEUE_DRIVER_LOW,
            (0x2c, 4) => reg::QUEUE_DRIVER_HIGH,
            (0x30, 4) => reg::QUEUE_DEVICE_LOW,
            (0x34, 4) => reg::QUEUE_DEVICE_HIGH,
            _ => return Effect::None,
        };
        dev.write(r, 4, v)
    }
}
