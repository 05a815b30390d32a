//! The smallest deadlock lockdep finds from one thread's run: ABBA.
//!
//! One thread takes A then B, later B then A. Nothing ever hangs (one thread
//! cannot deadlock with itself here), yet two threads running those two paths
//! could. The validator reports the cycle, naming both sites of each edge.
//!
//! Run: `cargo run --example abba` (prints the report; warn mode, exits 0).

use kernsync::lockdep::{set_action, Action, LockClass, LockMap, Mode};

static A: LockClass = LockClass::new("A");
static B: LockClass = LockClass::new("B");

fn main() {
    set_action(Action::Warn);
    let (a, b) = (LockMap::new(&A), LockMap::new(&B));

    // Path 1: A then B.
    let ha = a.acquire(Mode::Write);
    let hb = b.acquire(Mode::Write);
    b.release(hb);
    a.release(ha);

    // Path 2, later, same thread: B then A. Reported here.
    let hb = b.acquire(Mode::Write);
    let ha = a.acquire(Mode::Write);
    a.release(ha);
    b.release(hb);

    if !kernsync::lockdep::COMPILED_IN {
        println!("validation is compiled out (release build without the `lockdep` feature)");
    }
}
