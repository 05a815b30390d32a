//! Extracts parking_lot 0.13.0's own tests from its registry source (the
//! pinned dev-dependency `upstream`) into OUT_DIR, rewritten to run against
//! the shim. Nothing of upstream is committed.
//!
//! Strict: every pattern this script expects (a `mod tests` block, each
//! rewritten path, each excluded test, the list of `tests/*.rs`) must be
//! found exactly as expected, or the build fails, so a change upstream
//! cannot silently drop tests.
//!
//! The source is looked up in `$PARKING_LOT_013_SRC` if set, else in
//! `$CARGO_HOME/registry/src/*/parking_lot-0.13.0` (CARGO_HOME defaulting to
//! `~/.cargo`).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

/// A rewrite: (pattern, replacement, how many times it must occur).
type Rewrite = (&'static str, &'static str, usize);

/// The `src/*.rs` files whose tests run here, their `#[cfg(test)]` modules
/// (which must be all the file has), and the rewrites each needs beyond
/// `crate::` → `parking_lot::`.
const SOURCES: &[(&str, &[&str], &[Rewrite])] = &[
    ("mutex", &["tests"], &[]),
    ("fair_mutex", &["tests"], &[]),
    ("rwlock", &["tests"], &[]),
    ("recursive_rwlock", &["tests"], &[]),
    ("remutex", &["tests"], &[]),
    // Also WebKit's queue test, a module of its own.
    ("condvar", &["tests", "webkit_queue_test"], &[]),
    // The only `super::` use is the private state bit that the two excluded
    // `Once` tests read.
    (
        "once",
        &["tests"],
        &[("    use super::PARKED_BIT;\n", "", 1)],
    ),
    // lib.rs has one test, outside any module.
    ("lib", &[], &[]),
];

/// Excluded tests: (file, test name, why). Keep README.md's table in step.
const EXCLUDED: &[(&str, &str, &str)] = &[
    (
        "once",
        "wait_for_initialization",
        "reads `Once`'s private state word (`once.0`, `PARKED_BIT`) to see a waiter park",
    ),
    (
        "once",
        "wait_force_ignores_poison",
        "reads `Once`'s private state word (`once.0`, `PARKED_BIT`) to see a waiter park",
    ),
];

/// Tests that take a lock in an order the validator rightly reports, run on
/// their own (target `upstream_warn`, `test = false`) with
/// `KERNSYNC_LOCKDEP=warn`, so they still run while the report is printed
/// instead of failing them: (file, test name, the report).
const WARN: &[(&str, &str, &str)] = &[(
    "rwlock",
    "smoke",
    "`drop((l.read(), l.read()))` reads a task-fair RwLock twice on one thread: \
     a writer queued between the two reads deadlocks it (possible recursive locking)",
)];

/// Upstream's `tests/*.rs`, each included by `tests/upstream_<name>.rs`.
const TEST_FILES: &[&str] = &["issue_203", "issue_392"];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PARKING_LOT_013_SRC");
    println!("cargo:rerun-if-env-changed=CARGO_HOME");
    let src = locate();
    println!("cargo:rerun-if-changed={}", src.display());
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());

    for (file, mods, rewrites) in SOURCES {
        let path = src.join("src").join(format!("{file}.rs"));
        let text = read(&path);
        let block = if *file == "lib" {
            lib_test(&text, &path)
        } else {
            if text.matches("#[cfg(test)]").count() != mods.len() {
                fail(
                    &path,
                    &format!("expected exactly the test modules {mods:?}"),
                );
            }
            mods.iter().map(|m| test_module(&text, m, &path)).collect()
        };
        let mut block = rewrite_paths(&block, &path);
        for (from, to, count) in *rewrites {
            block = replace_exactly(&block, from, to, *count, &path);
        }
        for (f, name, _why) in EXCLUDED {
            if f == file {
                block = remove_test(&block, name, &path).0;
            }
        }
        let mut warn = String::new();
        for (f, name, _why) in WARN {
            if f == file {
                let (rest, test) = remove_test(&block, name, &path);
                block = rest;
                warn.push_str(&test);
            }
        }
        if !warn.is_empty() {
            // The warn-mode tests, with the block's `use` lines (up to the
            // first item that is not one).
            let head_end = block
                .find("\n\n    #[")
                .unwrap_or_else(|| fail(&path, "no end of the `use` lines"));
            let head = &block[..head_end];
            write(
                &out.join(format!("warn_{file}.rs")),
                &format!("{head}\n{warn}}}\n").replacen(
                    "mod tests {",
                    &format!("mod {file} {{"),
                    1,
                ),
            );
        }
        if block.contains("super::") {
            fail(&path, "a `super::` path is left after the rewrites");
        }
        write(&out.join(format!("src_{file}.rs")), &block);
    }

    let mut found: Vec<String> = fs::read_dir(src.join("tests"))
        .unwrap_or_else(|e| fail(&src.join("tests"), &format!("cannot list: {e}")))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".rs"))
        .map(|n| n.trim_end_matches(".rs").to_owned())
        .collect();
    found.sort();
    if found != TEST_FILES {
        fail(
            &src.join("tests"),
            &format!("upstream's tests/*.rs are {found:?}, expected {TEST_FILES:?}: add a target"),
        );
    }
    for t in TEST_FILES {
        let path = src.join("tests").join(format!("{t}.rs"));
        let text = read(&path);
        if !text.contains("use parking_lot::") {
            fail(&path, "expected it to use `parking_lot::`");
        }
        write(&out.join(format!("tests_{t}.rs")), &text);
    }
}

/// The registry source of parking_lot 0.13.0.
fn locate() -> PathBuf {
    if let Some(dir) = env::var_os("PARKING_LOT_013_SRC") {
        let dir = PathBuf::from(dir);
        if dir.join("src/lib.rs").is_file() {
            return dir;
        }
        panic!("PARKING_LOT_013_SRC={} has no src/lib.rs", dir.display());
    }
    let home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .expect("neither CARGO_HOME nor HOME is set");
    let registry = home.join("registry/src");
    let mut hits: Vec<PathBuf> = fs::read_dir(&registry)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("parking_lot-0.13.0"))
        .filter(|p| p.join("src/lib.rs").is_file())
        .collect();
    hits.sort();
    match hits.pop() {
        Some(dir) => dir,
        None => panic!(
            "parking_lot 0.13.0's source is not in {}/*/parking_lot-0.13.0: \
             run `cargo fetch` in this package (its dev-dependency `upstream` \
             downloads it), or set PARKING_LOT_013_SRC to an unpacked copy",
            registry.display()
        ),
    }
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| fail(path, &format!("cannot read: {e}")))
}

fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| fail(path, &format!("cannot write: {e}")));
}

fn fail(path: &Path, what: &str) -> ! {
    panic!("upstream test extraction, {}: {what}", path.display())
}

/// The `#[cfg(test)] mod NAME { .. }` block (upstream closes it with a `}`
/// in column 0), from the line after `#[cfg(test)]` (other attributes kept).
fn test_module(text: &str, name: &str, path: &Path) -> String {
    let decl = format!("\nmod {name} {{\n");
    if text.matches(&decl).count() != 1 {
        fail(path, &format!("expected exactly one `mod {name} {{`"));
    }
    let decl_at = text.find(&decl).unwrap() + 1;
    let cfg = "#[cfg(test)]\n";
    let start = text[..decl_at]
        .rfind(cfg)
        .map(|i| i + cfg.len())
        .unwrap_or_else(|| fail(path, &format!("`mod {name}` is not under #[cfg(test)]")));
    if text[start..decl_at].lines().any(|l| !l.starts_with("#[")) {
        fail(
            path,
            &format!("unexpected lines between #[cfg(test)] and `mod {name}`"),
        );
    }
    let end = text[decl_at..]
        .find("\n}\n")
        .map(|i| decl_at + i + 3)
        .unwrap_or_else(|| {
            fail(
                path,
                &format!("`mod {name}` has no closing `}}` in column 0"),
            )
        });
    text[start..end].to_owned()
}

/// lib.rs's one test: from its `cfg` to the end of the file, run whenever
/// the package's `send_guard` feature is on.
fn lib_test(text: &str, path: &Path) -> String {
    let pat = "#[cfg(all(test, feature = \"send_guard\"))]\n#[test]\nfn test_send_guards() {\n";
    let start = text.find(pat).unwrap_or_else(|| {
        fail(
            path,
            "expected `test_send_guards` under cfg(all(test, send_guard))",
        )
    });
    let block = text[start..].replacen(
        "#[cfg(all(test, feature = \"send_guard\"))]",
        "#[cfg(feature = \"send_guard\")]",
        1,
    );
    format!("use parking_lot::*;\n{block}")
}

/// `crate::` becomes `parking_lot::` (there must be some).
fn rewrite_paths(block: &str, path: &Path) -> String {
    let n = block.matches("crate::").count();
    if n == 0 && !path.ends_with("lib.rs") {
        fail(path, "expected `crate::` paths in the tests");
    }
    block.replace("crate::", "parking_lot::")
}

fn replace_exactly(block: &str, from: &str, to: &str, count: usize, path: &Path) -> String {
    let n = block.matches(from).count();
    if n != count {
        fail(path, &format!("expected {count} of {from:?}, found {n}"));
    }
    block.replace(from, to)
}

/// Removes `fn name` and the attributes above it, up to its closing `    }`:
/// (the block without it, the test).
fn remove_test(block: &str, name: &str, path: &Path) -> (String, String) {
    let sig = format!("\n    fn {name}() {{\n");
    let Some(fn_at) = block.find(&sig) else {
        fail(path, &format!("excluded test `{name}` not found"));
    };
    // Back over the attribute lines (`    #[..]`) above it.
    let mut start = fn_at + 1;
    loop {
        let prev_end = start - 1;
        let prev_start = block[..prev_end].rfind('\n').map_or(0, |i| i + 1);
        if block[prev_start..prev_end].trim_start().starts_with("#[") {
            start = prev_start;
        } else {
            break;
        }
    }
    let body = fn_at + sig.len();
    let end = block[body..]
        .find("\n    }\n")
        .map(|i| body + i + "\n    }\n".len())
        .unwrap_or_else(|| fail(path, &format!("end of `{name}` not found")));
    if !block[start..fn_at].contains("#[test]") {
        fail(path, &format!("`{name}` is not a #[test]"));
    }
    (
        format!("{}{}", &block[..start], &block[end..]),
        block[start..end].to_owned(),
    )
}
