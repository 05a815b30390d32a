//! A parking lot modelled on loom (`--cfg loom` only): one global queue under
//! one loom mutex (the real one hashes keys into buckets; one lock gives the
//! same atomicity), each parked thread waiting on a loom condvar. A timed park
//! does not block: it yields once, then either finds itself unparked or times
//! out, so the models explore both outcomes.
//!
//! The functions keep parking_lot_core's signatures (the front in `park.rs`
//! calls either), and nothing here is `unsafe` to call: `unsafe` is kept so
//! the one front serves both.

use super::UnparkResult;
use loom::sync::{Arc, Condvar, Mutex};
use parking_lot_core::{FilterOp, ParkResult, ParkToken, RequeueOp, UnparkToken};
use std::time::Instant;

/// No spinning under loom: every spin is a yield the model explores.
#[derive(Default)]
pub struct SpinWait;

impl SpinWait {
    /// A spinner that never spins.
    pub fn new() -> SpinWait {
        SpinWait
    }
    /// `false`: "stop spinning, park".
    pub fn spin(&mut self) -> bool {
        false
    }
    /// Nothing to reset.
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

pub(crate) unsafe fn park(
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

pub(crate) unsafe fn unpark_one(
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

pub(crate) unsafe fn unpark_filter(
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

pub(crate) unsafe fn unpark_requeue(
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

/// The model's calls are not wrapped in the validator's `lock_internals`
/// (as before the shim had a crate of its own): it allocates with loom's
/// types, and the models check the state machines, not the validator.
#[inline]
pub(crate) fn internals<R>(f: impl FnOnce() -> R) -> R {
    f()
}
