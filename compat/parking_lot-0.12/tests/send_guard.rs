//! With `send_guard`, guards are `Send` and may be released on another
//! thread; the shim's locks are then not tracked, so nothing is reported
//! either there or later on the thread that took them.
#![cfg(feature = "send_guard")]

use std::thread;

use kernsync_lockdep::{capture, held_locks};
use parking_lot::{Mutex, MutexGuard, RwLock, RwLockWriteGuard};

fn is_send<T: Send>(_: &T) {}

#[test]
fn guards_released_on_another_thread_give_no_report() {
    static A: Mutex<u32> = parking_lot::const_mutex(0);
    let b = RwLock::new(0u32);
    let ((), reports) = capture(|| {
        let ga: MutexGuard<'static, u32> = A.lock();
        is_send(&ga);
        let gb: RwLockWriteGuard<'_, u32> = b.write();
        thread::scope(|s| {
            s.spawn(move || {
                let ((), there) = capture(move || {
                    drop(ga);
                    drop(gb);
                });
                assert!(there.is_empty(), "{there:?}");
            });
        });
        // Later on this thread, in the other order: not tracked, no report
        // (and no stale entry behind).
        let _b = b.write();
        let _a = A.lock();
        assert!(held_locks().is_empty());
    });
    assert!(reports.is_empty(), "{reports:?}");
}
