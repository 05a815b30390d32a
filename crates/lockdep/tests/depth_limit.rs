//! The held-lock stack is bounded by `MAX_DEPTH`: locks under a nest lock
//! share one entry, holding one lock more than the bound reports
//! `DepthExceeded` once and turns validation off, and the locks keep working.
//!
//! Reaching the bound switches validation off for the whole process, so this
//! binary holds one test and runs its scenarios in order.
#![cfg(any(debug_assertions, feature = "lockdep"))]

use kernsync_lockdep::{
    capture, held_locks, is_enabled, Held, LockClass, LockMap, Mode, ReportKind, MAX_DEPTH,
};

fn fresh(name: &str) -> LockMap {
    LockMap::new(LockClass::leak(name))
}

fn names(held: &[kernsync_lockdep::HeldLock]) -> Vec<String> {
    held.iter().map(|h| h.class.clone()).collect()
}

#[test]
fn depth_bound_reports_once_turns_validation_off_and_locks_keep_working() {
    // The action must be the default, whatever the caller's environment says.
    std::env::remove_var("KERNSYNC_LOCKDEP");
    assert!(is_enabled(), "validation starts on");

    locks_under_a_nest_lock_share_one_entry();
    one_lock_past_the_bound_reports_once_and_turns_validation_off();
}

/// 100 locks of one class under a nest lock, with two other locks held,
/// take one stack entry: no report, validation stays on.
fn locks_under_a_nest_lock_share_one_entry() {
    let x = fresh("depth_nest_x");
    let y = fresh("depth_nest_y");
    let outer = fresh("depth_nest_outer");
    let inner = LockClass::leak("depth_nest_inner");
    let inners: Vec<LockMap> = (0..100).map(|_| LockMap::new(inner)).collect();
    let after = fresh("depth_nest_after");

    let ((all_tracked, while_held, with_after, after_tracked, after_inners), reports) =
        capture(|| {
            let hx = x.acquire(Mode::Write);
            let hy = y.acquire(Mode::Write);
            let ho = outer.acquire(Mode::Write);
            let hs: Vec<Held> = inners
                .iter()
                .map(|l| l.acquire_nest_lock(Mode::Write, &outer))
                .collect();
            let all_tracked = hs.iter().all(Held::is_tracked);
            let while_held = names(&held_locks());
            // A lock taken after them is still validated, as a fifth entry.
            let ha = after.acquire(Mode::Write);
            let after_tracked = ha.is_tracked();
            let with_after = held_locks().len();
            after.release(ha);
            // Last in, first out.
            for (l, h) in inners.iter().zip(hs).rev() {
                l.release(h);
            }
            let after_inners = names(&held_locks());
            outer.release(ho);
            y.release(hy);
            x.release(hx);
            (
                all_tracked,
                while_held,
                with_after,
                after_tracked,
                after_inners,
            )
        });

    assert!(
        reports.is_empty(),
        "no report expected under a nest lock, got: {reports:#?}"
    );
    assert!(all_tracked, "every lock under the nest lock is tracked");
    assert_eq!(
        while_held,
        [
            "depth_nest_x",
            "depth_nest_y",
            "depth_nest_outer",
            "depth_nest_inner"
        ],
        "the 100 nested locks share one held-stack entry"
    );
    assert!(after_tracked);
    assert_eq!(with_after, 5);
    assert_eq!(
        after_inners,
        ["depth_nest_x", "depth_nest_y", "depth_nest_outer"],
        "releasing the 100 nested locks removes their shared entry"
    );
    assert!(held_locks().is_empty());
    assert!(is_enabled(), "100 locks under a nest lock exceed no bound");
}

/// MAX_DEPTH locks of distinct classes are fine; one more reports
/// `DepthExceeded` once, validation turns off, every release still works.
fn one_lock_past_the_bound_reports_once_and_turns_validation_off() {
    let locks: Vec<LockMap> = (0..=MAX_DEPTH)
        .map(|i| fresh(&format!("depth_{i}")))
        .collect();
    let (last, below) = locks.split_last().expect("MAX_DEPTH + 1 locks");

    let ((tokens, depth_before, extra), reports) = capture(|| {
        let tokens: Vec<Held> = below.iter().map(|l| l.acquire(Mode::Write)).collect();
        let depth_before = held_locks().len();
        let extra = last.acquire(Mode::Write);
        (tokens, depth_before, extra)
    });

    assert_eq!(depth_before, MAX_DEPTH);
    assert!(
        tokens.iter().all(Held::is_tracked),
        "the first MAX_DEPTH locks are tracked"
    );
    assert_eq!(reports.len(), 1, "exactly one report: {reports:#?}");
    let r = &reports[0];
    assert_eq!(r.kind(), ReportKind::DepthExceeded);
    let acquiring = r
        .acquiring()
        .expect("the report names the lock being taken");
    assert_eq!(acquiring.class, format!("depth_{MAX_DEPTH}"));
    assert_eq!(r.held_locks().len(), MAX_DEPTH);
    assert!(
        r.detail().contains(&MAX_DEPTH.to_string()),
        "the detail states the bound: {}",
        r.detail()
    );
    assert!(
        !extra.is_tracked(),
        "the lock past the bound is not tracked"
    );
    assert!(!is_enabled(), "validation is off after DepthExceeded");

    // Locks keep working: more acquisitions on top, then every release in a
    // scrambled order (odd ones outermost first, then even ones innermost
    // first). Nothing is reported, nothing panics, the stack empties.
    let more = fresh("depth_more");
    let ((), reports) = capture(|| {
        let hm = more.acquire(Mode::Write);
        assert!(!hm.is_tracked());
        more.release(hm);
        last.release(extra);
        let mut odd = Vec::new();
        let mut even = Vec::new();
        for (i, (l, h)) in below.iter().zip(tokens).enumerate() {
            if i % 2 == 1 {
                odd.push((l, h));
            } else {
                even.push((l, h));
            }
        }
        for (l, h) in odd {
            l.release(h);
        }
        for (l, h) in even.into_iter().rev() {
            l.release(h);
        }
    });
    assert!(
        reports.is_empty(),
        "no second DepthExceeded and no bad unlock: {reports:#?}"
    );
    assert!(held_locks().is_empty(), "every tracked lock was released");

    // Validation stays off: a fresh ABBA is not reported.
    let (a, b) = (fresh("depth_off_a"), fresh("depth_off_b"));
    let (tracked, reports) = capture(|| {
        let ha = a.acquire(Mode::Write);
        let hb = b.acquire(Mode::Write);
        let tracked = ha.is_tracked() || hb.is_tracked();
        b.release(hb);
        a.release(ha);
        let hb = b.acquire(Mode::Write);
        let ha = a.acquire(Mode::Write);
        a.release(ha);
        b.release(hb);
        tracked
    });
    assert!(reports.is_empty(), "validation is off: {reports:#?}");
    assert!(!tracked);
    assert!(!is_enabled());
}
