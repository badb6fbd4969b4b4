//! Either transport, chosen at start from what the board maps: a board
//! has virtio-mmio slots (qemu_virt_aarch64) or a PCI bus (x86_64_generic),
//! and the driver above is the same.

use crate::mmio::{MmioTransport, SlotIo};
use crate::pci::PciTransport;
use pd_core::DeviceIo;
use virtio_drivers::transport::{DeviceStatus, DeviceType, InterruptStatus, Transport};
use virtio_drivers::{Error, PhysAddr};
use zerocopy::{FromBytes, Immutable, IntoBytes};

/// The transport of one virtio device.
pub enum AnyTransport<D: DeviceIo> {
    /// A virtio-mmio slot.
    Mmio(MmioTransport<SlotIo<D>>),
    /// A virtio-pci function, through its BAR.
    Pci(PciTransport<D>),
}

/// One body for every method: the same call on whichever transport it is.
macro_rules! each {
    ($self:ident, $t:ident => $e:expr) => {
        match $self {
            AnyTransport::Mmio($t) => $e,
            AnyTransport::Pci($t) => $e,
        }
    };
}

impl<D: DeviceIo> Transport for AnyTransport<D> {
    fn device_type(&self) -> DeviceType {
        each!(self, t => t.device_type())
    }
    fn read_device_features(&mut self) -> u64 {
        each!(self, t => t.read_device_features())
    }
    fn write_driver_features(&mut self, f: u64) {
        each!(self, t => t.write_driver_features(f))
    }
    fn max_queue_size(&mut self, q: u16) -> u32 {
        each!(self, t => t.max_queue_size(q))
    }
    fn notify(&mut self, q: u16) {
        each!(self, t => t.notify(q))
    }
    fn get_status(&self) -> DeviceStatus {
        each!(self, t => t.get_status())
    }
    fn set_status(&mut self, s: DeviceStatus) {
        each!(self, t => t.set_status(s))
    }
    fn set_guest_page_size(&mut self, size: u32) {
        each!(self, t => t.set_guest_page_size(size))
    }
    fn requires_legacy_layout(&self) -> bool {
        each!(self, t => t.requires_legacy_layout())
    }
    fn queue_set(&mut self, q: u16, size: u32, desc: PhysAddr, drv: PhysAddr, dev: PhysAddr) {
        each!(self, t => t.queue_set(q, size, desc, drv, dev))
    }
    fn queue_unset(&mut self, q: u16) {
        each!(self, t => t.queue_unset(q))
    }
    fn queue_used(&mut self, q: u16) -> bool {
        each!(self, t => t.queue_used(q))
    }
    fn ack_interrupt(&mut self) -> InterruptStatus {
        each!(self, t => t.ack_interrupt())
    }
    fn read_config_generation(&self) -> u32 {
        each!(self, t => t.read_config_generation())
    }
    fn read_config_space<T: FromBytes + IntoBytes>(&self, offset: usize) -> Result<T, Error> {
        each!(self, t => t.read_config_space(offset))
    }
    fn write_config_space<T: IntoBytes + Immutable>(
        &mut self,
        offset: usize,
        value: T,
    ) -> Result<(), Error> {
        each!(self, t => t.write_config_space(offset, value))
    }
}
