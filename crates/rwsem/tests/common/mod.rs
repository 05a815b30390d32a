//! What the rwsem crate's behaviour tests share: the two flavours every
//! `both!` test runs against (`typed`: kernsync's order-checked `RwSem`,
//! `Mutex` and `Condvar` under parking_lot's names; `raw`: lock_api's
//! wrappers over the raw locks, no validator), the `both!` and `assert_not!`
//! macros, timeouts, a polling helper, small value types, and the checks of
//! the validator's held-lock stack that the std-derived tests use. Each test
//! binary uses a part of them.
#![allow(dead_code, unused_macros, unused_imports)]

use kernsync_lockdep::{held_locks, Mode, COMPILED_IN};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// The order-checked flavour: kernsync's own types under parking_lot's names.
pub mod typed {
    pub use kernsync_rwsem::{
        Condvar, MappedMutexGuard, MappedRwSemReadGuard as MappedRwLockReadGuard,
        MappedRwSemWriteGuard as MappedRwLockWriteGuard, Mutex, MutexGuard, RwSem as RwLock,
        RwSemReadGuard as RwLockReadGuard, RwSemUpgradableReadGuard as RwLockUpgradableReadGuard,
        RwSemWriteGuard as RwLockWriteGuard,
    };

    /// What `{:?}` of the rwlock starts with.
    pub const RWLOCK_DEBUG_NAME: &str = "RwSem";

    /// Whether the validator tracks these locks (when it is compiled in).
    pub const TRACKED: bool = true;

    /// A read that never queues behind a waiting writer.
    #[track_caller]
    pub fn read_recursive<T: ?Sized>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
        lock.read_recursive()
    }

    /// [`read_recursive`] if it can be had at once.
    #[track_caller]
    pub fn try_read_recursive<T: ?Sized>(lock: &RwLock<T>) -> Option<RwLockReadGuard<'_, T>> {
        lock.try_read_recursive()
    }

    /// Whether a writer has queued up behind the current readers. The typed
    /// lock exposes no queue state, so this asks the observable question: a
    /// plain read can no longer get in although only readers hold the lock.
    pub fn writer_is_waiting<T: ?Sized>(lock: &RwLock<T>) -> bool {
        !lock.is_locked_exclusive() && lock.try_read().is_none()
    }
}

/// The raw flavour: lock_api's wrappers over kernsync's raw locks (no
/// validator involved).
pub mod raw {
    use kernsync_rwsem::{RawCondvar, RawMutex, RawRwSem};

    pub type RwLock<T> = lock_api::RwLock<RawRwSem, T>;
    pub type RwLockReadGuard<'a, T> = lock_api::RwLockReadGuard<'a, RawRwSem, T>;
    pub type RwLockWriteGuard<'a, T> = lock_api::RwLockWriteGuard<'a, RawRwSem, T>;
    pub type RwLockUpgradableReadGuard<'a, T> =
        lock_api::RwLockUpgradableReadGuard<'a, RawRwSem, T>;
    pub type MappedRwLockReadGuard<'a, T> = lock_api::MappedRwLockReadGuard<'a, RawRwSem, T>;
    pub type MappedRwLockWriteGuard<'a, T> = lock_api::MappedRwLockWriteGuard<'a, RawRwSem, T>;
    pub type Mutex<T> = lock_api::Mutex<RawMutex, T>;
    pub type MutexGuard<'a, T> = lock_api::MutexGuard<'a, RawMutex, T>;
    pub type MappedMutexGuard<'a, T> = lock_api::MappedMutexGuard<'a, RawMutex, T>;
    pub type Condvar = lock_api::Condvar<RawCondvar>;

    /// What `{:?}` of the rwlock starts with.
    pub const RWLOCK_DEBUG_NAME: &str = "RwLock";

    /// Whether the validator tracks these locks: the raw locks never report.
    pub const TRACKED: bool = false;

    /// A read that never queues behind a waiting writer: lock_api 0.5 has no
    /// trait for it, so it goes through the raw lock's own recursive read.
    pub fn read_recursive<T: ?Sized>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
        // SAFETY: the raw lock is only used to make one more shared
        // acquisition, which is handed straight to a guard below; no live
        // guard or reference is affected.
        let state = unsafe { lock.raw() }.lock_shared_recursive_guard();
        // SAFETY: `state` is the guard state of the shared acquisition of
        // this lock made just above, and no other guard owns it.
        unsafe { lock.make_read_guard_unchecked(state) }
    }

    /// [`read_recursive`] if it can be had at once.
    pub fn try_read_recursive<T: ?Sized>(lock: &RwLock<T>) -> Option<RwLockReadGuard<'_, T>> {
        // SAFETY: as in `read_recursive`: at most one more shared
        // acquisition, handed straight to a guard.
        let state = unsafe { lock.raw() }.try_lock_shared_recursive_guard()?;
        // SAFETY: `state` is the guard state of the shared acquisition of
        // this lock made just above, and no other guard owns it.
        Some(unsafe { lock.make_read_guard_unchecked(state) })
    }

    /// Whether a thread is parked on the lock (parking_lot's test waits for
    /// `has_parked_threads` in the same way).
    pub fn writer_is_waiting<T: ?Sized>(lock: &RwLock<T>) -> bool {
        // SAFETY: only a read-only query of the raw lock's state.
        unsafe { lock.raw() }.has_parked_threads()
    }
}

/// `both!(name, { body });` runs one test body against both flavours:
/// `<name>::typed` with the names of [`typed`] in scope, `<name>::raw` with
/// those of [`raw`]. The body's tokens keep their own source positions, so
/// each lock the typed variant builds is a validator class of its own line
/// and column (its class is where it is written, not where the macro is).
/// The `(name, { .. })` form is an expression list, which rustfmt formats.
macro_rules! both {
    ($name:ident, $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn typed() {
                #[allow(unused_imports)]
                use crate::common::typed::*;
                $body
            }

            #[test]
            fn raw() {
                #[allow(unused_imports)]
                use crate::common::raw::*;
                $body
            }
        }
    };
}
pub(crate) use both;

/// Long enough for anything that is going to happen.
pub const PATIENCE: Duration = Duration::from_secs(10);
/// The timeout for an acquisition or wait that is expected to time out.
pub const SHORT: Duration = Duration::from_millis(20);

/// Polls `cond` until it holds; fails the test after [`PATIENCE`].
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let give_up = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < give_up, "timed out waiting until {what}");
        thread::yield_now();
    }
}

/// A small xorshift generator (the suite has no `rand` dependency).
pub struct XorShift(pub u64);

impl XorShift {
    pub fn seeded(seed: u64) -> XorShift {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// True with probability `1 / n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0.is_multiple_of(n)
    }
}

/// Counts how many times it was dropped.
pub struct DropCounter(pub Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct NotCopy(pub i32);

/// Fails to compile if `$t` is `$auto` (the probe is ambiguous then).
macro_rules! assert_not {
    ($auto:path, $t:ty) => {{
        trait Probe<Which> {
            fn probe() {}
        }
        impl<T: ?Sized> Probe<()> for T {}
        struct Implemented;
        impl<T: ?Sized + $auto> Probe<Implemented> for T {}
        <$t as Probe<_>>::probe();
    }};
}
pub(crate) use assert_not;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NonCopy(pub i32);

/// A value with drop glue (std runs its accessor tests on one too).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeedsDrop(pub i32);

impl Drop for NeedsDrop {
    fn drop(&mut self) {
        std::hint::black_box(&self.0);
    }
}

/// Fails unless the validator records no lock held by this thread (vacuous
/// when it is compiled out).
#[track_caller]
pub fn assert_holds_nothing(after: &str) {
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
pub fn held_modes() -> Vec<Mode> {
    held_locks().iter().map(|h| h.mode).collect()
}

/// What the validator should record for `modes` held: `modes` when it is
/// compiled in, nothing otherwise.
pub fn expect_held(modes: &[Mode]) -> Vec<Mode> {
    if COMPILED_IN {
        modes.to_vec()
    } else {
        Vec::new()
    }
}

/// Runs `f`, which must panic, on this thread; then checks that unwinding
/// left no lock recorded as held.
#[track_caller]
pub fn must_panic_cleanly(what: &str, f: impl FnOnce()) {
    let outcome = catch_unwind(AssertUnwindSafe(f));
    assert!(outcome.is_err(), "{what} did not panic");
    assert_holds_nothing(what);
}
