//! Releases that do not match an acquisition are reported and leave the
//! held stack sound: a map released without being held (`release_unpaired`),
//! twice, an untracked token, a token released or changed through another
//! map, a token released on another thread, and a lock released inside its
//! own `with` scope. Also: a token (`Held`) is `Send` and move-only.
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
use kernsync_lockdep::{capture, held_locks, Held, Report, ReportKind};
use std::thread;

#[test]
fn held_is_send_and_move_only() {
    fn is_send<T: Send>() {}
    is_send::<Held>();
    // `Held` is neither `Clone` nor `Copy` (a release consumes it), so the
    // only way to release twice is `release_unpaired`, tested below.
    let h = Held::UNTRACKED;
    assert!(!h.is_tracked());
    assert_eq!(h.mode(), W);
}

// ------------------------------------------------------------ bad releases

#[test]
fn release_unpaired_of_a_never_acquired_map_with_locks_held() {
    let (a, b, never) = (lock("ru.a"), lock("ru.b"), lock("ru.never"));
    let ((during, after), reports) = capture(|| {
        let ha = a.acquire(W);
        let hb = b.acquire(R);
        for _ in 0..3 {
            never.release_unpaired(); // one site: reported once
        }
        let during = held_names();
        let modes = held_modes();
        b.release(hb);
        a.release(ha);
        ((during, modes), held_names())
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::BadUnlock],
        "{}",
        show(&reports)
    );
    let r = &reports[0];
    assert_eq!(r.classes(), ["misuse.ru.never"]);
    assert!(r.detail().contains("misuse.ru.never"), "{r}");
    assert!(r.detail().contains("does not hold"), "{r}");
    assert!(
        r.detail().contains("bad_unlock_reports.rs"),
        "names the caller: {r}"
    );
    // The report lists what the thread held, and the stack is untouched.
    let listed: Vec<&str> = r.held_locks().iter().map(|h| h.class.as_str()).collect();
    assert_eq!(listed, ["misuse.ru.a", "misuse.ru.b"]);
    assert_eq!(during.0, ["misuse.ru.a", "misuse.ru.b"]);
    assert_eq!(during.1, [W, R]);
    assert!(after.is_empty());
    assert_still_sound("ru");
}

#[test]
fn release_unpaired_twice_after_an_acquire() {
    let (outer, m) = (lock("ru2.outer"), lock("ru2.m"));
    let (during, reports) = capture(|| {
        let ho = outer.acquire(W);
        let _forgotten = m.acquire(W); // a raw lock that keeps no token
        m.release_unpaired();
        m.release_unpaired();
        let during = held_names();
        outer.release(ho);
        during
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::BadUnlock],
        "{}",
        show(&reports)
    );
    assert_eq!(reports[0].classes(), ["misuse.ru2.m"]);
    assert_eq!(during, ["misuse.ru2.outer"]);
    assert!(held_locks().is_empty());
    assert_still_sound("ru2");
}

#[test]
fn release_of_an_untracked_token_is_ignored() {
    let (a, b) = (lock("untracked.a"), lock("untracked.b"));
    let ((during, modes), reports) = capture(|| {
        let ha = a.acquire(W);
        // A token for an acquisition the validator did not track: releasing
        // it (through any map) is not a bad unlock and touches nothing.
        a.release(Held::UNTRACKED);
        b.release(Held::UNTRACKED);
        let mut u = Held::UNTRACKED;
        a.downgrade(&mut u);
        a.upgrade(&mut u);
        a.try_upgraded(&mut u);
        assert!(!u.is_tracked());
        let during = (held_names(), held_modes());
        a.release(ha);
        during
    });
    assert!(reports.is_empty(), "{}", show(&reports));
    assert_eq!(during, ["misuse.untracked.a"]);
    assert_eq!(modes, [W]);
    assert!(held_locks().is_empty());
    assert_still_sound("untracked");
}

/// A token released through a map other than the one that produced it is
/// reported as a bad unlock; the lock released is the one whose map was
/// called (its real lock is what the caller unlocks). Until this was checked,
/// the token's lock was released silently and the named one stayed held.
#[test]
fn release_of_a_token_through_another_map_is_reported() {
    let (a, b) = (lock("othermap.a"), lock("othermap.b"));
    let ((during, a_held, b_held), reports) = capture(|| {
        let ha = a.acquire(W);
        let hb = b.acquire(W);
        // The caller unlocks `b`'s lock but hands over `a`'s token.
        b.release(ha);
        let during = held_names();
        let (a_held, b_held) = (a.is_held(), b.is_held());
        // Clean up whatever the validator still thinks is held.
        b.release(hb);
        while a.is_held() {
            a.release_unpaired();
        }
        while b.is_held() {
            b.release_unpaired();
        }
        (during, a_held, b_held)
    });
    assert!(held_locks().is_empty());
    assert!(
        kinds(&reports).contains(&ReportKind::BadUnlock),
        "expected a report of the mismatched release; got {} (held after it: {during:?}, a held: {a_held}, b held: {b_held})",
        show(&reports)
    );
}

/// The same for the mode changes: `downgrade`, `upgrade` and
/// `try_upgraded` with another map's token are reported (they used to act on
/// the token's lock, whatever map they were called on).
#[test]
fn mode_change_of_a_token_through_another_map_is_reported() {
    let (a, b) = (lock("othermode.a"), lock("othermode.b"));
    let ((modes_after_downgrade, modes_after_upgrade), reports) = capture(|| {
        let mut ha = a.acquire(W);
        let hb = b.acquire(W);
        b.downgrade(&mut ha); // `b`'s lock downgraded, `a`'s token given
        let d = held_modes();
        b.try_upgraded(&mut ha);
        let u = held_modes();
        b.release(hb);
        a.release(ha);
        (d, u)
    });
    assert!(held_locks().is_empty());
    assert!(
        !reports.is_empty(),
        "expected a report of the mismatched downgrade/upgrade; got none (modes [a, b] after b.downgrade(a's token): {modes_after_downgrade:?}, after b.try_upgraded: {modes_after_upgrade:?})"
    );
}

#[test]
fn token_released_on_another_thread_is_a_bad_unlock_there() {
    let a = shared("xthread.a");
    let outer = shared("xthread.outer");
    let ho = outer.acquire(W);
    let ha = a.acquire(W);
    let (other_held_before, other_held_after, reports) = thread::scope(|s| {
        s.spawn(move || {
            let before = held_names();
            let ((), reports) = capture(|| a.release(ha));
            (before, held_names(), reports)
        })
        .join()
        .expect("the releasing thread")
    });
    // This thread still holds both: the other thread's release did not
    // reach this thread's stack.
    let here = held_names();
    let still = a.is_held();
    a.release_unpaired();
    outer.release(ho);
    assert!(held_locks().is_empty());
    assert_eq!(here, ["misuse.xthread.outer", "misuse.xthread.a"]);
    assert!(still);
    assert!(other_held_before.is_empty() && other_held_after.is_empty());
    assert_eq!(
        kinds(&reports),
        [ReportKind::BadUnlock],
        "{}",
        show(&reports)
    );
    assert_eq!(reports[0].classes(), ["misuse.xthread.a"]);
    assert!(
        reports[0].detail().contains("does not hold"),
        "{}",
        reports[0]
    );
    assert_still_sound("xthread");
}

/// Runs `m.with(W, ..)` whose closure releases `m` itself, under another
/// lock; returns the line of the `with` call, the held stack after it and
/// the reports.
fn release_inside_with(tag: &str) -> (u32, Vec<String>, Vec<Report>) {
    let (outer, m) = (lock(&format!("{tag}.outer")), lock(&format!("{tag}.m")));
    let ((line, during), reports) = capture(|| {
        let ho = outer.acquire(W);
        let line = line!() + 1;
        m.with(W, || m.release_unpaired());
        let during = held_names();
        outer.release(ho);
        (line, during)
    });
    assert!(held_locks().is_empty());
    (line, during, reports)
}

/// A lock released inside its own `with` scope: the scope's end is then a
/// bad unlock, reported once, and the stack stays sound.
#[test]
fn lock_released_inside_its_own_with_scope_is_a_bad_unlock_at_the_end() {
    let (_, during, reports) = release_inside_with("withrel");
    assert_eq!(during, ["misuse.withrel.outer"]);
    assert_eq!(
        kinds(&reports),
        [ReportKind::BadUnlock],
        "{}",
        show(&reports)
    );
    assert_eq!(reports[0].classes(), ["misuse.withrel.m"]);
    assert_still_sound("withrel");
}

/// That bad unlock names the caller's `with` line, not the release in
/// `with`'s drop guard inside the validator (a `drop` cannot track its
/// caller, so the guard carries the site).
#[test]
fn bad_unlock_at_the_end_of_with_names_the_callers_line() {
    let (line, _, reports) = release_inside_with("withsite");
    assert_eq!(
        kinds(&reports),
        [ReportKind::BadUnlock],
        "{}",
        show(&reports)
    );
    let d = reports[0].detail();
    assert!(
        d.contains(&format!("bad_unlock_reports.rs:{line}:")),
        "the bad unlock at the end of `with` names: {d}"
    );
}
