//! The kernel of the hotplug examples: what `hotplug_deadlock` and
//! `hotplug_fixed` share (everything but the i915 userptr ioctl, which each
//! example writes its own way).
//!
//! Four paths of Linux 4.14-rc1, cut down to their locks and named after the
//! kernel functions, so a report reads like the splat that found the chain:
//!
//! - `cpuhp/1`: [`cpu_up`] holds `cpu_hotplug_lock` (write) and creates the
//!   CPU's msr device, which waits until kdevtmpfs has made its node;
//! - `kdevtmpfs`: [`devtmpfsd`] makes the node under the directory's inode
//!   lock, the work the CPU's thread waits for;
//! - `ls`: [`getdents`] lists the directory under its inode lock (read) and
//!   copies each name to user memory, which faults: the fault handler takes
//!   the process's `mmap_lock` (read);
//! - `prime_mmap`: the example's `i915_gem_userptr_ioctl` takes `mmap_lock`
//!   (write), then `mm_lock`, and registers an MMU notifier whose work queue
//!   is made by [`alloc_workqueue`], which reads `cpu_hotplug_lock`.
//!
//! A wait is no lock, but it deadlocks like one: the completion kdevtmpfs
//! signals is a validator *pseudo-lock* (a `LockMap` with no lock behind it),
//! held by kdevtmpfs around the work and taken and dropped by the waiter
//! where it waits. The paths run one after another, each on a thread of its
//! own, so nothing ever waits for real and nothing can hang.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use kernsync::lockdep::{capture, LockClass, LockMap, Mode, Report};
use kernsync::notifier::{NotifierChain, Prepared, Registration, Verdict};
use kernsync::percpu::PercpuRwSem;
use kernsync::rwsem::{Mutex, RwSem};

/// The classes of the cycle, in the order of its edges: each is held while
/// the next is taken, and the last is held while the first is taken.
pub const CYCLE: [&str; 5] = [
    "cpu_hotplug_lock",
    "(complete)req.done",
    "inode->i_rwsem",
    "mm->mmap_lock",
    "dev_priv->mm_lock",
];

/// `EFAULT`: a user address with no mapping behind it.
const EFAULT: i32 = 14;

/// The kernel, booted once per run and never freed (its locks stand for the
/// kernel's globals). Each boot makes fresh lock classes, so two runs in one
/// process (the two tests of `tests/hotplug_examples.rs`) share no graph node.
pub struct Kernel {
    /// The online CPUs. A `static` in Linux (`cpus_read_lock()` reads it,
    /// `cpus_write_lock()` writes it); a field here for the fresh classes.
    cpu_hotplug_lock: PercpuRwSem<Vec<u32>>,
    devtmpfs: Devtmpfs,
    /// `/dev`: its entries, under the directory's inode lock.
    dev: RwSem<Vec<String>>,
    /// The i915 driver.
    pub dev_priv: I915,
    /// The address space of `ls`.
    ls: Mm,
    /// The address space of `prime_mmap` (an i915 test): another lock of
    /// `mmap_lock`'s class. Classes, not instances, make the cycle.
    prime_mmap: Mm,
}

/// The i915 driver's private data.
pub struct I915 {
    /// Guards the driver's MMU notifier of the process (`mm->mn`).
    pub mm_lock: Mutex<Option<Registration<'static, Range<usize>>>>,
}

/// The devtmpfs daemon's request queue and the completion it signals.
struct Devtmpfs {
    /// The names of the nodes to make (`requests`, under `req_lock`).
    requests: Mutex<Vec<String>>,
    /// `req.done`, the completion each requester waits on: a pseudo-lock.
    done: LockMap,
}

/// A process's address space.
pub struct Mm {
    /// The mapped ranges of user memory.
    pub mmap_lock: RwSem<Vec<Range<usize>>>,
    /// The MMU notifiers, called when a range is unmapped.
    pub notifiers: NotifierChain<Range<usize>>,
}

impl Mm {
    fn new(mmap_lock: &'static LockClass, notifiers: &'static LockClass) -> Mm {
        Mm {
            // The program's text and its heap.
            mmap_lock: RwSem::with_class(vec![0x1000..0x2000, 0x4000..0x9000], mmap_lock),
            notifiers: NotifierChain::with_class(notifiers),
        }
    }
}

/// The user buffer `ls` reads the directory into.
const LS_BUFFER: usize = 0x4000;

impl Kernel {
    /// Boots a kernel with CPU 0 online and an empty `/dev`.
    fn boot() -> &'static Kernel {
        // A closure, not `map(LockClass::leak)`: through a fn pointer the
        // `#[track_caller]` site would be a line of core, not this one.
        let [hotplug, done, i_rwsem, mmap_lock, mm_lock] = CYCLE.map(|c| LockClass::leak(c));
        let mm_notifiers = LockClass::leak("mm->notifiers");
        Box::leak(Box::new(Kernel {
            cpu_hotplug_lock: PercpuRwSem::with_class(vec![0], hotplug),
            devtmpfs: Devtmpfs {
                requests: Mutex::with_class(Vec::new(), LockClass::leak("req_lock")),
                done: LockMap::new(done),
            },
            dev: RwSem::with_class(Vec::new(), i_rwsem),
            dev_priv: I915 {
                mm_lock: Mutex::with_class(None, mm_lock),
            },
            ls: Mm::new(mmap_lock, mm_notifiers),
            prime_mmap: Mm::new(mmap_lock, mm_notifiers),
        }))
    }
}

/// The signature of the example's `i915_gem_userptr_ioctl`: the kernel and
/// the calling process's address space.
pub type UserptrIoctl = fn(&'static Kernel, &'static Mm);

/// Whether the validator is checking this run; if not, says why (off, or
/// compiled out of a release build without the `lockdep` feature), so the
/// examples can stop there.
pub fn validating() -> bool {
    if kernsync::lockdep::is_enabled() {
        return true;
    }
    if kernsync::lockdep::COMPILED_IN {
        println!("Validation is off: nothing to report.");
    } else {
        println!("Validation is compiled out (a release build without the `lockdep` feature).");
    }
    false
}

/// Boots a kernel and runs the four paths one after another, each on a
/// thread of its own (joined before the next starts); returns the reports
/// the validator raised on each, in order.
pub fn run(i915_gem_userptr_ioctl: UserptrIoctl) -> Vec<Report> {
    let k = Kernel::boot();
    let mut reports = Vec::new();
    let ((), r) = on_thread("cpuhp/1", move || cpu_up(k, 1));
    reports.extend(r);
    let ((), r) = on_thread("kdevtmpfs", move || devtmpfsd(k));
    reports.extend(r);
    let (listed, r) = on_thread("ls", move || getdents(k, &k.ls, LS_BUFFER));
    reports.extend(r);
    let ((), r) = on_thread("prime_mmap", move || {
        i915_gem_userptr_ioctl(k, &k.prime_mmap)
    });
    reports.extend(r);
    // What the paths did, besides locking.
    assert_eq!(listed, Ok(vec!["cpu/1/msr".to_owned()]));
    assert_eq!(k.prime_mmap.notifiers.call(&(0x4000..0x5000)).called, 1);
    reports
}

/// Runs `path` on a new thread named `name` and waits for it: what it
/// returned and the reports raised there (`capture` sees the current
/// thread's reports only, so each path's thread collects its own).
fn on_thread<R: Send + 'static>(
    name: &str,
    path: impl FnOnce() -> R + Send + 'static,
) -> (R, Vec<Report>) {
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || capture(path))
        .expect("spawn a path's thread")
        .join()
        .expect("a path panicked")
}

// ------------------------------------------------------------ cpuhp/1

/// Brings CPU `cpu` online (`_cpu_up`, then its hotplug callbacks).
fn cpu_up(k: &Kernel, cpu: u32) {
    let mut online = k.cpu_hotplug_lock.write(); // cpus_write_lock()
    online.push(cpu);
    // cpuhp_invoke_callback -> msr_device_create:
    device_create(k, format!("cpu/{cpu}/msr"));
}

/// Adds a device: its node in `/dev` is made by kdevtmpfs.
fn device_create(k: &Kernel, name: String) {
    devtmpfs_create_node(k, name);
}

/// Queues a request to kdevtmpfs and waits for it to complete.
fn devtmpfs_create_node(k: &Kernel, name: String) {
    k.devtmpfs.requests.lock().push(name);
    // wait_for_completion(&req.done). Here kdevtmpfs runs after this thread
    // ends, so nothing actually waits; the validator is told of the wait, as
    // 4.14-rc1's cross-release told lockdep: a wait for whatever kdevtmpfs
    // does while it holds `req.done`.
    k.devtmpfs.done.acquire_release(Mode::Write);
}

// ---------------------------------------------------------- kdevtmpfs

/// The devtmpfs daemon: serves the queued requests.
fn devtmpfsd(k: &Kernel) {
    let requests = std::mem::take(&mut *k.devtmpfs.requests.lock());
    for name in requests {
        // The work the requester waits for, up to complete(&req.done).
        k.devtmpfs.done.with(Mode::Write, || handle_create(k, name));
    }
}

/// Makes a node in `/dev` (`vfs_mknod` under the parent's inode lock).
fn handle_create(k: &Kernel, name: String) {
    let mut dir = k.dev.write(); // inode_lock(dir)
    dir.push(name);
}

// ----------------------------------------------------------------- ls

/// `getdents(2)` on `/dev` into user memory at `buf`: the names it copied.
fn getdents(k: &Kernel, mm: &Mm, buf: usize) -> Result<Vec<String>, i32> {
    // iterate_dir -> dcache_readdir, under inode_lock_shared(dir).
    let dir = k.dev.read();
    let mut at = buf;
    for name in dir.iter() {
        filldir(mm, at, name)?;
        at += name.len();
    }
    Ok(dir.clone())
}

/// Copies one directory entry out.
fn filldir(mm: &Mm, at: usize, name: &str) -> Result<(), i32> {
    copy_to_user(mm, at, name.as_bytes())
}

/// Copies `bytes` to user memory at `to`. The page is not resident yet, so
/// the copy faults.
fn copy_to_user(mm: &Mm, to: usize, bytes: &[u8]) -> Result<(), i32> {
    do_page_fault(mm, to..to + bytes.len())
}

/// Finds the mapping behind a faulting user range, under `mmap_lock` (read).
fn do_page_fault(mm: &Mm, range: Range<usize>) -> Result<(), i32> {
    let vmas = mm.mmap_lock.read(); // mmap_read_lock(mm)
    if vmas
        .iter()
        .any(|v| v.start <= range.start && range.end <= v.end)
    {
        Ok(())
    } else {
        Err(EFAULT)
    }
}

// --------------------------------------------------------- prime_mmap

/// A work queue: one pool of pending work per CPU online when it was made.
struct WorkQueue {
    pools: Vec<AtomicUsize>,
}

impl WorkQueue {
    /// Queues work on the pool of the CPU that `key` hashes to.
    fn queue_work(&self, key: usize) {
        self.pools[key % self.pools.len()].fetch_add(1, Ordering::Relaxed);
    }
}

/// `alloc_workqueue`: sizes its pools by the online CPUs, which it reads
/// under `cpu_hotplug_lock` (`apply_workqueue_attrs` -> `cpus_read_lock()`).
fn alloc_workqueue(k: &Kernel) -> WorkQueue {
    let online = k.cpu_hotplug_lock.read(); // cpus_read_lock()
    WorkQueue {
        pools: online.iter().map(|_| AtomicUsize::new(0)).collect(),
    }
}

/// Makes i915's MMU notifier for `mm`: its work queue (which frees userptr
/// objects when their range is unmapped) and its node, ready to register.
/// Allocates, and reads `cpu_hotplug_lock`: call it with no lock held.
pub fn i915_mmu_notifier_create(k: &Kernel, mm: &Mm) -> Prepared<Range<usize>> {
    let wq = alloc_workqueue(k); // "i915-userptr-release"
    mm.notifiers.prepare(
        move |range: &Range<usize>| {
            wq.queue_work(range.start);
            Verdict::Continue
        },
        0,
    )
}
