#![doc = include_str!("../README.md")]
#![deny(unsafe_op_in_unsafe_fn)]

/// The atomics: `std::sync::atomic` in a build, loom's under `--cfg loom`.
#[cfg(loom)]
pub use loom::sync::atomic;
/// The atomics: `std::sync::atomic` in a build, loom's under `--cfg loom`.
#[cfg(not(loom))]
pub use std::sync::atomic;

mod macros;
mod park;

pub use park::{park, unpark_filter, unpark_one, unpark_requeue};
pub use park::{FilterOp, ParkResult, ParkToken, RequeueOp, SpinWait, UnparkResult, UnparkToken};

/// Runs `f`, aborting the process if it unwinds. The locks' slow paths wrap
/// their parking-lot calls in it: none of them panics, but if one did, the
/// lock could be left in a state the `lock_api` contract forbids (an unlock
/// that unwinds without releasing, a lost handoff), so we abort rather than
/// unwind.
#[inline]
pub fn abort_on_unwind<R>(f: impl FnOnce() -> R) -> R {
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            std::process::abort();
        }
    }
    let bomb = Bomb;
    let r = f();
    std::mem::forget(bomb);
    r
}
