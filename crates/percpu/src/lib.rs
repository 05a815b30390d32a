#![doc = include_str!("../README.md")]
#![deny(unsafe_op_in_unsafe_fn)]

mod barrier;
#[cfg(not(loom))]
mod local;
#[cfg(not(loom))]
mod percpu;
mod raw;
mod slot;
#[cfg(not(loom))]
mod srcu;

pub use barrier::{barrier, Barrier};
#[cfg(not(loom))]
pub use percpu::{
    CheckedRawPercpuRwSem, MappedPercpuReadGuard, MappedPercpuWriteGuard, PercpuReadGuard,
    PercpuRwSem, PercpuWriteGuard,
};
#[cfg(loom)]
pub use raw::Reader;
pub use raw::{RawPercpuRwSem, ReadToken, WriteToken};
#[cfg(not(loom))]
pub use srcu::{Srcu, SrcuReadGuard};
