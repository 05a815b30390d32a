//! What the async crate's tests share: polling a future by hand with a
//! waker that counts its wakes, so a test can say exactly which waiter was
//! woken and in which order, without a runtime.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// A waker that counts how often it was woken.
pub struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A future under test, with its own counting waker.
pub struct Task<F> {
    pub fut: Option<F>,
    count: Arc<Counter>,
    waker: Waker,
}

impl<F: Future + Unpin> Task<F> {
    pub fn new(fut: F) -> Task<F> {
        let count = Arc::new(Counter(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        Task {
            fut: Some(fut),
            count,
            waker,
        }
    }

    /// Polls once: `Some(output)` if ready.
    pub fn poll(&mut self) -> Option<F::Output> {
        let fut = self.fut.as_mut().expect("polled after it resolved");
        let mut cx = Context::from_waker(&self.waker);
        match Pin::new(fut).poll(&mut cx) {
            Poll::Ready(v) => {
                self.fut = None;
                Some(v)
            }
            Poll::Pending => None,
        }
    }

    /// Polls once with another waker (the task moved), which replaces this one's.
    pub fn poll_with(&mut self, waker: &Waker) -> Option<F::Output> {
        let fut = self.fut.as_mut().expect("polled after it resolved");
        match Pin::new(fut).poll(&mut Context::from_waker(waker)) {
            Poll::Ready(v) => {
                self.fut = None;
                Some(v)
            }
            Poll::Pending => None,
        }
    }

    /// Polls once, expecting it to be pending.
    #[track_caller]
    pub fn pending(&mut self) {
        assert!(self.poll().is_none(), "expected the future to be pending");
    }

    /// Polls once, expecting it to be ready.
    #[track_caller]
    pub fn ready(&mut self) -> F::Output {
        self.poll().expect("expected the future to be ready")
    }

    /// How often its waker was woken.
    pub fn wakes(&self) -> usize {
        self.count.0.load(Ordering::SeqCst)
    }

    /// Drops the future (cancels it).
    pub fn cancel(&mut self) {
        self.fut = None;
    }
}

/// A counting waker of its own, for [`Task::poll_with`].
pub fn counting_waker() -> (Waker, Arc<Counter>) {
    let c = Arc::new(Counter(AtomicUsize::new(0)));
    (Waker::from(c.clone()), c)
}

impl Counter {
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// A multi-thread tokio runtime with `workers` threads and timers.
pub fn runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_time()
        .build()
        .unwrap()
}
