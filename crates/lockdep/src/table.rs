//! An insert-only, lock-free hash table of nonzero `u64` keys to `u32` values.
//!
//! Used for the chain cache (has this held-lock sequence been validated?) and
//! the site cache (which class is this construction site?). Lookups are
//! lock-free and never write; inserts are rare and serialized by the caller
//! (the graph lock). The caller bounds the number of entries to at most half
//! the slots, so probe sequences stay short and always end at an empty slot.
//!
//! | word | meaning |
//! |---|---|
//! | `keys[i] == 0` | slot empty; a probe for any key stops here |
//! | `keys[i] == k` | slot holds `k`; `vals[i]` is its value, published before `k` |

use crate::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// See the module docs. `N` must be a power of two.
pub(crate) struct Table<const N: usize> {
    keys: [AtomicU64; N],
    vals: [AtomicU32; N],
}

impl<const N: usize> Table<N> {
    const MASK: usize = {
        assert!(N.is_power_of_two());
        N - 1
    };

    /// An empty table (all zeros, so a `static` one lives in `.bss` and costs
    /// only the pages that are touched).
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        Table {
            keys: [const { AtomicU64::new(0) }; N],
            vals: [const { AtomicU32::new(0) }; N],
        }
    }

    /// An empty table (loom's atomics are not `const`).
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        Table {
            keys: core::array::from_fn(|_| AtomicU64::new(0)),
            vals: core::array::from_fn(|_| AtomicU32::new(0)),
        }
    }

    #[inline]
    fn slot(key: u64) -> usize {
        (key ^ (key >> 29)) as usize & Self::MASK
    }

    /// The value stored for `key`, if any. `key` must be nonzero.
    #[inline]
    pub(crate) fn get(&self, key: u64) -> Option<u32> {
        let mut i = Self::slot(key);
        loop {
            // Pairs with the Release store of the key in `insert`: seeing the
            // key means seeing the value stored before it.
            let k = self.keys[i].load(Ordering::Acquire);
            if k == key {
                return Some(self.vals[i].load(Ordering::Relaxed));
            }
            if k == 0 {
                return None;
            }
            i = (i + 1) & Self::MASK;
        }
    }

    /// Whether `key` is present. A key of 0 (the empty marker) reads as
    /// present: the chain cache accepts that as it accepts hash collisions.
    ///
    /// Relaxed: a caller that only asks *whether* a key was inserted reads
    /// nothing published with it, so it needs no ordering (a key seen late
    /// only sends the caller down its slow path once more).
    #[inline]
    pub(crate) fn contains(&self, key: u64) -> bool {
        let mut i = Self::slot(key);
        let mut k = self.keys[i].load(Ordering::Relaxed);
        while k != key {
            if k == 0 {
                return false;
            }
            i = (i + 1) & Self::MASK;
            k = self.keys[i].load(Ordering::Relaxed);
        }
        true
    }

    /// Inserts `key -> val` unless `key` is present (0 is, and is not stored).
    ///
    /// Callers serialize inserts (the graph lock) and keep the table at most
    /// half full, so an empty slot is always found.
    pub(crate) fn insert(&self, key: u64, val: u32) {
        let mut i = Self::slot(key);
        loop {
            // Relaxed: inserts are serialized by the caller's lock, so this
            // thread sees every key an earlier insert stored.
            let k = self.keys[i].load(Ordering::Relaxed);
            if k == key {
                return;
            }
            if k == 0 {
                self.vals[i].store(val, Ordering::Relaxed);
                // Pairs with the Acquire load in `get`.
                self.keys[i].store(key, Ordering::Release);
                return;
            }
            i = (i + 1) & Self::MASK;
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::Table;

    #[test]
    fn insert_get_and_collisions() {
        let t: Table<16> = Table::new();
        // Keys that land in the same slot probe past each other.
        let keys = [1u64, 17, 33, 49, 0xdead_beef];
        for (i, &k) in keys.iter().enumerate() {
            assert_eq!(t.get(k), None);
            t.insert(k, i as u32 + 10);
        }
        for (i, &k) in keys.iter().enumerate() {
            assert_eq!(t.get(k), Some(i as u32 + 10));
        }
        t.insert(17, 99); // present keys keep their first value
        assert_eq!(t.get(17), Some(11));
        assert_eq!(t.get(2), None);
    }
}
