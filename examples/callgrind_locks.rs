//! The instruction-count harness for single lock/unlock pairs, used by
//! `scripts/callgrind.sh locks`: takes one lock `N` times in the variant named
//! on the command line (`ks_read`, `ks_write`, `ks_mutex` for kernsync's
//! `RwSem` and `Mutex`; `pc_read`, `pc_write` for kernsync's `PercpuRwSem`;
//! `pl_*` for parking_lot; `std_*` for std; `sl_read`, `sl_write` for
//! crossbeam's `ShardedLock`; `sy_read`, `sy_write`, `sy_mutex` for the
//! std-shaped `kernsync::sync` locks, unwrapped as std's are), so the
//! difference of two runs' instruction counts over the difference in `N` is
//! the cost of one pair. The nested variants take two locks of the same
//! type, made on different lines (so in two classes with checks on), A then
//! B, and release them B then A: `ks_nested` (kernsync's `Mutex`),
//! `pl_nested`, `std_nested`, `sy_nested` (`kernsync::sync::Mutex`), and
//! `shim_mutex`, `shim_nested` for the parking_lot 0.13 shim's `Mutex`
//! (`compat/parking_lot-0.13`, a dev-dependency as `parking_lot_shim`). The
//! condvar variants time one notify with no waiter
//! instead: `sy_notify`, `sy_notify_all` (`kernsync::sync::Condvar`),
//! `ks_notify`, `ks_notify_all` (`kernsync::rwsem::Condvar`), and the
//! `std_*`, `pl_*` peers (whatever a notify returns is dropped, so every
//! variant does the same work; std's makes a `FUTEX_WAKE` syscall even with
//! no waiter, which callgrind does not count). The once-cell variants time
//! one reach of an initialised cell: `sy_once_lock`/`std_once_lock`
//! (`get_or_init`), `sy_lazy`/`std_lazy` (deref), `sy_once`/`std_once`
//! (`call_once` when completed). The notifier
//! variants time one call of a chain of 8 trivial callbacks instead:
//! `nf_call8` (`NotifierChain`), `anf_call8` (`AtomicNotifierChain`),
//! `pl_vec8` (parking_lot `RwLock<Vec<Box<dyn Fn>>>`), `vec8` (the boxed
//! callbacks in a plain `Vec`, no lock).
//!
//! `pc_write` counts user-space instructions only: the `membarrier` syscall a
//! `PercpuRwSem` writer makes is invisible to callgrind. Under valgrind the
//! syscall may be refused; the script prints which barrier the process chose.
//!
//! The async locks, each pair a lock future polled once with a no-op waker
//! (uncontended, so it is ready at once) and its guard dropped:
//! `fu_mutex`, `fu_read`, `fu_write` (`kernsync::future`), `tk_mutex`,
//! `tk_read`, `tk_write` (tokio's), `al_mutex`, `al_read`, `al_write`
//! (async-lock's); and `fu_mutex_task`, `fu_mutex` inside one poll of a
//! tracked task (the held entry is the task's: with checks on, what a
//! tracked task's acquisition costs).
//!
//! Run: `cargo run --release --example callgrind_locks -- ks_read 1000`.

use std::hint::black_box;

use crossbeam_utils::sync::ShardedLock;
use kernsync::notifier::{AtomicNotifierChain, NotifierChain, Verdict};
use kernsync::percpu::PercpuRwSem;
use kernsync::rwsem::{Condvar, Mutex, RwSem};

/// Polls `fut` once with a no-op waker: the uncontended lock future is ready.
#[inline(always)]
fn ready<F: std::future::Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => unreachable!("uncontended"),
    }
}

macro_rules! pairs {
    ($n:expr, $lock:expr, |$l:ident| $body:expr) => {{
        let lock = $lock;
        #[inline(never)]
        fn pair<L>($l: &L, f: impl Fn(&L)) {
            f($l)
        }
        for _ in 0..$n {
            pair(black_box(&lock), |$l| $body);
        }
    }};
}

/// The trivial callback of the notifier variants.
fn callback(e: &u64) -> Verdict {
    black_box(e);
    Verdict::Continue
}

type BoxedFn = Box<dyn Fn(&u64) -> Verdict + Send + Sync>;

/// Calls every boxed callback until one does not continue (the peers' walk).
fn walk(fs: &[BoxedFn], event: &u64) -> usize {
    let mut n = 0;
    for f in fs {
        n += 1;
        if f(event) != Verdict::Continue {
            break;
        }
    }
    n
}

fn boxed8() -> Vec<BoxedFn> {
    (0..8).map(|_| Box::new(callback) as BoxedFn).collect()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let variant = args.next().unwrap_or_else(|| "ks_read".into());
    let n: u64 = args
        .next()
        .map(|s| s.parse().expect("N must be a number"))
        .unwrap_or(1000);
    match variant.as_str() {
        "ks_read" => pairs!(n, RwSem::new(0u64), |l| {
            black_box(*l.read());
        }),
        "ks_write" => pairs!(n, RwSem::new(0u64), |l| *l.write() += 1),
        "ks_mutex" => pairs!(n, Mutex::new(0u64), |l| *l.lock() += 1),
        "fu_mutex" => pairs!(n, kernsync::future::Mutex::new(0u64), |l| *ready(
            l.lock()
        ) += 1),
        "fu_read" => pairs!(n, kernsync::future::RwSem::new(0u64), |l| {
            black_box(*ready(l.read()));
        }),
        "fu_write" => pairs!(n, kernsync::future::RwSem::new(0u64), |l| *ready(
            l.write()
        ) += 1),
        "tk_mutex" => pairs!(n, tokio::sync::Mutex::new(0u64), |l| *ready(l.lock()) += 1),
        "tk_read" => pairs!(n, tokio::sync::RwLock::new(0u64), |l| {
            black_box(*ready(l.read()));
        }),
        "tk_write" => pairs!(n, tokio::sync::RwLock::new(0u64), |l| *ready(l.write()) +=
            1),
        "al_mutex" => pairs!(n, async_lock::Mutex::new(0u64), |l| *ready(l.lock()) += 1),
        "al_read" => pairs!(n, async_lock::RwLock::new(0u64), |l| {
            black_box(*ready(l.read()));
        }),
        "al_write" => pairs!(n, async_lock::RwLock::new(0u64), |l| *ready(l.write()) += 1),
        "fu_mutex_task" => {
            let m = kernsync::future::Mutex::new(0u64);
            ready(kernsync::future::tracked(async {
                pairs!(n, &m, |l| *ready(l.lock()) += 1);
            }));
        }
        "pc_read" => pairs!(n, PercpuRwSem::new(0u64), |l| {
            black_box(*l.read());
        }),
        "pc_write" => pairs!(n, PercpuRwSem::new(0u64), |l| *l.write() += 1),
        "pc_barrier" => println!("{:?}", kernsync::percpu::barrier()),
        "pl_read" => pairs!(n, parking_lot::RwLock::new(0u64), |l| {
            black_box(*l.read());
        }),
        "pl_write" => pairs!(n, parking_lot::RwLock::new(0u64), |l| *l.write() += 1),
        "pl_mutex" => pairs!(n, parking_lot::Mutex::new(0u64), |l| *l.lock() += 1),
        "std_read" => pairs!(n, std::sync::RwLock::new(0u64), |l| {
            black_box(*l.read().unwrap());
        }),
        "std_write" => pairs!(n, std::sync::RwLock::new(0u64), |l| *l.write().unwrap() +=
            1),
        "std_mutex" => pairs!(n, std::sync::Mutex::new(0u64), |l| *l.lock().unwrap() += 1),
        "sy_read" => pairs!(n, kernsync::sync::RwLock::new(0u64), |l| {
            black_box(*l.read().unwrap());
        }),
        "sy_write" => pairs!(n, kernsync::sync::RwLock::new(0u64), |l| *l
            .write()
            .unwrap() += 1),
        "sy_mutex" => pairs!(n, kernsync::sync::Mutex::new(0u64), |l| *l
            .lock()
            .unwrap() += 1),
        "ks_nested" => {
            let a = Mutex::new(0u64);
            let b = Mutex::new(0u64);
            pairs!(n, (a, b), |l| {
                let mut x = l.0.lock();
                let mut y = l.1.lock();
                *x += 1;
                *y += 1;
            })
        }
        "pl_nested" => {
            let a = parking_lot::Mutex::new(0u64);
            let b = parking_lot::Mutex::new(0u64);
            pairs!(n, (a, b), |l| {
                let mut x = l.0.lock();
                let mut y = l.1.lock();
                *x += 1;
                *y += 1;
            })
        }
        "std_nested" => {
            let a = std::sync::Mutex::new(0u64);
            let b = std::sync::Mutex::new(0u64);
            pairs!(n, (a, b), |l| {
                let mut x = l.0.lock().unwrap();
                let mut y = l.1.lock().unwrap();
                *x += 1;
                *y += 1;
            })
        }
        "sy_nested" => {
            let a = kernsync::sync::Mutex::new(0u64);
            let b = kernsync::sync::Mutex::new(0u64);
            pairs!(n, (a, b), |l| {
                let mut x = l.0.lock().unwrap();
                let mut y = l.1.lock().unwrap();
                *x += 1;
                *y += 1;
            })
        }
        "shim_mutex" => pairs!(n, parking_lot_shim::Mutex::new(0u64), |l| *l.lock() += 1),
        "shim_nested" => {
            let a = parking_lot_shim::Mutex::new(0u64);
            let b = parking_lot_shim::Mutex::new(0u64);
            pairs!(n, (a, b), |l| {
                let mut x = l.0.lock();
                let mut y = l.1.lock();
                *x += 1;
                *y += 1;
            })
        }
        "ks_notify" => pairs!(n, Condvar::new(), |c| {
            c.notify_one();
        }),
        "ks_notify_all" => pairs!(n, Condvar::new(), |c| {
            c.notify_all();
        }),
        "sy_notify" => pairs!(n, kernsync::sync::Condvar::new(), |c| {
            c.notify_one();
        }),
        "sy_notify_all" => pairs!(n, kernsync::sync::Condvar::new(), |c| {
            c.notify_all();
        }),
        "pl_notify" => pairs!(n, parking_lot::Condvar::new(), |c| {
            c.notify_one();
        }),
        "pl_notify_all" => pairs!(n, parking_lot::Condvar::new(), |c| {
            c.notify_all();
        }),
        "std_notify" => pairs!(n, std::sync::Condvar::new(), |c| {
            c.notify_one();
        }),
        "std_notify_all" => pairs!(n, std::sync::Condvar::new(), |c| {
            c.notify_all();
        }),
        // An initialised once-cell reached again: what every later caller pays.
        "sy_once_lock" => pairs!(n, kernsync::sync::OnceLock::from(7u64), |c| {
            black_box(*c.get_or_init(|| 0));
        }),
        "std_once_lock" => pairs!(n, std::sync::OnceLock::from(7u64), |c| {
            black_box(*c.get_or_init(|| 0));
        }),
        "sy_lazy" => pairs!(n, kernsync::sync::LazyLock::new(|| 7u64), |c| {
            black_box(**c);
        }),
        "std_lazy" => pairs!(n, std::sync::LazyLock::new(|| 7u64), |c| {
            black_box(**c);
        }),
        "sy_once" => pairs!(n, kernsync::sync::Once::new(), |o| o.call_once(|| {})),
        "std_once" => pairs!(n, std::sync::Once::new(), |o| o.call_once(|| {})),
        "sl_read" => pairs!(n, ShardedLock::new(0u64), |l| {
            black_box(*l.read().unwrap());
        }),
        "sl_write" => pairs!(n, ShardedLock::new(0u64), |l| *l.write().unwrap() += 1),
        "nf_call8" => {
            let chain = NotifierChain::<u64>::new();
            let _regs: Vec<_> = (0..8).map(|_| chain.subscribe(callback, 0)).collect();
            pairs!(n, &chain, |c| {
                black_box(c.call(&1).called);
            })
        }
        "anf_call8" => {
            let chain = AtomicNotifierChain::<u64>::new();
            let _regs: Vec<_> = (0..8).map(|_| chain.subscribe(callback, 0)).collect();
            pairs!(n, &chain, |c| {
                black_box(c.call(&1).called);
            })
        }
        "pl_vec8" => pairs!(n, parking_lot::RwLock::new(boxed8()), |l| {
            black_box(walk(&l.read(), &1));
        }),
        "vec8" => pairs!(n, boxed8(), |v| {
            black_box(walk(v, &1));
        }),
        other => {
            eprintln!("unknown variant {other:?}");
            std::process::exit(2);
        }
    }
}
