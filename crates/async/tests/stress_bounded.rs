//! Bounded stress: tasks on a multi-thread runtime mixing reads, writes,
//! upgradable reads with upgrades, downgrades and timed-out (cancelled)
//! acquisitions, with the invariants checked at every step: a reader never
//! sees a writer, a writer is alone, and the count of completed writes is
//! exact. Then the same for the mutex. Iterations are fixed, so it ends.
#![cfg(not(loom))]

mod common;

use common::runtime;
use kernsync_async::{Mutex, RwSem, RwSemUpgradableReadGuard, RwSemWriteGuard};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll};

const TASKS: usize = 8;
const ITERS: usize = 2000;

/// Who is inside the lock, kept beside it.
#[derive(Default)]
struct Inside {
    readers: AtomicUsize,
    writer: AtomicBool,
}

impl Inside {
    fn enter_read(&self) {
        self.readers.fetch_add(1, SeqCst);
        assert!(!self.writer.load(SeqCst), "a reader saw a writer");
    }
    fn leave_read(&self) {
        self.readers.fetch_sub(1, SeqCst);
    }
    fn enter_write(&self) {
        assert!(!self.writer.swap(true, SeqCst), "two writers");
        assert_eq!(self.readers.load(SeqCst), 0, "a writer saw a reader");
    }
    fn leave_write(&self) {
        self.writer.store(false, SeqCst);
    }
}

/// Polls `fut` up to `polls` times, rescheduling itself in between, then
/// drops it unresolved: a waiter that gives up while queued, or after it
/// was granted the lock but before it polled again.
struct GiveUp<F> {
    fut: Option<F>,
    polls: usize,
}

fn give_up_after<F: Future + Unpin>(polls: usize, fut: F) -> GiveUp<F> {
    GiveUp {
        fut: Some(fut),
        polls,
    }
}

impl<F: Future + Unpin> Future for GiveUp<F> {
    type Output = Option<F::Output>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(fut) = self.fut.as_mut() else {
            return Poll::Ready(None);
        };
        if let Poll::Ready(v) = Pin::new(fut).poll(cx) {
            self.fut = None;
            return Poll::Ready(Some(v));
        }
        if self.polls == 0 {
            self.fut = None; // cancelled
            GAVE_UP.fetch_add(1, SeqCst);
            return Poll::Ready(None);
        }
        self.polls -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// How many acquisitions gave up, across the tests (for the sanity check
/// that the cancellation paths ran).
static GAVE_UP: AtomicUsize = AtomicUsize::new(0);

#[test]
fn rwsem_readers_never_see_a_writer_and_the_count_is_exact_bounded() {
    let rt = runtime(4);
    let lock = Arc::new(RwSem::new(0usize));
    let inside = Arc::new(Inside::default());
    let writes = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                let (lock, inside, writes) = (lock.clone(), inside.clone(), writes.clone());
                tokio::spawn(async move {
                    for i in 0..ITERS {
                        match (t + i) % 6 {
                            0..=2 => {
                                let r = lock.read().await;
                                inside.enter_read();
                                let seen = *r;
                                tokio::task::yield_now().await;
                                assert_eq!(*r, seen, "changed under a read");
                                inside.leave_read();
                            }
                            3 => {
                                let mut w = lock.write().await;
                                inside.enter_write();
                                *w += 1;
                                writes.fetch_add(1, SeqCst);
                                inside.leave_write();
                                // Downgrade half the time: still a reader.
                                if i % 2 == 0 {
                                    let r = RwSemWriteGuard::downgrade(w);
                                    inside.enter_read();
                                    tokio::task::yield_now().await;
                                    inside.leave_read();
                                    drop(r);
                                }
                            }
                            4 => {
                                let up = lock.upgradable_read().await;
                                inside.enter_read();
                                let seen = *up;
                                inside.leave_read();
                                let mut w = RwSemUpgradableReadGuard::upgrade(up).await;
                                inside.enter_write();
                                assert_eq!(*w, seen, "a write came between upgradable and upgrade");
                                *w += 1;
                                writes.fetch_add(1, SeqCst);
                                inside.leave_write();
                            }
                            _ => {
                                // A write that may give up: its future is
                                // dropped while queued or after its grant.
                                if let Some(mut w) = give_up_after(i % 3, lock.write()).await {
                                    inside.enter_write();
                                    *w += 1;
                                    writes.fetch_add(1, SeqCst);
                                    inside.leave_write();
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    assert_eq!(*lock.blocking_read(), writes.load(SeqCst));
    assert!(lock.try_write().is_some(), "no permit lost");
    eprintln!("acquisitions given up so far: {}", GAVE_UP.load(SeqCst));
}

#[test]
fn mutex_count_is_exact_with_cancellations_bounded() {
    let rt = runtime(4);
    let lock = Arc::new(Mutex::new(0usize));
    let done = Arc::new(AtomicUsize::new(0));
    let held = Arc::new(AtomicBool::new(false));
    rt.block_on(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                let (lock, done, held) = (lock.clone(), done.clone(), held.clone());
                tokio::spawn(async move {
                    for i in 0..ITERS {
                        let guard = if (t + i) % 3 == 0 {
                            match give_up_after(i % 3, lock.lock()).await {
                                Some(g) => g,
                                None => continue,
                            }
                        } else {
                            lock.lock().await
                        };
                        let mut g = guard;
                        assert!(!held.swap(true, SeqCst), "two holders");
                        let seen = *g;
                        if i % 5 == 0 {
                            tokio::task::yield_now().await;
                        }
                        *g = seen + 1;
                        done.fetch_add(1, SeqCst);
                        held.store(false, SeqCst);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    assert_eq!(*lock.blocking_lock(), done.load(SeqCst));
    assert!(lock.try_lock().is_some(), "no permit lost");
    eprintln!("acquisitions given up so far: {}", GAVE_UP.load(SeqCst));
}
