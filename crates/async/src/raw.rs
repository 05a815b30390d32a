//! [`RawSemaphore`]: the fair FIFO weighted semaphore under every lock of
//! this crate, and [`Acquire`], the future that waits on it.
//!
//! One atomic state word (the table below) holds the available permits and
//! a `QUEUED` bit; a FIFO of waiters (module `queue`) sits behind a small lock
//! (module `queue_lock`) that only the contended paths take.
//!
//! - **Uncontended acquire**: one compare-and-swap, which succeeds only
//!   while no waiter is queued (no barging past a waiter: FIFO).
//! - **Uncontended release**: one `fetch_add`; if `QUEUED` was set, the
//!   releaser then takes the queue lock and *grants* permits.
//! - **Granting** happens under the queue lock, in queue order only: permits
//!   move from the word to the first waiter while it needs no more than are
//!   available; a first waiter that cannot be served blocks those behind it
//!   (a waiting writer blocks later readers). Granted waiters are woken
//!   after the queue lock is dropped.
//! - **Queueing**: an acquirer that fails the fast path takes the queue lock
//!   and either takes its permits (none queued, enough available) or sets
//!   `QUEUED` in the same compare-and-swap that saw too few permits, then
//!   queues itself: a release either came before that swap (and was seen)
//!   or sees `QUEUED` and grants. No wakeup is lost.
//! - **Cancellation**: dropping a queued future removes its node; one that
//!   had been granted gives its permits back (a release, which grants
//!   onwards), and a first waiter that leaves re-runs the grant for those it
//!   blocked.

use core::cell::UnsafeCell;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use kernsync_primitive::atomic::{AtomicUsize, Ordering};

pub(crate) mod queue;
mod queue_lock;

use queue::{Queue, NIL};
use queue_lock::QueueLock;

// ---------------------------------------------------------------------------
// The state word.
// ---------------------------------------------------------------------------

/// The waiter queue is not empty: new acquirers must queue behind it, and a
/// release must grant. Changed only with the queue lock held.
const QUEUED: usize = 0b1;
/// The available permits, counted from this bit up (one permit is
/// `1 << PERMIT_SHIFT`).
const PERMIT_SHIFT: u32 = 1;

/// The most permits a semaphore can have.
pub const MAX_PERMITS: usize = usize::MAX >> (PERMIT_SHIFT + 1);

/// Wakers collected under the queue lock, woken after it is dropped. A
/// grant stops when the list is full, wakes, and goes on.
struct WakeList {
    wakers: [Option<Waker>; WakeList::CAP],
    len: usize,
}

impl WakeList {
    const CAP: usize = 16;

    fn new() -> WakeList {
        WakeList {
            wakers: [const { None }; WakeList::CAP],
            len: 0,
        }
    }

    fn is_full(&self) -> bool {
        self.len == WakeList::CAP
    }

    fn push(&mut self, w: Option<Waker>) {
        self.wakers[self.len] = w;
        self.len += 1;
    }

    fn wake_all(&mut self) {
        for w in &mut self.wakers[..self.len] {
            if let Some(w) = w.take() {
                w.wake();
            }
        }
        self.len = 0;
    }
}

/// A fair (FIFO) weighted semaphore for async tasks: the unchecked state
/// machine under [`Mutex`](crate::Mutex) (one permit) and
/// [`RwSem`](crate::RwSem) (a read is one permit, a write all of them).
///
/// Acquisitions are served strictly in arrival order: while a waiter is
/// queued, no later acquisition succeeds, even if enough permits are free
/// for it ([`acquire_first`](RawSemaphore::acquire_first) excepted). See
/// the [module docs](crate::raw) for the protocol.
///
/// ```
/// use kernsync_async::raw::RawSemaphore;
///
/// let sem = RawSemaphore::new(2);
/// kernsync_async::block_on(sem.acquire(2));
/// assert!(!sem.try_acquire(1));
/// sem.release(2);
/// assert_eq!(sem.available(), 2);
/// ```
pub struct RawSemaphore {
    /// See the constants at the top of this file.
    state: AtomicUsize,
    /// The permits it was made with: the first guess of the fast paths.
    permits: usize,
    lock: QueueLock,
    /// Guarded by `lock`.
    queue: UnsafeCell<Queue>,
}

// SAFETY: `queue` is only touched with `lock` held (see `with_queue`); the
// wakers it stores are `Send + Sync`; everything else is atomic.
unsafe impl Send for RawSemaphore {}
// SAFETY: as above.
unsafe impl Sync for RawSemaphore {}

impl RawSemaphore {
    kernsync_primitive::const_fn! {
        /// A semaphore with `permits` available, at most [`MAX_PERMITS`].
        pub const fn new(permits: usize) -> RawSemaphore {
            assert!(permits <= MAX_PERMITS, "kernsync-async: too many permits");
            RawSemaphore {
                state: AtomicUsize::new(permits << PERMIT_SHIFT),
                permits,
                lock: QueueLock::new(),
                queue: UnsafeCell::new(Queue::new()),
            }
        }
    }

    /// The permits available now (a snapshot).
    pub fn available(&self) -> usize {
        self.state.load(Ordering::Relaxed) >> PERMIT_SHIFT
    }

    /// Whether a waiter is queued now (a snapshot).
    pub fn has_waiters(&self) -> bool {
        self.state.load(Ordering::Relaxed) & QUEUED != 0
    }

    /// Runs `f` on the queue, with the queue lock held.
    #[inline]
    fn with_queue<R>(&self, f: impl FnOnce(&mut Queue) -> R) -> R {
        self.lock.lock();
        // SAFETY: the queue lock is held, so this is the only reference to
        // the queue until it is dropped below; `f` cannot reach the queue
        // again (nothing in this file calls back into the semaphore from a
        // queue method).
        let r = f(unsafe { &mut *self.queue.get() });
        self.lock.unlock();
        r
    }

    /// Takes `n` permits if no waiter is queued and enough are available.
    /// Adds nothing to any queue.
    #[inline]
    pub fn try_acquire(&self, n: usize) -> bool {
        self.try_take(n, false)
    }

    /// Takes `n` permits if enough are available, even past queued waiters:
    /// for an acquisition that is ahead of every waiter by right (an
    /// upgradable reader's upgrade, whose permits the waiters also need).
    #[inline]
    pub fn try_acquire_first(&self, n: usize) -> bool {
        self.try_take(n, true)
    }

    #[inline]
    fn try_take(&self, n: usize, first: bool) -> bool {
        let need = n << PERMIT_SHIFT;
        // First guess: the semaphore is idle (every permit free, nobody
        // queued), so one compare-and-swap and no load is the uncontended path.
        let mut state = self.permits << PERMIT_SHIFT;
        loop {
            if (!first && state & QUEUED != 0) || state < need {
                return false;
            }
            // Acquire: pairs with the Release of the `release` that freed
            // these permits, so its guarded writes are seen.
            match self.state.compare_exchange_weak(
                state,
                state - need,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(s) => state = s,
            }
        }
    }

    /// Returns `n` permits (which the caller holds) and grants queued
    /// waiters what they can now have.
    #[inline]
    pub fn release(&self, n: usize) {
        // Release: pairs with the Acquire of the next `try_take`, or of the
        // grant's compare-and-swap that hands these permits on.
        let prev = self.state.fetch_add(n << PERMIT_SHIFT, Ordering::Release);
        if prev & QUEUED != 0 {
            self.grant_waiters();
        }
    }

    /// Grants queued waiters, in order, until the first cannot be served,
    /// waking them in batches outside the queue lock.
    #[cold]
    fn grant_waiters(&self) {
        let mut wake = WakeList::new();
        loop {
            let more = self.with_queue(|q| self.grant(q, &mut wake));
            wake.wake_all();
            if !more {
                return;
            }
        }
    }

    /// Moves permits from the word to the first waiters while each is
    /// served (queue lock held); clears `QUEUED` once the queue is empty.
    /// Returns whether it stopped only because `wake` filled up.
    fn grant(&self, q: &mut Queue, wake: &mut WakeList) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            let Some(need) = q.head_need() else {
                if state & QUEUED != 0 {
                    self.state.fetch_and(!QUEUED, Ordering::Relaxed);
                }
                return false;
            };
            if wake.is_full() {
                return true;
            }
            let need = need << PERMIT_SHIFT;
            if state & !QUEUED < need {
                return false;
            }
            let mut next = state - need;
            if q.head_is_last() {
                next &= !QUEUED;
            }
            // AcqRel: Acquire pairs with the Release of the `release` whose
            // permits are granted (the waiter, under the queue lock, then
            // sees its writes); Release keeps this word's history ordered
            // for the next `try_take`.
            match self
                .state
                .compare_exchange_weak(state, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    state = next;
                    wake.push(q.grant_head());
                }
                Err(s) => state = s,
            }
        }
    }

    /// A future that takes `n` permits, waiting in FIFO order. Dropping it
    /// leaves no trace: a queued waiter leaves the queue, and permits
    /// granted to it but not yet returned by a poll are released.
    #[inline]
    pub fn acquire(&self, n: usize) -> Acquire<'_> {
        Acquire {
            sem: self,
            waiter: Waiter::new(n, false),
        }
    }

    /// [`acquire`](RawSemaphore::acquire), queued *first*, ahead of every
    /// waiter: for an acquisition the waiters themselves wait for (an
    /// upgrade, whose upgradable read they need gone). At most one such
    /// acquisition may wait at a time, or the FIFO promise is lost.
    #[inline]
    pub fn acquire_first(&self, n: usize) -> Acquire<'_> {
        Acquire {
            sem: self,
            waiter: Waiter::new(n, true),
        }
    }

    /// One poll of `w`: takes its permits, or queues it, or checks its node.
    pub(crate) fn poll_acquire(&self, w: &mut Waiter, cx: &mut Context<'_>) -> Poll<()> {
        match w.slot {
            Waiter::IDLE => {
                if self.try_take(w.need, w.first) {
                    w.slot = Waiter::DONE;
                    return Poll::Ready(());
                }
                self.poll_acquire_slow(w, cx)
            }
            Waiter::DONE => panic!("kernsync-async: acquire future polled after completion"),
            slot => {
                let granted = self.with_queue(|q| match q.is_granted(slot) {
                    true => {
                        q.remove(slot);
                        true
                    }
                    false => {
                        q.update_waker(slot, cx.waker());
                        false
                    }
                });
                match granted {
                    true => {
                        w.slot = Waiter::DONE;
                        Poll::Ready(())
                    }
                    false => Poll::Pending,
                }
            }
        }
    }

    /// The first poll that missed the fast path: under the queue lock, take
    /// the permits or queue.
    #[cold]
    fn poll_acquire_slow(&self, w: &mut Waiter, cx: &mut Context<'_>) -> Poll<()> {
        let need = w.need << PERMIT_SHIFT;
        let slot = self.with_queue(|q| {
            let mut state = self.state.load(Ordering::Relaxed);
            loop {
                let served = (w.first || state & QUEUED == 0) && state & !QUEUED >= need;
                // Served: Acquire, as in `try_take`. Queued: setting QUEUED
                // needs no ordering of its own: the queue lock orders the
                // grant that will serve us.
                let (next, order) = match served {
                    true => (state - need, Ordering::Acquire),
                    false => (state | QUEUED, Ordering::Relaxed),
                };
                match self
                    .state
                    .compare_exchange_weak(state, next, order, Ordering::Relaxed)
                {
                    Ok(_) if served => return NIL,
                    Ok(_) => return q.push(w.need, cx.waker().clone(), w.first),
                    Err(s) => state = s,
                }
            }
        });
        match slot {
            NIL => {
                w.slot = Waiter::DONE;
                Poll::Ready(())
            }
            slot => {
                w.slot = slot;
                Poll::Pending
            }
        }
    }

    /// Forgets `w` (its future is dropped): a queued waiter leaves the
    /// queue; a granted one gives its permits back.
    pub(crate) fn cancel(&self, w: &mut Waiter) {
        let slot = w.slot;
        if slot == Waiter::IDLE || slot == Waiter::DONE {
            return;
        }
        w.slot = Waiter::DONE;
        let mut wake = WakeList::new();
        let (granted, more) = self.with_queue(|q| {
            let (granted, was_head) = q.remove(slot);
            // A first waiter that leaves may have blocked those behind it;
            // an empty queue must clear QUEUED (`grant` does both).
            let more = !granted && (was_head || q.is_empty()) && self.grant(q, &mut wake);
            (granted, more)
        });
        wake.wake_all();
        if granted {
            self.release(w.need);
        } else if more {
            self.grant_waiters();
        }
    }
}

impl fmt::Debug for RawSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawSemaphore")
            .field("available", &self.available())
            .field("has_waiters", &self.has_waiters())
            .finish()
    }
}

/// A waiter's own state: what it needs, and where it is.
#[derive(Debug)]
pub(crate) struct Waiter {
    need: usize,
    /// Queued first (see [`RawSemaphore::acquire_first`]).
    first: bool,
    /// [`IDLE`](Self::IDLE), [`DONE`](Self::DONE), or its queue node.
    slot: u32,
}

impl Waiter {
    /// Not polled yet.
    const IDLE: u32 = NIL - 1;
    /// Served (or cancelled): nothing to undo.
    const DONE: u32 = NIL;

    #[inline]
    pub(crate) const fn new(need: usize, first: bool) -> Waiter {
        Waiter {
            need,
            first,
            slot: Waiter::IDLE,
        }
    }
}

/// The future of [`RawSemaphore::acquire`]: resolves once its permits are
/// taken (they are then the caller's, to [`release`](RawSemaphore::release)).
/// `Unpin`; dropping it at any point is safe and loses nothing.
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct Acquire<'a> {
    sem: &'a RawSemaphore,
    waiter: Waiter,
}

impl Future for Acquire<'_> {
    type Output = ();

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        this.sem.poll_acquire(&mut this.waiter, cx)
    }
}

impl Drop for Acquire<'_> {
    #[inline]
    fn drop(&mut self) {
        self.sem.cancel(&mut self.waiter);
    }
}
