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
