//! `swap-std-sync`: rewrites a crate's `std::sync` paths to `kernsync::sync`,
//! so a real crate's own test suite runs against kernsync's validated locks
//! (`scripts/real-suites.sh` drives it).
//!
//! Only the Rust toolchain is needed: a small lexer ([`lex`]) tells code from
//! comments and literals, and [`rewrite`] plans the edits of one file, or
//! refuses with the line of what it cannot rewrite safely.

pub mod lex;
pub mod rewrite;

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir` (skipping `target` and hidden directories), sorted.
pub fn rust_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let ty = entry.file_type()?;
            if ty.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    stack.push(path);
                }
            } else if ty.is_file() && name.ends_with(".rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}
