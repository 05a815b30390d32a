//! Locks taken under a nest lock share one held-stack entry, and like every
//! lock they may be released in any order (README: "Release in any order").
//!
//! A failing run leaves a stale entry on the test thread, which the
//! thread-exit check would report; in the default `Panic` action that aborts
//! the binary, so this binary warns instead and holds one test.
#![cfg(any(debug_assertions, feature = "lockdep"))]

use kernsync_lockdep::{
    capture, held_locks, is_enabled, set_action, Action, Held, LockClass, LockMap, Mode,
};

#[test]
fn nest_locks_release_in_acquisition_order() {
    set_action(Action::Warn);
    assert!(is_enabled());
    let outer = LockMap::new(LockClass::leak("fifo_nest_outer"));
    let inner = LockClass::leak("fifo_nest_inner");
    let inners: Vec<LockMap> = (0..100).map(|_| LockMap::new(inner)).collect();

    let ((while_held, after_inners), reports) = capture(|| {
        let ho = outer.acquire(Mode::Write);
        let hs: Vec<Held> = inners
            .iter()
            .map(|l| l.acquire_nest_lock(Mode::Write, &outer))
            .collect();
        let while_held = held_locks().len();
        // First in, first out.
        for (l, h) in inners.iter().zip(hs) {
            l.release(h);
        }
        let after_inners: Vec<String> = held_locks().into_iter().map(|h| h.class).collect();
        outer.release(ho);
        (while_held, after_inners)
    });

    assert_eq!(while_held, 2);
    assert!(reports.is_empty(), "no bad unlock expected: {reports:#?}");
    assert_eq!(after_inners, ["fifo_nest_outer"]);
    assert!(held_locks().is_empty());
}
