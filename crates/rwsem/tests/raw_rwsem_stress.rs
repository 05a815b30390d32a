//! Bounded stress and behaviour tests of `RawRwSem` on real threads: every
//! operation mixed under `lock_api::RwLock`, writer and reader starvation
//! under a stream of the other side, recursive reads past a waiting writer,
//! timed-out waiters, downgrades. No sleeps wait for conditions: threads
//! synchronise on flags and on the lock's own snapshot queries, and every
//! wait has a generous bound that fails the test instead of hanging it.
#![cfg(not(loom))]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use kernsync_rwsem::RawRwSem;
use lock_api::{RwLock, RwLockReadGuard, RwLockUpgradableReadGuard, RwLockWriteGuard};

type Lock = RwLock<RawRwSem, u64>;

/// Spins (yielding) until `cond` holds; panics after a generous bound, so a
/// lost wake-up fails the test instead of hanging it.
fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting until {what}"
        );
        thread::yield_now();
    }
}

/// How many threads are queued (really parked, not merely about to park) on
/// the lock's main queue, whose key is the lock's address. Counted through
/// `unpark_filter` with a filter that skips every thread, so nobody is woken.
/// A fair unlock or a bump only hands off to a thread that is in the queue:
/// one that has set the parked bit but not yet queued retries instead.
fn queued(lock: &RawRwSem) -> usize {
    let mut n = 0;
    // SAFETY: the key is the lock's own address, the key RawRwSem parks its
    // main queue on; the filter skips every thread, and the callback does
    // not call into parking_lot_core.
    unsafe {
        parking_lot_core::unpark_filter(
            lock as *const RawRwSem as usize,
            |_| {
                n += 1;
                parking_lot_core::FilterOp::Skip
            },
            |_| parking_lot_core::DEFAULT_UNPARK_TOKEN,
        );
    }
    n
}

/// Who is inside, counted independently of the lock.
#[derive(Default)]
struct Inside {
    readers: AtomicUsize,
    upgradables: AtomicUsize,
    writers: AtomicUsize,
}

impl Inside {
    fn enter_read(&self) {
        self.readers.fetch_add(1, Ordering::SeqCst);
        assert_eq!(
            self.writers.load(Ordering::SeqCst),
            0,
            "reader with a writer"
        );
    }
    fn leave_read(&self) {
        self.readers.fetch_sub(1, Ordering::SeqCst);
    }
    fn enter_upgradable(&self) {
        self.enter_read();
        assert_eq!(
            self.upgradables.fetch_add(1, Ordering::SeqCst),
            0,
            "two upgradables"
        );
    }
    fn leave_upgradable(&self) {
        self.upgradables.fetch_sub(1, Ordering::SeqCst);
        self.leave_read();
    }
    fn enter_write(&self) {
        assert_eq!(
            self.writers.fetch_add(1, Ordering::SeqCst),
            0,
            "two writers"
        );
        assert_eq!(
            self.readers.load(Ordering::SeqCst),
            0,
            "writer with readers"
        );
    }
    fn leave_write(&self) {
        self.writers.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

const SHORT: Duration = Duration::from_micros(50);

/// One random operation; returns how many increments it made to the data.
fn one_op(lock: &Lock, inside: &Inside, rng: &mut Rng) -> u64 {
    let check_read = |g: &RwLockReadGuard<'_, RawRwSem, u64>| {
        inside.enter_read();
        let _ = **g;
        inside.leave_read();
    };
    let write = |g: &mut RwLockWriteGuard<'_, RawRwSem, u64>| {
        inside.enter_write();
        **g += 1;
        inside.leave_write();
        1
    };
    match rng.next() % 20 {
        0 => {
            check_read(&lock.read());
            0
        }
        1 => {
            // A read, then a recursive read nested inside it.
            let outer = lock.read();
            // SAFETY: the raw lock is only used to take a recursive read,
            // wrapped at once into a guard that releases it.
            let inner = unsafe {
                let state = lock.raw().lock_shared_recursive_guard();
                lock.make_read_guard_unchecked(state)
            };
            check_read(&inner);
            drop(outer);
            check_read(&inner);
            0
        }
        2 => lock.try_read().map_or(0, |g| {
            check_read(&g);
            0
        }),
        3 => lock.try_read_for(SHORT).map_or(0, |g| {
            check_read(&g);
            0
        }),
        4 => write(&mut lock.write()),
        5 => lock.try_write().map_or(0, |mut g| write(&mut g)),
        6 => lock.try_write_for(SHORT).map_or(0, |mut g| write(&mut g)),
        7 => {
            let mut g = lock.write();
            let n = write(&mut g);
            RwLockWriteGuard::unlock_fair(g);
            n
        }
        8 => {
            let mut g = lock.write();
            let mut n = write(&mut g);
            RwLockWriteGuard::bump(&mut g);
            n += write(&mut g);
            n
        }
        9 => {
            let mut g = lock.write();
            let n = write(&mut g);
            let written = *g;
            let r = RwLockWriteGuard::downgrade(g);
            assert_eq!(*r, written, "a writer got in during the downgrade");
            check_read(&r);
            n
        }
        10 => {
            let mut g = lock.write();
            let mut n = write(&mut g);
            let u = RwLockWriteGuard::downgrade_to_upgradable(g);
            inside.enter_upgradable();
            inside.leave_upgradable();
            let mut g = RwLockUpgradableReadGuard::upgrade(u);
            n += write(&mut g);
            n
        }
        11 => {
            let u = lock.upgradable_read();
            inside.enter_upgradable();
            inside.leave_upgradable();
            let mut g = RwLockUpgradableReadGuard::upgrade(u);
            write(&mut g)
        }
        12 => {
            let u = lock.upgradable_read();
            inside.enter_upgradable();
            inside.leave_upgradable();
            match RwLockUpgradableReadGuard::try_upgrade(u) {
                Ok(mut g) => write(&mut g),
                Err(u) => {
                    inside.enter_upgradable();
                    inside.leave_upgradable();
                    drop(u);
                    0
                }
            }
        }
        13 => {
            let Some(u) = lock.try_upgradable_read_for(SHORT) else {
                return 0;
            };
            inside.enter_upgradable();
            inside.leave_upgradable();
            match RwLockUpgradableReadGuard::try_upgrade_for(u, SHORT) {
                Ok(mut g) => write(&mut g),
                Err(u) => {
                    inside.enter_upgradable();
                    inside.leave_upgradable();
                    RwLockUpgradableReadGuard::unlock_fair(u);
                    0
                }
            }
        }
        14 => {
            let u = lock.upgradable_read();
            inside.enter_upgradable();
            inside.leave_upgradable();
            let r = RwLockUpgradableReadGuard::downgrade(u);
            check_read(&r);
            0
        }
        15 => {
            let mut u = lock.upgradable_read();
            RwLockUpgradableReadGuard::bump(&mut u);
            inside.enter_upgradable();
            inside.leave_upgradable();
            0
        }
        16 => {
            let mut r = lock.read();
            RwLockReadGuard::bump(&mut r);
            check_read(&r);
            RwLockReadGuard::unlock_fair(r);
            0
        }
        17 => lock.try_upgradable_read().map_or(0, |_u| {
            inside.enter_upgradable();
            inside.leave_upgradable();
            0
        }),
        18 => lock
            .try_write_until(Instant::now() + SHORT)
            .map_or(0, |mut g| write(&mut g)),
        _ => lock.try_read_until(Instant::now() + SHORT).map_or(0, |g| {
            check_read(&g);
            0
        }),
    }
}

#[test]
fn every_operation_mixed_4_threads_bounded_20k_iterations() {
    let lock = Arc::new(Lock::new(0));
    let inside = Arc::new(Inside::default());
    let handles: Vec<_> = (0..4u64)
        .map(|t| {
            let (lock, inside) = (lock.clone(), inside.clone());
            thread::spawn(move || {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((t + 1) * 0x1234_5678));
                (0..20_000)
                    .map(|_| one_op(&lock, &inside, &mut rng))
                    .sum::<u64>()
            })
        })
        .collect();
    let writes: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert!(writes > 0);
    assert!(!lock.is_locked());
    assert_eq!(*lock.read(), writes, "an increment was lost");
    assert!(!lock.is_locked());
}

#[test]
fn writer_gets_in_under_a_stream_of_two_readers_bounded() {
    // The two readers hand the lock to each other: each holds its read until
    // the other has taken one (so on a reader-preferring lock the read side
    // never drains), giving up the wait after a bounded spin (so on a
    // task-fair lock, where the other reader is blocked behind the pending
    // writer, the read side drains and the writer gets in).
    const BOUND: usize = 200_000;
    const HANDOVER_SPINS: usize = 20_000;
    let lock = Arc::new(RawRwSem::new());
    let done = Arc::new(AtomicBool::new(false));
    let taken = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (lock, done, taken) = (lock.clone(), done.clone(), taken.clone());
            thread::spawn(move || {
                let mut n = 0;
                while !done.load(Ordering::SeqCst) {
                    assert!(n < BOUND, "writer starved by a stream of readers");
                    lock.lock_shared();
                    let mine = taken.fetch_add(1, Ordering::SeqCst) + 1;
                    let mut spins = 0;
                    while taken.load(Ordering::SeqCst) == mine
                        && spins < HANDOVER_SPINS
                        && !done.load(Ordering::SeqCst)
                    {
                        std::hint::spin_loop();
                        spins += 1;
                    }
                    // SAFETY: the read taken above.
                    unsafe { lock.unlock_shared() };
                    n += 1;
                }
            })
        })
        .collect();
    wait_until("the readers stream", || taken.load(Ordering::SeqCst) > 1000);
    lock.lock_exclusive();
    done.store(true, Ordering::SeqCst);
    // SAFETY: the write taken above.
    unsafe { lock.unlock_exclusive() };
    for r in readers {
        r.join().unwrap();
    }
    assert!(!lock.is_locked());
}

#[test]
fn reader_gets_in_under_a_stream_of_two_writers_bounded() {
    // Each writer holds the lock for a while and re-locks at once after
    // unlocking, so the lock is almost never free: a parked reader, woken
    // by an unfair unlock, nearly always finds it taken again. Only the
    // eventual-fairness handoff lets it in within the bound. The bound is
    // generous because a woken reader that the scheduler has not yet run is
    // not parked, and unlocks meanwhile neither see nor count it; past the
    // bound a writer stops (releasing the lock, so the test fails instead of
    // hanging).
    const BOUND: usize = 1_000_000;
    const HOLD_SPINS: usize = 2_000;
    let lock = Arc::new(RawRwSem::new());
    let done = Arc::new(AtomicBool::new(false));
    let starved = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let (lock, done, starved, rounds) =
                (lock.clone(), done.clone(), starved.clone(), rounds.clone());
            thread::spawn(move || {
                lock.lock_exclusive();
                for _ in 0..BOUND {
                    if done.load(Ordering::Relaxed) {
                        break;
                    }
                    rounds.fetch_add(1, Ordering::Relaxed);
                    for _ in 0..HOLD_SPINS {
                        std::hint::spin_loop();
                    }
                    // SAFETY: the write taken before the loop or below.
                    unsafe { lock.unlock_exclusive() };
                    lock.lock_exclusive();
                }
                if !done.load(Ordering::Relaxed) {
                    starved.store(true, Ordering::Relaxed);
                }
                // SAFETY: the write taken last.
                unsafe { lock.unlock_exclusive() };
            })
        })
        .collect();
    wait_until("the writers stream", || rounds.load(Ordering::SeqCst) > 100);
    for _ in 0..50 {
        lock.lock_shared();
        // SAFETY: the read taken above.
        unsafe { lock.unlock_shared() };
    }
    done.store(true, Ordering::SeqCst);
    for w in writers {
        w.join().unwrap();
    }
    assert!(
        !starved.load(Ordering::Relaxed),
        "reader starved by a stream of writers"
    );
    assert!(!lock.is_locked());
}

#[test]
fn recursive_read_passes_a_waiting_writer_without_deadlock() {
    let lock = Arc::new(RawRwSem::new());
    let wrote = Arc::new(AtomicBool::new(false));
    lock.lock_shared();
    let writer = {
        let (lock, wrote) = (lock.clone(), wrote.clone());
        thread::spawn(move || {
            lock.lock_exclusive();
            wrote.store(true, Ordering::SeqCst);
            // SAFETY: the write taken above.
            unsafe { lock.unlock_exclusive() };
        })
    };
    wait_until("the writer is pending", || lock.has_pending_writer());
    // A new plain read waits behind the writer; a recursive one does not.
    assert!(
        !lock.try_lock_shared(),
        "plain read passed a waiting writer"
    );
    assert!(
        !lock.try_lock_upgradable(),
        "upgradable read passed a waiting writer"
    );
    lock.lock_shared_recursive();
    assert!(lock.try_lock_shared_recursive());
    assert!(!wrote.load(Ordering::SeqCst));
    // SAFETY: three reads held (one plain, two recursive).
    unsafe {
        lock.unlock_shared();
        lock.unlock_shared();
        assert!(!wrote.load(Ordering::SeqCst));
        lock.unlock_shared();
    }
    writer.join().unwrap();
    assert!(wrote.load(Ordering::SeqCst));
    assert!(!lock.is_locked());
    assert!(!lock.has_parked_threads());
}

#[test]
fn timed_out_writer_lets_the_readers_it_blocked_in() {
    let lock = Arc::new(RawRwSem::new());
    lock.lock_shared();
    let writer = {
        let lock = lock.clone();
        thread::spawn(move || lock.try_lock_exclusive_for(Duration::from_millis(300)))
    };
    wait_until("the writer is pending", || lock.has_pending_writer());
    let entered = Arc::new(AtomicBool::new(false));
    let reader = {
        let (lock, entered) = (lock.clone(), entered.clone());
        thread::spawn(move || {
            lock.lock_shared();
            entered.store(true, Ordering::SeqCst);
            // SAFETY: the read taken above.
            unsafe { lock.unlock_shared() };
        })
    };
    // The writer cannot get in while we hold our read; when it gives up,
    // the reader queued behind it must be let in (we still hold the read).
    assert!(!writer.join().unwrap(), "writer got in past a held read");
    wait_until("the blocked reader got in", || {
        entered.load(Ordering::SeqCst)
    });
    reader.join().unwrap();
    assert!(!lock.has_pending_writer());
    // SAFETY: the read taken at the start.
    unsafe { lock.unlock_shared() };
    assert!(!lock.is_locked());
    assert!(!lock.has_parked_threads());
    assert!(lock.try_lock_exclusive());
    // SAFETY: the write just taken.
    unsafe { lock.unlock_exclusive() };
}

#[test]
fn timed_out_upgrade_keeps_the_upgradable_read() {
    let lock = RawRwSem::new();
    lock.lock_upgradable();
    lock.lock_shared();
    // SAFETY: the upgradable read is held; a failed upgrade keeps it.
    assert!(!unsafe { lock.try_upgrade_for(Duration::from_millis(5)) });
    // SAFETY: the upgradable read is still held; a failed upgrade keeps it.
    assert!(!unsafe { lock.try_upgrade() });
    assert!(!lock.try_lock_upgradable(), "upgradable read lost");
    assert!(!lock.has_pending_writer());
    assert!(
        lock.try_lock_shared(),
        "readers still blocked after the timeout"
    );
    // SAFETY: two plain reads held; then the upgradable read, upgraded.
    unsafe {
        lock.unlock_shared();
        lock.unlock_shared();
        assert!(lock.try_upgrade());
        assert!(lock.is_locked_exclusive());
        lock.unlock_exclusive();
    }
    assert!(!lock.is_locked());
}

#[test]
fn downgrade_lets_the_waiting_readers_in() {
    let lock = Arc::new(RawRwSem::new());
    lock.lock_exclusive();
    let entered = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (lock, entered) = (lock.clone(), entered.clone());
            thread::spawn(move || {
                lock.lock_shared();
                entered.fetch_add(1, Ordering::SeqCst);
                // SAFETY: the read taken above.
                unsafe { lock.unlock_shared() };
            })
        })
        .collect();
    wait_until("a reader parked", || lock.has_parked_threads());
    // SAFETY: the write is held; it becomes an upgradable read.
    unsafe { lock.downgrade_to_upgradable() };
    wait_until("both readers got in", || {
        entered.load(Ordering::SeqCst) == 2
    });
    for r in readers {
        r.join().unwrap();
    }
    // SAFETY: the upgradable read is held.
    unsafe { lock.unlock_upgradable() };
    assert!(!lock.is_locked());
}

#[test]
fn upgrade_waits_for_the_readers_and_blocks_new_ones() {
    let lock = Arc::new(RawRwSem::new());
    lock.lock_shared();
    let upgraded = Arc::new(AtomicBool::new(false));
    let upgrader = {
        let (lock, upgraded) = (lock.clone(), upgraded.clone());
        thread::spawn(move || {
            lock.lock_upgradable();
            // SAFETY: the upgradable read taken above; then the write.
            unsafe {
                lock.upgrade();
                upgraded.store(true, Ordering::SeqCst);
                lock.unlock_exclusive();
            }
        })
    };
    wait_until("the upgrader is pending", || lock.has_pending_writer());
    assert!(!lock.try_lock_shared());
    assert!(!upgraded.load(Ordering::SeqCst));
    // SAFETY: the read taken at the start.
    unsafe { lock.unlock_shared() };
    upgrader.join().unwrap();
    assert!(upgraded.load(Ordering::SeqCst));
    assert!(!lock.is_locked());
}

#[test]
fn fair_unlock_hands_off_to_the_queued_writer() {
    let lock = Arc::new(RawRwSem::new());
    let release = Arc::new(AtomicBool::new(false));
    lock.lock_exclusive();
    let writer = {
        let (lock, release) = (lock.clone(), release.clone());
        thread::spawn(move || {
            lock.lock_exclusive();
            wait_until("released", || release.load(Ordering::SeqCst));
            // SAFETY: the write taken above.
            unsafe { lock.unlock_exclusive() };
        })
    };
    wait_until("the writer queued", || queued(&lock) == 1);
    // SAFETY: the write is held.
    unsafe { lock.unlock_exclusive_fair() };
    // Handed off: the lock never became free, so nobody can barge in.
    assert!(lock.is_locked_exclusive());
    assert!(!lock.try_lock_exclusive(), "barged in after a fair unlock");
    assert!(!lock.try_lock_shared_recursive());
    release.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    assert!(!lock.is_locked());
    assert!(!lock.has_parked_threads());
}

#[test]
fn bump_lets_the_queued_writer_run_first() {
    let lock = Arc::new(RawRwSem::new());
    let ran = Arc::new(AtomicBool::new(false));
    lock.lock_exclusive();
    let writer = {
        let (lock, ran) = (lock.clone(), ran.clone());
        thread::spawn(move || {
            lock.lock_exclusive();
            ran.store(true, Ordering::SeqCst);
            // SAFETY: the write taken above.
            unsafe { lock.unlock_exclusive() };
        })
    };
    wait_until("the writer queued", || queued(&lock) == 1);
    // SAFETY: the write is held, and again after the bump.
    unsafe { lock.bump_exclusive() };
    assert!(ran.load(Ordering::SeqCst), "bump did not let the waiter in");
    assert!(lock.is_locked_exclusive());
    // SAFETY: the write is held.
    unsafe { lock.unlock_exclusive() };
    writer.join().unwrap();
    assert!(!lock.is_locked());
}
