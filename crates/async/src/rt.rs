//! Spawn helpers that make every task they spawn a tracked task
//! ([`tracked`](crate::tracked)): its held locks are its own, whichever
//! worker polls it, and a thread-bound lock held across an `.await` is
//! reported (`HeldAcrossAwait`).
//!
//! Each runtime is behind a feature of its name (`tokio`, `smol`), off by
//! default; the locks themselves need no runtime. With the validator
//! compiled out, each helper is the runtime's own call.
//!
//! Tasks spawned any other way are untracked: their async acquisitions are
//! checked for order when made, and hold nothing (see the crate docs).

/// tokio: [`spawn`](tokio::spawn), [`spawn_named`](tokio::spawn_named),
/// [`spawn_local`](tokio::spawn_local), [`spawn_on`](tokio::spawn_on),
/// and [`run_test`](tokio::run_test) for a `#[test]`'s body.
///
/// Stable tokio has no hook around a task's polls, so only tasks spawned
/// through these helpers (or wrapped in [`tracked`](crate::tracked)) are
/// tracked. Under `RUSTFLAGS="--cfg tokio_unstable"`,
/// `rt::tokio::install_poll_hooks` tracks every task of
/// a runtime instead.
#[cfg(feature = "tokio")]
pub mod tokio {
    use crate::{tracked, tracked_named};
    use ::tokio::runtime::{Builder, Handle};
    use ::tokio::task::JoinHandle;
    use core::future::Future;
    use std::borrow::Cow;

    /// `tokio::spawn` of `fut` as a tracked task.
    ///
    /// ```
    /// # let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    /// # rt.block_on(async {
    /// use kernsync_async::{rt, Mutex};
    /// use std::sync::Arc;
    /// let m = Arc::new(Mutex::new(0));
    /// let m2 = m.clone();
    /// rt::tokio::spawn(async move { *m2.lock().await += 1 }).await.unwrap();
    /// assert_eq!(*m.lock().await, 1);
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn<F>(fut: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        ::tokio::spawn(tracked(fut))
    }

    /// [`spawn`] with a task name that reports show: `task 'name' (on
    /// thread 'x')`.
    #[track_caller]
    pub fn spawn_named<F>(name: impl Into<Cow<'static, str>>, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        ::tokio::spawn(tracked_named(name, fut))
    }

    /// `tokio::task::spawn_local` of `fut`
    /// (inside a `LocalSet`) as a tracked task.
    #[track_caller]
    pub fn spawn_local<F>(fut: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        ::tokio::task::spawn_local(tracked(fut))
    }

    /// [`Handle::spawn`] of `fut` on `handle`'s runtime, as a tracked task.
    #[track_caller]
    pub fn spawn_on<F>(handle: &Handle, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        handle.spawn(tracked(fut))
    }

    /// Makes every task of the runtime `builder` builds a tracked one,
    /// however it is spawned (plain `tokio::spawn` included), through
    /// tokio's poll hooks: before each poll the task's held locks are
    /// swapped in, after it they go back to the task, and a terminated
    /// task's are discarded (see `kernsync_lockdep::task_poll_begin`).
    /// Needs `RUSTFLAGS="--cfg tokio_unstable"` (tokio's hooks are unstable
    /// API), so it exists only then.
    ///
    /// What the hooks cannot see, and [`spawn`] can:
    ///
    /// - the end of a poll does not say whether the task finished, so a
    ///   thread-bound guard returned in a task's output is reported as held
    ///   across an await;
    /// - a task's future dropped outside a poll (a runtime shut down with
    ///   tasks still pending, an aborted task that was idle) releases its
    ///   guards with no task current; a tracked future ([`spawn`]) is
    ///   dropped with its entries swapped in instead. Use both where that
    ///   matters: a [`spawn`]ed task polled under the hooks nests cleanly.
    ///
    /// ```ignore
    /// let mut builder = tokio::runtime::Builder::new_multi_thread();
    /// kernsync_async::rt::tokio::install_poll_hooks(&mut builder);
    /// let rt = builder.build()?;
    /// ```
    #[cfg(tokio_unstable)]
    pub fn install_poll_hooks(builder: &mut Builder) -> &mut Builder {
        builder
            .on_before_task_poll(|meta| kernsync_lockdep::task_poll_begin(task_id(meta.id())))
            .on_after_task_poll(|meta| kernsync_lockdep::task_poll_end(task_id(meta.id())))
            .on_task_terminate(|meta| kernsync_lockdep::task_end(task_id(meta.id())))
    }

    /// A tokio task id as the validator's: the number it displays (tokio
    /// gives no other way to read it).
    #[cfg(tokio_unstable)]
    fn task_id(id: ::tokio::task::Id) -> u64 {
        use std::fmt::Write;
        let mut s = String::with_capacity(20);
        let _ = write!(s, "{id}");
        s.parse().unwrap_or_else(|_| {
            use std::hash::{BuildHasher, RandomState};
            static STATE: std::sync::OnceLock<RandomState> = std::sync::OnceLock::new();
            STATE.get_or_init(RandomState::new).hash_one(id)
        })
    }

    /// Runs a test's body as a tracked task on a current-thread runtime
    /// (what `#[tokio::test]` builds), returning its output: the test
    /// helper. Inside an existing runtime, `tracked(body).await` does the
    /// same.
    ///
    /// ```
    /// use kernsync_async::{rt, Mutex};
    /// let m = Mutex::new(1);
    /// let v = rt::tokio::run_test(async { *m.lock().await + 1 });
    /// assert_eq!(v, 2);
    /// ```
    pub fn run_test<F: Future>(body: F) -> F::Output {
        let rt = Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("kernsync-async: building a current-thread tokio runtime");
        rt.block_on(tracked_named("test", body))
    }
}

/// smol: [`spawn`](smol::spawn) on smol's global executor and
/// [`spawn_on`](smol::spawn_on) an [`Executor`](::smol::Executor) of your
/// own, each as a tracked task.
#[cfg(feature = "smol")]
pub mod smol {
    use crate::{tracked, tracked_named};
    use core::future::Future;
    use std::borrow::Cow;

    /// `smol::spawn` of `fut` as a tracked task.
    ///
    /// ```
    /// use kernsync_async::{rt, Mutex};
    /// use std::sync::Arc;
    /// let m = Arc::new(Mutex::new(0));
    /// let m2 = m.clone();
    /// smol::block_on(rt::smol::spawn(async move { *m2.lock().await += 1 }));
    /// assert_eq!(*m.blocking_lock(), 1);
    /// ```
    pub fn spawn<F>(fut: F) -> ::smol::Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        ::smol::spawn(tracked(fut))
    }

    /// [`spawn`] with a task name that reports show.
    pub fn spawn_named<F>(name: impl Into<Cow<'static, str>>, fut: F) -> ::smol::Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        ::smol::spawn(tracked_named(name, fut))
    }

    /// [`Executor::spawn`](::smol::Executor::spawn) of `fut` on `ex`, as
    /// a tracked task.
    pub fn spawn_on<'a, F>(ex: &::smol::Executor<'a>, fut: F) -> ::smol::Task<F::Output>
    where
        F: Future + Send + 'a,
        F::Output: Send + 'a,
    {
        ex.spawn(tracked(fut))
    }
}
