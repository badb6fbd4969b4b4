//! The typed system description.
//!
//! A [`System`] returned by [`crate::parse_str`] holds every element with the
//! set of boards it is kept for; [`System::for_board`] gives the view of one
//! board (elements of other boards removed), which is what the Microkit tool
//! and the hosted runtime see. Every element keeps its source position and
//! attributes ([`Src`]) for diagnostics and rendering.

use crate::{Board, BoardSet, Diagnostic, Pos};

/// One attribute as written in the file.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Attr {
    /// Name.
    pub name: String,
    /// Value as written.
    pub value: String,
    /// Where the attribute starts.
    pub pos: Pos,
    /// Value to emit when rendering, if it differs from `value` (numbers the
    /// Microkit tool reads as decimal only are rendered in decimal).
    pub render: Option<String>,
}

/// Where an element came from: tag, position, boards and attributes.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Src {
    /// Element name.
    pub tag: &'static str,
    /// Position of the `<`.
    pub pos: Pos,
    /// Boards the element is kept for (its own `board` attribute).
    pub boards: BoardSet,
    /// Attributes in file order, `board` excluded.
    pub attrs: Vec<Attr>,
}

impl Src {
    /// The attribute `name`, if present.
    pub fn attr(&self, name: &str) -> Option<&Attr> {
        self.attrs.iter().find(|a| a.name == name)
    }

    /// `<tag name="value">` for the attribute at fault, or for the attribute
    /// that best identifies the element.
    pub fn describe(&self, attr: Option<&str>) -> String {
        let shown = match attr {
            Some(a) => self.attr(a),
            None => [
                "name", "pd", "mr", "symbol", "path", "irq", "pin", "id", "addr",
            ]
            .iter()
            .find_map(|n| self.attr(n)),
        };
        match shown {
            Some(a) => format!("<{} {}=\"{}\">", self.tag, a.name, a.value),
            None => format!("<{}>", self.tag),
        }
    }

    /// A diagnostic about this element (and `attr`, positioned there if given).
    pub fn diag(&self, file: &str, attr: Option<&str>, msg: impl Into<String>) -> Diagnostic {
        let pos = attr.and_then(|a| self.attr(a)).map_or(self.pos, |a| a.pos);
        Diagnostic {
            file: file.to_string(),
            pos: Some(pos),
            element: Some(self.describe(attr)),
            attribute: attr.map(str::to_string),
            message: msg.into(),
            board: None,
        }
    }
}

/// The whole system.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct System {
    /// File name used in diagnostics.
    pub file: String,
    /// Directory that relative `prefill_path`s are resolved against.
    pub base_dir: Option<std::path::PathBuf>,
    /// `<memory_region>`s in file order.
    pub memory_regions: Vec<MemoryRegion>,
    /// Every protection domain, flattened in pre-order (a parent comes before
    /// its children, children in file order). Indices are stable for a view.
    pub protection_domains: Vec<ProtectionDomain>,
    /// `<channel>`s in file order.
    pub channels: Vec<Channel>,
    /// The extension `<protocols path="...">`: Tingu specification files
    /// that the `component` and `port` bindings refer to.
    pub protocols: Vec<ProtocolsRef>,
    /// The board of this view, or `None` for the all-boards system.
    pub board: Option<Board>,
    /// Warnings found while validating (the tool would print them too).
    pub warnings: Vec<Diagnostic>,
    /// Position of the `<system>` element.
    pub pos: Pos,
}

/// A `<memory_region>`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct MemoryRegion {
    /// Unique name.
    pub name: String,
    /// Size in bytes (a multiple of `page_size`).
    pub size: u64,
    /// Page size (4 KiB unless given).
    pub page_size: u64,
    /// Fixed physical address (device registers, DMA).
    pub phys_addr: Option<u64>,
    /// File whose content fills the region at start.
    pub prefill_path: Option<String>,
    /// Source.
    pub src: Src,
}

/// Mapping permissions.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Default)]
pub struct Perms {
    /// Readable.
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// Executable.
    pub execute: bool,
}

impl Perms {
    /// Read-write, the default.
    pub const RW: Self = Self {
        read: true,
        write: true,
        execute: false,
    };
}

/// A `<map>` of a memory region into a protection domain.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Map {
    /// Name of the memory region.
    pub mr: String,
    /// Virtual address of the first byte.
    pub vaddr: u64,
    /// Permissions.
    pub perms: Perms,
    /// Cached (default true).
    pub cached: bool,
    /// Symbol patched with `vaddr`.
    pub setvar_vaddr: Option<String>,
    /// Symbol patched with the region's size.
    pub setvar_size: Option<String>,
    /// Symbol patched with the prefill size.
    pub setvar_prefill_size: Option<String>,
    /// Source.
    pub src: Src,
}

/// Interrupt trigger mode.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Trigger {
    /// Level triggered (Microkit's default).
    Level,
    /// Edge triggered.
    Edge,
}

/// IOAPIC line polarity.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Polarity {
    /// Active high (default).
    High,
    /// Active low.
    Low,
}

/// A PCI address `bus:dev.func`.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
pub struct PciAddr {
    /// Bus, 0..=255.
    pub bus: u8,
    /// Device, 0..=31.
    pub dev: u8,
    /// Function, 0..=7.
    pub func: u8,
}

/// How an interrupt is named.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum IrqKind {
    /// Arm/RISC-V: `irq=`.
    Arm {
        /// Interrupt number (GIC INTID).
        irq: u64,
        /// Trigger.
        trigger: Trigger,
    },
    /// x86 IOAPIC: `pin=` and `vector=`.
    Ioapic {
        /// IOAPIC index.
        ioapic: u64,
        /// Pin.
        pin: u64,
        /// CPU vector, 0..=107.
        vector: u64,
        /// Trigger.
        trigger: Trigger,
        /// Polarity.
        polarity: Polarity,
    },
    /// x86 MSI: `pcidev=`, `handle=`, `vector=`.
    Msi {
        /// Device.
        pcidev: PciAddr,
        /// MSI handle.
        handle: u64,
        /// CPU vector, 0..=107.
        vector: u64,
    },
}

/// An `<irq>`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Irq {
    /// Channel id it is delivered on.
    pub id: u8,
    /// Which interrupt.
    pub kind: IrqKind,
    /// Symbol patched with `id`.
    pub setvar_id: Option<String>,
    /// Source.
    pub src: Src,
}

/// An x86 `<ioport>` range.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct IoPort {
    /// I/O port id (its own namespace, 0..=61).
    pub id: u8,
    /// First port.
    pub addr: u64,
    /// Number of ports.
    pub size: u64,
    /// Symbol patched with `id`.
    pub setvar_id: Option<String>,
    /// Symbol patched with `addr`.
    pub setvar_addr: Option<String>,
    /// Source.
    pub src: Src,
}

/// A `<setvar symbol= region_paddr=>`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SetVar {
    /// Symbol patched.
    pub symbol: String,
    /// Memory region whose physical address is written.
    pub region_paddr: String,
    /// Source.
    pub src: Src,
}

/// The extension `<restart_policy>`: how a child's parent restarts it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RestartPolicy {
    /// Faults tolerated within `window_ms` before the child is stopped.
    pub max_faults: u32,
    /// Window for counting faults, in milliseconds.
    pub window_ms: u64,
    /// The child is hung after this long without progress, in milliseconds.
    pub hang_ms: u64,
    /// Memory region holding the child's persistent state (mapped into the
    /// child and its parent).
    pub region: String,
    /// Memory region of the child's control page (epoch and directive):
    /// mapped read-write into the parent, read-only into the child.
    pub control: Option<String>,
    /// Memory regions of the call ledgers of the child's clients: mapped
    /// into the parent, never writable into the child.
    pub ledgers: Vec<String>,
    /// Protection domains told when the child is stopped for good.
    pub notify: Vec<String>,
    /// The extension's restart group: children of the same parent with the
    /// same group are cold-started together when one of them is.
    pub group: Option<String>,
    /// Source.
    pub src: Src,
}

/// The extension `<protocols path="..."/>`: a Tingu specification file.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ProtocolsRef {
    /// Path as written, relative to the system file's directory.
    pub path: String,
    /// Source.
    pub src: Src,
}

impl ProtocolsRef {
    /// The path resolved against `base_dir` (the system file's directory).
    pub fn resolve(&self, base_dir: Option<&std::path::Path>) -> std::path::PathBuf {
        let p = std::path::Path::new(&self.path);
        match base_dir {
            Some(d) if p.is_relative() => d.join(p),
            _ => p.to_path_buf(),
        }
    }
}

/// `<program_image>`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ProgramImage {
    /// ELF path.
    pub path: String,
    /// ELF used for symbols only.
    pub path_for_symbols: Option<String>,
    /// Source.
    pub src: Src,
}

/// A `<protection_domain>`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ProtectionDomain {
    /// Unique name.
    pub name: String,
    /// Child id as the parent names it (nested PDs only).
    pub id: Option<u8>,
    /// Index of the parent in [`System::protection_domains`].
    pub parent: Option<usize>,
    /// Indices of the children, in file order.
    pub children: Vec<usize>,
    /// Priority, 0..=254.
    pub priority: u8,
    /// Budget in microseconds.
    pub budget: u64,
    /// Period in microseconds.
    pub period: u64,
    /// Passive.
    pub passive: bool,
    /// Stack size in bytes.
    pub stack_size: u64,
    /// CPU core.
    pub cpu: u8,
    /// FPU enabled.
    pub fpu: bool,
    /// SMC forwarding allowed (Arm).
    pub smc: bool,
    /// Symbol in the parent patched with `id`.
    pub setvar_id: Option<String>,
    /// `<program_image>`s: exactly one in a valid board view (the
    /// all-boards system may hold one per board).
    pub program_images: Vec<ProgramImage>,
    /// Mappings.
    pub maps: Vec<Map>,
    /// Interrupts.
    pub irqs: Vec<Irq>,
    /// I/O port ranges.
    pub ioports: Vec<IoPort>,
    /// `<setvar>`s.
    pub setvars: Vec<SetVar>,
    /// `<restart_policy>`s (children only): at most one in a valid board view.
    pub restart_policies: Vec<RestartPolicy>,
    /// The extension `component="..."`: the Tingu component this PD plays.
    pub component: Option<String>,
    /// Source.
    pub src: Src,
}

impl ProtectionDomain {
    /// The program image (the first one; a valid board view has exactly one).
    pub fn program_image(&self) -> Option<&ProgramImage> {
        self.program_images.first()
    }

    /// The restart policy (the first one; a valid board view has at most one).
    pub fn restart_policy(&self) -> Option<&RestartPolicy> {
        self.restart_policies.first()
    }

    /// The mapping whose `setvar_vaddr` is `symbol`.
    pub fn map_by_setvar(&self, symbol: &str) -> Option<&Map> {
        self.maps
            .iter()
            .find(|m| m.setvar_vaddr.as_deref() == Some(symbol))
    }
}

/// One `<end>` of a channel.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct End {
    /// Protection domain name.
    pub pd: String,
    /// Channel id in that PD.
    pub id: u8,
    /// This end may make protected calls to the other.
    pub pp: bool,
    /// This end may notify the other (default true).
    pub notify: bool,
    /// Symbol patched with `id`.
    pub setvar_id: Option<String>,
    /// The extension `port="..."`: the port of the PD's component bound to
    /// this channel.
    pub port: Option<String>,
    /// Source.
    pub src: Src,
}

/// A `<channel>`; a valid view has exactly two ends.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Channel {
    /// The ends, in file order.
    pub ends: Vec<End>,
    /// Source.
    pub src: Src,
}

impl System {
    /// The protection domain called `name`.
    pub fn pd(&self, name: &str) -> Option<&ProtectionDomain> {
        self.protection_domains.iter().find(|p| p.name == name)
    }

    /// Index of the protection domain called `name`.
    pub fn pd_index(&self, name: &str) -> Option<usize> {
        self.protection_domains.iter().position(|p| p.name == name)
    }

    /// The memory region called `name`.
    pub fn memory_region(&self, name: &str) -> Option<&MemoryRegion> {
        self.memory_regions.iter().find(|m| m.name == name)
    }

    /// Channels between PDs `a` and `b` (by name), with `a`'s end first.
    pub fn channels_between<'a>(
        &'a self,
        a: &'a str,
        b: &'a str,
    ) -> impl Iterator<Item = (&'a End, &'a End)> + 'a {
        self.channels
            .iter()
            .filter_map(move |c| match c.ends.as_slice() {
                [x, y] if x.pd == a && y.pd == b => Some((x, y)),
                [x, y] if y.pd == a && x.pd == b => Some((y, x)),
                _ => None,
            })
    }

    /// The members of restart group `group` among the children of PD
    /// `parent` (indices), in channel-graph order: a member comes after
    /// every member it is a client of (its end of a channel between them has
    /// `pp="true"`, or the other's restart_policy notifies it), ties in file
    /// order. An error names a cycle's members.
    pub fn restart_group(&self, parent: usize, group: &str) -> Result<Vec<usize>, String> {
        let Some(p) = self.protection_domains.get(parent) else {
            return Ok(Vec::new());
        };
        let members: Vec<usize> = p
            .children
            .iter()
            .copied()
            .filter(|&c| {
                self.protection_domains
                    .get(c)
                    .and_then(|c| c.restart_policy())
                    .and_then(|r| r.group.as_deref())
                    == Some(group)
            })
            .collect();
        let name = |i: usize| self.protection_domains[i].name.as_str();
        // client_of(a, b): a must come after b.
        let client_of = |a: usize, b: usize| {
            self.channels_between(name(a), name(b)).any(|(ea, _)| ea.pp)
                || self.protection_domains[b]
                    .restart_policy()
                    .is_some_and(|r| r.notify.iter().any(|n| n == name(a)))
        };
        let mut order = Vec::new();
        let mut left = members.clone();
        while !left.is_empty() {
            let next = left
                .iter()
                .position(|&a| !left.iter().any(|&b| b != a && client_of(a, b)));
            match next {
                Some(i) => order.push(left.remove(i)),
                None => {
                    let names: Vec<&str> = left.iter().map(|&i| name(i)).collect();
                    return Err(format!(
                        "restart group \"{group}\" has a cycle of clients: {}",
                        names.join(", ")
                    ));
                }
            }
        }
        Ok(order)
    }

    /// The view of `board`: every element not kept for it removed, with PD
    /// indices renumbered. Call it on the all-boards system.
    pub fn for_board(&self, board: Board) -> System {
        let keep = |s: &Src| s.boards.contains(board);
        // Keep a PD only if it and all its ancestors are kept.
        let mut kept = vec![false; self.protection_domains.len()];
        for (i, pd) in self.protection_domains.iter().enumerate() {
            let parent_kept = pd
                .parent
                .is_none_or(|p| kept.get(p).copied().unwrap_or(false));
            kept[i] = parent_kept && keep(&pd.src);
        }
        let mut new_index = vec![None; kept.len()];
        let mut n = 0;
        for (i, k) in kept.iter().enumerate() {
            if *k {
                new_index[i] = Some(n);
                n += 1;
            }
        }
        let remap = |i: usize| new_index.get(i).copied().flatten();
        let pds = self
            .protection_domains
            .iter()
            .enumerate()
            .filter(|(i, _)| kept[*i])
            .map(|(_, pd)| ProtectionDomain {
                parent: pd.parent.and_then(remap),
                children: pd.children.iter().filter_map(|&c| remap(c)).collect(),
                program_images: pd
                    .program_images
                    .iter()
                    .filter(|m| keep(&m.src))
                    .cloned()
                    .collect(),
                maps: pd.maps.iter().filter(|m| keep(&m.src)).cloned().collect(),
                irqs: pd.irqs.iter().filter(|m| keep(&m.src)).cloned().collect(),
                ioports: pd
                    .ioports
                    .iter()
                    .filter(|m| keep(&m.src))
                    .cloned()
                    .collect(),
                setvars: pd
                    .setvars
                    .iter()
                    .filter(|m| keep(&m.src))
                    .cloned()
                    .collect(),
                restart_policies: pd
                    .restart_policies
                    .iter()
                    .filter(|m| keep(&m.src))
                    .cloned()
                    .collect(),
                ..pd.clone()
            })
            .collect();
        System {
            file: self.file.clone(),
            base_dir: self.base_dir.clone(),
            memory_regions: self
                .memory_regions
                .iter()
                .filter(|m| keep(&m.src))
                .cloned()
                .collect(),
            protection_domains: pds,
            channels: self
                .channels
                .iter()
                .filter(|c| keep(&c.src))
                .map(|c| Channel {
                    ends: c.ends.iter().filter(|e| keep(&e.src)).cloned().collect(),
                    src: c.src.clone(),
                })
                .collect(),
            protocols: self
                .protocols
                .iter()
                .filter(|p| keep(&p.src))
                .cloned()
                .collect(),
            board: Some(board),
            warnings: Vec::new(),
            pos: self.pos,
        }
    }
}
