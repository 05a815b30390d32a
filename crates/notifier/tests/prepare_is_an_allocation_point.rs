//! `prepare` allocates, and says so to the validator: preparing inside a
//! `no_alloc` scope or under a no-alloc lock is reported at the caller's
//! line, even without `CheckedAlloc` as the global allocator. Preparing with
//! no such lock held reports nothing.
#![cfg(all(not(loom), any(debug_assertions, feature = "lockdep")))]

use kernsync_lockdep::{capture, no_alloc, LockClass, ReportKind};
use kernsync_notifier::{AtomicNotifierChain, NotifierChain, Prepared, Verdict};
use kernsync_rwsem::Mutex;
use std::panic::Location;

fn kinds(reports: &[kernsync_lockdep::Report]) -> Vec<ReportKind> {
    reports.iter().map(|r| r.kind()).collect()
}

/// The `file:line:` of the line after the caller's.
#[track_caller]
fn next_line() -> String {
    let at = Location::caller();
    format!("{}:{}:", at.file(), at.line() + 1)
}

#[test]
fn preparing_inside_no_alloc_is_reported_at_the_callers_line() {
    let chain = NotifierChain::<u32>::new();
    let (site, reports) = capture(|| {
        no_alloc(|| {
            let site = next_line();
            let p = chain.prepare(|_| Verdict::Continue, 0);
            drop(p);
            site
        })
    });
    assert_eq!(kinds(&reports), [ReportKind::AllocUnderNoAlloc]);
    let text = reports[0].to_string();
    assert!(text.contains(&site), "no {site} in:\n{text}");
}

#[test]
fn preparing_under_a_no_alloc_lock_is_reported_on_both_chains() {
    static POOL: LockClass = LockClass::new("prepare_test.pool").no_alloc();
    let pool = Mutex::with_class(0u32, &POOL);
    let blocking = NotifierChain::<u32>::new();
    let atomic = AtomicNotifierChain::<u32>::new();
    let ((), reports) = capture(|| {
        let _g = pool.lock();
        drop(blocking.prepare(|_| Verdict::Continue, 0));
        drop(atomic.prepare(|_| Verdict::Continue, 0));
        drop(Prepared::new(|_: &u32| Verdict::Continue, 0));
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::AllocUnderNoAlloc; 3],
        "{reports:?}"
    );
    for r in &reports {
        assert_eq!(r.classes(), ["prepare_test.pool"], "{r}");
    }
}

#[test]
fn preparing_with_no_such_lock_held_reports_nothing() {
    let plain = Mutex::new(0u32);
    let chain = NotifierChain::<u32>::new();
    let (reg, reports) = capture(|| {
        let p = {
            let _g = plain.lock();
            chain.prepare(|_| Verdict::Continue, 0)
        };
        chain.register(p)
    });
    assert!(reports.is_empty(), "{reports:?}");
    assert_eq!(chain.call(&7).called, 1);
    drop(reg);
}
