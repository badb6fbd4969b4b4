//! Diagnostics: what is wrong, and exactly where.

use crate::Board;
use core::fmt;

/// A 1-based line and column in the source file.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash, PartialOrd, Ord, Default)]
pub struct Pos {
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// An error or warning about a system description.
///
/// Displayed as `file:line:col: <element attr="value">: reason`, e.g.
/// `system.xml:23:13: <end pd="sensor">: no protection_domain named "sensor"`.
/// When the problem exists only in the view of one board, ` (board NAME)`
/// is appended.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Diagnostic {
    /// File name as given to the parser.
    pub file: String,
    /// Where, if the problem has a place in the file.
    pub pos: Option<Pos>,
    /// The element, as `<tag attr="value">` (the attribute at fault, or the
    /// one that names the element).
    pub element: Option<String>,
    /// The attribute at fault, if one is.
    pub attribute: Option<String>,
    /// Why.
    pub message: String,
    /// The board whose view has the problem, if not every board's does.
    pub board: Option<Board>,
}

impl Diagnostic {
    /// A diagnostic about the file as a whole.
    pub fn file(file: &str, message: impl Into<String>) -> Self {
        Self {
            file: file.to_string(),
            pos: None,
            element: None,
            attribute: None,
            message: message.into(),
            board: None,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(p) = self.pos {
            write!(f, ":{}:{}", p.line, p.col)?;
        }
        f.write_str(": ")?;
        if let Some(e) = &self.element {
            write!(f, "{e}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(b) = self.board {
            write!(f, " (board {b})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}
