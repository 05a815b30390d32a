#![doc = include_str!("../README.md")]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod raw_condvar;
pub mod raw_mutex;
pub mod raw_rwsem;

#[cfg(not(loom))]
mod checked;
#[cfg(not(loom))]
mod condvar;
#[cfg(all(feature = "lock_api_04", not(loom)))]
mod lock_api_04;
mod macros;
#[cfg(not(loom))]
mod mutex;
#[cfg(not(loom))]
mod nest;
#[cfg(not(loom))]
mod rwsem;

#[cfg(not(loom))]
pub use checked::{Checked, CheckedGuard, CheckedRawMutex, CheckedRawRwSem};
#[cfg(not(loom))]
pub use condvar::{Condvar, WaitTimeoutResult};
#[cfg(not(loom))]
pub use mutex::{MappedMutexGuard, Mutex, MutexGuard};
#[cfg(not(loom))]
pub use nest::NestLock;
#[cfg(not(loom))]
pub use rwsem::{
    MappedRwSemReadGuard, MappedRwSemWriteGuard, RwSem, RwSemReadGuard, RwSemUpgradableReadGuard,
    RwSemWriteGuard,
};

pub use raw_condvar::RawCondvar;
pub use raw_mutex::RawMutex;
pub use raw_rwsem::RawRwSem;
