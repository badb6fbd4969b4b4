//! XML to [`System`]: syntax, attributes and per-element values.
//!
//! Checks that need the whole system (names, ids, mappings, channels) live
//! in `validate`, and run once per board view.

use crate::model::*;
use crate::number::parse_u64;
use crate::{validate, Board, BoardSet, Diagnostic, Pos};
use crate::{LARGE_PAGE_SIZE, MAX_CHANNEL_ID, MAX_CHILD_ID, MAX_PRIORITY, PAGE_SIZE};
use std::path::{Path, PathBuf};

type R<T> = Result<T, Diagnostic>;

/// Microkit's defaults and limits (tool `sdf.rs`).
const BUDGET_DEFAULT: u64 = 1000;
const STACK_DEFAULT: u64 = 0x2000;
const STACK_MIN: u64 = 0x1000;
const STACK_MAX: u64 = 16 * 1024 * 1024;
const X86_VECTOR_MAX: u64 = 107;

/// Parse and validate the file at `path` for every board. Relative
/// `prefill_path`s are resolved against the file's directory.
pub fn parse_file(path: &Path) -> R<System> {
    parse_file_for_boards(path, &Board::ALL)
}

/// Parse the file at `path` and validate the views of `boards` only (e.g. a
/// rendered single-board file, or a test system for one emulated board).
pub fn parse_file_for_boards(path: &Path, boards: &[Board]) -> R<System> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Diagnostic::file(&file, format!("cannot read: {e}")))?;
    let base = path.parent().map(|p| {
        if p.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            p.to_path_buf()
        }
    });
    parse_str_for_boards(&file, &text, base.as_deref(), boards)
}

/// Parse and validate `text` (named `file` in diagnostics) for every board.
///
/// The result holds every element with its boards; use
/// [`System::for_board`] for one board's view. A file is accepted only if
/// the view of every known board is valid.
pub fn parse_str(file: &str, text: &str, base_dir: Option<&Path>) -> R<System> {
    parse_str_for_boards(file, text, base_dir, &Board::ALL)
}

/// Like [`parse_str`], validating the views of `boards` only. An empty
/// `boards` validates nothing beyond syntax and single-element checks.
pub fn parse_str_for_boards(
    file: &str,
    text: &str,
    base_dir: Option<&Path>,
    boards: &[Board],
) -> R<System> {
    let mut sys = parse_unvalidated(file, text, base_dir)?;
    let results: Vec<(Board, R<Vec<Diagnostic>>)> = boards
        .iter()
        .map(|&b| (b, validate::validate(&sys.for_board(b))))
        .collect();
    if let Some((board, Err(first))) = results.iter().find(|(_, r)| r.is_err()) {
        let everywhere = results
            .iter()
            .all(|(_, r)| matches!(r, Err(e) if e == first));
        let mut e = first.clone();
        if !everywhere {
            e.board = Some(*board);
        }
        return Err(e);
    }
    let mut warnings: Vec<Diagnostic> = Vec::new();
    for (board, r) in &results {
        for w in r.as_ref().map(Vec::as_slice).unwrap_or(&[]) {
            let everywhere = results
                .iter()
                .all(|(_, r)| r.as_ref().is_ok_and(|ws| ws.contains(w)));
            let mut w = w.clone();
            if !everywhere {
                w.board = Some(*board);
            }
            if !warnings.contains(&w) {
                warnings.push(w);
            }
        }
    }
    sys.warnings = warnings;
    Ok(sys)
}

fn parse_unvalidated(file: &str, text: &str, base_dir: Option<&Path>) -> R<System> {
    let doc = roxmltree::Document::parse(text).map_err(|e| {
        let p = e.pos();
        Diagnostic {
            pos: Some(Pos {
                line: p.row,
                col: p.col,
            }),
            ..Diagnostic::file(file, format!("malformed XML: {e}"))
        }
    })?;
    let p = Parser {
        file,
        doc: &doc,
        base_dir,
        lines: LineIndex::new(text),
    };
    p.system()
}

struct Parser<'a, 'input> {
    file: &'a str,
    doc: &'a roxmltree::Document<'input>,
    base_dir: Option<&'a Path>,
    lines: LineIndex<'input>,
}

/// Line and column of a byte offset, as `roxmltree::Document::text_pos_at`
/// gives them (line from 1, column in characters from 1), without its scan
/// from the start of the text: that made parsing quadratic in the file's
/// size, since every element and attribute asks for its position.
struct LineIndex<'t> {
    text: &'t str,
    /// Byte offset of the start of every line.
    starts: Vec<usize>,
}

impl<'t> LineIndex<'t> {
    fn new(text: &'t str) -> Self {
        let starts = core::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self { text, starts }
    }

    fn pos(&self, byte: usize) -> Pos {
        let byte = byte.min(self.text.len());
        // Lines starting at or before `byte`: at least the first.
        let line = self.starts.partition_point(|&s| s <= byte).max(1);
        let start = self.starts.get(line - 1).copied().unwrap_or(0);
        let col = self
            .text
            .get(start..byte)
            .map_or(byte - start, |s| s.chars().count());
        let to_u32 = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Pos {
            line: to_u32(line),
            col: to_u32(col).saturating_add(1),
        }
    }
}

type Node<'a, 'input> = roxmltree::Node<'a, 'input>;

/// Element names, so that `Src::tag` can be `&'static str`.
const TAGS: &[&str] = &[
    "system",
    "memory_region",
    "protection_domain",
    "program_image",
    "map",
    "irq",
    "ioport",
    "setvar",
    "restart_policy",
    "channel",
    "end",
    "protocols",
];

fn static_tag(name: &str) -> &'static str {
    TAGS.iter().find(|t| **t == name).copied().unwrap_or("?")
}

impl<'a, 'input> Parser<'a, 'input> {
    fn pos(&self, byte: usize) -> Pos {
        self.lines.pos(byte)
    }

    fn node_pos(&self, n: Node<'_, '_>) -> Pos {
        self.pos(n.range().start)
    }

    fn err_at(&self, n: Node<'_, '_>, msg: impl Into<String>) -> Diagnostic {
        Diagnostic {
            pos: Some(self.node_pos(n)),
            element: Some(format!("<{}>", n.tag_name().name())),
            ..Diagnostic::file(self.file, msg)
        }
    }

    /// Build the element's [`Src`], refusing attributes not in `allowed`
    /// (plus `board` where `board_ok`).
    fn src(&self, n: Node<'_, '_>, allowed: &[&str], board_ok: bool) -> R<Src> {
        let tag = static_tag(n.tag_name().name());
        let mut src = Src {
            tag,
            pos: self.node_pos(n),
            boards: BoardSet::ALL,
            attrs: Vec::new(),
        };
        for a in n.attributes() {
            src.attrs.push(Attr {
                name: a.name().to_string(),
                value: a.value().to_string(),
                pos: self.pos(a.position()),
                render: None,
            });
        }
        for a in n.attributes() {
            let name = a.name();
            if name == "board" && board_ok {
                continue;
            }
            if !allowed.contains(&name) {
                let mut ok: Vec<&str> = allowed.to_vec();
                if board_ok {
                    ok.push("board");
                }
                let list = if ok.is_empty() {
                    "none".to_string()
                } else {
                    ok.join(", ")
                };
                return Err(src.diag(
                    self.file,
                    Some(name),
                    format!("unknown attribute \"{name}\" on <{tag}> (allowed: {list})"),
                ));
            }
        }
        if let Some(b) = n.attribute("board") {
            let mut set = BoardSet::NONE;
            for name in b.split_whitespace() {
                match Board::from_name(name) {
                    Some(board) => set = set.with(board),
                    None => {
                        return Err(src.diag(
                            self.file,
                            Some("board"),
                            format!("unknown board \"{name}\" (known: {})", Board::known_names()),
                        ))
                    }
                }
            }
            if set == BoardSet::NONE {
                return Err(src.diag(self.file, Some("board"), "board names no board"));
            }
            src.boards = set;
        }
        src.attrs.retain(|a| a.name != "board");
        Ok(src)
    }

    fn no_text(&self, n: Node<'_, '_>) -> R<()> {
        for c in n.children() {
            if c.is_text() && !c.text().unwrap_or("").trim().is_empty() {
                return Err(self.err_at(
                    n,
                    format!(
                        "unexpected text \"{}\" in <{}>",
                        c.text().unwrap_or("").trim(),
                        n.tag_name().name()
                    ),
                ));
            }
        }
        Ok(())
    }

    fn system(&self) -> R<System> {
        let root = self.doc.root_element();
        if root.tag_name().name() != "system" {
            return Err(self.err_at(
                root,
                format!(
                    "the root element must be <system>, not <{}>",
                    root.tag_name().name()
                ),
            ));
        }
        self.src(root, &[], false)?;
        self.no_text(root)?;
        let mut sys = System {
            file: self.file.to_string(),
            base_dir: self.base_dir.map(Path::to_path_buf),
            memory_regions: Vec::new(),
            protection_domains: Vec::new(),
            channels: Vec::new(),
            protocols: Vec::new(),
            board: None,
            warnings: Vec::new(),
            pos: self.node_pos(root),
        };
        for c in root.children().filter(Node::is_element) {
            match c.tag_name().name() {
                "memory_region" => {
                    let mr = self.memory_region(c)?;
                    sys.memory_regions.push(mr);
                }
                "protection_domain" => self.pd(c, None, &mut sys.protection_domains)?,
                "channel" => {
                    let ch = self.channel(c)?;
                    sys.channels.push(ch);
                }
                "protocols" => {
                    let p = self.protocols(c)?;
                    sys.protocols.push(p);
                }
                other => return Err(self.unknown_element(c, other, "system")),
            }
        }
        Ok(sys)
    }

    fn unknown_element(&self, n: Node<'_, '_>, name: &str, parent: &str) -> Diagnostic {
        let msg = match name {
            "domains" | "io_address_space" | "virtual_machine" | "cspace" => format!(
                "<{name}> is valid Microkit but not supported by this project \
                 (the hosted runtime cannot provide it)"
            ),
            "restart_policy" => {
                "<restart_policy> is only allowed inside a child protection_domain (one with an id)"
                    .to_string()
            }
            _ => format!("unknown element <{name}> inside <{parent}>"),
        };
        self.err_at(n, msg)
    }

    fn memory_region(&self, n: Node<'_, '_>) -> R<MemoryRegion> {
        let mut src = self.src(
            n,
            &[
                "name",
                "size",
                "page_size",
                "phys_addr",
                "prefill_path",
                "prefill_bootinfo",
            ],
            true,
        )?;
        self.no_children(n)?;
        let name = req(self.file, &src, "name")?.to_string();
        let page_size = num(self.file, &mut src, "page_size", false)?.unwrap_or(PAGE_SIZE);
        if page_size != PAGE_SIZE && page_size != LARGE_PAGE_SIZE {
            return Err(src.diag(
                self.file,
                Some("page_size"),
                format!(
                    "page size {page_size:#x} not supported (use {PAGE_SIZE:#x} or {LARGE_PAGE_SIZE:#x})"
                ),
            ));
        }
        let prefill_path = src.attr("prefill_path").map(|a| a.value.clone());
        let size =
            match num(self.file, &mut src, "size", false)? {
                Some(s) => s,
                None => match &prefill_path {
                    Some(p) => {
                        let path = self.resolve(p);
                        let len = std::fs::metadata(&path).map(|m| m.len()).map_err(|e| {
                            src.diag(
                                self.file,
                                Some("prefill_path"),
                                format!(
                                    "size is not given and the prefill file {} cannot be read: {e}",
                                    path.display()
                                ),
                            )
                        })?;
                        len.div_ceil(page_size).saturating_mul(page_size)
                    }
                    None => return Err(src.diag(
                        self.file,
                        None,
                        "missing required attribute \"size\" (only a prefilled region may omit it)",
                    )),
                },
            };
        if size == 0 || size % page_size != 0 {
            return Err(src.diag(
                self.file,
                Some("size"),
                format!(
                    "size {size:#x} is not a non-zero multiple of the page size {page_size:#x}"
                ),
            ));
        }
        let phys_addr = num(self.file, &mut src, "phys_addr", false)?;
        if let Some(pa) = phys_addr {
            if pa % page_size != 0 {
                return Err(src.diag(
                    self.file,
                    Some("phys_addr"),
                    format!("phys_addr {pa:#x} is not aligned to the page size {page_size:#x}"),
                ));
            }
            if pa.checked_add(size).is_none() {
                return Err(src.diag(self.file, Some("phys_addr"), "phys_addr + size overflows"));
            }
        }
        Ok(MemoryRegion {
            name,
            size,
            page_size,
            phys_addr,
            prefill_path,
            src,
        })
    }

    fn resolve(&self, p: &str) -> PathBuf {
        let path = Path::new(p);
        match self.base_dir {
            Some(d) if path.is_relative() => d.join(path),
            _ => path.to_path_buf(),
        }
    }

    fn no_children(&self, n: Node<'_, '_>) -> R<()> {
        self.no_text(n)?;
        if let Some(c) = n.children().find(Node::is_element) {
            return Err(self.err_at(
                c,
                format!(
                    "<{}> takes no child elements, found <{}>",
                    n.tag_name().name(),
                    c.tag_name().name()
                ),
            ));
        }
        Ok(())
    }

    /// Parse a PD and its children into `out` in pre-order.
    fn pd(&self, n: Node<'_, '_>, parent: Option<usize>, out: &mut Vec<ProtectionDomain>) -> R<()> {
        let is_child = parent.is_some();
        let mut allowed = vec![
            "name",
            "priority",
            "budget",
            "period",
            "passive",
            "stack_size",
            "smc",
            "cpu",
            "domain",
            "fpu",
            "component",
        ];
        if is_child {
            allowed.extend(["id", "setvar_id"]);
        }
        let mut src = self.src(n, &allowed, true)?;
        self.no_text(n)?;
        let f = self.file;
        let name = req(f, &src, "name")?.to_string();
        if name.is_empty() {
            return Err(src.diag(f, Some("name"), "name must not be empty"));
        }
        if src.attr("domain").is_some() {
            return Err(src.diag(
                f,
                Some("domain"),
                "domain needs a <domains> schedule, which this project does not support",
            ));
        }
        let id = if is_child {
            req(f, &src, "id")?;
            let id = num(f, &mut src, "id", false)?.unwrap_or(0);
            if id > MAX_CHILD_ID as u64 {
                return Err(src.diag(
                    f,
                    Some("id"),
                    format!("child id {id} is out of range (0..={MAX_CHILD_ID})"),
                ));
            }
            Some(id as u8)
        } else {
            None
        };
        let priority = num(f, &mut src, "priority", false)?.unwrap_or(0);
        if priority > MAX_PRIORITY as u64 {
            return Err(src.diag(
                f,
                Some("priority"),
                format!("priority {priority} is out of range (0..={MAX_PRIORITY})"),
            ));
        }
        let budget = num(f, &mut src, "budget", false)?.unwrap_or(BUDGET_DEFAULT);
        let period = num(f, &mut src, "period", false)?.unwrap_or(budget);
        if budget > period {
            return Err(src.diag(
                f,
                Some("budget"),
                format!("budget ({budget}) must be less than, or equal to, period ({period})"),
            ));
        }
        let passive = boolean(f, &src, "passive", false)?;
        let fpu = boolean(f, &src, "fpu", true)?;
        let smc = boolean(f, &src, "smc", false)?;
        let stack_size = num(f, &mut src, "stack_size", false)?.unwrap_or(STACK_DEFAULT);
        if !(STACK_MIN..=STACK_MAX).contains(&stack_size) || stack_size % PAGE_SIZE != 0 {
            return Err(src.diag(
                f,
                Some("stack_size"),
                format!(
                    "stack size {stack_size:#x} must be a multiple of {PAGE_SIZE:#x} \
                     between {STACK_MIN:#x} and {STACK_MAX:#x}"
                ),
            ));
        }
        let cpu = num(f, &mut src, "cpu", false)?.unwrap_or(0);
        if cpu != 0 {
            return Err(src.diag(
                f,
                Some("cpu"),
                format!(
                    "cpu core must be less than 1, got {cpu} (single-core configurations only)"
                ),
            ));
        }
        let setvar_id = src.attr("setvar_id").map(|a| a.value.clone());
        let component = match src.attr("component") {
            Some(a) => Some(binding_name(f, &src, "component", &a.value)?),
            None => None,
        };
        let index = out.len();
        out.push(ProtectionDomain {
            name,
            id,
            parent,
            children: Vec::new(),
            priority: priority as u8,
            budget,
            period,
            passive,
            stack_size,
            cpu: 0,
            fpu,
            smc,
            setvar_id,
            program_images: Vec::new(),
            maps: Vec::new(),
            irqs: Vec::new(),
            ioports: Vec::new(),
            setvars: Vec::new(),
            restart_policies: Vec::new(),
            component,
            src,
        });
        for c in n.children().filter(Node::is_element) {
            let tag = c.tag_name().name();
            match tag {
                "program_image" => {
                    let pi = self.program_image(c)?;
                    out[index].program_images.push(pi);
                }
                "map" => {
                    let m = self.map(c)?;
                    out[index].maps.push(m);
                }
                "irq" => {
                    let i = self.irq(c)?;
                    out[index].irqs.push(i);
                }
                "ioport" => {
                    let i = self.ioport(c)?;
                    out[index].ioports.push(i);
                }
                "setvar" => {
                    let s = self.setvar(c)?;
                    out[index].setvars.push(s);
                }
                "restart_policy" if is_child => {
                    let r = self.restart_policy(c)?;
                    out[index].restart_policies.push(r);
                }
                "protection_domain" => {
                    let child = out.len();
                    self.pd(c, Some(index), out)?;
                    out[index].children.push(child);
                }
                other => return Err(self.unknown_element(c, other, "protection_domain")),
            }
        }
        Ok(())
    }

    fn program_image(&self, n: Node<'_, '_>) -> R<ProgramImage> {
        let src = self.src(n, &["path", "path_for_symbols"], true)?;
        self.no_children(n)?;
        Ok(ProgramImage {
            path: req(self.file, &src, "path")?.to_string(),
            path_for_symbols: src.attr("path_for_symbols").map(|a| a.value.clone()),
            src,
        })
    }

    fn map(&self, n: Node<'_, '_>) -> R<Map> {
        let f = self.file;
        let mut src = self.src(
            n,
            &[
                "mr",
                "vaddr",
                "perms",
                "cached",
                "setvar_vaddr",
                "setvar_size",
                "setvar_prefill_size",
            ],
            true,
        )?;
        self.no_children(n)?;
        let mr = req(f, &src, "mr")?.to_string();
        req(f, &src, "vaddr")?;
        let vaddr = num(f, &mut src, "vaddr", false)?.unwrap_or(0);
        let perms = match src.attr("perms") {
            None => Perms::RW,
            Some(a) => {
                let mut p = Perms::default();
                for c in a.value.chars() {
                    match c {
                        'r' => p.read = true,
                        'w' => p.write = true,
                        'x' => p.execute = true,
                        _ => {
                            return Err(src.diag(
                                f,
                                Some("perms"),
                                "perms must only be a combination of 'r', 'w', and 'x'",
                            ))
                        }
                    }
                }
                if p == Perms::default() {
                    return Err(src.diag(f, Some("perms"), "perms must not be empty"));
                }
                if p.write && !p.read && !p.execute {
                    return Err(src.diag(
                        f,
                        Some("perms"),
                        "perms must not be 'w', write-only mappings are not allowed",
                    ));
                }
                p
            }
        };
        let cached = boolean(f, &src, "cached", true)?;
        let get = |k: &str| src.attr(k).map(|a| a.value.clone());
        Ok(Map {
            mr,
            vaddr,
            perms,
            cached,
            setvar_vaddr: get("setvar_vaddr"),
            setvar_size: get("setvar_size"),
            setvar_prefill_size: get("setvar_prefill_size"),
            src,
        })
    }

    fn channel_id(&self, src: &mut Src, attr: &str) -> R<u8> {
        req(self.file, src, attr)?;
        let id = num(self.file, src, attr, true)?.unwrap_or(0);
        if id > MAX_CHANNEL_ID as u64 {
            return Err(src.diag(
                self.file,
                Some(attr),
                format!("{attr} {id} is out of range (0..={MAX_CHANNEL_ID})"),
            ));
        }
        Ok(id as u8)
    }

    fn irq(&self, n: Node<'_, '_>) -> R<Irq> {
        let f = self.file;
        let form = if n.attribute("irq").is_some() {
            0
        } else if n.attribute("pin").is_some() {
            1
        } else if n.attribute("pcidev").is_some() {
            2
        } else {
            let src = self.src(
                n,
                &[
                    "id",
                    "irq",
                    "trigger",
                    "pin",
                    "vector",
                    "ioapic",
                    "polarity",
                    "pcidev",
                    "handle",
                    "setvar_id",
                ],
                true,
            )?;
            return Err(src.diag(
                f,
                None,
                "an irq needs irq= (Arm), pin= (x86 IOAPIC) or pcidev= (x86 MSI)",
            ));
        };
        let allowed: &[&str] = match form {
            0 => &["id", "irq", "trigger", "setvar_id"],
            1 => &[
                "id",
                "pin",
                "vector",
                "ioapic",
                "trigger",
                "polarity",
                "setvar_id",
            ],
            _ => &["id", "pcidev", "handle", "vector", "setvar_id"],
        };
        let mut src = self.src(n, allowed, true)?;
        self.no_children(n)?;
        let id = self.channel_id(&mut src, "id")?;
        let trigger = match src.attr("trigger").map(|a| a.value.as_str()) {
            None | Some("level") => Trigger::Level,
            Some("edge") => Trigger::Edge,
            Some(_) => {
                return Err(src.diag(
                    f,
                    Some("trigger"),
                    "trigger must be either 'level' or 'edge'",
                ))
            }
        };
        let vector = |src: &mut Src| -> R<u64> {
            req(f, src, "vector")?;
            let v = num(f, src, "vector", true)?.unwrap_or(0);
            if v > X86_VECTOR_MAX {
                return Err(src.diag(
                    f,
                    Some("vector"),
                    format!("vector must be within [0..{X86_VECTOR_MAX}]"),
                ));
            }
            Ok(v)
        };
        let kind = match form {
            0 => IrqKind::Arm {
                irq: num(f, &mut src, "irq", true)?.unwrap_or(0),
                trigger,
            },
            1 => {
                let polarity = match src.attr("polarity").map(|a| a.value.as_str()) {
                    None | Some("high") => Polarity::High,
                    Some("low") => Polarity::Low,
                    Some(_) => {
                        return Err(src.diag(
                            f,
                            Some("polarity"),
                            "polarity must be either 'low' or 'high'",
                        ))
                    }
                };
                IrqKind::Ioapic {
                    ioapic: num(f, &mut src, "ioapic", true)?.unwrap_or(0),
                    pin: num(f, &mut src, "pin", true)?.unwrap_or(0),
                    vector: vector(&mut src)?,
                    trigger,
                    polarity,
                }
            }
            _ => {
                let text = req(f, &src, "pcidev")?.to_string();
                let pcidev = parse_pci(&text).ok_or_else(|| {
                    src.diag(
                        f,
                        Some("pcidev"),
                        format!("\"{text}\" is not a PCI address bus:dev.func (hex, e.g. 01:1f.2)"),
                    )
                })?;
                req(f, &src, "handle")?;
                IrqKind::Msi {
                    pcidev,
                    handle: num(f, &mut src, "handle", true)?.unwrap_or(0),
                    vector: vector(&mut src)?,
                }
            }
        };
        Ok(Irq {
            id,
            kind,
            setvar_id: src.attr("setvar_id").map(|a| a.value.clone()),
            src,
        })
    }

    fn ioport(&self, n: Node<'_, '_>) -> R<IoPort> {
        let f = self.file;
        let mut src = self.src(n, &["id", "addr", "size", "setvar_id", "setvar_addr"], true)?;
        self.no_children(n)?;
        let id = self.channel_id(&mut src, "id")?;
        req(f, &src, "addr")?;
        let addr = num(f, &mut src, "addr", false)?.unwrap_or(0);
        req(f, &src, "size")?;
        let size = num(f, &mut src, "size", true)?.unwrap_or(0);
        if size == 0 {
            return Err(src.diag(f, Some("size"), "size must be > 0"));
        }
        if addr.checked_add(size).is_none_or(|end| end > 0x1_0000) {
            return Err(src.diag(
                f,
                Some("addr"),
                format!(
                    "I/O ports [{addr:#x}, {:#x}) exceed the 16-bit port space",
                    addr.saturating_add(size)
                ),
            ));
        }
        Ok(IoPort {
            id,
            addr,
            size,
            setvar_id: src.attr("setvar_id").map(|a| a.value.clone()),
            setvar_addr: src.attr("setvar_addr").map(|a| a.value.clone()),
            src,
        })
    }

    fn setvar(&self, n: Node<'_, '_>) -> R<SetVar> {
        let src = self.src(n, &["symbol", "region_paddr"], true)?;
        self.no_children(n)?;
        Ok(SetVar {
            symbol: req(self.file, &src, "symbol")?.to_string(),
            region_paddr: req(self.file, &src, "region_paddr")?.to_string(),
            src,
        })
    }

    fn restart_policy(&self, n: Node<'_, '_>) -> R<RestartPolicy> {
        let f = self.file;
        let mut src = self.src(
            n,
            &[
                "max_faults",
                "window_ms",
                "hang_ms",
                "region",
                "control",
                "ledger",
                "notify",
                "group",
            ],
            true,
        )?;
        self.no_children(n)?;
        for a in ["max_faults", "window_ms", "hang_ms", "region"] {
            req(f, &src, a)?;
        }
        let max_faults = num(f, &mut src, "max_faults", false)?.unwrap_or(0);
        let max_faults = u32::try_from(max_faults).map_err(|_| {
            src.diag(
                f,
                Some("max_faults"),
                format!("max_faults {max_faults} does not fit in 32 bits"),
            )
        })?;
        let mut ms = |attr: &str| -> R<u64> {
            let v = num(f, &mut src, attr, false)?.unwrap_or(0);
            if v.checked_mul(1_000_000).is_none() {
                return Err(src.diag(
                    f,
                    Some(attr),
                    format!("{attr} {v} is too large to express in nanoseconds"),
                ));
            }
            Ok(v)
        };
        let window_ms = ms("window_ms")?;
        let hang_ms = ms("hang_ms")?;
        if window_ms == 0 {
            return Err(src.diag(f, Some("window_ms"), "window_ms must be > 0"));
        }
        let region = req(f, &src, "region")?.to_string();
        let list = |name: &str| -> Vec<String> {
            src.attr(name)
                .map(|a| a.value.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default()
        };
        let notify = list("notify");
        let ledgers = list("ledger");
        let control = src.attr("control").map(|a| a.value.to_string());
        let group = src.attr("group").map(|a| a.value.to_string());
        if group
            .as_deref()
            .is_some_and(|g| g.trim().is_empty() || g.contains(char::is_whitespace))
        {
            return Err(src.diag(f, Some("group"), "group must be one name"));
        }
        Ok(RestartPolicy {
            max_faults,
            window_ms,
            hang_ms,
            region,
            control,
            ledgers,
            notify,
            group,
            src,
        })
    }

    fn channel(&self, n: Node<'_, '_>) -> R<Channel> {
        let src = self.src(n, &[], true)?;
        self.no_text(n)?;
        let mut ends = Vec::new();
        for c in n.children().filter(Node::is_element) {
            if c.tag_name().name() != "end" {
                return Err(self.unknown_element(c, c.tag_name().name(), "channel"));
            }
            ends.push(self.end(c)?);
        }
        Ok(Channel { ends, src })
    }

    fn end(&self, n: Node<'_, '_>) -> R<End> {
        let f = self.file;
        let mut src = self.src(n, &["pd", "id", "pp", "notify", "setvar_id", "port"], true)?;
        self.no_children(n)?;
        let pd = req(f, &src, "pd")?.to_string();
        let id = self.channel_id(&mut src, "id")?;
        let port = match src.attr("port") {
            Some(a) => Some(binding_name(f, &src, "port", &a.value)?),
            None => None,
        };
        Ok(End {
            pd,
            id,
            pp: boolean(f, &src, "pp", false)?,
            notify: boolean(f, &src, "notify", true)?,
            setvar_id: src.attr("setvar_id").map(|a| a.value.clone()),
            port,
            src,
        })
    }

    /// The extension `<protocols path="..."/>`.
    fn protocols(&self, n: Node<'_, '_>) -> R<ProtocolsRef> {
        let src = self.src(n, &["path"], true)?;
        self.no_children(n)?;
        let path = req(self.file, &src, "path")?.to_string();
        if path.trim().is_empty() {
            return Err(src.diag(self.file, Some("path"), "path must not be empty"));
        }
        Ok(ProtocolsRef { path, src })
    }
}

/// A `component` or `port` name: a Tingu identifier (`[A-Za-z_][A-Za-z0-9_]*`).
fn binding_name(file: &str, src: &Src, attr: &str, value: &str) -> R<String> {
    let mut chars = value.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        return Err(src.diag(
            file,
            Some(attr),
            format!("{attr} \"{value}\" is not a Tingu name ([A-Za-z_][A-Za-z0-9_]*)"),
        ));
    }
    Ok(value.to_string())
}

fn req<'s>(file: &str, src: &'s Src, attr: &str) -> R<&'s str> {
    match src.attr(attr) {
        Some(a) => Ok(&a.value),
        None => Err(src.diag(file, None, format!("missing required attribute \"{attr}\""))),
    }
}

/// Optional numeric attribute. With `decimal_render`, the rendered file
/// carries it in decimal (the tool parses those attributes as decimal only).
fn num(file: &str, src: &mut Src, attr: &str, decimal_render: bool) -> R<Option<u64>> {
    let Some(a) = src.attr(attr) else {
        return Ok(None);
    };
    let v = parse_u64(&a.value).map_err(|e| src.diag(file, Some(attr), e))?;
    if decimal_render {
        if let Some(a) = src.attrs.iter_mut().find(|a| a.name == attr) {
            a.render = Some(v.to_string());
        }
    }
    Ok(Some(v))
}

fn boolean(file: &str, src: &Src, attr: &str, default: bool) -> R<bool> {
    match src.attr(attr).map(|a| a.value.as_str()) {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(_) => Err(src.diag(
            file,
            Some(attr),
            format!("{attr} must be 'true' or 'false'"),
        )),
    }
}

fn parse_pci(s: &str) -> Option<PciAddr> {
    let (bus, rest) = s.split_once(':')?;
    let (dev, func) = rest.split_once('.')?;
    let bus = u8::from_str_radix(bus.trim(), 16).ok()?;
    let dev = u8::from_str_radix(dev.trim(), 16)
        .ok()
        .filter(|d| *d < 32)?;
    let func = u8::from_str_radix(func.trim(), 16)
        .ok()
        .filter(|f| *f < 8)?;
    Some(PciAddr { bus, dev, func })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_index_agrees_with_roxmltree_at_every_byte() {
        let text = "<system>\r\n  <!-- ÿé€ \n\n -->\n\t<memory_region name=\"€\" size=\"0x1000\"/>\n</system>\n\n";
        let doc = roxmltree::Document::parse(text).expect("well-formed");
        let idx = LineIndex::new(text);
        for byte in (0..=text.len() + 2).filter(|&b| b >= text.len() || text.is_char_boundary(b)) {
            let want = doc.text_pos_at(byte);
            let got = idx.pos(byte);
            assert_eq!((got.line, got.col), (want.row, want.col), "byte {byte}");
        }
    }

    #[test]
    fn a_large_file_is_parsed_in_linear_time() {
        // 20000 regions (about 1 MB): with a scan from the start of the
        // text for every element and attribute, this took minutes.
        let mut xml = String::from("<system>\n");
        for i in 0..20_000 {
            xml.push_str(&format!(
                "  <memory_region name=\"m{i}\" size=\"0x1000\" />\n"
            ));
        }
        xml.push_str("</system>\n");
        let t = std::time::Instant::now();
        let sys = crate::parse_str_for_boards("big.xml", &xml, None, &[]).expect("valid");
        assert_eq!(sys.memory_regions.len(), 20_000);
        assert_eq!(
            sys.memory_regions[19_999].src.pos,
            Pos {
                line: 20_001,
                col: 3
            }
        );
        assert!(t.elapsed().as_secs() < 30, "{:?}", t.elapsed());
    }

    #[test]
    fn pci_addresses() {
        assert_eq!(
            parse_pci("01:1f.2"),
            Some(PciAddr {
                bus: 1,
                dev: 0x1f,
                func: 2
            })
        );
        assert_eq!(parse_pci("01:20.0"), None);
        assert_eq!(parse_pci("01:1f.8"), None);
        assert_eq!(parse_pci("011f.2"), None);
    }
}
