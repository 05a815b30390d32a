#![doc = include_str!("../README.md")]
#![deny(unsafe_op_in_unsafe_fn)]

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
