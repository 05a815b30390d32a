#![doc = include_str!("../README.md")]
#![deny(unsafe_op_in_unsafe_fn)]

/// The lock-order validator: see [`kernsync_lockdep`].
pub use kernsync_lockdep as lockdep;
