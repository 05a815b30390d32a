//! The graph's files: suppressions read from the allow file, and the graph
//! written to the dump file (`KERNSYNC_LOCKDEP_DUMP`).
//!
//! Both work on the graph the caller has locked (`graph::with`) or lock it
//! themselves; the paths come from the caller (the configuration layer).

use super::graph::{self, Graph, Matcher};
use crate::class::LockClass;
use crate::export::{GraphSnapshot, SuppressionRecord};
use std::path::Path;

/// Allows the order `from -> to` (taking `to` while holding `from`): the
/// dependency is not recorded, so no cycle through it is reported. `reason`
/// says why it is safe; it is kept in the graph dump. Declare it before the
/// locks are used: chains validated earlier stay validated.
pub fn allow_order(from: &'static LockClass, to: &'static LockClass, reason: &str) {
    let reason = reason.to_owned();
    graph::with(|g| g.allow(Matcher::Class(from), Matcher::Class(to), reason));
}

/// Reads suppressions from a file, one per line: `from -> to: reason`, where
/// `from` and `to` are class names, or globs (with `*` or `?`) over a
/// class's defining site's file or its name, for classes in code the user
/// does not own (`*/tokio-1.*/src/** -> db_lock: reason`); blank lines and
/// `#` comments are skipped.
pub(crate) fn load_allow_file(path: &Path) {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!(
                "kernsync-lockdep: cannot read KERNSYNC_LOCKDEP_ALLOW file {}: {e}",
                path.display()
            );
            return;
        }
    };
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match parse_allow_line(line) {
            Some((from, to, reason)) => {
                graph::with(|g| g.allow(Matcher::parse(from), Matcher::parse(to), reason))
            }
            None => eprintln!(
                "kernsync-lockdep: {}:{}: expected `from -> to: reason`, found {line:?}",
                path.display(),
                n + 1
            ),
        }
    }
}

fn parse_allow_line(line: &str) -> Option<(String, String, String)> {
    let (from, rest) = line.split_once("->")?;
    // The reason follows the first colon that ends a word (followed by a
    // space or the end): class names may hold colons (`mm::lock`, the
    // `file.rs:10:5` names of per-site classes).
    let colon = rest
        .char_indices()
        .find(|&(i, c)| c == ':' && rest[i + 1..].chars().next().is_none_or(char::is_whitespace))?
        .0;
    let (to, reason) = (&rest[..colon], &rest[colon + 1..]);
    let (from, to, reason) = (from.trim(), to.trim(), reason.trim());
    if from.is_empty() || to.is_empty() || reason.is_empty() {
        return None;
    }
    Some((from.to_owned(), to.to_owned(), reason.to_owned()))
}

/// The suppressions that have not matched any dependency so far in this
/// process: stale ones to delete (or orders the run never exercised).
pub fn unused_suppressions() -> Vec<SuppressionRecord> {
    graph::with(|g| g.snapshot().suppressions)
        .into_iter()
        .filter(|s| s.hits == 0)
        .collect()
}

/// A snapshot of the dependency graph observed so far in this process.
pub fn graph() -> GraphSnapshot {
    graph::with(|g| g.snapshot())
}

/// Writes the graph to `path` now.
pub(crate) fn dump_to(path: &Path) -> std::io::Result<()> {
    write_file(path, &graph().to_json())
}

/// Rewrites the dump at `path` if the locked graph `g` gained edges since
/// it was last written (the dump follows the graph edge by edge).
pub(crate) fn dump_if_changed(g: &mut Graph, path: Option<&Path>) {
    if g.take_dirty() {
        if let Some(path) = path {
            write_atomically(path, &g.snapshot().to_json());
        }
    }
}

fn write_file(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

fn write_atomically(path: &Path, text: &str) {
    if let Err(e) = write_file(path, text) {
        eprintln!(
            "kernsync-lockdep: cannot write KERNSYNC_LOCKDEP_DUMP file {}: {e}",
            path.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::parse_allow_line;

    #[test]
    fn allow_lines() {
        assert_eq!(
            parse_allow_line("a -> b: reviewed, never concurrent"),
            Some(("a".into(), "b".into(), "reviewed, never concurrent".into()))
        );
        assert_eq!(parse_allow_line("a -> b"), None);
        assert_eq!(parse_allow_line("a b: x"), None);
        assert_eq!(parse_allow_line(" -> b: x"), None);
        // Colons inside class names are not the separator.
        assert_eq!(
            parse_allow_line("mm::lock -> src/a.rs:10:5: taken once at start-up"),
            Some((
                "mm::lock".into(),
                "src/a.rs:10:5".into(),
                "taken once at start-up".into()
            ))
        );
        assert_eq!(parse_allow_line("a -> b:"), None);
    }
}
