//! Acquisition modes and the four kinds of dependency edge.

use core::fmt;

/// How a lock is acquired, in lockdep's terms.
///
/// The mode of an acquisition decides the type of the dependency edges it
/// creates, and so which cycles are deadlocks (see [`DepKind`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(u8)]
pub enum Mode {
    /// Exclusive: a mutex lock, a write lock, an upgrade.
    Write = 0,
    /// Shared and *not* recursive: blocks behind a waiting writer (an
    /// `rw_semaphore` read, a `percpu_rw_semaphore` read, an upgradable read).
    Read = 1,
    /// Shared and recursive: never blocks behind a waiting writer when the
    /// lock is read-held (the kernel's `rwlock_t` read, `read_recursive`).
    RecursiveRead = 2,
}

impl Mode {
    /// The mode whose discriminant is `bits` (`Write` for anything unknown).
    #[cfg(any(debug_assertions, feature = "lockdep"))]
    #[inline]
    pub(crate) const fn from_bits(bits: u8) -> Mode {
        match bits {
            1 => Mode::Read,
            2 => Mode::RecursiveRead,
            _ => Mode::Write,
        }
    }

    /// Whether the lock is held shared (`S` at the tail of an edge out of it).
    #[inline]
    pub const fn is_shared(self) -> bool {
        !matches!(self, Mode::Write)
    }

    /// Whether the acquisition is a recursive read (`R` at the head of an
    /// edge into it).
    #[inline]
    pub const fn is_recursive(self) -> bool {
        matches!(self, Mode::RecursiveRead)
    }

    /// The short verb the scenario table uses: `lock`, `rlock`, `recursive_rlock`.
    pub const fn verb(self) -> &'static str {
        match self {
            Mode::Write => "lock",
            Mode::Read => "rlock",
            Mode::RecursiveRead => "recursive_rlock",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Write => "write",
            Mode::Read => "read",
            Mode::RecursiveRead => "recursive read",
        })
    }
}

/// The type of a dependency edge `H -> L` ("L was acquired while H was held").
///
/// The first letter is how `H` was held: `E`xclusive or `S`hared. The second
/// is how `L` was taken: `R`ecursive read or `N`on-recursive (read or write).
/// A cycle is a deadlock exactly when no lock on it is entered by an `-(xR)->`
/// edge and left by an `-(Sx)->` edge (a *strong* cycle; lockdep-design.rst,
/// "Recursive read locks").
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
#[repr(u8)]
pub enum DepKind {
    /// `-(ER)->`: held exclusively, taken as a recursive read.
    ER = 0,
    /// `-(EN)->`: held exclusively, taken non-recursively.
    EN = 1,
    /// `-(SR)->`: held shared, taken as a recursive read.
    SR = 2,
    /// `-(SN)->`: held shared, taken non-recursively.
    SN = 3,
}

impl DepKind {
    /// The edge created by taking a lock in mode `taken` while holding one in mode `held`.
    #[inline]
    pub const fn new(held: Mode, taken: Mode) -> DepKind {
        match (held.is_shared(), taken.is_recursive()) {
            (false, true) => DepKind::ER,
            (false, false) => DepKind::EN,
            (true, true) => DepKind::SR,
            (true, false) => DepKind::SN,
        }
    }

    /// `S` at the tail: the lock the edge leaves was held shared.
    #[inline]
    pub const fn leaves_shared(self) -> bool {
        matches!(self, DepKind::SR | DepKind::SN)
    }

    /// `R` at the head: the lock the edge enters was taken as a recursive read.
    #[inline]
    pub const fn enters_recursive(self) -> bool {
        matches!(self, DepKind::ER | DepKind::SR)
    }

    /// The two-letter name, `"ER"`, `"EN"`, `"SR"` or `"SN"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            DepKind::ER => "ER",
            DepKind::EN => "EN",
            DepKind::SR => "SR",
            DepKind::SN => "SN",
        }
    }

    /// Parses `"ER"`, `"EN"`, `"SR"` or `"SN"`.
    pub fn parse(s: &str) -> Option<DepKind> {
        Some(match s {
            "ER" => DepKind::ER,
            "EN" => DepKind::EN,
            "SR" => DepKind::SR,
            "SN" => DepKind::SN,
            _ => return None,
        })
    }
}

impl fmt::Display for DepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "-({})->", self.as_str())
    }
}
