#![doc = include_str!("../README.md")]
#![deny(unsafe_op_in_unsafe_fn)]

mod atomic;
mod blocking;
mod node;

pub use atomic::{AtomicNotifierChain, AtomicRegistration};
pub use blocking::{NotifierChain, Registration};
pub use node::{Ended, Outcome, Prepared, Verdict};
