//! Names every public item of parking_lot 0.13.0 (its `lib.rs` re-exports,
//! the `deadlock` module, the feature-gated `Arc*` guards) and uses the
//! lock_api traits upstream's raw types implement, so a missing or changed
//! item fails to compile here.
#![allow(dead_code, unused_imports)]

use parking_lot::lock_api;
#[cfg(feature = "arc_lock")]
use parking_lot::{
    ArcMutexGuard, ArcReentrantMutexGuard, ArcRwLockReadGuard, ArcRwLockUpgradableReadGuard,
    ArcRwLockWriteGuard,
};
use parking_lot::{
    Condvar, FairMutex, FairMutexGuard, MappedFairMutexGuard, MappedMutexGuard,
    MappedRecursiveRwLockReadGuard, MappedRecursiveRwLockWriteGuard, MappedReentrantMutexGuard,
    MappedRwLockReadGuard, MappedRwLockWriteGuard, Mutex, MutexGuard, Once, OnceState, RawCondvar,
    RawFairMutex, RawMutex, RawRwLock, RawRwLockRecursive, RawThreadId, RecursiveRwLock,
    RecursiveRwLockReadGuard, RecursiveRwLockUpgradableReadGuard, RecursiveRwLockWriteGuard,
    ReentrantMutex, ReentrantMutexGuard, RwLock, RwLockReadGuard, RwLockUpgradableReadGuard,
    RwLockWriteGuard, WaitTimeoutResult,
};

fn mutex_traits<R: lock_api::RawMutex + lock_api::RawMutexFair + lock_api::RawMutexTimed>() {}
fn rwlock_traits<
    R: lock_api::RawRwLock
        + lock_api::RawRwLockFair
        + lock_api::RawRwLockDowngrade
        + lock_api::RawRwLockTimed
        + lock_api::RawRwLockUpgrade
        + lock_api::RawRwLockUpgradeFair
        + lock_api::RawRwLockUpgradeDowngrade
        + lock_api::RawRwLockUpgradeTimed,
>() {
}
fn condvar_traits<C: lock_api::RawCondvar<RawMutex = RawMutex> + lock_api::RawCondvarTimed>() {}
fn thread_id<G: lock_api::GetThreadId>() {}
fn sync_send<T: Send + Sync>() {}

#[test]
fn every_item_is_there() {
    mutex_traits::<RawMutex>();
    mutex_traits::<RawFairMutex>();
    rwlock_traits::<RawRwLock>();
    rwlock_traits::<RawRwLock<false>>();
    rwlock_traits::<RawRwLockRecursive>();
    rwlock_traits::<RawRwLock<true>>();
    condvar_traits::<RawCondvar>();
    thread_id::<RawThreadId>();
    sync_send::<Mutex<u8>>();
    sync_send::<FairMutex<u8>>();
    sync_send::<RwLock<u8>>();
    sync_send::<RecursiveRwLock<u8>>();
    sync_send::<ReentrantMutex<u8>>();
    sync_send::<Condvar>();
    sync_send::<Once>();

    let m: Mutex<u8> = Mutex::new(0);
    let g: MutexGuard<'_, u8> = m.lock();
    drop::<MappedMutexGuard<'_, u8>>(MutexGuard::map(g, |x| x));
    let f: FairMutex<u8> = FairMutex::new(0);
    let g: FairMutexGuard<'_, u8> = f.lock();
    drop::<MappedFairMutexGuard<'_, u8>>(FairMutexGuard::map(g, |x| x));
    let l: RwLock<u8> = RwLock::new(0);
    drop::<MappedRwLockReadGuard<'_, u8>>(RwLockReadGuard::map(l.read(), |x| x));
    drop::<MappedRwLockWriteGuard<'_, u8>>(RwLockWriteGuard::map(l.write(), |x| x));
    let u: RwLockUpgradableReadGuard<'_, u8> = l.upgradable_read();
    drop::<RwLockWriteGuard<'_, u8>>(RwLockUpgradableReadGuard::upgrade(u));
    let r: RecursiveRwLock<u8> = RecursiveRwLock::new(0);
    drop::<MappedRecursiveRwLockReadGuard<'_, u8>>(RecursiveRwLockReadGuard::map(r.read(), |x| x));
    drop::<MappedRecursiveRwLockWriteGuard<'_, u8>>(RecursiveRwLockWriteGuard::map(
        r.write(),
        |x| x,
    ));
    let u: RecursiveRwLockUpgradableReadGuard<'_, u8> = r.upgradable_read();
    drop(u);
    let re: ReentrantMutex<u8> = ReentrantMutex::new(0);
    let g: ReentrantMutexGuard<'_, u8> = re.lock();
    drop::<MappedReentrantMutexGuard<'_, u8>>(ReentrantMutexGuard::map(g, |x| x));
    let c = Condvar::new();
    let mut g = m.lock();
    let t: WaitTimeoutResult = c.wait_for(&mut g, std::time::Duration::from_millis(1));
    assert!(t.timed_out());
    assert!(!c.notify_one());
    assert_eq!(c.notify_all(), 0);
    drop(g);
    let o = Once::new();
    let _: OnceState = o.state();
    let _ = Once::new_completed();
    o.call_once(|| {});
    o.call_once_force(|_: OnceState| {});
    o.wait();
    o.wait_force();
    assert!(o.is_completed());
    for s in [
        OnceState::New,
        OnceState::Poisoned,
        OnceState::InProgress,
        OnceState::Done,
    ] {
        let _ = (s.is_poisoned(), s.poisoned(), s.is_completed(), s.done());
    }
}

#[cfg(feature = "arc_lock")]
#[test]
fn arc_guards() {
    use std::sync::Arc;
    let m = Arc::new(Mutex::new(0));
    drop::<ArcMutexGuard<RawMutex, u8>>(m.lock_arc());
    let l = Arc::new(RwLock::new(0u8));
    drop::<ArcRwLockReadGuard<RawRwLock, u8>>(l.read_arc());
    drop::<ArcRwLockWriteGuard<RawRwLock, u8>>(l.write_arc());
    drop::<ArcRwLockUpgradableReadGuard<RawRwLock, u8>>(l.upgradable_read_arc());
    let re = Arc::new(ReentrantMutex::new(0u8));
    drop::<ArcReentrantMutexGuard<RawMutex, RawThreadId, u8>>(re.lock_arc());
}

#[cfg(feature = "deadlock_detection")]
#[test]
fn deadlock_module() {
    let found: Vec<Vec<parking_lot::deadlock::DeadlockedThread>> =
        parking_lot::deadlock::check_deadlock();
    assert!(found.is_empty());
    for t in found.iter().flatten() {
        let _: std::thread::ThreadId = t.thread_id();
        let _ = t.backtrace();
    }
}
