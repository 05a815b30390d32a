//! std's `RwLock` behaviours, re-expressed against `kernsync_sync`.

use kernsync_sync::{Arc, Barrier, RwLock, RwLockWriteGuard, TryLockError};
use std::thread;

#[test]
fn many_readers_at_once() {
    const READERS: usize = 4;
    let l = Arc::new(RwLock::new(5));
    let all_in = Arc::new(Barrier::new(READERS));
    let handles: Vec<_> = (0..READERS)
        .map(|_| {
            let l = Arc::clone(&l);
            let all_in = Arc::clone(&all_in);
            thread::spawn(move || {
                let r = l.read().unwrap();
                // Every reader holds the lock here at once.
                all_in.wait();
                *r
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 5);
    }
}

#[test]
fn one_writer_excludes_readers_and_writers() {
    let l = Arc::new(RwLock::new(0));
    let w = l.write().unwrap();
    let l2 = Arc::clone(&l);
    let (r, w2) = thread::spawn(move || {
        (
            matches!(l2.try_read(), Err(TryLockError::WouldBlock)),
            matches!(l2.try_write(), Err(TryLockError::WouldBlock)),
        )
    })
    .join()
    .unwrap();
    assert!(r && w2);
    drop(w);
    assert!(l.try_write().is_ok());
}

#[test]
fn writers_and_readers_across_threads_count_right() {
    let l = Arc::new(RwLock::new(0usize));
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let l = Arc::clone(&l);
            thread::spawn(move || {
                for _ in 0..500 {
                    if i % 2 == 0 {
                        *l.write().unwrap() += 1;
                    } else {
                        let _ = *l.read().unwrap();
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(*l.read().unwrap(), 1000);
}

#[test]
fn downgrade_keeps_writers_out() {
    let l = Arc::new(RwLock::new(1));
    let mut w = l.write().unwrap();
    *w = 2;
    let r = RwLockWriteGuard::downgrade(w);
    assert_eq!(*r, 2);
    let l2 = Arc::clone(&l);
    let (can_read, cannot_write) = thread::spawn(move || {
        (
            l2.try_read().is_ok(),
            matches!(l2.try_write(), Err(TryLockError::WouldBlock)),
        )
    })
    .join()
    .unwrap();
    assert!(can_read && cannot_write);
    drop(r);
    assert!(l.try_write().is_ok());
}

#[test]
fn unsized_default_from_into_inner_get_mut_debug() {
    let l: &RwLock<[u8]> = &RwLock::new([1, 2, 3]);
    assert_eq!(l.read().unwrap().len(), 3);
    let mut l = RwLock::<Vec<u8>>::default();
    l.get_mut().unwrap().push(1);
    assert_eq!(
        format!("{l:?}"),
        "RwLock { data: [1], poisoned: false, .. }"
    );
    {
        let w = l.write().unwrap();
        assert_eq!(
            format!("{l:?}"),
            "RwLock { data: <locked>, poisoned: false, .. }"
        );
        assert_eq!(format!("{w:?}"), "[1]");
        let std_lock = std::sync::RwLock::new(vec![1u8]);
        let _std_guard = std_lock.write().unwrap();
        assert_eq!(format!("{l:?}"), format!("{std_lock:?}"));
    }
    assert_eq!(l.into_inner().unwrap(), vec![1]);
    assert_eq!(*RwLock::from(4).read().unwrap(), 4);
    assert_eq!(*RwLock::named("n", 5).write().unwrap(), 5);
}

#[test]
fn trait_impls_match_std() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    fn ref_unwind_safe<T: std::panic::RefUnwindSafe>() {}
    send::<RwLock<Vec<u8>>>();
    sync::<RwLock<Vec<u8>>>();
    sync::<kernsync_sync::RwLockReadGuard<'static, u8>>();
    sync::<kernsync_sync::RwLockWriteGuard<'static, u8>>();
    ref_unwind_safe::<RwLock<std::cell::Cell<u8>>>();
}
