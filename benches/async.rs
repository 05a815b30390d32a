//! kernsync's async locks (`kernsync::future`) against tokio's and
//! async-lock's, on the same workloads in one run.
//!
//! - `async_uncontended/*`: one thread, no runtime: a lock future polled
//!   once with a no-op waker (it is ready at once), the guard dropped:
//!   `mutex`, `read`, `write`.
//! - `async_contended/*`: two tasks on a two-thread tokio runtime, each
//!   doing `iters` lock / increment / unlock rounds of one mutex (or one
//!   rwlock's write side); the time until both are done, per round pair.
//!
//! `cargo bench --bench async` measures the locks as users ship them
//! (checks compiled out); `--features lockdep` measures them with the
//! validator on.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;
use kernsync::future::{Mutex, RwSem};

/// Polls `f` once with a no-op waker: it must be ready (no contention).
#[inline(always)]
fn now<F: Future>(f: F) -> F::Output {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("uncontended lock was pending"),
    }
}

/// One async mutex, behind the same operation for every contender.
trait AsyncMutex: Send + Sync + 'static {
    fn bump_now(&self);
    fn bump(&self) -> impl Future<Output = ()> + Send;
}

impl AsyncMutex for Mutex<u64> {
    #[inline]
    fn bump_now(&self) {
        *now(self.lock()) += 1;
    }
    async fn bump(&self) {
        *self.lock().await += 1;
    }
}

impl AsyncMutex for tokio::sync::Mutex<u64> {
    #[inline]
    fn bump_now(&self) {
        *now(self.lock()) += 1;
    }
    async fn bump(&self) {
        *self.lock().await += 1;
    }
}

impl AsyncMutex for async_lock::Mutex<u64> {
    #[inline]
    fn bump_now(&self) {
        *now(self.lock()) += 1;
    }
    async fn bump(&self) {
        *self.lock().await += 1;
    }
}

/// One async rwlock: a read and a write.
trait AsyncRw: Send + Sync + 'static {
    fn read_now(&self) -> u64;
    fn write_now(&self);
    fn write(&self) -> impl Future<Output = ()> + Send;
}

impl AsyncRw for RwSem<u64> {
    #[inline]
    fn read_now(&self) -> u64 {
        *now(self.read())
    }
    #[inline]
    fn write_now(&self) {
        *now(RwSem::write(self)) += 1;
    }
    async fn write(&self) {
        *RwSem::write(self).await += 1;
    }
}

impl AsyncRw for tokio::sync::RwLock<u64> {
    #[inline]
    fn read_now(&self) -> u64 {
        *now(self.read())
    }
    #[inline]
    fn write_now(&self) {
        *now(tokio::sync::RwLock::write(self)) += 1;
    }
    async fn write(&self) {
        *tokio::sync::RwLock::write(self).await += 1;
    }
}

impl AsyncRw for async_lock::RwLock<u64> {
    #[inline]
    fn read_now(&self) -> u64 {
        *now(self.read())
    }
    #[inline]
    fn write_now(&self) {
        *now(async_lock::RwLock::write(self)) += 1;
    }
    async fn write(&self) {
        *async_lock::RwLock::write(self).await += 1;
    }
}

fn uncontended_mutex<M: AsyncMutex>(g: &mut Group<'_>, name: &str, m: M) {
    g.bench_function(format!("mutex/{name}"), |b| {
        b.iter(|| black_box(&m).bump_now())
    });
}

fn uncontended_rw<L: AsyncRw>(g: &mut Group<'_>, name: &str, l: L) {
    g.bench_function(format!("read/{name}"), |b| {
        b.iter(|| black_box(black_box(&l).read_now()))
    });
    g.bench_function(format!("write/{name}"), |b| {
        b.iter(|| black_box(&l).write_now())
    });
}

fn uncontended(c: &mut Criterion) {
    let mut g = c.benchmark_group("async_uncontended");
    uncontended_mutex(&mut g, "kernsync", Mutex::new(0u64));
    uncontended_mutex(&mut g, "tokio", tokio::sync::Mutex::new(0u64));
    uncontended_mutex(&mut g, "async_lock", async_lock::Mutex::new(0u64));
    uncontended_rw(&mut g, "kernsync", RwSem::new(0u64));
    uncontended_rw(&mut g, "tokio", tokio::sync::RwLock::new(0u64));
    uncontended_rw(&mut g, "async_lock", async_lock::RwLock::new(0u64));
    g.finish();
}

/// Two tasks on `rt`, each the task `round` spawns; the time until both
/// are done.
fn two_tasks<L, F>(rt: &tokio::runtime::Runtime, lock: &Arc<L>, round: F) -> Duration
where
    L: Send + Sync + 'static,
    F: Fn(Arc<L>) -> tokio::task::JoinHandle<()>,
{
    rt.block_on(async {
        let t0 = Instant::now();
        let (a, b) = (round(lock.clone()), round(lock.clone()));
        a.await.expect("bench task");
        b.await.expect("bench task");
        t0.elapsed()
    })
}

fn contended_mutex<M: AsyncMutex>(
    g: &mut Group<'_>,
    rt: &tokio::runtime::Runtime,
    name: &str,
    m: M,
) {
    let m = Arc::new(m);
    g.bench_function(format!("mutex/{name}"), |b| {
        b.iter_custom(|iters| {
            two_tasks(rt, &m, |m| {
                tokio::spawn(async move {
                    for _ in 0..iters {
                        m.bump().await;
                    }
                })
            })
        })
    });
}

fn contended_rw<L: AsyncRw>(g: &mut Group<'_>, rt: &tokio::runtime::Runtime, name: &str, l: L) {
    let l = Arc::new(l);
    g.bench_function(format!("write/{name}"), |b| {
        b.iter_custom(|iters| {
            two_tasks(rt, &l, |l| {
                tokio::spawn(async move {
                    for _ in 0..iters {
                        l.write().await;
                    }
                })
            })
        })
    });
}

fn contended(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    let mut g = c.benchmark_group("async_contended");
    contended_mutex(&mut g, &rt, "kernsync", Mutex::new(0u64));
    contended_mutex(&mut g, &rt, "tokio", tokio::sync::Mutex::new(0u64));
    contended_mutex(&mut g, &rt, "async_lock", async_lock::Mutex::new(0u64));
    contended_rw(&mut g, &rt, "kernsync", RwSem::new(0u64));
    contended_rw(&mut g, &rt, "tokio", tokio::sync::RwLock::new(0u64));
    contended_rw(&mut g, &rt, "async_lock", async_lock::RwLock::new(0u64));
    g.finish();
}

criterion_group!(benches, uncontended, contended);
criterion_main!(benches);
