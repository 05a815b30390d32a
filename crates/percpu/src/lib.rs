#![doc = include_str!("../README.md")]
#![deny(unsafe_op_in_unsafe_fn)]

// The modules are layers, and each uses only the ones listed before it:
// `barrier` (the asymmetric fence, on its own) and `slot` (reader slots and a
// lock's list of them, knowing no threads: a claim is given the claiming
// thread's id) at the bottom; `local` (the calling thread's table of slots
// and its id, on `slot`); `raw` (`RawPercpuRwSem`'s state machine, on all
// three) and `srcu` (on the same three, beside `raw`, not on it); `percpu`
// (the checked `PercpuRwSem`, on `raw`) on top. A lower layer returns what
// an upper one needs (a slot, a count) and never calls up.

mod barrier;
mod local;
#[cfg(not(loom))]
mod percpu;
mod raw;
mod slot;
mod srcu;

pub use barrier::{barrier, Barrier};
#[cfg(loom)]
pub use local::exit_thread;
#[cfg(not(loom))]
pub use percpu::{
    CheckedRawPercpuRwSem, MappedPercpuReadGuard, MappedPercpuWriteGuard, PercpuReadGuard,
    PercpuRwSem, PercpuWriteGuard,
};
#[cfg(loom)]
pub use raw::Reader;
pub use raw::{RawPercpuRwSem, ReadToken, WriteToken};
pub use srcu::{Srcu, SrcuReadGuard};
