//! Every call this crate makes to the lock-order validator, behind one tiny
//! interface, so the rules live in one place.
//!
//! Every lock of this crate is [`awaitable`](LockMap::awaitable): holding
//! it across an `.await` is what it is for, never a `HeldAcrossAwait`.
//!
//! **In a tracked task** ([`kernsync_lockdep::tracked`], or a spawn helper
//! of [`crate::rt`]), the task owns a held-stack of its own, swapped onto
//! whichever thread polls it, so an async acquisition is a lock like any
//! other:
//!
//! - `lock`, `read`, `write`, `upgradable_read` take a held entry when
//!   their future is made (at the caller's line, which a report names, and
//!   before the future can wait): edges from what the task holds, cycles
//!   reported. The entry is the task's while the future waits and while
//!   the guard lives; a cancelled future releases it;
//! - `try_*` take a trylock entry (no edge into the lock);
//! - `upgrade` turns the upgradable read's entry into a write, as the
//!   sync `RwSem` does; downgrades change it in place.
//!
//! **Without a tracked task** (the held stack is the thread's, and a task
//! moves between threads and interleaves with others on one):
//!
//! - an async acquisition is *check-only*: when its future is made it is
//!   [`LockMap::acquire_release`]d in its mode, which adds edges from the
//!   locks the thread holds to this lock and reports cycles, but leaves no
//!   held entry. A guard that moves between tasks and threads can then never
//!   give a false report; the price is that locks taken while an async guard
//!   is held gain no edge from it;
//! - a `try_*` acquisition is a check-only *trylock*: it cannot wait, so it
//!   adds no edge into the lock ([`LockMap::try_acquired`], released at once).
//!
//! **Everywhere:**
//!
//! - owned guards (`*_owned`) are check-only, in a tracked task too: they
//!   exist to move into other tasks, whose stacks do not hold them;
//! - a `blocking_*` acquisition blocks the thread, so it is a thread-bound
//!   acquisition with a real held entry of the thread ([`LockMap::acquire`]),
//!   released when its guard drops (on the same thread: a blocking guard
//!   dropped on another thread is reported as a bad unlock).
//!
//! A borrowed guard taken in a tracked task and dropped in another tracked
//! task (a `'static` lock's guard sent away) is reported as the release of
//! a lock the releasing task does not hold: use the owned forms to move a
//! guard. Dropped outside any task on a thread that does not hold it (a
//! runtime shutting down drops idle tasks' futures that way), it is let go
//! without a report.
//!
//! A [`Token`] is what a future or guard keeps: a real held entry, or none.

use kernsync_lockdep::{Held, LockMap, Mode};

/// What a guard keeps for the validator: the held entry of a thread-bound
/// (`blocking_*`) acquisition, or none (an untracked [`Held`]).
#[derive(Debug)]
pub(crate) struct Token(Held, [bool; FROM_TASK]);

/// One flag (the entry is a tracked task's, not the thread's) with the
/// validator compiled in; none, so a token stays zero-sized, without it.
const FROM_TASK: usize = kernsync_lockdep::COMPILED_IN as usize;

impl Token {
    /// No held entry: a check-only acquisition.
    pub(crate) const NONE: Token = Token(Held::UNTRACKED, [false; FROM_TASK]);

    /// Whether the entry was taken in a tracked task (not a thread-bound
    /// `blocking_*` one).
    #[inline]
    fn is_task_entry(&self) -> bool {
        self.1.first().copied().unwrap_or(false)
    }
}

/// The validator calls (see the module docs).
pub(crate) struct Check;

impl Check {
    /// An async acquisition in `mode` begins: a held entry of a tracked
    /// task, check-only elsewhere.
    #[inline]
    #[track_caller]
    pub(crate) fn begin(map: &LockMap, mode: Mode) -> Token {
        match kernsync_lockdep::in_tracked_task() {
            true => Token(map.acquire(mode), [true; FROM_TASK]),
            false => Check::begin_owned(map, mode),
        }
    }

    /// An async acquisition of an owned guard in `mode` begins: check-only.
    #[inline]
    #[track_caller]
    pub(crate) fn begin_owned(map: &LockMap, mode: Mode) -> Token {
        map.acquire_release(mode);
        Token::NONE
    }

    /// A `try_*` acquisition in `mode` succeeded: a trylock entry of a
    /// tracked task, a check-only trylock elsewhere.
    #[inline]
    #[track_caller]
    pub(crate) fn try_acquired(map: &LockMap, mode: Mode) -> Token {
        match kernsync_lockdep::in_tracked_task() {
            true => Token(map.try_acquired(mode), [true; FROM_TASK]),
            false => Check::try_acquired_owned(map, mode),
        }
    }

    /// A `try_*` acquisition of an owned guard in `mode` succeeded: a
    /// check-only trylock.
    #[inline]
    #[track_caller]
    pub(crate) fn try_acquired_owned(map: &LockMap, mode: Mode) -> Token {
        let held = map.try_acquired(mode);
        map.release(held);
        Token::NONE
    }

    /// A `blocking_*` acquisition in `mode` is about to block the thread:
    /// a held entry of this thread, recorded before it can block.
    #[inline]
    #[track_caller]
    pub(crate) fn blocking(map: &LockMap, mode: Mode) -> Token {
        Token(map.acquire(mode), [false; FROM_TASK])
    }

    /// A guard (or a cancelled future) lets go of `token`.
    ///
    /// A task's entry released with no task current, on a thread that does
    /// not hold it, is a future dropped outside any poll: a runtime shut
    /// down (or a task aborted) while the task was idle, its entries saved
    /// in the task, which the runtime discards with it. That is not a bad
    /// unlock, so it is let go without a report. A thread's (`blocking_*`)
    /// entry released where it is not held is always reported.
    #[inline]
    #[track_caller]
    pub(crate) fn release(map: &LockMap, token: Token) {
        if token.0.is_tracked()
            && (!token.is_task_entry() || kernsync_lockdep::in_tracked_task() || map.is_held())
        {
            map.release(token.0);
        }
    }

    /// An upgradable read held as `token` begins its upgrade: a new write
    /// acquisition of the same lock, which waits for the readers.
    #[inline]
    #[track_caller]
    pub(crate) fn upgrade(map: &LockMap, token: &mut Token) {
        match token.0.is_tracked() {
            true => map.upgrade(&mut token.0),
            false => map.acquire_release(Mode::Write),
        }
    }

    /// An upgradable read held as `token` became a write without waiting:
    /// a trylock, so no edge.
    #[inline]
    #[track_caller]
    pub(crate) fn try_upgraded(map: &LockMap, token: &mut Token) {
        if token.0.is_tracked() {
            map.try_upgraded(&mut token.0);
        }
    }

    /// A write held as `token` became a read (or an upgradable read): no edge.
    #[inline]
    #[track_caller]
    pub(crate) fn downgrade(map: &LockMap, token: &mut Token) {
        if token.0.is_tracked() {
            map.downgrade(&mut token.0);
        }
    }
}
