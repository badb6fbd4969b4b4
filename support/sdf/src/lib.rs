//! The project's system description: parse, validate and render `system.xml`.
//!
//! Why this crate exists: there is exactly one system description for every
//! board and for the hosted runtime. It is Microkit SDF plus two extensions
//! (`board="..."` on any element, `<restart_policy>` inside a child
//! protection domain). This crate turns it into a typed [`System`] with source
//! positions, checks it the way the Microkit tool (2.3.0) would for every
//! known board, renders plain Microkit SDF for one board ([`render()`]) and
//! generates the monitor's child table ([`codegen::monitor_table`]).
//!
//! What must never happen:
//! * a file that this crate accepts being refused by the Microkit tool for a
//!   reason we could have reported first (we mirror its checks, and are
//!   stricter where it would crash or accept nonsense);
//! * a panic on any input: every malformed file gives a [`Diagnostic`] that
//!   names the file, line, column, element, attribute and reason;
//! * the extensions leaking into the rendered SDF.
//!
//! ```
//! let xml = r#"<system>
//!   <protection_domain name="hello" priority="10">
//!     <program_image path="hello.elf" />
//!   </protection_domain>
//! </system>"#;
//! let sys = sdf::parse_str("hello.xml", xml, None).unwrap();
//! let out = sdf::render(&sys, sdf::Board::QemuVirtAarch64);
//! assert!(out.contains(r#"<protection_domain name="hello" priority="10">"#));
//! ```

mod board;
pub mod build;
pub mod codegen;
mod diag;
mod model;
mod number;
mod parse;
mod render;
mod validate;

pub use board::{Arch, Board, BoardSet};
pub use diag::{Diagnostic, Pos};
pub use model::*;
pub use parse::{parse_file, parse_file_for_boards, parse_str, parse_str_for_boards};
pub use render::render;

/// Errors are diagnostics.
pub type Error = Diagnostic;

/// Page size of every memory region mapping we accept (4 KiB), on both boards.
pub const PAGE_SIZE: u64 = 0x1000;
/// Large page size Microkit supports on both boards (2 MiB).
pub const LARGE_PAGE_SIZE: u64 = 0x20_0000;
/// Microkit allows at most this many protection domains.
pub const MAX_PDS: usize = 63;
/// Highest channel / IRQ / I/O port id the Microkit 2.3.0 tool accepts.
///
/// The tool rejects ids above 61 (`PD_MAX_ID`); its manual says "less than 63".
/// We follow the tool, since its verdict is the one that matters.
pub const MAX_CHANNEL_ID: u8 = 61;
/// Child ids index the parent's TCB cap slots, of which there are 64.
pub const MAX_CHILD_ID: u8 = 63;
/// Highest priority a protection domain may have.
pub const MAX_PRIORITY: u8 = 254;
