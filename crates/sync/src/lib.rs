#![doc = include_str!("../README.md")]
#![deny(unsafe_op_in_unsafe_fn)]

mod condvar;
mod lazy_lock;
mod mutex;
mod once;
mod once_lock;
mod poison;
mod rwlock;

pub use condvar::{Condvar, WaitTimeoutResult};
pub use lazy_lock::LazyLock;
pub use mutex::{Mutex, MutexGuard};
pub use once::Once;
#[allow(deprecated)]
pub use once::ONCE_INIT;
pub use once_lock::OnceLock;
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};

// std's own items, under the same names.

#[doc(inline)]
pub use std::sync::atomic;
#[doc(inline)]
pub use std::sync::mpsc;
#[doc(inline)]
pub use std::sync::OnceState;
#[doc(inline)]
pub use std::sync::{Arc, Weak};
#[doc(inline)]
pub use std::sync::{Barrier, BarrierWaitResult};
#[doc(inline)]
pub use std::sync::{LockResult, PoisonError, TryLockError, TryLockResult};
