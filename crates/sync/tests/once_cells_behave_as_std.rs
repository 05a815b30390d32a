//! `Once`, `OnceLock` and `LazyLock` behave as std's, side by side: one
//! initialisation under contention, poisoning and its panic messages,
//! `Debug` text, and the `&mut` methods. (Their validation is in
//! `once_cells_are_waits.rs`.)

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Barrier;
use std::thread;

fn panic_text(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

/// The text of the panic `f` raises (quietly: the default hook would print).
fn panic_of(f: impl FnOnce()) -> String {
    panic_text(&*catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic"))
}

#[test]
fn one_initialiser_runs_among_racing_threads_and_all_see_its_value() {
    const THREADS: usize = 8;
    for _ in 0..50 {
        let cell = kernsync_sync::OnceLock::new();
        let lazy_runs = AtomicUsize::new(0);
        let lazy = kernsync_sync::LazyLock::new(|| lazy_runs.fetch_add(1, Ordering::SeqCst) + 7);
        let once = kernsync_sync::Once::new();
        let (cell_runs, once_runs) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let start = Barrier::new(THREADS);
        thread::scope(|s| {
            for t in 0..THREADS {
                let (cell, lazy, once, start) = (&cell, &lazy, &once, &start);
                let (cell_runs, once_runs) = (&cell_runs, &once_runs);
                s.spawn(move || {
                    start.wait();
                    let v = *cell.get_or_init(|| {
                        cell_runs.fetch_add(1, Ordering::SeqCst);
                        t
                    });
                    assert_eq!(Some(&v), cell.get());
                    assert_eq!(**lazy, 7);
                    once.call_once(|| {
                        once_runs.fetch_add(1, Ordering::SeqCst);
                    });
                    assert!(once.is_completed());
                });
            }
        });
        assert_eq!(cell_runs.load(Ordering::SeqCst), 1);
        assert_eq!(lazy_runs.load(Ordering::SeqCst), 1);
        assert_eq!(once_runs.load(Ordering::SeqCst), 1);
    }
}

#[test]
fn wait_blocks_until_another_thread_initialises() {
    let cell = kernsync_sync::OnceLock::new();
    let once = kernsync_sync::Once::new();
    thread::scope(|s| {
        let waiter = s.spawn(|| {
            once.wait();
            *cell.wait()
        });
        cell.set(5).unwrap();
        once.call_once(|| {});
        assert_eq!(waiter.join().unwrap(), 5);
    });
    assert_eq!(cell.set(6), Err(6));
}

#[test]
fn a_panicking_initialiser_leaves_a_once_lock_empty_and_usable() {
    let cell = kernsync_sync::OnceLock::<u32>::new();
    let text = panic_of(|| {
        cell.get_or_init(|| panic!("init failed"));
    });
    assert_eq!(text, "init failed");
    assert_eq!(cell.get(), None);
    assert_eq!(*cell.get_or_init(|| 3), 3);
}

#[test]
fn a_poisoned_lazy_lock_panics_with_std_message_on_every_access() {
    let ours = kernsync_sync::LazyLock::<u32>::new(|| panic!("first"));
    let std = std::sync::LazyLock::<u32>::new(|| panic!("first"));
    assert_eq!(
        panic_of(|| {
            let _ = *ours;
        }),
        "first"
    );
    assert_eq!(
        panic_of(|| {
            let _ = *std;
        }),
        "first"
    );
    let (a, b) = (
        panic_of(|| {
            let _ = *ours;
        }),
        panic_of(|| {
            let _ = *std;
        }),
    );
    assert_eq!(a, b);
    assert_eq!(a, "LazyLock instance has previously been poisoned");
    assert_eq!(kernsync_sync::LazyLock::get(&ours), None);
    let mut ours = ours;
    let mut std = std;
    assert_eq!(
        panic_of(|| {
            let _ = *kernsync_sync::LazyLock::force_mut(&mut ours);
        }),
        panic_of(|| {
            let _ = *std::sync::LazyLock::force_mut(&mut std);
        })
    );
}

#[test]
fn a_poisoned_once_panics_as_std_and_call_once_force_sees_it() {
    let ours = kernsync_sync::Once::new();
    let std = std::sync::Once::new();
    assert_eq!(panic_of(|| ours.call_once(|| panic!("x"))), "x");
    assert_eq!(panic_of(|| std.call_once(|| panic!("x"))), "x");
    let (a, b) = (
        panic_of(|| ours.call_once(|| {})),
        panic_of(|| std.call_once(|| {})),
    );
    assert_eq!(a, b);
    assert_eq!(panic_of(|| ours.wait()), panic_of(|| std.wait()));
    let mut saw_poison = false;
    ours.call_once_force(|state| saw_poison = state.is_poisoned());
    assert!(saw_poison);
    assert!(ours.is_completed());
    ours.wait();
    ours.wait_force();
}

#[test]
fn debug_prints_as_std() {
    let (ours, std) = (
        kernsync_sync::OnceLock::<u8>::new(),
        std::sync::OnceLock::<u8>::new(),
    );
    assert_eq!(format!("{ours:?}"), format!("{std:?}"));
    ours.set(1).unwrap();
    std.set(1).unwrap();
    assert_eq!(format!("{ours:?}"), format!("{std:?}"));

    let ours = kernsync_sync::LazyLock::new(|| 4u8);
    let std = std::sync::LazyLock::new(|| 4u8);
    assert_eq!(format!("{ours:?}"), format!("{std:?}"));
    assert_eq!((*ours, *std), (4, 4));
    assert_eq!(format!("{ours:?}"), format!("{std:?}"));

    let (ours, std) = (kernsync_sync::Once::new(), std::sync::Once::new());
    assert_eq!(format!("{ours:?}"), format!("{std:?}"));
}

#[test]
fn mut_methods_conversions_and_equality_match_std() {
    let mut cell = kernsync_sync::OnceLock::from(vec![1]);
    cell.get_mut().unwrap().push(2);
    let copy = cell.clone();
    assert_eq!(copy, cell);
    assert_eq!(cell.take(), Some(vec![1, 2]));
    assert_eq!(cell.get(), None);
    assert_ne!(copy, cell);
    assert_eq!(copy.into_inner(), Some(vec![1, 2]));
    let empty: kernsync_sync::OnceLock<u8> = Default::default();
    assert_eq!(empty.into_inner(), None);

    let mut lazy = kernsync_sync::LazyLock::new(|| 10);
    assert_eq!(kernsync_sync::LazyLock::get_mut(&mut lazy), None);
    *lazy += 1; // DerefMut forces
    assert_eq!(kernsync_sync::LazyLock::get(&lazy), Some(&11));
    let default: kernsync_sync::LazyLock<Vec<u8>> = Default::default();
    assert!(default.is_empty());
}

#[test]
fn an_unforced_lazy_lock_drops_its_initialiser_and_a_forced_one_its_value() {
    struct Counted<'a>(&'a AtomicUsize);
    impl Drop for Counted<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let (f_drops, v_drops) = (&AtomicUsize::new(0), &AtomicUsize::new(0));
    {
        let captured = Counted(f_drops);
        let _lazy = kernsync_sync::LazyLock::new(move || {
            let _keep = &captured;
            Counted(v_drops)
        });
    }
    assert_eq!(
        (
            f_drops.load(Ordering::SeqCst),
            v_drops.load(Ordering::SeqCst)
        ),
        (1, 0)
    );
    {
        let captured = Counted(f_drops);
        let lazy = kernsync_sync::LazyLock::new(move || {
            let _keep = &captured;
            Counted(v_drops)
        });
        kernsync_sync::LazyLock::force(&lazy);
        assert_eq!(
            f_drops.load(Ordering::SeqCst),
            2,
            "the initialiser is dropped once it ran"
        );
    }
    assert_eq!(v_drops.load(Ordering::SeqCst), 1);
}
