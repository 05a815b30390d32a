//! The one place the state machines get atomics and parking from, so the
//! same code runs on parking_lot_core and std atomics in a build, and on
//! loom's atomics and a modelled parking lot under `--cfg loom`.
//!
//! `park` mirrors the part of parking_lot_core's API the locks use, with the
//! same contract: `validate`, `timed_out` and the unpark callbacks run while
//! the queue is locked (so a state change made there is atomic with the
//! enqueue or dequeue), `before_sleep` runs after the enqueue and before the
//! sleep.

#[cfg(loom)]
pub use loom::sync::atomic;
#[cfg(not(loom))]
pub use std::sync::atomic;

pub use park::{park, unpark_filter, unpark_one, unpark_requeue};
pub use park::{FilterOp, ParkResult, ParkToken, RequeueOp, SpinWait, UnparkResult, UnparkToken};

/// parking_lot_core, with its `UnparkResult` (not constructible outside
/// that crate) converted to ours so the loom twin can build one.
///
/// Every call runs as the lock's own internals for the validator
/// ([`kernsync_lockdep::lock_internals`]): parking_lot_core allocates its hash table on the
/// first park or unpark in a process and grows it as threads come, and
/// those allocations belong to the lock, not to whatever no-alloc class or
/// `no_alloc` scope the caller is in.
#[cfg(not(loom))]
mod park {
    use kernsync_lockdep::lock_internals;
    pub use parking_lot_core::{FilterOp, ParkResult, ParkToken, RequeueOp, SpinWait, UnparkToken};
    use std::time::Instant;

    /// What an unpark operation did (parking_lot_core's, constructible).
    #[derive(Clone, Copy, Default, Debug)]
    pub struct UnparkResult {
        pub unparked_threads: usize,
        pub requeued_threads: usize,
        pub have_more_threads: bool,
    }

    impl From<parking_lot_core::UnparkResult> for UnparkResult {
        #[inline]
        fn from(r: parking_lot_core::UnparkResult) -> UnparkResult {
            UnparkResult {
                unparked_threads: r.unparked_threads,
                requeued_threads: r.requeued_threads,
                have_more_threads: r.have_more_threads,
            }
        }
    }

    /// `parking_lot_core::park`.
    ///
    /// # Safety
    /// As `parking_lot_core::park`: `key` is an address the caller owns; the
    /// callbacks do not unwind or call into the parking lot (`before_sleep`
    /// may unpark).
    #[inline]
    pub unsafe fn park(
        key: usize,
        validate: impl FnOnce() -> bool,
        before_sleep: impl FnOnce(),
        timed_out: impl FnOnce(usize, bool),
        park_token: ParkToken,
        timeout: Option<Instant>,
    ) -> ParkResult {
        // SAFETY: the caller upholds `park`'s contract, forwarded unchanged.
        lock_internals(|| unsafe {
            parking_lot_core::park(key, validate, before_sleep, timed_out, park_token, timeout)
        })
    }

    /// `parking_lot_core::unpark_one`.
    ///
    /// # Safety
    /// As `parking_lot_core::unpark_one`.
    #[inline]
    pub unsafe fn unpark_one(
        key: usize,
        callback: impl FnOnce(UnparkResult) -> UnparkToken,
    ) -> UnparkResult {
        // SAFETY: forwarded unchanged; see the caller's contract.
        lock_internals(|| unsafe { parking_lot_core::unpark_one(key, |r| callback(r.into())) })
            .into()
    }

    /// `parking_lot_core::unpark_filter`.
    ///
    /// # Safety
    /// As `parking_lot_core::unpark_filter`.
    #[inline]
    pub unsafe fn unpark_filter(
        key: usize,
        filter: impl FnMut(ParkToken) -> FilterOp,
        callback: impl FnOnce(UnparkResult) -> UnparkToken,
    ) -> UnparkResult {
        // SAFETY: forwarded unchanged; see the caller's contract.
        lock_internals(|| unsafe {
            parking_lot_core::unpark_filter(key, filter, |r| callback(r.into()))
        })
        .into()
    }

    /// `parking_lot_core::unpark_requeue`.
    ///
    /// # Safety
    /// As `parking_lot_core::unpark_requeue`.
    #[inline]
    pub unsafe fn unpark_requeue(
        key_from: usize,
        key_to: usize,
        validate: impl FnOnce() -> RequeueOp,
        callback: impl FnOnce(RequeueOp, UnparkResult) -> UnparkToken,
    ) -> UnparkResult {
        // SAFETY: forwarded unchanged; see the caller's contract.
        lock_internals(|| unsafe {
            parking_lot_core::unpark_requeue(key_from, key_to, validate, |op, r| {
                callback(op, r.into())
            })
        })
        .into()
    }
}

/// A parking lot modelled on loom: one global queue under one loom mutex
/// (the real one hashes keys into buckets; one lock gives the same
/// atomicity), each parked thread waiting on a loom condvar. A timed park
/// does not block: it yields once, then either finds itself unparked or
/// times out, so the models explore both outcomes.
#[cfg(loom)]
mod park {
    use loom::sync::{Arc, Condvar, Mutex};
    pub use parking_lot_core::{FilterOp, ParkResult, ParkToken, RequeueOp, UnparkToken};
    use std::time::Instant;

    /// What an unpark operation did.
    #[derive(Clone, Copy, Default, Debug)]
    pub struct UnparkResult {
        pub unparked_threads: usize,
        pub requeued_threads: usize,
        pub have_more_threads: bool,
    }

    /// No spinning under loom: every spin is a yield the model explores.
    #[derive(Default)]
    pub struct SpinWait;

    impl SpinWait {
        pub fn new() -> SpinWait {
            SpinWait
        }
        pub fn spin(&mut self) -> bool {
            false
        }
        pub fn reset(&mut self) {}
    }

    /// A parked thread: woken through its own mutex and condvar.
    struct Waiter {
        /// Set when unparked.
        unparked: Mutex<Option<UnparkToken>>,
        wake: Condvar,
    }

    /// A queue entry: the key is the entry's, so a requeue re-keys it.
    struct Parked {
        key: usize,
        token: ParkToken,
        waiter: Arc<Waiter>,
    }

    loom::lazy_static! {
        static ref QUEUE: Mutex<Vec<Parked>> = Mutex::new(Vec::new());
    }

    fn wake(p: &Parked, token: UnparkToken) {
        *p.waiter.unparked.lock().unwrap() = Some(token);
        p.waiter.wake.notify_one();
    }

    pub unsafe fn park(
        key: usize,
        validate: impl FnOnce() -> bool,
        before_sleep: impl FnOnce(),
        timed_out: impl FnOnce(usize, bool),
        park_token: ParkToken,
        timeout: Option<Instant>,
    ) -> ParkResult {
        let me = Arc::new(Waiter {
            unparked: Mutex::new(None),
            wake: Condvar::new(),
        });
        {
            let mut q = QUEUE.lock().unwrap();
            if !validate() {
                return ParkResult::Invalid;
            }
            q.push(Parked {
                key,
                token: park_token,
                waiter: me.clone(),
            });
        }
        before_sleep();
        if timeout.is_some() {
            loom::thread::yield_now();
            let mut q = QUEUE.lock().unwrap();
            if let Some(i) = q.iter().position(|p| Arc::ptr_eq(&p.waiter, &me)) {
                let key = q.remove(i).key;
                let last = !q.iter().any(|p| p.key == key);
                timed_out(key, last);
                return ParkResult::TimedOut;
            }
        }
        let mut unparked = me.unparked.lock().unwrap();
        loop {
            if let Some(token) = *unparked {
                return ParkResult::Unparked(token);
            }
            unparked = me.wake.wait(unparked).unwrap();
        }
    }

    pub unsafe fn unpark_one(
        key: usize,
        callback: impl FnOnce(UnparkResult) -> UnparkToken,
    ) -> UnparkResult {
        let mut q = QUEUE.lock().unwrap();
        let mut result = UnparkResult::default();
        let woken = q.iter().position(|p| p.key == key).map(|i| q.remove(i));
        if woken.is_some() {
            result.unparked_threads = 1;
        }
        result.have_more_threads = q.iter().any(|p| p.key == key);
        let token = callback(result);
        if let Some(p) = woken {
            wake(&p, token);
        }
        result
    }

    pub unsafe fn unpark_filter(
        key: usize,
        mut filter: impl FnMut(ParkToken) -> FilterOp,
        callback: impl FnOnce(UnparkResult) -> UnparkToken,
    ) -> UnparkResult {
        let mut q = QUEUE.lock().unwrap();
        let mut woken = Vec::new();
        let mut i = 0;
        while i < q.len() {
            if q[i].key != key {
                i += 1;
                continue;
            }
            match filter(q[i].token) {
                FilterOp::Unpark => woken.push(q.remove(i)),
                FilterOp::Skip => i += 1,
                FilterOp::Stop => break,
            }
        }
        let result = UnparkResult {
            unparked_threads: woken.len(),
            requeued_threads: 0,
            have_more_threads: q.iter().any(|p| p.key == key),
        };
        let token = callback(result);
        for p in &woken {
            wake(p, token);
        }
        result
    }

    pub unsafe fn unpark_requeue(
        key_from: usize,
        key_to: usize,
        validate: impl FnOnce() -> RequeueOp,
        callback: impl FnOnce(RequeueOp, UnparkResult) -> UnparkToken,
    ) -> UnparkResult {
        let mut q = QUEUE.lock().unwrap();
        let op = validate();
        let mut result = UnparkResult::default();
        if op == RequeueOp::Abort {
            return result;
        }
        let unpark_first = matches!(op, RequeueOp::UnparkOneRequeueRest | RequeueOp::UnparkOne);
        let mut woken = None;
        let mut i = 0;
        while i < q.len() {
            if q[i].key != key_from {
                i += 1;
                continue;
            }
            if unpark_first && woken.is_none() {
                woken = Some(q.remove(i));
                result.unparked_threads = 1;
                continue;
            }
            let requeue = match op {
                RequeueOp::UnparkOneRequeueRest | RequeueOp::RequeueAll => true,
                RequeueOp::RequeueOne => result.requeued_threads == 0,
                _ => false,
            };
            if requeue {
                q[i].key = key_to;
                result.requeued_threads += 1;
            }
            i += 1;
        }
        result.have_more_threads = q.iter().any(|p| p.key == key_from);
        let token = callback(op, result);
        if let Some(p) = woken {
            wake(&p, token);
        }
        result
    }
}
