//! The virtio-pci transport, modern interface (virtio 1.2 §4.1), with the
//! device's registers reached through `pd_core::DeviceIo` (one BAR window)
//! so the same driver runs on mapped registers (seL4) and on a model
//! (hosted). PCI itself, enumeration, capabilities and BARs, is
//! virtio-drivers' `PciRoot` over [`PortCam`], configuration mechanism #1
//! (the PC's I/O ports 0xcf8/0xcfc); virtio-drivers' own `PciTransport`
//! needs raw pointers, which a model behind calls cannot give.
//!
//! The interrupt is the device's INTx line (no MSI-X vector is assigned,
//! so the device raises INTx and the ISR register says why, §4.1.4.5).
//!
//! The register offsets are written here from the specification and, on
//! purpose, again in the hosted model.

use pd_core::{DeviceIo, Width};
use virtio_drivers::transport::pci::bus::Command;
pub use virtio_drivers::transport::pci::bus::{ConfigurationAccess, DeviceFunction, PciRoot};
use virtio_drivers::transport::pci::virtio_device_type;
use virtio_drivers::transport::{DeviceStatus, DeviceType, InterruptStatus, Transport};
use virtio_drivers::{Error, PhysAddr};
use zerocopy::{FromBytes, Immutable, IntoBytes};

/// Common configuration structure (§4.1.4.3), offsets in it.
mod common {
    pub const DEVICE_FEATURE_SELECT: usize = 0x00;
    pub const DEVICE_FEATURE: usize = 0x04;
    pub const DRIVER_FEATURE_SELECT: usize = 0x08;
    pub const DRIVER_FEATURE: usize = 0x0c;
    pub const DEVICE_STATUS: usize = 0x14;
    pub const CONFIG_GENERATION: usize = 0x15;
    pub const QUEUE_SELECT: usize = 0x16;
    pub const QUEUE_SIZE: usize = 0x18;
    pub const QUEUE_MSIX_VECTOR: usize = 0x1a;
    pub const QUEUE_ENABLE: usize = 0x1c;
    pub const QUEUE_NOTIFY_OFF: usize = 0x1e;
    pub const QUEUE_DESC: usize = 0x20;
    pub const QUEUE_DRIVER: usize = 0x28;
    pub const QUEUE_DEVICE: usize = 0x30;
    /// The length the structure has (what the capability must cover).
    pub const LEN: u32 = 0x38;
}

/// Vendor-specific capability (§4.1.4), offsets in it.
const CAP_ID_VENDOR: u8 = 0x09;
const CAP_BAR: u8 = 4;
const CAP_OFFSET: u8 = 8;
const CAP_LENGTH: u8 = 12;
const CAP_NOTIFY_MULTIPLIER: u8 = 16;
const CFG_COMMON: u8 = 1;
const CFG_NOTIFY: u8 = 2;
const CFG_ISR: u8 = 3;
const CFG_DEVICE: u8 = 4;
/// The virtio PCI vendor id.
const VIRTIO_VENDOR: u32 = 0x1af4;
/// The first BAR register (PCI header, byte 0x10); six follow 4 apart.
const BAR0: u8 = 0x10;
/// The interrupt line register (PCI header, byte 0x3c), as firmware set it.
const INTERRUPT_LINE: u8 = 0x3c;
/// "No MSI-X vector" (§4.1.5.1.2).
const NO_VECTOR: u32 = 0xffff;

/// PCI configuration mechanism #1 over two 32-bit I/O ports (a `DeviceIo`
/// of 8 bytes at 0xcf8: the address at offset 0, the data at offset 4).
pub struct PortCam<D: DeviceIo> {
    ports: D,
}

impl<D: DeviceIo> PortCam<D> {
    /// Configuration space through the ports `ports`.
    pub fn new(ports: D) -> Self {
        Self { ports }
    }

    fn select(&self, df: DeviceFunction, offset: u8) {
        let address = 0x8000_0000
            | u32::from(df.bus) << 16
            | u32::from(df.device & 0x1f) << 11
            | u32::from(df.function & 0x7) << 8
            | u32::from(offset & 0xfc);
        self.ports.write32(0, address);
    }
}

impl<D: DeviceIo + Clone> ConfigurationAccess for PortCam<D> {
    fn read_word(&self, df: DeviceFunction, offset: u8) -> u32 {
        self.select(df, offset);
        self.ports.read32(4)
    }

    fn write_word(&mut self, df: DeviceFunction, offset: u8, data: u32) {
        self.select(df, offset);
        self.ports.write32(4, data);
    }

    unsafe fn unsafe_clone(&self) -> Self {
        Self {
            ports: self.ports.clone(),
        }
    }
}

/// Why a PCI function is not one this transport drives.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum PciProbeError {
    /// A capability the device must have (its `cfg_type`) is missing.
    MissingCap(u8),
    /// The structures are not all in one memory BAR (the one mapped).
    SplitBars,
    /// The BAR is not a memory BAR (or could not be read).
    NotMemoryBar(u8),
    /// A structure lies outside the mapped window (its `cfg_type`).
    OutsideWindow(u8),
    /// The BAR could not be placed where the window is mapped (what it
    /// holds).
    BarElsewhere(u64),
    /// The notify offset multiplier is odd (§4.1.4.4).
    OddMultiplier(u32),
}

impl core::fmt::Display for PciProbeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::MissingCap(t) => write!(f, "virtio-pci capability type {t} missing"),
            Self::SplitBars => f.write_str("virtio-pci structures in more than one BAR"),
            Self::NotMemoryBar(b) => write!(f, "virtio-pci BAR{b} is not a memory BAR"),
            Self::OutsideWindow(t) => {
                write!(f, "virtio-pci structure type {t} outside the mapped BAR")
            }
            Self::BarElsewhere(a) => write!(
                f,
                "virtio-pci BAR at {a:#x}, not where the window is mapped"
            ),
            Self::OddMultiplier(m) => write!(f, "virtio-pci notify multiplier {m} is odd"),
        }
    }
}

/// Where the structures are in the BAR, as the capabilities say.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct Layout {
    /// The BAR that holds them all.
    pub bar: u8,
    /// Its physical address (as the firmware or an earlier driver set it).
    pub bar_paddr: u64,
    /// Offsets in the BAR.
    pub common: usize,
    /// Start of the notification area.
    pub notify: usize,
    /// Bytes between two queues' doorbells.
    pub notify_multiplier: u32,
    /// The ISR status byte.
    pub isr: usize,
    /// The device-specific configuration.
    pub device: usize,
    /// The INTx line the firmware routed the device to.
    pub irq_line: u8,
}

/// The first virtio block device on bus 0; the function at device `hint`
/// first, if it is one (where an earlier start found it: a restart need
/// not enumerate the bus again).
pub fn find_block<C: ConfigurationAccess>(
    root: &PciRoot<C>,
    cam: &C,
    hint: Option<u8>,
) -> Option<DeviceFunction> {
    let hinted = hint.filter(|&d| d < 32).map(|device| DeviceFunction {
        bus: 0,
        device,
        function: 0,
    });
    // Vendor and device id in one read (§4.1.2: 0x1af4; 0x1042 modern block,
    // 0x1001 transitional).
    let is_block = |df: DeviceFunction| {
        let id = cam.read_word(df, 0);
        id & 0xffff == VIRTIO_VENDOR && matches!(id >> 16, 0x1042 | 0x1001)
    };
    hinted.filter(|&df| is_block(df)).or_else(|| {
        root.enumerate_bus(0)
            .find(|(_, info)| virtio_device_type(info) == Some(DeviceType::Block))
            .map(|(df, _)| df)
    })
}

/// Read the capabilities of `df` and check that its structures are all in
/// one memory BAR, mapped at physical `window_paddr` for `window_len`
/// bytes; place the BAR there and turn on memory decoding and bus
/// mastering. Safe to repeat after a death anywhere in an earlier probe.
pub fn probe<C: ConfigurationAccess>(
    root: &mut PciRoot<C>,
    cam: &mut C,
    df: DeviceFunction,
    window_paddr: u64,
    window_len: usize,
) -> Result<Layout, PciProbeError> {
    // (cfg_type) -> (bar, offset, length)
    let mut found: [Option<(u8, u32, u32)>; 5] = [None; 5];
    let mut multiplier = 0;
    for cap in root.capabilities(df) {
        let (len, kind) = (cap.private_header as u8, (cap.private_header >> 8) as u8);
        if cap.id != CAP_ID_VENDOR || len < 16 || !(CFG_COMMON..=CFG_DEVICE).contains(&kind) {
            continue;
        }
        let slot = &mut found[usize::from(kind)];
        if slot.is_some() {
            continue; // §4.1.4: the first of a type is the preferred one
        }
        if kind == CFG_NOTIFY {
            multiplier = cam.read_word(df, cap.offset + CAP_NOTIFY_MULTIPLIER);
        }
        *slot = Some((
            cam.read_word(df, cap.offset + CAP_BAR) as u8,
            cam.read_word(df, cap.offset + CAP_OFFSET),
            cam.read_word(df, cap.offset + CAP_LENGTH),
        ));
    }
    let mut at = [0usize; 5];
    let mut bar = None;
    for kind in CFG_COMMON..=CFG_DEVICE {
        let (b, offset, length) =
            found[usize::from(kind)].ok_or(PciProbeError::MissingCap(kind))?;
        if bar.is_some_and(|x| x != b) {
            return Err(PciProbeError::SplitBars);
        }
        bar = Some(b);
        let need = match kind {
            CFG_COMMON => common::LEN,
            CFG_ISR => 1,
            CFG_DEVICE => 8, // the capacity
            _ => 2,
        };
        if length < need || offset as usize + need as usize > window_len {
            return Err(PciProbeError::OutsideWindow(kind));
        }
        at[usize::from(kind)] = offset as usize;
    }
    if multiplier % 2 != 0 {
        return Err(PciProbeError::OddMultiplier(multiplier));
    }
    let bar = bar.ok_or(PciProbeError::MissingCap(CFG_COMMON))?;
    let bar_paddr = place_bar(root, cam, df, bar, window_paddr)?;
    let (_, command) = root.get_status_command(df);
    root.set_command(df, command | Command::MEMORY_SPACE | Command::BUS_MASTER);
    Ok(Layout {
        bar,
        bar_paddr,
        common: at[usize::from(CFG_COMMON)],
        notify: at[usize::from(CFG_NOTIFY)],
        notify_multiplier: multiplier,
        isr: at[usize::from(CFG_ISR)],
        device: at[usize::from(CFG_DEVICE)],
        irq_line: cam.read_word(df, INTERRUPT_LINE) as u8,
    })
}

/// The BAR's address as its registers hold it, without sizing it (a
/// driver that dies between sizing and restoring would leave the size
/// mask in place of the address; this probe never writes all-ones).
fn read_bar<C: ConfigurationAccess>(
    cam: &C,
    df: DeviceFunction,
    bar: u8,
) -> Result<u64, PciProbeError> {
    if bar >= 6 {
        return Err(PciProbeError::NotMemoryBar(bar));
    }
    let low = cam.read_word(df, BAR0 + 4 * bar);
    if low & 1 != 0 {
        return Err(PciProbeError::NotMemoryBar(bar)); // an I/O BAR
    }
    let address = u64::from(low & !0xf);
    match (low >> 1) & 0b11 {
        0b00 => Ok(address),
        0b10 if bar < 5 => Ok(address | u64::from(cam.read_word(df, BAR0 + 4 * (bar + 1))) << 32),
        _ => Err(PciProbeError::NotMemoryBar(bar)),
    }
}

/// Make `bar` hold `window_paddr`, the address the system maps it at. The
/// system description, not whatever the BAR holds, is the authority: a
/// BAR that reads otherwise (firmware chose another address, or an
/// earlier incarnation died sizing it, leaving the size mask) is written
/// with memory decoding off, then read back.
fn place_bar<C: ConfigurationAccess>(
    root: &mut PciRoot<C>,
    cam: &mut C,
    df: DeviceFunction,
    bar: u8,
    window_paddr: u64,
) -> Result<u64, PciProbeError> {
    let held = read_bar(cam, df, bar)?;
    if held == window_paddr {
        return Ok(held);
    }
    let (_, command) = root.get_status_command(df);
    root.set_command(df, command - Command::MEMORY_SPACE);
    let wide = (cam.read_word(df, BAR0 + 4 * bar) >> 1) & 0b11 == 0b10;
    let flags = cam.read_word(df, BAR0 + 4 * bar) & 0xf;
    if wide {
        cam.write_word(df, BAR0 + 4 * (bar + 1), (window_paddr >> 32) as u32);
    } else if window_paddr >> 32 != 0 {
        return Err(PciProbeError::BarElsewhere(held));
    }
    cam.write_word(df, BAR0 + 4 * bar, window_paddr as u32 & !0xf | flags);
    match read_bar(cam, df, bar)? {
        now if now == window_paddr => Ok(now),
        now => Err(PciProbeError::BarElsewhere(now)),
    }
}

/// Why no virtio-pci block device could be opened.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum OpenError {
    /// No virtio block function on bus 0.
    NotFound,
    /// The function found is not one this transport drives.
    Probe(DeviceFunction, PciProbeError),
}

impl core::fmt::Display for OpenError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NotFound => f.write_str("no virtio block device on PCI bus 0"),
            Self::Probe(df, e) => write!(f, "pci {df}: {e}"),
        }
    }
}

/// Open the virtio block function on bus 0 (at device `hint` first) through
/// the configuration ports `ports`, its BAR mapped as `bar` at physical
/// `bar_paddr`: [`find_block`], then [`probe`].
pub fn open<C: DeviceIo + Clone, D: DeviceIo>(
    ports: C,
    bar: D,
    bar_paddr: u64,
    hint: Option<u8>,
) -> Result<(PciTransport<D>, DeviceFunction), OpenError> {
    let mut cam = PortCam::new(ports.clone());
    let mut root = PciRoot::new(PortCam::new(ports));
    let df = find_block(&root, &cam, hint).ok_or(OpenError::NotFound)?;
    let window = bar.window().unwrap_or(0);
    let layout =
        probe(&mut root, &mut cam, df, bar_paddr, window).map_err(|e| OpenError::Probe(df, e))?;
    Ok((PciTransport::new(bar, layout, DeviceType::Block), df))
}

/// A virtio-pci device's registers: its BAR window and where the
/// structures are in it.
pub struct PciTransport<D: DeviceIo> {
    bar: D,
    layout: Layout,
    device_type: DeviceType,
    /// The doorbell of the queue set up last (queue, offset in the BAR),
    /// so that a kick, on every submission, is one register write.
    doorbell: Option<(u16, usize)>,
}

impl<D: DeviceIo> PciTransport<D> {
    /// The device of type `device_type` whose BAR `bar` maps, laid out as
    /// [`probe`] found.
    pub fn new(bar: D, layout: Layout, device_type: DeviceType) -> Self {
        Self {
            bar,
            layout,
            device_type,
            doorbell: None,
        }
    }

    /// Where the structures are.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    fn c_read(&self, offset: usize, w: Width) -> u32 {
        self.bar.read(self.layout.common + offset, w)
    }

    fn c_write(&self, offset: usize, w: Width, v: u32) {
        self.bar.write(self.layout.common + offset, w, v)
    }

    /// A 64-bit field as two 32-bit writes, low first (§4.1.3.1).
    fn c_write64(&self, offset: usize, v: u64) {
        self.c_write(offset, Width::U32, v as u32);
        self.c_write(offset + 4, Width::U32, (v >> 32) as u32);
    }

    fn select(&self, queue: u16) {
        self.c_write(common::QUEUE_SELECT, Width::U16, u32::from(queue));
    }

    /// Where `queue`'s doorbell is (§4.1.4.4).
    fn doorbell_of(&self, queue: u16) -> usize {
        self.select(queue);
        let off = self.c_read(common::QUEUE_NOTIFY_OFF, Width::U16) as usize;
        self.layout.notify + off * self.layout.notify_multiplier as usize
    }
}

impl<D: DeviceIo> Transport for PciTransport<D> {
    fn device_type(&self) -> DeviceType {
        self.device_type
    }

    fn read_device_features(&mut self) -> u64 {
        self.c_write(common::DEVICE_FEATURE_SELECT, Width::U32, 1);
        let high = u64::from(self.c_read(common::DEVICE_FEATURE, Width::U32));
        self.c_write(common::DEVICE_FEATURE_SELECT, Width::U32, 0);
        (high << 32) | u64::from(self.c_read(common::DEVICE_FEATURE, Width::U32))
    }

    fn write_driver_features(&mut self, features: u64) {
        self.c_write(common::DRIVER_FEATURE_SELECT, Width::U32, 0);
        self.c_write(common::DRIVER_FEATURE, Width::U32, features as u32);
        self.c_write(common::DRIVER_FEATURE_SELECT, Width::U32, 1);
        self.c_write(common::DRIVER_FEATURE, Width::U32, (features >> 32) as u32);
    }

    fn max_queue_size(&mut self, queue: u16) -> u32 {
        self.select(queue);
        self.c_read(common::QUEUE_SIZE, Width::U16)
    }

    fn notify(&mut self, queue: u16) {
        let at = match self.doorbell {
            Some((q, at)) if q == queue => at,
            _ => self.doorbell_of(queue),
        };
        self.bar.write(at, Width::U16, u32::from(queue));
    }

    fn get_status(&self) -> DeviceStatus {
        DeviceStatus::from_bits_truncate(self.c_read(common::DEVICE_STATUS, Width::U8))
    }

    fn set_status(&mut self, status: DeviceStatus) {
        self.c_write(common::DEVICE_STATUS, Width::U8, status.bits());
        if status.is_empty() {
            // §4.1.4.3.2: a reset is done when the status reads back 0.
            while self.c_read(common::DEVICE_STATUS, Width::U8) != 0 {}
        }
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
        self.select(queue);
        self.c_write(common::QUEUE_SIZE, Width::U16, size);
        self.c_write(common::QUEUE_MSIX_VECTOR, Width::U16, NO_VECTOR);
        self.c_write64(common::QUEUE_DESC, descriptors);
        self.c_write64(common::QUEUE_DRIVER, driver_area);
        self.c_write64(common::QUEUE_DEVICE, device_area);
        self.c_write(common::QUEUE_ENABLE, Width::U16, 1);
        self.doorbell = Some((queue, self.doorbell_of(queue)));
    }

    fn queue_unset(&mut self, _queue: u16) {
        // §4.1.4.3.2: a queue cannot be disabled but by a device reset, which
        // is how this driver abandons a queue.
    }

    fn queue_used(&mut self, queue: u16) -> bool {
        self.select(queue);
        self.c_read(common::QUEUE_ENABLE, Width::U16) != 0
    }

    fn ack_interrupt(&mut self) -> InterruptStatus {
        // Reading the ISR clears it and deasserts INTx (§4.1.4.5).
        let isr = self.bar.read(self.layout.isr, Width::U8);
        InterruptStatus::from_bits_truncate(isr)
    }

    fn read_config_generation(&self) -> u32 {
        self.c_read(common::CONFIG_GENERATION, Width::U8)
    }

    fn read_config_space<T: FromBytes + IntoBytes>(&self, offset: usize) -> Result<T, Error> {
        let mut v = T::new_zeroed();
        for (i, b) in v.as_mut_bytes().iter_mut().enumerate() {
            *b = self.bar.read(self.layout.device + offset + i, Width::U8) as u8;
        }
        Ok(v)
    }

    fn write_config_space<T: IntoBytes + Immutable>(
        &mut self,
        offset: usize,
        value: T,
    ) -> Result<(), Error> {
        for (i, b) in value.as_bytes().iter().enumerate() {
            self.bar
                .write(self.layout.device + offset + i, Width::U8, u32::from(*b));
        }
        Ok(())
    }
}
