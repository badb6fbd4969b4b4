//! Tingu: the protocol specification language of Dingo (Ryzhyk et al.,
//! EuroSys'09), with a textual behaviour syntax, and its compiler.
//!
//! A specification declares protocols (messages with wire labels and
//! transports, variables, hierarchical states with timeouts and restart
//! states, guards, actions, dependencies and dynamic subports) and components (the ports of one
//! protection domain). The compiler checks it and generates, for each
//! component, a `no_std` protocol observer that the channel layer consults on
//! every message, plus message types and Graphviz statecharts.
//!
//! Pipeline: [`lexer`] → [`parser`] (AST with spans) → [`check`] (semantic
//! rules) → [`ir`] (flat, resolved; also the model checker's input) →
//! backends [`rust`] and [`dot`]. [`build`] wraps it for build scripts.
//! [`verify`] model-checks compositions of bound channels, driver restarts
//! included (`tingu verify`, docs/verification.md).
//!
//! What must never happen: a panic on any input (a specification is input; every
//! problem is a diagnostic with `file:line:col`), or generated code that
//! accepts a message its specification refuses.

pub mod ast;
pub mod build;
pub mod check;
pub mod diag;
pub mod dot;
pub mod ir;
pub mod lexer;
pub mod parser;
pub mod rust;
pub mod verify;

use std::path::{Path, PathBuf};

use diag::{Diag, Diagnostics, FileId, Severity, SourceMap, Span};

/// A successfully checked specification.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The IR.
    pub spec: ir::Spec,
    /// Every file read (including imports), for rebuild tracking and messages.
    pub map: SourceMap,
    /// Warnings (the specification is accepted).
    pub warnings: Vec<Diag>,
}

impl Compiled {
    /// Paths of every file read.
    pub fn files(&self) -> Vec<PathBuf> {
        self.map.files().iter().map(|f| f.path.clone()).collect()
    }
}

/// Most files one compilation reads (guards against import explosions).
pub const MAX_FILES: usize = 256;

/// Compile in-memory sources (`(name, text)`), without imports from disk:
/// an `import` is resolved against the other given names.
pub fn compile_sources(sources: &[(&str, &str)]) -> Result<Compiled, Diagnostics> {
    let mut map = SourceMap::new();
    for (name, text) in sources {
        map.add(*name, (*text).to_string());
    }
    let mut diags = Vec::new();
    let mut files = Vec::new();
    for id in 0..map.files().len() {
        let id = FileId::try_from(id).unwrap_or(FileId::MAX);
        let (ast, imports) = parse_one(&map, id, &mut diags);
        for (path, span) in imports {
            if map.find(Path::new(&path)).is_none() {
                diags.push(Diag::error(
                    span,
                    format!("cannot import `{path}`: no such source"),
                ));
            }
        }
        files.push(ast);
    }
    finish(map, files, diags)
}

/// Compile files from disk, following `import "path";` (relative to the
/// importing file; each file is read once).
pub fn compile_files<P: AsRef<Path>>(paths: &[P]) -> Result<Compiled, Diagnostics> {
    let mut map = SourceMap::new();
    let mut diags = Vec::new();
    let mut files = Vec::new();
    let mut queue: Vec<(PathBuf, Option<Span>)> = paths
        .iter()
        .map(|p| (p.as_ref().to_path_buf(), None))
        .collect();
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut i = 0;
    while i < queue.len() {
        let (path, from) = queue[i].clone();
        i += 1;
        let canon = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if seen.contains(&canon) {
            continue;
        }
        seen.push(canon);
        if map.files().len() >= MAX_FILES {
            diags.push(Diag::error(
                from.unwrap_or_default(),
                "too many imported files",
            ));
            break;
        }
        let text = match std::fs::read(&path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(t) => t,
                Err(_) => {
                    let id = map.add(path.clone(), String::new());
                    diags.push(Diag::error(Span::new(id, 0, 0), "file is not valid UTF-8"));
                    continue;
                }
            },
            Err(e) => {
                match from {
                    Some(span) => diags.push(Diag::error(
                        span,
                        format!("cannot read imported file `{}`: {e}", path.display()),
                    )),
                    None => {
                        let id = map.add(path.clone(), String::new());
                        diags.push(Diag::error(
                            Span::new(id, 0, 0),
                            format!("cannot read file: {e}"),
                        ));
                    }
                }
                continue;
            }
        };
        let id = map.add(path.clone(), text);
        let (ast, imports) = parse_one(&map, id, &mut diags);
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        for (p, span) in imports {
            queue.push((dir.join(p), Some(span)));
        }
        files.push(ast);
    }
    finish(map, files, diags)
}

fn parse_one(
    map: &SourceMap,
    id: FileId,
    diags: &mut Vec<Diag>,
) -> (ast::File, Vec<(String, Span)>) {
    let text = map.get(id).map_or("", |f| f.text.as_str());
    let toks = lexer::lex(id, text, diags);
    let file = parser::parse(&toks, diags);
    let imports = file
        .items
        .iter()
        .filter_map(|it| match it {
            ast::Item::Import(p, s) => Some((p.clone(), *s)),
            _ => None,
        })
        .collect();
    (file, imports)
}

fn finish(
    map: SourceMap,
    files: Vec<ast::File>,
    mut diags: Vec<Diag>,
) -> Result<Compiled, Diagnostics> {
    // After a syntax error the tree is incomplete: semantic errors would
    // mostly be echoes of it, so report the syntax errors alone.
    let syntax_ok = !diags.iter().any(|d| d.severity == Severity::Error);
    let spec = if syntax_ok {
        check::check(&files, &mut diags)
    } else {
        ir::Spec::default()
    };
    diag::sort(&mut diags);
    diags.dedup();
    if diags.iter().any(|d| d.severity == Severity::Error) {
        return Err(Diagnostics { map, diags });
    }
    Ok(Compiled {
        spec,
        map,
        warnings: diags,
    })
}
