//! A loom model of the insert-only chain table (`src/table.rs`): lock-free
//! lookups racing with inserts.
//!
//! The table's contract: inserts are serialized by the caller (the graph
//! lock; here a loom `Mutex`), lookups take no lock and never write, and the
//! caller keeps the table at most half full, so every probe ends at an empty
//! slot. Within that contract:
//!
//! - a lookup returns either nothing or the value inserted with the key
//!   (never a torn pair: the value is published before the key);
//! - a key whose insert happened before the lookup (by a flag or a join) is
//!   found;
//! - a key never inserted is never found;
//! - a second insert of a present key changes nothing: the first value stays
//!   and no second slot is taken.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3
//! cargo test -p kernsync-lockdep --release --test loom_table`.
#![cfg(loom)]

// The production sources, compiled against loom's atomics: `table.rs` takes
// its atomics from `crate::sync`, which under `cfg(loom)` is loom's.
#[path = "../src/sync.rs"]
mod sync;
#[path = "../src/table.rs"]
mod table;

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;
use table::Table;

/// Inserts `key -> val` as the validator does, under the lock that
/// serializes inserts, and records in it the value of the first insert of
/// each key.
fn insert<const N: usize>(t: &Table<N>, lock: &Mutex<Vec<(u64, u32)>>, key: u64, val: u32) {
    let mut firsts = lock.lock().unwrap();
    t.insert(key, val);
    if !firsts.iter().any(|&(k, _)| k == key) {
        firsts.push((key, val));
    }
}

/// Two inserters of different keys that collide (home slot 1 for both:
/// `slot(k)` is `k & 7` for small keys, so 9 probes past 1) and a lock-free
/// reader. A flag set after an insert returned makes the reader's lookup
/// happen after it.
#[test]
fn colliding_inserts_and_a_reader() {
    loom::model(|| {
        let t = Arc::new(Table::<8>::new());
        let lock = Arc::new(Mutex::new(Vec::new()));
        let done = Arc::new(AtomicBool::new(false));
        let t1 = {
            let (t, lock, done) = (t.clone(), lock.clone(), done.clone());
            thread::spawn(move || {
                insert(&t, &lock, 1, 10);
                done.store(true, Ordering::Release);
            })
        };
        let t2 = {
            let (t, lock) = (t.clone(), lock.clone());
            thread::spawn(move || insert(&t, &lock, 9, 20))
        };

        // The reader (this thread), racing with both inserts.
        let saw_done = done.load(Ordering::Acquire);
        let got9 = t.get(9);
        assert!(matches!(got9, None | Some(20)), "get(9) = {got9:?}");
        let got1 = t.get(1);
        assert!(matches!(got1, None | Some(10)), "get(1) = {got1:?}");
        if saw_done {
            assert_eq!(got1, Some(10), "insert(1) returned before, yet not found");
        }
        // 17 shares the home slot and was never inserted.
        assert_eq!(t.get(17), None);

        t1.join().unwrap();
        t2.join().unwrap();
        assert_eq!(t.get(1), Some(10));
        assert_eq!(t.get(9), Some(20));
        assert_eq!(t.get(17), None);
        assert_eq!(t.get(2), None);
    });
}

/// Two inserters of the same key with different values, and a reader. The
/// first insert under the lock wins, and the second takes no slot: in a
/// two-slot table one key is the documented maximum (half full), so a
/// duplicate would fill it and a lookup of an absent key would never find
/// the empty slot that ends its probe (loom fails such a model on its branch
/// bound instead of spinning).
#[test]
fn same_key_twice_keeps_the_first_value_and_one_slot() {
    loom::model(|| {
        let t = Arc::new(Table::<2>::new());
        let lock = Arc::new(Mutex::new(Vec::new()));
        let spawn = |val: u32| {
            let (t, lock) = (t.clone(), lock.clone());
            thread::spawn(move || insert(&t, &lock, 2, val))
        };
        let (t1, t2) = (spawn(1), spawn(2));

        let got = t.get(2);
        assert!(matches!(got, None | Some(1) | Some(2)), "get(2) = {got:?}");
        assert_eq!(t.get(4), None);

        t1.join().unwrap();
        t2.join().unwrap();
        let first = lock.lock().unwrap()[0];
        assert_eq!(first.0, 2);
        assert_eq!(t.get(2), Some(first.1), "the first insert's value stays");
        // Both an absent key with the same home slot (4) and one with the
        // other home slot (3) end at an empty slot.
        assert_eq!(t.get(4), None);
        assert_eq!(t.get(3), None);
    });
}

/// The table filled to its documented bound (half of 8 slots) with keys of
/// one home slot (6), so the probe sequence wraps around the end (slots 6,
/// 7, 0 and 1). Two keys are there before the threads start, two are
/// inserted concurrently with lookups of present and absent keys.
#[test]
fn half_full_with_wrapping_probes() {
    loom::model(|| {
        let t = Arc::new(Table::<8>::new());
        let lock = Arc::new(Mutex::new(Vec::new()));
        insert(&t, &lock, 6, 60);
        insert(&t, &lock, 14, 140);
        let spawn = |key: u64, val: u32| {
            let (t, lock) = (t.clone(), lock.clone());
            thread::spawn(move || insert(&t, &lock, key, val))
        };
        let (t1, t2) = (spawn(22, 220), spawn(30, 300));

        // 38 (home 6) probes 6, 7, 0, 1 and stops at the empty 2.
        assert_eq!(t.get(38), None);
        let got = t.get(30);
        assert!(matches!(got, None | Some(300)), "get(30) = {got:?}");
        assert_eq!(t.get(14), Some(140));

        t1.join().unwrap();
        t2.join().unwrap();
        for (k, v) in [(6, 60), (14, 140), (22, 220), (30, 300)] {
            assert_eq!(t.get(k), Some(v), "key {k}");
        }
        // Absent keys whose probes cross the occupied run: 38 (home 6),
        // 7 (home 7, occupied by a key of home 6), 1 (home 1, likewise).
        for k in [38, 7, 1] {
            assert_eq!(t.get(k), None, "key {k}");
        }
    });
}
