//! `KERNSYNC_LOCKDEP=warn` under `cargo test`: a report raised by a test that
//! passes must still be seen. libtest captures what a passing test prints
//! through `eprint!` and throws it away, so warn mode writes to the
//! process's stderr itself. The child is this test binary run again with
//! libtest's capture on (no `--nocapture`), as `cargo test` runs it.
#![cfg(any(debug_assertions, feature = "lockdep"))]

use kernsync_lockdep::{LockClass, LockMap, Mode};
use std::process::Command;

const CHILD: &str = "KERNSYNC_WARN_CHILD";

#[test]
fn a_warning_in_a_passing_test_reaches_stderr() {
    if std::env::var_os(CHILD).is_some() {
        // The child: an inversion, reported and passed over.
        let a = LockMap::new(LockClass::leak("warn.a"));
        let b = LockMap::new(LockClass::leak("warn.b"));
        for (x, y) in [(&a, &b), (&b, &a)] {
            let hx = x.acquire(Mode::Write);
            let hy = y.acquire(Mode::Write);
            y.release(hy);
            x.release(hx);
        }
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["a_warning_in_a_passing_test_reaches_stderr", "--exact"])
        .env(CHILD, "1")
        .env("KERNSYNC_LOCKDEP", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the child passes: {stdout}\n{stderr}");
    assert!(
        stdout.contains("1 passed"),
        "libtest ran it captured: {stdout}"
    );
    assert!(
        stderr.contains("possible circular locking dependency detected"),
        "the report is on stderr although the test passed:\n{stderr}"
    );
    assert!(
        stderr.contains("warn.a") && stderr.contains("warn.b"),
        "{stderr}"
    );
}
