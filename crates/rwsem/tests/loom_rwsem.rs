//! Loom models of `RawRwSem`'s state machine: exclusion between readers,
//! writers and upgradable readers, upgrade and downgrade hand-overs, timed
//! waiters leaving the queue cleanly, and a waiting writer blocking new plain
//! readers but not recursive ones.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p
//! kernsync-rwsem --release --test loom_rwsem`.
#![cfg(loom)]

use std::time::Duration;

use kernsync_rwsem::RawRwSem;
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

/// A lock and the data it guards.
struct Shared {
    lock: RawRwSem,
    data: UnsafeCell<usize>,
}

fn shared() -> Arc<Shared> {
    Arc::new(Shared {
        lock: RawRwSem::new(),
        data: UnsafeCell::new(0),
    })
}

impl Shared {
    /// Reads the data (loom flags a read racing a write).
    fn read(&self) -> usize {
        self.data.with(|p| {
            // SAFETY: called with a shared or exclusive lock held.
            unsafe { *p }
        })
    }

    /// Increments the data (loom flags a write racing any access).
    fn write(&self) {
        self.data.with_mut(|p| {
            // SAFETY: called with the exclusive lock held.
            unsafe { *p += 1 }
        })
    }
}

/// (1) Readers share the lock with each other, never with a writer.
#[test]
fn read_read_share_and_exclude_writes() {
    loom::model(|| {
        let s = shared();
        let t = {
            let s = s.clone();
            thread::spawn(move || {
                s.lock.lock_shared();
                let _ = s.read();
                // SAFETY: the read taken above.
                unsafe { s.lock.unlock_shared() };
            })
        };
        s.lock.lock_shared();
        let _ = s.read();
        assert!(!s.lock.try_lock_exclusive(), "writer entered past a reader");
        assert!(s.lock.is_locked() && !s.lock.is_locked_exclusive());
        // SAFETY: the read taken above.
        unsafe { s.lock.unlock_shared() };
        t.join().unwrap();
        assert!(!s.lock.is_locked());
    });
}

/// (1b) Both readers being inside at once is a reachable outcome: a
/// reader that waits for the other one while holding its read gets in.
#[test]
fn two_readers_can_be_inside_at_once() {
    loom::model(|| {
        let s = shared();
        let inside = Arc::new(AtomicUsize::new(0));
        let t = {
            let (s, inside) = (s.clone(), inside.clone());
            thread::spawn(move || {
                s.lock.lock_shared();
                inside.fetch_add(1, Ordering::SeqCst);
                while inside.load(Ordering::SeqCst) < 2 {
                    thread::yield_now();
                }
                // SAFETY: the read taken above.
                unsafe { s.lock.unlock_shared() };
            })
        };
        s.lock.lock_shared();
        inside.fetch_add(1, Ordering::SeqCst);
        while inside.load(Ordering::SeqCst) < 2 {
            thread::yield_now();
        }
        // SAFETY: the read taken above.
        unsafe { s.lock.unlock_shared() };
        t.join().unwrap();
        assert!(!s.lock.is_locked());
    });
}

/// (2) A reader and a writer exclude each other.
#[test]
fn read_write_exclusion() {
    loom::model(|| {
        let s = shared();
        let t = {
            let s = s.clone();
            thread::spawn(move || {
                s.lock.lock_exclusive();
                s.write();
                // SAFETY: the write taken above.
                unsafe { s.lock.unlock_exclusive() };
            })
        };
        s.lock.lock_shared();
        let seen = s.read();
        assert!(seen <= 1);
        // SAFETY: the read taken above.
        unsafe { s.lock.unlock_shared() };
        t.join().unwrap();
        assert!(!s.lock.is_locked());
        assert!(!s.lock.has_parked_threads());
    });
}

/// (3) Two writers exclude each other (one with a fair unlock) and no
/// increment is lost.
#[test]
fn write_write_exclusion() {
    loom::model(|| {
        let s = shared();
        let t = {
            let s = s.clone();
            thread::spawn(move || {
                s.lock.lock_exclusive();
                s.write();
                // SAFETY: the write taken above.
                unsafe { s.lock.unlock_exclusive_fair() };
            })
        };
        s.lock.lock_exclusive();
        s.write();
        // SAFETY: the write taken above.
        unsafe { s.lock.unlock_exclusive() };
        t.join().unwrap();
        s.lock.lock_shared();
        assert_eq!(s.read(), 2);
        // SAFETY: the read taken above.
        unsafe { s.lock.unlock_shared() };
        assert!(!s.lock.is_locked());
        assert!(!s.lock.has_parked_threads());
    });
}

/// (4) An upgradable reader upgrades while a plain reader leaves; the
/// upgrade waits for it, and a second upgradable is excluded.
#[test]
fn upgrade_while_a_reader_leaves() {
    loom::model(|| {
        let s = shared();
        s.lock.lock_shared();
        let t = {
            let s = s.clone();
            thread::spawn(move || {
                s.lock.lock_upgradable();
                let _ = s.read();
                // SAFETY: the upgradable read taken above, then the write.
                unsafe {
                    s.lock.upgrade();
                    s.write();
                    s.lock.unlock_exclusive();
                }
            })
        };
        assert!(s.read() <= 1);
        // SAFETY: the read taken before the spawn.
        unsafe { s.lock.unlock_shared() };
        t.join().unwrap();
        assert!(!s.lock.is_locked());
        assert!(!s.lock.has_parked_threads());
        assert!(s.lock.try_lock_upgradable());
        assert!(!s.lock.try_lock_upgradable());
        // SAFETY: the upgradable read just taken.
        unsafe { s.lock.unlock_upgradable() };
    });
}

/// (5) A downgrade lets a waiting reader in while the downgrader still
/// holds its read.
#[test]
fn downgrade_lets_a_waiting_reader_in() {
    loom::model(|| {
        let s = shared();
        let entered = Arc::new(AtomicUsize::new(0));
        s.lock.lock_exclusive();
        let t = {
            let (s, entered) = (s.clone(), entered.clone());
            thread::spawn(move || {
                s.lock.lock_shared();
                assert_eq!(s.read(), 1, "reader entered before the write");
                entered.store(1, Ordering::SeqCst);
                // SAFETY: the read taken above.
                unsafe { s.lock.unlock_shared() };
            })
        };
        s.write();
        // SAFETY: the write is held; it becomes a read.
        unsafe { s.lock.downgrade() };
        // The reader must get in while we still hold our read.
        while entered.load(Ordering::SeqCst) == 0 {
            thread::yield_now();
        }
        // SAFETY: the downgraded read.
        unsafe { s.lock.unlock_shared() };
        t.join().unwrap();
        assert!(!s.lock.is_locked());
        assert!(!s.lock.has_parked_threads());
    });
}

/// (6a) A writer timing out behind a reader leaves the state clean.
#[test]
fn timed_out_writer_leaves_state_clean() {
    loom::model(|| {
        let s = shared();
        let t = {
            let s = s.clone();
            thread::spawn(move || {
                if s.lock.try_lock_exclusive_for(Duration::from_millis(1)) {
                    s.write();
                    // SAFETY: the write just taken.
                    unsafe { s.lock.unlock_exclusive() };
                }
            })
        };
        s.lock.lock_shared();
        let _ = s.read();
        // SAFETY: the read taken above.
        unsafe { s.lock.unlock_shared() };
        t.join().unwrap();
        assert!(!s.lock.is_locked());
        assert!(!s.lock.has_parked_threads());
        s.lock.lock_exclusive();
        // SAFETY: the write just taken.
        unsafe { s.lock.unlock_exclusive() };
        assert!(!s.lock.is_locked());
    });
}

/// (6b) A reader timing out behind a writer leaves the state clean.
#[test]
fn timed_out_reader_leaves_state_clean() {
    loom::model(|| {
        let s = shared();
        let t = {
            let s = s.clone();
            thread::spawn(move || {
                if s.lock.try_lock_shared_for(Duration::from_millis(1)) {
                    let _ = s.read();
                    // SAFETY: the read just taken.
                    unsafe { s.lock.unlock_shared() };
                }
            })
        };
        s.lock.lock_exclusive();
        s.write();
        // SAFETY: the write taken above.
        unsafe { s.lock.unlock_exclusive() };
        t.join().unwrap();
        assert!(!s.lock.is_locked());
        assert!(!s.lock.has_parked_threads());
        s.lock.lock_shared();
        // SAFETY: the read just taken.
        unsafe { s.lock.unlock_shared() };
        assert!(!s.lock.is_locked());
    });
}

/// (6c) A pending writer that times out lets in the reader it was
/// blocking, while the first reader still holds its read.
#[test]
fn timed_out_pending_writer_lets_blocked_reader_in() {
    loom::model(|| {
        let s = shared();
        s.lock.lock_shared();
        let gave_up = Arc::new(AtomicUsize::new(0));
        let w = {
            let (s, gave_up) = (s.clone(), gave_up.clone());
            thread::spawn(move || {
                let got = s.lock.try_lock_exclusive_for(Duration::from_millis(1));
                gave_up.store(1, Ordering::SeqCst);
                got
            })
        };
        // Wait for the claim (or for the writer to have given up already).
        while !s.lock.has_pending_writer() && gave_up.load(Ordering::SeqCst) == 0 {
            thread::yield_now();
        }
        let r = {
            let s = s.clone();
            thread::spawn(move || {
                s.lock.lock_shared();
                // SAFETY: the read taken above.
                unsafe { s.lock.unlock_shared() };
            })
        };
        // We hold our read throughout: the writer must time out, and the
        // reader must then get in (join would deadlock otherwise).
        assert!(!w.join().unwrap());
        r.join().unwrap();
        // SAFETY: the read taken first.
        unsafe { s.lock.unlock_shared() };
        assert!(!s.lock.is_locked());
        assert!(!s.lock.has_parked_threads());
    });
}

/// (7) With a reader inside and a writer pending, a new plain read fails but
/// a recursive one succeeds; the writer gets in after both leave.
#[test]
fn pending_writer_blocks_plain_not_recursive_reads() {
    loom::model(|| {
        let s = shared();
        s.lock.lock_shared();
        let w = {
            let s = s.clone();
            thread::spawn(move || {
                s.lock.lock_exclusive();
                s.write();
                // SAFETY: the write taken above.
                unsafe { s.lock.unlock_exclusive() };
            })
        };
        while !s.lock.has_pending_writer() {
            thread::yield_now();
        }
        assert!(!s.lock.try_lock_shared());
        assert!(!s.lock.try_lock_upgradable());
        assert!(s.lock.try_lock_shared_recursive());
        assert_eq!(s.read(), 0);
        // SAFETY: the two reads taken above.
        unsafe {
            s.lock.unlock_shared();
            s.lock.unlock_shared();
        }
        w.join().unwrap();
        assert!(!s.lock.is_locked());
        assert!(!s.lock.has_parked_threads());
    });
}

/// (8) Fair handoffs and bumps: a writer bumps to a waiting writer, an
/// upgradable reader bumps and unlocks fairly to a waiting upgradable one;
/// no increment is lost and the state ends clean.
#[test]
fn bumps_and_fair_unlocks_hand_off() {
    loom::model(|| {
        let s = shared();
        let t = {
            let s = s.clone();
            thread::spawn(move || {
                s.lock.lock_exclusive();
                s.write();
                // SAFETY: the write taken above; then an upgradable read.
                unsafe { s.lock.unlock_exclusive_fair() };
                s.lock.lock_upgradable();
                let _ = s.read();
                // SAFETY: the upgradable read taken above.
                unsafe { s.lock.unlock_upgradable_fair() };
            })
        };
        s.lock.lock_exclusive();
        s.write();
        // SAFETY: the write is held, and again after the bump; then it
        // becomes an upgradable read, bumped and released fairly.
        unsafe {
            s.lock.bump_exclusive();
            s.write();
            s.lock.downgrade_to_upgradable();
            s.lock.bump_upgradable();
            let _ = s.read();
            s.lock.unlock_upgradable_fair();
        }
        t.join().unwrap();
        assert!(!s.lock.is_locked());
        assert!(!s.lock.has_parked_threads());
        s.lock.lock_shared();
        assert_eq!(s.read(), 3);
        // SAFETY: the read taken above.
        unsafe { s.lock.unlock_shared() };
    });
}
