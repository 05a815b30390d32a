//! Every public item of parking_lot 0.12.5 named once, with the signatures
//! code relies on: a build of this file is the check that the surface is
//! there (feature-gated items under their features).
#![allow(dead_code, unused_imports, clippy::all)]

use std::time::{Duration, Instant};

use parking_lot::lock_api::{self, GetThreadId, RawMutex as _, RawRwLock as _};
use parking_lot::{
    const_fair_mutex, const_mutex, const_reentrant_mutex, const_rwlock, Condvar, FairMutex,
    FairMutexGuard, MappedFairMutexGuard, MappedMutexGuard, MappedReentrantMutexGuard,
    MappedRwLockReadGuard, MappedRwLockWriteGuard, Mutex, MutexGuard, Once, OnceState,
    RawFairMutex, RawMutex, RawRwLock, RawThreadId, ReentrantMutex, ReentrantMutexGuard, RwLock,
    RwLockReadGuard, RwLockUpgradableReadGuard, RwLockWriteGuard, WaitTimeoutResult,
};

/// The raw traits parking_lot 0.12's raw types implement.
fn raw_traits() {
    fn mutex<
        R: lock_api::RawMutex
            + lock_api::RawMutexFair
            + lock_api::RawMutexTimed<Duration = Duration, Instant = Instant>,
    >() {
    }
    mutex::<RawMutex>();
    mutex::<RawFairMutex>();
    fn rwlock<
        R: lock_api::RawRwLock
            + lock_api::RawRwLockFair
            + lock_api::RawRwLockDowngrade
            + lock_api::RawRwLockTimed<Duration = Duration, Instant = Instant>
            + lock_api::RawRwLockRecursive
            + lock_api::RawRwLockRecursiveTimed
            + lock_api::RawRwLockUpgrade
            + lock_api::RawRwLockUpgradeFair
            + lock_api::RawRwLockUpgradeDowngrade
            + lock_api::RawRwLockUpgradeTimed,
    >() {
    }
    rwlock::<RawRwLock>();
    fn thread_id<G: GetThreadId>() {}
    thread_id::<RawThreadId>();
    fn send_sync<T: Send + Sync>() {}
    send_sync::<RawMutex>();
    send_sync::<RawFairMutex>();
    send_sync::<RawRwLock>();
    send_sync::<Mutex<u8>>();
    send_sync::<Condvar>();
    send_sync::<Once>();
}

/// The aliases are the lock_api types over the raw ones.
fn aliases<'a>(
    _: Option<Mutex<u8>>,
    _: Option<MutexGuard<'a, u8>>,
    _: Option<MappedMutexGuard<'a, u8>>,
    _: Option<FairMutex<u8>>,
    _: Option<FairMutexGuard<'a, u8>>,
    _: Option<MappedFairMutexGuard<'a, u8>>,
    _: Option<RwLock<u8>>,
    _: Option<RwLockReadGuard<'a, u8>>,
    _: Option<RwLockWriteGuard<'a, u8>>,
    _: Option<RwLockUpgradableReadGuard<'a, u8>>,
    _: Option<MappedRwLockReadGuard<'a, u8>>,
    _: Option<MappedRwLockWriteGuard<'a, u8>>,
    _: Option<ReentrantMutex<u8>>,
    _: Option<ReentrantMutexGuard<'a, u8>>,
    _: Option<MappedReentrantMutexGuard<'a, u8>>,
) {
    let _: Option<lock_api::Mutex<RawMutex, u8>> = None::<Mutex<u8>>;
    let _: Option<lock_api::RwLock<RawRwLock, u8>> = None::<RwLock<u8>>;
    let _: Option<lock_api::Mutex<RawFairMutex, u8>> = None::<FairMutex<u8>>;
    let _: Option<lock_api::ReentrantMutex<RawMutex, RawThreadId, u8>> = None::<ReentrantMutex<u8>>;
}

// The const constructors, in statics.
static M: Mutex<u8> = const_mutex(0);
static M2: Mutex<u8> = Mutex::new(0);
static F: FairMutex<u8> = const_fair_mutex(0);
static R: RwLock<u8> = const_rwlock(0);
static RE: ReentrantMutex<u8> = const_reentrant_mutex(0);
static C: Condvar = Condvar::new();
static O: Once = Once::new();
const RAW_M: RawMutex = RawMutex::INIT;
const RAW_R: RawRwLock = RawRwLock::INIT;

#[test]
fn condvar_once_and_guards() {
    let m = Mutex::new(0u32);
    let mut g = m.lock();
    let r: WaitTimeoutResult = C.wait_for(&mut g, Duration::from_millis(1));
    assert!(r.timed_out());
    let r = C.wait_until(&mut g, Instant::now());
    assert!(r.timed_out());
    C.wait_while_for(&mut g, |v| *v == 0, Duration::from_millis(1));
    C.wait_while_until(&mut g, |v| *v == 0, Instant::now());
    let _: fn(&Condvar, &mut MutexGuard<'_, u32>) = Condvar::wait::<u32>;
    let _: fn(&Condvar, &mut MutexGuard<'_, u32>, fn(&mut u32) -> bool) =
        Condvar::wait_while::<u32, fn(&mut u32) -> bool>;
    let notified: bool = C.notify_one();
    let woken: usize = C.notify_all();
    assert!(!notified && woken == 0);
    assert_eq!(format!("{:?}", Condvar::default()), "Condvar { .. }");
    let mapped: MappedMutexGuard<'_, u32> = MutexGuard::map(g, |v| v);
    drop(mapped);

    let s: OnceState = O.state();
    assert!(!s.done() && !s.poisoned());
    O.call_once(|| {});
    O.call_once_force(|_: OnceState| {});
    let _ = [
        OnceState::New,
        OnceState::Poisoned,
        OnceState::InProgress,
        OnceState::Done,
    ];
    let _ = Once::default();

    let u = R.upgradable_read();
    let w = RwLockUpgradableReadGuard::upgrade(u);
    let rd = RwLockWriteGuard::downgrade(w);
    drop(rd);
    let _ = R.read_recursive();
    let _ = R.try_write_for(Duration::ZERO);
    let _ = F.try_lock_for(Duration::ZERO);
    let _ = RE.lock();
    let _ = (M.lock(), M2.lock());
}

#[cfg(feature = "arc_lock")]
#[test]
fn arc_guards() {
    use parking_lot::{
        ArcMutexGuard, ArcReentrantMutexGuard, ArcRwLockReadGuard, ArcRwLockUpgradableReadGuard,
        ArcRwLockWriteGuard,
    };
    use std::sync::Arc;
    let m = Arc::new(Mutex::new(0u8));
    let _: ArcMutexGuard<RawMutex, u8> = m.lock_arc();
    let r = Arc::new(RwLock::new(0u8));
    let _: ArcRwLockWriteGuard<RawRwLock, u8> = r.write_arc();
    let _: ArcRwLockReadGuard<RawRwLock, u8> = r.read_arc();
    let _: ArcRwLockUpgradableReadGuard<RawRwLock, u8> = r.upgradable_read_arc();
    let re = Arc::new(ReentrantMutex::new(0u8));
    let _: ArcReentrantMutexGuard<RawMutex, RawThreadId, u8> = re.lock_arc();
}

#[cfg(feature = "deadlock_detection")]
#[test]
fn deadlock_module() {
    let found: Vec<Vec<parking_lot::deadlock::DeadlockedThread>> =
        parking_lot::deadlock::check_deadlock();
    assert!(found.is_empty());
    for t in found.iter().flatten() {
        let _: usize = t.thread_id();
        let _ = t.backtrace();
    }
}
