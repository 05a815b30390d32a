//! The one place atomics come from, so the lock-free table runs under loom.
//!
//! Under `--cfg loom` the atomics are loom's (modelled, not `const`); the
//! validator's statics then fall back to lazily built tables that no loom
//! model touches. Everything else in the crate uses std's.

#[cfg(loom)]
pub(crate) use loom::sync::atomic;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic;
