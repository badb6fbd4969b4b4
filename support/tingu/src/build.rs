//! Build-script API.
//!
//! In `build.rs` (and in `lib.rs`:
//! `include!(concat!(env!("OUT_DIR"), "/serial_observer.rs"));`):
//!
//! ```no_run
//! if let Err(e) = tingu::build::Build::new()
//!     .file("serial.tingu")
//!     .rust_out("serial_observer.rs") // relative to OUT_DIR
//!     .compile()
//! {
//!     eprintln!("{e}");
//!     std::process::exit(1);
//! }
//! ```
//!
//! Prints `cargo:rerun-if-changed` for every file read (imports included)
//! and `cargo:warning` for specification warnings.

use std::path::{Path, PathBuf};

/// A build-script compilation.
#[derive(Debug, Default, Clone)]
pub struct Build {
    files: Vec<PathBuf>,
    rust_out: Option<PathBuf>,
    dot_dir: Option<PathBuf>,
    cargo: bool,
}

/// Start a build of `path` (shorthand for `Build::new().file(path)`).
pub fn compile(path: impl AsRef<Path>) -> Build {
    Build::new().file(path)
}

impl Build {
    /// Nothing yet; prints cargo directives.
    pub fn new() -> Self {
        Self {
            cargo: true,
            ..Self::default()
        }
    }

    /// Add a specification file.
    pub fn file(mut self, path: impl AsRef<Path>) -> Self {
        self.files.push(path.as_ref().to_path_buf());
        self
    }

    /// Where to write the Rust code; relative paths are under `OUT_DIR`.
    pub fn rust_out(mut self, path: impl AsRef<Path>) -> Self {
        self.rust_out = Some(path.as_ref().to_path_buf());
        self
    }

    /// Also write one DOT file per protocol to this directory.
    pub fn dot_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.dot_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Whether to print `cargo:` directives (default yes).
    pub fn cargo_directives(mut self, on: bool) -> Self {
        self.cargo = on;
        self
    }

    /// Run it. The error is the rendered diagnostics (or an I/O problem).
    pub fn compile(self) -> Result<crate::Compiled, String> {
        let res = crate::compile_files(&self.files);
        if self.cargo {
            // Rebuild on any change of what was read, even after an error.
            let read: Vec<PathBuf> = match &res {
                Ok(c) => c.files(),
                Err(d) => d.map.files().iter().map(|f| f.path.clone()).collect(),
            };
            for f in read.iter().chain(&self.files) {
                println!("cargo:rerun-if-changed={}", f.display());
            }
        }
        let compiled = res.map_err(|d| d.to_string())?;
        if self.cargo {
            for w in &compiled.warnings {
                println!(
                    "cargo:warning={}",
                    w.render(&compiled.map).replace('\n', " ")
                );
            }
        }
        if let Some(out) = &self.rust_out {
            let out = if out.is_relative() {
                match std::env::var_os("OUT_DIR") {
                    Some(d) => PathBuf::from(d).join(out),
                    None => out.clone(),
                }
            } else {
                out.clone()
            };
            let names: Vec<String> = self
                .files
                .iter()
                .map(|f| {
                    f.file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
                })
                .collect();
            let code = crate::rust::generate(&compiled.spec, &names)?;
            std::fs::write(&out, code).map_err(|e| format!("writing {}: {e}", out.display()))?;
        }
        if let Some(dir) = &self.dot_dir {
            std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
            for p in &compiled.spec.protocols {
                let path = dir.join(format!("{}.dot", p.name));
                std::fs::write(&path, crate::dot::protocol(p))
                    .map_err(|e| format!("writing {}: {e}", path.display()))?;
            }
        }
        Ok(compiled)
    }
}
