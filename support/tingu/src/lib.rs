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
/// an `import` is resolved against the other given names. A source that no
/// other imports must declare a protocol or a component (itself or through
/// its imports), as in [`compile_files`].
pub fn compile_sources(sources: &[(&str, &str)]) -> Result<Compiled, Diagnostics> {
    let mut map = SourceMap::new();
    for (name, text) in sources {
        map.add(*name, (*text).to_string());
    }
    let mut diags = Vec::new();
    let mut files = Vec::new();
    let mut graph = Graph::default();
    for id in 0..map.files().len() {
        let id = FileId::try_from(id).unwrap_or(FileId::MAX);
        let (ast, imports) = parse_one(&map, id, &mut diags);
        let mut deps = Vec::new();
        for (path, span) in imports {
            match map.find(Path::new(&path)) {
                Some(d) => deps.push(d),
                None => diags.push(Diag::error(
                    span,
                    format!("cannot import `{path}`: no such source"),
                )),
            }
        }
        graph.add(id, &ast, deps, true);
        files.push(ast);
    }
    finish(map, files, diags, &graph)
}

/// Compile files from disk, following `import "path";` (relative to the
/// importing file; each file is read once). A given file that declares no
/// protocol and no component, itself or through its imports (an empty
/// file), is an error at that file.
pub fn compile_files<P: AsRef<Path>>(paths: &[P]) -> Result<Compiled, Diagnostics> {
    let mut map = SourceMap::new();
    let mut diags = Vec::new();
    let mut files = Vec::new();
    let mut queue: Vec<(PathBuf, Option<Span>)> = paths
        .iter()
        .map(|p| (p.as_ref().to_path_buf(), None))
        .collect();
    let mut seen: Vec<PathBuf> = Vec::new();
    // Per file read: its canonical path and id; per file parsed: its id,
    // whether it was given (not imported), its imports' canonical paths.
    let mut ids: Vec<(PathBuf, FileId)> = Vec::new();
    let mut parsed: Vec<(FileId, bool, Vec<PathBuf>)> = Vec::new();
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let mut i = 0;
    while i < queue.len() {
        let (path, from) = queue[i].clone();
        i += 1;
        let canon = canonical(&path);
        if seen.contains(&canon) {
            continue;
        }
        seen.push(canon.clone());
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
        ids.push((canon, id));
        let (ast, imports) = parse_one(&map, id, &mut diags);
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut deps = Vec::new();
        for (p, span) in imports {
            deps.push(canonical(&dir.join(&p)));
            queue.push((dir.join(p), Some(span)));
        }
        parsed.push((id, from.is_none(), deps));
        files.push(ast);
    }
    let mut graph = Graph::default();
    for ((id, given, deps), ast) in parsed.into_iter().zip(&files) {
        let deps = deps
            .iter()
            .filter_map(|d| ids.iter().find(|(c, _)| c == d).map(|(_, i)| *i))
            .collect();
        graph.add(id, ast, deps, given);
    }
    finish(map, files, diags, &graph)
}

/// Which files were given (not imported), what each imports and which
/// declare a protocol or a component: a given file must, itself or through
/// its imports (an empty specification is a mistake, not "0 protocols").
#[derive(Default)]
struct Graph {
    /// `(file, given, declares something, imports)`.
    units: Vec<(FileId, bool, bool, Vec<FileId>)>,
}

impl Graph {
    fn add(&mut self, id: FileId, ast: &ast::File, imports: Vec<FileId>, given: bool) {
        let declares = ast
            .items
            .iter()
            .any(|it| matches!(it, ast::Item::Protocol(_) | ast::Item::Component(_)));
        self.units.push((id, given, declares, imports));
    }

    /// An error for every given file (not imported by another) that
    /// declares no protocol and no component, nor do its imports.
    fn empty(&self, map: &SourceMap) -> Vec<Diag> {
        let imported: Vec<FileId> = self
            .units
            .iter()
            .flat_map(|u| u.3.iter().copied().filter(move |&d| d != u.0))
            .collect();
        let mut out = Vec::new();
        for &(root, given, _, _) in &self.units {
            if !given || imported.contains(&root) {
                continue;
            }
            let mut seen = vec![root];
            let mut work = vec![root];
            let mut declares = false;
            while let Some(f) = work.pop() {
                let Some(u) = self.units.iter().find(|u| u.0 == f) else {
                    continue;
                };
                declares |= u.2;
                for &d in &u.3 {
                    if !seen.contains(&d) {
                        seen.push(d);
                        work.push(d);
                    }
                }
            }
            if declares {
                continue;
            }
            let blank = map.get(root).is_none_or(|f| f.text.trim().is_empty());
            let what = if blank {
                "empty specification: no protocol or component".to_string()
            } else if seen.len() > 1 {
                "no protocol or component in this file or its imports".to_string()
            } else {
                "no protocol or component in this file".to_string()
            };
            out.push(Diag::error(Span::new(root, 0, 0), what));
        }
        out
    }
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
    graph: &Graph,
) -> Result<Compiled, Diagnostics> {
    // After a syntax error the tree is incomplete: semantic errors would
    // mostly be echoes of it, so report the syntax errors alone.
    let syntax_ok = !diags.iter().any(|d| d.severity == Severity::Error);
    let spec = if syntax_ok {
        diags.extend(graph.empty(&map));
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
