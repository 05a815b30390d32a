//! A lock's memory is bounded by the reader threads alive at once: slots
//! (128 bytes, 128-aligned; std's channels also allocate 128-aligned blocks,
//! so none are used here) are counted by a global allocator, through hundreds of short-lived threads, a lock dropped while a
//! thread still has its slot, and a thread that exits holding a read.
#![cfg(not(loom))]

use kernsync_percpu::PercpuRwSem;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::AtomicBool;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Mutex as StdMutex;
use std::thread;
use std::time::{Duration, Instant};

/// Counts live allocations aligned to 128 bytes: reader slots.
struct CountSlots;

static LIVE_SLOTS: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged; the counter is atomic
// and allocation-free.
unsafe impl GlobalAlloc for CountSlots {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() == 128 && layout.size() == 128 {
            LIVE_SLOTS.fetch_add(1, Ordering::SeqCst);
        }
        // SAFETY: the caller's layout, forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if layout.align() == 128 && layout.size() == 128 {
            LIVE_SLOTS.fetch_sub(1, Ordering::SeqCst);
        }
        // SAFETY: allocated by `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountSlots = CountSlots;

/// The tests count one global quantity: they run one at a time.
static SERIAL: StdMutex<()> = StdMutex::new(());

/// Waits (10 s at most) for `flag`.
fn wait_for(flag: &AtomicBool) {
    let end = Instant::now() + Duration::from_secs(10);
    while !flag.load(Ordering::SeqCst) {
        assert!(Instant::now() < end, "timed out");
        thread::sleep(Duration::from_millis(1));
    }
}

fn live() -> isize {
    LIVE_SLOTS.load(Ordering::SeqCst)
}

#[test]
fn hundreds_of_short_lived_threads_share_a_few_slots() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let base = live();
    let lock = PercpuRwSem::new(0u64);
    // 100 rounds of 4 threads alive at once: 400 reader threads in all.
    for _ in 0..100 {
        thread::scope(|s| {
            let readers: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        for _ in 0..3 {
                            assert_eq!(*lock.read() % 2, 0);
                        }
                    })
                })
                .collect();
            // `join` waits for the thread's exit, thread-locals included
            // (the end of `scope` alone does not).
            for r in readers {
                r.join().unwrap();
            }
        });
        let mut w = lock.write();
        *w += 2;
    }
    // A joined thread has given its slot back, so at most 4 are ever needed.
    assert!(lock.reader_slots() <= 4, "{} slots", lock.reader_slots());
    assert_eq!(live() - base, lock.reader_slots() as isize);
    drop(lock);
    assert_eq!(live(), base, "slots freed with the lock");
}

#[test]
fn a_lock_dropped_while_its_reader_lives_is_freed_by_that_reader() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let base = live();
    let lock = Box::new(PercpuRwSem::new(1u32));
    static READ: AtomicBool = AtomicBool::new(false);
    static GO: AtomicBool = AtomicBool::new(false);
    let reader = {
        // The thread reads the lock by address; it is kept alive until the
        // lock is gone.
        let lock: &'static PercpuRwSem<u32> = Box::leak(lock);
        let addr = lock as *const PercpuRwSem<u32> as usize;
        let t = thread::spawn(move || {
            assert_eq!(*lock.read(), 1);
            READ.store(true, Ordering::SeqCst);
            wait_for(&GO);
            // Another lock read after the first one is gone: the thread's
            // table frees the dead slot as it makes room.
            let other = PercpuRwSem::new(2u32);
            assert_eq!(*other.read(), 2);
        });
        wait_for(&READ);
        assert_eq!(live() - base, 1);
        // SAFETY: leaked above from a Box; the reader holds no guard and
        // does not touch this lock again.
        drop(unsafe { Box::from_raw(addr as *mut PercpuRwSem<u32>) });
        // The reader still owns its slot: the lock left it to the thread.
        assert_eq!(live() - base, 1);
        t
    };
    GO.store(true, Ordering::SeqCst);
    reader.join().unwrap();
    assert_eq!(live(), base, "every slot freed");
}

#[test]
fn a_thread_exiting_with_nothing_held_gives_its_slot_to_the_next() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lock = PercpuRwSem::new(());
    for _ in 0..50 {
        thread::scope(|s| s.spawn(|| drop(lock.read())).join().unwrap());
    }
    assert_eq!(lock.reader_slots(), 1);
    assert_eq!(lock.readers(), 0);
}
