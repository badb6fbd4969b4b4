//! Whole-system checks on one board's view, mirroring the Microkit tool.

use crate::model::*;
use crate::{Arch, Board, Diagnostic, MAX_PDS};
use std::collections::HashMap;

type R<T> = Result<T, Diagnostic>;

/// Check a board view (`sys.board` set). Returns warnings, or the first error.
pub fn validate(sys: &System) -> R<Vec<Diagnostic>> {
    let board = sys.board.unwrap_or(Board::QemuVirtAarch64);
    let v = V {
        sys,
        board,
        f: &sys.file,
    };
    v.pds()?;
    v.memory_regions()?;
    v.maps()?;
    v.channels()?;
    v.channel_ids()?;
    v.irqs_unique()?;
    v.ioports()?;
    v.setvars()?;
    v.pp_graph()?;
    v.restart_policies()?;
    v.bindings()?;
    Ok(v.warnings())
}

struct V<'a> {
    sys: &'a System,
    board: Board,
    f: &'a str,
}

impl V<'_> {
    fn whole(&self, msg: impl Into<String>) -> Diagnostic {
        Diagnostic {
            pos: Some(self.sys.pos),
            element: Some("<system>".to_string()),
            ..Diagnostic::file(self.f, msg)
        }
    }

    fn pds(&self) -> R<()> {
        let pds = &self.sys.protection_domains;
        if pds.is_empty() {
            return Err(self.whole("at least one protection_domain must be defined"));
        }
        if pds.len() > MAX_PDS {
            return Err(self.whole(format!(
                "too many protection domains ({}); Microkit allows at most {MAX_PDS}",
                pds.len()
            )));
        }
        let mut seen: HashMap<&str, &Src> = HashMap::new();
        for pd in pds {
            if let Some(first) = seen.insert(&pd.name, &pd.src) {
                return Err(pd.src.diag(
                    self.f,
                    Some("name"),
                    format!(
                        "duplicate protection_domain name \"{}\" (first declared at {})",
                        pd.name, first.pos
                    ),
                ));
            }
        }
        for pd in pds {
            if pd.name == "monitor" {
                return Err(pd.src.diag(
                    self.f,
                    Some("name"),
                    "the name \"monitor\" is reserved for the Microkit monitor",
                ));
            }
            match pd.program_images.as_slice() {
                [_] => {}
                [] => {
                    return Err(pd.src.diag(
                        self.f,
                        Some("name"),
                        "missing <program_image> (exactly one is required)",
                    ))
                }
                [_, second, ..] => {
                    return Err(second.src.diag(
                        self.f,
                        None,
                        "program_image must only be specified once",
                    ))
                }
            }
            if let [_, second, ..] = pd.restart_policies.as_slice() {
                return Err(second.src.diag(
                    self.f,
                    None,
                    "restart_policy must only be specified once",
                ));
            }
            if pd.smc && self.board.arch() != Arch::Aarch64 {
                return Err(pd.src.diag(
                    self.f,
                    Some("smc"),
                    "ARM SMC forwarding is not available on this architecture",
                ));
            }
            for irq in &pd.irqs {
                let ok = matches!(
                    (&irq.kind, self.board.arch()),
                    (IrqKind::Arm { .. }, Arch::Aarch64)
                        | (IrqKind::Ioapic { .. } | IrqKind::Msi { .. }, Arch::X86_64)
                );
                if !ok {
                    let (attr, what) = match irq.kind {
                        IrqKind::Arm { .. } => ("irq", "Arm IRQs (irq=) are not supported on x86"),
                        IrqKind::Ioapic { .. } => {
                            ("pin", "x86 I/O APIC IRQs (pin=) are not supported on Arm")
                        }
                        IrqKind::Msi { .. } => ("pcidev", "x86 MSI IRQs are not supported on Arm"),
                    };
                    return Err(irq.src.diag(self.f, Some(attr), what));
                }
            }
            if let Some(io) = pd.ioports.first() {
                if self.board.arch() != Arch::X86_64 {
                    return Err(io
                        .src
                        .diag(self.f, None, "I/O ports are only available on x86"));
                }
            }
        }
        // Child ids unique per parent.
        for pd in pds {
            let mut ids: HashMap<u8, &str> = HashMap::new();
            for &c in &pd.children {
                let Some(child) = pds.get(c) else { continue };
                let Some(id) = child.id else { continue };
                if let Some(other) = ids.insert(id, &child.name) {
                    return Err(child.src.diag(
                        self.f,
                        Some("id"),
                        format!(
                            "duplicate child id {id} in protection_domain \"{}\" (also used by \"{other}\")",
                            pd.name
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn memory_regions(&self) -> R<()> {
        let mut seen: HashMap<&str, &Src> = HashMap::new();
        for mr in &self.sys.memory_regions {
            if let Some(first) = seen.insert(&mr.name, &mr.src) {
                return Err(mr.src.diag(
                    self.f,
                    Some("name"),
                    format!(
                        "duplicate memory_region name \"{}\" (first declared at {})",
                        mr.name, first.pos
                    ),
                ));
            }
        }
        let mut fixed: Vec<(&MemoryRegion, u64, u64)> = Vec::new();
        for mr in &self.sys.memory_regions {
            let Some(pa) = mr.phys_addr else { continue };
            let end = pa.saturating_add(mr.size);
            if let Some((other, s, e)) = fixed.iter().find(|(_, s, e)| pa < *e && *s < end) {
                return Err(mr.src.diag(
                    self.f,
                    Some("phys_addr"),
                    format!(
                        "physical range [{pa:#x}..{end:#x}) overlaps memory_region \"{}\" [{s:#x}..{e:#x})",
                        other.name
                    ),
                ));
            }
            fixed.push((mr, pa, end));
        }
        Ok(())
    }

    fn maps(&self) -> R<()> {
        for pd in &self.sys.protection_domains {
            let limit = self.board.map_limit(pd.stack_size);
            let mut placed: Vec<(&Map, u64, u64)> = Vec::new();
            for m in &pd.maps {
                let Some(mr) = self.sys.memory_region(&m.mr) else {
                    return Err(m.src.diag(
                        self.f,
                        Some("mr"),
                        format!("no memory_region named \"{}\"", m.mr),
                    ));
                };
                if m.vaddr % mr.page_size != 0 {
                    return Err(m.src.diag(
                        self.f,
                        Some("vaddr"),
                        format!(
                            "vaddr {:#x} is not aligned to the page size {:#x} of \"{}\"",
                            m.vaddr, mr.page_size, mr.name
                        ),
                    ));
                }
                let end = m.vaddr.checked_add(mr.size).filter(|e| *e <= limit);
                let Some(end) = end else {
                    return Err(m.src.diag(
                        self.f,
                        Some("vaddr"),
                        format!(
                            "mapping [{:#x}..{:#x}) exceeds the valid address space [0..{limit:#x}) of protection_domain \"{}\"",
                            m.vaddr,
                            m.vaddr.saturating_add(mr.size),
                            pd.name
                        ),
                    ));
                };
                if let Some((other, s, e)) =
                    placed.iter().find(|(_, s, e)| m.vaddr < *e && *s < end)
                {
                    return Err(m.src.diag(
                        self.f,
                        Some("vaddr"),
                        format!(
                            "mapping of \"{}\" [{:#x}..{end:#x}) overlaps the mapping of \"{}\" [{s:#x}..{e:#x}) in protection_domain \"{}\"",
                            m.mr, m.vaddr, other.mr, pd.name
                        ),
                    ));
                }
                placed.push((m, m.vaddr, end));
            }
        }
        Ok(())
    }

    fn channels(&self) -> R<()> {
        for ch in &self.sys.channels {
            if ch.ends.len() != 2 {
                return Err(ch.src.diag(
                    self.f,
                    None,
                    format!(
                        "a channel needs exactly two <end> elements, found {}",
                        ch.ends.len()
                    ),
                ));
            }
            for e in &ch.ends {
                if self.sys.pd(&e.pd).is_none() {
                    return Err(e.src.diag(
                        self.f,
                        Some("pd"),
                        format!("no protection_domain named \"{}\"", e.pd),
                    ));
                }
            }
            if ch.ends[0].pd == ch.ends[1].pd {
                return Err(ch.ends[1].src.diag(
                    self.f,
                    Some("pd"),
                    "a channel must connect two different protection domains",
                ));
            }
            if ch.ends[0].pp && ch.ends[1].pp {
                return Err(ch.ends[1].src.diag(
                    self.f,
                    Some("pp"),
                    "cannot ppc bidirectionally: only one end may have pp=\"true\"",
                ));
            }
        }
        Ok(())
    }

    /// Channel ids (irqs and channel ends) unique per PD.
    fn channel_ids(&self) -> R<()> {
        let mut used: HashMap<(&str, u8), &Src> = HashMap::new();
        for pd in &self.sys.protection_domains {
            for irq in &pd.irqs {
                if let Some(first) = used.insert((&pd.name, irq.id), &irq.src) {
                    return Err(irq.src.diag(
                        self.f,
                        Some("id"),
                        format!(
                            "duplicate channel id {} in protection_domain \"{}\" (first used at {})",
                            irq.id, pd.name, first.pos
                        ),
                    ));
                }
            }
        }
        for ch in &self.sys.channels {
            for e in &ch.ends {
                if let Some(first) = used.insert((&e.pd, e.id), &e.src) {
                    return Err(e.src.diag(
                        self.f,
                        Some("id"),
                        format!(
                            "duplicate channel id {} in protection_domain \"{}\" (first used at {})",
                            e.id, e.pd, first.pos
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn irqs_unique(&self) -> R<()> {
        let mut seen: HashMap<String, (&str, &Src)> = HashMap::new();
        for pd in &self.sys.protection_domains {
            for irq in &pd.irqs {
                let mut keys = Vec::new();
                match &irq.kind {
                    IrqKind::Arm { irq: n, .. } => keys.push((format!("irq {n}"), "irq")),
                    IrqKind::Ioapic {
                        ioapic,
                        pin,
                        vector,
                        ..
                    } => {
                        keys.push((format!("vector {vector}"), "vector"));
                        keys.push((format!("ioapic {ioapic} pin {pin}"), "pin"));
                    }
                    IrqKind::Msi { vector, .. } => {
                        keys.push((format!("vector {vector}"), "vector"))
                    }
                }
                for (key, attr) in keys {
                    if let Some((other, first)) = seen.get(&key) {
                        return Err(irq.src.diag(
                            self.f,
                            Some(attr),
                            format!(
                                "duplicate {key}: already given to protection_domain \"{other}\" at {}",
                                first.pos
                            ),
                        ));
                    }
                    seen.insert(key, (&pd.name, &irq.src));
                }
            }
        }
        Ok(())
    }

    fn ioports(&self) -> R<()> {
        let mut all: Vec<(&str, &IoPort)> = Vec::new();
        for pd in &self.sys.protection_domains {
            for (i, io) in pd.ioports.iter().enumerate() {
                if let Some(first) = pd.ioports[..i].iter().find(|o| o.id == io.id) {
                    return Err(io.src.diag(
                        self.f,
                        Some("id"),
                        format!(
                            "duplicate I/O port id {} in protection_domain \"{}\" (first used at {})",
                            io.id, pd.name, first.src.pos
                        ),
                    ));
                }
                let end = io.addr + io.size;
                if let Some((other, o)) = all
                    .iter()
                    .find(|(_, o)| io.addr < o.addr + o.size && o.addr < end)
                {
                    return Err(io.src.diag(
                        self.f,
                        Some("addr"),
                        format!(
                            "I/O ports [{:#x}, {end:#x}) overlap [{:#x}, {:#x}) of protection_domain \"{other}\" at {}",
                            io.addr,
                            o.addr,
                            o.addr + o.size,
                            o.src.pos
                        ),
                    ));
                }
                all.push((&pd.name, io));
            }
        }
        Ok(())
    }

    fn setvars(&self) -> R<()> {
        for (idx, pd) in self.sys.protection_domains.iter().enumerate() {
            // Every symbol the tool would patch in this PD's image.
            let mut syms: Vec<(&str, &Src, &str)> = Vec::new();
            for m in &pd.maps {
                for (attr, s) in [
                    ("setvar_vaddr", &m.setvar_vaddr),
                    ("setvar_size", &m.setvar_size),
                    ("setvar_prefill_size", &m.setvar_prefill_size),
                ] {
                    if let Some(s) = s {
                        syms.push((s, &m.src, attr));
                    }
                }
                if m.setvar_prefill_size.is_some() {
                    let prefilled = self
                        .sys
                        .memory_region(&m.mr)
                        .is_some_and(|mr| mr.prefill_path.is_some());
                    if !prefilled {
                        return Err(m.src.diag(
                            self.f,
                            Some("setvar_prefill_size"),
                            format!(
                                "setvar_prefill_size used for \"{}\", which has no prefill_path",
                                m.mr
                            ),
                        ));
                    }
                }
            }
            for irq in &pd.irqs {
                if let Some(s) = &irq.setvar_id {
                    syms.push((s, &irq.src, "setvar_id"));
                }
            }
            for io in &pd.ioports {
                if let Some(s) = &io.setvar_id {
                    syms.push((s, &io.src, "setvar_id"));
                }
                if let Some(s) = &io.setvar_addr {
                    syms.push((s, &io.src, "setvar_addr"));
                }
            }
            for sv in &pd.setvars {
                let Some(mr) = self.sys.memory_region(&sv.region_paddr) else {
                    return Err(sv.src.diag(
                        self.f,
                        Some("region_paddr"),
                        format!("no memory_region named \"{}\"", sv.region_paddr),
                    ));
                };
                if self.board.arch() == Arch::X86_64 && mr.phys_addr.is_none() {
                    return Err(sv.src.diag(
                        self.f,
                        Some("region_paddr"),
                        format!(
                            "region_paddr of \"{}\", which has no phys_addr, is unsupported on x86_64",
                            mr.name
                        ),
                    ));
                }
                syms.push((&sv.symbol, &sv.src, "symbol"));
            }
            for &c in &pd.children {
                if let Some(child) = self.sys.protection_domains.get(c) {
                    if let Some(s) = &child.setvar_id {
                        syms.push((s, &child.src, "setvar_id"));
                    }
                }
            }
            for ch in &self.sys.channels {
                for e in &ch.ends {
                    if let (Some(s), true) = (&e.setvar_id, self.sys.pd_index(&e.pd) == Some(idx)) {
                        syms.push((s, &e.src, "setvar_id"));
                    }
                }
            }
            for (i, (sym, src, attr)) in syms.iter().enumerate() {
                if let Some((_, first, _)) = syms[..i].iter().find(|(s, _, _)| s == sym) {
                    return Err(src.diag(
                        self.f,
                        Some(attr),
                        format!(
                            "setvar on symbol \"{sym}\" already exists in protection_domain \"{}\" (at {})",
                            pd.name, first.pos
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Protected calls: no cycles, and only to strictly higher priority.
    fn pp_graph(&self) -> R<()> {
        let pds = &self.sys.protection_domains;
        let n = pds.len();
        // Edges caller -> callee, with the end that allows the call.
        let mut edges: Vec<Vec<(usize, &End)>> = vec![Vec::new(); n];
        for ch in &self.sys.channels {
            let [a, b] = ch.ends.as_slice() else { continue };
            for (caller, callee) in [(a, b), (b, a)] {
                if !caller.pp {
                    continue;
                }
                if let (Some(x), Some(y)) =
                    (self.sys.pd_index(&caller.pd), self.sys.pd_index(&callee.pd))
                {
                    edges[x].push((y, caller));
                }
            }
        }
        // Depth-first search for a cycle; report it at the end closing it.
        let mut state = vec![0u8; n]; // 0 new, 1 on stack, 2 done
        let mut stack: Vec<usize> = Vec::new();
        fn dfs<'e>(
            u: usize,
            edges: &[Vec<(usize, &'e End)>],
            state: &mut [u8],
            stack: &mut Vec<usize>,
        ) -> Option<(Vec<usize>, &'e End)> {
            state[u] = 1;
            stack.push(u);
            for &(v, end) in &edges[u] {
                if state[v] == 1 {
                    let from = stack.iter().position(|&s| s == v).unwrap_or(0);
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(v);
                    return Some((cycle, end));
                }
                if state[v] == 0 {
                    if let Some(c) = dfs(v, edges, state, stack) {
                        return Some(c);
                    }
                }
            }
            stack.pop();
            state[u] = 2;
            None
        }
        for u in 0..n {
            if state[u] == 0 {
                if let Some((cycle, end)) = dfs(u, &edges, &mut state, &mut stack) {
                    let names: Vec<&str> = cycle.iter().map(|&i| pds[i].name.as_str()).collect();
                    return Err(end.src.diag(
                        self.f,
                        Some("pp"),
                        format!("protected calls form a cycle: {}", names.join(" -> ")),
                    ));
                }
            }
        }
        for (x, out) in edges.iter().enumerate() {
            for &(y, end) in out {
                let (a, b) = (&pds[x], &pds[y]);
                if a.priority >= b.priority {
                    return Err(end.src.diag(
                        self.f,
                        Some("pp"),
                        format!(
                            "pp=\"true\" needs a strictly higher-priority peer: \"{}\" (priority {}) calls \"{}\" (priority {})",
                            a.name, a.priority, b.name, b.priority
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn restart_policies(&self) -> R<()> {
        let pds = &self.sys.protection_domains;
        for child in pds {
            let Some(rp) = child.restart_policy() else {
                continue;
            };
            let Some(parent) = child.parent.and_then(|p| pds.get(p)) else {
                return Err(rp.src.diag(
                    self.f,
                    None,
                    "restart_policy is only allowed inside a child protection_domain",
                ));
            };
            if self.sys.memory_region(&rp.region).is_none() {
                return Err(rp.src.diag(
                    self.f,
                    Some("region"),
                    format!("no memory_region named \"{}\"", rp.region),
                ));
            }
            if !child.maps.iter().any(|m| m.mr == rp.region) {
                return Err(rp.src.diag(
                    self.f,
                    Some("region"),
                    format!(
                        "memory_region \"{}\" is not mapped into protection_domain \"{}\"",
                        rp.region, child.name
                    ),
                ));
            }
            match parent.maps.iter().find(|m| m.mr == rp.region) {
                None => {
                    return Err(rp.src.diag(
                        self.f,
                        Some("region"),
                        format!(
                            "memory_region \"{}\" is not mapped into the parent \"{}\"",
                            rp.region, parent.name
                        ),
                    ))
                }
                Some(m) if m.setvar_vaddr.is_none() => {
                    return Err(m.src.diag(
                        self.f,
                        Some("mr"),
                        format!(
                            "the parent's mapping of \"{}\" needs setvar_vaddr (the restart_policy of \"{}\" names it)",
                            rp.region, child.name
                        ),
                    ))
                }
                Some(_) => {}
            }
            let n = self.sys.channels_between(&parent.name, &child.name).count();
            if n != 1 {
                return Err(rp.src.diag(
                    self.f,
                    None,
                    format!(
                        "restart_policy needs exactly one channel between \"{}\" and its parent \"{}\", found {n}",
                        child.name, parent.name
                    ),
                ));
            }
            // The evidence the parent decides on must be where the child
            // cannot forge it: its control page read-only, its clients'
            // ledgers not writable into it at all.
            let evidence = rp
                .control
                .iter()
                .map(|c| ("control", c, true))
                .chain(rp.ledgers.iter().map(|l| ("ledger", l, false)));
            for (attr, name, child_maps) in evidence {
                if self.sys.memory_region(name).is_none() {
                    return Err(rp.src.diag(
                        self.f,
                        Some(attr),
                        format!("no memory_region named \"{name}\""),
                    ));
                }
                match parent.maps.iter().find(|m| &m.mr == name) {
                    Some(m) if m.setvar_vaddr.is_some() => {}
                    _ => {
                        return Err(rp.src.diag(
                            self.f,
                            Some(attr),
                            format!(
                                "memory_region \"{name}\" must be mapped into the parent \"{}\" with setvar_vaddr",
                                parent.name
                            ),
                        ))
                    }
                }
                let in_child: Vec<_> = child.maps.iter().filter(|m| &m.mr == name).collect();
                if let Some(m) = in_child.iter().find(|m| m.perms.write) {
                    return Err(m.src.diag(
                        self.f,
                        Some("perms"),
                        format!(
                            "\"{}\" must not be able to write \"{name}\": its restart_policy names it as {attr} (map it perms=\"r\"{})",
                            child.name,
                            if child_maps { "" } else { ", or not at all" }
                        ),
                    ));
                }
                if child_maps && in_child.is_empty() {
                    return Err(rp.src.diag(
                        self.f,
                        Some(attr),
                        format!(
                            "the control page \"{name}\" is not mapped into \"{}\" (map it perms=\"r\" setvar_vaddr=\"control\")",
                            child.name
                        ),
                    ));
                }
            }
            for name in &rp.notify {
                if self.sys.pd(name).is_none() {
                    return Err(rp.src.diag(
                        self.f,
                        Some("notify"),
                        format!("no protection_domain named \"{name}\""),
                    ));
                }
                let n = self.sys.channels_between(&parent.name, name).count();
                if n != 1 {
                    return Err(rp.src.diag(
                        self.f,
                        Some("notify"),
                        format!(
                            "notify needs exactly one channel between \"{name}\" and the parent \"{}\", found {n}",
                            parent.name
                        ),
                    ));
                }
            }
            if let (Some(g), Some(pi)) = (&rp.group, child.parent) {
                let members = self
                    .sys
                    .restart_group(pi, g)
                    .map_err(|e| rp.src.diag(self.f, Some("group"), e))?;
                if members.len() < 2 {
                    return Err(rp.src.diag(
                        self.f,
                        Some("group"),
                        format!(
                            "restart group \"{g}\" has one member, \"{}\" (a group restarts children of one parent together)",
                            child.name
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The protocol-binding extension, as far as it can be checked without
    /// reading the Tingu files (the model checker checks the rest): a port is
    /// bound only on an end whose PD plays a component, and one port of a PD
    /// is bound to one channel.
    fn bindings(&self) -> R<()> {
        let mut seen: HashMap<(&str, &str), &Src> = HashMap::new();
        for ch in &self.sys.channels {
            for e in &ch.ends {
                let Some(port) = &e.port else { continue };
                let component = self.sys.pd(&e.pd).and_then(|p| p.component.as_deref());
                if component.is_none() {
                    return Err(e.src.diag(
                        self.f,
                        Some("port"),
                        format!(
                            "port \"{port}\" is bound on protection_domain \"{}\", which has no component=\"...\"",
                            e.pd
                        ),
                    ));
                }
                if let Some(first) = seen.insert((&e.pd, port), &e.src) {
                    return Err(e.src.diag(
                        self.f,
                        Some("port"),
                        format!(
                            "port \"{port}\" of protection_domain \"{}\" is already bound to a channel (at {})",
                            e.pd, first.pos
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn warnings(&self) -> Vec<Diagnostic> {
        let mut w = Vec::new();
        for mr in &self.sys.memory_regions {
            let used = self
                .sys
                .protection_domains
                .iter()
                .any(|p| p.maps.iter().any(|m| m.mr == mr.name));
            if !used {
                w.push(mr.src.diag(
                    self.f,
                    Some("name"),
                    format!("unused memory region \"{}\"", mr.name),
                ));
            }
        }
        w
    }
}
