//! The behaviours Rust std checks in its own tests of `std::sync::Mutex`,
//! `std::sync::Condvar` and `std::sync::RwLock` (`library/std/tests/sync/
//! {mutex,condvar,rwlock}.rs`, formerly `library/std/src/sync/*/tests.rs`),
//! re-expressed in our own words against kernsync's `Mutex`, `Condvar` and
//! `RwSem`, for users porting code from std.
//!
//! Only what `parking_lot_suite.rs` does not already check equally is here.
//! std tests whose behaviour that suite covers (test name there in brackets):
//! mutex `smoke` [mutex_locks_and_unlocks], `lots_and_lots`
//! [mutex_counts_every_increment_from_many_threads], `try_lock`,
//! `test_into_inner`, `test_into_inner_drop`, `test_get_mut`
//! [mutex_into_inner_*], `test_mutex_unsized` [mutex_of_an_unsized_slice_by_
//! coercion], `test_mutex_arc_access_in_unwind` [mutex_can_be_locked_from_a_
//! drop_during_unwinding; here only its same-thread variant],
//! `test_mutex_arc_poison` [mutex_is_not_poisoned_by_a_panicking_holder];
//! condvar `smoke`, `notify_one`, `notify_all`, `test_mutex_arc_condvar`,
//! `wait_timeout_wait`, `wait_timeout_while_wait`, the old `two_mutexes`
//! [condvar_*]; rwlock `smoke`, `frob`, `test_rw_arc`,
//! `test_rw_arc_access_in_unwind`, `test_rwlock_unsized`, `test_into_inner*`,
//! `test_get_mut`, `test_downgrade_basic`, `test_downgrade_observe`,
//! `test_rw_arc_{no_,}poison_{wr,ww,rr,rw}` [rwlock_*].
//!
//! kernsync has no poisoning (parking_lot's convention): each of std's
//! poisoning tests becomes "the lock is free and usable after a panic while
//! it was held, the data is as the panicking code left it, and the
//! validator's held-lock stack of the panicking thread is empty after
//! unwinding". Where our API or semantics differ from std's otherwise, the
//! test says so in a comment starting `Adaptation:`. Iteration counts are
//! std's unless a comment says otherwise; the file runs in well under a
//! second in a debug build on two cores. No test sleeps to wait for something to
//! happen: threads are sequenced with channels, barriers and the locks.
//!
//! A timeout no `Instant` can hold (`Duration::MAX`, the "wait forever" a
//! port may pass) is an untimed wait, as in std; these tests found that the
//! typed `Condvar` and `RwSem::try_read_recursive_for` panicked on it.
#![cfg(not(loom))]

use kernsync_lockdep::{capture, held_locks, Mode, ReportKind, COMPILED_IN};
use kernsync_rwsem::{
    Condvar, MappedMutexGuard, MappedRwSemReadGuard, MappedRwSemWriteGuard, Mutex, MutexGuard,
    RwSem, RwSemReadGuard, RwSemWriteGuard,
};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::channel;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

#[derive(Clone, Debug, PartialEq, Eq)]
struct NonCopy(i32);

/// A value with drop glue (std runs its accessor tests on one too).
#[derive(Clone, Debug, PartialEq, Eq)]
struct NeedsDrop(i32);

impl Drop for NeedsDrop {
    fn drop(&mut self) {
        std::hint::black_box(&self.0);
    }
}

/// Counts how many times it was dropped.
struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Fails unless the validator records no lock held by this thread (vacuous
/// when it is compiled out).
#[track_caller]
fn assert_holds_nothing(after: &str) {
    if COMPILED_IN {
        let held = held_locks();
        assert!(
            held.is_empty(),
            "after {after}, the validator still records {held:?}"
        );
    }
}

/// The modes in which the validator records this thread's held locks
/// (empty when it is compiled out).
fn held_modes() -> Vec<Mode> {
    held_locks().iter().map(|h| h.mode).collect()
}

/// What the validator should record for `modes` held: `modes` when it is
/// compiled in, nothing otherwise.
fn expect_held(modes: &[Mode]) -> Vec<Mode> {
    if COMPILED_IN {
        modes.to_vec()
    } else {
        Vec::new()
    }
}

/// Runs `f`, which must panic, on this thread; then checks that unwinding
/// left no lock recorded as held.
#[track_caller]
fn must_panic_cleanly(what: &str, f: impl FnOnce()) {
    let outcome = catch_unwind(AssertUnwindSafe(f));
    assert!(outcome.is_err(), "{what} did not panic");
    assert_holds_nothing(what);
}

// ---------------------------------------------------------------------------
// Mutex (std's tests/sync/mutex.rs)
// ---------------------------------------------------------------------------

#[test]
fn mutex_nested_in_a_mutex_made_by_one_constructor() {
    // std's `test_mutex_arc_nested`: a thread locks the outer mutex, then
    // the inner one reached through it. Adaptation: parking_lot_suite runs
    // std's shape with two construction sites. A port often makes both
    // through one helper instead (generic code, a `new_shared` fn); then
    // both mutexes are one validator class, and nesting them is reported as
    // possible recursive locking, as Linux lockdep reports two inode locks
    // taken without annotation. The port states the order with
    // `lock_nested`.
    fn shared<T>(value: T) -> Arc<Mutex<T>> {
        Arc::new(Mutex::new(value)) // one site, one class, for every T
    }
    let inner = shared(1);
    let outer = shared(Arc::clone(&inner));

    let (seen, reports) = capture(|| {
        let out = outer.lock();
        let inn = out.lock();
        *inn
    });
    assert_eq!(seen, 1);
    let kinds: Vec<_> = reports.iter().map(|r| r.kind()).collect();
    if COMPILED_IN {
        assert_eq!(kinds, [ReportKind::RecursiveLocking], "{reports:?}");
    } else {
        assert!(kinds.is_empty());
    }
    assert_holds_nothing("the captured nesting");

    let (tx, rx) = channel();
    let t = thread::spawn(move || {
        let ((), reports) = capture(|| {
            let out = outer.lock();
            let inn = out.lock_nested(1);
            assert_eq!(*inn, 1);
            assert_eq!(held_modes(), expect_held(&[Mode::Write, Mode::Write]));
            tx.send(*inn).unwrap();
        });
        assert!(reports.is_empty(), "{reports:?}");
    });
    assert_eq!(rx.recv().unwrap(), 1);
    t.join().unwrap();
    assert!(!inner.is_locked());
}

#[test]
fn mutex_survives_three_panics_on_one_thread() {
    // std's `test_panics`: three panics in a row while the mutex is held,
    // each caught on the same thread. Adaptation: with no poisoning, each
    // next locker sees what the previous one wrote before panicking, and
    // the validator's stack is empty again after every unwind (the thread
    // goes on, so a stale entry would be blamed for its next locks).
    let mutex = Mutex::new(42);
    for round in 1..=3 {
        must_panic_cleanly("a panic with the mutex held", || {
            let mut g = mutex.lock();
            assert_eq!(*g, 41 + round);
            *g += 1;
            panic!("deliberate panic with the mutex held, round {round}");
        });
        assert!(!mutex.is_locked(), "round {round} left the mutex held");
    }
    assert_eq!(*mutex.try_lock().expect("still held"), 45);
}

#[test]
fn mutex_locked_in_a_drop_while_its_frame_unwinds_holding_another() {
    // std's `test_mutex_arc_access_in_unwind`, on the panicking thread
    // itself and with a lock still held by the unwinding frame: the drop
    // that locks runs while `outer` is held, so it nests under it. Both are
    // released by the unwind, and the validator's record with them.
    struct IncrementOnDrop<'a>(&'a Mutex<i32>);
    impl Drop for IncrementOnDrop<'_> {
        fn drop(&mut self) {
            assert_eq!(held_modes(), expect_held(&[Mode::Write]));
            *self.0.lock() += 1;
        }
    }
    let outer = Mutex::new(());
    let counter = Mutex::new(1);
    must_panic_cleanly("a panic unwinding through a lock user", || {
        let _held = outer.lock();
        let _on_unwind = IncrementOnDrop(&counter); // dropped first
        panic!("deliberate panic to unwind through a lock user");
    });
    assert!(!outer.is_locked());
    assert_eq!(*counter.lock(), 2);
}

#[test]
fn mutex_usable_after_a_panic_under_a_mapped_guard() {
    // std's `test_mutex_arc_poison_mapped`, `test_into_inner_poison` and
    // `test_get_mut_poison`. Adaptation: no poisoning, so after a thread
    // panics holding a mapped guard the mutex is free, its data is as the
    // thread left it, and `into_inner` / `get_mut` give it back without an
    // error to unwrap. The panicking thread checks its own validator stack
    // before letting the panic end it.
    let m = Arc::new(Mutex::new(NonCopy(1)));
    let m2 = Arc::clone(&m);
    let joined = thread::spawn(move || {
        let payload = catch_unwind(AssertUnwindSafe(|| {
            let g = m2.lock();
            let mut field = MutexGuard::map(g, |v| &mut v.0);
            *field = 10;
            assert_eq!(
                *field, 2,
                "deliberate assertion failure under a mapped guard"
            );
        }))
        .expect_err("the assertion held");
        assert_holds_nothing("a panic under a mapped mutex guard");
        resume_unwind(payload);
    })
    .join();
    assert!(joined.is_err());
    assert!(!m.is_locked(), "the panic left the mutex held");
    assert_eq!(*m.try_lock().expect("poisoned or still held"), NonCopy(10));
    let mut m = Arc::try_unwrap(m).unwrap_or_else(|_| panic!("the thread kept its Arc"));
    m.get_mut().0 += 10;
    assert_eq!(m.into_inner(), NonCopy(20));
}

#[test]
fn mutex_panic_inside_a_map_closure_releases_the_mutex() {
    // std's `panic_while_mapping_unlocked_poison`: a closure given to
    // `map` (and std's `filter_map`, lock_api's `try_map`) panics, on a
    // guard and on an already mapped guard. The guard is dropped by the
    // unwind: the mutex is free again. Adaptation: std poisons it; we do
    // not, and the validator's stack is empty afterwards.
    let lock = Mutex::new(());
    must_panic_cleanly("a panic in MutexGuard::map", || {
        drop(MutexGuard::map::<(), _>(lock.lock(), |_| panic!("in map")));
    });
    assert!(lock.try_lock().is_some(), "MutexGuard::map kept the lock");
    must_panic_cleanly("a panic in MutexGuard::try_map", || {
        drop(MutexGuard::try_map::<(), _>(lock.lock(), |_| {
            panic!("in try_map")
        }));
    });
    assert!(
        lock.try_lock().is_some(),
        "MutexGuard::try_map kept the lock"
    );
    must_panic_cleanly("a panic in MappedMutexGuard::map", || {
        let mapped = MutexGuard::map::<(), _>(lock.lock(), |v| v);
        drop(MappedMutexGuard::map::<(), _>(mapped, |_| panic!("in map")));
    });
    assert!(
        lock.try_lock().is_some(),
        "MappedMutexGuard::map kept the lock"
    );
    must_panic_cleanly("a panic in MappedMutexGuard::try_map", || {
        let mapped = MutexGuard::map::<(), _>(lock.lock(), |v| v);
        drop(MappedMutexGuard::try_map::<(), _>(mapped, |_| {
            panic!("in try_map")
        }));
    });
    assert!(
        lock.try_lock().is_some(),
        "MappedMutexGuard::try_map kept the lock"
    );
}

#[test]
fn mutex_guard_mapped_twice_still_holds_the_mutex() {
    // std's `test_mapping_mapped_guard`: map a guard to a sub-slice, map
    // the mapped guard to a narrower one, write through it, and see the
    // write through `get_mut`. Also: the twice-mapped guard still holds
    // the mutex, for other lockers and for the validator.
    let mut lock = Mutex::new([0; 4]);
    let front = MutexGuard::map(lock.lock(), |arr| &mut arr[..2]);
    let mut second = MappedMutexGuard::map(front, |slice| &mut slice[1..]);
    assert_eq!(second.len(), 1);
    second[0] = 42;
    assert!(lock.try_lock().is_none(), "a mapped guard let a locker in");
    assert_eq!(held_modes(), expect_held(&[Mode::Write]));
    drop(second);
    assert_holds_nothing("dropping a twice-mapped guard");
    assert_eq!(*lock.get_mut(), [0, 42, 0, 0]);
}

#[test]
fn value_accessors_through_guards() {
    // std's `test_set`, `test_set_drop`, `test_replace`, `test_get_cloned`
    // (Mutex and RwLock) and `test_mutex_with_mut` / `test_rwlock_with`.
    // Adaptation: kernsync's locks (like parking_lot's) have no `set`,
    // `replace`, `get_cloned`, `with` or `with_mut`; a port writes them
    // through a guard, which this checks does what std's do: the old
    // value comes back (`replace`) or is dropped exactly once (`set`), and
    // the lock is free afterwards.
    fn with<T: Clone + PartialEq + std::fmt::Debug>(init: impl Fn() -> T, value: impl Fn() -> T) {
        let m = Mutex::new(init());
        assert_eq!((*m.lock()).clone(), init()); // get_cloned
        assert_eq!(std::mem::replace(&mut *m.lock(), value()), init()); // replace
        assert_eq!(*m.lock(), value());
        *m.lock() = init(); // set
        assert_eq!(*m.lock(), init());
        assert!(!m.is_locked());

        let l = RwSem::new(init());
        assert_eq!((*l.read()).clone(), init());
        assert_eq!(std::mem::replace(&mut *l.write(), value()), init());
        assert_eq!(*l.read(), value());
        *l.write() = init();
        assert_eq!(*l.read(), init());
        assert!(!l.is_locked());
    }
    with(|| NonCopy(10), || NonCopy(20));
    with(|| NeedsDrop(10), || NeedsDrop(20));

    // `test_set_drop`: the value replaced by a set is dropped, once, and
    // the new one is not.
    let old_drops = Arc::new(AtomicUsize::new(0));
    let new_drops = Arc::new(AtomicUsize::new(0));
    let m = Mutex::new(DropCounter(Arc::clone(&old_drops)));
    *m.lock() = DropCounter(Arc::clone(&new_drops));
    assert_eq!(old_drops.load(Ordering::SeqCst), 1);
    assert_eq!(new_drops.load(Ordering::SeqCst), 0);
    let l = RwSem::new(DropCounter(Arc::clone(&old_drops)));
    *l.write() = DropCounter(Arc::clone(&new_drops));
    assert_eq!(old_drops.load(Ordering::SeqCst), 2);
    assert_eq!(new_drops.load(Ordering::SeqCst), 0);
    drop((m, l));
    assert_eq!(new_drops.load(Ordering::SeqCst), 2);

    // `with_mut` / `with`: a closure over the locked value.
    let m = Mutex::new(2);
    let result = {
        let mut v = m.lock();
        *v += 3;
        *v + 5
    };
    assert_eq!((*m.lock(), result), (5, 10));
    let l = RwSem::new(2);
    assert_eq!(*l.read() + 3, 5);
}

// ---------------------------------------------------------------------------
// RwLock (std's tests/sync/rwlock.rs)
// ---------------------------------------------------------------------------

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

#[test]
fn rwlock_mapped_read_guard_is_covariant() {
    // std's `test_mapped_read_guard_covariance`: a mapped read guard of
    // `&'long i32` is accepted where one of `&'short i32` is wanted. This
    // is a compile-time check; the body only has to build.
    //
    // Adaptation: std's `test_read_guard_covariance` asks the same of a
    // plain read guard. lock_api's `RwLockReadGuard` (ours) holds a
    // reference to the whole lock, whose `UnsafeCell` makes it invariant in
    // `T`, so that test does not compile against `RwSemReadGuard`; mapping
    // the guard with the identity (`RwSemReadGuard::map(g, |v| v)`) gives a
    // covariant guard, which is what a port does.
    fn takes<'a>(_: MappedRwSemReadGuard<'_, &'a i32>, _: &'a i32) {}
    let long = 5;
    let lock = RwSem::new((&long, &long));
    {
        let short = 6;
        let guard = RwSemReadGuard::map(lock.read(), |(first, _)| first);
        takes(guard, &short);
        let guard = RwSemReadGuard::map(lock.read(), |pair| pair);
        let guard = MappedRwSemReadGuard::map(guard, |(_, second)| second);
        takes(guard, &short);
    }
    assert!(!lock.is_locked());
}

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

#[test]
fn rwlock_usable_after_a_panic_under_a_mapped_guard() {
    // std's `test_rw_arc_poison_mapped_w_r`, `..._mapped_w_w`,
    // `test_rw_arc_no_poison_mapped_r_r` and `..._mapped_r_w`, with
    // `test_into_inner_poison` and `test_get_mut_poison`: a thread panics
    // holding a mapped write or read guard; then the lock is read or
    // written. Adaptation: std's lock is poisoned after a write-side panic;
    // ours never is. The data is as left, and the panicking thread's
    // validator stack is empty after the unwind.
    for (panic_while_writing, then_write) in
        [(true, false), (true, true), (false, false), (false, true)]
    {
        let lock = Arc::new(RwSem::new(NonCopy(1)));
        let lock2 = Arc::clone(&lock);
        let joined = thread::spawn(move || {
            let payload = catch_unwind(AssertUnwindSafe(|| {
                if panic_while_writing {
                    let mut field = RwSemWriteGuard::map(lock2.write(), |v| &mut v.0);
                    *field = 7;
                    panic!("deliberate panic under a mapped write guard");
                } else {
                    let field = RwSemReadGuard::map(lock2.read(), |v| &v.0);
                    assert_eq!(*field, 2, "deliberate failure under a mapped read guard");
                }
            }))
            .expect_err("no panic");
            assert_holds_nothing("a panic under a mapped rwlock guard");
            resume_unwind(payload);
        })
        .join();
        assert!(joined.is_err());
        assert!(!lock.is_locked(), "the panic left the lock held");
        let expected = NonCopy(if panic_while_writing { 7 } else { 1 });
        if then_write {
            let mut w = lock.try_write().expect("poisoned or still held");
            assert_eq!(*w, expected);
            w.0 += 1;
        } else {
            assert_eq!(*lock.try_read().expect("still held"), expected);
        }
        let mut lock = Arc::try_unwrap(lock).unwrap_or_else(|_| panic!("an Arc was kept"));
        let seen = lock.get_mut().0;
        assert_eq!(lock.into_inner(), NonCopy(seen));
    }
}

#[test]
fn rwlock_panic_inside_a_map_closure_releases_the_lock() {
    // std's `panic_while_mapping_read_unlocked_no_poison` and
    // `panic_while_mapping_write_unlocked_poison`: closures given to
    // `map` / `filter_map` (lock_api's `try_map`) of read, write and
    // mapped guards panic; the guard is dropped by the unwind and the lock
    // is free for a writer again. Adaptation: std poisons the lock in the
    // write cases; we never do.
    let lock = RwSem::new(());
    must_panic_cleanly("a panic in RwSemReadGuard::map", || {
        drop(RwSemReadGuard::map::<(), _>(lock.read(), |_| {
            panic!("in map")
        }));
    });
    assert!(lock.try_write().is_some(), "read map kept the lock");
    must_panic_cleanly("a panic in RwSemReadGuard::try_map", || {
        drop(RwSemReadGuard::try_map::<(), _>(lock.read(), |_| {
            panic!("in try_map")
        }));
    });
    assert!(lock.try_write().is_some(), "read try_map kept the lock");
    must_panic_cleanly("a panic in MappedRwSemReadGuard::map", || {
        let mapped = RwSemReadGuard::map::<(), _>(lock.read(), |v| v);
        drop(MappedRwSemReadGuard::map::<(), _>(mapped, |_| {
            panic!("in map")
        }));
    });
    assert!(lock.try_write().is_some(), "mapped read map kept the lock");
    must_panic_cleanly("a panic in MappedRwSemReadGuard::try_map", || {
        let mapped = RwSemReadGuard::map::<(), _>(lock.read(), |v| v);
        drop(MappedRwSemReadGuard::try_map::<(), _>(mapped, |_| {
            panic!("in try_map")
        }));
    });
    assert!(
        lock.try_write().is_some(),
        "mapped read try_map kept the lock"
    );

    must_panic_cleanly("a panic in RwSemWriteGuard::map", || {
        drop(RwSemWriteGuard::map::<(), _>(lock.write(), |_| {
            panic!("in map")
        }));
    });
    assert!(lock.try_write().is_some(), "write map kept the lock");
    must_panic_cleanly("a panic in RwSemWriteGuard::try_map", || {
        drop(RwSemWriteGuard::try_map::<(), _>(lock.write(), |_| {
            panic!("in try_map")
        }));
    });
    assert!(lock.try_write().is_some(), "write try_map kept the lock");
    must_panic_cleanly("a panic in MappedRwSemWriteGuard::map", || {
        let mapped = RwSemWriteGuard::map::<(), _>(lock.write(), |v| v);
        drop(MappedRwSemWriteGuard::map::<(), _>(mapped, |_| {
            panic!("in map")
        }));
    });
    assert!(lock.try_write().is_some(), "mapped write map kept the lock");
    must_panic_cleanly("a panic in MappedRwSemWriteGuard::try_map", || {
        let mapped = RwSemWriteGuard::map::<(), _>(lock.write(), |v| v);
        drop(MappedRwSemWriteGuard::try_map::<(), _>(mapped, |_| {
            panic!("in try_map")
        }));
    });
    assert!(
        lock.try_write().is_some(),
        "mapped write try_map kept the lock"
    );
}

// ---------------------------------------------------------------------------
// Condvar (std's tests/sync/condvar.rs)
// ---------------------------------------------------------------------------

#[test]
fn condvar_wait_while_a_flag_another_thread_sets_once() {
    // std's `wait_while`: a thread sets a flag under the mutex and
    // notifies once; `wait_while` returns only when the flag is set,
    // whether the thread ran before the wait began (no wait at all),
    // during it, or woke it spuriously. Adaptation: std's `wait_while`
    // takes and returns the guard; ours borrows it.
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let pair2 = Arc::clone(&pair);
    let setter = thread::spawn(move || {
        let (lock, cv) = &*pair2;
        let mut started = lock.lock();
        *started = true;
        cv.notify_one();
    });
    let (lock, cv) = &*pair;
    let mut started = lock.lock();
    cv.wait_while(&mut started, |started| !*started);
    assert!(*started);
    assert_eq!(held_modes(), expect_held(&[Mode::Write]));
    drop(started);
    setter.join().unwrap();
}

#[test]
fn condvar_wait_while_for_a_zero_timeout() {
    // std's `wait_timeout_while_instant_satisfy`: with no time at all, a
    // condition that is already false is not a timeout. Also the other
    // side, which std checks with 1 ms (`wait_timeout_while_wait`): a
    // condition that stays true times out, and no time does not mean
    // no check (the condition is evaluated before giving up).
    // Adaptation: std's `wait_timeout_while` is our `wait_while_for`.
    let m = Mutex::new(0u32);
    let cv = Condvar::new();
    let mut g = m.lock();
    let r = cv.wait_while_for(&mut g, |_| false, Duration::ZERO);
    assert!(!r.timed_out(), "a satisfied wait with no time timed out");
    let r = cv.wait_while_for(
        &mut g,
        |checks| {
            *checks += 1;
            true
        },
        Duration::ZERO,
    );
    assert!(
        r.timed_out(),
        "an unsatisfied wait with no time did not time out"
    );
    assert!(*g >= 1, "the condition was never checked");
    assert_eq!(held_modes(), expect_held(&[Mode::Write]));
}

/// std's `wait_timeout_while_wake` with the timeout given: a thread sets
/// a flag and notifies; the waiter's `wait_while_for` returns with the flag
/// set, not timed out. The setter can only lock once the waiter has
/// released the mutex into the wait, so its notification always finds the
/// waiter. Adaptation: std's setter sleeps 1 ms holding the mutex first;
/// that changes no outcome and is left out.
fn wait_while_for_woken_by_a_setter(timeout: Duration) {
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let pair2 = Arc::clone(&pair);
    let (m, cv) = &*pair;
    let mut g = m.lock();
    let setter = thread::spawn(move || {
        let (m, cv) = &*pair2;
        let mut notified = m.lock();
        *notified = true;
        cv.notify_one();
    });
    let r = cv.wait_while_for(&mut g, |notified| !*notified, timeout);
    assert!(!r.timed_out(), "a wait of {timeout:?} timed out");
    assert!(*g);
    drop(g);
    setter.join().unwrap();
}

/// std's `wait_timeout_wake` with the timeout given: one unlooped
/// `wait_for` is woken by a notification, not a timeout. A wakeup may be
/// spurious; std then runs the round again, and so does this (a bounded
/// number of times).
fn wait_for_woken_by_a_notifier(timeout: Duration) {
    let m = Arc::new(Mutex::new(()));
    let cv = Arc::new(Condvar::new());
    for _attempt in 0..100 {
        let mut g = m.lock();
        let notified = Arc::new(AtomicBool::new(false));
        let notifier = {
            let (m, cv, notified) = (Arc::clone(&m), Arc::clone(&cv), Arc::clone(&notified));
            thread::spawn(move || {
                let _g = m.lock();
                // Relaxed: the mutex orders it before the waiter's load.
                notified.store(true, Ordering::Relaxed);
                cv.notify_one();
            })
        };
        let r = cv.wait_for(&mut g, timeout);
        assert!(!r.timed_out(), "a wait of {timeout:?} timed out");
        let was_notified = notified.load(Ordering::Relaxed);
        drop(g);
        notifier.join().unwrap();
        if was_notified {
            return;
        }
    }
    panic!("100 waits in a row woke spuriously");
}

#[test]
fn condvar_wait_while_for_u64_max_millis_is_woken() {
    // std's `wait_timeout_while_wake`, with std's timeout: u64::MAX
    // milliseconds (half a billion years: on Linux an `Instant` can still
    // hold that deadline, on some platforms it cannot).
    wait_while_for_woken_by_a_setter(Duration::from_millis(u64::MAX));
}

#[test]
fn condvar_wait_for_u64_max_millis_is_woken() {
    // std's `wait_timeout_wake`, with std's timeout.
    wait_for_woken_by_a_notifier(Duration::from_millis(u64::MAX));
}

#[test]
fn condvar_wait_while_for_duration_max_is_woken() {
    // std's `wait_timeout_while_wake` with the largest timeout there is,
    // the "wait forever" a port may pass: std (checked on this machine)
    // and lock_api's `Condvar` make it an untimed wait.
    wait_while_for_woken_by_a_setter(Duration::MAX);
}

#[test]
fn condvar_wait_for_duration_max_is_woken() {
    // std's `wait_timeout_wake` with the largest timeout there is.
    wait_for_woken_by_a_notifier(Duration::MAX);
}

#[test]
fn condvar_timeout_past_instant_range_waits_untimed() {
    // The minimal form of the two tests above. std turns a timeout no
    // `Instant` can hold into an untimed wait (as does lock_api's own
    // `Condvar`, see the next test); here the condition is already false,
    // so std returns at once: no wait, no timeout. Ours panicked on the
    // deadline's overflow.
    let m = Mutex::new(());
    let cv = Condvar::new();
    let mut g = m.lock();
    let r = cv.wait_while_for(&mut g, |_| false, Duration::MAX);
    assert!(!r.timed_out());
}

#[test]
fn raw_condvar_timeout_past_instant_range_is_an_untimed_wait() {
    // The reference for the tests above: lock_api's `Condvar` over
    // kernsync's raw locks (no validator) does what std does with a
    // timeout no `Instant` can hold: it waits untimed.
    type RawLockedFlag = lock_api::Mutex<kernsync_rwsem::RawMutex, bool>;
    type RawCv = lock_api::Condvar<kernsync_rwsem::RawCondvar>;
    let m = RawLockedFlag::new(false);
    let cv = RawCv::new();
    let mut g = m.lock();
    assert!(!cv
        .wait_while_for(&mut g, |_| false, Duration::MAX)
        .timed_out());
    drop(g);

    let pair = Arc::new((RawLockedFlag::new(false), RawCv::new()));
    let pair2 = Arc::clone(&pair);
    let (m, cv) = &*pair;
    let mut g = m.lock();
    let setter = thread::spawn(move || {
        let (m, cv) = &*pair2;
        *m.lock() = true;
        cv.notify_one();
    });
    let r = cv.wait_while_for(&mut g, |set| !*set, Duration::MAX);
    assert!(!r.timed_out() && *g);
    *g = false;
    drop(g);
    setter.join().unwrap();
}

#[test]
fn condvar_waiter_woken_by_a_notifier_that_then_panics() {
    // The old std `test_arc_condvar_poison`: a thread takes the mutex,
    // notifies the waiter, and panics while still holding the mutex. The
    // waiter was moved to the mutex by the notification and gets it from
    // the unwinding thread. Adaptation: in std the waiter's `wait` returns
    // a poison error and the waiter leaves its loop on it. With no
    // poisoning the waiter gets the mutex and the data as left, so the
    // notifier changes the data before it panics, and the waiter loops on
    // that (tolerating spurious wakeups, as std's loop does).
    let pair = Arc::new((Mutex::new(1), Condvar::new()));
    let pair2 = Arc::clone(&pair);
    let (go_tx, go_rx) = channel();
    let notifier = thread::spawn(move || {
        go_rx.recv().unwrap();
        let payload = catch_unwind(AssertUnwindSafe(|| {
            let (lock, cv) = &*pair2;
            let mut g = lock.lock();
            *g = 2;
            cv.notify_one();
            panic!("deliberate panic after notifying, with the mutex held");
        }))
        .expect_err("no panic");
        assert_holds_nothing("a panic after notifying");
        resume_unwind(payload);
    });
    let (lock, cv) = &*pair;
    let mut g = lock.lock();
    go_tx.send(()).unwrap();
    while *g == 1 {
        cv.wait(&mut g);
    }
    assert_eq!(*g, 2);
    assert_eq!(held_modes(), expect_held(&[Mode::Write]));
    drop(g);
    assert!(notifier.join().is_err());
    assert!(!lock.is_locked());
    assert_eq!(*lock.lock(), 2);
}

#[test]
fn recursive_read_with_a_timeout_past_instant_range_waits_untimed() {
    // The same overflow in `RwSem::try_read_recursive_for`: a timeout no
    // `Instant` can hold gets the read, waiting as long as it takes.
    let lock = Arc::new(RwSem::new(0));
    let mut w = lock.write();
    let (tx, rx) = channel();
    let reader = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || {
            tx.send(()).unwrap();
            let r = lock
                .try_read_recursive_for(Duration::MAX)
                .expect("an untimed wait gets the read");
            *r
        })
    };
    rx.recv().unwrap();
    *w = 7;
    drop(w);
    assert_eq!(reader.join().unwrap(), 7);
    let r = lock.try_read_recursive_for(Duration::MAX);
    assert_eq!(r.as_deref(), Some(&7));
}
