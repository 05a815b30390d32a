//! `PercpuRwSem` keeps exact per-thread read state under an adversarial
//! user: a thread that tries to write a lock it reads (fails, never hangs,
//! and lets readers back in), a thread whose one-entry slot cache keeps
//! switching between locks while a writer waits, three locks read in random
//! interleavings, and a thread reading a thousand locks at once, then new
//! ones at the same addresses. Every scenario runs under a watchdog: a hang
//! fails with a message.
#![cfg(not(loom))]

#[path = "common/bounded.rs"]
mod bounded;

use bounded::{bounded, LIMIT};
use kernsync_lockdep::{capture, LockClass};
use kernsync_percpu::PercpuRwSem;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

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
