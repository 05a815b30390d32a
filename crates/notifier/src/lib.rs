#![doc = include_str!("../README.md")]
#![deny(unsafe_op_in_unsafe_fn)]

mod atomic;
// Built on `PercpuRwSem`, which is not built under loom; the loom models
// cover the atomic chain (the RCU-style one) alone.
#[cfg(not(loom))]
mod blocking;
mod node;
mod registration;
mod warm;

/// What a chain's internal lock is called in reports, before the chain's
/// name or construction site: `notifier chain <name or file:line:col>`.
const OWNER: &str = "notifier chain";

pub use atomic::{ArcAtomicRegistration, AtomicNotifierChain, AtomicRegistration};
#[cfg(not(loom))]
pub use blocking::{ArcRegistration, NotifierChain, Registration};
pub use node::{Ended, Outcome, Prepared, Verdict};
pub use registration::{ChainHandle, RegistrationOn};
