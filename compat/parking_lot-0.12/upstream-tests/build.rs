//! Extracts parking_lot 0.12.5's own tests from its registry source into
//! OUT_DIR, rewritten to test the shim. Strict by design: every pattern the
//! extraction relies on must be found exactly as expected, and every
//! exclusion must name a test that exists and be listed in the shim's
//! README, or the build fails, so a different upstream source can never
//! drop tests silently.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

/// The upstream release the tests come from (the dev-dependency's pin).
const UPSTREAM: &str = "parking_lot-0.12.5";

/// Upstream `src/` modules whose test modules are extracted, each with the
/// names of the test modules it must have.
const MODULES: &[(&str, &[&str])] = &[
    ("mutex", &["tests"]),
    ("rwlock", &["tests"]),
    ("condvar", &["tests", "webkit_queue_test"]),
    ("once", &["tests"]),
    ("remutex", &["tests"]),
    ("fair_mutex", &["tests"]),
];

/// Upstream `tests/*.rs`, all of them: a file added upstream fails the build
/// until it is listed here and given a `tests/upstream_*.rs` includer.
const TEST_FILES: &[&str] = &["issue_203", "issue_392"];

/// How an excluded test is kept out.
enum How {
    /// Removed: it does not compile against the shim.
    Removed,
    /// Kept, marked `#[ignore = reason]` (`cargo test -- --ignored` runs it).
    Ignored,
}

/// Excluded tests: (module, test fn, how, reason). Each must exist upstream
/// and be named in the shim's README.
const EXCLUDED: &[(&str, &str, How, &str)] = &[
    (
        "rwlock",
        "smoke",
        How::Ignored,
        "takes two plain reads of one RwLock on one thread, which parking_lot documents can \
         deadlock if a writer queues between them: the validator reports possible recursive \
         locking (a true report)",
    ),
    (
        "condvar",
        "wait_while_until_internal_does_not_wait_if_initially_false",
        How::Removed,
        "calls parking_lot's private `Condvar::wait_while_until_internal`",
    ),
    (
        "condvar",
        "wait_while_until_internal_times_out_before_false",
        How::Removed,
        "calls parking_lot's private `Condvar::wait_while_until_internal`",
    ),
    (
        "condvar",
        "wait_while_until_internal",
        How::Removed,
        "calls parking_lot's private `Condvar::wait_while_until_internal`",
    ),
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../README.md");
    println!("cargo:rerun-if-env-changed=PARKING_LOT_012_SRC");
    println!("cargo:rerun-if-env-changed=CARGO_HOME");
    let src = upstream_source();
    println!("cargo:rerun-if-changed={}", src.display());
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let readme = read(Path::new("../README.md"));
    for (_, name, _, _) in EXCLUDED {
        if !readme.contains(&format!("`{name}`")) {
            fail(&format!(
                "excluded upstream test `{name}` is not listed in compat/parking_lot-0.12/README.md"
            ));
        }
    }

    for (module, test_mods) in MODULES {
        let text = read(&src.join("src").join(format!("{module}.rs")));
        let mut extracted = String::new();
        for test_mod in *test_mods {
            let block = test_module(&text, module, test_mod);
            extracted.push_str(&rewrite(&block, module));
            extracted.push('\n');
        }
        for (m, name, how, reason) in EXCLUDED {
            if m == module {
                extracted = exclude(&extracted, module, name, how, reason);
            }
        }
        write(&out.join(format!("src_{module}.rs")), &extracted);
    }

    let mut found: Vec<String> = fs::read_dir(src.join("tests"))
        .unwrap_or_else(|e| fail(&format!("reading {}/tests: {e}", src.display())))
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".rs").map(str::to_owned)
        })
        .collect();
    found.sort();
    let mut expected: Vec<String> = TEST_FILES.iter().map(|s| s.to_string()).collect();
    expected.sort();
    if found != expected {
        fail(&format!(
            "upstream tests/*.rs are {found:?}, build.rs expects {expected:?}: list the new \
             files in TEST_FILES and add a tests/upstream_*.rs for each"
        ));
    }
    for name in TEST_FILES {
        let text = read(&src.join("tests").join(format!("{name}.rs")));
        if text.contains("crate::") || text.contains("super::") || !text.contains("parking_lot::") {
            fail(&format!(
                "upstream tests/{name}.rs no longer uses only `parking_lot::` paths"
            ));
        }
        write(&out.join(format!("tests_{name}.rs")), &text);
    }
}

/// The upstream source: `$PARKING_LOT_012_SRC`, or the registry's copy
/// under `$CARGO_HOME` (default `~/.cargo`), which cargo extracts for the
/// `upstream` dev-dependency.
fn upstream_source() -> PathBuf {
    if let Some(dir) = env::var_os("PARKING_LOT_012_SRC") {
        let dir = PathBuf::from(dir);
        if dir.join("src/lib.rs").is_file() {
            return dir;
        }
        fail(&format!(
            "PARKING_LOT_012_SRC={} has no src/lib.rs",
            dir.display()
        ));
    }
    let home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(
                env::var_os("HOME").unwrap_or_else(|| fail("neither CARGO_HOME nor HOME is set")),
            )
            .join(".cargo")
        });
    let registry = home.join("registry").join("src");
    let mut candidates: Vec<PathBuf> = fs::read_dir(&registry)
        .into_iter()
        .flatten()
        .filter_map(|e| Some(e.ok()?.path().join(UPSTREAM)))
        .filter(|p| p.join("src/lib.rs").is_file())
        .collect();
    candidates.sort();
    candidates.into_iter().next().unwrap_or_else(|| {
        fail(&format!(
            "{UPSTREAM}'s source is not under {}/*/: it is downloaded for the `upstream` \
             dev-dependency by `cargo test` or `cargo fetch` in compat/parking_lot-0.12/upstream-tests \
             (or set PARKING_LOT_012_SRC to an unpacked parking_lot 0.12.5)",
            registry.display()
        ))
    })
}

/// The text of `#[cfg(test)]\nmod NAME {` ... the `}` that closes it at
/// column 0.
fn test_module(text: &str, module: &str, name: &str) -> String {
    let start_pat = format!("#[cfg(test)]\nmod {name} {{\n");
    let mut starts = text.match_indices(&start_pat);
    let start = match (starts.next(), starts.next()) {
        (Some((i, _)), None) => i,
        _ => fail(&format!(
            "src/{module}.rs: expected exactly one `#[cfg(test)] mod {name} {{`"
        )),
    };
    let body = &text[start..];
    let end = body.find("\n}\n").unwrap_or_else(|| {
        fail(&format!(
            "src/{module}.rs: `mod {name}` is not closed at column 0"
        ))
    });
    body[..end + 3].to_owned()
}

/// `crate::` paths to `parking_lot::` (the shim). Each test module opens
/// with `use crate::...`, which must be there; after the rewrite no
/// `crate::` or `super::` may remain.
fn rewrite(block: &str, module: &str) -> String {
    if !block.contains("\n    use crate::") {
        fail(&format!(
            "src/{module}.rs: a test module no longer opens with `use crate::`"
        ));
    }
    let out = block.replace("crate::", "parking_lot::");
    if out.contains("super::") || out.contains("self::") {
        fail(&format!(
            "src/{module}.rs: a test module uses `super::`/`self::` paths"
        ));
    }
    out
}

/// Removes or ignores test `name`: the `#[test]` line right above
/// `fn name(`, and for `Removed` the function up to its closing `    }`.
fn exclude(text: &str, module: &str, name: &str, how: &How, reason: &str) -> String {
    let pat = format!("    #[test]\n    fn {name}() {{\n");
    let mut hits = text.match_indices(&pat);
    let start = match (hits.next(), hits.next()) {
        (Some((i, _)), None) => i,
        _ => fail(&format!(
            "excluded test `{name}` not found exactly once in src/{module}.rs's tests"
        )),
    };
    match how {
        How::Ignored => {
            let marked = format!("    #[test]\n    #[ignore = {reason:?}]\n    fn {name}() {{\n");
            format!("{}{}{}", &text[..start], marked, &text[start + pat.len()..])
        }
        How::Removed => {
            let rest = &text[start..];
            let end = rest
                .find("\n    }\n")
                .unwrap_or_else(|| fail(&format!("excluded test `{name}`: no closing `    }}`")));
            let note = format!("    // excluded: `{name}`: {reason}\n");
            format!("{}{}{}", &text[..start], note, &rest[end + 7..])
        }
    }
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| fail(&format!("reading {}: {e}", path.display())))
}

fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| fail(&format!("writing {}: {e}", path.display())));
}

fn fail(msg: &str) -> ! {
    eprintln!("error: parking_lot 0.12 upstream tests: {msg}");
    panic!("{msg}");
}
