//! [`block_on`]: one future, run to completion on the calling thread.

use core::future::Future;
use core::pin::pin;
use core::task::{Context, Poll, Waker};
use std::sync::Arc;
use std::task::Wake;
use std::thread::{self, Thread};

/// Wakes a thread parked in [`block_on`].
struct Unparker(Thread);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

thread_local! {
    /// This thread's waker, made once.
    static WAKER: Waker = Waker::from(Arc::new(Unparker(thread::current())));
}

/// Runs `future` to completion on the calling thread, parking the thread
/// while it is pending; its waker unparks the thread.
///
/// It is not a runtime: it polls one future and nothing else, for sync
/// code that must wait on an async lock (the `blocking_*` methods use it),
/// for tests and for examples. Called inside an async task it blocks that
/// task's worker thread until `future` is ready, so do not call it there.
///
/// ```
/// let m = kernsync_async::Mutex::new(1);
/// let n = kernsync_async::block_on(async { *m.lock().await + 1 });
/// assert_eq!(n, 2);
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    WAKER.with(|waker| {
        let mut cx = Context::from_waker(waker);
        loop {
            match future.as_mut().poll(&mut cx) {
                Poll::Ready(v) => return v,
                // A spurious unpark (a stale wake of an earlier future)
                // only costs one more poll.
                Poll::Pending => thread::park(),
            }
        }
    })
}
