//! The recorded figures (`docs/figures/*.json`) and the README tables
//! rendered from them between marker lines:
//!
//! ```text
//! <!-- figures:bench-qemu -->
//! (the table, generated)
//! <!-- /figures:bench-qemu -->
//! ```

use crate::bench::{self, Bench};
use crate::observers::{self, Observers};
use std::path::Path;

/// The file name prefix of `make bench-qemu`'s records.
pub const BENCH_PREFIX: &str = "bench-qemu-";
/// The file name prefix of `make bench-qemu-observers`' records.
pub const OBSERVERS_PREFIX: &str = "observers-";

/// Every recorded measurement, in table order.
#[derive(Default, Debug)]
pub struct Records {
    /// `make bench-qemu`, one per board and config.
    pub bench: Vec<Bench>,
    /// `make bench-qemu-observers`, one per board and config.
    pub observers: Vec<Observers>,
}

/// The record's file name for a board and config.
pub fn record_name(prefix: &str, board: &str, config: &str) -> String {
    format!("{prefix}{board}-{config}.json")
}

fn parse<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

impl Records {
    /// Reads every record in `dir`; a file that does not parse is an
    /// error naming it.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let mut r = Records::default();
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if !name.ends_with(".json") {
                continue;
            }
            if name.starts_with(BENCH_PREFIX) {
                r.bench.push(parse(&p)?);
            } else if name.starts_with(OBSERVERS_PREFIX) {
                r.observers.push(parse(&p)?);
            } else {
                return Err(format!("{}: not a record this tool knows", p.display()));
            }
        }
        r.bench.sort_by_key(|b| b.made.sort_key());
        r.observers.sort_by_key(|o| o.made.sort_key());
        Ok(r)
    }

    /// The tables, by marker name.
    pub fn tables(&self) -> Vec<(&'static str, String)> {
        vec![
            ("bench-qemu", bench::table(&self.bench)),
            ("bench-qemu-observers", observers::table(&self.observers)),
        ]
    }
}

/// `readme` with every marked table replaced by its rendering; an error if
/// a marker is missing or out of order.
pub fn render(readme: &str, tables: &[(&str, String)]) -> Result<String, String> {
    let mut out = readme.to_string();
    for (name, table) in tables {
        let open = format!("<!-- figures:{name} -->\n");
        let close = format!("<!-- /figures:{name} -->");
        let a = out
            .find(&open)
            .ok_or(format!("README: no line \"{}\"", open.trim_end()))?
            + open.len();
        let b = out[a..].find(&close).ok_or(format!(
            "README: no line \"{close}\" after \"{}\"",
            open.trim_end()
        ))? + a;
        out.replace_range(a..b, table);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marked_table_is_replaced_and_the_rest_kept() {
        let r = "a\n<!-- figures:t -->\nold\nrows\n<!-- /figures:t -->\nb\n";
        let t = [("t", "| new |\n".to_string())];
        assert_eq!(
            render(r, &t).as_deref(),
            Ok("a\n<!-- figures:t -->\n| new |\n<!-- /figures:t -->\nb\n")
        );
    }

    #[test]
    fn a_missing_marker_is_an_error_naming_it() {
        let t = [("t", String::new())];
        let e = render("<!-- figures:t -->\n", &t).expect_err("no end marker");
        assert!(e.contains("<!-- /figures:t -->"), "{e}");
        let e = render("nothing\n", &t).expect_err("no marker");
        assert!(e.contains("<!-- figures:t -->"), "{e}");
    }

    /// The README's tables are exactly what the recorded figures render to:
    /// a figure changes only with a measurement (`make bench-qemu`, `make
    /// bench-qemu-observers`; then `make readme-figures`).
    #[test]
    fn the_readme_tables_are_the_recorded_figures() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let rec = Records::load(&root.join("docs/figures")).expect("records");
        assert!(!rec.bench.is_empty() && !rec.observers.is_empty());
        let readme = std::fs::read_to_string(root.join("README.md")).expect("README");
        let want = render(&readme, &rec.tables()).expect("markers");
        assert!(
            readme == want,
            "README.md's figure tables differ from docs/figures/*.json: run `make readme-figures`"
        );
    }
}
