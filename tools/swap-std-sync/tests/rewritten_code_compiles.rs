//! The rewrite of a sample holding every supported form compiles, in
//! editions 2015 and 2021, against a stand-in `kernsync` whose `sync::Mutex`
//! is not std's: an import left on std would not type-check.

use std::path::{Path, PathBuf};
use std::process::Command;
use swap_std_sync::rewrite::{add_extern_crate, apply, plan};

const KERNSYNC: &str = "pub mod sync {
    pub use std::sync::*;
    /// Not std's: shadows the glob.
    pub struct Mutex<T>(pub std::sync::Mutex<T>);
    impl<T> Mutex<T> {
        pub fn new(t: T) -> Self { Mutex(std::sync::Mutex::new(t)) }
    }
}
";

const SAMPLE: &str = r#"#![allow(unused_imports, dead_code)]
//! A crate using std::sync in every way the tool rewrites.

use std::{fmt, sync::{Arc, Mutex}, thread};
use ::std::sync::atomic::{AtomicUsize, Ordering};
#[cfg(all())]
pub use std::{collections::HashMap, sync::mpsc::channel as chan};

fn is_kernsync<T>(_: &kernsync::sync::Mutex<T>) {}

mod m {
    use std::{
        io,
        sync::{self, RwLock},
    };
    pub fn f() -> sync::Arc<RwLock<u8>> {
        sync::Arc::new(RwLock::new(1))
    }
    pub fn g() -> sync::Mutex<u8> {
        super::is_kernsync(&sync::Mutex::new(0u8));
        sync::Mutex::new(0)
    }
}

macro_rules! make {
    () => {
        std::sync::Mutex::new(0u8)
    };
}

fn condvar() -> ::std::sync::Condvar {
    // "std::sync::Mutex" in a comment and a string stays.
    let _ = "std::sync::Mutex";
    std::sync::Condvar::new()
}

pub fn run() -> usize {
    let m = Arc::new(Mutex::new(1));
    is_kernsync(&*m);
    is_kernsync(&make!());
    is_kernsync(&m::g());
    let (tx, rx) = chan::<u8>();
    let t = thread::spawn(move || tx.send(1).unwrap());
    t.join().unwrap();
    let n = AtomicUsize::new(rx.recv().unwrap() as usize);
    let _ = condvar();
    let _ = m::f();
    let _: HashMap<u8, u8> = HashMap::new();
    let _ = fmt::format(format_args!("x"));
    n.load(Ordering::SeqCst)
}
"#;

fn tmp(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rustc(args: &[&str]) {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc).args(args).output().expect("rustc runs");
    assert!(
        out.status.success(),
        "rustc {args:?}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn compiles(edition: &str) {
    let dir = tmp(&format!("compiles-{edition}"));
    let d = dir.to_str().unwrap();
    std::fs::write(dir.join("kernsync.rs"), KERNSYNC).unwrap();
    let rlib = format!("{d}/libkernsync.rlib");
    rustc(&[
        "--edition",
        edition,
        "--crate-type",
        "rlib",
        "--crate-name",
        "kernsync",
        "-o",
        &rlib,
        &format!("{d}/kernsync.rs"),
    ]);

    let edits = plan(SAMPLE).unwrap();
    let mut out = apply(SAMPLE, &edits);
    assert!(!out.contains("use std::{fmt, sync"), "{out}");
    if edition == "2015" {
        out = add_extern_crate(&out).unwrap();
    }
    std::fs::write(dir.join("sample.rs"), &out).unwrap();
    let extern_arg = format!("kernsync={rlib}");
    rustc(&[
        "--edition",
        edition,
        "--crate-type",
        "lib",
        "--crate-name",
        "sample",
        "--extern",
        &extern_arg,
        "--out-dir",
        d,
        &format!("{d}/sample.rs"),
    ]);
}

#[test]
fn in_edition_2021() {
    compiles("2021");
}

#[test]
fn in_edition_2015_with_extern_crate() {
    compiles("2015");
}

#[test]
fn the_sample_does_not_compile_unrewritten() {
    // The check above can fail: std's Mutex is not the stand-in's.
    let dir = tmp("unrewritten");
    let d = dir.to_str().unwrap();
    std::fs::write(dir.join("kernsync.rs"), KERNSYNC).unwrap();
    let rlib = format!("{d}/libkernsync.rlib");
    rustc(&[
        "--edition",
        "2021",
        "--crate-type",
        "rlib",
        "--crate-name",
        "kernsync",
        "-o",
        &rlib,
        &format!("{d}/kernsync.rs"),
    ]);
    std::fs::write(dir.join("sample.rs"), SAMPLE).unwrap();
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let status = Command::new(rustc)
        .args([
            "--edition",
            "2021",
            "--crate-type",
            "lib",
            "--crate-name",
            "sample",
            "--extern",
        ])
        .arg(format!("kernsync={rlib}"))
        .args(["--out-dir", d, &format!("{d}/sample.rs")])
        .output()
        .unwrap()
        .status;
    assert!(!status.success());
}
