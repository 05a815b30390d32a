//! An adversarial user of `Srcu` and `PercpuRwSem`: deep and out-of-order
//! nesting, `synchronize` inside sections (of its own domain: refused; of
//! another: returns), publish / retire under churning short-lived reader
//! threads, a thread that tries to write a lock it reads (fails, never
//! hangs, and lets readers back in), a thread whose one-entry slot cache
//! keeps switching between locks, and a thread reading a thousand locks at
//! once. Every scenario runs under a watchdog: a hang fails with a message.
#![cfg(not(loom))]

use kernsync_lockdep::{capture, LockClass};
use kernsync_percpu::{PercpuRwSem, Srcu, SrcuReadGuard};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

/// How long a scenario may run before it counts as hung.
const LIMIT: Duration = Duration::from_secs(20);

/// Runs `f` on its own thread and fails (instead of hanging) if it does not
/// finish within [`LIMIT`]; a panic inside `f` is passed on.
fn bounded(what: &'static str, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel::<()>();
    let t = thread::Builder::new()
        .name(what.into())
        .spawn(move || {
            f();
            let _ = tx.send(());
        })
        .unwrap();
    match rx.recv_timeout(LIMIT) {
        Ok(()) => t.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(e) = t.join() {
                resume_unwind(e)
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: still running after {LIMIT:?} (hung)")
        }
    }
}

/// A small deterministic generator (no dependency).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

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

#[test]
fn try_write_on_a_thread_that_reads_the_lock_fails_fast_and_lets_readers_back_in() {
    bounded("try_write under own read", || {
        let lock = Arc::new(PercpuRwSem::new(7u32));
        let r = lock.read();
        let (w, _reports) = capture(|| lock.try_write().is_some());
        assert!(!w, "try_write succeeded beside this thread's own read");
        let start = Instant::now();
        let (w, _reports) = capture(|| lock.try_write_for(Duration::from_millis(10)).is_some());
        let took = start.elapsed();
        assert!(!w, "try_write_for succeeded beside this thread's own read");
        assert!(took < Duration::from_secs(5), "try_write_for took {took:?}");
        let (w, _reports) = capture(|| {
            lock.try_write_until(Instant::now() + Duration::from_millis(5))
                .is_some()
        });
        assert!(!w);
        // The timed-out writer is gone: no writer is about, readers get in
        // at once, on another thread (untimed try) and on this one.
        assert!(!lock.is_locked_exclusive());
        assert!(lock.is_read_held_by_current_thread());
        assert_eq!(lock.readers(), 1);
        {
            let lock = Arc::clone(&lock);
            thread::spawn(move || {
                assert_eq!(*lock.try_read().expect("readers let back in"), 7);
                assert_eq!(*lock.read(), 7);
            })
            .join()
            .unwrap();
        }
        assert_eq!(*r, 7);
        drop(r);
        assert!(!lock.is_read_held_by_current_thread());
        *lock.try_write().expect("no read left") += 1;
        assert_eq!(*lock.read(), 8);
        assert_eq!(lock.readers(), 0);
    });
}

#[test]
fn a_waiting_writer_is_not_confused_when_the_readers_cache_switches_locks() {
    bounded("writer vs cache switch", || {
        let a = Arc::new(PercpuRwSem::new(1u32));
        let b = Arc::new(PercpuRwSem::new(2u32));
        let (held_tx, held_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let reader = {
            let (a, b) = (Arc::clone(&a), Arc::clone(&b));
            thread::spawn(move || {
                let ra = a.read();
                // Many reads of B: the cached slot is now B's.
                for _ in 0..1000 {
                    assert_eq!(*b.read(), 2);
                }
                assert!(a.is_read_held_by_current_thread());
                assert!(!b.is_read_held_by_current_thread());
                held_tx.send(()).unwrap();
                go_rx.recv().unwrap();
                drop(ra); // released through A's slot, not the cached B's
                assert!(!a.is_read_held_by_current_thread());
                for _ in 0..10 {
                    assert_eq!(*b.read(), 3, "B's write before `go` is seen");
                }
            })
        };
        held_rx.recv_timeout(LIMIT).unwrap();
        assert_eq!((a.readers(), b.readers()), (1, 0));
        assert!(a.try_write_for(Duration::from_millis(20)).is_none());
        *b.try_write().expect("B is not read") += 1;
        let (wrote_tx, wrote_rx) = mpsc::channel();
        let writer = {
            let a = Arc::clone(&a);
            thread::spawn(move || {
                *a.write() += 10;
                wrote_tx.send(()).unwrap();
            })
        };
        assert_eq!(
            wrote_rx.recv_timeout(Duration::from_millis(30)),
            Err(mpsc::RecvTimeoutError::Timeout),
            "the writer got in beside a read"
        );
        go_tx.send(()).unwrap();
        wrote_rx
            .recv_timeout(LIMIT)
            .expect("the writer never got in");
        writer.join().unwrap();
        reader.join().unwrap();
        assert_eq!(*a.read(), 11);
        assert_eq!((a.readers(), b.readers()), (0, 0));
    });
}

static CLASS_X: LockClass = LockClass::new("adversarial_x");
static CLASS_Y: LockClass = LockClass::new("adversarial_y");
static CLASS_Z: LockClass = LockClass::new("adversarial_z");

#[test]
fn three_locks_read_in_random_interleavings_keep_exact_per_thread_state() {
    bounded("three locks interleaved", || {
        let locks = [
            PercpuRwSem::with_class(0usize, &CLASS_X),
            PercpuRwSem::with_class(1usize, &CLASS_Y),
            PercpuRwSem::with_class(2usize, &CLASS_Z),
        ];
        thread::scope(|s| {
            for seed in [0x9e37_79b9_7f4a_7c15u64, 0x2545_f491_4f6c_dd1d] {
                let locks = &locks;
                s.spawn(move || {
                    // Reads in any order are fine at run time; the
                    // validator may dislike the orders: captured.
                    let ((), _reports) = capture(|| {
                        let mut rng = XorShift(seed);
                        let mut held: [Option<_>; 3] = [None, None, None];
                        for step in 0..5000 {
                            let i = (rng.next() % 3) as usize;
                            match held[i].take() {
                                Some(g) => drop(g),
                                None => held[i] = Some(locks[i].read()),
                            }
                            if rng.next().is_multiple_of(4) {
                                // A one-off read of another not-held lock.
                                let j = (rng.next() % 3) as usize;
                                if held[j].is_none() {
                                    assert_eq!(*locks[j].read(), j);
                                }
                            }
                            for (k, lock) in locks.iter().enumerate() {
                                assert_eq!(
                                    lock.is_read_held_by_current_thread(),
                                    held[k].is_some(),
                                    "seed {seed:x} step {step}: lock {k}"
                                );
                                if let Some(g) = &held[k] {
                                    assert_eq!(**g, k);
                                }
                            }
                        }
                    });
                });
            }
        });
        for (k, lock) in locks.iter().enumerate() {
            assert_eq!(lock.readers(), 0, "lock {k}: a read leaked");
            assert!(lock.try_write().is_some(), "lock {k}");
            assert!(!lock.is_read_held_by_current_thread());
        }
        assert!(locks.iter().map(|l| l.reader_slots()).all(|n| n <= 2));
    });
}

#[test]
fn a_thread_reading_a_thousand_live_locks_then_new_ones_at_the_same_addresses() {
    bounded("thousand locks", || {
        let long_lived = PercpuRwSem::new(usize::MAX);
        let keep = long_lived.read();
        for round in 0..3 {
            // A thousand locks alive at once, each read once, then each
            // checked: the thread's table holds them all.
            let locks: Vec<PercpuRwSem<usize>> = (0..1000).map(PercpuRwSem::new).collect();
            for (i, l) in locks.iter().enumerate() {
                let ((), _) = capture(|| assert_eq!(*l.read(), i));
                assert!(
                    !l.is_read_held_by_current_thread(),
                    "round {round} lock {i}"
                );
                assert_eq!(l.readers(), 0);
                assert_eq!(l.reader_slots(), 1);
            }
            // Reads held on every 100th, checked after the rest were read.
            let ((), _) = capture(|| {
                let held: Vec<_> = locks.iter().step_by(100).map(|l| l.read()).collect();
                for (i, l) in locks.iter().enumerate() {
                    assert_eq!(l.is_read_held_by_current_thread(), i % 100 == 0, "lock {i}");
                    assert_eq!(l.readers(), usize::from(i % 100 == 0), "lock {i}");
                }
                drop(held);
            });
            for l in &locks {
                assert_eq!(l.readers(), 0);
                assert!(l.try_write().is_some());
            }
            drop(locks); // the next round's Vec likely reuses the memory
            assert!(long_lived.is_read_held_by_current_thread());
            assert_eq!(long_lived.readers(), 1);
        }
        assert_eq!(*keep, usize::MAX);
        thread::scope(|s| {
            s.spawn(|| assert!(long_lived.try_write().is_none()));
        });
        drop(keep);
        assert!(long_lived.try_write().is_some());
    });
}
