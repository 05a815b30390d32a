//! The seed bug with named locks: a registration made under `mmap_lock`
//! (write) whose node allocation read-locks `cpu_hotplug_lock` (as
//! allocating a work queue does), while CPU hotplug (the writer of
//! `cpu_hotplug_lock`) reaches `mmap_lock`: the validator reports the cycle
//! from one thread's run. Preparing before `mmap_lock` is taken reports
//! nothing.
#![cfg(all(not(loom), any(debug_assertions, feature = "lockdep")))]

use kernsync_lockdep::{capture, LockClass, ReportKind};
use kernsync_notifier::{NotifierChain, Prepared, Verdict};
use kernsync_percpu::PercpuRwSem;
use kernsync_rwsem::RwSem;

struct World {
    cpu_hotplug_lock: PercpuRwSem<()>,
    mmap_lock: RwSem<Vec<u64>>,
    mmu_notifiers: NotifierChain<u64>,
}

impl World {
    /// Fresh classes per scenario, so the two runs share no graph.
    fn new(tag: &str) -> World {
        World {
            cpu_hotplug_lock: PercpuRwSem::with_class(
                (),
                LockClass::leak(&format!("cpu_hotplug_lock_{tag}")),
            ),
            mmap_lock: RwSem::with_class(Vec::new(), LockClass::leak(&format!("mmap_lock_{tag}"))),
            mmu_notifiers: NotifierChain::with_class(LockClass::leak(&format!("mmu_chain_{tag}"))),
        }
    }

    /// `alloc_workqueue()`: allocating the notifier's work queue read-locks
    /// `cpu_hotplug_lock`.
    fn prepare_notifier(&self) -> Prepared<u64> {
        let _cpus = self.cpu_hotplug_lock.read();
        self.mmu_notifiers.prepare(|_addr| Verdict::Continue, 0)
    }

    /// A CPU coming online: the writer of `cpu_hotplug_lock`, whose path
    /// reaches `mmap_lock` (the longer chain through devtmpfs, simplified).
    fn cpu_up(&self) {
        let _hotplug = self.cpu_hotplug_lock.write();
        let _mm = self.mmap_lock.read();
    }
}

#[test]
fn registering_with_an_allocation_under_mmap_lock_closes_the_cycle() {
    let w = World::new("bug");
    let ((), reports) = capture(|| {
        w.cpu_up();
        // The userptr ioctl: allocates (reads cpu_hotplug_lock) under
        // mmap_lock held for write.
        let mut mm = w.mmap_lock.write();
        mm.push(0x1000);
        let p = w.prepare_notifier();
        std::mem::forget(w.mmu_notifiers.register(p));
    });
    let kinds: Vec<_> = reports.iter().map(|r| r.kind()).collect();
    assert_eq!(kinds, [ReportKind::CircularDependency], "{reports:?}");
    let classes = reports[0].classes();
    assert!(classes.contains(&"cpu_hotplug_lock_bug"), "{classes:?}");
    assert!(classes.contains(&"mmap_lock_bug"), "{classes:?}");
    assert!(w.mmu_notifiers.call(&0x1000).called == 1);
}

#[test]
fn preparing_before_mmap_lock_reports_nothing() {
    let w = World::new("fixed");
    let ((), reports) = capture(|| {
        w.cpu_up();
        let p = w.prepare_notifier(); // before mmap_lock
        let mut mm = w.mmap_lock.write();
        mm.push(0x1000);
        let reg = w.mmu_notifiers.register(p); // links, allocates nothing
        drop(mm);
        assert_eq!(w.mmu_notifiers.call(&0x1000).called, 1);
        drop(reg);
    });
    assert!(reports.is_empty(), "{reports:?}");
}
