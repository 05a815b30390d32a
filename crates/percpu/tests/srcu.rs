//! `Srcu`: read sections never block, `synchronize` waits for every section
//! in flight and for none begun after it (a stream of readers cannot starve
//! it), sections nest, `synchronize` inside a section of its own domain is
//! refused instead of hanging, and the publish / synchronize / free pattern
//! never frees what a reader still uses.
#![cfg(not(loom))]

use kernsync_lockdep::{atomic_section, capture, ReportKind};
use kernsync_percpu::Srcu;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Polls `cond` for up to 10 s (a broken domain fails, never hangs).
fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let end = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn synchronize_waits_for_the_section_in_flight() {
    let d = Srcu::new();
    let inside = AtomicBool::new(false);
    let leave = AtomicBool::new(false);
    let synced = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            let _section = d.read();
            inside.store(true, Ordering::SeqCst);
            wait_until("told to leave", || leave.load(Ordering::SeqCst));
            assert!(!synced.load(Ordering::SeqCst), "synchronize returned early");
        });
        wait_until("the reader is inside", || inside.load(Ordering::SeqCst));
        s.spawn(|| {
            d.synchronize();
            synced.store(true, Ordering::SeqCst);
        });
        thread::sleep(Duration::from_millis(30));
        assert!(!synced.load(Ordering::SeqCst));
        leave.store(true, Ordering::SeqCst);
    });
    assert!(synced.load(Ordering::SeqCst));
}

#[test]
fn a_stream_of_readers_does_not_starve_synchronize() {
    let d = Srcu::new();
    let stop = AtomicBool::new(false);
    let sections = AtomicUsize::new(0);
    thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                // Back-to-back sections: the slot is almost never outside one.
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) && n < 50_000_000 {
                    let _a = d.read();
                    let _b = d.read(); // nested
                    n += 1;
                }
                sections.fetch_add(n, Ordering::Relaxed);
            });
        }
        wait_until("readers started", || d.reader_slots() == 2);
        let start = Instant::now();
        for _ in 0..20 {
            d.synchronize();
        }
        let took = start.elapsed();
        stop.store(true, Ordering::Relaxed);
        assert!(
            took < Duration::from_secs(10),
            "20 synchronize took {took:?}"
        );
        eprintln!("20 synchronize under 2 busy readers: {took:?}");
    });
    assert!(sections.load(Ordering::Relaxed) > 0);
}

#[test]
fn sections_nest_and_report_where_they_are() {
    let d = Srcu::new();
    assert!(!d.in_read_section());
    let a = d.read();
    let b = d.read();
    assert!(d.in_read_section());
    drop(a);
    assert!(d.in_read_section());
    drop(b);
    assert!(!d.in_read_section());
    // Outside any section of its own domain, synchronize returns at once.
    let other = Srcu::new();
    let _in_other = other.read();
    d.synchronize();
}

#[test]
fn synchronize_inside_its_own_section_is_refused_not_hung() {
    let d = Srcu::new();
    let (r, reports) = capture(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _section = d.read();
            d.synchronize();
        }))
    });
    assert!(r.is_err(), "synchronize inside its own section returned");
    if kernsync_lockdep::is_enabled() {
        assert!(
            reports
                .iter()
                .any(|r| r.kind() == ReportKind::RecursiveLocking),
            "{reports:?}"
        );
    }
    assert!(!d.in_read_section());
    d.synchronize();
}

#[test]
fn publish_synchronize_free_never_frees_what_a_reader_uses_bounded_2000_swaps() {
    const POISON: u64 = 0xdead_dead_dead_dead;
    let d = Srcu::new();
    let current = AtomicPtr::new(Box::into_raw(Box::new([0u64; 8])));
    let stop = AtomicBool::new(false);
    let torn = AtomicUsize::new(0);
    thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let _section = d.read();
                    let p = current.load(Ordering::Acquire);
                    // SAFETY: loaded inside a section: the writer frees it
                    // only after a synchronize that waits for this section.
                    let v = unsafe { &*p };
                    let first = v[0];
                    if first == POISON || v.iter().any(|&x| x != first) {
                        torn.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        for i in 1..=2000u64 {
            let old = current.swap(Box::into_raw(Box::new([i; 8])), Ordering::AcqRel);
            d.synchronize();
            // SAFETY: unpublished above, and every section that could have
            // loaded it has ended.
            let mut old = unsafe { Box::from_raw(old) };
            // Poison before freeing: a reader still looking would see it.
            old.fill(POISON);
            drop(old);
        }
        stop.store(true, Ordering::Relaxed);
    });
    // SAFETY: all readers joined.
    drop(unsafe { Box::from_raw(current.load(Ordering::Relaxed)) });
    assert_eq!(
        torn.load(Ordering::Relaxed),
        0,
        "a reader saw a freed value"
    );
}

/// A read section never blocks, so entering one inside an atomic section
/// (an atomic notifier call nested in another's callback, say) is no sleep.
#[test]
fn a_read_section_inside_an_atomic_section_is_not_a_sleep() {
    let d = Srcu::new();
    let ((), reports) = capture(|| {
        atomic_section(|| {
            let _outer = d.read();
            let _inner = d.read();
        })
    });
    assert!(reports.is_empty(), "{reports:#?}");
}

#[test]
fn a_section_during_thread_teardown_knows_it_is_one() {
    // A thread-local destructor that runs after the thread's slot table is
    // gone (registered before it: std runs them in reverse order on Linux)
    // enters through a slot claimed for that section alone; another
    // thread's section, in flight meanwhile, is not taken for its own.
    static SRCU: Srcu = Srcu::new();
    struct EntersOnDrop(std::sync::mpsc::Sender<[bool; 3]>);
    impl Drop for EntersOnDrop {
        fn drop(&mut self) {
            let before = SRCU.in_read_section();
            let g = SRCU.read();
            let inside = SRCU.in_read_section();
            drop(g);
            let after = SRCU.in_read_section();
            let _ = self.0.send([before, inside, after]);
        }
    }
    thread_local! {
        static TEARDOWN: std::cell::RefCell<Option<EntersOnDrop>> =
            const { std::cell::RefCell::new(None) };
    }
    let mine = SRCU.read();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        TEARDOWN.with(|d| *d.borrow_mut() = Some(EntersOnDrop(tx)));
        let other = Srcu::new();
        drop(other.read()); // makes the slot table, after `TEARDOWN`
    })
    .join()
    .unwrap();
    let seen = rx.try_recv().expect("the destructor did not run");
    assert_eq!(seen, [false, true, false], "before, inside and after");
    assert!(SRCU.in_read_section());
    drop(mine);
    assert!(!SRCU.in_read_section());
}
