//! A holder's panic poisons the lock, exactly as std's.

use kernsync_sync::{Arc, Condvar, Mutex, RwLock, TryLockError};
use std::panic::{self, AssertUnwindSafe};
use std::thread;

fn poison_mutex(m: &Arc<Mutex<i32>>) {
    let m2 = Arc::clone(m);
    let r = thread::spawn(move || {
        let _g = m2.lock().unwrap();
        panic!("poisoning on purpose");
    })
    .join();
    assert!(r.is_err());
}

#[test]
fn a_panicking_holder_poisons_and_lock_still_locks() {
    let m = Arc::new(Mutex::new(1));
    assert!(!m.is_poisoned());
    poison_mutex(&m);
    assert!(m.is_poisoned());
    let err = m.lock().unwrap_err();
    assert_eq!(**err.get_ref(), 1);
    let mut g = err.into_inner();
    *g = 2;
    drop(g);
    assert!(matches!(m.try_lock(), Err(TryLockError::Poisoned(_))));
    assert_eq!(format!("{m:?}"), "Mutex { data: 2, poisoned: true, .. }");
}

#[test]
fn clear_poison_clears_it() {
    let m = Arc::new(Mutex::new(0));
    poison_mutex(&m);
    m.clear_poison();
    assert!(!m.is_poisoned());
    assert_eq!(*m.lock().unwrap(), 0);
}

#[test]
fn into_inner_and_get_mut_of_a_poisoned_mutex_are_err() {
    let m = Arc::new(Mutex::new(7));
    poison_mutex(&m);
    let mut m = Arc::try_unwrap(m).unwrap();
    assert_eq!(*m.get_mut().unwrap_err().into_inner(), 7);
    assert_eq!(m.into_inner().unwrap_err().into_inner(), 7);
}

#[test]
fn catch_unwind_with_a_borrowed_mutex_poisons_it() {
    let m = Mutex::new(3);
    let r = panic::catch_unwind(|| {
        let _g = m.lock();
        panic!("poisoning on purpose");
    });
    assert!(r.is_err());
    assert!(m.is_poisoned());
}

#[test]
fn a_guard_taken_while_panicking_does_not_poison() {
    let m = Mutex::new(0);
    struct LockOnDrop<'a>(&'a Mutex<i32>);
    impl Drop for LockOnDrop<'_> {
        fn drop(&mut self) {
            *self.0.lock().unwrap() += 1;
        }
    }
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        let _l = LockOnDrop(&m);
        panic!("unwinding through a lock taken during the unwind");
    }));
    assert!(r.is_err());
    assert!(!m.is_poisoned());
    assert_eq!(*m.lock().unwrap(), 1);
}

#[test]
fn a_panicking_writer_poisons_a_rwlock_but_a_reader_does_not() {
    let l = Arc::new(RwLock::new(1));
    let l2 = Arc::clone(&l);
    let _ = thread::spawn(move || {
        let _r = l2.read().unwrap();
        panic!("reader panics");
    })
    .join();
    assert!(!l.is_poisoned());
    let l2 = Arc::clone(&l);
    let _ = thread::spawn(move || {
        let _w = l2.write().unwrap();
        panic!("writer panics");
    })
    .join();
    assert!(l.is_poisoned());
    assert_eq!(*l.read().unwrap_err().into_inner(), 1);
    assert!(matches!(l.try_write(), Err(TryLockError::Poisoned(_))));
    assert_eq!(format!("{l:?}"), "RwLock { data: 1, poisoned: true, .. }");
    l.clear_poison();
    assert!(l.write().is_ok());
}

#[test]
fn a_wait_on_a_poisoned_mutex_is_err() {
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let (m, cv) = &*pair;
    // Held before the poisoner starts: it can only take the mutex while
    // this thread waits, and poisons it before the wait can re-take it.
    let mut g = m.lock().unwrap();
    let p = Arc::clone(&pair);
    let poisoner = thread::spawn(move || {
        let (m, cv) = &*p;
        let mut g = m.lock().unwrap();
        *g = true;
        cv.notify_one();
        panic!("poisoning while the other thread waits");
    });
    let err = loop {
        match cv.wait(g) {
            Ok(next) => g = next,
            Err(e) => break e,
        }
    };
    assert!(
        *err.into_inner(),
        "the wait re-took the mutex after the poisoner"
    );
    assert!(poisoner.join().is_err());
}

/// std lets a guard be forgotten and the lock then dropped (the lock is
/// leaked as held, which nothing can observe once it is gone); so do these
/// types: no report, and the thread's held-lock stack forgets it too.
#[test]
fn a_forgotten_guard_then_a_dropped_lock_is_fine_as_with_std() {
    let (m, rw) = (kernsync_sync::Mutex::new(1), kernsync_sync::RwLock::new(2));
    std::mem::forget(m.lock().unwrap());
    std::mem::forget(rw.write().unwrap());
    drop(m);
    drop(rw);
    assert!(kernsync_lockdep::held_locks().is_empty());
    let (m2, rw2) = (std::sync::Mutex::new(1), std::sync::RwLock::new(2));
    std::mem::forget(m2.lock().unwrap());
    std::mem::forget(rw2.read().unwrap());
    // std's locks go out of scope here, as fine as ours.
}
