//! [`Queue`]: the FIFO of tasks waiting for permits, a doubly linked list
//! threaded through a slab of nodes, so enqueueing, granting and removing a
//! cancelled waiter from the middle are O(1) and a waiting future holds only
//! its node's index (it stays `Unpin`, and nothing is pinned in place). The
//! slab grows to the largest number of waiters ever queued at once and keeps
//! its nodes for reuse: a contended acquisition allocates only when that
//! high-water mark rises.
//!
//! Each node also carries what the semaphore's eventual fairness needs (see
//! the [parent module](super)): whether the first waiter has been woken to
//! try its luck, how often it then found its permits taken by a barging
//! acquirer, and when it was queued.
//!
//! Plain data: every method is called with the owning semaphore's queue
//! lock held.

use core::task::Waker;
use core::time::Duration;

use since::Since;

/// No node: the end of a list. It and the index below it are never
/// nodes (a waiter uses both as markers).
pub(crate) const NIL: u32 = u32::MAX;

/// One waiter (or, on the free list, a spare node).
struct Node {
    /// Permits it waits for.
    need: usize,
    /// Whom to wake when granted; `None` once taken for waking.
    waker: Option<Waker>,
    /// The permits are its: it left the list, and its future owns them.
    granted: bool,
    /// Woken to take its permits itself (it is the first waiter, and the
    /// semaphore's `HEAD_WOKEN` bit is set for it).
    woken: bool,
    /// Queued first (an upgrade): always granted, never left to race.
    first: bool,
    /// How often it was woken and found its permits taken by then.
    losses: u32,
    /// When it was queued.
    since: Since,
    prev: u32,
    /// The next waiter, or on the free list the next spare node.
    next: u32,
}

/// The waiter FIFO (see the module docs).
pub(crate) struct Queue {
    nodes: Vec<Node>,
    /// The first spare node, linked through `next`.
    free: u32,
    head: u32,
    tail: u32,
}

impl Queue {
    pub(crate) const fn new() -> Queue {
        Queue {
            nodes: Vec::new(),
            free: NIL,
            head: NIL,
            tail: NIL,
        }
    }

    #[inline]
    fn node(&mut self, i: u32) -> &mut Node {
        &mut self.nodes[i as usize]
    }

    /// Whether no waiter is queued.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.head == NIL
    }

    /// The first waiter's node, if any waits.
    #[inline]
    pub(crate) fn head(&self) -> Option<u32> {
        match self.head {
            NIL => None,
            h => Some(h),
        }
    }

    /// The permits node `i` waits for.
    #[inline]
    pub(crate) fn need(&self, i: u32) -> usize {
        self.nodes[i as usize].need
    }

    /// The permits the first waiter needs, if any waits.
    #[cfg(test)]
    fn head_need(&self) -> Option<usize> {
        self.head().map(|h| self.need(h))
    }

    /// Whether node `i` was woken to take its permits and has not polled
    /// since.
    #[inline]
    pub(crate) fn is_woken(&self, i: u32) -> bool {
        self.nodes[i as usize].woken
    }

    /// Whether the first waiter must be granted its permits rather than
    /// woken to race for them: it is an upgrade, or it has lost the race
    /// `max_losses` times, or it has waited longer than `after` (never
    /// under loom, which has no clock).
    pub(crate) fn head_overdue(&self, max_losses: u32, after: Duration) -> bool {
        let n = &self.nodes[self.head as usize];
        n.first || n.losses >= max_losses || n.since.older_than(after)
    }

    /// Whether the first waiter is the only one.
    #[inline]
    pub(crate) fn head_is_last(&self) -> bool {
        self.head != NIL && self.head == self.tail
    }

    /// Queues a waiter for `need` permits, last (or first: an upgrade, which
    /// is ahead of everyone by right), and returns its node.
    pub(crate) fn push(&mut self, need: usize, waker: Waker, first: bool) -> u32 {
        let i = match self.free {
            NIL => {
                let i = u32::try_from(self.nodes.len())
                    .ok()
                    .filter(|&i| i < NIL - 1)
                    .expect("kernsync-async: too many waiters on one lock");
                // The slab's growth is the lock's own allocation, not one of
                // the task's (a `no_alloc` scope around the `.await`).
                kernsync_lockdep::lock_internals(|| {
                    self.nodes.push(Node {
                        need: 0,
                        waker: None,
                        granted: false,
                        woken: false,
                        first: false,
                        losses: 0,
                        since: Since::now(),
                        prev: NIL,
                        next: NIL,
                    })
                });
                i
            }
            i => {
                self.free = self.node(i).next;
                i
            }
        };
        let (prev, next) = match first {
            true => (NIL, self.head),
            false => (self.tail, NIL),
        };
        *self.node(i) = Node {
            need,
            waker: Some(waker),
            granted: false,
            woken: false,
            first,
            losses: 0,
            since: Since::now(),
            prev,
            next,
        };
        match prev {
            NIL => self.head = i,
            p => self.node(p).next = i,
        }
        match next {
            NIL => self.tail = i,
            n => self.node(n).prev = i,
        }
        i
    }

    /// Unlinks node `i` from the waiter list (it stays allocated).
    fn unlink(&mut self, i: u32) {
        let (prev, next) = (self.node(i).prev, self.node(i).next);
        match prev {
            NIL => self.head = next,
            p => self.node(p).next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.node(n).prev = prev,
        }
    }

    /// Grants the first waiter its permits: it leaves the list, marked
    /// granted; returns its waker, to wake once the queue lock is dropped.
    pub(crate) fn grant_head(&mut self) -> Option<Waker> {
        let h = self.head;
        self.unlink(h);
        let n = self.node(h);
        n.granted = true;
        n.waker.take()
    }

    /// Marks the first waiter woken (to take its permits itself) and
    /// returns its waker, to wake once the queue lock is dropped.
    pub(crate) fn wake_head(&mut self) -> Option<Waker> {
        let h = self.head;
        let n = self.node(h);
        n.woken = true;
        n.waker.take()
    }

    /// The first waiter is no longer woken: it polled and found too few
    /// permits (`lost`: it counts towards its starvation bound), or an
    /// upgrade is queued ahead of it (not its fault: `!lost`). Its future
    /// gives it a waker again when it next polls.
    pub(crate) fn unwake_head(&mut self, lost: bool) {
        let h = self.head;
        let n = self.node(h);
        n.woken = false;
        if lost {
            n.losses = n.losses.saturating_add(1);
        }
    }

    /// Whether node `i` (a waiter's own) was granted.
    #[inline]
    pub(crate) fn is_granted(&mut self, i: u32) -> bool {
        self.node(i).granted
    }

    /// Replaces node `i`'s waker unless it would wake the same task.
    pub(crate) fn update_waker(&mut self, i: u32, waker: &Waker) {
        let slot = &mut self.node(i).waker;
        match slot {
            Some(w) if w.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    /// Removes node `i` for good: unlinks it if it still waits, and returns
    /// it to the spares. Returns whether it had been granted, and whether it
    /// was the first waiter (whose leaving may unblock those behind it).
    pub(crate) fn remove(&mut self, i: u32) -> (bool, bool) {
        let granted = self.node(i).granted;
        let was_head = !granted && self.head == i;
        if !granted {
            self.unlink(i);
        }
        let free = self.free;
        let n = self.node(i);
        n.waker = None;
        n.granted = false;
        n.woken = false;
        n.next = free;
        self.free = i;
        (granted, was_head)
    }
}

/// When a waiter was queued: the clock half of the starvation bound. Twin
/// modules: under loom (which models no clock) a wait never times out, and
/// only the loss count bounds it.
#[cfg(not(loom))]
mod since {
    use core::time::Duration;
    use std::time::Instant;

    #[derive(Clone, Copy)]
    pub(crate) struct Since(Instant);

    impl Since {
        #[inline]
        pub(crate) fn now() -> Since {
            Since(Instant::now())
        }

        #[inline]
        pub(crate) fn older_than(self, bound: Duration) -> bool {
            self.0.elapsed() > bound
        }
    }
}

/// The loom twin of `since`: no clock.
#[cfg(loom)]
mod since {
    use core::time::Duration;

    #[derive(Clone, Copy)]
    pub(crate) struct Since;

    impl Since {
        #[inline]
        pub(crate) fn now() -> Since {
            Since
        }

        #[inline]
        pub(crate) fn older_than(self, _bound: Duration) -> bool {
            false
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn noop() -> Waker {
        Waker::noop().clone()
    }

    #[test]
    fn fifo_with_front_insert_and_middle_removal() {
        let mut q = Queue::new();
        let a = q.push(1, noop(), false);
        let b = q.push(2, noop(), false);
        let c = q.push(3, noop(), false);
        let u = q.push(9, noop(), true);
        assert_eq!(q.head_need(), Some(9));
        assert_eq!(q.remove(u), (false, true));
        assert_eq!(q.remove(b), (false, false));
        assert_eq!(q.head_need(), Some(1));
        assert!(q.grant_head().is_some());
        assert!(q.is_granted(a));
        assert_eq!(q.head_need(), Some(3));
        assert!(q.head_is_last());
        assert_eq!(q.remove(a), (true, false));
        assert_eq!(q.remove(c), (false, true));
        assert!(q.is_empty());
        // Spare nodes are reused: no growth past the high-water mark.
        for _ in 0..4 {
            q.push(1, noop(), false);
        }
        assert_eq!(q.nodes.len(), 4);
    }

    #[test]
    fn woken_losses_and_the_bound() {
        let mut q = Queue::new();
        let a = q.push(1, noop(), false);
        let far = Duration::from_secs(3600);
        assert!(!q.head_overdue(2, far));
        assert!(q.wake_head().is_some());
        assert!(q.is_woken(a));
        q.unwake_head(true);
        assert!(!q.is_woken(a));
        assert!(!q.head_overdue(2, far), "one loss of two");
        q.wake_head();
        q.unwake_head(true);
        assert!(q.head_overdue(2, far), "two losses of two");
        q.wake_head();
        q.unwake_head(false); // an upgrade queued ahead: not a loss
        let u = q.push(1, noop(), true);
        assert!(q.head_overdue(9, far), "an upgrade is always granted");
        assert_eq!(q.remove(u), (false, true));
        assert!(
            q.head_overdue(0, Duration::ZERO),
            "waited past a zero bound"
        );
        q.wake_head();
        assert_eq!(q.remove(a), (false, true));
        let b = q.push(1, noop(), false);
        assert!(!q.is_woken(b), "a reused node starts parked");
    }
}
