//! `Srcu` used adversarially: sections 1000 deep dropped out of order hold
//! off `synchronize` until the last, `synchronize` inside a section of its
//! own domain is refused (and of another domain returns), and publish /
//! retire under churning short-lived reader threads. Every scenario runs
//! under a watchdog: a hang fails with a message.
#![cfg(not(loom))]

#[path = "common/bounded.rs"]
mod bounded;

use bounded::{bounded, LIMIT};
use kernsync_lockdep::capture;
use kernsync_percpu::{Srcu, SrcuReadGuard};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

/// Compiles only if `T` is not `Send` (two blanket impls are ambiguous
/// exactly when `T: Send`).
trait AmbiguousIfSend<A> {
    fn check() {}
}
impl<T: ?Sized> AmbiguousIfSend<()> for T {}
impl<T: ?Sized + Send> AmbiguousIfSend<u8> for T {}

#[test]
fn srcu_is_send_and_sync_and_its_guard_is_not_send() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Srcu>();
    <SrcuReadGuard<'static> as AmbiguousIfSend<_>>::check();
}

#[test]
fn srcu_sections_1000_deep_dropped_out_of_order_hold_off_synchronize_until_the_last() {
    // More than the validator's held-lock depth (48): it reports that once
    // and stops validating (captured here); the sections keep working.
    bounded("srcu 1000 deep", || capture(srcu_1000_deep).0);
}

fn srcu_1000_deep() {
    {
        let d = Arc::new(Srcu::new());
        let mut guards: Vec<Option<SrcuReadGuard<'_>>> =
            (0..1000).map(|_| Some(d.read())).collect();
        assert!(d.in_read_section());
        let (done_tx, done_rx) = mpsc::channel();
        let syncer = {
            let d = Arc::clone(&d);
            thread::spawn(move || {
                d.synchronize();
                done_tx.send(()).unwrap();
            })
        };
        // Drop the evens, then the odds but the first: never LIFO order.
        for i in (0..1000).step_by(2) {
            guards[i] = None;
        }
        for i in (3..1000).step_by(2) {
            guards[i] = None;
        }
        assert!(d.in_read_section(), "one section is still open");
        assert_eq!(
            done_rx.recv_timeout(Duration::from_millis(50)),
            Err(mpsc::RecvTimeoutError::Timeout),
            "synchronize returned while a section that began before it was open"
        );
        guards[1] = None;
        assert!(!d.in_read_section());
        done_rx
            .recv_timeout(LIMIT)
            .expect("synchronize did not return after the last section ended");
        syncer.join().unwrap();
        drop(guards);
        // Fresh nesting works again and synchronize returns at once.
        drop(d.read());
        d.synchronize();
    }
}

#[test]
fn srcu_synchronize_deep_inside_its_own_section_is_refused_then_usable() {
    bounded("srcu refuse deep", || {
        let d = Srcu::new();
        let (r, _reports) = capture(|| {
            catch_unwind(AssertUnwindSafe(|| {
                let _g: Vec<_> = (0..1000).map(|_| d.read()).collect();
                d.synchronize();
            }))
        });
        let err = r.expect_err("synchronize inside its own section returned");
        if let Some(msg) = err.downcast_ref::<String>() {
            eprintln!("refused with: {msg}");
        }
        assert!(!d.in_read_section(), "the unwound sections are left");
        d.synchronize();
        // Still refused at depth one after the deep attempt.
        let (r, _) = capture(|| {
            catch_unwind(AssertUnwindSafe(|| {
                let _g = d.read();
                d.synchronize();
            }))
        });
        assert!(r.is_err());
        d.synchronize();
    });
}

#[test]
fn srcu_synchronize_of_another_domain_inside_a_section_returns() {
    bounded("srcu other domain", || {
        let a = Arc::new(Srcu::new());
        let b = Arc::new(Srcu::new());
        let (inside_tx, inside_rx) = mpsc::channel();
        let (leave_tx, leave_rx) = mpsc::channel::<()>();
        // Another thread sits in a section of A, and has left one of B.
        let other = {
            let (a, b) = (Arc::clone(&a), Arc::clone(&b));
            thread::spawn(move || {
                let _in_a = a.read();
                drop(b.read());
                inside_tx.send(()).unwrap();
                leave_rx.recv().unwrap();
            })
        };
        inside_rx.recv_timeout(LIMIT).unwrap();
        // Interleaved across domains on this thread: A, B, then A ends.
        let my_a = a.read();
        let my_b = b.read();
        let my_b2 = b.read();
        drop(my_a);
        assert!(!a.in_read_section());
        assert!(b.in_read_section());
        // B's only sections are ours (refused); A's section here ended, but
        // the other thread's A section is in flight: synchronize A waits.
        let (r, _) = capture(|| catch_unwind(AssertUnwindSafe(|| b.synchronize())));
        assert!(r.is_err(), "synchronize B inside B was not refused");
        assert!(b.in_read_section(), "the refusal must not end our section");
        drop(my_b2);
        // Inside B: synchronizing a third, untouched domain returns.
        Srcu::new().synchronize();
        drop(my_b);
        // Inside nothing of B now; B has no readers: returns at once.
        b.synchronize();
        // Inside a section of B, synchronize A must wait for the other
        // thread only, and return once it leaves.
        let _in_b = b.read();
        let (done_tx, done_rx) = mpsc::channel();
        let syncer = {
            let a = Arc::clone(&a);
            thread::spawn(move || {
                a.synchronize();
                done_tx.send(()).unwrap();
            })
        };
        assert_eq!(
            done_rx.recv_timeout(Duration::from_millis(30)),
            Err(mpsc::RecvTimeoutError::Timeout),
            "synchronize A ignored a section of A in flight"
        );
        leave_tx.send(()).unwrap();
        other.join().unwrap();
        done_rx.recv_timeout(LIMIT).expect("synchronize A hung");
        syncer.join().unwrap();
        // And from inside B, on this thread.
        a.synchronize();
    });
}

/// A published object; `retired` is set once the writer's synchronize for
/// it returned (it is then kept, not freed, so a late reader is caught
/// without undefined behaviour).
struct Obj {
    gen: u64,
    retired: AtomicBool,
}

#[test]
fn srcu_publish_retire_with_churning_short_lived_readers_bounded_2000() {
    bounded("srcu publish/retire churn", || {
        const SWAPS: u64 = 2000;
        static D: Srcu = Srcu::new();
        static OTHER: Srcu = Srcu::new();
        static CURRENT: AtomicPtr<Obj> = AtomicPtr::new(std::ptr::null_mut());
        static STOP: AtomicBool = AtomicBool::new(false);
        static LATE: AtomicUsize = AtomicUsize::new(0);
        static SECTIONS: AtomicUsize = AtomicUsize::new(0);
        static WAVES: AtomicUsize = AtomicUsize::new(0);
        static BACKWARDS: AtomicUsize = AtomicUsize::new(0);
        CURRENT.store(
            Box::into_raw(Box::new(Obj {
                gen: 0,
                retired: AtomicBool::new(false),
            })),
            Ordering::Release,
        );
        let spawner = thread::spawn(|| {
            let mut waves = 0usize;
            while !STOP.load(Ordering::Relaxed) {
                waves += 1;
                WAVES.store(waves, Ordering::Relaxed);
                let threads: Vec<_> = (0..4u64)
                    .map(|k| {
                        thread::spawn(move || {
                            let mut last = 0;
                            for i in 0..2000u64 {
                                // Vary shapes: plain, nested, inside another
                                // domain's section (the cache switches).
                                let _o = ((i + k) % 3 == 0).then(|| OTHER.read());
                                let _s = D.read();
                                let _n = (i % 2 == 0).then(|| D.read());
                                let p = CURRENT.load(Ordering::Acquire);
                                // SAFETY: retired objects are never freed
                                // before every reader thread has joined.
                                let o = unsafe { &*p };
                                if o.retired.load(Ordering::SeqCst) {
                                    LATE.fetch_add(1, Ordering::Relaxed);
                                }
                                if o.gen < last {
                                    BACKWARDS.fetch_add(1, Ordering::Relaxed);
                                }
                                last = o.gen;
                                std::hint::spin_loop();
                                if o.retired.load(Ordering::SeqCst) {
                                    LATE.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            SECTIONS.fetch_add(2000, Ordering::Relaxed);
                        })
                    })
                    .collect();
                for t in threads {
                    t.join().unwrap();
                }
            }
            waves
        });
        let start = Instant::now();
        let mut graveyard = Vec::with_capacity(SWAPS as usize);
        // At least SWAPS, and on until 20 waves of reader threads came and
        // went meanwhile (capped).
        let mut gen = 0;
        while gen < SWAPS || (WAVES.load(Ordering::Relaxed) < 20 && gen < 100 * SWAPS) {
            gen += 1;
            let new = Box::into_raw(Box::new(Obj {
                gen,
                retired: AtomicBool::new(false),
            }));
            let old = CURRENT.swap(new, Ordering::AcqRel);
            D.synchronize();
            // SAFETY: kept alive in the graveyard; only the flag changes.
            unsafe { &*old }.retired.store(true, Ordering::SeqCst);
            graveyard.push(old);
        }
        let took = start.elapsed();
        STOP.store(true, Ordering::Relaxed);
        let waves = spawner.join().unwrap();
        eprintln!(
            "{gen} synchronize in {took:?}; {waves} waves of 4 threads, {} sections, {} reader slots",
            SECTIONS.load(Ordering::Relaxed),
            D.reader_slots()
        );
        for p in graveyard {
            // SAFETY: every reader joined.
            drop(unsafe { Box::from_raw(p) });
        }
        // SAFETY: every reader joined.
        drop(unsafe { Box::from_raw(CURRENT.load(Ordering::Acquire)) });
        assert_eq!(
            LATE.load(Ordering::Relaxed),
            0,
            "a reader saw an object retired inside its section"
        );
        assert_eq!(
            BACKWARDS.load(Ordering::Relaxed),
            0,
            "a reader went back in time"
        );
        assert!(
            D.reader_slots() <= 8,
            "slots of exited threads were not reused: {}",
            D.reader_slots()
        );
    });
}
