//! `RwSem`'s upgradable reads, upgrades and downgrades: upgradable readers
//! and a writer never overlap, an upgrade waits for the other readers (and
//! may follow a nested read), downgrades keep other writers out and move
//! between all three modes atomically, even with writers queued, and
//! `with_upgraded` comes back upgradable.
//!
//! The `both!` tests re-express parking_lot 0.13's unit tests and run once
//! against the order-checked locks (`<test>::typed`) and once against
//! lock_api's wrappers over the raw locks (`<test>::raw`); the plain
//! `#[test]`s re-express std's tests (`library/std/tests/sync/`). Each names
//! the peer test it re-expresses in its first comment (none where it checks
//! kernsync's own API). Where the validator or our API differs from the
//! peer's, a comment starting `Adaptation:` says so; there is no poisoning
//! (parking_lot's convention), so std's poisoning tests check the lock is
//! usable after a panic instead.
#![cfg(not(loom))]

mod common;

use common::*;
use kernsync_lockdep::Mode;
use kernsync_rwsem::{RwSem, RwSemReadGuard, RwSemWriteGuard};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::channel;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

both!(rwlock_upgradable_readers_and_a_writer_never_overlap, {
    // parking_lot's `test_ruw_arc`: a writer and five upgradable readers
    // each add one in two visible steps (-1, then the new value);
    // plain readers must never see the -1.
    let lock = Arc::new(RwLock::new(0i32));
    let writer = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || {
            for _ in 0..10 {
                let mut w = lock.write();
                let before = *w;
                *w = -1;
                thread::yield_now();
                *w = before + 1;
            }
        })
    };
    let mut others = Vec::new();
    for _ in 0..5 {
        let lock = Arc::clone(&lock);
        others.push(thread::spawn(move || {
            let up = lock.upgradable_read();
            let seen = *up;
            assert!(seen >= 0, "an upgradable reader saw a write in progress");
            thread::yield_now();
            let mut w = RwLockUpgradableReadGuard::upgrade(up);
            assert_eq!(*w, seen, "someone wrote between the read and the upgrade");
            *w = -1;
            thread::yield_now();
            *w = seen + 1;
        }));
    }
    for _ in 0..5 {
        let lock = Arc::clone(&lock);
        others.push(thread::spawn(move || {
            assert!(*lock.read() >= 0, "a reader saw a write in progress");
        }));
    }
    for t in others {
        t.join().unwrap();
    }
    writer.join().unwrap();
    assert_eq!(*lock.read(), 15);
});

both!(rwlock_upgrade_after_a_nested_read_came_and_went, {
    // recursive_rwlock.rs's `upgrade`.
    let lock = RwLock::new(1);
    let up = lock.upgradable_read();
    let nested = read_recursive(&lock);
    assert_eq!(*nested, 1);
    drop(nested);
    let mut w = RwLockUpgradableReadGuard::upgrade(up);
    *w = 2;
    drop(w);
    assert_eq!(*lock.read(), 2);
});

both!(rwlock_upgrade_waits_for_the_other_readers, {
    let lock = Arc::new(RwLock::new(0));
    let reader_left = Arc::new(AtomicBool::new(false));
    let (inside_tx, inside_rx) = channel();
    let (leave_tx, leave_rx) = channel::<()>();
    let up = lock.upgradable_read();
    let reader = {
        let lock = Arc::clone(&lock);
        let reader_left = Arc::clone(&reader_left);
        thread::spawn(move || {
            let r = lock.read();
            inside_tx.send(()).unwrap();
            leave_rx.recv().unwrap();
            thread::sleep(SHORT);
            reader_left.store(true, Ordering::SeqCst);
            drop(r);
        })
    };
    inside_rx.recv().unwrap();
    let up = RwLockUpgradableReadGuard::try_upgrade(up)
        .expect_err("try_upgrade succeeded beside another reader");
    leave_tx.send(()).unwrap();
    let mut w = RwLockUpgradableReadGuard::upgrade(up);
    assert!(
        reader_left.load(Ordering::SeqCst),
        "upgrade returned while another reader was inside"
    );
    *w = 1;
    drop(w);
    reader.join().unwrap();
    assert_eq!(*lock.read(), 1);
});

both!(rwlock_downgrade_keeps_out_other_writers, {
    // parking_lot's `test_rwlock_downgrade`: what a writer wrote is what
    // it reads after the downgrade, with no writer in between.
    let lock = Arc::new(RwLock::new(0));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let lock = Arc::clone(&lock);
            thread::spawn(move || {
                for _ in 0..100 {
                    let mut w = lock.write();
                    *w += 1;
                    let wrote = *w;
                    let r = RwLockWriteGuard::downgrade(w);
                    thread::yield_now();
                    assert_eq!(*r, wrote, "a writer got in during a downgrade");
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(*lock.read(), 800);
});

both!(rwlock_downgrades_between_all_three_modes, {
    let lock = RwLock::new(1);
    let w = lock.write();
    let up = RwLockWriteGuard::downgrade_to_upgradable(w);
    assert!(!lock.is_locked_exclusive());
    assert!(
        lock.try_read().is_some(),
        "readers kept out after a downgrade"
    );
    assert!(lock.try_upgradable_read().is_none());
    let mut w = RwLockUpgradableReadGuard::try_upgrade(up).expect("no other readers");
    *w = 2;
    let up = RwLockWriteGuard::downgrade_to_upgradable(w);
    let r = RwLockUpgradableReadGuard::downgrade(up);
    assert_eq!(*r, 2);
    assert!(
        lock.try_upgradable_read().is_some(),
        "the upgradable slot stayed taken after downgrading it"
    );
    drop(r);
    assert!(!lock.is_locked());
});

both!(rwlock_with_upgraded_writes_and_comes_back_upgradable, {
    // parking_lot's `test_issue_430` (there on an Arc guard): upgrading
    // in place twice in a row.
    let lock = RwLock::new(0);
    let mut up = lock.upgradable_read();
    up.with_upgraded(|v| *v += 1);
    let seen = up.with_upgraded(|v| {
        *v += 1;
        *v
    });
    assert_eq!((seen, *up), (2, 2));
    assert!(
        lock.try_upgradable_read().is_none(),
        "the guard is upgradable again"
    );
    assert_eq!(up.try_with_upgraded(|v| *v * 10), Some(20));
    drop(up);
    assert!(!lock.is_locked());
});

/// A task-fair rwsem as std's downgrade test uses it: kernsync's typed
/// lock, or lock_api's wrapper over the raw one, whose queue can be seen.
trait DowngradeSubject: Send + Sync + 'static {
    type Raw: lock_api::RawRwLockDowngrade;
    fn new_lock(value: i32) -> Self;
    fn write(&self) -> lock_api::RwLockWriteGuard<'_, Self::Raw, i32>;
    fn read(&self) -> lock_api::RwLockReadGuard<'_, Self::Raw, i32>;
    /// Whether some thread is parked on the lock, if the lock can tell.
    fn has_parked_threads(&self) -> Option<bool>;
}

impl DowngradeSubject for RwSem<i32> {
    type Raw = kernsync_rwsem::CheckedRawRwSem;
    fn new_lock(value: i32) -> Self {
        RwSem::new(value)
    }
    fn write(&self) -> RwSemWriteGuard<'_, i32> {
        RwSem::write(self)
    }
    fn read(&self) -> RwSemReadGuard<'_, i32> {
        RwSem::read(self)
    }
    fn has_parked_threads(&self) -> Option<bool> {
        None
    }
}

impl DowngradeSubject for lock_api::RwLock<kernsync_rwsem::RawRwSem, i32> {
    type Raw = kernsync_rwsem::RawRwSem;
    fn new_lock(value: i32) -> Self {
        lock_api::RwLock::new(value)
    }
    fn write(&self) -> lock_api::RwLockWriteGuard<'_, Self::Raw, i32> {
        lock_api::RwLock::write(self)
    }
    fn read(&self) -> lock_api::RwLockReadGuard<'_, Self::Raw, i32> {
        lock_api::RwLock::read(self)
    }
    fn has_parked_threads(&self) -> Option<bool> {
        // SAFETY: only a read-only query of the raw lock's state word.
        Some(unsafe { self.raw() }.has_parked_threads())
    }
}

/// std's `test_downgrade_atomic`: the main thread holds the write lock
/// while 20 writers queue up for it; it writes -1 and downgrades. No
/// queued writer may get in between: the main thread must still read -1
/// for as long as it holds the downgraded read. Then all 20 writers get
/// in, one at a time, and each sees a value no lower than -1.
///
/// Adaptation: std sleeps 42 ms so that the writers are asleep on the lock
/// (and says the test is valid without). Here a barrier releases them just
/// before the main thread downgrades; then, where the lock shows its queue,
/// the main thread waits until one is parked (so the downgrade always has
/// a parked writer behind it), and otherwise it yields a few times.
fn downgrade_with_writers_queued<L: DowngradeSubject>() {
    const WRITERS: usize = 20;
    const NEW_VALUE: i32 = -1;
    let lock = Arc::new(L::new_lock(0));
    let go = Arc::new(Barrier::new(WRITERS + 1));
    let mut main_write = lock.write();
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let (lock, go) = (Arc::clone(&lock), Arc::clone(&go));
            thread::spawn(move || {
                go.wait();
                let mut w = lock.write();
                assert!(*w >= NEW_VALUE, "a writer got in before the downgrade");
                *w += 1;
            })
        })
        .collect();
    go.wait();
    if lock.has_parked_threads().is_some() {
        let give_up = Instant::now() + Duration::from_secs(10);
        while lock.has_parked_threads() != Some(true) {
            assert!(Instant::now() < give_up, "no writer ever parked");
            thread::yield_now();
        }
    } else {
        for _ in 0..WRITERS {
            thread::yield_now();
        }
    }
    *main_write = NEW_VALUE;
    let main_read = lock_api::RwLockWriteGuard::downgrade(main_write);
    for _ in 0..WRITERS {
        assert_eq!(*main_read, NEW_VALUE, "downgrade let a writer in");
        thread::yield_now();
    }
    drop(main_read);
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(*lock.read(), WRITERS as i32 + NEW_VALUE);
}

#[test]
fn rwlock_downgrade_is_atomic_with_writers_queued() {
    downgrade_with_writers_queued::<RwSem<i32>>();
    // The typed downgrade also turns the validator's record into a read.
    let lock = RwSem::new(0);
    let read = RwSemWriteGuard::downgrade(lock.write());
    assert_eq!(held_modes(), expect_held(&[Mode::Read]));
    drop(read);
    assert_holds_nothing("dropping a downgraded guard");
}

#[test]
fn raw_rwlock_downgrade_is_atomic_with_a_writer_parked() {
    // The same on lock_api's wrapper over the raw lock, where the test can
    // see a writer parked before it downgrades.
    downgrade_with_writers_queued::<lock_api::RwLock<kernsync_rwsem::RawRwSem, i32>>();
}
