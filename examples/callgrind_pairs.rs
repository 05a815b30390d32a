//! The instruction-count harness behind `scripts/callgrind.sh`: takes one
//! nested A→B lock pair `N` times in the variant named on the command line,
//! so that callgrind's instruction counts for two values of `N` give the
//! exact cost of one pair (their difference over the difference in `N`).
//!
//! Variants: `bare` (parking_lot's raw mutex), `checked` (the same with the
//! validator's hooks, as every kernsync lock has them), `parking_lot`
//! (`parking_lot::Mutex`), `std` (`std::sync::Mutex`).
//!
//! Run: `cargo run --release --features lockdep --example callgrind_pairs -- checked 1000`
//! (prints nothing; run it under valgrind through the script).

use std::hint::black_box;

use kernsync::lockdep::{LockClass, LockMap, Mode};
use parking_lot::lock_api::RawMutex as _;

static A: LockClass = LockClass::new("callgrind_a");
static B: LockClass = LockClass::new("callgrind_b");

/// A raw parking_lot mutex with the validator's hooks around it.
struct Checked {
    raw: parking_lot::RawMutex,
    map: LockMap,
}

impl Checked {
    const fn new(class: &'static LockClass) -> Checked {
        Checked {
            raw: parking_lot::RawMutex::INIT,
            map: LockMap::new(class),
        }
    }
}

#[inline(never)]
fn checked_pair(a: &Checked, b: &Checked) {
    let ha = a.map.acquire(Mode::Write);
    let ga = a.raw.lock();
    let hb = b.map.acquire(Mode::Write);
    let gb = b.raw.lock();
    black_box(());
    // SAFETY: each guard state came from the `lock()` above and is returned once.
    unsafe { b.raw.unlock(gb) };
    b.map.release(hb);
    // SAFETY: as above.
    unsafe { a.raw.unlock(ga) };
    a.map.release(ha);
}

#[inline(never)]
fn bare_pair(a: &parking_lot::RawMutex, b: &parking_lot::RawMutex) {
    let ga = a.lock();
    let gb = b.lock();
    black_box(());
    // SAFETY: each guard state came from the `lock()` above and is returned once.
    unsafe { b.unlock(gb) };
    // SAFETY: as above.
    unsafe { a.unlock(ga) };
}

#[inline(never)]
fn parking_lot_pair(a: &parking_lot::Mutex<u64>, b: &parking_lot::Mutex<u64>) {
    let mut x = a.lock();
    let mut y = b.lock();
    *x += 1;
    *y += 1;
}

#[inline(never)]
fn std_pair(a: &std::sync::Mutex<u64>, b: &std::sync::Mutex<u64>) {
    let mut x = a.lock().unwrap();
    let mut y = b.lock().unwrap();
    *x += 1;
    *y += 1;
}

fn main() {
    let mut args = std::env::args().skip(1);
    let variant = args.next().unwrap_or_else(|| "checked".into());
    let n: u64 = args
        .next()
        .map(|s| s.parse().expect("N must be a number"))
        .unwrap_or(1000);
    match variant.as_str() {
        "checked" => {
            let (a, b) = (Checked::new(&A), Checked::new(&B));
            // The first pair validates the chain; every later one is a hit.
            for _ in 0..n {
                checked_pair(black_box(&a), black_box(&b));
            }
        }
        "bare" => {
            let (a, b) = (parking_lot::RawMutex::INIT, parking_lot::RawMutex::INIT);
            for _ in 0..n {
                bare_pair(black_box(&a), black_box(&b));
            }
        }
        "parking_lot" => {
            let (a, b) = (parking_lot::Mutex::new(0), parking_lot::Mutex::new(0));
            for _ in 0..n {
                parking_lot_pair(black_box(&a), black_box(&b));
            }
        }
        "std" => {
            let (a, b) = (std::sync::Mutex::new(0), std::sync::Mutex::new(0));
            for _ in 0..n {
                std_pair(black_box(&a), black_box(&b));
            }
        }
        other => {
            eprintln!("unknown variant {other:?}: use checked, bare, parking_lot or std");
            std::process::exit(2);
        }
    }
}
