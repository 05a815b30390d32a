//! The public API used wrongly, on purpose: tokens released twice, through
//! another map or on another thread, upgrades and downgrades of the wrong
//! thing, nest locks not held, subclasses out of range, captures nested and
//! unwound, reports raised inside a report handler, scopes left by a panic,
//! odd class names, a long cycle, a full held stack, many threads at once and
//! snapshots taken while the graph grows. Each misuse must end in a clear
//! report or panic, never a hang, a crash, a silent wrong answer or a held
//! stack that no longer matches what the thread holds.
//!
//! Every scenario takes fresh classes (the graph is one per process and the
//! tests run in parallel), validation stays on for the whole binary (no test
//! here turns it off or reaches a bound), and every scenario releases what it
//! took before it asserts: an entry left on a test thread would be reported
//! at the thread's exit, which aborts the binary in the default `Panic`
//! action.
//!
//! (These docs come before the `cfg`: a crate-level `cfg` that is false
//! strips everything after it, docs included, and `missing_docs` would fire.)
#![cfg(any(debug_assertions, feature = "lockdep"))]

use kernsync_lockdep::export::GraphSnapshot;
use kernsync_lockdep::{
    action, atomic_section, capture, graph, held_locks, is_enabled, lock_internals, might_alloc,
    might_sleep, no_alloc, set_handler, Action, Held, LockClass, LockMap, Mode, Report, ReportKind,
    MAX_DEPTH,
};
use std::cell::Cell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;

const W: Mode = Mode::Write;
const R: Mode = Mode::Read;
const RR: Mode = Mode::RecursiveRead;

/// A fresh class named `misuse.<tag>`.
fn class(tag: &str) -> &'static LockClass {
    assert!(is_enabled(), "these tests need the validator on");
    LockClass::leak(&format!("misuse.{tag}"))
}

/// A lock handle of a fresh class named `misuse.<tag>`.
fn lock(tag: &str) -> LockMap {
    LockMap::new(class(tag))
}

/// A leaked lock handle of a fresh class, for threads to share.
fn shared(tag: &str) -> &'static LockMap {
    Box::leak(Box::new(lock(tag)))
}

fn kinds(reports: &[Report]) -> Vec<ReportKind> {
    reports.iter().map(Report::kind).collect()
}

fn show(reports: &[Report]) -> String {
    match reports {
        [] => "no report".to_owned(),
        _ => reports.iter().map(|r| format!("{r}\n")).collect(),
    }
}

/// The classes of the locks this thread holds, outermost first.
fn held_names() -> Vec<String> {
    held_locks().into_iter().map(|h| h.class).collect()
}

/// The modes of the locks this thread holds, outermost first.
fn held_modes() -> Vec<Mode> {
    held_locks().into_iter().map(|h| h.mode).collect()
}

/// Takes `first` then `second` and releases both: the edge `first -> second`.
fn nest(first: &LockMap, second: &LockMap) {
    let a = first.acquire(W);
    let b = second.acquire(W);
    second.release(b);
    first.release(a);
}

/// Checks that a fresh ordinary acquire/release pair (and an ordered pair
/// of two fresh locks) raises nothing and leaves the held stack as it was:
/// the thread's state is still sound after a misuse.
#[track_caller]
fn assert_still_sound(tag: &str) {
    let before = held_names();
    let (x, y) = (
        lock(&format!("{tag}.sound.x")),
        lock(&format!("{tag}.sound.y")),
    );
    let ((), reports) = capture(|| {
        nest(&x, &y);
        let h = x.acquire(R);
        x.assert_held();
        y.assert_not_held();
        x.release(h);
    });
    assert!(reports.is_empty(), "after {tag}: {}", show(&reports));
    assert_eq!(held_names(), before, "after {tag}: the held stack changed");
}

const EXPECTED: &str = "expected test panic";

/// Panics without running the panic hook (keeps the output quiet).
fn boom() -> ! {
    resume_unwind(Box::new(EXPECTED))
}

fn payload_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

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
        r.detail().contains("api_misuse.rs"),
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
        d.contains(&format!("api_misuse.rs:{line}:")),
        "the bad unlock at the end of `with` names: {d}"
    );
}

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

// ------------------------------------------------------------ capture

#[test]
fn nested_captures_each_collect_their_own() {
    let (a, b, c) = (lock("capnest.a"), lock("capnest.b"), lock("capnest.c"));
    let ((inner, innermost), outer) = capture(|| {
        a.assert_held(); // outer
        let (innermost, inner) = capture(|| {
            b.assert_held(); // inner
            let ((), innermost) = capture(|| c.assert_held());
            b.release_unpaired(); // inner
            innermost
        });
        a.release_unpaired(); // outer
        (inner, innermost)
    });
    let names = |rs: &[Report]| -> Vec<(ReportKind, Vec<String>)> {
        rs.iter()
            .map(|r| {
                (
                    r.kind(),
                    r.classes().iter().map(|s| (*s).to_owned()).collect(),
                )
            })
            .collect()
    };
    assert_eq!(
        names(&outer),
        [
            (
                ReportKind::AssertionFailed,
                vec!["misuse.capnest.a".to_owned()]
            ),
            (ReportKind::BadUnlock, vec!["misuse.capnest.a".to_owned()]),
        ]
    );
    assert_eq!(
        names(&inner),
        [
            (
                ReportKind::AssertionFailed,
                vec!["misuse.capnest.b".to_owned()]
            ),
            (ReportKind::BadUnlock, vec!["misuse.capnest.b".to_owned()]),
        ]
    );
    assert_eq!(
        names(&innermost),
        [(
            ReportKind::AssertionFailed,
            vec!["misuse.capnest.c".to_owned()]
        )]
    );
}

#[test]
fn capture_left_by_a_panic_leaves_reports_acting_again() {
    let (pseudo, x, y) = (lock("capboom.pseudo"), lock("capboom.x"), lock("capboom.y"));
    let r = catch_unwind(AssertUnwindSafe(|| {
        capture(|| {
            pseudo.with(W, || {
                x.assert_held();
                boom()
            })
        })
    }));
    assert_eq!(payload_text(&*r.expect_err("it panicked")), EXPECTED);
    // `with` released on unwind.
    assert!(held_locks().is_empty());
    // Capturing works again...
    let ((), reports) = capture(|| y.assert_held());
    assert_eq!(kinds(&reports), [ReportKind::AssertionFailed]);
    // ...and, outside any capture, a report acts again (prints and panics in
    // the default action) rather than going to a stale collection.
    // (Only in the default action: `KERNSYNC_LOCKDEP=warn` prints and goes on.)
    if action() == Action::Panic {
        let r = catch_unwind(|| y.assert_held());
        let msg = payload_text(&*r.expect_err("a report outside capture panics"));
        assert!(
            msg.contains("lock assertion failed"),
            "the panic message reads: {msg}"
        );
    }
    assert!(held_locks().is_empty());
    assert_still_sound("capboom");
}

// ------------------------------------------------------------ the handler

thread_local! {
    /// Whether this thread's reports go to `reentrant_handler`'s scenario.
    static IN_HANDLER_TEST: Cell<bool> = const { Cell::new(false) };
    /// Inside `reentrant_handler` on this thread.
    static HANDLING: Cell<bool> = const { Cell::new(false) };
}

/// What the handler saw and did, for the test to check.
static HANDLED: Mutex<Vec<String>> = Mutex::new(Vec::new());
static HANDLER_LOCKS: Mutex<Option<[&'static LockMap; 3]>> = Mutex::new(None);

/// A handler that does everything a handler should not: takes locks in an
/// order that closes a cycle, sleeps in an atomic section and raises a
/// report outside any capture (which re-enters the handler).
fn reentrant_handler(r: &Report) {
    if !IN_HANDLER_TEST.with(Cell::get) {
        eprintln!("{r}"); // another test's report: print it, as by default
        return;
    }
    let log = |s: String| HANDLED.lock().unwrap_or_else(|e| e.into_inner()).push(s);
    if HANDLING.with(Cell::get) {
        log(format!("reentered with {:?} {:?}", r.kind(), r.classes()));
        return;
    }
    HANDLING.with(|h| h.set(true));
    log(format!("handling {:?} {:?}", r.kind(), r.classes()));
    let [p, q, z] = HANDLER_LOCKS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .expect("the handler's locks");
    let held_in_handler = held_locks().len();
    let ((), inner) = capture(|| {
        nest(p, q);
        nest(q, p); // a cycle, raised inside the handler
        atomic_section(|| might_sleep());
    });
    for i in &inner {
        log(format!("captured {:?} {:?}", i.kind(), i.classes()));
    }
    // Outside capture: re-enters the handler, then panics (default action).
    let r = catch_unwind(|| z.assert_held());
    log(format!("nested report panicked: {}", r.is_err()));
    log(format!(
        "held in handler: {held_in_handler} -> {}",
        held_locks().len()
    ));
    HANDLING.with(|h| h.set(false));
}

#[test]
fn report_handler_that_takes_locks_and_raises_reports() {
    struct Unset;
    impl Drop for Unset {
        fn drop(&mut self) {
            set_handler(None);
            IN_HANDLER_TEST.with(|f| f.set(false));
        }
    }
    let trigger = lock("handler.trigger");
    let outer = lock("handler.outer");
    *HANDLER_LOCKS.lock().unwrap_or_else(|e| e.into_inner()) = Some([
        shared("handler.p"),
        shared("handler.q"),
        shared("handler.z"),
    ]);
    IN_HANDLER_TEST.with(|f| f.set(true));
    set_handler(Some(reentrant_handler));
    let _unset = Unset;
    let ho = outer.acquire(W);
    // Outside capture: the handler receives the report, then it panics.
    let r = catch_unwind(|| trigger.assert_held());
    let held_after = held_names();
    outer.release(ho);
    drop(_unset);
    let panics = action() == Action::Panic; // not under KERNSYNC_LOCKDEP=warn
    if panics {
        let msg = payload_text(&*r.expect_err("the report panics after the handler"));
        assert!(msg.contains("lock assertion failed"), "{msg}");
    } else {
        assert!(r.is_ok());
    }
    assert_eq!(held_after, ["misuse.handler.outer"]);
    assert!(held_locks().is_empty());
    let log = HANDLED.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(
        log,
        [
            "handling AssertionFailed [\"misuse.handler.trigger\"]",
            "captured CircularDependency [\"misuse.handler.p\", \"misuse.handler.q\"]",
            "captured SleepInAtomic []",
            "reentered with AssertionFailed [\"misuse.handler.z\"]",
            &format!("nested report panicked: {panics}"),
            "held in handler: 1 -> 1",
        ],
        "{log:#?}"
    );
    assert_still_sound("handler");
}

// ------------------------------------------------------------ scopes

#[test]
fn scopes_left_by_a_panic_inside_other_scopes_restore_the_outer_ones() {
    let sleeper = lock("scopes.sleeper");
    let (outer_line, reports) = capture(|| {
        let outer_line = line!() + 1;
        no_alloc(|| {
            let r = catch_unwind(|| {
                atomic_section(|| no_alloc(|| lock_internals(|| atomic_section(|| boom()))))
            });
            assert!(r.is_err());
            // Still in the outer no_alloc scope (and it is the one named),
            // no longer atomic, no longer in the lock's internals.
            might_alloc();
            might_sleep();
            let h = sleeper.acquire(W);
            sleeper.release(h);
        });
        // Out of every scope.
        might_alloc();
        might_sleep();
        outer_line
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::AllocUnderNoAlloc],
        "{}",
        show(&reports)
    );
    let d = reports[0].detail();
    assert!(
        d.contains(&format!("api_misuse.rs:{outer_line}:")),
        "names the outer scope (line {outer_line}): {d}"
    );
    // An atomic section entered after all that is atomic again.
    let ((), reports) = capture(|| atomic_section(|| might_sleep()));
    assert_eq!(kinds(&reports), [ReportKind::SleepInAtomic]);
    assert!(held_locks().is_empty());
}

#[test]
fn panic_while_holding_atomic_and_no_alloc_classes_restores_the_context() {
    static ATOMIC: LockClass = LockClass::new("misuse.ctx.atomic").atomic();
    static NOALLOC: LockClass = LockClass::new("misuse.ctx.noalloc").no_alloc();
    let (spin, na) = (LockMap::new(&ATOMIC), LockMap::new(&NOALLOC));
    let r = catch_unwind(AssertUnwindSafe(|| {
        spin.with(W, || na.with(W, || boom()));
    }));
    assert!(r.is_err());
    assert!(held_locks().is_empty());
    let ((), reports) = capture(|| {
        might_sleep();
        might_alloc();
    });
    assert!(reports.is_empty(), "{}", show(&reports));
}

// ------------------------------------------------------------ odd classes

#[test]
fn classes_leaked_twice_with_one_name_stay_distinct() {
    let name = "misuse.dup.same_name";
    let (c1, c2) = (LockClass::leak(name), LockClass::leak(name));
    assert!(!std::ptr::eq(c1, c2));
    let (l1, l2) = (LockMap::new(c1), LockMap::new(c2));
    let ((), reports) = capture(|| nest(&l1, &l2));
    // Not one class taken twice.
    assert!(reports.is_empty(), "{}", show(&reports));
    let ((), reports) = capture(|| nest(&l2, &l1));
    assert_eq!(
        kinds(&reports),
        [ReportKind::CircularDependency],
        "{}",
        show(&reports)
    );
    assert_eq!(reports[0].classes(), [name, name]);
    // The rendered report still tells them apart by the sites of the edges.
    let text = reports[0].to_string();
    assert!(text.contains("Chain exists of"), "{text}");
    let snap = graph();
    let same: Vec<_> = snap.classes.iter().filter(|c| c.name == name).collect();
    assert_eq!(same.len(), 2, "two nodes: {same:?}");
}

#[test]
fn empty_and_ten_thousand_character_names_render() {
    let long_name: String = "L".repeat(10_000);
    let (empty, long) = (
        LockMap::new(LockClass::leak("")),
        LockMap::new(LockClass::leak(&long_name)),
    );
    let ((), reports) = capture(|| {
        let he = empty.acquire(W);
        let hl = long.acquire(R);
        empty.assert_not_held();
        let again = long.acquire(R); // the same lock read twice: recursive
        long.release(again);
        long.release(hl);
        empty.release(he);
        // Reverse order: a cycle between the two.
        let hl = long.acquire(W);
        let he = empty.acquire(W);
        empty.release(he);
        long.release(hl);
        long.release_unpaired();
        empty.release_unpaired();
    });
    assert!(held_locks().is_empty());
    assert_eq!(
        kinds(&reports),
        [
            ReportKind::AssertionFailed,
            ReportKind::RecursiveLocking,
            ReportKind::CircularDependency,
            ReportKind::BadUnlock,
            ReportKind::BadUnlock,
        ]
    );
    for r in &reports {
        let text = r.to_string();
        assert!(text.starts_with(&"=".repeat(60)), "{text}");
        assert!(text.ends_with(&"=".repeat(60)));
        let _ = r.scenario();
        let _ = format!("{r:?}");
    }
    let cycle = &reports[2];
    assert_eq!(cycle.classes(), ["", long_name.as_str()]);
    assert!(cycle.to_string().contains(&long_name));
    assert!(cycle.scenario().contains("DEADLOCK"));
    assert!(reports[1].scenario().contains(&long_name));
    // The graph export quotes both.
    let snap = graph();
    let json = snap.to_json();
    let back = GraphSnapshot::from_json(&json).expect("the export parses");
    assert_eq!(back, snap);
    assert!(snap.to_dot().contains(&long_name));
}

#[test]
fn class_names_with_quotes_newlines_and_controls_export_and_parse() {
    let names = [
        "misuse.esc.\"quoted\"",
        "misuse.esc.back\\slash",
        "misuse.esc.new\nline",
        "misuse.esc.tab\tand\u{1}ctl",
        "misuse.esc.unicode é ✓ \u{10FFFF}",
    ];
    let locks: Vec<LockMap> = names
        .iter()
        .map(|n| LockMap::new(LockClass::leak(n)))
        .collect();
    let ((), reports) = capture(|| {
        for w in locks.windows(2) {
            nest(&w[0], &w[1]);
        }
        nest(&locks[4], &locks[0]);
    });
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
    let _ = reports[0].to_string();
    let snap = graph();
    let back = GraphSnapshot::from_json(&snap.to_json()).expect("the export parses");
    assert_eq!(back, snap);
    for n in names {
        assert!(back.classes.iter().any(|c| c.name == n), "{n:?} lost");
    }
    let dot = snap.to_dot();
    assert!(!dot.contains("new\nline"), "raw newline in DOT");
}

#[test]
fn declared_orders_that_contradict_or_point_at_themselves() {
    static SELF_FIRST: LockClass = LockClass::new("misuse.decl.self").before(&[&SELF_FIRST]);
    static MUT_A: LockClass = LockClass::new("misuse.decl.mut_a").before(&[&MUT_B]);
    static MUT_B: LockClass = LockClass::new("misuse.decl.mut_b").before(&[&MUT_A]);
    let (s1, s2) = (LockMap::new(&SELF_FIRST), LockMap::new(&SELF_FIRST));
    let ((), reports) = capture(|| {
        let h = s1.acquire(W);
        s1.release(h);
    });
    assert!(reports.is_empty(), "{}", show(&reports));
    let ((), reports) = capture(|| nest(&s1, &s2));
    assert_eq!(
        kinds(&reports),
        [ReportKind::RecursiveLocking],
        "{}",
        show(&reports)
    );
    let (a, b) = (LockMap::new(&MUT_A), LockMap::new(&MUT_B));
    let ((), reports) = capture(|| {
        let h = a.acquire(W);
        a.release(h);
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::OrderViolation],
        "{}",
        show(&reports)
    );
    assert!(reports[0].detail().contains("contradict"), "{}", reports[0]);
    assert!(held_locks().is_empty());
    let ((), reports) = capture(|| nest(&b, &a));
    // Both orders are declared; taking one is a violation of the other.
    assert!(
        kinds(&reports)
            .iter()
            .all(|k| *k == ReportKind::OrderViolation),
        "{}",
        show(&reports)
    );
    assert!(held_locks().is_empty());
}

// ------------------------------------------------------------ sizes

/// Set in the child process that runs one scenario that may abort.
const CHILD: &str = "KERNSYNC_MISUSE_CHILD";

/// A declared order `c0 before c1 before ... before c{n-1}`, made at run
/// time (`LockClass::before` is a `const fn`, callable at run time too).
fn declared_chain(n: usize) -> &'static LockClass {
    let site = core::panic::Location::caller();
    let mut next: Option<&'static LockClass> = None;
    for i in (0..n).rev() {
        let name: &'static str = Box::leak(format!("misuse.deepdecl.{i}").into_boxed_str());
        let mut c = LockClass::new_at(name, site);
        if let Some(later) = next {
            c = c.before(Box::leak(vec![later].into_boxed_slice()));
        }
        next = Some(Box::leak(Box::new(c)));
    }
    next.expect("n > 0")
}

/// A class's declared order is registered on its first use with a work
/// list: a chain 5,000 classes deep (well under the class bound of 16384)
/// registers on a spawned thread's default 2 MiB stack. A recursion as deep
/// as the chain overflowed it and aborted the process (about 3,500 deep in
/// a debug build). Run in a child process so that an abort does not take
/// this binary down.
#[test]
fn deep_declared_order_chain_registers_without_overflowing_the_stack() {
    const DEPTH: usize = 5000;
    const NAME: &str = "deep_declared_order_chain_registers_without_overflowing_the_stack";
    if std::env::var_os(CHILD).is_some() {
        let reports = thread::Builder::new()
            .stack_size(2 << 20) // a spawned thread's default
            .spawn(|| {
                let first = LockMap::new(declared_chain(DEPTH));
                capture(|| {
                    let h = first.acquire(W);
                    first.release(h);
                })
                .1
            })
            .expect("spawn")
            .join()
            .expect("the registering thread");
        assert!(reports.is_empty(), "{}", show(&reports));
        assert!(is_enabled());
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            NAME,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .expect("run the child");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the child ({DEPTH}-deep declared chain) ended with {}: {}",
        out.status,
        stderr.lines().rev().take(3).collect::<Vec<_>>().join(" | ")
    );
}

#[test]
fn a_forty_class_cycle_is_reported_and_renders() {
    const N: usize = 40;
    let locks: Vec<LockMap> = (0..N).map(|i| lock(&format!("long.{i:02}"))).collect();
    let ((), quiet) = capture(|| {
        for w in locks.windows(2) {
            nest(&w[0], &w[1]);
        }
    });
    assert!(quiet.is_empty(), "{}", show(&quiet));
    let ((), reports) = capture(|| nest(&locks[N - 1], &locks[0]));
    assert!(held_locks().is_empty());
    assert_eq!(
        kinds(&reports),
        [ReportKind::CircularDependency],
        "{}",
        show(&reports)
    );
    let r = &reports[0];
    assert_eq!(r.edges().len(), N);
    assert_eq!(r.classes().len(), N);
    for i in 0..N {
        assert_eq!(r.edges()[i].to, r.edges()[(i + 1) % N].from);
    }
    let text = r.to_string();
    assert!(text.contains("-> #39 "), "{text}");
    assert!(text.contains("T39: "), "{text}");
    assert!(text.contains("*** DEADLOCK ***"));
    for i in 0..N {
        assert!(text.contains(&format!("misuse.long.{i:02}")));
    }
}

#[test]
fn a_full_held_stack_in_mixed_modes_released_out_of_order() {
    let nested_class = class("full.nested");
    let locks: Vec<LockMap> = (0..MAX_DEPTH - 2)
        .map(|i| lock(&format!("full.{i:02}")))
        .collect();
    let (n0, n1) = (LockMap::new(nested_class), LockMap::new(nested_class));
    let ((depth, enabled_while_full), reports) = capture(|| {
        let mut hs: Vec<(usize, Held)> = locks
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let h = match i % 4 {
                    0 => l.acquire(W),
                    1 => l.acquire(R),
                    2 => l.acquire(RR),
                    _ => l.try_acquired(W),
                };
                (i, h)
            })
            .collect();
        let h0 = n0.acquire_nested(W, 0);
        let h1 = n1.acquire_nested(W, 1); // the 48th entry: the bound, not past it
        let depth = held_locks().len();
        let enabled = is_enabled();
        locks[MAX_DEPTH / 2].assert_held();
        n1.release(h1);
        // Odd indices first, then the even ones from the top down.
        let (odd, even): (Vec<_>, Vec<_>) = hs.drain(..).partition(|(i, _)| i % 2 == 1);
        for (i, h) in odd {
            locks[i].release(h);
        }
        n0.release(h0);
        for (i, h) in even.into_iter().rev() {
            locks[i].release(h);
        }
        (depth, enabled)
    });
    assert!(held_locks().is_empty());
    assert!(reports.is_empty(), "{}", show(&reports));
    assert_eq!(depth, MAX_DEPTH);
    assert!(enabled_while_full && is_enabled());
    // The same chain again hits the chain cache: still quiet.
    let ((), reports) = capture(|| {
        let hs: Vec<Held> = locks.iter().map(|l| l.acquire(W)).collect();
        for (l, h) in locks.iter().zip(hs).rev() {
            l.release(h);
        }
    });
    assert!(reports.is_empty(), "{}", show(&reports));
    assert_still_sound("full");
}

#[test]
fn sixteen_threads_each_take_a_fresh_chain_at_once() {
    const THREADS: usize = 16;
    const LEN: usize = 6;
    const ROUNDS: usize = 50;
    // A chain shared by every thread, always in one order, and one of each
    // thread's own, nested inside it.
    let common: Vec<&'static LockMap> = (0..LEN)
        .map(|i| shared(&format!("threads.common.{i}")))
        .collect();
    let start = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let common = common.clone();
            let start = Arc::clone(&start);
            let own: Vec<LockMap> = (0..LEN)
                .map(|i| lock(&format!("threads.own.{t}.{i}")))
                .collect();
            thread::Builder::new()
                .name(format!("misuse-{t}"))
                .spawn(move || {
                    start.wait();
                    capture(|| {
                        for round in 0..ROUNDS {
                            let mut hs: Vec<(&LockMap, Held)> = Vec::new();
                            for (i, l) in common.iter().enumerate() {
                                let mode = if (round + i) % 3 == 0 { R } else { W };
                                hs.push((l, l.acquire(mode)));
                                if i % 2 == t % 2 {
                                    let o = &own[i];
                                    hs.push((o, o.acquire(W)));
                                }
                            }
                            if round % 2 == 0 {
                                hs.reverse();
                            }
                            for (l, h) in hs {
                                l.release(h);
                            }
                            assert!(held_locks().is_empty());
                        }
                    })
                    .1
                })
                .expect("spawn")
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.join().expect("a chain thread panicked"));
    }
    assert!(all.is_empty(), "{}", show(&all));
    assert!(is_enabled());
    let snap = graph();
    let ix = |n: &str| snap.classes.iter().position(|c| c.name == n);
    for i in 0..LEN - 1 {
        let (f, t) = (
            ix(&format!("misuse.threads.common.{i}")).expect("class"),
            ix(&format!("misuse.threads.common.{}", i + 1)).expect("class"),
        );
        assert!(snap.edges.iter().any(|e| e.from == f && e.to == t));
    }
}

#[test]
fn snapshots_while_another_thread_adds_edges() {
    const N: usize = 300;
    let locks: Vec<LockMap> = (0..N).map(|i| lock(&format!("snap.{i:03}"))).collect();
    let done = AtomicBool::new(false);
    let snapshots = AtomicUsize::new(0);
    let reports = thread::scope(|s| {
        let writer = s.spawn(|| {
            let ((), reports) = capture(|| {
                for w in locks.windows(2) {
                    nest(&w[0], &w[1]);
                }
                for i in (0..N - 10).step_by(10) {
                    nest(&locks[i], &locks[i + 10]);
                }
            });
            done.store(true, Ordering::Release);
            reports
        });
        let reader = s.spawn(|| {
            let mut last_edges = 0;
            loop {
                let finished = done.load(Ordering::Acquire);
                let snap = graph();
                assert!(snap.edges.len() >= last_edges, "the graph shrank");
                last_edges = snap.edges.len();
                for e in &snap.edges {
                    assert!(e.from < snap.classes.len() && e.to < snap.classes.len());
                }
                let json = snap.to_json();
                let back = GraphSnapshot::from_json(&json).expect("a snapshot's JSON parses");
                assert_eq!(back, snap);
                let dot = snap.to_dot();
                assert!(dot.starts_with("digraph lockdep {") && dot.ends_with("}\n"));
                assert_eq!(
                    dot.matches(" -> n").count(),
                    snap.edges.len(),
                    "one DOT arrow per edge"
                );
                snapshots.fetch_add(1, Ordering::Relaxed);
                if finished {
                    break;
                }
            }
        });
        reader.join().expect("the snapshot thread");
        writer.join().expect("the writer thread")
    });
    assert!(reports.is_empty(), "{}", show(&reports));
    assert!(snapshots.load(Ordering::Relaxed) >= 1);
    let snap = graph();
    let ix = |n: &str| snap.classes.iter().position(|c| c.name == n);
    let (first, last) = (
        ix("misuse.snap.000").expect("class"),
        ix(&format!("misuse.snap.{:03}", N - 1)).expect("class"),
    );
    assert!(snap.edges.iter().any(|e| e.from == first));
    assert!(snap.edges.iter().any(|e| e.to == last));
}
