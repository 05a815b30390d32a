//! `send_guard`: guards are `Send`, and a guard released on another thread
//! gives no report, because the shim's locks are then not validated.
#![cfg(feature = "send_guard")]

use kernsync_lockdep::capture;
use parking_lot::{Mutex, RwLock};

fn assert_send<T: Send>(_: &T) {}

#[test]
fn guard_released_on_another_thread_gives_no_report() {
    let m = Mutex::new(1);
    let l = RwLock::new(2);
    let ((), reports) = capture(|| {
        let g = m.lock();
        let r = l.read();
        assert_send(&g);
        assert_send(&r);
        std::thread::scope(|s| {
            s.spawn(move || {
                let ((), reports) = capture(|| {
                    assert_eq!(*g + *r, 3);
                    drop(g);
                    drop(r);
                });
                assert!(reports.is_empty(), "{reports:#?}");
            });
        });
        // Both are free again, and this thread holds nothing.
        drop(m.lock());
        drop(l.write());
    });
    assert!(reports.is_empty(), "{reports:#?}");
    assert!(kernsync_lockdep::held_locks().is_empty());
}

#[test]
fn with_send_guard_an_abba_is_not_seen() {
    // The documented cost of `send_guard`: the locks are not validated.
    let a = Mutex::new(0);
    let b = Mutex::new(0);
    let ((), reports) = capture(|| {
        {
            let _a = a.lock();
            let _b = b.lock();
        }
        let _b = b.lock();
        let _a = a.lock();
    });
    assert!(reports.is_empty());
}
