//! The asymmetric fence: which one this process uses, chosen once.
//!
//! A reader's fast path stores its slot's count and then loads the lock's
//! mode; a writer stores the mode and then loads every count. Each side
//! needs a full fence between its store and its load (Dekker's protocol), or
//! both can miss the other. [`Barrier::Membarrier`] moves the whole cost to
//! the writer: readers pay a compiler fence, and the writer's
//! `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)` makes every running thread
//! of the process execute a full fence (a thread that is not running passed
//! one when it was switched out). [`Barrier::Fence`] is the fallback where
//! the syscall is missing or refused: there every lock keeps its readers on
//! the slow path, which has a real fence of its own.

#[cfg(not(loom))]
use std::sync::OnceLock;

/// How the readers' fast path is ordered against writers, chosen once per
/// process (see [`barrier`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Barrier {
    /// Linux `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`, registered at
    /// start: readers pay a compiler fence, a writer that switches readers to
    /// the slow path pays one syscall (an IPI to each CPU running a thread of
    /// this process).
    Membarrier,
    /// No membarrier (another OS, an old kernel, a seccomp profile that
    /// refuses it, or `KERNSYNC_PERCPU_BARRIER=fence`): readers take the slow
    /// path, a full fence in each lock and unlock, and stay off any shared
    /// cache line all the same.
    Fence,
}

/// The barrier this process uses, chosen on first use: `membarrier` when the
/// kernel offers `MEMBARRIER_CMD_PRIVATE_EXPEDITED` and registration with
/// `MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED` succeeds, [`Barrier::Fence`]
/// otherwise. The environment variable `KERNSYNC_PERCPU_BARRIER=fence`
/// forces the fallback (`membarrier` or `auto`, the default, detect).
#[cfg(not(loom))]
pub fn barrier() -> Barrier {
    static CHOSEN: OnceLock<Barrier> = OnceLock::new();
    *CHOSEN.get_or_init(
        || match std::env::var("KERNSYNC_PERCPU_BARRIER").as_deref() {
            Ok("fence") => Barrier::Fence,
            _ => membarrier::register(),
        },
    )
}

/// Under loom each lock chooses (`RawPercpuRwSem::with_barrier`); the
/// process-wide default is the membarrier protocol, modelled with fences.
#[cfg(loom)]
pub fn barrier() -> Barrier {
    Barrier::Membarrier
}

/// The writer's half of the asymmetric fence: after it returns, every
/// reader either has its count store visible to the writer's loads, or will
/// see the writer's earlier stores in its own loads.
#[cfg(not(loom))]
pub(crate) fn heavy(kind: Barrier) {
    use std::sync::atomic::{fence, Ordering};
    // The writer's own full fence on either side of the syscall (the kernel
    // has them too; these make the Rust-level ordering explicit).
    fence(Ordering::SeqCst);
    if kind == Barrier::Membarrier {
        membarrier::private_expedited();
        fence(Ordering::SeqCst);
    }
}

/// Under loom the asymmetric fence is modelled as what it stands for: a
/// SeqCst fence on the writer's side, matched by one on the reader's.
#[cfg(loom)]
pub(crate) fn heavy(_kind: Barrier) {
    loom::sync::atomic::fence(loom::sync::atomic::Ordering::SeqCst);
}

/// The reader's half: free on the membarrier path (the writer's syscall
/// supplies the fence); under loom the SeqCst fence it stands for.
#[inline(always)]
pub(crate) fn light() {
    #[cfg(not(loom))]
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
    #[cfg(loom)]
    loom::sync::atomic::fence(loom::sync::atomic::Ordering::SeqCst);
}

#[cfg(all(not(loom), target_os = "linux"))]
mod membarrier {
    use super::Barrier;

    // From the kernel's uapi `linux/membarrier.h` (libc does not define them).
    const CMD_QUERY: libc::c_long = 0;
    const CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
    const CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

    fn call(cmd: libc::c_long) -> libc::c_long {
        // SAFETY: membarrier(cmd, flags = 0, cpu_id = 0) reads and writes no
        // memory of ours; an unknown command or a refused call returns -1.
        unsafe {
            libc::syscall(
                libc::SYS_membarrier,
                cmd,
                0 as libc::c_long,
                0 as libc::c_long,
            )
        }
    }

    /// Query, register, and try the command once: any failure (ENOSYS on
    /// an old kernel, EPERM from seccomp, EINVAL) chooses the fallback.
    pub(super) fn register() -> Barrier {
        let offered = call(CMD_QUERY);
        if offered < 0 || offered & CMD_PRIVATE_EXPEDITED == 0 {
            return Barrier::Fence;
        }
        if call(CMD_REGISTER_PRIVATE_EXPEDITED) != 0 || call(CMD_PRIVATE_EXPEDITED) != 0 {
            return Barrier::Fence;
        }
        Barrier::Membarrier
    }

    /// The expedited barrier. Registered and tried at start, it cannot fail
    /// later; if it did, readers would run unordered, so it aborts.
    pub(super) fn private_expedited() {
        if call(CMD_PRIVATE_EXPEDITED) != 0 {
            eprintln!(
                "kernsync-percpu: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) failed after \
                 registering: {}; readers cannot be ordered, aborting",
                std::io::Error::last_os_error()
            );
            std::process::abort();
        }
    }
}

#[cfg(all(not(loom), not(target_os = "linux")))]
mod membarrier {
    use super::Barrier;

    /// No membarrier outside Linux: the fallback.
    pub(super) fn register() -> Barrier {
        Barrier::Fence
    }

    /// Never called: `register` never chooses `Membarrier` here.
    pub(super) fn private_expedited() {
        unreachable!("membarrier is only chosen on Linux")
    }
}
