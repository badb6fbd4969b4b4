//! Promela export (see below).

use std::path::{Path, PathBuf};

use super::model::Composition;
use super::Checked;
use crate::ir::Spec;

/// Promela source of a composition.
pub fn export(_spec: &Spec, _c: &Composition) -> Result<String, String> {
    Err("not yet".into())
}

/// Write the source under `dir`.
pub fn write(dir: &Path, name: &str, src: &str) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let f = dir.join(format!("{}.pml", file_name(name)));
    std::fs::write(&f, src)?;
    Ok(f)
}

fn file_name(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Spin's verdicts.
#[derive(Clone, Debug)]
pub struct SpinResult {}

/// Run spin.
pub fn run_spin(_f: &Path) -> Result<SpinResult, String> {
    Err("not yet".into())
}

/// Comparison.
#[derive(Clone, Debug)]
pub struct Comparison {
    /// Agree.
    pub agree: bool,
}

impl std::fmt::Display for Comparison {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "")
    }
}

/// Compare.
pub fn compare(_c: &Checked, _s: &SpinResult) -> Comparison {
    Comparison { agree: true }
}
