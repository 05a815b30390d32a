//! Mode changes of the wrong thing: upgrades of a write-held lock (kept a
//! write, no deadlock), downgrades and try-upgrades in every mode, and
//! upgrades and downgrades of locks not held (reported, and said as such).
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
use kernsync_lockdep::{capture, held_locks, ReportKind};

// ------------------------------------------------------ downgrade / upgrade

#[test]
fn upgrade_of_a_write_held_lock_keeps_it_write_and_the_stack_sound() {
    let (a, b) = (lock("upw.a"), lock("upw.b"));
    let ((modes, token_mode), reports) = capture(|| {
        let mut ha = a.acquire(W);
        a.upgrade(&mut ha);
        a.upgrade(&mut ha);
        let hb = b.acquire(W);
        let modes = held_modes();
        let token_mode = ha.mode();
        a.release(ha);
        b.release(hb);
        (modes, token_mode)
    });
    assert!(reports.is_empty(), "{}", show(&reports));
    assert_eq!(modes, [W, W]);
    assert_eq!(token_mode, W);
    assert!(held_locks().is_empty());
    assert_still_sound("upw");
}

/// `upgrade` of a token already held for write (not an upgradable read)
/// waits for nothing, so it adds no edge: with `a -> b` learned and `b`
/// taken after `a`, no "cycle" `a -> b -> a` is reported (it once was, as a
/// real upgrade's edges from every lock taken after it).
#[test]
fn upgrade_of_a_write_held_lock_is_no_deadlock() {
    let (a, b) = (lock("upwcycle.a"), lock("upwcycle.b"));
    let (modes, reports) = capture(|| {
        let mut ha = a.acquire(W);
        let hb = b.acquire(W);
        a.upgrade(&mut ha); // already held for write
        let modes = held_modes();
        b.release(hb);
        a.release(ha);
        modes
    });
    assert!(held_locks().is_empty());
    assert_eq!(modes, [W, W]);
    assert!(
        !kinds(&reports).contains(&ReportKind::CircularDependency),
        "{}",
        show(&reports)
    );
}

#[test]
fn downgrades_and_try_upgrades_in_every_mode_keep_the_stack_sound() {
    let (a, b, c) = (lock("dg.a"), lock("dg.b"), lock("dg.c"));
    let (seen, reports) = capture(|| {
        let mut ha = a.acquire(R);
        let mut hb = b.acquire(RR);
        let mut hc = c.acquire(W);
        let mut seen = vec![held_modes()];
        a.downgrade(&mut ha); // a read downgraded: stays a read
        seen.push(held_modes());
        c.downgrade(&mut hc);
        c.downgrade(&mut hc); // twice
        seen.push(held_modes());
        b.try_upgraded(&mut hb);
        a.try_upgraded(&mut ha);
        seen.push(held_modes());
        assert_eq!((ha.mode(), hb.mode(), hc.mode()), (W, W, R));
        // Released out of order.
        b.release(hb);
        a.release(ha);
        c.release(hc);
        seen.push(held_modes());
        seen
    });
    assert!(reports.is_empty(), "{}", show(&reports));
    assert_eq!(
        seen,
        [
            vec![R, RR, W],
            vec![R, RR, W],
            vec![R, RR, R],
            vec![W, W, R],
            vec![],
        ]
    );
    assert_still_sound("dg");
}

#[test]
fn upgrade_of_a_token_whose_lock_is_not_held_is_reported() {
    let (outer, a) = (lock("upgone.outer"), lock("upgone.a"));
    let ((during, token_mode), reports) = capture(|| {
        let ho = outer.acquire(W);
        let mut ha = a.acquire(R);
        a.release_unpaired(); // the lock is gone; the token is kept
        a.upgrade(&mut ha);
        let during = held_names();
        let token_mode = ha.mode();
        a.release(ha); // a second bad unlock, at another site
        outer.release(ho);
        (during, token_mode)
    });
    assert_eq!(during, ["misuse.upgone.outer"]);
    assert_eq!(token_mode, W);
    assert!(held_locks().is_empty());
    assert_eq!(
        kinds(&reports),
        [ReportKind::BadUnlock, ReportKind::BadUnlock],
        "{}",
        show(&reports)
    );
    assert_still_sound("upgone");
}

/// The report of an upgrade of a lock the thread does not hold says it was
/// an upgrade (it once said "releasing").
#[test]
fn upgrade_of_a_lock_not_held_says_upgrade() {
    let a = lock("upmsg.a");
    let ((), reports) = capture(|| {
        let mut ha = a.acquire(R);
        a.release_unpaired();
        a.upgrade(&mut ha);
        let _leaked = ha; // never released
    });
    assert!(held_locks().is_empty());
    assert_eq!(
        kinds(&reports),
        [ReportKind::BadUnlock],
        "{}",
        show(&reports)
    );
    let d = reports[0].detail();
    assert!(
        d.contains("upgrad") && !d.starts_with("releasing"),
        "the detail reads: {d}"
    );
}

/// A downgrade or a try-upgrade of a token whose lock the thread no longer
/// holds changes nothing in the held stack and is reported, as an upgrade
/// is (they were silent).
#[test]
fn downgrade_of_a_lock_not_held_is_reported() {
    let a = lock("dggone.a");
    let ((), reports) = capture(|| {
        let mut ha = a.acquire(W);
        a.release_unpaired();
        a.downgrade(&mut ha);
        a.try_upgraded(&mut ha);
        let _leaked = ha; // never released
    });
    assert!(held_locks().is_empty());
    assert_eq!(
        kinds(&reports),
        [ReportKind::BadUnlock, ReportKind::BadUnlock],
        "{}",
        show(&reports)
    );
}
