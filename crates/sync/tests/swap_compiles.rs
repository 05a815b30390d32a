//! Code written against `std::sync` compiles and runs with the path
//! swapped to `kernsync_sync`.

mod written_for_std {
    use kernsync_sync::{
        atomic::{AtomicUsize, Ordering},
        mpsc, Arc, Barrier, Condvar, LazyLock, Mutex, Once, OnceLock, RwLock,
    };
    use std::thread;

    static INIT: Once = Once::new();
    static CONFIG: OnceLock<usize> = OnceLock::new();
    static TABLE: LazyLock<Vec<usize>> = LazyLock::new(|| (0..4).collect());
    static STARTED: AtomicUsize = AtomicUsize::new(0);

    pub fn run() -> usize {
        INIT.call_once(|| {
            STARTED.store(0, Ordering::SeqCst);
        });
        let workers = *CONFIG.get_or_init(|| TABLE.len());
        let total = Arc::new(Mutex::new(0usize));
        let seen = Arc::new(RwLock::new(Vec::new()));
        let done = Arc::new((Mutex::new(0usize), Condvar::new()));
        let barrier = Arc::new(Barrier::new(workers));
        let (tx, rx) = mpsc::channel();
        for i in 0..workers {
            let (total, seen, done, barrier, tx) = (
                Arc::clone(&total),
                Arc::clone(&seen),
                Arc::clone(&done),
                Arc::clone(&barrier),
                tx.clone(),
            );
            thread::spawn(move || {
                STARTED.fetch_add(1, Ordering::SeqCst);
                barrier.wait();
                *total.lock().unwrap() += TABLE[i];
                seen.write().unwrap().push(i);
                tx.send(i).unwrap();
                let (m, cv) = &*done;
                *m.lock().unwrap() += 1;
                cv.notify_all();
            });
        }
        drop(tx);
        let (m, cv) = &*done;
        drop(cv.wait_while(m.lock().unwrap(), |n| *n < workers).unwrap());
        let sent: usize = rx.iter().count();
        assert_eq!(sent, workers);
        assert_eq!(seen.read().unwrap().len(), workers);
        assert_eq!(STARTED.load(Ordering::SeqCst), workers);
        let total = *total.lock().unwrap();
        total
    }
}

#[test]
fn code_written_for_std_sync_runs_on_the_swap() {
    assert_eq!(written_for_std::run(), 6);
}

#[test]
fn every_std_sync_name_resolves() {
    #[allow(deprecated, unused_imports)]
    use kernsync_sync::{
        atomic, mpsc, Arc, Barrier, BarrierWaitResult, Condvar, LazyLock, LockResult, Mutex,
        MutexGuard, Once, OnceLock, OnceState, PoisonError, RwLock, RwLockReadGuard,
        RwLockWriteGuard, TryLockError, TryLockResult, WaitTimeoutResult, Weak, ONCE_INIT,
    };
    let w: Weak<u8> = Weak::new();
    assert!(w.upgrade().is_none());
}

#[test]
fn methods_have_std_signatures() {
    use kernsync_sync::{
        Condvar, LockResult, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
        TryLockResult, WaitTimeoutResult,
    };
    use std::time::Duration;
    type M = Mutex<u8>;
    type L = RwLock<u8>;
    let _: fn(u8) -> M = M::new;
    let _: for<'a> fn(&'a M) -> LockResult<MutexGuard<'a, u8>> = M::lock;
    let _: for<'a> fn(&'a M) -> TryLockResult<MutexGuard<'a, u8>> = M::try_lock;
    let _: fn(&M) -> bool = M::is_poisoned;
    let _: fn(&M) = M::clear_poison;
    let _: fn(M) -> LockResult<u8> = M::into_inner;
    let _: for<'a> fn(&'a mut M) -> LockResult<&'a mut u8> = M::get_mut;
    let _: fn(u8) -> L = L::new;
    let _: for<'a> fn(&'a L) -> LockResult<RwLockReadGuard<'a, u8>> = L::read;
    let _: for<'a> fn(&'a L) -> LockResult<RwLockWriteGuard<'a, u8>> = L::write;
    let _: for<'a> fn(&'a L) -> TryLockResult<RwLockReadGuard<'a, u8>> = L::try_read;
    let _: for<'a> fn(&'a L) -> TryLockResult<RwLockWriteGuard<'a, u8>> = L::try_write;
    let _: fn(&L) -> bool = L::is_poisoned;
    let _: fn(&L) = L::clear_poison;
    let _: fn(L) -> LockResult<u8> = L::into_inner;
    let _: for<'a> fn(&'a mut L) -> LockResult<&'a mut u8> = L::get_mut;
    let _: fn(RwLockWriteGuard<'static, u8>) -> RwLockReadGuard<'static, u8> =
        RwLockWriteGuard::downgrade;
    let _: fn() -> Condvar = Condvar::new;
    let _: for<'a> fn(&Condvar, MutexGuard<'a, u8>) -> LockResult<MutexGuard<'a, u8>> =
        Condvar::wait;
    type Timed<'a> = LockResult<(MutexGuard<'a, u8>, WaitTimeoutResult)>;
    let _: for<'a> fn(&Condvar, MutexGuard<'a, u8>, Duration) -> Timed<'a> = Condvar::wait_timeout;
    let _: fn(&Condvar) = Condvar::notify_one;
    let _: fn(&Condvar) = Condvar::notify_all;
    let _: fn(&WaitTimeoutResult) -> bool = WaitTimeoutResult::timed_out;
}
