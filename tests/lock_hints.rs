//! A report's hint fits the lock it is about: each lock type describes what
//! it offers (`LockKind`), and the hint names only methods from that
//! description, or says that no annotation can help. One test per report
//! kind and lock type, and one that calls every method each description
//! claims (so a description cannot name a method the type lacks).
#![cfg(any(debug_assertions, feature = "lockdep"))]

use kernsync::lockdep::{capture, LockClass, LockKind, Report, ReportKind};
use kernsync::percpu::PercpuRwSem;
use kernsync::rwsem::{Mutex, RwSem};
use std::time::Duration;

/// The one report `f` raises, which must be recursive locking, and its hint.
fn hint_of(f: impl FnOnce()) -> String {
    let ((), reports) = capture(f);
    let kinds: Vec<ReportKind> = reports.iter().map(Report::kind).collect();
    assert_eq!(kinds, [ReportKind::RecursiveLocking], "{reports:#?}");
    let hint = reports[0]
        .hint()
        .expect("a recursive-locking report has a hint");
    assert!(
        reports[0].to_string().contains(hint),
        "the hint is printed: {}",
        reports[0]
    );
    hint.to_owned()
}

fn names(kind: &LockKind) -> Vec<&'static str> {
    [kind.nested, kind.nest_lock, kind.ordered]
        .into_iter()
        .flatten()
        .collect()
}

const NOW: Duration = Duration::ZERO;

#[test]
fn a_second_read_of_one_lock() {
    // RwSem offers a recursive read: the hint names it.
    let s = RwSem::new(0);
    let hint = hint_of(|| {
        let _a = s.read();
        let _b = s.read();
    });
    assert!(
        hint.contains(RwSem::<()>::kind().recursive_read.unwrap()),
        "{hint}"
    );
    // PercpuRwSem has none: the hint says so and names no method.
    let p = PercpuRwSem::new(0);
    let hint = hint_of(|| {
        let _a = p.read();
        let _b = p.read();
    });
    assert_eq!(PercpuRwSem::<()>::kind().recursive_read, None);
    assert!(hint.contains("PercpuRwSem has no recursive read"), "{hint}");
    assert!(!hint.contains("read_recursive"), "{hint}");
}

#[test]
fn a_write_under_a_read_of_one_lock() {
    let s = RwSem::new(0);
    let hint = hint_of(|| {
        let _r = s.read();
        let _w = s.try_write_for(NOW); // timed: validated, then times out
    });
    assert!(
        hint.contains(RwSem::<()>::kind().upgradable_read.unwrap()),
        "{hint}"
    );
    assert!(
        hint.contains("no nesting annotation can change that"),
        "{hint}"
    );
    assert!(
        !hint.contains("nested"),
        "no annotation is suggested: {hint}"
    );
    let p = PercpuRwSem::new(0);
    let hint = hint_of(|| {
        let _r = p.read();
        let _w = p.try_write_for(NOW);
    });
    assert!(hint.contains("drop the read before writing"), "{hint}");
    assert!(!hint.contains("upgradable"), "{hint}");
}

#[test]
fn the_same_mutex_again() {
    let m = Mutex::new(0);
    let hint = hint_of(|| {
        let _a = m.lock();
        let _b = m.try_lock_for(NOW);
    });
    assert!(hint.contains("Mutex is not reentrant"), "{hint}");
    assert!(!hint.contains("lock_nested"), "no annotation fits: {hint}");
}

#[test]
fn two_locks_of_one_class() {
    for (kind, hint) in [
        (Mutex::<()>::kind(), {
            let class = LockClass::leak("hint.mutex");
            let (a, b) = (Mutex::with_class(0, class), Mutex::with_class(0, class));
            hint_of(|| {
                let _a = a.lock();
                let _b = b.lock();
            })
        }),
        (RwSem::<()>::kind(), {
            let class = LockClass::leak("hint.rwsem");
            let (a, b) = (RwSem::with_class(0, class), RwSem::with_class(0, class));
            hint_of(|| {
                let _a = a.write();
                let _b = b.write();
            })
        }),
    ] {
        for m in names(kind) {
            assert!(
                hint.contains(m),
                "{} hint should name {m}: {hint}",
                kind.name
            );
        }
        assert!(hint.contains(kind.named.unwrap()), "{hint}");
    }
    // PercpuRwSem has no nesting annotations: its own class is the way.
    let class = LockClass::leak("hint.percpu");
    let (a, b) = (
        PercpuRwSem::with_class(0, class),
        PercpuRwSem::with_class(0, class),
    );
    let hint = hint_of(|| {
        let _a = a.write();
        let _b = b.write();
    });
    assert!(names(PercpuRwSem::<()>::kind()).is_empty());
    assert!(
        hint.contains("PercpuRwSem has no nesting annotations"),
        "{hint}"
    );
    assert!(hint.contains("PercpuRwSem::named"), "{hint}");
    assert!(!hint.contains("nested"), "{hint}");
}

/// Every method a description names, called: a description that named a
/// method the type lacks would not compile here, and one that changed its
/// names would fail the equalities.
#[test]
fn every_method_a_description_claims_exists() {
    let k = Mutex::<()>::kind();
    assert_eq!(
        (k.name, k.recursive_read, k.upgradable_read),
        ("Mutex", None, None)
    );
    assert_eq!(
        (k.nested, k.nest_lock, k.ordered, k.named),
        (
            Some("Mutex::lock_nested"),
            Some("Mutex::lock_nest_lock"),
            Some("Mutex::lock_ordered"),
            Some("Mutex::named")
        )
    );
    let outer = Mutex::named("claims.outer", ());
    let m = Mutex::named("claims.mutex", ());
    drop(m.lock_nested(1));
    drop(m.lock_nest_lock(&outer.lock()));
    drop(m.lock_ordered(1));

    let k = RwSem::<()>::kind();
    assert_eq!(
        (k.name, k.recursive_read, k.upgradable_read, k.named),
        (
            "RwSem",
            Some("RwSem::read_recursive"),
            Some("RwSem::upgradable_read"),
            Some("RwSem::named")
        )
    );
    assert_eq!(
        (k.nested, k.nest_lock, k.ordered),
        (
            Some("RwSem::read_nested / write_nested"),
            Some("RwSem::read_nest_lock / write_nest_lock"),
            Some("RwSem::read_ordered / write_ordered")
        )
    );
    let outer = RwSem::named("claims.rwsem.outer", ());
    let s = RwSem::named("claims.rwsem", ());
    drop(s.read_recursive());
    drop(s.upgradable_read());
    drop(s.read_nested(1));
    drop(s.write_nested(1));
    {
        let o = outer.write();
        drop(s.read_nest_lock(&o));
        drop(s.write_nest_lock(&o));
    }
    drop(s.read_ordered(1));
    drop(s.write_ordered(1));

    let k = PercpuRwSem::<()>::kind();
    assert_eq!(k.named, Some("PercpuRwSem::named"));
    drop(PercpuRwSem::named("claims.percpu", ()).read());
}
