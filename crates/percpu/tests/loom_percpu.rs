//! Loom models of `RawPercpuRwSem`'s state machine: reader/writer exclusion
//! on the fast path (membarrier protocol, its asymmetric fence modelled as
//! SeqCst fences on both sides) and on the slow path everywhere
//! (`Barrier::Fence`), the leaving writer granting parked readers
//! (`release_readers`), the fast path coming back after back-to-back writers
//! (the second one skipping the heavy barrier because of `SWITCHED`), a
//! parked writer woken by the last reader's unlock (`WAITING`), failed and
//! timed acquisitions leaving the state clean, and reader slots given back,
//! reused and abandoned by exiting threads.
//!
//! The guarded data is a pair of `loom::cell::UnsafeCell`s written one after
//! the other: loom reports any access not ordered by the lock, and readers
//! assert they never see half a write.
//!
//! Limits of the model. Under loom `block_readers` runs the heavy barrier
//! (a SeqCst fence) right before its own SeqCst fence, so a missing heavy
//! barrier, or a wrong `SWITCHED` skip, goes unnoticed: the skip is
//! exercised, not proven. `barrier::light()` is a SeqCst fence under loom
//! for both protocols, though with `Barrier::Fence` a real reader has only a
//! compiler fence there, so the slow path's own fence is checked only where
//! it is the sole one (after a park found `HELD` already clear). The parking
//! shim's timed park times out only once every other thread is blocked. A
//! deadlock makes loom print `deadlock; threads = ...` and then abort the
//! test process.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p
//! kernsync-percpu --release --test loom_percpu`.
#![cfg(loom)]

use std::sync::atomic::{AtomicBool as StdAtomicBool, Ordering as StdOrdering};
use std::time::{Duration, Instant};

use kernsync_percpu::{Barrier, RawPercpuRwSem, Reader};
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

/// A lock and the pair it guards (both halves always equal under the lock).
struct Shared {
    lock: RawPercpuRwSem,
    a: UnsafeCell<usize>,
    b: UnsafeCell<usize>,
}

// SAFETY: `a` and `b` are only accessed with the lock held (shared for
// reads, exclusive for writes); that is what the models check, since loom's
// `UnsafeCell` reports any access not ordered by the lock.
unsafe impl Sync for Shared {}

fn shared(barrier: Barrier) -> Arc<Shared> {
    Arc::new(Shared {
        lock: RawPercpuRwSem::with_barrier(barrier),
        a: UnsafeCell::new(0),
        b: UnsafeCell::new(0),
    })
}

/// A deadline for timed acquisitions. Its value does not matter: the loom
/// parking shim's timed park yields once, then times out unless unparked.
fn deadline() -> Instant {
    Instant::now() + Duration::from_millis(1)
}

impl Shared {
    /// Reads the pair, which must be whole. Called with the lock held.
    fn read(&self) -> usize {
        // SAFETY: a read or the write is held: no write runs concurrently.
        let a = self.a.with(|p| unsafe { *p });
        // SAFETY: as above.
        let b = self.b.with(|p| unsafe { *p });
        assert_eq!(a, b, "torn read: a reader saw half a write");
        a
    }

    /// Increments both halves, one after the other. Called with the write
    /// held.
    fn write(&self) {
        // SAFETY: the write is held: no other access runs concurrently.
        self.a.with_mut(|p| unsafe { *p += 1 });
        // SAFETY: as above.
        self.b.with_mut(|p| unsafe { *p += 1 });
    }

    /// One blocking read through `r`'s slot; returns the value seen.
    fn read_in(&self, r: &Reader) -> usize {
        let token = self.lock.lock_shared_in(r);
        let v = self.read();
        // SAFETY: the read just taken, through `r`, on this thread.
        unsafe { self.lock.unlock_shared(token) };
        v
    }

    /// One read on a fresh slot, given back afterwards (a short-lived
    /// reader thread).
    fn read_once(&self) -> usize {
        let r = self.lock.reader();
        let v = self.read_in(&r);
        r.exit();
        v
    }

    /// One blocking write.
    fn write_once(&self) {
        let token = self.lock.lock_exclusive();
        self.write();
        // SAFETY: the write just taken.
        unsafe { self.lock.unlock_exclusive(token) };
    }

    /// The state is clean: no read counted, and a writer then a reader still
    /// get in (a leaked count would deadlock the writer, and loom reports
    /// the deadlock). Returns the value after that write.
    fn check_clean(&self) -> usize {
        assert_eq!(self.lock.readers(), 0, "a read is still counted");
        let before = self.read_once();
        self.write_once();
        let after = self.read_once();
        assert_eq!(after, before + 1);
        assert_eq!(self.lock.readers(), 0);
        after
    }
}

/// Outcomes seen over all the executions of one model (std atomics: they
/// outlive each execution and are not part of it), so a model can check
/// that the branch it is about was reached at least once.
#[derive(Default)]
struct Seen([StdAtomicBool; 2]);

impl Seen {
    fn saw(&self, i: usize) {
        self.0[i].store(true, StdOrdering::Relaxed);
    }

    fn assert_all(&self, what: &str) {
        for (i, s) in self.0.iter().enumerate() {
            assert!(
                s.load(StdOrdering::Relaxed),
                "{what}: outcome {i} never seen"
            );
        }
    }
}

/// A reader thread racing a writer thread: the reader sees the pair before
/// or after the write, wholly, and loom sees no unordered access.
fn reader_vs_writer(barrier: Barrier) {
    loom::model(move || {
        let s = shared(barrier);
        let w = {
            let s = s.clone();
            thread::spawn(move || s.write_once())
        };
        let seen = s.read_once();
        assert!(seen <= 1);
        w.join().unwrap();
        assert_eq!(s.lock.readers(), 0);
        assert_eq!(
            s.read_once(),
            1,
            "a read after the writer left missed its write"
        );
        assert_eq!(s.lock.reader_slots(), 1, "the free slot was not reused");
    });
}

/// (1) Exclusion with the membarrier protocol: the reader takes the fast
/// path unless it sees the writer.
#[test]
fn fast_path_reader_excludes_writer() {
    reader_vs_writer(Barrier::Membarrier);
}

/// (2) The same with `Barrier::Fence`: readers are always on the slow path.
#[test]
fn slow_path_reader_excludes_writer() {
    reader_vs_writer(Barrier::Fence);
}

/// (3a) A reader arriving while a writer holds the lock parks (or waits its
/// turn); the leaving writer counts it in before waking it, so a writer
/// that tries right after the unlock cannot overlap it (loom would report
/// the race on the pair).
#[test]
fn parked_reader_is_granted_and_counted() {
    loom::model(|| {
        let s = shared(Barrier::Membarrier);
        let token = s.lock.lock_exclusive();
        let r = {
            let s = s.clone();
            thread::spawn(move || {
                let v = s.read_once();
                assert!(v >= 1, "a reader got in past the held write");
            })
        };
        s.write();
        // SAFETY: the write taken above.
        unsafe { s.lock.unlock_exclusive(token) };
        // Races the granted (or arriving) reader: it either fails or runs
        // wholly before or after the reader's read.
        if let Some(token) = s.lock.try_lock_exclusive() {
            s.write();
            // SAFETY: the write just taken.
            unsafe { s.lock.unlock_exclusive(token) };
        }
        r.join().unwrap();
        let v = s.check_clean();
        assert!(v == 2 || v == 3);
    });
}

/// (3b, 7a) Two short-lived reader threads and a writer, all on the slow
/// path: the readers share, the writer excludes both, and no count is left
/// behind. Each reader thread claims a slot and gives it back on exit (the
/// second may reuse the first's, concurrently with the writer): at most two
/// slots, and a later reader thread reuses a free one instead of adding one.
#[test]
fn two_slow_path_readers_and_a_writer() {
    loom::model(|| {
        let s = shared(Barrier::Fence);
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let s = s.clone();
                thread::spawn(move || assert!(s.read_once() <= 1))
            })
            .collect();
        s.write_once();
        for r in readers {
            r.join().unwrap();
        }
        assert_eq!(s.lock.readers(), 0);
        let slots = s.lock.reader_slots();
        assert!((1..=2).contains(&slots), "{slots} slots for two readers");
        assert_eq!(s.read_once(), 1);
        assert_eq!(s.lock.reader_slots(), slots, "a free slot was not reused");
    });
}

/// (3c) A reader arriving while a writer drains a held read backs out and
/// parks behind `HELD` (or gets in before it); the writer, woken by the held
/// read's unlock, writes and grants it on leaving.
#[test]
fn reader_parked_behind_draining_writer_is_granted() {
    loom::model(|| {
        let s = shared(Barrier::Fence);
        let r = s.lock.reader();
        let token = s.lock.lock_shared_in(&r);
        let w = {
            let s = s.clone();
            thread::spawn(move || s.write_once())
        };
        let late = {
            let s = s.clone();
            thread::spawn(move || assert!(s.read_once() <= 1))
        };
        assert_eq!(s.read(), 0, "the writer got in past a held read");
        // SAFETY: the read taken above, through `r`, on this thread.
        unsafe { s.lock.unlock_shared(token) };
        r.exit();
        w.join().unwrap();
        late.join().unwrap();
        assert_eq!(s.check_clean(), 2);
    });
}

/// (4a) Two writers back to back: the first (this thread) holds the lock
/// from the start and the second queues behind it (if it counts itself in
/// `mode` before the first leaves, it skips the heavy barrier: `SWITCHED` is
/// still set). A reader racing both parks behind the first (and is granted
/// on its unlock) or comes later: it never overlaps either write.
///
/// The first writer holds before anyone else runs, so it never parks and
/// never sets `WAITING`; a model where one writer drains a concurrent reader
/// and another writer follows hits the loom false positive below.
#[test]
fn back_to_back_writers_with_a_racing_reader() {
    loom::model(|| {
        let s = shared(Barrier::Membarrier);
        let token = s.lock.lock_exclusive();
        let second = {
            let s = s.clone();
            thread::spawn(move || s.write_once())
        };
        let reader = {
            let s = s.clone();
            thread::spawn(move || {
                assert!(s.read_once() >= 1, "a reader got in past the held write")
            })
        };
        s.write();
        // SAFETY: the write taken above.
        unsafe { s.lock.unlock_exclusive(token) };
        second.join().unwrap();
        reader.join().unwrap();
        assert_eq!(s.lock.readers(), 0);
        assert_eq!(s.read_once(), 2);
    });
}

/// (4b) Two writers, overlapping or not (the second skips the heavy barrier
/// when `SWITCHED` is still set), then a reader that learns through a
/// Relaxed counter, which orders nothing, that both left: its read (on the
/// fast path once it sees `mode` back to zero) must see both writes with
/// only the lock to order them (`writer_leave`'s Release, the fast path's
/// Acquire), or loom reports the stale read.
#[test]
fn fast_path_comes_back_after_back_to_back_writers() {
    loom::model(|| {
        let s = shared(Barrier::Membarrier);
        let done = Arc::new(AtomicUsize::new(0));
        let writers: Vec<_> = (0..2)
            .map(|_| {
                let (s, done) = (s.clone(), done.clone());
                thread::spawn(move || {
                    s.write_once();
                    // Relaxed on purpose: the reader's sight of the writes
                    // must come from the lock.
                    done.fetch_add(1, Ordering::Relaxed);
                })
            })
            .collect();
        while done.load(Ordering::Relaxed) < 2 {
            thread::yield_now();
        }
        assert_eq!(s.read_once(), 2, "stale read after both writers left");
        for w in writers {
            w.join().unwrap();
        }
        assert_eq!(s.lock.readers(), 0);
    });
}

/// (4c) Two writers racing a reader that reads twice on the fallback: the
/// reader backs out behind the first writer and may see a stale `WAITING`
/// after it left. The wake-up then clears the bit only if it woke a writer
/// (it once cleared it unconditionally; loom, which lets a plain store slip
/// between the halves of a concurrent read-modify-write, tokio-rs/loom#254,
/// then reported a race the C++/Rust model forbids).
#[test]
fn two_writers_and_a_reader_reading_twice() {
    // Three threads with parking: the largest model here, bounded to two
    // preemptions to keep it in CI's minutes.
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.check(|| {
        let s = shared(Barrier::Fence);
        let writers: Vec<_> = (0..2)
            .map(|_| {
                let s = s.clone();
                thread::spawn(move || s.write_once())
            })
            .collect();
        let r = s.lock.reader();
        let first = s.read_in(&r);
        let second = s.read_in(&r);
        assert!(first <= second && second <= 2);
        r.exit();
        for w in writers {
            w.join().unwrap();
        }
        assert_eq!(s.lock.readers(), 0);
    });
}

/// (5) A writer waiting for a reader to drain (parked, with `WAITING` set)
/// is woken by that reader's unlock; the model would deadlock otherwise.
fn reader_unlock_wakes_draining_writer(barrier: Barrier) {
    loom::model(move || {
        let s = shared(barrier);
        let r = s.lock.reader();
        let token = s.lock.lock_shared_in(&r);
        let w = {
            let s = s.clone();
            thread::spawn(move || s.write_once())
        };
        assert_eq!(s.read(), 0, "the writer got in past a held read");
        // SAFETY: the read taken above, through `r`, on this thread.
        unsafe { s.lock.unlock_shared(token) };
        r.exit();
        w.join().unwrap();
        assert_eq!(s.check_clean(), 2);
    });
}

/// (5a) Membarrier protocol: the unlock sees `mode` raised, or the
/// writer's barrier makes it see the decrement.
#[test]
fn reader_unlock_wakes_draining_writer_membarrier() {
    reader_unlock_wakes_draining_writer(Barrier::Membarrier);
}

/// (5b) Fence protocol: every unlock takes the slow exit.
#[test]
fn reader_unlock_wakes_draining_writer_fence() {
    reader_unlock_wakes_draining_writer(Barrier::Fence);
}

/// (5c) Two readers hold the lock; the writer, woken by the first unlock,
/// finds one still counted and parks again, and the second wakes it.
#[test]
fn last_of_two_readers_wakes_draining_writer() {
    loom::model(|| {
        let s = shared(Barrier::Membarrier);
        let held = Arc::new(AtomicUsize::new(0));
        let r = s.lock.reader();
        let token = s.lock.lock_shared_in(&r);
        let other = {
            let (s, held) = (s.clone(), held.clone());
            thread::spawn(move || {
                let r = s.lock.reader();
                let token = s.lock.lock_shared_in(&r);
                held.store(1, Ordering::Release);
                let _ = s.read();
                // SAFETY: the read taken above, through `r`, on this thread.
                unsafe { s.lock.unlock_shared(token) };
                r.exit();
            })
        };
        // Both reads are held before the writer comes.
        while held.load(Ordering::Acquire) == 0 {
            thread::yield_now();
        }
        let w = {
            let s = s.clone();
            thread::spawn(move || s.write_once())
        };
        assert_eq!(s.read(), 0);
        // SAFETY: the read taken above, through `r`, on this thread.
        unsafe { s.lock.unlock_shared(token) };
        r.exit();
        other.join().unwrap();
        w.join().unwrap();
        assert_eq!(s.lock.readers(), 0);
        assert_eq!(s.read_once(), 1);
    });
}

/// (6a) `try_lock_exclusive` racing a reader: when it fails (possibly after
/// switching the readers and setting `HELD`), it leaves nothing behind; a
/// reader it blocked meanwhile is let in. Both outcomes are reached.
#[test]
fn failed_try_write_leaves_state_clean() {
    let seen = std::sync::Arc::new(Seen::default());
    let seen2 = seen.clone();
    loom::model(move || {
        let s = shared(Barrier::Membarrier);
        let w = {
            let s = s.clone();
            thread::spawn(move || match s.lock.try_lock_exclusive() {
                Some(token) => {
                    s.write();
                    // SAFETY: the write just taken.
                    unsafe { s.lock.unlock_exclusive(token) };
                    true
                }
                None => false,
            })
        };
        let v = s.read_once();
        let wrote = w.join().unwrap();
        seen2.saw(usize::from(wrote));
        assert!(v <= usize::from(wrote));
        assert_eq!(s.check_clean(), usize::from(wrote) + 1);
    });
    seen.assert_all("try_lock_exclusive racing a reader");
}

/// (6b) A timed writer blocked by a held read times out, and lets in the
/// reader that parked behind its `HELD` meanwhile (while the first read is
/// still held: the join would deadlock otherwise).
#[test]
fn timed_out_writer_lets_blocked_reader_in() {
    loom::model(|| {
        let s = shared(Barrier::Membarrier);
        let r = s.lock.reader();
        let token = s.lock.lock_shared_in(&r);
        let w = {
            let s = s.clone();
            thread::spawn(move || {
                let got = s.lock.try_lock_exclusive_until(deadline());
                assert!(got.is_none(), "a writer got in past a held read");
            })
        };
        let blocked = {
            let s = s.clone();
            thread::spawn(move || assert_eq!(s.read_once(), 0))
        };
        w.join().unwrap();
        blocked.join().unwrap();
        // SAFETY: the read taken first, through `r`, on this thread.
        unsafe { s.lock.unlock_shared(token) };
        r.exit();
        assert_eq!(s.check_clean(), 1);
    });
}

/// (6c) A timed reader behind a held write times out (the writer holds the
/// lock until the reader returned) with its count back to zero, even while
/// the write is still held; a second timed reader, racing the unlock, either
/// gets in after the write or times out, and leaves no count either.
#[test]
fn timed_out_reader_leaves_count_zero() {
    loom::model(|| {
        let s = shared(Barrier::Membarrier);
        let token = s.lock.lock_exclusive();
        let timed_reader = || {
            let s = s.clone();
            thread::spawn(move || {
                let r = s.lock.reader();
                let got = s.lock.try_lock_shared_in_until(&r, deadline());
                if let Some(token) = got {
                    assert_eq!(s.read(), 1, "a reader got in past the held write");
                    // SAFETY: the read just taken, through `r`, here.
                    unsafe { s.lock.unlock_shared(token) };
                }
                r.exit();
            })
        };
        timed_reader().join().unwrap();
        assert_eq!(s.lock.readers(), 0, "a timed-out read is still counted");
        let second = timed_reader();
        s.write();
        // SAFETY: the write taken above.
        unsafe { s.lock.unlock_exclusive(token) };
        second.join().unwrap();
        assert_eq!(s.check_clean(), 2);
    });
}

/// (7b) A reader thread that exits after giving back its slot hands it to
/// the next one, whose read races a writer: the slot's count carries over
/// cleanly (one slot in all).
#[test]
fn slot_given_back_then_claimed_by_the_next_thread() {
    loom::model(|| {
        let s = shared(Barrier::Membarrier);
        let first = {
            let s = s.clone();
            thread::spawn(move || assert_eq!(s.read_once(), 0))
        };
        first.join().unwrap();
        let second = {
            let s = s.clone();
            thread::spawn(move || assert!(s.read_once() <= 1))
        };
        s.write_once();
        second.join().unwrap();
        assert_eq!(s.lock.reader_slots(), 1, "the free slot was not reused");
        assert_eq!(s.lock.readers(), 0);
    });
}

/// (7c) A thread exits holding a read (a leaked guard): its slot is
/// abandoned and stays counted, so writers keep waiting for it (a try
/// fails, a timed write times out and lets readers in again), and a new
/// reader thread gets a slot of its own.
#[test]
fn leaked_read_keeps_writers_out() {
    loom::model(|| {
        let s = shared(Barrier::Membarrier);
        let leaker = {
            let s = s.clone();
            thread::spawn(move || {
                let r = s.lock.reader();
                let _leaked = s.lock.lock_shared_in(&r);
                r.exit();
            })
        };
        // Races the leaking thread: it may get in before the read.
        if let Some(token) = s.lock.try_lock_exclusive() {
            s.write();
            // SAFETY: the write just taken.
            unsafe { s.lock.unlock_exclusive(token) };
        }
        leaker.join().unwrap();
        assert_eq!(s.lock.readers(), 1, "the leaked read is not counted");
        assert!(
            s.lock.try_lock_exclusive().is_none(),
            "a writer got past a leaked read"
        );
        assert!(s.lock.try_lock_exclusive_until(deadline()).is_none());
        let v = s.read_once();
        assert_eq!(s.lock.reader_slots(), 2, "the abandoned slot was reused");
        assert_eq!(s.lock.readers(), 1);
        assert!(v <= 1);
    });
}

/// (7d) A leaked read released after all during the thread's teardown
/// (after its slot was abandoned) makes the slot reusable again, and the
/// writer racing it gets in once it is released.
#[test]
fn late_release_of_an_abandoned_read() {
    loom::model(|| {
        let s = shared(Barrier::Membarrier);
        let leaker = {
            let s = s.clone();
            thread::spawn(move || {
                let r = s.lock.reader();
                let token = s.lock.lock_shared_in(&r);
                assert!(s.read() <= 1);
                r.exit();
                // SAFETY: the read taken above through this thread's
                // (since abandoned) slot, released on this thread.
                unsafe { s.lock.unlock_shared(token) };
            })
        };
        s.write_once();
        leaker.join().unwrap();
        assert_eq!(s.lock.readers(), 0);
        assert_eq!(s.read_once(), 1);
        assert_eq!(
            s.lock.reader_slots(),
            1,
            "the released abandoned slot was not reused"
        );
    });
}
