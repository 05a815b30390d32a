//! [`Queue`]: the FIFO of tasks waiting for permits, a doubly linked list
//! threaded through a slab of nodes, so enqueueing, granting and removing a
//! cancelled waiter from the middle are O(1) and a waiting future holds only
//! its node's index (it stays `Unpin`, and nothing is pinned in place). The
//! slab grows to the largest number of waiters ever queued at once and keeps
//! its nodes for reuse: a contended acquisition allocates only when that
//! high-water mark rises.
//!
//! Plain data: every method is called with the owning semaphore's queue
//! lock held.

use core::task::Waker;

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

    /// The permits the first waiter needs, if any waits.
    #[inline]
    pub(crate) fn head_need(&self) -> Option<usize> {
        match self.head {
            NIL => None,
            h => Some(self.nodes[h as usize].need),
        }
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
        n.next = free;
        self.free = i;
        (granted, was_head)
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
}
