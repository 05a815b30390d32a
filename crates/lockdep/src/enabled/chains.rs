//! The chain cache: which held-lock sequences have been validated.
//!
//! A chain key (the hash of the held sequence of entry ids, see
//! [`EntryId::mix_into`](super::entry::EntryId::mix_into)) is inserted once
//! every check of that sequence has passed; a later acquisition that would
//! build the same sequence finds it with a lock-free probe and skips the
//! graph. Inserts are serialized by the graph lock, which also counts them
//! against the chain bound.

use crate::table::Table;

/// Slots of the chain cache: twice the largest chain bound, so the table is
/// at most half full. 2^17 slots x 12 bytes = 1.5 MiB of zeroed memory, of
/// which only touched pages cost anything.
pub(crate) const CHAIN_SLOTS: usize = 1 << 17;

#[cfg(not(loom))]
static CHAINS: Table<CHAIN_SLOTS> = Table::new();
#[cfg(loom)]
static CHAINS: std::sync::LazyLock<Table<CHAIN_SLOTS>> = std::sync::LazyLock::new(Table::new);

/// Whether the chain with this key has been validated (lock-free, no writes).
#[inline(always)]
pub(crate) fn cached(key: u64) -> bool {
    CHAINS.contains(key)
}

/// Records a validated chain. The caller holds the graph lock (inserts are
/// serialized) and keeps the count within [`CHAIN_SLOTS`]` / 2`.
pub(crate) fn insert(key: u64) {
    CHAINS.insert(key, 1);
}
