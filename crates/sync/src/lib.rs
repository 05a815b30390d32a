#![doc = include_str!("../README.md")]
#![deny(unsafe_op_in_unsafe_fn)]

mod condvar;
mod mutex;
mod poison;
mod rwlock;

pub use condvar::{Condvar, WaitTimeoutResult};
pub use mutex::{Mutex, MutexGuard};
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};

// std's own items, under the same names. `Once`, `OnceLock` and `LazyLock`
// are std's until the next increment validates them.

#[doc(inline)]
pub use std::sync::atomic;
#[doc(inline)]
pub use std::sync::mpsc;
#[doc(inline)]
#[allow(deprecated)]
pub use std::sync::ONCE_INIT;
#[doc(inline)]
pub use std::sync::{Arc, Weak};
#[doc(inline)]
pub use std::sync::{Barrier, BarrierWaitResult};
#[doc(inline)]
pub use std::sync::{LazyLock, Once, OnceLock, OnceState};
#[doc(inline)]
pub use std::sync::{LockResult, PoisonError, TryLockError, TryLockResult};
