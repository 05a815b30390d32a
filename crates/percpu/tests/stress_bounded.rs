//! Bounded stress tests of `PercpuRwSem` on real threads, with the process's
//! default barrier (membarrier where the kernel offers it): readers on every
//! core against interleaved writers (no overlap, no torn view, no lost
//! update), a writer getting in within a bound among hammering readers, the
//! reuse of reader slots across hundreds of short-lived threads, every reader
//! parked behind a writer let in when it leaves, and timed acquisitions that
//! give up (leaving the lock usable and the readers they blocked let in).
//!
//! Every wait is bounded: timed acquisitions and polls fail the test after
//! [`common::BOUND`], and a watchdog aborts the process if an untimed
//! `read()` or `write()` never returns. No thread panics while it holds the
//! lock; failures are recorded and asserted after joining.
#![cfg(not(loom))]

mod common;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use common::{cores, Checker, Shared, Watchdog, BOUND, WATCHDOG};
use kernsync_percpu::PercpuRwSem;

/// Polls `cond` (yielding) until it holds or `bound` passes; says which.
/// Never panics, so it may be used while holding the lock.
fn wait_for(bound: Duration, cond: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > bound {
            return false;
        }
        thread::yield_now();
    }
}

/// The calling thread's kernel id, from `/proc` (Linux); `None` elsewhere.
fn current_tid() -> Option<u32> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// Whether thread `tid` of this process is asleep (`S`: in a futex wait,
/// which is where a parked thread is). `None` if `/proc` cannot say.
fn is_asleep(tid: u32) -> Option<bool> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    // The state follows the command name, which is in parentheses and may
    // itself contain spaces or parentheses.
    let state = stat[stat.rfind(')')? + 1..].split_whitespace().next()?;
    Some(state == "S")
}

/// Waits until the threads `tids` are all asleep at once, three polls in a
/// row (so a thread passing through a brief sleep elsewhere does not count).
/// `Some(true)` once they are, `Some(false)` if they never are within
/// `bound`, `None` if `/proc` cannot tell (the caller then sleeps instead).
/// Never panics.
fn wait_all_asleep(tids: &[u32], bound: Duration) -> Option<bool> {
    let start = Instant::now();
    let mut streak = 0;
    loop {
        let mut all = true;
        for &tid in tids {
            all &= is_asleep(tid)?;
        }
        streak = if all { streak + 1 } else { 0 };
        if streak == 3 {
            return Some(true);
        }
        if start.elapsed() > bound {
            return Some(false);
        }
        thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn readers_on_every_core_exclude_two_writers_bounded_2x600_writes() {
    let _watchdog = Watchdog::new("readers_on_every_core_exclude_two_writers", WATCHDOG);
    let lock = PercpuRwSem::new(Shared::new());
    let readers = cores();
    let start = Instant::now();
    let stats = common::exclusion(&lock, readers, 2, 600, 2_000, 100_000_000);
    eprintln!(
        "{readers} readers, 2 writers, {:?}: {stats:?}",
        start.elapsed()
    );
    assert_eq!(stats.writes, 1_200);
    assert!(stats.reads >= readers, "the readers did not read");
    assert!(
        stats.interleaved_reads > 0,
        "no read saw an intermediate generation: the two sides never interleaved"
    );
}

#[test]
fn writer_completes_while_readers_hammer_bounded_200_writes() {
    let _watchdog = Watchdog::new("writer_completes_while_readers_hammer", WATCHDOG);
    let lock = PercpuRwSem::new(Shared::new());
    let readers = cores();
    let stats = common::hammer(&lock, readers, 200, 500_000_000);
    eprintln!(
        "hammer ({readers} readers, 200 writes, default barrier {:?}): max write latency {:?}, \
         mean {:?}, {} reads",
        kernsync_percpu::barrier(),
        stats.max_latency,
        stats.mean_latency,
        stats.reads
    );
    assert!(stats.reads >= readers, "the readers did not read");
}

#[test]
fn reader_slots_reused_across_400_short_lived_threads_bounded() {
    // Reader threads come and go in a rolling window of WINDOW: the oldest is
    // joined before the next is spawned, so at most WINDOW are alive at
    // once. A writer runs throughout, so reads also take the slow path and
    // park.
    const THREADS: usize = 400;
    const WINDOW: usize = 4;
    const READS_EACH: usize = 4;
    const MAX_WRITES: usize = 1_000_000;
    let _watchdog = Watchdog::new("reader_slots_reused_across_400_threads", WATCHDOG);
    let lock = PercpuRwSem::new(Shared::new());
    let checker = Checker::default();
    let stop = AtomicBool::new(false);
    let mut max_seen = 0;
    let writes = thread::scope(|s| {
        let writer = s.spawn(|| {
            let mut writes = 0;
            while writes < MAX_WRITES && !stop.load(Ordering::Relaxed) && !checker.failed() {
                match lock.try_write_for(BOUND) {
                    Some(mut g) => checker.write_section(&mut g),
                    None => {
                        checker.fail(format!("a write timed out after {BOUND:?}"));
                        break;
                    }
                }
                writes += 1;
                thread::sleep(Duration::from_micros(50));
            }
            writes
        });
        let mut alive = VecDeque::with_capacity(WINDOW);
        for t in 0..THREADS {
            if checker.failed() {
                break;
            }
            if alive.len() == WINDOW {
                // `join` returns once the thread has terminated, after its
                // thread-local destructors gave its slot back.
                let h: thread::ScopedJoinHandle<'_, ()> = alive.pop_front().unwrap();
                h.join().expect("reader panicked");
            }
            let (lock, checker) = (&lock, &checker);
            alive.push_back(s.spawn(move || {
                let mut last = 0;
                for k in 0..READS_EACH {
                    let g = if (t + k) % 2 == 0 {
                        checker.read_section(&lock.read())
                    } else {
                        match lock.try_read_for(BOUND) {
                            Some(g) => checker.read_section(&g),
                            None => {
                                checker.fail(format!("a read timed out after {BOUND:?}"));
                                return;
                            }
                        }
                    };
                    if let Some(g) = g {
                        if g < last {
                            checker.fail(format!("generation went back from {last} to {g}"));
                        }
                        last = g;
                    }
                }
            }));
            max_seen = max_seen.max(lock.reader_slots());
        }
        for h in alive {
            h.join().expect("reader panicked");
        }
        stop.store(true, Ordering::SeqCst);
        writer.join().expect("writer panicked")
    });
    checker.assert_ok();
    let slots = lock.reader_slots();
    eprintln!(
        "{THREADS} reader threads (at most {WINDOW} alive at once), {writes} writes: \
         {slots} reader slots (at most {max_seen} seen during the churn)"
    );
    assert!(writes > 0, "the writer never ran");
    assert!(slots >= 1);
    // No slack is needed: every reader thread that was joined has given its
    // slot back (join waits for its thread-local destructors), at most
    // WINDOW threads own or are claiming a slot at any time, and a claim
    // takes a free slot whenever one exists, so the list only grows when
    // WINDOW live threads own every slot there is. The writer and this
    // thread never read the lock during the churn.
    assert!(
        slots <= WINDOW,
        "{slots} reader slots after {THREADS} threads, at most {WINDOW} alive at once: \
         slots of exited threads are not reused"
    );
    assert!(!lock.is_locked());
    // And the lock is still whole and writable.
    assert!(lock.try_write().is_some());
    assert_eq!(lock.read().check(), Ok(writes as u64));
}

#[test]
fn readers_parked_behind_a_writer_all_get_in_bounded_3_rounds_of_8() {
    const READERS: usize = 8;
    const ROUNDS: usize = 3;
    let _watchdog = Watchdog::new("readers_parked_behind_a_writer_all_get_in", WATCHDOG);
    let lock = PercpuRwSem::new(Shared::new());
    for round in 0..ROUNDS {
        let checker = Checker::default();
        let about_to_read = AtomicUsize::new(0);
        let entered = AtomicUsize::new(0);
        let tids = Mutex::new(Vec::new());
        let mut guard = lock.write();
        guard.update();
        let expected = guard.generation;
        let (let_in_after, parked) = thread::scope(|s| {
            for _ in 0..READERS {
                s.spawn(|| {
                    if let Some(tid) = current_tid() {
                        tids.lock().unwrap().push(tid);
                    }
                    about_to_read.fetch_add(1, Ordering::SeqCst);
                    let g = lock.read();
                    entered.fetch_add(1, Ordering::SeqCst);
                    match checker.read_section(&g) {
                        Some(g) if g != expected => checker.fail(format!(
                            "a reader let in after the write saw generation {g}, not {expected}"
                        )),
                        _ => {}
                    }
                    // Hold the read until every reader is in: they were let
                    // in together, not one writer-free window at a time.
                    if !wait_for(BOUND, || entered.load(Ordering::SeqCst) == READERS) {
                        checker.fail("not every parked reader got in");
                    }
                    drop(g);
                });
            }
            // Not a panic while the write is held: record, release, assert.
            if !wait_for(BOUND, || about_to_read.load(Ordering::SeqCst) == READERS) {
                checker.fail("the reader threads did not start");
            }
            let tids = tids.lock().unwrap().clone();
            let parked = if tids.len() == READERS {
                wait_all_asleep(&tids, BOUND)
            } else {
                None
            };
            match parked {
                Some(true) => {}
                Some(false) => {
                    checker.fail("readers blocked behind a writer did not park (still running)")
                }
                // No /proc: give them time to reach the parking lot.
                None => thread::sleep(Duration::from_millis(100)),
            }
            if entered.load(Ordering::SeqCst) != 0 {
                checker.fail("a reader got in while the writer held the lock");
            }
            let released = Instant::now();
            drop(guard);
            if !wait_for(BOUND, || entered.load(Ordering::SeqCst) == READERS) {
                checker.fail(format!(
                    "only {} of {READERS} parked readers got in within {BOUND:?}",
                    entered.load(Ordering::SeqCst)
                ));
            }
            (released.elapsed(), parked)
        });
        checker.assert_ok();
        eprintln!(
            "round {round}: {READERS} readers (parked: {parked:?}) all in {let_in_after:?} after \
             the writer left"
        );
        assert!(!lock.is_locked());
    }
    assert_eq!(lock.read().check(), Ok(ROUNDS as u64));
}

#[test]
fn timed_out_try_write_for_lets_the_readers_it_blocked_in() {
    const WRITER_TIMEOUT: Duration = Duration::from_millis(400);
    const BLOCKED: usize = 3;
    let _watchdog = Watchdog::new(
        "timed_out_try_write_for_lets_the_readers_it_blocked_in",
        WATCHDOG,
    );
    let lock = PercpuRwSem::new(Shared::new());
    let checker = Checker::default();
    let entered = AtomicUsize::new(0);
    let tids = Mutex::new(Vec::new());
    // This thread holds a read throughout, so the writer cannot drain.
    let held = lock.read();
    let (wrote, waited, try_read_refused, parked) = thread::scope(|s| {
        let writer = s.spawn(|| {
            let start = Instant::now();
            let wrote = lock.try_write_for(WRITER_TIMEOUT).is_some();
            (wrote, start.elapsed())
        });
        if !wait_for(BOUND, || lock.is_locked_exclusive()) {
            checker.fail("the writer never started waiting");
        }
        // New readers are held off by the waiting writer...
        let try_read_refused = s
            .spawn(|| lock.try_read().is_none())
            .join()
            .expect("try_read panicked");
        let writer_still_waiting = lock.is_locked_exclusive();
        // ...and readers that block meanwhile park behind it.
        for _ in 0..BLOCKED {
            s.spawn(|| {
                if let Some(tid) = current_tid() {
                    tids.lock().unwrap().push(tid);
                }
                match lock.try_read_for(BOUND) {
                    Some(g) => {
                        checker.read_section(&g);
                        entered.fetch_add(1, Ordering::SeqCst);
                    }
                    None => checker.fail("a reader blocked by a timed-out writer stayed blocked"),
                }
            });
        }
        // Best effort: see them parked while the writer still waits (if
        // they are not, they meet the timed-out writer some other way).
        let parked = wait_for(BOUND, || tids.lock().unwrap().len() == BLOCKED)
            && wait_all_asleep(&tids.lock().unwrap().clone(), WRITER_TIMEOUT / 4) == Some(true)
            && lock.is_locked_exclusive();
        let early = entered.load(Ordering::SeqCst);
        if early != 0 && lock.is_locked_exclusive() {
            checker.fail(format!("{early} readers got in past the waiting writer"));
        }
        let (wrote, waited) = writer.join().expect("writer panicked");
        // The writer gave up while this thread still holds its read: the
        // readers it held off must be let in now, not when we unlock.
        if !wait_for(BOUND, || entered.load(Ordering::SeqCst) == BLOCKED) {
            checker.fail(format!(
                "only {} of {BLOCKED} readers got in after the writer timed out",
                entered.load(Ordering::SeqCst)
            ));
        }
        (
            wrote,
            waited,
            !writer_still_waiting || try_read_refused,
            parked,
        )
    });
    drop(held);
    checker.assert_ok();
    eprintln!(
        "timed-out writer waited {waited:?}; {BLOCKED} readers it blocked (parked behind it: \
         {parked}) got in after it gave up"
    );
    assert!(!wrote, "try_write_for got in past a held read");
    assert!(
        waited >= WRITER_TIMEOUT,
        "try_write_for gave up early: {waited:?}"
    );
    assert!(
        waited < BOUND,
        "try_write_for overran its timeout: {waited:?}"
    );
    assert!(try_read_refused, "try_read got in past a waiting writer");
    assert!(!lock.is_locked(), "the timed-out writer left the lock held");
    assert!(!lock.is_locked_exclusive());
    // Readers and writers both get in afterwards.
    let reader_in = thread::scope(|s| {
        s.spawn(|| lock.try_read_for(BOUND).map(|g| g.check()))
            .join()
            .expect("reader panicked")
    });
    assert_eq!(reader_in, Some(Ok(0)));
    let mut g = lock
        .try_write_for(BOUND)
        .expect("no write after the timeout");
    g.update();
    drop(g);
    assert_eq!(lock.read().check(), Ok(1));
}

#[test]
fn timed_reads_and_writes_time_out_while_a_writer_holds() {
    const TIMEOUT: Duration = Duration::from_millis(200);
    let _watchdog = Watchdog::new(
        "timed_reads_and_writes_time_out_while_a_writer_holds",
        WATCHDOG,
    );
    let lock = PercpuRwSem::new(Shared::new());
    let mut guard = lock.write();
    guard.update();
    // Other threads try while this one holds the write; their results are
    // asserted after it is released.
    let (read_for, read_until, try_read, write_for) = thread::scope(|s| {
        let read_for = s.spawn(|| {
            let start = Instant::now();
            let got = lock.try_read_for(TIMEOUT).is_some();
            (got, start.elapsed())
        });
        let read_until = s.spawn(|| {
            let start = Instant::now();
            let got = lock.try_read_until(start + TIMEOUT).is_some();
            (got, start.elapsed())
        });
        let try_read = s.spawn(|| lock.try_read().is_some());
        let write_for = s.spawn(|| {
            let start = Instant::now();
            let got = lock.try_write_for(TIMEOUT).is_some();
            (got, start.elapsed())
        });
        (
            read_for.join().expect("try_read_for panicked"),
            read_until.join().expect("try_read_until panicked"),
            try_read.join().expect("try_read panicked"),
            write_for.join().expect("try_write_for panicked"),
        )
    });
    let still_held = lock.is_locked_exclusive();
    drop(guard);
    assert!(still_held, "the write was lost while others tried");
    eprintln!(
        "timeouts of {TIMEOUT:?} against a held write: try_read_for {:?}, try_read_until {:?}, \
         try_write_for {:?}",
        read_for.1, read_until.1, write_for.1
    );
    for (what, (got, waited)) in [
        ("try_read_for", read_for),
        ("try_read_until", read_until),
        ("try_write_for", write_for),
    ] {
        assert!(!got, "{what} got in past a held write");
        assert!(waited >= TIMEOUT, "{what} gave up early: {waited:?}");
        assert!(waited < BOUND, "{what} overran its timeout: {waited:?}");
    }
    assert!(!try_read, "try_read got in past a held write");
    assert!(!lock.is_locked());
    // The timed-out reader left nothing counted: a writer gets in at once
    // (no reader to drain), and readers see the update.
    assert!(lock.try_write().is_some(), "a timed-out read left a count");
    let seen = thread::scope(|s| {
        s.spawn(|| lock.try_read_for(BOUND).map(|g| g.check()))
            .join()
            .expect("reader panicked")
    });
    assert_eq!(seen, Some(Ok(1)));
}
