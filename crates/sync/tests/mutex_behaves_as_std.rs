//! std's `Mutex` behaviours, re-expressed against `kernsync_sync`.

use kernsync_sync::{Arc, Mutex, TryLockError};
use std::thread;

static COUNTER: Mutex<i32> = Mutex::new(0);

#[test]
fn a_static_mutex_is_const_constructed_and_locks() {
    *COUNTER.lock().unwrap() += 2;
    assert!(*COUNTER.lock().unwrap() >= 2);
}

#[test]
fn lock_excludes_across_threads() {
    const THREADS: usize = 4;
    const ROUNDS: usize = 1000;
    let m = Arc::new(Mutex::new(0usize));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let m = Arc::clone(&m);
            thread::spawn(move || {
                for _ in 0..ROUNDS {
                    let mut g = m.lock().unwrap();
                    let v = *g;
                    thread::yield_now();
                    *g = v + 1;
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(*m.lock().unwrap(), THREADS * ROUNDS);
}

#[test]
fn try_lock_would_block_while_another_thread_holds_it() {
    let m = Arc::new(Mutex::new(()));
    let g = m.lock().unwrap();
    let m2 = Arc::clone(&m);
    let r = thread::spawn(move || matches!(m2.try_lock(), Err(TryLockError::WouldBlock)))
        .join()
        .unwrap();
    assert!(r);
    drop(g);
    assert!(m.try_lock().is_ok());
}

#[test]
fn an_unsized_mutex_by_coercion() {
    let m: &Mutex<[i32]> = &Mutex::new([1, 4, 5]);
    {
        let mut b = m.lock().unwrap();
        b[0] = 4;
        b[2] = 5;
    }
    assert_eq!(&*m.lock().unwrap(), &[4, 4, 5]);
    let boxed: Box<Mutex<[i32]>> = Box::new(Mutex::new([7, 8]));
    assert_eq!(boxed.lock().unwrap().len(), 2);
}

#[test]
fn into_inner_and_get_mut_give_the_data() {
    let mut m = Mutex::new(vec![1]);
    m.get_mut().unwrap().push(2);
    assert_eq!(m.into_inner().unwrap(), vec![1, 2]);
}

#[test]
fn into_inner_drops_the_data_once() {
    struct Count(Arc<std::sync::atomic::AtomicUsize>);
    impl Drop for Count {
        fn drop(&mut self) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let n = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let m = Mutex::new(Count(Arc::clone(&n)));
    let inner = m.into_inner().unwrap();
    assert_eq!(n.load(std::sync::atomic::Ordering::SeqCst), 0);
    drop(inner);
    assert_eq!(n.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn default_and_from() {
    let d: Mutex<Vec<u8>> = Mutex::default();
    assert!(d.lock().unwrap().is_empty());
    let f = Mutex::from(3);
    assert_eq!(*f.lock().unwrap(), 3);
    let n = Mutex::named("named", 4);
    assert_eq!(*n.lock().unwrap(), 4);
}

#[test]
fn debug_prints_as_std() {
    let m = Mutex::new(5);
    assert_eq!(format!("{m:?}"), "Mutex { data: 5, poisoned: false, .. }");
    let g = m.lock().unwrap();
    // std 1.95 quotes `<locked>` in a Mutex (not in a RwLock).
    assert_eq!(
        format!("{m:?}"),
        r#"Mutex { data: "<locked>", poisoned: false, .. }"#
    );
    assert_eq!(format!("{g:?}"), "5");
    assert_eq!(format!("{g}"), "5");
    assert_eq!(format!("{m:?}"), std_like_locked());
}

fn std_like_locked() -> String {
    let m = std::sync::Mutex::new(5);
    let _g = m.lock().unwrap();
    format!("{m:?}")
}

#[test]
fn trait_impls_match_std() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    fn unwind_safe<T: std::panic::UnwindSafe>() {}
    fn ref_unwind_safe<T: std::panic::RefUnwindSafe>() {}
    send::<Mutex<Vec<u8>>>();
    sync::<Mutex<std::cell::Cell<u8>>>();
    sync::<kernsync_sync::MutexGuard<'static, u8>>();
    unwind_safe::<Mutex<std::cell::Cell<u8>>>();
    ref_unwind_safe::<Mutex<std::cell::Cell<u8>>>();
    unwind_safe::<&Mutex<std::cell::Cell<u8>>>();
}
