//! What users of `PercpuRwSem` rely on: reads share and writes exclude
//! (including the try and timed forms), a waiting writer holds off new
//! readers, the validator sees reads as `Read` and writes as `Write` (a
//! recursive read is reported with or without a writer waiting; a read-side
//! cycle with a mutex is a deadlock), a read during thread teardown works,
//! and the usual traits.
#![cfg(not(loom))]

use kernsync_lockdep::{capture, held_locks, LockClass, Report, ReportKind};
use kernsync_percpu::{PercpuReadGuard, PercpuRwSem, PercpuWriteGuard};
use kernsync_rwsem::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

fn kinds(reports: &[Report]) -> Vec<ReportKind> {
    reports.iter().map(Report::kind).collect()
}

/// Polls `cond` for up to 10 s (a broken lock fails the test, never hangs it).
fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let end = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn reads_share_and_writes_exclude() {
    let lock = PercpuRwSem::new(5);
    let r = lock.read();
    thread::scope(|s| {
        s.spawn(|| {
            // Another reader gets in alongside; a writer does not.
            assert_eq!(*lock.try_read().expect("reads share"), 5);
            assert!(lock.try_write().is_none());
            assert!(lock.try_write_for(Duration::from_millis(20)).is_none());
        });
    });
    assert!(lock.is_locked());
    assert!(!lock.is_locked_exclusive());
    drop(r);
    let mut w = lock.write();
    *w += 1;
    thread::scope(|s| {
        s.spawn(|| {
            assert!(lock.try_read().is_none());
            assert!(lock.try_read_for(Duration::from_millis(20)).is_none());
            assert!(lock.try_write().is_none());
        });
    });
    assert!(lock.is_locked_exclusive());
    drop(w);
    assert!(!lock.is_locked());
    assert_eq!(*lock.try_read_until(Instant::now()).unwrap(), 6);
    assert_eq!(*lock.try_write_until(Instant::now()).unwrap(), 6);
}

#[test]
fn a_waiting_writer_holds_off_new_readers_and_lets_them_in_when_done() {
    let lock = PercpuRwSem::new(0u32);
    let first = lock.read();
    let wrote = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            let mut g = lock.write();
            wrote.store(true, Ordering::SeqCst);
            *g = 1;
        });
        wait_until("the writer blocked new readers", || {
            lock.is_locked_exclusive()
        });
        s.spawn(|| {
            // Blocked behind the waiting writer, so it sees its write.
            let g = lock.read();
            assert!(wrote.load(Ordering::SeqCst));
            assert_eq!(*g, 1);
        });
        thread::sleep(Duration::from_millis(20));
        assert!(
            !wrote.load(Ordering::SeqCst),
            "the writer overlapped a reader"
        );
        drop(first);
    });
    assert_eq!(*lock.read(), 1);
}

#[test]
fn a_timed_out_writer_lets_the_readers_it_blocked_in() {
    let lock = PercpuRwSem::new(0u32);
    let held = lock.read();
    thread::scope(|s| {
        s.spawn(|| assert!(lock.try_write_for(Duration::from_millis(100)).is_none()));
        wait_until("the writer blocked new readers", || {
            lock.is_locked_exclusive()
        });
        // A reader that arrives now parks behind the writer; when the writer
        // gives up it must be let in (not left parked).
        s.spawn(|| assert_eq!(*lock.read(), 0));
    });
    drop(held);
    assert!(!lock.is_locked());
}

#[test]
fn recursive_read_is_reported_without_a_waiting_writer() {
    if !kernsync_lockdep::is_enabled() {
        return;
    }
    let lock = PercpuRwSem::with_class((), LockClass::leak("pc_recursive"));
    let ((), reports) = capture(|| {
        let _a = lock.read();
        let _b = lock.read(); // no writer waits: it works, and is reported
    });
    assert_eq!(kinds(&reports), [ReportKind::RecursiveLocking]);
    assert!(held_locks().is_empty());
}

#[test]
fn read_under_a_mutex_against_write_then_mutex_is_a_cycle() {
    if !kernsync_lockdep::is_enabled() {
        return;
    }
    // cpu_hotplug_lock (write) -> mm_lock, and mm_lock -> cpu_hotplug_lock
    // (read): reads are `Read`, so the cycle is a deadlock.
    let hotplug = PercpuRwSem::with_class((), LockClass::leak("pc_hotplug"));
    let mm = Mutex::with_class((), LockClass::leak("pc_mm"));
    let ((), reports) = capture(|| {
        {
            let _w = hotplug.write();
            let _m = mm.lock();
        }
        let _m = mm.lock();
        let _r = hotplug.read();
    });
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
    assert_eq!(reports[0].classes(), ["pc_hotplug", "pc_mm"]);
    assert!(held_locks().is_empty());
}

#[test]
fn held_locks_name_the_read_and_the_write() {
    if !kernsync_lockdep::is_enabled() {
        return;
    }
    let lock = PercpuRwSem::with_class(0, LockClass::leak("pc_held"));
    {
        let _r = lock.read();
        let held = held_locks();
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].class, "pc_held");
        lock.assert_held();
    }
    lock.assert_not_held();
    {
        let _w = lock.try_write().unwrap();
        assert_eq!(held_locks().len(), 1);
    }
    assert!(held_locks().is_empty());
}

#[test]
fn a_panic_inside_a_guard_unlocks_and_unwinds_the_held_stack() {
    let lock = PercpuRwSem::new(vec![1]);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _g = lock.read();
        panic!("inside a read");
    }));
    assert!(r.is_err());
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut g = lock.write();
        g.push(2);
        panic!("inside a write");
    }));
    assert!(r.is_err());
    // No poisoning: the data as the panicking writer left it.
    assert_eq!(*lock.try_write().unwrap(), [1, 2]);
    assert!(held_locks().is_empty());
    assert_eq!(lock.readers(), 0);
}

#[test]
fn a_read_during_thread_teardown_borrows_a_slot_for_itself() {
    static LOCK: PercpuRwSem<u32> = PercpuRwSem::new(7);
    struct ReadsOnDrop(mpsc::Sender<u32>);
    impl Drop for ReadsOnDrop {
        fn drop(&mut self) {
            let v = *LOCK.read();
            let _ = self.0.send(v);
        }
    }
    thread_local! {
        static LATE: std::cell::RefCell<Option<ReadsOnDrop>> = const { std::cell::RefCell::new(None) };
    }
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        // Registered before the lock's slot table, so (destructors running
        // in reverse order of registration) it runs after the table is gone.
        LATE.with(|l| *l.borrow_mut() = Some(ReadsOnDrop(tx)));
        assert_eq!(*LOCK.read(), 7);
    })
    .join()
    .unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(7));
    // Nothing stays counted, and the borrowed slot was given back.
    assert_eq!(LOCK.readers(), 0);
    assert!(LOCK.reader_slots() <= 2, "{}", LOCK.reader_slots());
    *LOCK.try_write().expect("no read left behind") += 1;
}

#[test]
fn statics_traits_and_accessors() {
    static CLASS: LockClass = LockClass::new("pc_static");
    static TABLE: PercpuRwSem<[u8; 2]> = PercpuRwSem::with_class([1, 2], &CLASS);
    assert_eq!(TABLE.read()[1], 2);
    TABLE.write()[0] = 3;
    assert_eq!(format!("{TABLE:?}"), "PercpuRwSem { data: [3, 2] }");
    {
        let _w = TABLE.write();
        assert_eq!(format!("{TABLE:?}"), "PercpuRwSem { data: <locked> }");
    }
    let mut l: PercpuRwSem<Vec<u8>> = PercpuRwSem::default();
    l.get_mut().push(1);
    let l2 = PercpuRwSem::from(5u8);
    assert_eq!(*l2.read(), 5);
    let first = PercpuReadGuard::map(l.read(), |v| &v[0]);
    assert_eq!(*first, 1);
    drop(first);
    let mut w = PercpuWriteGuard::map(l.write(), |v| &mut v[0]);
    *w = 9;
    drop(w);
    assert_eq!(l.into_inner(), [9]);
    fn assert_sync<T: Sync>() {}
    assert_sync::<PercpuRwSem<u32>>();
    assert_sync::<PercpuReadGuard<'static, u32>>();
    assert_sync::<PercpuWriteGuard<'static, u32>>();
}
