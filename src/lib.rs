#![doc = include_str!("../README.md")]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod guide;

/// The lock-order validator: see [`kernsync_lockdep`].
pub use kernsync_lockdep as lockdep;

/// The order-checked blocking locks (`RwSem`, `Mutex`, `Condvar`): see
/// [`kernsync_rwsem`].
pub use kernsync_rwsem as rwsem;

/// The read-mostly `PercpuRwSem` (Linux's `percpu_rw_semaphore`): see
/// [`kernsync_percpu`].
pub use kernsync_percpu as percpu;

/// Notifier chains with an allocating `prepare` and a non-allocating
/// `register`: see [`kernsync_notifier`].
pub use kernsync_notifier as notifier;

/// A superset of `std::sync` whose `Mutex`, `RwLock` and `Condvar` are
/// validated, with std's API and poisoning: see [`kernsync_sync`].
pub use kernsync_sync as sync;

/// Async locks (`Mutex`, the task-fair `RwSem`) on an eventually fair semaphore,
/// runtime-agnostic and cancel-safe, reporting to the validator: see
/// [`kernsync_async`].
pub use kernsync_async as future;
