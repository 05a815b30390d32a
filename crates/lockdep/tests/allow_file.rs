//! Suppressions from the file named by `KERNSYNC_LOCKDEP_ALLOW`, one per
//! line `from -> to: reason` (blank lines and `#` comments skipped): a listed
//! order is suppressed, a listed order never taken is reported by
//! `unused_suppressions`, and a malformed line is skipped with a diagnostic
//! on stderr naming the file and line (it is not a report).
//!
//! The file is read once, at the validator's first use, so the variable is
//! set first thing in the only test. The diagnostics go to the process's
//! stderr, which the test harness captures, so the test runs itself again
//! as a child process to read them.
#![cfg(any(debug_assertions, feature = "lockdep"))]

use kernsync_lockdep::export::SuppressionRecord;
use kernsync_lockdep::{
    capture, graph, is_enabled, unused_suppressions, LockClass, LockMap, Mode, Report, ReportKind,
};
use std::path::{Path, PathBuf};
use std::process::Command;

const TEST_NAME: &str = "allow_file_suppresses_listed_orders_and_reports_bad_lines";
/// Set in the child run, which only loads the file and exits.
const CHILD: &str = "KERNSYNC_TEST_ALLOW_FILE_CHILD";

/// Removes the allow file when the test ends, however it ends.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn pair(outer: &LockMap, inner: &LockMap) {
    let ho = outer.acquire(Mode::Write);
    let hi = inner.acquire(Mode::Write);
    inner.release(hi);
    outer.release(ho);
}

fn kinds(reports: &[Report]) -> Vec<ReportKind> {
    reports.iter().map(Report::kind).collect()
}

/// The allow file, with the class-name suffix `tag`. Line numbers matter:
/// the malformed lines are lines 3 and 8.
fn allow_text(tag: &str) -> String {
    format!(
        "# suppressions for the allow_file test\n\
         \n\
         this line is malformed\n\
         af_alpha_{tag} -> af_beta_{tag}: reviewed, only at boot\n\
         \x20  af_gamma_{tag}  ->  af_delta_{tag}  :  never exercised  \n\
         af_eps_{tag} -> af_zeta_{tag}: reviewed: the reason may hold colons\n\
         # af_eta_{tag} -> af_theta_{tag}: commented out\n\
         af_iota_{tag} -> af_kappa_{tag}:\n"
    )
}

fn child_run(path: &Path) {
    // Only load the file: the diagnostics are the parent's to check.
    assert!(
        is_enabled(),
        "reading {} must not turn validation off",
        path.display()
    );
}

#[test]
fn allow_file_suppresses_listed_orders_and_reports_bad_lines() {
    let child = std::env::var_os(CHILD).is_some();
    let pid = std::env::var(CHILD)
        .ok()
        .unwrap_or_else(|| std::process::id().to_string());
    let path = std::env::temp_dir().join(format!("kernsync-lockdep-allow-{pid}.txt"));
    if child {
        std::env::set_var("KERNSYNC_LOCKDEP_ALLOW", &path);
        return child_run(&path);
    }
    let _cleanup = TempFile(path.clone());
    std::fs::write(&path, allow_text(&pid)).expect("write the allow file");
    std::env::set_var("KERNSYNC_LOCKDEP_ALLOW", &path);
    std::env::remove_var("KERNSYNC_LOCKDEP");
    assert!(
        is_enabled(),
        "a malformed line does not turn validation off"
    );

    let class = |n: &str| LockClass::leak(&format!("af_{n}_{pid}"));
    let name = |n: &str| format!("af_{n}_{pid}");
    let mine = |s: &SuppressionRecord| s.from.ends_with(&format!("_{pid}"));

    // Every well-formed line is loaded, unmatched so far; nothing else is.
    let mut loaded: Vec<(String, String, String)> = graph()
        .suppressions
        .into_iter()
        .filter(mine)
        .map(|s| (s.from, s.to, s.reason))
        .collect();
    loaded.sort();
    assert_eq!(
        loaded,
        [
            (
                name("alpha"),
                name("beta"),
                "reviewed, only at boot".to_owned()
            ),
            (
                name("eps"),
                name("zeta"),
                "reviewed: the reason may hold colons".to_owned()
            ),
            (name("gamma"), name("delta"), "never exercised".to_owned()),
        ]
    );

    // alpha -> beta is allowed: an ABBA between them is not reported.
    let (alpha, beta) = (LockMap::new(class("alpha")), LockMap::new(class("beta")));
    let ((), reports) = capture(|| {
        pair(&alpha, &beta);
        pair(&beta, &alpha);
    });
    assert!(reports.is_empty(), "{reports:#?}");
    // So is eps -> zeta, closing the cycle this time.
    let (eps, zeta) = (LockMap::new(class("eps")), LockMap::new(class("zeta")));
    let ((), reports) = capture(|| {
        pair(&zeta, &eps);
        pair(&eps, &zeta);
    });
    assert!(reports.is_empty(), "{reports:#?}");
    // Commented-out and malformed lines suppress nothing.
    for (from, to) in [("eta", "theta"), ("iota", "kappa")] {
        let (f, t) = (LockMap::new(class(from)), LockMap::new(class(to)));
        let ((), reports) = capture(|| {
            pair(&f, &t);
            pair(&t, &f);
        });
        assert_eq!(
            kinds(&reports),
            [ReportKind::CircularDependency],
            "{from} -> {to} is not allowed"
        );
    }

    // gamma -> delta was never taken: the only unused suppression left.
    let unused: Vec<SuppressionRecord> = unused_suppressions().into_iter().filter(mine).collect();
    assert_eq!(
        unused,
        [SuppressionRecord {
            from: name("gamma"),
            to: name("delta"),
            reason: "never exercised".to_owned(),
            hits: 0,
        }]
    );

    // The malformed lines were diagnosed on stderr, with file and line.
    let out = Command::new(std::env::current_exe().expect("the test binary"))
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, &pid)
        .output()
        .expect("run the test binary again");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child run failed:\n{stdout}\n{stderr}"
    );
    let expected = [
        format!(
            "kernsync-lockdep: {}:3: expected `from -> to: reason`, found \"this line is malformed\"",
            path.display()
        ),
        format!(
            "kernsync-lockdep: {}:8: expected `from -> to: reason`, found \"af_iota_{pid} -> af_kappa_{pid}:\"",
            path.display()
        ),
    ];
    let diagnostics: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("kernsync-lockdep: "))
        .collect();
    assert_eq!(diagnostics, expected, "stderr was:\n{stderr}");
}
