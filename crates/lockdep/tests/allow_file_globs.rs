//! Allow-file lines may name classes by a glob over their defining site's
//! file (or their name), for orders inside code the user does not own:
//! `*/some-crate-1.*/src/** -> my_lock: reason`. A matching order is
//! suppressed, another one is not, and a glob that never matched is listed
//! as stale by `unused_suppressions`, as a stale name is. A line naming
//! one class on both sides allows a recursion on that class.
//!
//! The file is read once, at the validator's first use, so this binary has
//! one test, which sets the variable first.
#![cfg(any(debug_assertions, feature = "lockdep"))]

use kernsync_lockdep::{capture, unused_suppressions, LockClass, LockMap, Mode, ReportKind};

fn pair(outer: &LockMap, inner: &LockMap) {
    let ho = outer.acquire(Mode::Write);
    let hi = inner.acquire(Mode::Write);
    inner.release(hi);
    outer.release(ho);
}

static TARGET: LockClass = LockClass::new("glob_target");
static OTHER: LockClass = LockClass::new("glob_other");
static REREAD: LockClass = LockClass::new("glob_reread");
static REREAD_TOO: LockClass = LockClass::new("glob_reread_too");

#[test]
fn globs_over_sites_suppress_orders_in_code_one_does_not_own() {
    let path =
        std::env::temp_dir().join(format!("kernsync-allow-globs-{}.txt", std::process::id()));
    std::fs::write(
        &path,
        "# classes made in this file stand for a dependency's locks\n\
         */allow_file_globs.rs -> glob_target: judged safe, a dependency's start-up order\n\
         */no-such-crate-0.*/src/** -> glob_target: a stale glob\n\
         glob_reread -> glob_reread: a second read of one lock, judged safe (no writer then)\n",
    )
    .unwrap();
    std::env::set_var("KERNSYNC_LOCKDEP_ALLOW", &path);

    // A per-site class: its defining site is this file.
    let theirs = LockMap::at_caller();
    let target = LockMap::new(&TARGET);
    let other = LockMap::new(&OTHER);
    let ((), reports) = capture(|| {
        pair(&theirs, &target); // suppressed by the glob
        pair(&target, &theirs); // so no cycle closes here
    });
    assert!(reports.is_empty(), "{reports:#?}");

    // The line suppresses only orders into `glob_target`: another order out
    // of the same classes is recorded, and its inversion reported.
    let ((), reports) = capture(|| {
        pair(&theirs, &other);
        pair(&other, &theirs);
    });
    let kinds: Vec<_> = reports.iter().map(|r| r.kind()).collect();
    assert_eq!(kinds, [ReportKind::CircularDependency], "{reports:#?}");

    // A recursion has no second class: a line naming one class twice
    // allows it (here a second read of one lock), and only for that class.
    let (reread, reread_too) = (LockMap::new(&REREAD), LockMap::new(&REREAD_TOO));
    let ((), reports) = capture(|| {
        for map in [&reread, &reread_too] {
            let first = map.acquire(Mode::Read);
            let second = map.acquire(Mode::Read);
            map.release(second);
            map.release(first);
        }
    });
    let kinds: Vec<_> = reports.iter().map(|r| r.kind()).collect();
    assert_eq!(kinds, [ReportKind::RecursiveLocking], "{reports:#?}");
    assert_eq!(
        reports[0].classes(),
        ["glob_reread_too", "glob_reread_too"],
        "{reports:#?}"
    );

    let stale: Vec<_> = unused_suppressions().into_iter().map(|s| s.from).collect();
    assert_eq!(stale, ["*/no-such-crate-0.*/src/**"]);
    let _ = std::fs::remove_file(&path);
}
