//! `set_limits` "fails if a new bound is below what is already in use": for
//! the class bound, the use is every registered class (and every node), and
//! a bound equal to the use is not below it (as for edges and chains).
//!
//! The test registers classes in this process's graph, so it has a binary of
//! its own.
#![cfg(any(debug_assertions, feature = "lockdep"))]

use kernsync_lockdep::{
    capture, graph, is_enabled, set_limits, Held, Limits, LimitsError, LockClass, LockMap, Mode,
};

fn classes(n: usize) -> Limits {
    Limits {
        classes: n,
        ..Limits::DEFAULT
    }
}

/// Tries `limits`, then restores the defaults so the next step starts clean.
fn try_limits(limits: Limits) -> Result<(), LimitsError> {
    let r = set_limits(limits);
    set_limits(Limits::DEFAULT).expect("the defaults are above use");
    r
}

#[test]
fn class_bound_is_checked_against_the_classes_in_use() {
    std::env::remove_var("KERNSYNC_LOCKDEP");
    assert!(is_enabled());
    // Three classes, taken nested: three classes, three nodes.
    let locks: Vec<LockMap> = (0..3)
        .map(|i| LockMap::new(LockClass::leak(&format!("below_use_{i}"))))
        .collect();
    let ((), reports) = capture(|| {
        let held: Vec<Held> = locks.iter().map(|l| l.acquire(Mode::Write)).collect();
        for (l, h) in locks.iter().zip(held).rev() {
            l.release(h);
        }
    });
    assert!(reports.is_empty(), "{reports:#?}");
    assert_eq!(graph().classes.len(), 3);
    let at_use_with_nodes = try_limits(classes(3));

    // Seven more classes, each taken alone: registered, but no graph node.
    let more: Vec<LockMap> = (3..10)
        .map(|i| LockMap::new(LockClass::leak(&format!("below_use_{i}"))))
        .collect();
    let ((), reports) = capture(|| {
        for l in &more {
            let h = l.acquire(Mode::Write);
            l.release(h);
        }
    });
    assert!(reports.is_empty(), "{reports:#?}");
    let below_registered = try_limits(classes(9));
    let at_registered = try_limits(classes(10));

    assert_eq!(
        (at_use_with_nodes, below_registered, at_registered),
        (Ok(()), Err(LimitsError::BelowUse), Ok(())),
        "(3 classes in use, bound 3), (10 in use, bound 9), (10 in use, bound 10)"
    );
    assert!(is_enabled());
}
