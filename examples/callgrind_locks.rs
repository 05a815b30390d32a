//! The instruction-count harness for single lock/unlock pairs, used by
//! `scripts/callgrind.sh locks`: takes one lock `N` times in the variant named
//! on the command line (`ks_read`, `ks_write`, `ks_mutex` for kernsync's
//! `RwSem` and `Mutex`; `pc_read`, `pc_write` for kernsync's `PercpuRwSem`;
//! `pl_*` for parking_lot; `std_*` for std; `sl_read`, `sl_write` for
//! crossbeam's `ShardedLock`), so the difference of two runs' instruction
//! counts over the difference in `N` is the cost of one pair.
//!
//! `pc_write` counts user-space instructions only: the `membarrier` syscall a
//! `PercpuRwSem` writer makes is invisible to callgrind. Under valgrind the
//! syscall may be refused; the script prints which barrier the process chose.
//!
//! Run: `cargo run --release --example callgrind_locks -- ks_read 1000`.

use std::hint::black_box;

use crossbeam_utils::sync::ShardedLock;
use kernsync::percpu::PercpuRwSem;
use kernsync::rwsem::{Mutex, RwSem};

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
        "sl_read" => pairs!(n, ShardedLock::new(0u64), |l| {
            black_box(*l.read().unwrap());
        }),
        "sl_write" => pairs!(n, ShardedLock::new(0u64), |l| *l.write().unwrap() += 1),
        other => {
            eprintln!("unknown variant {other:?}");
            std::process::exit(2);
        }
    }
}
