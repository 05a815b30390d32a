//! `assert_held` / `assert_not_held` in every way of holding a lock
//! (including through a nest lock and its entries), nest locks held by
//! another thread or nested on themselves, and subclasses out of range.
//!
//! Each misuse must end in a clear report or panic, never a hang, a crash, a
//! silent wrong answer or a held stack that no longer matches what the
//! thread holds. Every scenario takes fresh classes and releases what it
//! took before it asserts (see `common/misuse.rs`); no test here turns
//! validation off or reaches a bound.
//
//! (These docs come before the `cfg`: a crate-level `cfg` that is false
//! strips everything after it, docs included, and `missing_docs` would fire.)
#![cfg(any(debug_assertions, feature = "lockdep"))]

mod common;

use common::misuse::*;
use kernsync_lockdep::{capture, held_locks, LockMap, ReportKind};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::thread;

// ------------------------------------------------------------ assertions

#[test]
fn assert_held_in_every_way_of_holding() {
    let outer = lock("ah.outer");
    let (r, rr, t, n, o, nl) = (
        lock("ah.read"),
        lock("ah.rread"),
        lock("ah.try"),
        lock("ah.nested"),
        lock("ah.ordered"),
        lock("ah.nest"),
    );
    let all = [&r, &rr, &t, &n, &o, &nl];
    let (subclass, quiet) = capture(|| {
        let ho = outer.acquire(W);
        let hs = [
            r.acquire(R),
            rr.acquire(RR),
            t.try_acquired(R),
            n.acquire_nested(R, 5),
            o.acquire_ordered(R, 7),
            nl.acquire_nest_lock(R, &outer),
        ];
        for m in all {
            assert!(m.is_held());
            m.assert_held();
        }
        let subclass = n.held_subclass();
        for (m, h) in all.iter().zip(hs) {
            m.release(h);
        }
        outer.release(ho);
        subclass
    });
    assert!(quiet.is_empty(), "{}", show(&quiet));
    assert_eq!(subclass, Some(5));
    // And held, `assert_not_held` reports each of them.
    let ((), reports) = capture(|| {
        let ho = outer.acquire(W);
        let hs = [
            r.acquire(R),
            rr.acquire(RR),
            t.try_acquired(R),
            n.acquire_nested(R, 5),
            o.acquire_ordered(R, 7),
            nl.acquire_nest_lock(R, &outer),
        ];
        for m in all {
            m.assert_not_held();
        }
        for (m, h) in all.iter().zip(hs) {
            m.release(h);
        }
        outer.release(ho);
        for m in all {
            m.assert_held();
        }
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::AssertionFailed; 12],
        "{}",
        show(&reports)
    );
    assert!(held_locks().is_empty());
    assert_still_sound("ah");
}

/// A lock never acquired, of a class one lock of which is held under a nest
/// lock, is not taken for held: a nest entry is matched by class only once
/// several locks were merged into it (as Linux does, `references != 0`).
/// Before, `assert_not_held` reported a lock that was not held, and its
/// `release_unpaired` silently removed the entry of the lock that was.
#[test]
fn unheld_lock_of_a_nest_held_class_is_not_held() {
    let outer = lock("nestfalse.outer");
    let c = class("nestfalse.inner");
    let (l1, l2) = (LockMap::new(c), LockMap::new(c));
    let ((l2_held, after_bad_release), reports) = capture(|| {
        let ho = outer.acquire(W);
        let h1 = l1.acquire_nest_lock(W, &outer);
        let l2_held = l2.is_held();
        l2.assert_not_held(); // should be quiet: l2 is not held
        l2.release_unpaired(); // should be a bad unlock of l2
        let after = held_names();
        l1.release(h1);
        outer.release(ho);
        (l2_held, after)
    });
    // Leave the thread clean whatever happened.
    while outer.is_held() {
        outer.release_unpaired();
    }
    assert!(held_locks().is_empty());
    let summary = format!(
        "l2.is_held() = {l2_held}; held after l2.release_unpaired(): {after_bad_release:?}; reports: {}",
        show(&reports)
    );
    assert!(!l2_held, "{summary}");
    assert_eq!(
        after_bad_release,
        ["misuse.nestfalse.outer", "misuse.nestfalse.inner"],
        "{summary}"
    );
    assert_eq!(kinds(&reports), [ReportKind::BadUnlock], "{summary}");
    assert!(
        reports[0].detail().contains("misuse.nestfalse.inner"),
        "{summary}"
    );
}

/// The same root cause with a wrong verdict: two nest-lock entries of one
/// class (apart, because another lock was trylocked between them), the first
/// held for write, the second for read. Releasing the first lock removes its
/// own entry (an exact match wins over a class match), so the stack says
/// the class is held for read. When the top entry of the class was removed
/// instead, a lock taken next got an exclusive edge out of it, closing a
/// strong cycle with an `-(ER)->` edge learned earlier: a false deadlock.
#[test]
fn release_of_one_of_two_nest_entries_removes_its_own() {
    let (outer, p, x) = (lock("nest2.outer"), lock("nest2.p"), lock("nest2.x"));
    let c = class("nest2.l");
    let (l1, l2) = (LockMap::new(c), LockMap::new(c));
    // Learn `x -(ER)-> l`: x held for write while l is read recursively.
    let ((), learned) = capture(|| {
        let hx = x.acquire(W);
        let hl = l1.acquire(RR);
        l1.release(hl);
        x.release(hx);
    });
    assert!(learned.is_empty(), "{}", show(&learned));
    // The control: the stack the thread really has below, reached without
    // taking l1, is quiet.
    let ((), control) = capture(|| {
        let ho = outer.acquire(W);
        let hp = p.try_acquired(W);
        let h2 = l2.acquire_nest_lock(R, &outer);
        let hx = x.acquire(W);
        x.release(hx);
        l2.release(h2);
        p.release(hp);
        outer.release(ho);
    });
    assert!(control.is_empty(), "{}", show(&control));
    let ((names, modes), reports) = capture(|| {
        let ho = outer.acquire(W);
        let h1 = l1.acquire_nest_lock(W, &outer);
        let hp = p.try_acquired(W); // a trylock: no edge l -> p
        let h2 = l2.acquire_nest_lock(R, &outer);
        l1.release(h1); // l2 stays held, for read
        let held = (held_names(), held_modes());
        // `l -(SN)-> x` closes no strong cycle with `x -(ER)-> l`: l is
        // entered by a recursive read and left from a shared hold.
        let hx = x.acquire(W);
        x.release(hx);
        l2.release(h2);
        p.release(hp);
        outer.release(ho);
        held
    });
    assert!(held_locks().is_empty());
    let summary = format!(
        "held after l1's release: {names:?} {modes:?}; reports: {}",
        show(&reports)
    );
    assert_eq!(
        names,
        ["misuse.nest2.outer", "misuse.nest2.p", "misuse.nest2.l"],
        "{summary}"
    );
    assert_eq!(modes, [W, W, R], "{summary}");
    assert!(reports.is_empty(), "{summary}");
}

// ------------------------------------------------ nest locks and subclasses

#[test]
fn nest_lock_held_by_another_thread_is_not_held_here() {
    let outer = shared("nestother.outer");
    let inner = shared("nestother.inner");
    let ho = outer.acquire(W);
    let (during, reports) = thread::scope(|s| {
        s.spawn(|| {
            capture(|| {
                let h = inner.acquire_nest_lock(W, outer);
                let during = held_names();
                inner.release(h);
                during
            })
        })
        .join()
        .expect("the nesting thread")
    });
    outer.release(ho);
    assert!(held_locks().is_empty());
    assert_eq!(during, ["misuse.nestother.inner"]);
    assert_eq!(
        kinds(&reports),
        [ReportKind::RecursiveLocking],
        "{}",
        show(&reports)
    );
    assert!(
        reports[0]
            .detail()
            .contains("nest lock this thread does not hold"),
        "{}",
        reports[0]
    );
    assert_still_sound("nestother");
}

#[test]
fn nest_lock_on_itself_is_reported_and_the_stack_stays_sound() {
    let m = lock("nestself.m");
    let (during, reports) = capture(|| {
        let h = m.acquire_nest_lock(W, &m);
        let during = held_names();
        m.release(h);
        during
    });
    assert!(held_locks().is_empty());
    assert_eq!(during, ["misuse.nestself.m"]);
    assert_eq!(
        kinds(&reports),
        [ReportKind::RecursiveLocking],
        "{}",
        show(&reports)
    );
    assert_still_sound("nestself");
}

#[test]
fn subclass_out_of_range_panics_clearly_and_changes_nothing() {
    let (outer, m) = (lock("subclass.outer"), lock("subclass.m"));
    let ho = outer.acquire(W);
    let mut messages = Vec::new();
    for sub in [8u8, 9, 200, u8::MAX] {
        for try_ in [false, true] {
            let r = catch_unwind(AssertUnwindSafe(|| {
                let h = if try_ {
                    m.try_acquired_nested(W, sub)
                } else {
                    m.acquire_nested(W, sub)
                };
                m.release(h);
            }));
            messages.push(payload_text(
                &*r.expect_err("an out-of-range subclass panics"),
            ));
        }
    }
    let held = held_names();
    // The largest subclass works, and is shown as `/7`.
    let ((), reports) = capture(|| {
        let h = m.acquire_nested(W, 7);
        assert_eq!(m.held_subclass(), Some(7));
        assert_eq!(held_names()[1], "misuse.subclass.m/7");
        m.release(h);
    });
    outer.release(ho);
    assert!(held_locks().is_empty());
    assert_eq!(held, ["misuse.subclass.outer"]);
    for (msg, sub) in messages.iter().zip([8u8, 8, 9, 9, 200, 200, 255, 255]) {
        assert!(
            msg.contains(&format!("subclass {sub} out of range (0..8)")),
            "{msg}"
        );
    }
    assert!(reports.is_empty(), "{}", show(&reports));
    assert_still_sound("subclass");
}
