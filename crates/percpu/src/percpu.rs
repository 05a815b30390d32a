//! `PercpuRwSem<T>`: the order-checked read-mostly lock.

use kernsync_lockdep::LockKind;
use std::time::{Duration, Instant};

use kernsync_rwsem::Checked;

use crate::RawPercpuRwSem;

/// The raw lock of [`PercpuRwSem`]: [`RawPercpuRwSem`], checked.
pub type CheckedRawPercpuRwSem = Checked<RawPercpuRwSem>;
/// A read guard of a [`PercpuRwSem`] (lock_api's, with `map`, `try_map`,
/// `unlocked`).
pub type PercpuReadGuard<'a, T> = lock_api::RwLockReadGuard<'a, CheckedRawPercpuRwSem, T>;
/// A write guard of a [`PercpuRwSem`] (with `map`).
pub type PercpuWriteGuard<'a, T> = lock_api::RwLockWriteGuard<'a, CheckedRawPercpuRwSem, T>;
/// A read guard mapped to a part of the data.
pub type MappedPercpuReadGuard<'a, T> =
    lock_api::MappedRwLockReadGuard<'a, CheckedRawPercpuRwSem, T>;
/// A write guard mapped to a part of the data.
pub type MappedPercpuWriteGuard<'a, T> =
    lock_api::MappedRwLockWriteGuard<'a, CheckedRawPercpuRwSem, T>;

/// A read-mostly reader/writer lock: a read writes only the calling
/// thread's own cache line, a write is rare and slow (the userspace
/// counterpart of Linux's `percpu_rw_semaphore`, behind `cpus_read_lock()`).
///
/// - A read counts itself in a per-thread slot and checks one word that
///   writers change: no atomic read-modify-write, no shared line written.
/// - A write serialises with other writers, switches readers to the slow
///   path (one `membarrier` syscall, shared by back-to-back writers), blocks
///   new readers, waits (parking) for the reads in flight, and on release
///   lets every reader that waited in at once.
/// - A waiting writer has preference over new readers, so a read flood
///   cannot starve it; readers parked behind a writer are counted in by it
///   when it leaves, so a stream of writers cannot starve them.
/// - For the validator reads are `Read` (non-recursive, like Linux's
///   `percpu_down_read`): a thread that reads a lock it already reads gets a
///   "possible recursive locking" report whether or not a writer is waiting,
///   since a waiting writer would hang it. Writes are `Write`.
/// - Memory: 256 bytes, plus one 128-byte slot per thread alive that has read
///   the lock. A thread's slot is given back when it exits and reused by the
///   next reader thread. A thread that exits while holding a read (a leaked
///   guard) keeps its slot counted: writers wait for it (its `&T` may still
///   be in use), and the validator reports the leak.
/// - No poisoning; guards are `!Send`.
///
/// ```
/// use kernsync_percpu::PercpuRwSem;
/// use kernsync_lockdep::LockClass;
///
/// static CPU_HOTPLUG_LOCK_CLASS: LockClass = LockClass::new("cpu_hotplug_lock");
/// static ONLINE_CPUS: PercpuRwSem<Vec<u32>> = PercpuRwSem::with_class(Vec::new(), &CPU_HOTPLUG_LOCK_CLASS);
///
/// ONLINE_CPUS.write().extend([0, 1]); // a hotplug event: rare
/// let n = ONLINE_CPUS.read().len(); // cpus_read_lock(): every core, all the time
/// assert_eq!(n, 2);
/// ```
pub struct PercpuRwSem<T: ?Sized> {
    inner: lock_api::RwLock<CheckedRawPercpuRwSem, T>,
}

kernsync_rwsem::checked_lock_impls!(PercpuRwSem(lock_api::RwLock, RawPercpuRwSem), try = try_read, kind = PERCPU_RWSEM);

/// What a [`PercpuRwSem`] offers, for the validator's hints: reads that are
/// nearly free, and nothing else (no recursive or upgradable read, no
/// nesting annotations).
const PERCPU_RWSEM: LockKind = LockKind {
    name: "PercpuRwSem",
    recursive_read: None,
    upgradable_read: None,
    nested: None,
    nest_lock: None,
    ordered: None,
    named: Some("PercpuRwSem::named"),
};

impl<T: ?Sized> PercpuRwSem<T> {
    #[inline]
    fn raw(&self) -> &CheckedRawPercpuRwSem {
        // SAFETY: only used for queries and the validator handle, never to
        // unlock behind a guard.
        unsafe { self.inner.raw() }
    }

    /// Shared access, waiting for a writer that holds *or waits for* the
    /// lock. On the fast path: a count in the thread's own slot.
    #[inline]
    #[track_caller]
    pub fn read(&self) -> PercpuReadGuard<'_, T> {
        self.inner.read()
    }

    /// [`read`](PercpuRwSem::read) if it can be had at once.
    #[inline]
    #[track_caller]
    pub fn try_read(&self) -> Option<PercpuReadGuard<'_, T>> {
        self.inner.try_read()
    }

    /// [`read`](PercpuRwSem::read), giving up after `timeout`.
    #[inline]
    #[track_caller]
    pub fn try_read_for(&self, timeout: Duration) -> Option<PercpuReadGuard<'_, T>> {
        self.inner.try_read_for(timeout)
    }

    /// [`read`](PercpuRwSem::read), giving up at `deadline`.
    #[inline]
    #[track_caller]
    pub fn try_read_until(&self, deadline: Instant) -> Option<PercpuReadGuard<'_, T>> {
        self.inner.try_read_until(deadline)
    }

    /// Exclusive access: waits for other writers, then for the reads in
    /// flight to end (new reads wait from the moment it is the writer).
    #[inline]
    #[track_caller]
    pub fn write(&self) -> PercpuWriteGuard<'_, T> {
        self.inner.write()
    }

    /// [`write`](PercpuRwSem::write) if it can be had at once (no writer,
    /// no reader).
    #[inline]
    #[track_caller]
    pub fn try_write(&self) -> Option<PercpuWriteGuard<'_, T>> {
        self.inner.try_write()
    }

    /// [`write`](PercpuRwSem::write), giving up after `timeout` (the readers
    /// it blocked meanwhile are let in).
    #[inline]
    #[track_caller]
    pub fn try_write_for(&self, timeout: Duration) -> Option<PercpuWriteGuard<'_, T>> {
        self.inner.try_write_for(timeout)
    }

    /// [`write`](PercpuRwSem::write), giving up at `deadline`.
    #[inline]
    #[track_caller]
    pub fn try_write_until(&self, deadline: Instant) -> Option<PercpuWriteGuard<'_, T>> {
        self.inner.try_write_until(deadline)
    }

    /// Whether the lock is held (by anyone, in any mode; a snapshot that
    /// sums every reader slot).
    #[inline]
    pub fn is_locked(&self) -> bool {
        self.inner.is_locked()
    }

    /// Whether a writer holds the lock (or is waiting for the reads in
    /// flight, new readers already held off).
    #[inline]
    pub fn is_locked_exclusive(&self) -> bool {
        self.inner.is_locked_exclusive()
    }

    /// How many reader slots the lock has: at most one per thread alive that
    /// has read it, plus free ones (left by exited threads, reused by the
    /// next). 128 bytes each.
    #[inline]
    pub fn reader_slots(&self) -> usize {
        self.raw().raw().reader_slots()
    }

    /// The reads held now, over all threads (a snapshot that sums every
    /// reader slot; a leaked read guard stays counted).
    #[inline]
    pub fn readers(&self) -> usize {
        self.raw().raw().readers()
    }

    /// Whether the calling thread holds a read of this lock (from its own
    /// slot: exact whether or not the validator is compiled in). A writer
    /// that would wait for itself can check this first.
    #[inline]
    pub fn is_read_held_by_current_thread(&self) -> bool {
        self.raw().raw().is_read_held_by_current_thread()
    }
}
