//! [`RawSemaphore`]: the eventually fair weighted semaphore under every
//! lock of this crate, and [`Acquire`], the future that waits on it.
//!
//! One atomic state word (the table below) holds the available permits, a
//! `QUEUED` bit and a `HEAD_WOKEN` bit; a FIFO of waiters (module `queue`)
//! sits behind a small lock (module `queue_lock`) that only the contended
//! paths take.
//!
//! # What is promised
//!
//! - **FIFO among parked waiters.** Waiters are queued in the order they
//!   first polled and served from the front only; a first waiter that needs
//!   more than is free (a writer behind readers) keeps everyone behind it
//!   waiting, and while it is parked no newcomer gets in past it either: a
//!   waiting writer blocks later readers (task-fair).
//! - **Barging in the woken window.** A release does not, by default, hand
//!   its permits to the first waiter: it leaves them in the word, marks
//!   that waiter woken (`HEAD_WOKEN`) and wakes it. Until it polls, any
//!   acquirer (the releasing task looping round, a `try_acquire`) may take
//!   free permits. This is the barging of parking_lot, async-lock and our
//!   own sync locks: without it every contended release costs a
//!   cross-thread wake-up *and* the releaser's own queueing, because the
//!   lock was handed to a task that is not running yet.
//! - **Bounded waits.** A woken first waiter that finds its permits taken
//!   goes back to waiting at the front. Once it has lost that race
//!   `MAX_LOSSES` times, or has waited longer than `FAIR_AFTER` (0.5 ms,
//!   parking_lot's figure; loom builds count losses only), the next release
//!   that frees enough *grants* the permits to it directly (the strict
//!   hand-off), so no waiter starves. An upgrade (queued first) is always
//!   granted.
//!
//! # The protocol
//!
//! - **Uncontended acquire**: one compare-and-swap, which succeeds unless a
//!   parked waiter is queued (`QUEUED` without `HEAD_WOKEN`).
//! - **Uncontended release**: one `fetch_add`; if it saw `QUEUED` without
//!   `HEAD_WOKEN`, the releaser takes the queue lock and *serves* the first
//!   waiter: if enough permits are free, it wakes it (setting `HEAD_WOKEN`)
//!   or, if overdue, grants it (moves the permits to it, then serves the
//!   next). Seeing `HEAD_WOKEN`, it has nothing to do: the woken waiter is
//!   yet to poll and will see these permits.
//! - **Woken first waiter polls** (queue lock held): one compare-and-swap
//!   either takes its permits (clearing `HEAD_WOKEN`; then it serves the
//!   next waiter, so readers queued behind a reader follow it in) or, seeing
//!   too few, clears `HEAD_WOKEN`, counts a loss and waits again. A release
//!   racing that swap either came first (its permits are seen and taken) or
//!   comes after, sees a parked first waiter and serves it. No wake-up is
//!   lost; loom models the race.
//! - **Queueing**: an acquirer that fails the fast path takes the queue lock
//!   and either takes its permits (nobody parked ahead, enough available) or
//!   sets `QUEUED` in the same compare-and-swap that saw too few permits,
//!   then queues itself: a release either came before that swap (and was
//!   seen) or sees `QUEUED` and serves. An upgrade queued first closes the
//!   woken window (the woken waiter is no longer first).
//! - **Cancellation**: dropping a queued future removes its node; one that
//!   had been granted gives its permits back (a release, which serves
//!   onwards); a woken one clears `HEAD_WOKEN` and, like any first waiter
//!   that leaves, serves those it blocked, so its wake is passed on.

use core::cell::UnsafeCell;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use kernsync_primitive::atomic::{AtomicUsize, Ordering};

pub(crate) mod queue;
mod queue_lock;

use queue::{Queue, NIL};
use queue_lock::QueueLock;

// ---------------------------------------------------------------------------
// The state word.
// ---------------------------------------------------------------------------

/// The waiter queue is not empty. Unless `HEAD_WOKEN` is set too, new
/// acquirers must queue behind it, and a release must serve the first
/// waiter. Changed only with the queue lock held.
const QUEUED: usize = 0b01;
/// The first waiter was woken to take its permits and has not polled yet:
/// the *woken window*, in which any acquirer may take free permits and a
/// release has nobody to serve. Set only with `QUEUED`; changed only with
/// the queue lock held; set exactly while the first node is marked woken.
const HEAD_WOKEN: usize = 0b10;
/// The available permits, counted from this bit up (one permit is
/// `1 << PERMIT_SHIFT`).
const PERMIT_SHIFT: u32 = 2;

/// The most permits a semaphore can have (so many, shifted, fill the word).
pub const MAX_PERMITS: usize = usize::MAX >> PERMIT_SHIFT;

/// A woken first waiter that found its permits taken this many times is
/// granted them by the next release instead of being woken to race again.
const MAX_LOSSES: u32 = 4;
/// A waiter queued longer than this is granted its permits by the next
/// release that frees enough (parking_lot's fairness timeout). Loom builds
/// have no clock and rely on `MAX_LOSSES` alone.
const FAIR_AFTER: Duration = Duration::from_micros(500);

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

/// An eventually fair weighted semaphore for async tasks: the unchecked
/// state machine under [`Mutex`](crate::Mutex) (one permit) and
/// [`RwSem`](crate::RwSem) (a read is one permit, a write all of them).
///
/// Parked waiters are served in arrival order: while one waits for
/// permits, no later acquisition succeeds, even if enough permits are free
/// for it ([`acquire_first`](RawSemaphore::acquire_first) excepted). A
/// release wakes the first waiter rather than handing it the permits, so a
/// running task may take permits just released before the woken waiter
/// runs; a waiter that lost that race a few times, or has waited past
/// 0.5 ms, is handed its permits by the next release. See the [module
/// docs](crate::raw) for the protocol.
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

    /// Takes `n` permits if enough are available and no parked waiter is
    /// queued (in the woken window, it may take them ahead of the woken
    /// waiter). Adds nothing to any queue.
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
            // A parked waiter (QUEUED, not woken) bars the way; in the
            // woken window anyone may take. `state < need` compares the
            // permits: the flag bits sit below one permit.
            if (!first && state & (QUEUED | HEAD_WOKEN) == QUEUED) || state < need {
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

    /// Returns `n` permits (which the caller holds) and serves the first
    /// waiter if one is parked: wakes it to take them, or grants them.
    #[inline]
    pub fn release(&self, n: usize) {
        // Release: pairs with the Acquire of whoever takes these permits
        // next (a `try_take`, a woken waiter's take, or a grant).
        let prev = self.state.fetch_add(n << PERMIT_SHIFT, Ordering::Release);
        // In the woken window the first waiter is about to poll and will
        // see these permits (its take and this add are ordered on the word).
        if prev & (QUEUED | HEAD_WOKEN) == QUEUED {
            self.serve_waiters();
        }
    }

    /// Serves the first waiters (see `serve`), waking them in batches
    /// outside the queue lock.
    #[cold]
    fn serve_waiters(&self) {
        let mut wake = WakeList::new();
        loop {
            let more = self.with_queue(|q| self.serve(q, &mut wake));
            wake.wake_all();
            if !more {
                return;
            }
        }
    }

    /// Serves the first waiter while enough permits are free for it (queue
    /// lock held): an overdue one (`Queue::head_overdue`) is granted them,
    /// and serving goes on with the next; any other is woken (it takes
    /// them itself when it polls, opening the woken window), and serving
    /// stops. Stops too at a woken first waiter (it is yet to poll) or one
    /// that needs more; clears the flags once the queue is empty. Returns
    /// whether it stopped only because `wake` filled up.
    fn serve(&self, q: &mut Queue, wake: &mut WakeList) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            let Some(head) = q.head() else {
                if state & (QUEUED | HEAD_WOKEN) != 0 {
                    self.state
                        .fetch_and(!(QUEUED | HEAD_WOKEN), Ordering::Relaxed);
                }
                return false;
            };
            debug_assert_eq!(state & HEAD_WOKEN != 0, q.is_woken(head));
            if state & HEAD_WOKEN != 0 {
                return false;
            }
            if wake.is_full() {
                return true;
            }
            if state < q.need(head) << PERMIT_SHIFT {
                return false;
            }
            let grant = q.head_overdue(MAX_LOSSES, FAIR_AFTER);
            let next = match grant {
                true if q.head_is_last() => (state - (q.need(head) << PERMIT_SHIFT)) & !QUEUED,
                true => state - (q.need(head) << PERMIT_SHIFT),
                false => state | HEAD_WOKEN,
            };
            // Grant, AcqRel: Acquire pairs with the Release of the
            // `release` whose permits are granted (the waiter, under the
            // queue lock, then sees its writes); Release keeps this word's
            // history ordered for the next `try_take`. Wake, Relaxed: the
            // permits stay in the word, and whoever takes them acquires
            // the release that put them there (this read-modify-write
            // continues its release sequence).
            let order = match grant {
                true => Ordering::AcqRel,
                false => Ordering::Relaxed,
            };
            match self
                .state
                .compare_exchange_weak(state, next, order, Ordering::Relaxed)
            {
                Ok(_) if grant => {
                    state = next;
                    wake.push(q.grant_head());
                }
                Ok(_) => {
                    wake.push(q.wake_head());
                    return false;
                }
                Err(s) => state = s,
            }
        }
    }

    /// A future that takes `n` permits, waiting in FIFO order among parked
    /// waiters (see the [module docs](crate::raw)). Dropping it
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
    /// acquisition may wait at a time, or the FIFO promise is lost. It is
    /// always granted its permits, never left to race for them.
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
                let mut wake = WakeList::new();
                let (done, more) =
                    self.with_queue(|q| self.poll_queued(q, slot, w.need, cx, &mut wake));
                wake.wake_all();
                if more {
                    self.serve_waiters();
                }
                match done {
                    true => {
                        w.slot = Waiter::DONE;
                        Poll::Ready(())
                    }
                    false => Poll::Pending,
                }
            }
        }
    }

    /// A poll of the queued waiter at node `slot`, needing `need` permits
    /// (queue lock held). Returns whether it has its permits now, and
    /// whether serving those behind it stopped at a full `wake`.
    ///
    /// Granted: it has them. First in the queue: it takes them if enough
    /// are free, ignoring `QUEUED` (it is the one the flag is for), then
    /// serves the next waiter (a reader behind a reader). Otherwise, if it
    /// was woken, a barging acquirer took them: in the same compare-and-swap
    /// that saw too few permits it clears `HEAD_WOKEN`, so a release either
    /// came before that swap (and its permits were seen) or comes after and
    /// finds a parked first waiter to serve. No wake-up is lost.
    fn poll_queued(
        &self,
        q: &mut Queue,
        slot: u32,
        need: usize,
        cx: &Context<'_>,
        wake: &mut WakeList,
    ) -> (bool, bool) {
        if q.is_granted(slot) {
            q.remove(slot);
            return (true, false);
        }
        if q.head() == Some(slot) {
            let need = need << PERMIT_SHIFT;
            // First guess, as in `try_take`: woken with just its permits
            // free (the usual mutex case); a wrong guess costs the failed
            // swap, which returns the real word.
            let mut state = need | QUEUED | HEAD_WOKEN;
            loop {
                let take = state >= need;
                let next = match take {
                    true if q.head_is_last() => (state - need) & !(QUEUED | HEAD_WOKEN),
                    true => (state - need) & !HEAD_WOKEN,
                    false => state & !HEAD_WOKEN,
                };
                if next == state {
                    break; // too few, and not woken: nothing to undo
                }
                // Take, Acquire: as in `try_take`. Park again, Relaxed: the
                // queue lock orders the serve that will come for it.
                let order = match take {
                    true => Ordering::Acquire,
                    false => Ordering::Relaxed,
                };
                match self
                    .state
                    .compare_exchange_weak(state, next, order, Ordering::Relaxed)
                {
                    Ok(_) if take => {
                        q.remove(slot);
                        let more = self.serve(q, wake);
                        return (true, more);
                    }
                    Ok(_) => {
                        q.unwake_head(true);
                        break;
                    }
                    Err(s) => state = s,
                }
            }
        }
        q.update_waker(slot, cx.waker());
        (false, false)
    }

    /// The first poll that missed the fast path: under the queue lock, take
    /// the permits or queue.
    #[cold]
    fn poll_acquire_slow(&self, w: &mut Waiter, cx: &mut Context<'_>) -> Poll<()> {
        let need = w.need << PERMIT_SHIFT;
        let slot = self.with_queue(|q| {
            let mut state = self.state.load(Ordering::Relaxed);
            loop {
                let open = w.first || state & (QUEUED | HEAD_WOKEN) != QUEUED;
                let served = open && state >= need;
                // Served: Acquire, as in `try_take`. Queued: setting QUEUED
                // needs no ordering of its own: the queue lock orders the
                // serve that will come for us. An upgrade queued ahead of a
                // woken first waiter closes the woken window: the permits
                // it waits for must not go to barging readers.
                let (next, order) = match (served, w.first) {
                    (true, _) => (state - need, Ordering::Acquire),
                    (false, true) => ((state | QUEUED) & !HEAD_WOKEN, Ordering::Relaxed),
                    (false, false) => (state | QUEUED, Ordering::Relaxed),
                };
                match self
                    .state
                    .compare_exchange_weak(state, next, order, Ordering::Relaxed)
                {
                    Ok(_) if served => return NIL,
                    Ok(_) => {
                        if state & HEAD_WOKEN != 0 && w.first {
                            q.unwake_head(false);
                        }
                        return q.push(w.need, cx.waker().clone(), w.first);
                    }
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
            let woken = q.is_woken(slot);
            let (granted, was_head) = q.remove(slot);
            // A woken first waiter that leaves passes its wake on: the
            // window closes, and `serve` wakes (or grants) the next.
            if woken {
                self.state.fetch_and(!HEAD_WOKEN, Ordering::Relaxed);
            }
            // A first waiter that leaves may have blocked those behind it;
            // an empty queue must clear the flags (`serve` does both).
            let more = !granted && (was_head || q.is_empty()) && self.serve(q, &mut wake);
            (granted, more)
        });
        wake.wake_all();
        if granted {
            self.release(w.need);
        } else if more {
            self.serve_waiters();
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
