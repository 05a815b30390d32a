//! The held-entry format: one table of bits, as lockdep_internals.h keeps it.
//!
//! A held lock is identified by one word, [`EntryId`]; the chain key hashes
//! the sequence of them. A `LockMap` caches its class as [`ClassBits`], which
//! is an `EntryId`'s class and context with the middle bytes zero, so the
//! fast path builds an id with three ORs. Nothing else in the validator
//! shifts or masks these words: it calls the accessors here.
//!
//! | bits    | `EntryId`                        | `ClassBits`                  |
//! |---------|----------------------------------|------------------------------|
//! | 0..32   | class id (0: not tracked)        | class id (0: unresolved)     |
//! | 32..40  | subclass (below 8)               | 0                            |
//! | 40..48  | [`Mode`]                         | 0                            |
//! | 48..56  | entry flags (`E_*`)              | 0                            |
//! | 56..64  | context: the class's flags       | the class's flags (`FLAG_*`) |
//!
//! The context byte of a validated class is its flags: `FLAG_ATOMIC` and
//! `FLAG_NO_ALLOC` shape what may be done while it is held,
//! `FLAG_AWAITABLE` lets it be held across an `.await` in a tracked task,
//! bit 6 is the cache-only `BY_DEPTH` mark (below), and
//! `FLAG_NOT_VALIDATED` (the top bit) never reaches an entry, which is what
//! lets one signed test of `ClassBits` mean "resolved and validated".

#[cfg(test)]
use crate::class::FLAG_NO_ALLOC;
use crate::class::{FLAG_ATOMIC, FLAG_AWAITABLE, FLAG_NOT_VALIDATED};
use crate::mode::Mode;
use crate::report::Site;
use core::fmt;
use core::panic::Location;

const SUBCLASS_SHIFT: u32 = 32;
const MODE_SHIFT: u32 = 40;
const FLAGS_SHIFT: u32 = 48;
/// Where a class's flags sit, in both words.
const CLASS_FLAGS_SHIFT: u32 = 56;
const CLASS_MASK: u64 = u32::MAX as u64;
/// The mark of a cached class taken by depth ([`ClassBits::by_depth`]):
/// `FLAG_NOT_VALIDATED` with a class-flag bit no class has (bit 6), in a
/// `LockMap`'s cache only, never in the graph or an entry.
const BY_DEPTH: u64 = (FLAG_NOT_VALIDATED as u64 | 1 << 6) << CLASS_FLAGS_SHIFT;

/// Entry flag: acquired by a trylock.
pub(crate) const E_TRY: u8 = 1 << 0;
/// Entry flag: acquired under a nest lock; later nest acquisitions of the
/// same class merge into this entry (`refs`).
pub(crate) const E_NEST: u8 = 1 << 1;
/// Entry flag: acquired in a stated order (`order` is its key).
pub(crate) const E_ORDERED: u8 = 1 << 2;
/// Entry flag: the allocation pseudo-lock taken by `CheckedAlloc`; its site
/// is "an allocation", not a line of code.
pub(crate) const E_ALLOC: u8 = 1 << 3;

/// A class as a `LockMap` caches it: `class id | class flags << 56`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct ClassBits(u64);

impl ClassBits {
    /// Not resolved this time and not to be cached: a class met while the
    /// graph lock is held by this thread (the next use resolves it).
    pub const UNRESOLVED: ClassBits = ClassBits::new(1, FLAG_NOT_VALIDATED);
    /// A class that could not be registered (a bound was reached).
    pub const NOT_VALIDATED: ClassBits = ClassBits::new(0, FLAG_NOT_VALIDATED);

    #[inline]
    pub const fn new(class: u32, flags: u32) -> ClassBits {
        ClassBits(class as u64 | (flags as u64) << CLASS_FLAGS_SHIFT)
    }

    /// The raw word (0 means "not resolved yet" in a `LockMap`'s cache).
    #[inline(always)]
    pub const fn to_raw(self) -> u64 {
        self.0
    }

    #[inline(always)]
    pub const fn from_raw(raw: u64) -> ClassBits {
        ClassBits(raw)
    }

    /// The cache word of a class whose locks are taken by depth (a
    /// `LockMap::first_use` class): marked not validated, so the fast
    /// path's one signed test sends each acquisition to the cold path,
    /// which takes the mark off ([`unmarked`](ClassBits::unmarked)) and
    /// picks the subclass. Costs nothing to the other locks.
    #[inline]
    pub const fn by_depth(self) -> ClassBits {
        ClassBits(self.0 | BY_DEPTH)
    }

    /// A cache word without its [`by_depth`](ClassBits::by_depth) mark,
    /// and whether it had one.
    #[inline]
    pub const fn unmarked(self) -> (ClassBits, bool) {
        if self.0 & BY_DEPTH == BY_DEPTH {
            (ClassBits(self.0 & !BY_DEPTH), true)
        } else {
            (self, false)
        }
    }

    /// Resolved and validated: one signed test (0 is unresolved; the top
    /// bit, `FLAG_NOT_VALIDATED`, makes the word negative).
    #[inline(always)]
    pub const fn is_validated_raw(raw: u64) -> bool {
        (raw as i64) > 0
    }

    #[inline]
    pub const fn class(self) -> u32 {
        self.0 as u32
    }

    #[inline]
    pub const fn flags(self) -> u32 {
        (self.0 >> CLASS_FLAGS_SHIFT) as u32
    }

    #[inline]
    pub const fn is_validated(self) -> bool {
        self.flags() & FLAG_NOT_VALIDATED == 0
    }

    /// Whether the class is atomic (non-sleeping).
    #[inline]
    pub const fn is_atomic(self) -> bool {
        self.flags() & FLAG_ATOMIC != 0
    }

    /// The same class, with the flag `flag` (`FLAG_AWAITABLE`) added when
    /// it is resolved and validated (the marks stay as they are).
    #[inline]
    pub const fn with_flag(self, flag: u32) -> ClassBits {
        match self.is_validated() {
            true => ClassBits(self.0 | (flag as u64) << CLASS_FLAGS_SHIFT),
            false => self,
        }
    }
}

/// A held entry's identity (see the module's table). All of it is what the
/// chain key hashes for the entry.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct EntryId(u64);

impl EntryId {
    /// No entry: class 0.
    pub const NONE: EntryId = EntryId(0);

    /// The id of an acquisition of a validated class.
    #[inline(always)]
    pub const fn new(class: ClassBits, subclass: u8, mode: Mode, flags: u8) -> EntryId {
        EntryId(
            class.0
                | (subclass as u64) << SUBCLASS_SHIFT
                | (mode as u64) << MODE_SHIFT
                | (flags as u64) << FLAGS_SHIFT,
        )
    }

    #[inline(always)]
    pub const fn class(self) -> u32 {
        (self.0 & CLASS_MASK) as u32
    }

    /// The class and its flags, without subclass, mode and entry flags.
    #[inline]
    pub const fn class_bits(self) -> ClassBits {
        ClassBits(self.0 & (CLASS_MASK | 0xff << CLASS_FLAGS_SHIFT))
    }

    #[inline]
    pub const fn subclass(self) -> u8 {
        (self.0 >> SUBCLASS_SHIFT) as u8
    }

    #[inline]
    pub fn mode(self) -> Mode {
        Mode::from_bits((self.0 >> MODE_SHIFT) as u8)
    }

    #[inline(always)]
    pub const fn flags(self) -> u8 {
        (self.0 >> FLAGS_SHIFT) as u8
    }

    #[inline(always)]
    pub const fn has(self, flag: u8) -> bool {
        self.flags() & flag != 0
    }

    /// The context byte: the class flags that shape what may be done while
    /// the entry is held (`FLAG_ATOMIC`, `FLAG_NO_ALLOC`, `FLAG_AWAITABLE`:
    /// the only flags a validated class can have, so no mask is needed;
    /// the thread's `ctx` tests the bits it cares about).
    #[inline(always)]
    pub const fn ctx(self) -> u8 {
        (self.0 >> CLASS_FLAGS_SHIFT) as u8
    }

    /// The same entry held in `mode`.
    #[inline]
    pub const fn with_mode(self, mode: Mode) -> EntryId {
        EntryId(self.0 & !(0xff << MODE_SHIFT) | (mode as u64) << MODE_SHIFT)
    }

    /// The same entry as subclass `subclass` (below 8).
    #[inline]
    pub const fn with_subclass(self, subclass: u8) -> EntryId {
        EntryId(self.0 & !(0xff << SUBCLASS_SHIFT) | (subclass as u64) << SUBCLASS_SHIFT)
    }

    /// Whether its lock may be held across an `.await` (`FLAG_AWAITABLE`).
    #[inline]
    pub const fn is_awaitable(self) -> bool {
        self.ctx() as u32 & FLAG_AWAITABLE != 0
    }

    /// The node this entry orders: (class, subclass).
    #[inline]
    pub const fn node(self) -> (u32, u8) {
        (self.class(), self.subclass())
    }

    /// Folds this entry into the chain key `key`. Order matters (the key
    /// hashes the sequence), and so does the mode: a cached read chain must
    /// not hide a later write chain (lockdep once left the mode out and
    /// missed deadlocks). The multiply spreads the sequence into the high
    /// bits (the rotation and the chain table's index fold them back down).
    ///
    /// A key of 0 (the table's empty slot) reads as cached, like a key that
    /// collides with another chain's: both happen with a chance of about
    /// 2^-64 per new chain (the multiplier is odd, so 0 needs the rotated
    /// key to equal the entry's id), and the cache accepts that risk for
    /// every key. Forcing the low bit would cost two instructions on every
    /// acquisition to remove one such case out of all the collisions.
    #[inline(always)]
    pub const fn mix_into(self, key: u64) -> u64 {
        (key.rotate_left(26) ^ self.0).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
}

impl fmt::Debug for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntryId")
            .field("class", &self.class())
            .field("subclass", &self.subclass())
            .field("mode", &self.mode())
            .field("flags", &self.flags())
            .field("ctx", &self.ctx())
            .finish()
    }
}

/// How an acquisition may wait.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum How {
    /// May block: validated before it blocks.
    Blocking,
    /// An immediate trylock that succeeded: adds no edge into the lock.
    Try,
    /// Blocking, under the nest lock at this instance address.
    Nest(usize),
    /// Blocking, with this key in a stated order among its class.
    Ordered(u64),
    /// The allocation pseudo-lock, taken inside the allocator (no unwinding).
    Alloc,
    /// A held read becoming a write (never pushed: the entry changes mode).
    Upgrade,
}

impl How {
    /// The entry flags an acquisition made this way is pushed with. They
    /// belong to the chain key: a chain validated under a nest lock or in a
    /// stated order must not stand for the same classes nested plainly.
    #[inline(always)]
    pub const fn flags(self) -> u8 {
        match self {
            How::Blocking | How::Upgrade => 0,
            How::Try => E_TRY,
            How::Nest(_) => E_NEST,
            How::Ordered(_) => E_ORDERED,
            How::Alloc => E_ALLOC,
        }
    }

    /// Whether a chain-cache hit settles it: nothing but the chain to check.
    #[inline(always)]
    pub const fn cacheable(self) -> bool {
        matches!(self, How::Blocking | How::Alloc)
    }

    /// The `order` an entry pushed this way keeps: the stated-order key, or
    /// the nest lock's instance.
    #[inline]
    pub const fn order(self) -> u64 {
        match self {
            How::Nest(outer) => outer as u64,
            How::Ordered(key) => key,
            _ => 0,
        }
    }
}

/// One acquisition to validate.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Acq {
    pub instance: usize,
    /// The lock's identity among the locks that lived at `instance` (see
    /// `LockMap::serial`); 0 for pseudo-acquisitions with no lock.
    pub serial: u32,
    pub class: ClassBits,
    pub mode: Mode,
    pub subclass: u8,
    pub how: How,
    pub site: &'static Location<'static>,
}

impl Acq {
    /// A cacheable acquisition (blocking, or the allocation pseudo-lock)
    /// from the id it would be pushed with.
    #[inline]
    pub fn from_id(
        instance: usize,
        serial: u32,
        id: EntryId,
        site: &'static Location<'static>,
    ) -> Acq {
        Acq {
            instance,
            serial,
            class: id.class_bits(),
            mode: id.mode(),
            subclass: id.subclass(),
            how: if id.has(E_ALLOC) {
                How::Alloc
            } else {
                How::Blocking
            },
            site,
        }
    }

    /// The id it is pushed with.
    #[inline(always)]
    pub fn id(&self) -> EntryId {
        EntryId::new(self.class, self.subclass, self.mode, self.how.flags())
    }

    #[inline]
    pub fn node(&self) -> (u32, u8) {
        (self.class.class(), self.subclass)
    }

    /// Where it was taken, as a report names it.
    pub fn report_site(&self) -> Site {
        if self.how == How::Alloc {
            Site::Allocation
        } else {
            Site::Code(self.site)
        }
    }
}

/// How a lock is held: its mode, subclass and nesting annotation (nest
/// lock, stated order), so a wait that releases it (a condition variable's)
/// can take it again exactly as it was taken. From [`LockMap::held_as`](crate::LockMap::held_as).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct HeldAs {
    pub(crate) mode: Mode,
    pub(crate) subclass: u8,
    pub(crate) how: How,
}

impl HeldAs {
    /// How `e` was taken (a trylock's entry is re-taken blocking: a wait's
    /// re-acquisition can wait).
    pub(crate) fn of(e: &Entry) -> HeldAs {
        let how = if e.id.has(E_NEST) {
            How::Nest(e.order as usize)
        } else if e.id.has(E_ORDERED) {
            How::Ordered(e.order)
        } else {
            How::Blocking
        };
        HeldAs {
            mode: e.id.mode(),
            subclass: e.id.subclass(),
            how,
        }
    }

    /// The mode the lock is held in.
    pub fn mode(&self) -> Mode {
        self.mode
    }
}

/// One held lock, decoded.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry {
    pub id: EntryId,
    /// Further acquisitions merged into this entry under a nest lock.
    pub refs: u32,
    /// The stated-order key (`E_ORDERED`), or the nest lock's instance (`E_NEST`).
    pub order: u64,
    pub site: &'static Location<'static>,
    /// The chain key before this entry was pushed.
    pub prev_key: u64,
}

impl Entry {
    pub(crate) const EMPTY: Entry = Entry {
        id: EntryId::NONE,
        refs: 0,
        order: 0,
        site: Location::caller(),
        prev_key: 0,
    };

    /// Where it was taken, as a report names it.
    pub fn report_site(&self) -> Site {
        if self.id.has(E_ALLOC) {
            Site::Allocation
        } else {
            Site::Code(self.site)
        }
    }
}

/// Proof that the current thread acquired a lock: pass it back to
/// [`LockMap::release`](crate::LockMap::release). Lock guards keep one in
/// their state.
///
/// Forgetting one (as `mem::forget(guard)` does) leaves the lock held in the
/// validator's eyes, as it is in fact; a thread that exits so is reported.
#[must_use = "a lock acquisition must be released with `LockMap::release`"]
pub struct Held {
    pub(crate) instance: usize,
    /// The entry's id (class 0: not tracked: validation was off, or the
    /// class is not validated). Two words, so it travels in registers.
    pub(crate) id: EntryId,
}

impl Held {
    /// A token for an acquisition the validator did not track.
    pub const UNTRACKED: Held = Held {
        instance: 0,
        id: EntryId::NONE,
    };

    #[inline(always)]
    pub(crate) const fn new(instance: usize, id: EntryId) -> Held {
        Held { instance, id }
    }

    #[inline]
    pub(crate) fn class(&self) -> u32 {
        self.id.class()
    }

    /// The mode the lock is held in (`Write` for an untracked acquisition).
    pub fn mode(&self) -> Mode {
        self.id.mode()
    }

    /// Whether the validator tracked this acquisition.
    pub fn is_tracked(&self) -> bool {
        self.class() != 0
    }
}

impl fmt::Debug for Held {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Held")
            .field("mode", &self.mode())
            .field("tracked", &self.is_tracked())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip() {
        let c = ClassBits::new(0xdead_beef, FLAG_ATOMIC);
        let id = EntryId::new(c, 5, Mode::RecursiveRead, E_NEST | E_TRY);
        assert_eq!(id.class(), 0xdead_beef);
        assert_eq!(id.subclass(), 5);
        assert_eq!(id.mode(), Mode::RecursiveRead);
        assert_eq!(id.flags(), E_NEST | E_TRY);
        assert_eq!(id.ctx(), FLAG_ATOMIC as u8);
        assert_eq!(id.class_bits(), c);
        let w = id.with_mode(Mode::Write);
        assert_eq!(
            (w.mode(), w.subclass(), w.flags()),
            (Mode::Write, 5, E_NEST | E_TRY)
        );
    }

    #[test]
    fn validated_is_one_signed_test() {
        for (bits, ok) in [
            (ClassBits::new(7, 0), true),
            (ClassBits::new(7, FLAG_NO_ALLOC | FLAG_ATOMIC), true),
            (ClassBits::new(7, FLAG_NOT_VALIDATED), false),
            (ClassBits::UNRESOLVED, false),
            (ClassBits::NOT_VALIDATED, false),
            (ClassBits::from_raw(0), false),
        ] {
            assert_eq!(ClassBits::is_validated_raw(bits.to_raw()), ok, "{bits:?}");
        }
    }

    #[test]
    fn the_key_depends_on_mode_and_order() {
        let (a, b) = (ClassBits::new(1, 0), ClassBits::new(2, 0));
        let ar = EntryId::new(a, 0, Mode::Read, 0);
        let aw = EntryId::new(a, 0, Mode::Write, 0);
        let bw = EntryId::new(b, 0, Mode::Write, 0);
        assert_ne!(ar.mix_into(0), aw.mix_into(0));
        assert_ne!(bw.mix_into(aw.mix_into(0)), aw.mix_into(bw.mix_into(0)));
    }
}
