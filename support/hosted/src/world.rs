//! The runtime's tables, derived from one board's view of the system. Both
//! the kernel and every PD process compute them from the same text, so PD
//! indices agree everywhere.

use crate::models::UartKind;
use crate::Error;
use sdf::{Board, IrqKind, Perms, System, Trigger};

/// Physical address of the PL011 on qemu_virt_aarch64.
pub const PL011_PADDR: u64 = 0x0900_0000;
/// PL011 interrupt (SPI 1).
pub const PL011_IRQ: u64 = 33;
/// I/O port base of the 16550 (COM1) on x86_64_generic.
pub const COM1_PORT: u64 = 0x3f8;
/// COM1 IOAPIC pin.
pub const COM1_PIN: u64 = 4;
/// Timer interrupt on qemu_virt_aarch64 (EL1 physical timer PPI).
pub const ARM_TIMER_IRQ: u64 = 30;
/// Timer IOAPIC pin on x86_64_generic (the PIT: ISA IRQ 0 is routed to IOAPIC
/// pin 2 by the interrupt source override QEMU reports in its MADT).
pub const X86_TIMER_PIN: u64 = 2;

/// One end of a channel, as the PD that holds it sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chan {
    /// The PD at the other end.
    pub peer: usize,
    /// The channel id at the other end.
    pub peer_ch: u8,
    /// This end may call the peer.
    pub pp: bool,
    /// This end may notify the peer.
    pub notify: bool,
}

/// What raises an IRQ channel.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum IrqSource {
    /// The board timer (the PD's `set_timeout`).
    Timer,
    /// The board UART model.
    Uart(UartKind),
    /// Declared but not modelled: never fires.
    Other,
}

/// A mapping into a PD.
#[derive(Clone, Debug)]
pub struct WMap {
    /// Memory region index.
    pub mr: usize,
    /// Virtual address.
    pub vaddr: u64,
    /// Size.
    pub size: u64,
    /// Permissions.
    pub perms: Perms,
    /// `setvar_vaddr`.
    pub setvar: Option<String>,
    /// The region is a modelled device: reserved, not memory.
    pub device: Option<UartKind>,
}

/// One PD.
#[derive(Clone, Debug)]
pub struct WPd {
    /// Name.
    pub name: String,
    /// `program_image` path.
    pub program: String,
    /// Priority.
    pub priority: u8,
    /// Parent index and our child id there.
    pub parent: Option<(usize, u8)>,
    /// Children: child id -> PD index.
    pub children: Vec<(u8, usize)>,
    /// Channels by id.
    pub channels: Vec<Option<Chan>>,
    /// IRQ channels by id, with whether they are edge triggered.
    pub irqs: Vec<Option<(IrqSource, bool)>>,
    /// The timer's channel.
    pub timer: Option<u8>,
    /// Mappings.
    pub maps: Vec<WMap>,
    /// Devices by name (setvar_vaddr of a device mapping, setvar_id of an
    /// I/O port range).
    pub devices: Vec<(String, UartKind)>,
}

/// Where a UART's interrupt goes: (PD index, channel id, edge triggered).
pub type IrqRoute = (usize, u8, bool);

/// The whole board view.
#[derive(Clone, Debug)]
pub struct World {
    /// Emulated board.
    pub board: Board,
    /// PDs in the view's order.
    pub pds: Vec<WPd>,
    /// Memory regions: (name, size, modelled device).
    pub mrs: Vec<(String, u64, Option<UartKind>)>,
    /// The UART model in use and its IRQ route (pd, channel, edge).
    pub uart: Option<(UartKind, Option<IrqRoute>)>,
}

const NCH: usize = pd_core::MAX_CHANNEL as usize + 1;

impl World {
    /// Build the tables for `view` (a board view from `sdf`).
    pub fn new(view: &System, board: Board) -> Result<Self, Error> {
        let unsupported = |what: String| Error::Config(format!("{}: {what}", view.file));
        let uart_kind = match board {
            Board::QemuVirtAarch64 => UartKind::Pl011,
            Board::X86_64Generic => UartKind::Ns16550,
        };
        let mrs: Vec<(String, u64, Option<UartKind>)> = view
            .memory_regions
            .iter()
            .map(|m| {
                let dev = (board == Board::QemuVirtAarch64 && m.phys_addr == Some(PL011_PADDR))
                    .then_some(UartKind::Pl011);
                (m.name.clone(), m.size, dev)
            })
            .collect();
        let mut pds = Vec::new();
        let mut uart_used = false;
        let mut uart_route = None;
        for (i, pd) in view.protection_domains.iter().enumerate() {
            let mut w = WPd {
                name: pd.name.clone(),
                program: pd
                    .program_image()
                    .map(|p| p.path.clone())
                    .unwrap_or_default(),
                priority: pd.priority,
                parent: pd.parent.zip(pd.id),
                children: pd
                    .children
                    .iter()
                    .filter_map(|&c| {
                        view.protection_domains
                            .get(c)
                            .and_then(|p| p.id)
                            .map(|id| (id, c))
                    })
                    .collect(),
                channels: vec![None; NCH],
                irqs: vec![None; NCH],
                timer: None,
                maps: Vec::new(),
                devices: Vec::new(),
            };
            for m in &pd.maps {
                let Some(mr) = mrs.iter().position(|x| x.0 == m.mr) else {
                    return Err(unsupported(format!("map of unknown region {}", m.mr)));
                };
                let device = mrs[mr].2;
                if let (Some(kind), Some(name)) = (device, &m.setvar_vaddr) {
                    w.devices.push((name.clone(), kind));
                    uart_used = true;
                }
                w.maps.push(WMap {
                    mr,
                    vaddr: m.vaddr,
                    size: mrs[mr].1,
                    perms: m.perms,
                    setvar: m.setvar_vaddr.clone(),
                    device,
                });
            }
            for io in &pd.ioports {
                if board == Board::X86_64Generic && io.addr == COM1_PORT {
                    if let Some(name) = &io.setvar_id {
                        w.devices.push((name.clone(), UartKind::Ns16550));
                    }
                    uart_used = true;
                }
            }
            for irq in &pd.irqs {
                let (source, edge) = match &irq.kind {
                    IrqKind::Arm { irq: n, trigger } => {
                        let src = match *n {
                            ARM_TIMER_IRQ => IrqSource::Timer,
                            PL011_IRQ if board == Board::QemuVirtAarch64 => {
                                IrqSource::Uart(UartKind::Pl011)
                            }
                            _ => IrqSource::Other,
                        };
                        (src, *trigger == Trigger::Edge)
                    }
                    IrqKind::Ioapic {
                        ioapic: 0,
                        pin,
                        trigger,
                        ..
                    } => {
                        let src = match *pin {
                            X86_TIMER_PIN => IrqSource::Timer,
                            COM1_PIN => IrqSource::Uart(UartKind::Ns16550),
                            _ => IrqSource::Other,
                        };
                        (src, *trigger == Trigger::Edge)
                    }
                    IrqKind::Ioapic { .. } => (IrqSource::Other, false),
                    IrqKind::Msi { .. } => {
                        return Err(unsupported(format!(
                            "protection domain {}: MSI interrupts are not supported by the hosted runtime",
                            pd.name
                        )))
                    }
                };
                if let Some(slot) = w.irqs.get_mut(usize::from(irq.id)) {
                    *slot = Some((source, edge));
                }
                match source {
                    IrqSource::Timer => w.timer = Some(irq.id),
                    IrqSource::Uart(_) => uart_route = Some((i, irq.id, edge)),
                    IrqSource::Other => {}
                }
            }
            pds.push(w);
        }
        for ch in &view.channels {
            let [a, b] = ch.ends.as_slice() else { continue };
            let (Some(ia), Some(ib)) = (view.pd_index(&a.pd), view.pd_index(&b.pd)) else {
                continue;
            };
            for (x, ix, y, iy) in [(a, ia, b, ib), (b, ib, a, ia)] {
                if let Some(slot) = pds[ix].channels.get_mut(usize::from(x.id)) {
                    *slot = Some(Chan {
                        peer: iy,
                        peer_ch: y.id,
                        pp: x.pp,
                        notify: x.notify,
                    });
                }
            }
        }
        let uart = (uart_used || uart_route.is_some()).then_some((uart_kind, uart_route));
        Ok(World {
            board,
            pds,
            mrs,
            uart,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world(board: Board) -> World {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../system.xml");
        let sys = match sdf::parse_file(&path) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        match World::new(&sys.for_board(board), board) {
            Ok(w) => w,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn the_real_system_has_its_uart_and_timer_on_both_boards() {
        for (board, kind) in [
            (Board::QemuVirtAarch64, UartKind::Pl011),
            (Board::X86_64Generic, UartKind::Ns16550),
        ] {
            let w = world(board);
            let Some((k, Some((pd, ch, _)))) = w.uart else {
                panic!("{board}: no UART or no UART interrupt");
            };
            assert_eq!(k, kind);
            // The PD that takes the interrupt also has the registers.
            let drv = &w.pds[pd];
            assert!(drv.devices.iter().any(|(_, d)| *d == kind), "{board}");
            assert_eq!(
                drv.irqs[usize::from(ch)],
                Some((IrqSource::Uart(kind), false))
            );
            // The device mapping is not memory.
            assert!(drv
                .maps
                .iter()
                .all(|m| m.device.is_none() || board == Board::QemuVirtAarch64));
            // Somebody (the monitor) has a timer, and it is the parent of the driver.
            let (parent, _) = drv.parent.unwrap_or((usize::MAX, 0));
            assert!(
                w.pds.get(parent).is_some_and(|p| p.timer.is_some()),
                "{board}"
            );
        }
    }
}
