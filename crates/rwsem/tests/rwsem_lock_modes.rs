//! What `RwSem` users rely on for its three modes: each mode locks and
//! unlocks, `try_read` / `try_write` / `try_upgradable_read` get in exactly
//! beside what they may, `is_locked` tells shared from exclusive, timed
//! acquisitions give up and then succeed (and a timed-out writer lets
//! readers back in), guards map to a part of the data, a thread-local
//! destructor can take the lock, and the locks' and guards' `Send`/`Sync`.
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
use kernsync_rwsem::{
    MappedRwSemReadGuard, MappedRwSemWriteGuard, RwSem, RwSemReadGuard, RwSemWriteGuard,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::channel;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

both!(rwlock_every_mode_locks_and_unlocks, {
    let lock = RwLock::new(());
    drop(lock.read());
    assert!(!lock.is_locked());
    drop(lock.write());
    assert!(!lock.is_locked());
    drop(lock.upgradable_read());
    assert!(!lock.is_locked());
    // Adaptation: parking_lot takes `read()` twice here. A second plain
    // read on a thread that already reads can deadlock behind a waiting
    // writer (the lock is task-fair), and the validator reports it by
    // design; the second read is a recursive one.
    let both_reads = (lock.read(), read_recursive(&lock));
    assert!(lock.is_locked() && !lock.is_locked_exclusive());
    drop(both_reads);
    // Adaptation: parking_lot takes `read()` then `upgradable_read()`.
    // That can deadlock too (the upgradable read queues behind a waiting
    // writer that waits for our read) and is reported; upgradable first,
    // then a recursive read, is the deadlock-free way to hold both.
    let up_then_read = (lock.upgradable_read(), read_recursive(&lock));
    assert!(lock.try_write().is_none());
    drop(up_then_read);
    let mut w = lock.write();
    *w = ();
    assert!(lock.is_locked_exclusive());
    drop(w);
    assert!(!lock.is_locked());
});

both!(
    rwlock_try_read_succeeds_beside_readers_and_fails_beside_a_writer,
    {
        let lock = RwLock::new(0isize);
        {
            let _r = lock.read();
            assert!(
                lock.try_read().is_some(),
                "try_read refused beside a reader"
            );
        }
        {
            let _u = lock.upgradable_read();
            assert!(
                lock.try_read().is_some(),
                "try_read refused beside an upgradable reader"
            );
        }
        {
            let _w = lock.write();
            assert!(lock.try_read().is_none(), "try_read got in beside a writer");
        }
        assert!(lock.try_read().is_some());
    }
);

both!(rwlock_try_write_fails_while_held_in_any_mode, {
    let lock = RwLock::new(0isize);
    {
        let _r = lock.read();
        assert!(
            lock.try_write().is_none(),
            "try_write got in beside a reader"
        );
        assert!(lock.is_locked() && !lock.is_locked_exclusive());
    }
    {
        let _u = lock.upgradable_read();
        assert!(
            lock.try_write().is_none(),
            "try_write got in beside an upgradable reader"
        );
        assert!(lock.is_locked() && !lock.is_locked_exclusive());
    }
    {
        let _w = lock.write();
        assert!(
            lock.try_write().is_none(),
            "try_write got in beside a writer"
        );
        assert!(lock.is_locked() && lock.is_locked_exclusive());
    }
    assert!(lock.try_write().is_some());
});

#[test]
fn rwlock_try_write_refused_beside_a_read_guard_mapped_off_the_data() {
    // std's `test_rwlock_try_write`: `try_write` fails while a read guard
    // lives, and also while a read guard mapped to something outside the
    // lock's data (a `&'static ()`) lives: the mapped guard still holds the
    // read. Adaptation: std's `Err(WouldBlock)` is our `None`; a failed
    // `try_write` leaves nothing on the validator's stack.
    let lock = RwSem::new(0isize);
    let read = lock.read();
    assert!(
        lock.try_write().is_none(),
        "try_write got in beside a reader"
    );
    assert_eq!(held_modes(), expect_held(&[Mode::Read]));
    drop(read);

    let mapped = RwSemReadGuard::map(lock.read(), |_| &());
    assert!(
        lock.try_write().is_none(),
        "try_write got in beside a mapped reader"
    );
    assert_eq!(held_modes(), expect_held(&[Mode::Read]));
    drop(mapped);
    assert_holds_nothing("dropping a mapped read guard");
    assert!(lock.try_write().is_some());
}

both!(
    rwlock_try_upgradable_read_excludes_only_upgraders_and_writers,
    {
        let lock = RwLock::new(0isize);
        {
            let _r = lock.read();
            assert!(
                lock.try_upgradable_read().is_some(),
                "try_upgradable_read refused beside a reader"
            );
        }
        {
            let _u = lock.upgradable_read();
            assert!(
                lock.try_upgradable_read().is_none(),
                "two upgradable readers at once"
            );
        }
        {
            let _w = lock.write();
            assert!(
                lock.try_upgradable_read().is_none(),
                "try_upgradable_read got in beside a writer"
            );
        }
        assert!(lock.try_upgradable_read().is_some());
    }
);

both!(rwlock_is_locked_tells_shared_from_exclusive, {
    let lock = RwLock::new(0isize);
    assert!(!lock.is_locked() && !lock.is_locked_exclusive());
    {
        let _r = lock.read();
        assert!(lock.is_locked() && !lock.is_locked_exclusive());
    }
    {
        let _w = lock.write();
        assert!(lock.is_locked() && lock.is_locked_exclusive());
    }
    assert!(!lock.is_locked() && !lock.is_locked_exclusive());
});

both!(rwlock_timed_acquisitions_give_up_then_succeed, {
    let lock = Arc::new(RwLock::new(0));
    let (held_tx, held_rx) = channel();
    let (release_tx, release_rx) = channel::<()>();
    let holder = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || {
            let w = lock.write();
            held_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            drop(w);
        })
    };
    held_rx.recv().unwrap();
    let start = Instant::now();
    assert!(lock.try_read_for(SHORT).is_none());
    assert!(start.elapsed() >= SHORT, "try_read_for gave up early");
    assert!(lock.try_write_for(SHORT).is_none());
    assert!(lock.try_upgradable_read_for(SHORT).is_none());
    let start = Instant::now();
    assert!(lock.try_read_until(start + SHORT).is_none());
    assert!(
        Instant::now() >= start + SHORT,
        "try_read_until gave up early"
    );
    assert!(lock.try_write_until(Instant::now() + SHORT).is_none());
    assert!(lock
        .try_upgradable_read_until(Instant::now() + SHORT)
        .is_none());
    release_tx.send(()).unwrap();
    *lock.try_write_for(PATIENCE).expect("write never came free") += 1;
    holder.join().unwrap();
    assert_eq!(*lock.try_read_until(Instant::now() + SHORT).unwrap(), 1);
    assert!(lock.try_upgradable_read_for(SHORT).is_some());
});

both!(rwlock_timed_out_writer_lets_readers_back_in, {
    // A writer that timed out waiting for a reader must withdraw its
    // claim: readers (and upgraders) are not left blocked behind it.
    let lock = Arc::new(RwLock::new(0));
    let (held_tx, held_rx) = channel();
    let (release_tx, release_rx) = channel::<()>();
    let reader = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || {
            let r = lock.read();
            held_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            drop(r);
        })
    };
    held_rx.recv().unwrap();
    assert!(lock.try_write_for(SHORT).is_none());
    assert!(
        lock.try_read().is_some(),
        "a timed-out writer still blocks readers"
    );
    let up = lock
        .try_upgradable_read()
        .expect("a timed-out writer blocks upgraders");
    let up = RwLockUpgradableReadGuard::try_upgrade_for(up, SHORT)
        .expect_err("upgraded beside another reader");
    assert!(
        lock.try_read().is_some(),
        "a timed-out upgrade still blocks readers"
    );
    release_tx.send(()).unwrap();
    reader.join().unwrap();
    let mut w =
        RwLockUpgradableReadGuard::try_upgrade_for(up, PATIENCE).expect("upgrade never came free");
    *w = 3;
    drop(w);
    assert_eq!(*lock.read(), 3);
});

both!(rwlock_guards_map_to_a_part_of_the_data, {
    let lock = RwLock::new((1, String::from("a")));
    {
        let mut text = RwLockWriteGuard::map(lock.write(), |pair| &mut pair.1);
        text.push('b');
        assert!(
            lock.try_read().is_none(),
            "a mapped write guard let a reader in"
        );
        let mut narrower = MappedRwLockWriteGuard::map(text, |s| s);
        narrower.push('c');
    }
    let text = RwLockReadGuard::map(lock.read(), |pair| &pair.1);
    assert_eq!(&*text, "abc");
    assert!(
        lock.try_write().is_none(),
        "a mapped read guard let a writer in"
    );
    let len = MappedRwLockReadGuard::map(text, |s| s.as_bytes());
    assert_eq!(len.len(), 3);
    drop(len);
    let whole = lock.read();
    let whole = match RwLockReadGuard::try_map(whole, |pair| (pair.0 == 2).then_some(&pair.0)) {
        Ok(_) => panic!("try_map mapped although the closure refused"),
        Err(original) => original,
    };
    assert_eq!(whole.0, 1);
    let err = RwLockReadGuard::try_map_or_err(whole, |_| Err::<&i32, _>("no"));
    let (whole, why) = err.map(|_| ()).expect_err("mapped on Err");
    assert_eq!((whole.0, why), (1, "no"));
    drop(whole);
    assert!(!lock.is_locked());
});

#[test]
fn rwlock_guards_mapped_twice_in_both_modes() {
    // std's `test_mapping_mapped_guard` for RwLock: write through a
    // twice-mapped write guard, read back through a twice-mapped read
    // guard, and check with `get_mut`. Also: each mapped guard keeps its
    // mode, for other lockers and for the validator.
    let mut lock = RwSem::new([0; 4]);
    let front = RwSemWriteGuard::map(lock.write(), |arr| &mut arr[..2]);
    let mut second = MappedRwSemWriteGuard::map(front, |slice| &mut slice[1..]);
    assert_eq!(second.len(), 1);
    second[0] = 42;
    assert!(
        lock.try_read().is_none(),
        "a mapped write guard let a reader in"
    );
    assert_eq!(held_modes(), expect_held(&[Mode::Write]));
    drop(second);
    assert_eq!(*lock.get_mut(), [0, 42, 0, 0]);

    let front = RwSemReadGuard::map(lock.read(), |arr| &arr[..2]);
    let second = MappedRwSemReadGuard::map(front, |slice| &slice[1..]);
    assert_eq!(*second, [42]);
    assert!(
        lock.try_write().is_none(),
        "a mapped read guard let a writer in"
    );
    assert!(
        lock.try_read().is_some(),
        "a mapped read guard kept readers out"
    );
    assert_eq!(held_modes(), expect_held(&[Mode::Read]));
    drop(second);
    assert_holds_nothing("dropping twice-mapped guards");
    assert_eq!(*lock.get_mut(), [0, 42, 0, 0]);
}

both!(rwlock_read_guards_and_write_guards_are_sync, {
    fn shareable<T: Sync>(_: &T) {}
    let lock = RwLock::new(());
    shareable(&lock.read());
    shareable(&lock.write());
    shareable(&lock.upgradable_read());
});

both!(rwlock_taken_by_a_thread_local_destructor, {
    // parking_lot's `test_issue_203`: a thread-local whose destructor
    // takes a lock, on a thread that has used another lock.
    static DESTRUCTOR_RAN: AtomicBool = AtomicBool::new(false);
    struct WritesOnDrop(RwLock<()>);
    impl Drop for WritesOnDrop {
        fn drop(&mut self) {
            let _w = self.0.write();
            DESTRUCTOR_RAN.store(true, Ordering::SeqCst);
        }
    }
    thread_local! {
        static TLS: WritesOnDrop = const { WritesOnDrop(RwLock::new(())) };
    }
    thread::spawn(|| {
        TLS.with(|_| ());
        let other = RwLock::new(());
        let _r = other.read();
    })
    .join()
    .unwrap();
    assert!(DESTRUCTOR_RAN.load(Ordering::SeqCst));
});

both!(locks_are_send_and_sync_and_guards_sync_but_not_send, {
    fn send_sync<T: ?Sized + Send + Sync>() {}
    fn sync<T: ?Sized + Sync>() {}
    send_sync::<RwLock<Vec<u8>>>();
    send_sync::<RwLock<[u8]>>();
    send_sync::<Mutex<Vec<u8>>>();
    send_sync::<Mutex<std::cell::Cell<u8>>>();
    send_sync::<Condvar>();
    sync::<RwLockReadGuard<'static, u8>>();
    sync::<RwLockWriteGuard<'static, u8>>();
    sync::<RwLockUpgradableReadGuard<'static, u8>>();
    sync::<MutexGuard<'static, u8>>();
    // A reader shares the data between threads: a !Sync payload makes
    // the rwlock !Sync (the mutex hands it to one thread at a time).
    assert_not!(Sync, RwLock<std::cell::Cell<u8>>);
    assert_not!(Send, Mutex<std::rc::Rc<u8>>);
    // Guards stay on the thread that locked (parking_lot's default, and
    // for the validator's per-thread held-lock stack).
    assert_not!(Send, RwLockReadGuard<'static, u8>);
    assert_not!(Send, RwLockWriteGuard<'static, u8>);
    assert_not!(Send, RwLockUpgradableReadGuard<'static, u8>);
    assert_not!(Send, MutexGuard<'static, u8>);
    assert_not!(Send, MappedMutexGuard<'static, u8>);
    assert_not!(Send, MappedRwLockReadGuard<'static, u8>);
    assert_not!(Send, MappedRwLockWriteGuard<'static, u8>);
});
