//! Bounded stress of the checked locks as users use them, validator on:
//! four threads mixing every `RwSem` operation and a `Mutex` + `Condvar`
//! handoff, with invariants checked under the locks (no writer beside a
//! reader, no lost update) and no report from a consistent lock order.
#![cfg(not(loom))]

use kernsync_lockdep::{capture, held_locks, LockClass};
use kernsync_rwsem::{
    Condvar, Mutex, RwSem, RwSemReadGuard, RwSemUpgradableReadGuard, RwSemWriteGuard,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const THREADS: usize = 4;
const ITERATIONS: usize = 5_000;

struct Shared {
    data: RwSem<u64>,
    /// Readers inside (checked against writers).
    readers: AtomicUsize,
    writers: AtomicUsize,
    count: Mutex<u64>,
    changed: Condvar,
}

fn reading(s: &Shared, g: &u64) -> u64 {
    s.readers.fetch_add(1, Ordering::SeqCst);
    assert_eq!(
        s.writers.load(Ordering::SeqCst),
        0,
        "a writer beside a reader"
    );
    let v = *g;
    s.readers.fetch_sub(1, Ordering::SeqCst);
    v
}

fn writing(s: &Shared, g: &mut u64) {
    assert_eq!(s.writers.fetch_add(1, Ordering::SeqCst), 0, "two writers");
    assert_eq!(
        s.readers.load(Ordering::SeqCst),
        0,
        "a reader beside a writer"
    );
    *g += 1;
    s.writers.fetch_sub(1, Ordering::SeqCst);
}

#[test]
fn stress_bounded_4_threads_5k_iterations_every_operation() {
    let s = Arc::new(Shared {
        data: RwSem::with_class(0, LockClass::leak("stress_data")),
        readers: AtomicUsize::new(0),
        writers: AtomicUsize::new(0),
        count: Mutex::with_class(0, LockClass::leak("stress_count")),
        changed: Condvar::new(),
    });
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                let ((writes, _), reports) = capture(|| {
                    let mut writes = 0u64;
                    let mut seen = 0u64;
                    for i in 0..ITERATIONS {
                        match (i + t) % 8 {
                            0 => seen = seen.max(reading(&s, &s.data.read())),
                            1 => {
                                let r = s.data.read();
                                let rr = s.data.read_recursive();
                                seen = seen.max(reading(&s, &rr));
                                drop(r);
                            }
                            2 => {
                                writing(&s, &mut s.data.write());
                                writes += 1;
                            }
                            3 => {
                                let up = s.data.upgradable_read();
                                let mut w = RwSemUpgradableReadGuard::upgrade(up);
                                writing(&s, &mut w);
                                writes += 1;
                                let r = RwSemWriteGuard::downgrade(w);
                                seen = seen.max(reading(&s, &r));
                            }
                            4 => {
                                if let Some(mut w) = s.data.try_write_for(Duration::from_micros(50))
                                {
                                    writing(&s, &mut w);
                                    writes += 1;
                                }
                            }
                            5 => {
                                if let Some(r) = s.data.try_read() {
                                    seen = seen.max(reading(&s, &r));
                                    RwSemReadGuard::unlock_fair(r);
                                }
                            }
                            6 => {
                                // Always data then count: one order, no report.
                                let _d = s.data.read();
                                *s.count.lock() += 1;
                                s.changed.notify_all();
                            }
                            _ => {
                                let mut c = s.count.lock();
                                let _ = s.changed.wait_for(&mut c, Duration::from_micros(10));
                            }
                        }
                    }
                    (writes, seen)
                });
                assert!(reports.is_empty(), "thread {t}: {reports:#?}");
                assert!(held_locks().is_empty());
                writes
            })
        })
        .collect();
    let writes: u64 = threads.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(*s.data.read(), writes, "an update was lost");
    assert!(!s.data.is_locked() && !s.count.is_locked());
}
