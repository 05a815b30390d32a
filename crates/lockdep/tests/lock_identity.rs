//! A lock's identity: problems tied to one lock (taking it again, a bad
//! unlock, freeing it while held) are reported once per lock, and a lock
//! made where a dropped one lived is a new lock. Scenario tests make fresh
//! classes and their locks often reuse a stack slot or a heap block: a
//! second lock there must never be taken for the one already reported, nor
//! for one still on the held stack.

use kernsync_lockdep::{capture, held_locks, LockClass, LockMap, Mode, ReportKind};
use std::mem::MaybeUninit;

fn kinds(reports: &[kernsync_lockdep::Report]) -> Vec<ReportKind> {
    reports.iter().map(|r| r.kind()).collect()
}

/// One slot that successive locks occupy: the same address every time.
struct Slot(MaybeUninit<LockMap>);

impl Slot {
    fn new() -> Slot {
        Slot(MaybeUninit::uninit())
    }

    fn put(&mut self, map: LockMap) -> &LockMap {
        self.0.write(map)
    }

    /// Drops the lock in the slot.
    fn clear(&mut self) {
        // SAFETY: called only after `put`, once per `put`.
        unsafe { self.0.assume_init_drop() }
    }
}

/// Takes `m` twice (the second time at this one line) and releases both.
fn take_twice(m: &LockMap) {
    let a = m.acquire(Mode::Write);
    let b = m.acquire(Mode::Write); // the same line for every lock
    m.release(b);
    m.release(a);
}

/// Releases `m` without holding it, at this one line.
fn release_unheld(m: &LockMap) {
    m.release_unpaired();
}

#[test]
fn recursion_of_a_second_lock_at_a_reused_address_is_reported() {
    if !kernsync_lockdep::COMPILED_IN {
        return;
    }
    let mut slot = Slot::new();
    let ((), reports) = capture(|| {
        for name in ["identity.rec.a", "identity.rec.b"] {
            let m = slot.put(LockMap::new(LockClass::leak(name)));
            take_twice(m);
            slot.clear();
        }
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::RecursiveLocking, ReportKind::RecursiveLocking],
        "{reports:#?}"
    );
    assert!(reports[0].classes().contains(&"identity.rec.a"));
    assert!(reports[1].classes().contains(&"identity.rec.b"));
}

#[test]
fn recursion_of_two_locks_of_one_class_at_one_address_is_reported_for_each() {
    if !kernsync_lockdep::COMPILED_IN {
        return;
    }
    let class = LockClass::leak("identity.rec.same");
    let mut slot = Slot::new();
    let ((), reports) = capture(|| {
        for _ in 0..2 {
            let m = slot.put(LockMap::new(class));
            take_twice(m);
            slot.clear();
        }
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::RecursiveLocking, ReportKind::RecursiveLocking],
        "{reports:#?}"
    );
}

#[test]
fn one_lock_taken_again_twice_at_one_line_is_reported_once() {
    if !kernsync_lockdep::COMPILED_IN {
        return;
    }
    let m = LockMap::new(LockClass::leak("identity.rec.once"));
    let ((), reports) = capture(|| {
        take_twice(&m);
        take_twice(&m);
    });
    assert_eq!(kinds(&reports), [ReportKind::RecursiveLocking]);
}

#[test]
fn bad_unlock_of_a_second_lock_at_a_reused_address_is_reported() {
    if !kernsync_lockdep::COMPILED_IN {
        return;
    }
    let class = LockClass::leak("identity.unlock");
    let mut slot = Slot::new();
    let ((), reports) = capture(|| {
        for _ in 0..2 {
            let m = slot.put(LockMap::new(class));
            // First use resolves the class; the release has nothing to match.
            let h = m.acquire(Mode::Write);
            m.release(h);
            release_unheld(m);
            slot.clear();
        }
    });
    assert_eq!(
        kinds(&reports),
        [ReportKind::BadUnlock, ReportKind::BadUnlock],
        "{reports:#?}"
    );
}

#[test]
fn a_lock_freed_while_held_is_reported_at_the_free_and_leaves_the_stack_clean() {
    if !kernsync_lockdep::COMPILED_IN {
        return;
    }
    let mut slot = Slot::new();
    let ((), reports) = capture(|| {
        let m = slot.put(LockMap::new(LockClass::leak("identity.freed")));
        let _leaked = m.acquire(Mode::Read); // never released
        assert_eq!(held_locks().len(), 1);
        slot.clear();
        assert_eq!(held_locks().len(), 0, "the freed lock's entry is removed");
        // A new lock at the same address is a new lock: no recursion.
        let m = slot.put(LockMap::new(LockClass::leak("identity.freed.next")));
        take_once(m);
        slot.clear();
    });
    assert_eq!(kinds(&reports), [ReportKind::HeldLockFreed], "{reports:#?}");
    let r = &reports[0];
    assert_eq!(r.classes(), ["identity.freed"]);
    assert!(r.detail().contains("was freed while this thread holds it"));
    assert!(
        r.detail().contains(file!()),
        "names where it was taken: {r}"
    );
}

fn take_once(m: &LockMap) {
    let h = m.acquire(Mode::Write);
    m.release(h);
}

#[test]
fn a_lock_not_held_is_freed_silently() {
    if !kernsync_lockdep::COMPILED_IN {
        return;
    }
    let ((), reports) = capture(|| {
        let m = LockMap::new(LockClass::leak("identity.free.ok"));
        take_once(&m);
        drop(m);
        drop(LockMap::new(LockClass::leak("identity.free.unused")));
    });
    assert!(reports.is_empty(), "{reports:#?}");
}

#[test]
fn a_lock_freed_on_another_thread_while_held_gives_no_later_false_report() {
    if !kernsync_lockdep::COMPILED_IN {
        return;
    }
    let class = LockClass::leak("identity.cross");
    let slot = Box::leak(Box::new(Slot::new()));
    let addr = slot as *mut Slot as usize;
    let ((), reports) = capture(|| {
        let m = slot.put(LockMap::new(class));
        let _leaked = m.acquire(Mode::Write); // this thread "holds" it
                                              // Freed on another thread: not detected there (it holds nothing).
        std::thread::spawn(move || {
            // SAFETY: the slot is leaked, so it lives for the process; this
            // thread is the only one touching it until it is joined.
            let slot = unsafe { &mut *(addr as *mut Slot) };
            let ((), theirs) = capture(|| slot.clear());
            assert!(theirs.is_empty(), "{theirs:#?}");
        })
        .join()
        .unwrap();
        // A lock of the same class at the same address, first used here.
        let m = slot.put(LockMap::new(class));
        take_once(m);
        assert_eq!(held_locks().len(), 0, "the stale entry is gone");
        slot.clear();
    });
    assert!(reports.is_empty(), "{reports:#?}");
}

#[test]
fn a_lock_of_another_class_at_the_address_of_one_freed_elsewhere_is_a_new_lock() {
    if !kernsync_lockdep::COMPILED_IN {
        return;
    }
    let slot = Box::leak(Box::new(Slot::new()));
    let addr = slot as *mut Slot as usize;
    let on_another_thread = |f: fn(&mut Slot)| {
        std::thread::spawn(move || {
            // SAFETY: the slot is leaked, and the threads touching it run
            // one at a time (each is joined before the next step).
            f(unsafe { &mut *(addr as *mut Slot) })
        })
        .join()
        .unwrap()
    };
    let ((), reports) = capture(|| {
        let m = slot.put(LockMap::new(LockClass::leak("identity.stale.old")));
        let _leaked = m.acquire(Mode::Write); // never released
        on_another_thread(|s| s.clear());
        // The new lock's first use is on yet another thread.
        on_another_thread(|s| {
            let m = s.put(LockMap::new(LockClass::leak("identity.stale.new")));
            take_once(m);
        });
        // SAFETY: the other threads are joined; the slot holds the new lock.
        take_once(unsafe { (*(addr as *mut Slot)).0.assume_init_ref() });
        assert_eq!(held_locks().len(), 0, "the stale entry is gone");
    });
    assert!(reports.is_empty(), "{reports:#?}");
}
