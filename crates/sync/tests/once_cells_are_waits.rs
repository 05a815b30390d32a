//! Once-cell initialisation is a wait the validator sees, as Linux sees
//! `flush_work`: an initialiser that takes a lock, and a caller that
//! reaches the cell holding that lock, are a cycle found from a run that
//! never raced; an initialiser that reaches its own cell is recursive
//! locking; nested initialisation of sibling cells (a lazy tree) is not.
#![cfg(any(debug_assertions, feature = "lockdep"))]

use kernsync_lockdep::{capture, ReportKind};
use kernsync_sync::{LazyLock, Mutex, Once, OnceLock};
use std::panic::{catch_unwind, AssertUnwindSafe};

fn kinds(reports: &[kernsync_lockdep::Report]) -> Vec<ReportKind> {
    reports.iter().map(|r| r.kind()).collect()
}

#[test]
fn a_once_lock_whose_initialiser_takes_a_lock_held_by_a_later_caller_is_a_cycle() {
    let lock = Mutex::new(());
    let cell = OnceLock::new();
    let ((), reports) = capture(|| {
        // Initialised with nothing held: cell -> lock.
        cell.get_or_init(|| {
            drop(lock.lock().unwrap());
            1
        });
        // Later, reached holding the lock: lock -> cell. Had this run first,
        // on another thread, the two would deadlock.
        let _g = lock.lock().unwrap();
        assert_eq!(*cell.get_or_init(|| 2), 1);
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::CircularDependency],
        "{reports:#?}"
    );
    let text = reports[0].to_string();
    assert!(
        text.contains("OnceLock") || text.contains("once_cells_are_waits.rs"),
        "{text}"
    );
}

#[test]
fn each_waiting_method_of_each_cell_is_seen() {
    type Lazy<'a> = LazyLock<u8, Box<dyn FnOnce() -> u8 + 'a>>;
    type Wait = for<'a, 'b> fn(&'b OnceLock<u8>, &'b Lazy<'a>, &'b Once);
    let waits: [(&str, Wait); 6] = [
        ("OnceLock::get_or_init", |c, _, _| {
            c.get_or_init(|| 0);
        }),
        ("OnceLock::set", |c, _, _| {
            let _ = c.set(0);
        }),
        ("OnceLock::wait", |c, _, _| {
            c.wait();
        }),
        ("LazyLock::force", |_, l, _| {
            LazyLock::force(l);
        }),
        ("Once::call_once", |_, _, o| o.call_once(|| {})),
        ("Once::wait", |_, _, o| o.wait()),
    ];
    for (name, wait) in waits {
        // Classes of their own in each round (each cycle is reported once).
        let lock = Mutex::named(name, ());
        // Each initialiser takes the lock.
        let cell = OnceLock::named(name);
        let lazy: Lazy<'_> = LazyLock::named(
            name,
            Box::new(|| {
                drop(lock.lock().unwrap());
                1
            }),
        );
        let once = Once::named(name);
        let ((), reports) = capture(|| {
            cell.get_or_init(|| {
                drop(lock.lock().unwrap());
                1
            });
            LazyLock::force(&lazy);
            once.call_once(|| drop(lock.lock().unwrap()));
            let _g = lock.lock().unwrap();
            wait(&cell, &lazy, &once);
        });
        assert_eq!(
            kinds(&reports),
            [ReportKind::CircularDependency],
            "{name}: {reports:#?}"
        );
    }
}

#[test]
fn get_and_is_completed_do_not_wait_and_are_not_seen() {
    let lock = Mutex::new(());
    let cell = OnceLock::new();
    let once = Once::new();
    let ((), reports) = capture(|| {
        cell.get_or_init(|| {
            drop(lock.lock().unwrap());
            1
        });
        once.call_once(|| drop(lock.lock().unwrap()));
        let _g = lock.lock().unwrap();
        assert_eq!(cell.get(), Some(&1));
        assert!(once.is_completed());
    });
    assert!(reports.is_empty(), "{reports:#?}");
}

#[test]
fn initialising_under_a_lock_the_initialiser_does_not_take_is_fine() {
    let lock = Mutex::new(());
    let cell = OnceLock::new();
    let ((), reports) = capture(|| {
        let _g = lock.lock().unwrap();
        cell.get_or_init(|| 1);
        drop(_g);
        cell.get_or_init(|| 2);
    });
    assert!(reports.is_empty(), "{reports:#?}");
}

/// A lazy tree: each node's value forces its child's, all cells made at one
/// line. Their nesting follows the data and is not reported.
#[test]
fn nested_initialisation_of_sibling_cells_of_one_class_is_not_recursion() {
    let nodes: Vec<OnceLock<u32>> = (0..6).map(|_| OnceLock::new()).collect();
    fn depth(nodes: &[OnceLock<u32>], i: usize) -> u32 {
        *nodes[i].get_or_init(|| match nodes.get(i + 1) {
            Some(_) => depth(nodes, i + 1) + 1,
            None => 0,
        })
    }
    let (d, reports) = capture(|| depth(&nodes, 0));
    assert_eq!(d, 5);
    assert!(reports.is_empty(), "{reports:#?}");
}

/// Past eight nested cells of one class the waits are not tracked, rather
/// than reported falsely.
#[test]
fn a_lazy_chain_deeper_than_the_subclasses_is_not_reported() {
    let nodes: Vec<OnceLock<u32>> = (0..20).map(|_| OnceLock::new()).collect();
    fn depth(nodes: &[OnceLock<u32>], i: usize) -> u32 {
        *nodes[i].get_or_init(|| match nodes.get(i + 1) {
            Some(_) => depth(nodes, i + 1) + 1,
            None => 0,
        })
    }
    let (d, reports) = capture(|| depth(&nodes, 0));
    assert_eq!(d, 19);
    assert!(reports.is_empty(), "{reports:#?}");
}

/// Re-entrant initialisation of one cell: std deadlocks (or panics); with
/// the validator the default action panics before the wait, naming it, and
/// the cell is left empty and usable.
#[test]
fn an_initialiser_reaching_its_own_cell_is_recursive_locking() {
    let cell: OnceLock<u32> = OnceLock::new();
    let err = catch_unwind(AssertUnwindSafe(|| {
        cell.get_or_init(|| *cell.get_or_init(|| 1) + 1);
    }))
    .expect_err("re-entrant initialisation must be reported");
    let text = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default();
    assert!(text.contains("recursive locking"), "{text}");
    assert_eq!(cell.get(), None);
    assert_eq!(*cell.get_or_init(|| 7), 7);
    assert!(kernsync_lockdep::held_locks().is_empty());
}

#[test]
fn a_once_reached_from_its_own_call_is_recursive_locking() {
    let once = Once::new();
    let err = catch_unwind(AssertUnwindSafe(|| {
        once.call_once(|| once.call_once(|| {}))
    }))
    .expect_err("re-entrant call_once must be reported");
    let text = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default();
    assert!(text.contains("recursive locking"), "{text}");
    assert!(kernsync_lockdep::held_locks().is_empty());
}

/// Two threads: one initialises while the other waits; neither reports
/// (the waiter holds no lock the initialiser takes).
#[test]
fn a_real_wait_on_another_thread_reports_nothing() {
    let lock = Mutex::new(0);
    let cell = OnceLock::new();
    let (v, reports) = capture(|| {
        std::thread::scope(|s| {
            let init = s.spawn(|| {
                *cell.get_or_init(|| {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    *lock.lock().unwrap() + 3
                })
            });
            let waited = *cell.wait();
            assert_eq!(init.join().unwrap(), waited);
            waited
        })
    });
    assert_eq!(v, 3);
    assert!(reports.is_empty(), "{reports:#?}");
}
