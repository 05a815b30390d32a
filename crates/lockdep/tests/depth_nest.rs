//! A lock taken under a nest lock shares the held-stack entry of the locks of
//! its class taken before it under that nest lock (`MAX_DEPTH`'s docs: "Locks
//! taken under a nest lock share one entry"), so it needs no free entry: it
//! must not exceed the depth bound even when the stack is full.
//!
//! If it does, validation turns off for the process, so this scenario has a
//! binary of its own.
#![cfg(any(debug_assertions, feature = "lockdep"))]

use kernsync_lockdep::{
    capture, held_locks, is_enabled, Held, LockClass, LockMap, Mode, ReportKind, MAX_DEPTH,
};

#[test]
fn nest_lock_acquisition_merging_into_a_full_stack_is_not_past_the_bound() {
    std::env::remove_var("KERNSYNC_LOCKDEP");
    assert!(is_enabled());
    // MAX_DEPTH - 1 entries of distinct classes, the last one the nest lock,
    // then the first inner lock fills the stack; the next two merge into it.
    let outers: Vec<LockMap> = (0..MAX_DEPTH - 1)
        .map(|i| LockMap::new(LockClass::leak(&format!("full_nest_{i}"))))
        .collect();
    let nest = outers.last().expect("MAX_DEPTH > 1");
    let inner = LockClass::leak("full_nest_inner");
    let inners: Vec<LockMap> = (0..3).map(|_| LockMap::new(inner)).collect();

    let ((full, merged, tracked, enabled_while_held), reports) = capture(|| {
        let hs: Vec<Held> = outers.iter().map(|l| l.acquire(Mode::Write)).collect();
        let hi: Vec<Held> = inners
            .iter()
            .take(1)
            .map(|l| l.acquire_nest_lock(Mode::Write, nest))
            .collect();
        let full = held_locks().len();
        let more: Vec<Held> = inners
            .iter()
            .skip(1)
            .map(|l| l.acquire_nest_lock(Mode::Write, nest))
            .collect();
        let merged = held_locks().len();
        let tracked = more.iter().all(Held::is_tracked);
        let enabled = is_enabled();
        for (l, h) in inners.iter().skip(1).zip(more).rev() {
            l.release(h);
        }
        for (l, h) in inners.iter().zip(hi) {
            l.release(h);
        }
        for (l, h) in outers.iter().zip(hs).rev() {
            l.release(h);
        }
        (full, merged, tracked, enabled)
    });

    assert_eq!(full, MAX_DEPTH);
    assert!(held_locks().is_empty());
    let kinds: Vec<ReportKind> = reports.iter().map(|r| r.kind()).collect();
    assert_eq!(
        kinds,
        [],
        "locks merged into a nest entry take no new entry: {reports:#?}"
    );
    assert_eq!(merged, MAX_DEPTH);
    assert!(tracked);
    assert!(enabled_while_held);
    assert!(is_enabled());
}
