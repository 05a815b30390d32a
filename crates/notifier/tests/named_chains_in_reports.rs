//! A chain made with a name shows its internal lock as `notifier chain
//! <name>` in reports, not as a bare `file:line:col`.
#![cfg(all(not(loom), any(debug_assertions, feature = "lockdep")))]

use kernsync_lockdep::{capture, ReportKind};
use kernsync_notifier::{AtomicNotifierChain, NotifierChain, Verdict};
use kernsync_rwsem::Mutex;
use std::sync::Arc;

/// An inversion: a callback takes `m` (chain read -> m), then `m` is held
/// while registering (m -> chain write). The report names the chain.
#[test]
fn an_inversion_through_a_named_blocking_chain_names_it() {
    let m = Arc::new(Mutex::new(()));
    let chain = NotifierChain::<u32>::named("reboot");
    let _reg = {
        let m = m.clone();
        chain.subscribe(
            move |_| {
                drop(m.lock());
                Verdict::Continue
            },
            0,
        )
    };
    chain.call(&0);
    let p = chain.prepare(|_| Verdict::Continue, 1);
    let (reg, reports) = capture(|| {
        let _g = m.lock();
        chain.register(p)
    });
    drop(reg);
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(
        reports[0].kind(),
        ReportKind::CircularDependency,
        "{}",
        reports[0]
    );
    assert!(
        reports[0].classes().contains(&"notifier chain reboot"),
        "{}",
        reports[0]
    );
    assert!(reports[0].to_string().contains("\"notifier chain reboot\""));
}

/// A sleeping lock in a callback of a named atomic chain: the report shows
/// the chain's calls (its `Srcu`) as `notifier chain <name>`.
#[test]
fn sleeping_in_a_named_atomic_chain_names_it() {
    let m = Arc::new(Mutex::new(()));
    let chain = AtomicNotifierChain::<u32>::named("panic notifiers");
    let _reg = {
        let m = m.clone();
        chain.subscribe(
            move |_| {
                drop(m.lock());
                Verdict::Continue
            },
            0,
        )
    };
    let (_, reports) = capture(|| chain.call(&0));
    assert!(!reports.is_empty());
    let text = reports[0].to_string();
    assert!(text.contains("notifier chain panic notifiers"), "{text}");
}
