//! The guide's sample outputs are what its programs print.
//!
//! The guide (`docs/guide/*.md`) and the README show report output. Each such
//! sample is a ```` ```text ```` block right after a marker line that names the
//! program printing it:
//!
//! - `<!-- sample: cargo run --example NAME -->`: the workspace example `NAME`
//!   (`examples/NAME.rs`);
//! - `<!-- sample: cargo run, with the rust block above as src/main.rs -->`:
//!   the last ```` ```rust ```` block before the marker, as the `src/main.rs` of
//!   a binary crate of its own that depends on `kernsync` by path (the
//!   setting the guide describes, so the `src/main.rs:line:col` sites in the
//!   sample are real). Lines that rustdoc hides (`# ...`) are compiled, as
//!   rustdoc does; the block must have its own `fn main`.
//!
//! The test builds those programs once (one `cargo build --example .. ` for
//! all the examples, one `cargo build` per `src/main.rs` program, in a scratch
//! package under `<target>/guide-samples/` that shares this build's target
//! directory, so nothing of kernsync is rebuilt), runs each once, and checks
//! each sample against what its program wrote to stdout and stderr,
//! interleaved as a terminal shows them.
//!
//! **Matching.** A sample is a sequence of chunks separated by lines that are
//! exactly `...` ("lines omitted here"). Each chunk must appear in the output
//! as consecutive lines, and the chunks in the order of the sample. A sample
//! may start and end anywhere in the output (it can be an excerpt without
//! `...`), but between two lines of a chunk nothing may be missing.
//!
//! **Normalization**, applied to the output and the sample alike, line by
//! line, and nothing else:
//!
//! - trailing whitespace is removed;
//! - the absolute path of this repository, and of the scratch package a
//!   `src/main.rs` program is built in, followed by `/`, is removed, so a
//!   site is written as cargo prints it for a local package
//!   (`examples/abba.rs:26:16`, `src/main.rs:13:29`); line and column
//!   numbers are kept, they are what a sample teaches;
//! - `/rustc/<commit hash>/` becomes `/rustc/<hash>/` (a site in the standard
//!   library depends on the toolchain);
//! - `ThreadId(<number>)` becomes `ThreadId(_)` (reports name threads by
//!   name, `'<unnamed>'` if they have none, so this is a guard for programs
//!   that print ids);
//! - the lines of a `stack backtrace:` section, up to the report's closing
//!   `====` rule, are dropped (a sample shows an omitted backtrace as `...`).
//!
//! Programs run with every `KERNSYNC_*` variable removed from their
//! environment and `RUST_BACKTRACE=0`, so the caller's settings (warn mode,
//! report backtraces, a dump file) cannot change what they print.
//!
//! **Profiles.** Under `cargo test` (debug) the programs are built in debug,
//! with validation on. Under `cargo test --release` validation is compiled out
//! ([`kernsync::lockdep::COMPILED_IN`] is false) and the programs print no
//! reports, so the comparison is skipped with a printed reason; the markers
//! are still parsed and checked. Under `cargo test --release --features
//! kernsync/lockdep` the programs are built the same way and compared.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const EXAMPLE_MARKER: &str = "<!-- sample: cargo run --example ";
const PROGRAM_MARKER: &str = "<!-- sample: cargo run, with the rust block above as src/main.rs -->";
/// How long one program may run before it is killed and the test fails.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Program {
    /// A workspace example, by name.
    Example(String),
    /// A `src/main.rs` of its own; the key is `file-line` of its sample.
    Main { key: String, code: String },
}

#[derive(Debug)]
struct Sample {
    /// `docs/guide/NAME.md:LINE` of the marker.
    at: String,
    /// The Markdown file, and the line number (1-based) of the sample's
    /// first line in it.
    file: String,
    first_line: usize,
    program: Program,
    lines: Vec<String>,
}

/// The Markdown files that may hold samples, relative to the repository.
fn sample_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(Path::new(REPO).join("docs/guide"))
        .expect("docs/guide")
        .map(|e| e.expect("docs/guide entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    files.push(Path::new(REPO).join("README.md"));
    files.sort();
    files
}

/// The code rustdoc compiles for a rust block: `# x` is `x`, `#` alone an
/// empty line, `## x` is `# x`.
fn rustdoc_code(block: &[&str]) -> String {
    let mut code = String::new();
    for line in block {
        let t = line.trim_start();
        let indent = &line[..line.len() - t.len()];
        let compiled = if t == "#" {
            String::new()
        } else if let Some(rest) = t.strip_prefix("##") {
            format!("{indent}#{rest}")
        } else if let Some(rest) = t.strip_prefix("# ") {
            format!("{indent}{rest}")
        } else {
            (*line).to_owned()
        };
        code.push_str(&compiled);
        code.push('\n');
    }
    code
}

/// Every marked sample of one Markdown file. Panics on a malformed marker,
/// and on a report-like `text` block without a marker.
fn parse(rel: &str, text: &str) -> Vec<Sample> {
    let lines: Vec<&str> = text.lines().collect();
    let mut samples = Vec::new();
    let mut last_rust: Option<Vec<&str>> = None;
    let mut pending: Option<(usize, Program)> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let at = format!("{rel}:{}", i + 1);
        if let Some(fence) = line.strip_prefix("```") {
            let end = (i + 1..lines.len())
                .find(|&j| lines[j] == "```")
                .unwrap_or_else(|| panic!("{at}: unclosed code block"));
            let body = &lines[i + 1..end];
            match (fence, pending.take()) {
                ("text", Some((marker_line, program))) => samples.push(Sample {
                    at: format!("{rel}:{}", marker_line + 1),
                    file: rel.to_owned(),
                    first_line: i + 2,
                    program,
                    lines: body.iter().map(|l| (*l).to_owned()).collect(),
                }),
                (_, Some((marker_line, _))) => panic!(
                    "{rel}:{}: a sample marker must be followed by a ```text block",
                    marker_line + 1
                ),
                ("text", None) => assert!(
                    !body
                        .iter()
                        .any(|l| l.contains("*** DEADLOCK ***") || l.starts_with("WARNING: ")),
                    "{at}: this text block shows report output but has no `<!-- sample: .. -->` \
                     marker naming the program that prints it"
                ),
                _ => {}
            }
            if fence == "rust" || fence.starts_with("rust,") {
                last_rust = Some(body.to_vec());
            }
            i = end + 1;
            continue;
        }
        if line.starts_with("<!-- sample:") {
            assert!(pending.is_none(), "{at}: two sample markers in a row");
            let program = if line == PROGRAM_MARKER {
                let block = last_rust
                    .as_deref()
                    .unwrap_or_else(|| panic!("{at}: no rust block above this marker"));
                let code = rustdoc_code(block);
                assert!(
                    code.contains("fn main()"),
                    "{at}: the rust block above has no `fn main()`"
                );
                let key = format!(
                    "{}-{}",
                    rel.rsplit('/').next().unwrap().trim_end_matches(".md"),
                    i + 1
                );
                Program::Main { key, code }
            } else if let Some(name) = line
                .strip_prefix(EXAMPLE_MARKER)
                .and_then(|r| r.strip_suffix(" -->"))
            {
                assert!(
                    Path::new(REPO)
                        .join("examples")
                        .join(format!("{name}.rs"))
                        .is_file(),
                    "{at}: no example `{name}` (examples/{name}.rs)"
                );
                Program::Example(name.to_owned())
            } else {
                panic!("{at}: unknown sample marker; write `{EXAMPLE_MARKER}NAME -->` or `{PROGRAM_MARKER}`")
            };
            pending = Some((i, program));
        } else if pending.is_some() && !line.trim().is_empty() {
            panic!("{at}: a sample marker must be followed by a ```text block");
        }
        i += 1;
    }
    assert!(
        pending.is_none(),
        "{rel}: a sample marker at the end of the file"
    );
    samples
}

fn all_samples() -> Vec<Sample> {
    let mut samples = Vec::new();
    for path in sample_files() {
        let rel = path
            .strip_prefix(REPO)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
        samples.extend(parse(&rel, &text));
    }
    samples
}

/// The normalization described in the module documentation, for a whole
/// text; `roots` are the absolute directories whose `dir/` prefix goes.
fn normalize(text: &str, roots: &[&Path]) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_backtrace = false;
    for line in text.lines() {
        let mut line = line.trim_end().to_owned();
        if in_backtrace {
            if !line.starts_with("====") {
                continue;
            }
            in_backtrace = false;
        } else if line == "stack backtrace:" {
            in_backtrace = true;
            continue;
        }
        for root in roots {
            line = line.replace(&format!("{}/", root.display()), "");
        }
        line = replace_runs(
            &line,
            "/rustc/",
            '/',
            |s| s.chars().all(|c| c.is_ascii_hexdigit()),
            "<hash>",
        );
        line = replace_runs(
            &line,
            "ThreadId(",
            ')',
            |s| s.chars().all(|c| c.is_ascii_digit()),
            "_",
        );
        out.push(line);
    }
    out
}

/// Replaces `s` in every `{prefix}{s}{end}` of `line` for which `ok(s)`.
fn replace_runs(
    line: &str,
    prefix: &str,
    end: char,
    ok: impl Fn(&str) -> bool,
    with: &str,
) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(p) = rest.find(prefix) {
        let (before, after) = rest.split_at(p + prefix.len());
        out.push_str(before);
        match after.find(end) {
            Some(e) if e > 0 && ok(&after[..e]) => {
                out.push_str(with);
                rest = &after[e..];
            }
            _ => rest = after,
        }
    }
    out.push_str(rest);
    out
}

/// Checks `sample` against `output` (both normalized): the chunks between
/// `...` lines appear in order, each as consecutive lines. On a mismatch,
/// returns the index of the sample line that could not be found, and where
/// the nearest candidate stopped matching.
fn check(sample: &[String], output: &[String]) -> Result<(), (usize, String)> {
    let mut from = 0;
    let mut chunk_start = 0;
    for chunk in sample.split(|l| l == "...") {
        let first_line = chunk_start;
        chunk_start += chunk.len() + 1;
        if chunk.is_empty() {
            continue;
        }
        let fits = |at: usize| {
            chunk
                .iter()
                .zip(&output[at..])
                .take_while(|(s, o)| s == o)
                .count()
        };
        if let Some(at) = (from..output.len()).find(|&at| fits(at) == chunk.len()) {
            from = at + chunk.len();
            continue;
        }
        // The nearest candidate: the start matching the longest prefix.
        let best = (from..output.len()).max_by_key(|&at| (fits(at), std::cmp::Reverse(at)));
        let mut msg = String::new();
        match best.map(|at| (at, fits(at))) {
            Some((at, n)) if n > 0 => {
                let _ = write!(
                    msg,
                    "this sample line is not in the output, where the {n} sample line(s) before it \
                     match output lines {}..={}:\n  sample: {:?}\n  output: {:?}",
                    at + 1,
                    at + n,
                    chunk[n],
                    output.get(at + n).map_or("<end of output>", String::as_str),
                );
                return Err((first_line + n, msg));
            }
            _ => {
                let _ = write!(
                    msg,
                    "this sample line is not in the output (after output line {from}): {:?}",
                    chunk[0]
                );
                return Err((first_line, msg));
            }
        }
    }
    Ok(())
}

/// `cargo build` with `args`; returns the executables it reports, by target
/// name.
fn cargo_build(dir: &Path, args: &[&str], target_dir: &Path) -> BTreeMap<String, PathBuf> {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(dir)
        .arg("build")
        .args(args)
        .arg("--message-format=json-render-diagnostics")
        .arg("--target-dir")
        .arg(target_dir);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let out = cmd.output().expect("running cargo");
    assert!(
        out.status.success(),
        "cargo build {args:?} in {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut exes = BTreeMap::new();
    for msg in String::from_utf8_lossy(&out.stdout).lines() {
        // A compiler-artifact message with an executable: pick the target
        // name and the path out of the JSON without a JSON parser (neither
        // contains a quote).
        let (Some(name), Some(exe)) = (
            json_str(msg, r#""target":{"#, r#""name":""#),
            json_str(msg, "", r#""executable":""#),
        ) else {
            continue;
        };
        exes.insert(name, PathBuf::from(exe));
    }
    exes
}

/// The string value after `key`, searched after `within` (if not empty).
fn json_str(msg: &str, within: &str, key: &str) -> Option<String> {
    let from = if within.is_empty() {
        0
    } else {
        msg.find(within)?
    };
    let start = from + msg[from..].find(key)? + key.len();
    let len = msg[start..].find('"')?;
    Some(msg[start..start + len].to_owned())
}

/// Runs `exe` in `dir` and returns what it wrote to stdout and stderr, in
/// the order written.
fn run(exe: &Path, dir: &Path) -> String {
    let (mut reader, writer) = std::io::pipe().expect("pipe");
    let mut cmd = Command::new(exe);
    cmd.current_dir(dir)
        .stdin(Stdio::null())
        .stdout(writer.try_clone().expect("pipe"))
        .stderr(writer)
        .env("RUST_BACKTRACE", "0");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("KERNSYNC_") {
            cmd.env_remove(key);
        }
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("running {}: {e}", exe.display()));
    drop(cmd); // our copies of the pipe's write end: the read below ends with the child
    let collector = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).map(|_| bytes)
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the program") {
            break status;
        }
        if started.elapsed() > RUN_TIMEOUT {
            let _ = child.kill();
            panic!("{} ran for more than {RUN_TIMEOUT:?}", exe.display());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let output = String::from_utf8_lossy(&collector.join().unwrap().expect("reading the output"))
        .into_owned();
    assert!(
        status.success(),
        "{} exited with {status}; it printed:\n{output}",
        exe.display()
    );
    output
}

/// The scratch package of a `src/main.rs` program, written if it changed
/// (so an unchanged program is not rebuilt).
fn scratch_package(dir: &Path, key: &str, code: &str, lockdep_feature: bool) {
    std::fs::create_dir_all(dir.join("src")).expect("scratch package");
    let features = if lockdep_feature {
        r#", features = ["lockdep"]"#
    } else {
        ""
    };
    let manifest = format!(
        "[package]\nname = \"guide-sample-{key}\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n\
         [dependencies]\nkernsync = {{ path = {REPO:?}{features} }}\n\n[workspace]\n"
    );
    let lock = std::fs::read_to_string(Path::new(REPO).join("Cargo.lock")).expect("Cargo.lock");
    for (file, content) in [
        ("Cargo.toml", manifest.as_str()),
        ("Cargo.lock", lock.as_str()),
        ("src/main.rs", code),
    ] {
        let path = dir.join(file);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(content) {
            std::fs::write(&path, content).expect("scratch package file");
        }
    }
}

#[test]
fn guide_samples_are_what_their_programs_print() {
    let samples = all_samples();
    assert!(!samples.is_empty(), "no marked samples found in the guide");

    if !kernsync::lockdep::COMPILED_IN {
        for s in &samples {
            println!("skipped {}: validation is compiled out of this build, so its program prints no reports", s.at);
        }
        return;
    }
    // The build this test belongs to, and so the programs: debug, or
    // release with the `lockdep` feature.
    let lockdep_feature = !cfg!(debug_assertions);
    let exe = std::env::current_exe().expect("current_exe");
    // <target>/<profile>/deps/guide_samples-<hash>
    let target_dir = exe
        .ancestors()
        .nth(3)
        .expect("the target directory")
        .to_path_buf();

    let mut programs: BTreeMap<Program, PathBuf> = BTreeMap::new();
    let mut example_args = Vec::new();
    for s in &samples {
        if let Program::Example(name) = &s.program {
            if !example_args.contains(&name.as_str()) {
                example_args.extend(["--example", name.as_str()]);
            }
        }
    }
    if lockdep_feature {
        example_args.extend(["--features", "lockdep"]);
    }
    let examples = cargo_build(Path::new(REPO), &example_args, &target_dir);
    let scratch_root = target_dir.join("guide-samples");
    let mut dirs: BTreeMap<Program, PathBuf> = BTreeMap::new();
    for s in &samples {
        match &s.program {
            Program::Example(name) => {
                let exe = examples
                    .get(name)
                    .unwrap_or_else(|| panic!("cargo built no example `{name}`"));
                programs.insert(s.program.clone(), exe.clone());
                dirs.insert(s.program.clone(), PathBuf::from(REPO));
            }
            Program::Main { key, code } => {
                let dir = scratch_root.join(key);
                scratch_package(&dir, key, code, lockdep_feature);
                let built = cargo_build(&dir, &[], &target_dir);
                let exe = built
                    .get(&format!("guide-sample-{key}"))
                    .unwrap_or_else(|| panic!("cargo built no program for {}", s.at));
                programs.insert(s.program.clone(), exe.clone());
                dirs.insert(s.program.clone(), dir);
            }
        }
    }

    let mut outputs: BTreeMap<&Program, Vec<String>> = BTreeMap::new();
    let mut failures = Vec::new();
    for s in &samples {
        let dir = &dirs[&s.program];
        let output = outputs.entry(&s.program).or_insert_with(|| {
            normalize(&run(&programs[&s.program], dir), &[Path::new(REPO), dir])
        });
        let sample = normalize(&s.lines.join("\n"), &[Path::new(REPO), dir]);
        match check(&sample, output) {
            Ok(()) => println!("ok {}", s.at),
            Err((index, why)) => failures.push(format!(
                "{}:{} (the sample marked at {}, {}): {why}\n--- the program's output, normalized:\n{}\n---",
                s.file,
                s.first_line + index,
                s.at,
                match &s.program {
                    Program::Example(name) => format!("cargo run --example {name}"),
                    Program::Main { .. } => "the rust block above, as src/main.rs".to_owned(),
                },
                output.join("\n")
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} sample(s) differ from what their programs print:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn matching_is_chunks_in_order_each_consecutive() {
    let lines = |s: &str| s.lines().map(str::to_owned).collect::<Vec<_>>();
    let output = lines("a\nb\nc\nd\ne");
    assert!(check(&lines("b\nc"), &output).is_ok());
    assert!(check(&lines("a\n...\nd\ne"), &output).is_ok());
    assert!(check(&lines("...\ne"), &output).is_ok());
    assert!(
        check(&lines("a\nc"), &output).is_err(),
        "lines of a chunk are consecutive"
    );
    assert!(
        check(&lines("d\n...\nb"), &output).is_err(),
        "chunks are in order"
    );
    assert_eq!(check(&lines("b\nx"), &output).unwrap_err().0, 1);
    assert_eq!(check(&lines("a\n...\nd\nx"), &output).unwrap_err().0, 3);
}

#[test]
fn normalization() {
    let root = Path::new("/home/u/kernsync");
    let out = normalize(
        "at /home/u/kernsync/src/main.rs:3:9  \nThreadId(17) in /rustc/0123abcd/library/std/src/thread.rs\nstack backtrace:\n  0: f\n====\n",
        &[root],
    );
    assert_eq!(
        out,
        [
            "at src/main.rs:3:9",
            "ThreadId(_) in /rustc/<hash>/library/std/src/thread.rs",
            "===="
        ]
    );
}
