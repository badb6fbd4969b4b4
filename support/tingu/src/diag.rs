//! Source files, spans and diagnostics.
//!
//! Every problem the compiler finds in a specification is a [`Diag`] carrying
//! a [`Span`]; it is printed as `file:line:col: error: message`.

use std::fmt;
use std::path::{Path, PathBuf};

/// Index of a loaded source file in a [`SourceMap`].
pub type FileId = u32;

/// A byte range in one source file.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// File the range is in.
    pub file: FileId,
    /// First byte.
    pub lo: u32,
    /// One past the last byte.
    pub hi: u32,
}

impl Span {
    /// A span from `lo` to `hi` in `file`.
    pub fn new(file: FileId, lo: usize, hi: usize) -> Self {
        Self {
            file,
            lo: u32::try_from(lo).unwrap_or(u32::MAX),
            hi: u32::try_from(hi).unwrap_or(u32::MAX),
        }
    }

    /// The span covering both `self` and `other` (same file assumed).
    pub fn to(self, other: Span) -> Span {
        Span {
            file: self.file,
            lo: self.lo.min(other.lo),
            hi: self.hi.max(other.hi),
        }
    }
}

/// One loaded source file.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path as given (or as resolved for imports).
    pub path: PathBuf,
    /// Contents.
    pub text: String,
    line_starts: Vec<usize>,
}

/// All source files of one compilation.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a file's contents; returns its id.
    pub fn add(&mut self, path: impl Into<PathBuf>, text: String) -> FileId {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        self.files.push(SourceFile {
            path: path.into(),
            text,
            line_starts,
        });
        FileId::try_from(self.files.len() - 1).unwrap_or(FileId::MAX)
    }

    /// The file with id `id`.
    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id as usize)
    }

    /// All files, in load order.
    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }

    /// Id of an already loaded file with this path.
    pub fn find(&self, path: &Path) -> Option<FileId> {
        self.files
            .iter()
            .position(|f| f.path == path)
            .and_then(|i| FileId::try_from(i).ok())
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, file: FileId, offset: u32) -> (usize, usize) {
        let Some(f) = self.get(file) else {
            return (0, 0);
        };
        let off = (offset as usize).min(f.text.len());
        let line = match f.line_starts.binary_search(&off) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = f.line_starts.get(line).copied().unwrap_or(0);
        let col = f
            .text
            .get(start..off)
            .map_or(off - start, |s| s.chars().count());
        (line + 1, col + 1)
    }

    /// `path:line:col` of a span's start.
    pub fn location(&self, span: Span) -> String {
        let (l, c) = self.line_col(span.file, span.lo);
        let path = self
            .get(span.file)
            .map_or_else(|| "<unknown>".to_string(), |f| f.path.display().to_string());
        format!("{path}:{l}:{c}")
    }
}

/// How bad a diagnostic is.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Severity {
    /// The specification is rejected.
    Error,
    /// Accepted, but probably not what was meant.
    Warning,
}

/// One problem in a specification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diag {
    /// Error or warning.
    pub severity: Severity,
    /// Where.
    pub span: Span,
    /// What is wrong, in one line.
    pub message: String,
    /// Further lines (related locations, hints).
    pub notes: Vec<String>,
}

impl Diag {
    /// An error at `span`.
    pub fn error(span: Span, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            span,
            message: message.into(),
            notes: Vec::new(),
        }
    }

    /// A warning at `span`.
    pub fn warning(span: Span, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            span,
            message: message.into(),
            notes: Vec::new(),
        }
    }

    /// Add a note line.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// Render as `file:line:col: error: message` plus indented notes.
    pub fn render(&self, map: &SourceMap) -> String {
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut s = format!("{}: {kind}: {}", map.location(self.span), self.message);
        for n in &self.notes {
            s.push_str("\n    note: ");
            s.push_str(n);
        }
        s
    }
}

/// The diagnostics of a failed compilation, with the sources to render them.
#[derive(Clone, Debug)]
pub struct Diagnostics {
    /// Sources the spans refer to.
    pub map: SourceMap,
    /// Every diagnostic, errors and warnings, in source order.
    pub diags: Vec<Diag>,
}

impl Diagnostics {
    /// Number of errors.
    pub fn error_count(&self) -> usize {
        self.diags
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    /// Rendered lines of all diagnostics.
    pub fn rendered(&self) -> Vec<String> {
        self.diags.iter().map(|d| d.render(&self.map)).collect()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.diags {
            writeln!(f, "{}", d.render(&self.map))?;
        }
        Ok(())
    }
}

/// Sort diagnostics by file and position, keeping the order of equal ones.
pub fn sort(diags: &mut [Diag]) {
    diags.sort_by_key(|d| (d.span.file, d.span.lo));
}
