//! Rust source generated from the system description.
//!
//! [`monitor_table`] emits the table of children a monitor restarts. The
//! text names two types unqualified, which the including crate defines:
//!
//! ```
//! pub struct Policy {
//!     /// Faults tolerated within the window before the child is stopped.
//!     pub max_faults: u32,
//!     /// Fault-counting window in nanoseconds.
//!     pub window_ns: u64,
//!     /// No progress for this long means hung, in nanoseconds.
//!     pub hang_ns: u64,
//! }
//!
//! pub struct ChildConfig {
//!     /// Child PD name.
//!     pub name: &'static str,
//!     /// Child id (as `ChildId`).
//!     pub id: u8,
//!     /// The parent's `setvar_vaddr` of the child's persistent region
//!     /// (the name to pass to `Platform::region`).
//!     pub region_setvar: &'static str,
//!     /// The parent's `setvar_vaddr` of the child's control page.
//!     pub control_setvar: &'static str,
//!     /// The parent's `setvar_vaddr`s of the child's clients' call ledgers.
//!     pub ledger_setvars: &'static [&'static str],
//!     /// The parent's channel id on the channel between parent and child.
//!     pub ready_channel: u8,
//!     /// The parent's channel ids towards the PDs to notify.
//!     pub notify_channels: &'static [u8],
//!     /// Restart policy.
//!     pub policy: Policy,
//!     /// Child ids of its restart group, itself included, in the order to
//!     /// restart them (servers before their clients); empty: no group.
//!     pub group: &'static [u8],
//! }
//! # let sys = sdf::parse_str("s.xml", r#"<system>
//! #   <memory_region name="p" size="0x1000" />
//! #   <protection_domain name="mon" priority="200">
//! #     <program_image path="mon.elf" />
//! #     <map mr="p" vaddr="0x1000000" setvar_vaddr="p_state" />
//! #     <protection_domain name="drv" id="3" priority="100">
//! #       <program_image path="drv.elf" />
//! #       <restart_policy max_faults="2" window_ms="10" hang_ms="5" region="p" />
//! #       <map mr="p" vaddr="0x1000000" />
//! #     </protection_domain>
//! #   </protection_domain>
//! #   <channel><end pd="mon" id="4" /><end pd="drv" id="0" /></channel>
//! # </system>"#, None).unwrap();
//! # let text = sdf::codegen::monitor_table(&sys, "mon").unwrap();
//! # assert!(text.contains("ChildConfig { name: \"drv\", id: 3, region_setvar: \"p_state\", control_setvar: \"\", ledger_setvars: &[], ready_channel: 4"));
//! ```
//!
//! and then `include!(concat!(env!("OUT_DIR"), "/children.rs"));` to get
//! `pub const CHILDREN: &[ChildConfig]`.

use crate::{Board, Diagnostic, System};
use std::fmt::Write;

/// One row of the monitor's table, as computed for a board.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ChildRow {
    /// Child PD name.
    pub name: String,
    /// Child id.
    pub id: u8,
    /// Parent's `setvar_vaddr` of the policy region.
    pub region_setvar: String,
    /// Parent's `setvar_vaddr` of the child's control page ("" if none).
    pub control_setvar: String,
    /// Parent's `setvar_vaddr`s of the call ledgers of the child's clients.
    pub ledger_setvars: Vec<String>,
    /// Parent's channel id towards the child.
    pub ready_channel: u8,
    /// Parent's channel ids towards the notify PDs.
    pub notify_channels: Vec<u8>,
    /// `max_faults`.
    pub max_faults: u32,
    /// `window_ms` in ns.
    pub window_ns: u64,
    /// `hang_ms` in ns.
    pub hang_ns: u64,
    /// The child ids of its restart group, itself included, in
    /// channel-graph order (empty: no group).
    pub group: Vec<u8>,
}

/// The rows for the children of `monitor` that have a restart policy, in the
/// view of `board`.
pub fn monitor_rows(
    sys: &System,
    board: Board,
    monitor: &str,
) -> Result<Vec<ChildRow>, Diagnostic> {
    let view = if sys.board == Some(board) {
        sys.clone()
    } else {
        sys.for_board(board)
    };
    let Some(mi) = view.pd_index(monitor) else {
        return Err(Diagnostic {
            board: Some(board),
            ..Diagnostic::file(
                &view.file,
                format!("no protection_domain named \"{monitor}\""),
            )
        });
    };
    let mon = &view.protection_domains[mi];
    let mut rows = Vec::new();
    for &c in &mon.children {
        let Some(child) = view.protection_domains.get(c) else {
            continue;
        };
        let Some(rp) = child.restart_policy() else {
            continue;
        };
        // The validator guarantees all of these; report rather than panic
        // if a hand-built System breaks them.
        let broken = |what: &str| {
            rp.src.diag(
                &view.file,
                None,
                format!("restart_policy of \"{}\": {what}", child.name),
            )
        };
        let region_setvar = mon
            .maps
            .iter()
            .find(|m| m.mr == rp.region)
            .and_then(|m| m.setvar_vaddr.clone())
            .ok_or_else(|| broken("the parent maps the region without setvar_vaddr"))?;
        let parent_setvar = |mr: &str| {
            mon.maps
                .iter()
                .find(|m| m.mr == mr)
                .and_then(|m| m.setvar_vaddr.clone())
        };
        let control_setvar = match &rp.control {
            Some(c) => parent_setvar(c)
                .ok_or_else(|| broken("the parent maps the control page without setvar_vaddr"))?,
            None => String::new(),
        };
        let ledger_setvars = rp
            .ledgers
            .iter()
            .map(|l| {
                parent_setvar(l)
                    .ok_or_else(|| broken("the parent maps a ledger without setvar_vaddr"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let ready_channel = view
            .channels_between(monitor, &child.name)
            .next()
            .map(|(m, _)| m.id)
            .ok_or_else(|| broken("no channel between parent and child"))?;
        let mut notify_channels = Vec::new();
        for n in &rp.notify {
            let ch = view
                .channels_between(monitor, n)
                .next()
                .map(|(m, _)| m.id)
                .ok_or_else(|| broken(&format!("no channel between parent and \"{n}\"")))?;
            notify_channels.push(ch);
        }
        let group = match &rp.group {
            Some(g) => view
                .restart_group(mi, g)
                .map_err(|e| broken(&e))?
                .into_iter()
                .map(|i| view.protection_domains[i].id.unwrap_or(0))
                .collect(),
            None => Vec::new(),
        };
        rows.push(ChildRow {
            name: child.name.clone(),
            id: child.id.unwrap_or(0),
            region_setvar,
            control_setvar,
            ledger_setvars,
            ready_channel,
            notify_channels,
            max_faults: rp.max_faults,
            window_ns: rp.window_ms.saturating_mul(1_000_000),
            hang_ns: rp.hang_ms.saturating_mul(1_000_000),
            group,
        });
    }
    Ok(rows)
}

/// Rust source declaring `pub const CHILDREN: &[ChildConfig]` for the
/// children of `monitor` that have a restart policy (children without one
/// are not managed and are left out).
///
/// The table must be the same for every board (the monitor binary is built
/// once per board, but the hosted runtime runs one build for both); an error
/// says which board differs. Use [`monitor_table_for_board`] otherwise.
pub fn monitor_table(sys: &System, monitor: &str) -> Result<String, Diagnostic> {
    let mut first: Option<(Board, Vec<ChildRow>)> = None;
    for b in Board::ALL {
        let rows = monitor_rows(sys, b, monitor)?;
        match &first {
            None => first = Some((b, rows)),
            Some((fb, frows)) if *frows != rows => {
                return Err(Diagnostic::file(
                    &sys.file,
                    format!(
                        "the children table of \"{monitor}\" differs between boards {fb} and {b}; \
                         use monitor_table_for_board"
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    let rows = first.map(|(_, r)| r).unwrap_or_default();
    Ok(emit(&sys.file, monitor, None, &rows))
}

/// Like [`monitor_table`] for one board.
pub fn monitor_table_for_board(
    sys: &System,
    board: Board,
    monitor: &str,
) -> Result<String, Diagnostic> {
    let rows = monitor_rows(sys, board, monitor)?;
    Ok(emit(&sys.file, monitor, Some(board), &rows))
}

/// Rust source declaring `pub const NAME: u8 = <id>;` for each channel id
/// of `pd` that the system file names: a port of the PD's component bound
/// to a channel (`<end pd="pd" port="name">`), a channel end or an
/// interrupt with Microkit's `setvar_id="name"` (the way to name a channel
/// of a PD that plays no Tingu component). So a PD builds its channel map
/// from the one system description.
///
/// Constants are named in upper case, ports first, in file order. An
/// unknown PD, or one without named channels, gives just the header
/// comment. On the all-boards system a name bound on several ends (one per
/// board) is emitted once; if the boards give it different ids, the text
/// is a `compile_error!` naming it (pass a board view, [`System::for_board`]).
///
/// ```
/// let sys = sdf::parse_str("s.xml", r#"<system>
///   <protection_domain name="drv" priority="100" component="serial">
///     <program_image path="drv.elf" />
///   </protection_domain>
///   <protection_domain name="cli" priority="10" component="serial_client">
///     <program_image path="cli.elf" />
///   </protection_domain>
///   <protection_domain name="blk" priority="100">
///     <program_image path="blk.elf" />
///     <irq irq="79" id="1" setvar_id="irq" board="qemu_virt_aarch64" />
///   </protection_domain>
///   <channel><end pd="cli" id="3" pp="true" port="serial" /><end pd="drv" id="5" port="client" /></channel>
///   <channel><end pd="cli" id="4" /><end pd="blk" id="0" setvar_id="client" /></channel>
/// </system>"#, None).unwrap();
/// let text = sdf::codegen::port_channels(&sys, "drv");
/// assert!(text.contains("pub const CLIENT: u8 = 5;"));
/// let text = sdf::codegen::port_channels(&sys, "blk");
/// assert!(text.contains("pub const CLIENT: u8 = 0;"));
/// assert!(text.contains("pub const IRQ: u8 = 1;"));
/// ```
pub fn port_channels(sys: &System, pd: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "// @generated by sdf::codegen::port_channels from {} for protection domain {:?}{}. Do not edit.",
        sys.file.replace('\n', " "),
        pd,
        sys.board.map(|b| format!(" (board {b})")).unwrap_or_default()
    );
    // (name, id, what)
    let mut named: Vec<(&str, u8, &str)> = Vec::new();
    for ch in &sys.channels {
        for e in ch.ends.iter().filter(|e| e.pd == pd) {
            if let Some(port) = e.port.as_deref() {
                named.push((port, e.id, "Channel of port"));
            }
        }
    }
    for ch in &sys.channels {
        for e in ch.ends.iter().filter(|e| e.pd == pd) {
            if let Some(v) = e.setvar_id.as_deref() {
                named.push((v, e.id, "Channel named"));
            }
        }
    }
    if let Some(p) = sys.pd(pd) {
        for irq in &p.irqs {
            if let Some(v) = irq.setvar_id.as_deref() {
                named.push((v, irq.id, "Interrupt channel named"));
            }
        }
    }
    // One entry a name: its first id, and another id a board gives it.
    let mut done: Vec<(&str, u8, &str, Option<u8>)> = Vec::new();
    for (name, id, what) in named {
        match done.iter_mut().find(|d| d.0 == name) {
            Some(d) if d.1 != id => d.3 = Some(id),
            Some(_) => {}
            None => done.push((name, id, what, None)),
        }
    }
    let file = sys.file.replace(['\n', '"', '\\'], " ");
    for (name, id, what, other) in done {
        match other {
            Some(other) => {
                let _ = writeln!(
                    s,
                    "compile_error!(\"{file}: `{name}` of protection domain {pd} is channel {id} on one board and {other} on another: build for one board\");"
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "/// {what} `{name}`.\npub const {}: u8 = {id};",
                    name.to_ascii_uppercase()
                );
            }
        }
    }
    s
}

fn emit(file: &str, monitor: &str, board: Option<Board>, rows: &[ChildRow]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "// @generated by sdf::codegen::monitor_table from {} for protection domain {:?}{}. Do not edit.",
        file.replace('\n', " "),
        monitor,
        board.map(|b| format!(" (board {b})")).unwrap_or_default()
    );
    s.push_str("pub const CHILDREN: &[ChildConfig] = &[\n");
    for r in rows {
        let notify: Vec<String> = r.notify_channels.iter().map(u8::to_string).collect();
        let ledgers: Vec<String> = r.ledger_setvars.iter().map(|l| format!("{l:?}")).collect();
        let _ = writeln!(
            s,
            "    ChildConfig {{ name: {:?}, id: {}, region_setvar: {:?}, control_setvar: {:?}, ledger_setvars: &[{}], ready_channel: {}, notify_channels: &[{}], policy: Policy {{ max_faults: {}, window_ns: {}, hang_ns: {} }}, group: &[{}] }},",
            r.name,
            r.id,
            r.region_setvar,
            r.control_setvar,
            ledgers.join(", "),
            r.ready_channel,
            notify.join(", "),
            r.max_faults,
            grouped(r.window_ns),
            grouped(r.hang_ns),
            r.group.iter().map(u8::to_string).collect::<Vec<_>>().join(", ")
        );
    }
    s.push_str("];\n");
    s
}

/// `500000000` -> `500_000_000`.
fn grouped(n: u64) -> String {
    let digits: Vec<char> = n.to_string().chars().collect();
    let groups: Vec<String> = digits
        .rchunks(3)
        .rev()
        .map(|c| c.iter().collect())
        .collect();
    groups.join("_")
}

#[cfg(test)]
mod tests {
    use super::grouped;

    #[test]
    fn digits_are_grouped() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1_000");
        assert_eq!(grouped(500_000_000), "500_000_000");
    }
}
