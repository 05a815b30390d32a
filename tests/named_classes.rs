//! Locks made at one line share a class (the rule, and right for a `Vec` of
//! locks), so `#[derive(Default)]` on a struct with two lock fields makes
//! them one class, and nesting them is reported. `named` gives a lock its
//! own class inline: the class is the construction site *and* the name.
#![cfg(any(debug_assertions, feature = "lockdep"))]

use kernsync::lockdep::{capture, Report, ReportKind};
use kernsync::notifier::{NotifierChain, Verdict};
use kernsync::percpu::PercpuRwSem;
use kernsync::rwsem::{Mutex, RwSem};

fn kinds(reports: &[Report]) -> Vec<ReportKind> {
    reports.iter().map(|r| r.kind()).collect()
}

#[derive(Default)]
struct Accounts {
    left: Mutex<u64>,
    right: Mutex<u64>,
}

#[test]
fn derived_default_fields_share_a_class_and_the_report_says_why() {
    let accounts = Accounts::default();
    let ((), reports) = capture(|| {
        let _l = accounts.left.lock();
        let _r = accounts.right.lock();
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::RecursiveLocking],
        "{reports:#?}"
    );
    let detail = reports[0].detail();
    assert!(detail.contains("both locks were made at"), "{detail}");
    assert!(detail.contains("share a class"), "{detail}");
    assert!(detail.contains("named"), "{detail}");
}

struct Named {
    left: Mutex<u64>,
    right: Mutex<u64>,
}

impl Default for Named {
    fn default() -> Named {
        Named {
            left: Mutex::named("accounts.left", 0),
            right: Mutex::named("accounts.right", 0),
        }
    }
}

#[test]
fn named_fields_are_classes_of_their_own() {
    let accounts = Named::default();
    let ((), reports) = capture(|| {
        let _l = accounts.left.lock();
        let _r = accounts.right.lock();
    });
    assert!(reports.is_empty(), "{reports:#?}");
    // And they are ordered like any two classes: the reverse is a cycle.
    let ((), reports) = capture(|| {
        let _r = accounts.right.lock();
        let _l = accounts.left.lock();
    });
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
    assert_eq!(reports[0].classes(), ["accounts.left", "accounts.right"]);
}

fn make(name: &'static str) -> RwSem<u32> {
    RwSem::named(name, 0) // one line, a class per name
}

#[test]
fn a_helper_that_names_its_locks_differently_makes_different_classes() {
    let (a, b, a2) = (make("helper.a"), make("helper.b"), make("helper.a"));
    let ((), reports) = capture(|| {
        let _a = a.write();
        let _b = b.write();
    });
    assert!(reports.is_empty(), "{reports:#?}");
    let ((), reports) = capture(|| {
        let _a = a.write();
        let _a2 = a2.write(); // the same name from the same line: one class
    });
    assert_eq!(kinds(&reports), [ReportKind::RecursiveLocking]);
    assert_eq!(reports[0].classes()[0], "helper.a");
}

static TABLE: PercpuRwSem<u32> = PercpuRwSem::named("static.table", 0);
static EVENTS: NotifierChain<u32> = NotifierChain::named("static.events");

#[test]
fn named_is_const_and_names_the_class_in_reports() {
    let ((), reports) = capture(|| {
        let _r = TABLE.read();
        let _again = TABLE.read(); // a second (non-recursive) read: recursion
    });
    assert_eq!(kinds(&reports), [ReportKind::RecursiveLocking]);
    assert_eq!(reports[0].classes()[0], "static.table");
}

/// A callback that takes `m` (the chain's lock -> m), removed, then `m`
/// held around a call (m -> the chain's lock): a cycle through the chain's
/// own lock, which the report must name after the chain.
fn cycle_through(chain: &'static NotifierChain<u32>, m: &'static Mutex<()>) -> Vec<Report> {
    let ((), reports) = capture(|| {
        let reg = chain.subscribe(
            move |_| {
                drop(m.lock());
                Verdict::Continue
            },
            0,
        );
        chain.call(&1);
        drop(reg); // else the second call's callback would wait for `m`
        let _g = m.lock();
        chain.call(&2);
    });
    reports
}

#[test]
fn a_named_chains_lock_is_called_after_the_chain() {
    static M: Mutex<()> = Mutex::named("named.chain.m", ());
    let reports = cycle_through(&EVENTS, &M);
    assert_eq!(
        kinds(&reports),
        [ReportKind::CircularDependency],
        "{reports:#?}"
    );
    assert!(
        reports[0]
            .classes()
            .contains(&"notifier chain static.events"),
        "{:?}",
        reports[0].classes()
    );
}

#[test]
fn an_unnamed_chains_lock_is_called_after_the_chain_and_its_line() {
    static CHAIN: NotifierChain<u32> = NotifierChain::new(); // this line
    static M: Mutex<()> = Mutex::named("unnamed.chain.m", ());
    let line = line!() - 2;
    let reports = cycle_through(&CHAIN, &M);
    assert_eq!(
        kinds(&reports),
        [ReportKind::CircularDependency],
        "{reports:#?}"
    );
    let name = format!("notifier chain {}:{line}:", file!());
    assert!(
        reports[0].classes().iter().any(|c| c.starts_with(&name)),
        "{:?} should name {name}..",
        reports[0].classes()
    );
}
