//! The global allocator: mimalloc, counting live bytes for INFO memory's `used_memory`
//! (Redis's zmalloc does the same bookkeeping).

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};

use mimalloc::MiMalloc;

pub struct Counting;

static USED: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// Bytes allocated and not yet freed, less the slots of the keyspace's table slabs that hold
/// no table (an allocator does not count its free blocks either; see amber_store's
/// table_alloc): the number INFO's used_memory and the maxmemory limit use.
pub(crate) fn used_memory() -> usize {
    USED.load(Ordering::Relaxed)
        .saturating_sub(amber_store::db::free_slot_bytes())
}

/// The highest `used_memory` seen when sampled (by the cron and INFO).
pub(crate) fn peak_memory() -> usize {
    let used = used_memory();
    let peak = PEAK.fetch_max(used, Ordering::Relaxed);
    peak.max(used)
}

/// Alignment every mimalloc block has: its size classes are multiples of 8 bytes.
const NATURAL_ALIGN: usize = 8;

// Layouts aligned to at most 8 go to plain mi_malloc/mi_zalloc/mi_realloc. `MiMalloc` calls
// mi_malloc_aligned, which in mimalloc v3 takes its fast path only while the size class's
// page has a free block; otherwise it over-allocates by the alignment, which moves a 112-byte
// string into the 128-byte class (and a 320-byte vector into 384) once a page fills, for
// every block after that: 16 bytes more RSS per 100-byte value, measured
// (tests/test_memory_layout.py).
//
// SAFETY: every call goes to mimalloc (its plain entry points when they give the alignment
// asked for, its aligned ones otherwise; mi_free frees both); the counter is only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = if layout.align() <= NATURAL_ALIGN {
            // SAFETY: mimalloc's plain malloc; blocks are at least 8-aligned.
            unsafe { libmimalloc_sys::mi_malloc(layout.size()) as *mut u8 }
        } else {
            unsafe { MiMalloc.alloc(layout) }
        };
        if !p.is_null() {
            USED.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { MiMalloc.dealloc(ptr, layout) };
        USED.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = if layout.align() <= NATURAL_ALIGN {
            // SAFETY: as in `alloc`.
            unsafe { libmimalloc_sys::mi_zalloc(layout.size()) as *mut u8 }
        } else {
            unsafe { MiMalloc.alloc_zeroed(layout) }
        };
        if !p.is_null() {
            USED.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = if layout.align() <= NATURAL_ALIGN {
            // SAFETY: as in `alloc`; `ptr` came from mimalloc.
            unsafe { libmimalloc_sys::mi_realloc(ptr as *mut _, new_size) as *mut u8 }
        } else {
            unsafe { MiMalloc.realloc(ptr, layout, new_size) }
        };
        if !p.is_null() {
            USED.fetch_sub(layout.size(), Ordering::Relaxed);
            USED.fetch_add(new_size, Ordering::Relaxed);
        }
        p
    }
}

/// Tunes mimalloc to give freed memory back promptly: a server's RSS should follow its data
/// (mimalloc's defaults keep freed pages for a while and commit arenas eagerly). And no
/// transparent huge pages until the configuration is read (see [`disable_thp`]): mimalloc
/// asks for them (MADV_HUGEPAGE) where the kernel's mode is `madvise`, which Redis's
/// allocator never does; a 2 MiB page is resident as soon as one byte of it is touched, so
/// they cost 8 MiB at start and about 17 MiB of RSS at DEBUG POPULATE 1000000 (105 MiB
/// against 88), with no throughput measured in return.
pub fn configure() {
    // Indexes of mimalloc v3's option enum (mimalloc.h): arena_eager_commit = 4,
    // purge_delay = 15, allow_thp = 43.
    const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    const ALLOW_THP: libmimalloc_sys::mi_option_t = 43;
    // SAFETY: setting allocator options has no preconditions.
    unsafe {
        libmimalloc_sys::mi_option_set(ARENA_EAGER_COMMIT, 0);
        libmimalloc_sys::mi_option_set(PURGE_DELAY, 0);
        libmimalloc_sys::mi_option_set(ALLOW_THP, 0);
        // The arena reserved by the allocations before main is already marked
        // MADV_HUGEPAGE; the process flag overrides that.
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// `disable-thp`: `yes` (the default) keeps transparent huge pages off for this process,
/// whatever the kernel's mode, as Redis's linuxMemoryWarnings does under `always` (Redis's
/// allocator never asks for them under `madvise`; mimalloc would); `no` leaves them to the
/// kernel and the allocator. Returns Redis's warning when they cannot be turned off.
pub(crate) fn disable_thp(disable: bool) -> Option<&'static str> {
    // SAFETY: prctl with PR_SET_THP_DISABLE takes plain integer arguments.
    let r = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, u64::from(disable), 0, 0, 0) };
    let mode =
        std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").unwrap_or_default();
    (r != 0 && disable && mode.contains("[always]")).then_some(
        "WARNING you have Transparent Huge Pages (THP) support enabled in your kernel. This will create latency and memory usage issues with Redis. To fix this issue run the command 'echo madvise > /sys/kernel/mm/transparent_hugepage/enabled' as root, and add it to your /etc/rc.local in order to retain the setting after a reboot. Redis must be restarted after THP is disabled (set to 'madvise' or 'never').",
    )
}

/// Resident set size of this process in bytes, from /proc/self/statm.
pub(crate) fn rss() -> usize {
    let Ok(s) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: usize = s
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * usize::try_from(page).unwrap_or(4096)
}
