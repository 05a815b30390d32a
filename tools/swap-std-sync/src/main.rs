//! `swap-std-sync`: see the crate docs (`src/lib.rs`) and `usage()`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use swap_std_sync::rewrite::{add_extern_crate, apply, count_kernsync_sync, plan};
use swap_std_sync::rust_files;

fn usage() -> &'static str {
    "usage:\n  \
     swap-std-sync <dir>                   rewrite std::sync paths to kernsync::sync in every .rs file under <dir>\n  \
     swap-std-sync --check <dir>           fail unless no std::sync path is left and some kernsync::sync path is there\n  \
     swap-std-sync --extern-crate <file>.. add `extern crate kernsync;` to edition-2015 crate roots"
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["--check", dir] => check(Path::new(dir)),
        ["--extern-crate", files @ ..] if !files.is_empty() => extern_crate(files),
        [dir] if !dir.starts_with('-') => swap(Path::new(dir)),
        _ => Err(usage().to_owned()),
    };
    match result {
        Ok(summary) => {
            println!("swap-std-sync: {summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("swap-std-sync: {e}");
            ExitCode::FAILURE
        }
    }
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let files = rust_files(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if files.is_empty() {
        return Err(format!("{}: no .rs files", dir.display()));
    }
    Ok(files)
}

/// Rewrites every file, or none: all files are planned before any is written.
fn swap(dir: &Path) -> Result<String, String> {
    let mut planned = Vec::new();
    let mut problems = Vec::new();
    for path in files(dir)? {
        let src = read(&path)?;
        match plan(&src) {
            Ok(edits) if edits.is_empty() => {}
            Ok(edits) => planned.push((path, src, edits)),
            Err(ps) => problems.extend(
                ps.into_iter()
                    .map(|p| format!("{}:{}: {}", path.display(), p.line, p.message)),
            ),
        }
    }
    if !problems.is_empty() {
        return Err(format!(
            "cannot rewrite safely (nothing written):\n{}",
            problems.join("\n")
        ));
    }
    let (mut paths, file_count) = (0, planned.len());
    for (path, src, edits) in planned {
        let out = apply(&src, &edits);
        // The result must plan no further edit: no std::sync path is left.
        match plan(&out) {
            Ok(again) if again.is_empty() => {}
            _ => {
                return Err(format!(
                    "{}: internal error: the rewrite left a std::sync path",
                    path.display()
                ))
            }
        }
        paths += edits.len();
        std::fs::write(&path, out).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(format!(
        "{paths} edits in {file_count} files under {}",
        dir.display()
    ))
}

fn check(dir: &Path) -> Result<String, String> {
    let (mut left, mut swapped) = (Vec::new(), 0);
    for path in files(dir)? {
        let src = read(&path)?;
        swapped += count_kernsync_sync(&src);
        match plan(&src) {
            Ok(edits) => left.extend(edits.iter().map(|e| {
                let line = src[..e.start].matches('\n').count() + 1;
                format!("{}:{line}: std::sync path left", path.display())
            })),
            Err(ps) => left.extend(
                ps.into_iter()
                    .map(|p| format!("{}:{}: {}", path.display(), p.line, p.message)),
            ),
        }
    }
    if !left.is_empty() {
        return Err(format!(
            "std::sync paths left under {}:\n{}",
            dir.display(),
            left.join("\n")
        ));
    }
    if swapped == 0 {
        return Err(format!(
            "no kernsync::sync path under {}: nothing was swapped",
            dir.display()
        ));
    }
    Ok(format!(
        "{swapped} kernsync::sync paths and no std::sync path under {}",
        dir.display()
    ))
}

fn extern_crate(files: &[&str]) -> Result<String, String> {
    for file in files {
        let path = Path::new(file);
        let src = read(path)?;
        if src.contains("extern crate kernsync;") {
            continue;
        }
        let out =
            add_extern_crate(&src).map_err(|p| format!("{file}:{}: {}", p.line, p.message))?;
        std::fs::write(path, out).map_err(|e| format!("{file}: {e}"))?;
    }
    Ok(format!(
        "`extern crate kernsync;` in {} crate roots",
        files.len()
    ))
}
