//! What the tests of `PercpuRwSem`'s reader/writer behaviour share
//! (`lock_modes_try_and_timed`, `guard_mapping_unlocked_and_traits`,
//! `reader_slot_lifetimes`): timeouts, a polling helper that never sleeps,
//! the checks of the validator's held-lock stack and recursive-read
//! reports, a generator, small value types and `assert_not_impl!`. Each
//! binary includes this file by path and uses a part of it.
#![allow(dead_code, unused_macros, unused_imports)]

use kernsync_lockdep::{held_locks, ReportKind, COMPILED_IN};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Long enough for anything that is going to happen.
pub const PATIENCE: Duration = Duration::from_secs(10);
/// The timeout of an acquisition that is expected to time out.
pub const SHORT: Duration = Duration::from_millis(20);

/// Polls `cond` (yielding, never sleeping) until it holds; fails the test
/// after [`PATIENCE`] instead of hanging.
pub fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let give_up = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < give_up, "timed out waiting until {what}");
        thread::yield_now();
    }
}

/// The validator's held-lock stack of this thread is empty (trivially so
/// when the validator is not compiled in).
pub fn assert_nothing_held(when: &str) {
    if COMPILED_IN {
        let held = held_locks();
        assert!(
            held.is_empty(),
            "{when}: the validator still holds {held:?}"
        );
    }
}

/// What a deliberate second read on one thread must raise: a report when
/// the validator runs, nothing in a build without it.
pub fn expected_recursive_reports() -> Vec<ReportKind> {
    if kernsync_lockdep::is_enabled() {
        vec![ReportKind::RecursiveLocking]
    } else {
        Vec::new()
    }
}

/// A small xorshift generator (no `rand` dependency), seeded per thread.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn seeded(seed: u64) -> XorShift {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// True with probability `1 / n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.next().is_multiple_of(n)
    }
}

/// Counts its drops in a shared counter.
pub struct DropCounter(pub Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct NotCopy(pub i32);

/// Fails to compile if `$t` implements `$tr`: with the impl, both probe
/// impls apply and the call is ambiguous.
macro_rules! assert_not_impl {
    ($tr:path, $t:ty) => {{
        trait Probe<Marker> {
            fn probe() {}
        }
        impl<T: ?Sized> Probe<()> for T {}
        struct Implements;
        impl<T: ?Sized + $tr> Probe<Implements> for T {}
        <$t as Probe<_>>::probe();
    }};
}
pub(crate) use assert_not_impl;
