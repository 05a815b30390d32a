//! Loom models of `Srcu`'s publish/wait handshake, on the membarrier
//! protocol (its asymmetric fence modelled as SeqCst fences on both sides;
//! the fallback protocol only adds a reader fence to it):
//!
//! - a writer that unpublishes an object, `synchronize`s and frees it never
//!   frees it under a section that loaded it, whether the reader's slot
//!   already exists or is claimed while the writer synchronizes;
//! - `synchronize` waits for the section it saw in flight but not for the
//!   sections begun after it: a reader that holds sections back to back
//!   until the writer is done must not keep it waiting;
//! - nested sections: the inner one's end leaves the outer one counted;
//! - a thread's slot is given back when it exits and reused by the next
//!   reader thread while a writer synchronizes. Loom runs thread-local
//!   destructors at a model thread's end, but its `join` returns before them
//!   (std's waits for them): one model gives the slot back explicitly with
//!   `kernsync_percpu::exit_thread` (loom only) so the reuse is certain, the
//!   other leaves it to the destructor, racing the next reader's claim.
//!
//! The object is a `loom::cell::UnsafeCell` that the writer overwrites with
//! `FREED` after `synchronize` (its "free"; the memory itself is reclaimed
//! when the model ends): loom reports a reader access not ordered before
//! that write, and readers assert they never see `FREED`.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p
//! kernsync-percpu --release --test loom_srcu`. Release, as CI runs it: in
//! a debug build the lock-order validator is compiled in, and it is not
//! meant to run inside a model.
#![cfg(loom)]

use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};
use std::sync::Mutex as StdMutex;

use kernsync_percpu::Srcu;
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use loom::sync::Arc;
use loom::thread;

/// What an object holds once its writer has freed it.
const FREED: usize = usize::MAX;

/// What readers reach through the published pointer.
struct Obj {
    val: UnsafeCell<usize>,
}

/// A domain, the pointer its readers load inside sections, and the objects
/// unpublished and "freed" (reclaimed for real when the model ends).
struct Shared {
    srcu: Srcu,
    ptr: AtomicPtr<Obj>,
    retired: StdMutex<Vec<*mut Obj>>,
}

// SAFETY: the raw pointers are boxes owned by `Shared` (published in `ptr`
// or kept in `retired`), read through `UnsafeCell`s whose accesses loom
// checks, and freed only in `drop`, when no thread is left.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

impl Shared {
    /// A fresh domain publishing an object holding 1.
    fn new() -> Arc<Shared> {
        Arc::new(Shared {
            srcu: Srcu::new(),
            ptr: AtomicPtr::new(Box::into_raw(Box::new(Obj {
                val: UnsafeCell::new(1),
            }))),
            retired: StdMutex::new(Vec::new()),
        })
    }

    /// Loads the published object and reads it: must not be freed. The
    /// caller is inside a section of `srcu`.
    fn read_current(&self) -> usize {
        // Acquire: pairs with the writer's swap, so the object is seen whole.
        let p = self.ptr.load(Ordering::Acquire);
        // SAFETY: loaded inside the caller's section: the writer frees it
        // only after a `synchronize` that waits for that section (what the
        // model checks; the memory itself lives until the model ends).
        let v = unsafe { (*p).val.with(|v| *v) };
        assert_ne!(v, FREED, "a section read an object freed under it");
        v
    }

    /// The writer: publishes an object holding `v`, waits for the sections
    /// that may have loaded the old one, and frees it.
    fn replace_and_free(&self, v: usize) {
        let new = Box::into_raw(Box::new(Obj {
            val: UnsafeCell::new(v),
        }));
        // AcqRel: Release publishes the new object (pairs with the Acquire
        // of `read_current`); Acquire makes the old one's creation ours.
        let old = self.ptr.swap(new, Ordering::AcqRel);
        self.srcu.synchronize();
        // SAFETY: unpublished, and every section that could have loaded it
        // has ended; `retired` keeps the memory until the model ends.
        unsafe { (*old).val.with_mut(|p| *p = FREED) };
        self.retired.lock().unwrap().push(old);
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let current = self.ptr.load(Ordering::Relaxed);
        for p in self.retired.get_mut().unwrap().drain(..).chain([current]) {
            // SAFETY: from `Box::into_raw`, each once; no thread is left.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

/// A reader section against a writer, the reader's slot made before the
/// writer starts (its fast path alone races the writer).
#[test]
fn synchronize_then_free_never_frees_under_a_section_warm_slot() {
    loom::model(|| {
        let s = Shared::new();
        drop(s.srcu.read());
        let w = {
            let s = s.clone();
            thread::spawn(move || s.replace_and_free(2))
        };
        {
            let _section = s.srcu.read();
            let v = s.read_current();
            assert!(v == 1 || v == 2);
        }
        w.join().unwrap();
    });
}

/// The same with the reader's first section claiming its slot (a new slot
/// pushed on the list) while the writer synchronizes: a writer that misses
/// the new slot must be one whose change the section sees.
#[test]
fn synchronize_then_free_never_frees_under_a_section_new_slot() {
    loom::model(|| {
        let s = Shared::new();
        let w = {
            let s = s.clone();
            thread::spawn(move || s.replace_and_free(2))
        };
        {
            let _section = s.srcu.read();
            s.read_current();
        }
        w.join().unwrap();
        assert_eq!(s.srcu.reader_slots(), 1);
    });
}

/// Two readers (one on a fresh slot, one warm) against a writer.
#[test]
fn synchronize_then_free_two_readers() {
    loom::model(|| {
        let s = Shared::new();
        drop(s.srcu.read());
        let r = {
            let s = s.clone();
            thread::spawn(move || {
                let _section = s.srcu.read();
                s.read_current();
            })
        };
        let w = {
            let s = s.clone();
            thread::spawn(move || s.replace_and_free(2))
        };
        {
            let _section = s.srcu.read();
            s.read_current();
        }
        r.join().unwrap();
        w.join().unwrap();
    });
}

/// A reader holds sections back to back (the next begins as soon as the
/// previous ends, and each stays open across a yield) until the writer's
/// `synchronize` has returned. The writer must wait for the section it saw
/// (the object checks) and stop waiting once that one ended, although the
/// slot is busy again with a later section: a writer that waited for the
/// slot to be idle would never return, and loom would report the model
/// exceeding its branches.
#[test]
fn synchronize_waits_for_the_section_in_flight_not_for_later_ones() {
    loom::model(|| {
        let s = Shared::new();
        let done = Arc::new(AtomicBool::new(false));
        let r = {
            let (s, done) = (s.clone(), done.clone());
            thread::spawn(move || {
                let mut section = s.srcu.read();
                loop {
                    s.read_current();
                    // Relaxed: only ends the loop; the object checks order.
                    if done.load(Ordering::Relaxed) {
                        break;
                    }
                    thread::yield_now();
                    drop(section);
                    section = s.srcu.read();
                }
                drop(section);
            })
        };
        s.replace_and_free(2);
        done.store(true, Ordering::Relaxed);
        r.join().unwrap();
    });
}

/// Nested sections: the object loaded in the outer section stays alive
/// after the inner section ends, until the outer one does.
#[test]
fn nested_sections_keep_the_outer_one_counted() {
    loom::model(|| {
        let s = Shared::new();
        let w = {
            let s = s.clone();
            thread::spawn(move || s.replace_and_free(2))
        };
        {
            let outer = s.srcu.read();
            // Loaded in the outer section, used after the inner one ended.
            // Acquire: as in `read_current`.
            let p = s.ptr.load(Ordering::Acquire);
            {
                let _inner = s.srcu.read();
                s.read_current();
            }
            assert!(s.srcu.in_read_section());
            // SAFETY: loaded inside `outer`, which is still open (what the
            // model checks).
            let v = unsafe { (*p).val.with(|v| *v) };
            assert_ne!(v, FREED, "the inner section's end ended the outer one");
            drop(outer);
            assert!(!s.srcu.in_read_section());
        }
        w.join().unwrap();
    });
}

/// One section on a new thread, which then gives its slot back: at once
/// (`exit_thread`) when `explicit`, else from its thread-local table's
/// destructor, which loom runs at the thread's end but after `join` returns.
fn reader_thread(s: &Arc<Shared>, explicit: bool) -> thread::JoinHandle<()> {
    let s = s.clone();
    thread::spawn(move || {
        {
            let _section = s.srcu.read();
            s.read_current();
        }
        if explicit {
            kernsync_percpu::exit_thread();
        }
    })
}

/// A reader thread gives its slot back as it exits, while the writer may be
/// waiting on that slot; the next reader thread reuses the slot, its new
/// section bumping the slot's sequence past the one the writer saw. The
/// writer must neither free the object under either section nor wait on
/// the reused slot forever. The first thread gives its slot back with
/// `exit_thread`, so the reuse is certain.
#[test]
fn slot_of_an_exited_thread_is_reused_during_synchronize() {
    loom::model(|| {
        let s = Shared::new();
        let a = reader_thread(&s, true);
        let w = {
            let s = s.clone();
            thread::spawn(move || s.replace_and_free(2))
        };
        a.join().unwrap();
        reader_thread(&s, false).join().unwrap();
        w.join().unwrap();
        // `a` gave its slot back and the second reader took it.
        assert_eq!(s.srcu.reader_slots(), 1);
    });
}

/// The same with the slot given back by loom's run of the thread-local
/// destructor, racing the next reader's claim and the writer: the next
/// reader reuses the slot or makes a second one. Some execution must reuse
/// it (so the destructor did run and give it back).
#[test]
fn slot_given_back_by_a_thread_exit_races_the_next_reader() {
    static REUSED: StdAtomicUsize = StdAtomicUsize::new(0);
    loom::model(|| {
        let s = Shared::new();
        let a = reader_thread(&s, false);
        let w = {
            let s = s.clone();
            thread::spawn(move || s.replace_and_free(2))
        };
        a.join().unwrap();
        reader_thread(&s, false).join().unwrap();
        w.join().unwrap();
        let slots = s.srcu.reader_slots();
        assert!(slots == 1 || slots == 2, "{slots} slots for two threads");
        if slots == 1 {
            REUSED.fetch_add(1, StdOrdering::Relaxed);
        }
    });
    assert!(
        REUSED.load(StdOrdering::Relaxed) > 0,
        "no execution reused the slot"
    );
}
