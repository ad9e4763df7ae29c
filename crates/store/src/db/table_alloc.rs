//! The allocator of segment indexes: full-size indexes carved from shared chunks, exactly.
//!
//! A segment's index (see `entry_table.rs`) of 1024 buckets takes 1024 x 2 bytes of positions
//! plus 1024 + 16 control bytes: 3,088 bytes, which the general allocator serves from its
//! 3,584-byte size class (classes are 12.5-25 % apart there), and 512 buckets take 1,552 bytes
//! in a 1,792-byte class: 14-16 % of every index. Nearly every index has one of these two
//! sizes (segments split at `SPLIT_AT` into two 1024-bucket halves; `Db::reserve` sizes them
//! at 512 or 1024 buckets), so those two layouts are served here instead: each from 4 MiB
//! chunks cut into as many slots of exactly that size as fit (1,358 and 2,702; under 0.1 %
//! left over), with a free list per chunk. A chunk goes back to the general allocator when its
//! last slot is freed. Every other layout (small indexes, shrunk ones) goes to the general
//! allocator. The chunks come from the global allocator, so `used_memory` counts them.
//!
//! Indexes are allocated and freed by the database's thread, and freed by a snapshot writer
//! that drops the last reference to an old segment: one mutex guards the chunks (taken once
//! per index, about once per 900 inserts).

use std::alloc::Layout;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use allocator_api2::alloc::{AllocError, Allocator, Global};

/// Bytes of chunk slots not in use: allocated from the global allocator (so counted in its
/// live bytes) but holding no table, like the free blocks inside an allocator's own pages.
static FREE_SLOT_BYTES: AtomicUsize = AtomicUsize::new(0);

/// Bytes of slab slots allocated and not holding a table (see `FREE_SLOT_BYTES`): INFO's
/// used_memory and the maxmemory count leave them out, as an allocator's count leaves out
/// its free blocks (the pages of a slot never used are not even resident).
pub fn free_slot_bytes() -> usize {
    FREE_SLOT_BYTES.load(Ordering::Relaxed)
}

/// Bytes per chunk.
const CHUNK: usize = 4 << 20;
/// Alignment of every slot and chunk (hashbrown's tables ask for 16).
const ALIGN: usize = 16;

/// Allocates segment indexes (see the module documentation). Zero-sized: indexes carry no
/// allocator state.
#[derive(Clone, Copy, Debug, Default)]
pub struct TableAlloc;

struct Chunk {
    base: usize,
    /// Slot indices not in use.
    free: Vec<u32>,
}

struct Class {
    size: usize,
    /// Sorted by base address (frees find their chunk by binary search).
    chunks: Vec<Chunk>,
}

impl Class {
    fn slots(&self) -> usize {
        CHUNK / self.size
    }

    fn chunk_layout() -> Layout {
        Layout::from_size_align(CHUNK, ALIGN).expect("chunk layout")
    }

    fn allocate(&mut self) -> Option<NonNull<u8>> {
        let slots = self.slots();
        let ci = match self.chunks.iter().position(|c| !c.free.is_empty()) {
            Some(ci) => ci,
            None => {
                let base = Global.allocate(Self::chunk_layout()).ok()?;
                let base = base.as_ptr() as *mut u8 as usize;
                // Slot 0 first: keep the low slots in use, so a chunk tends to fill up.
                let free = (0..slots as u32).rev().collect();
                FREE_SLOT_BYTES.fetch_add(slots * self.size, Ordering::Relaxed);
                let at = self.chunks.partition_point(|c| c.base < base);
                self.chunks.insert(at, Chunk { base, free });
                at
            }
        };
        let c = &mut self.chunks[ci];
        let slot = c.free.pop()? as usize;
        FREE_SLOT_BYTES.fetch_sub(self.size, Ordering::Relaxed);
        NonNull::new((c.base + slot * self.size) as *mut u8)
    }

    /// Frees a slot; returns the chunk to give back when it became empty.
    fn deallocate(&mut self, p: usize) -> Option<usize> {
        let slots = self.slots();
        let ci = self
            .chunks
            .partition_point(|c| c.base <= p)
            .checked_sub(1)?;
        let c = &mut self.chunks[ci];
        debug_assert!(p >= c.base && p < c.base + CHUNK && (p - c.base).is_multiple_of(self.size));
        c.free.push(((p - c.base) / self.size) as u32);
        FREE_SLOT_BYTES.fetch_add(self.size, Ordering::Relaxed);
        if c.free.len() == slots {
            FREE_SLOT_BYTES.fetch_sub(slots * self.size, Ordering::Relaxed);
            let base = c.base;
            self.chunks.remove(ci);
            return Some(base);
        }
        None
    }
}

/// The slab classes: the two full-index layouts of 2-byte positions (1024 and 512 buckets).
static CLASSES: Mutex<Vec<Class>> = Mutex::new(Vec::new());

/// Whether `layout` is one of the slab sizes: a hashbrown table of `u16` positions with 512
/// or 1024 buckets (bucket array, then one control byte per bucket plus a 16-byte group).
pub(super) fn slab_size(layout: Layout) -> Option<usize> {
    const POSITION: usize = std::mem::size_of::<u16>();
    let table = |buckets: usize| POSITION * buckets + buckets + 16;
    let size = layout.size();
    (layout.align() <= ALIGN && (size == table(1024) || size == table(512))).then_some(size)
}

fn with_class<R>(size: usize, f: impl FnOnce(&mut Class) -> R) -> R {
    let mut classes = CLASSES.lock().unwrap_or_else(|e| e.into_inner());
    let i = match classes.iter().position(|c| c.size == size) {
        Some(i) => i,
        None => {
            // Both slab sizes are multiples of 16, so every slot stays aligned.
            debug_assert_eq!(size % ALIGN, 0);
            classes.push(Class {
                size,
                chunks: Vec::new(),
            });
            classes.len() - 1
        }
    };
    f(&mut classes[i])
}

// SAFETY: slab blocks are disjoint `size`-byte ranges of chunks owned by the class, handed out
// once until freed, aligned to 16 (chunks are, and sizes are multiples of 16); a block is
// freed with the layout it was allocated with (hashbrown recomputes it from the bucket count),
// so it goes back to the class it came from. Other layouts go to the global allocator.
unsafe impl Allocator for TableAlloc {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        match slab_size(layout) {
            Some(size) => {
                let p = with_class(size, Class::allocate).ok_or(AllocError)?;
                Ok(NonNull::slice_from_raw_parts(p, layout.size()))
            }
            None => Global.allocate(layout),
        }
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        match slab_size(layout) {
            Some(size) => {
                if let Some(base) = with_class(size, |c| c.deallocate(ptr.as_ptr() as usize)) {
                    // SAFETY: the chunk was allocated by `Global` with this layout and none of
                    // its slots is in use any more.
                    unsafe {
                        Global.deallocate(
                            NonNull::new_unchecked(base as *mut u8),
                            Class::chunk_layout(),
                        )
                    };
                }
            }
            // SAFETY: allocated by `Global` with this layout (see `allocate`).
            None => unsafe { Global.deallocate(ptr, layout) },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(buckets: usize) -> Layout {
        Layout::from_size_align(2 * buckets + buckets + 16, 16).expect("layout")
    }

    #[test]
    fn only_full_table_layouts_are_slabbed() {
        assert_eq!(slab_size(layout(1024)), Some(3_088));
        assert_eq!(slab_size(layout(512)), Some(1_552));
        assert_eq!(slab_size(layout(256)), None);
        assert_eq!(
            slab_size(Layout::from_size_align(3_088, 64).expect("layout")),
            None
        );
        // Through the allocator: a slab block and a general one, both usable and freed.
        for l in [layout(1024), layout(256)] {
            let b = TableAlloc.allocate(l).expect("allocate");
            assert_eq!(b.as_ptr() as *mut u8 as usize % 16, 0);
            // SAFETY: the block is `l.size()` bytes and ours; freed with its layout.
            unsafe {
                std::ptr::write_bytes(b.as_ptr() as *mut u8, 0xAB, l.size());
                TableAlloc.deallocate(b.cast(), l);
            }
        }
    }

    #[test]
    fn slots_are_disjoint_and_empty_chunks_go_back() {
        let mut c = Class {
            size: 3_088,
            chunks: Vec::new(),
        };
        assert_eq!(c.slots(), 1_358);
        let n = 3_000; // three chunks
        let mut addrs: Vec<usize> = (0..n)
            .map(|_| c.allocate().expect("allocate").as_ptr() as usize)
            .collect();
        assert_eq!(c.chunks.len(), 3);
        let mut sorted = addrs.clone();
        sorted.sort_unstable();
        assert!(sorted.windows(2).all(|w| w[1] - w[0] >= 3_088));
        assert!(sorted.iter().all(|a| a % 16 == 0));
        for &a in &addrs {
            // SAFETY: each slot is 3,088 bytes inside a live chunk.
            unsafe { std::ptr::write_bytes(a as *mut u8, 0xCD, 3_088) };
        }
        // Freeing every slot of the first chunk hands it back; a freed slot is reused.
        let first = c.chunks[0].base;
        let (mine, rest): (Vec<usize>, Vec<usize>) = addrs
            .drain(..)
            .partition(|&a| a >= first && a < first + CHUNK);
        let last = *mine.last().expect("slots in the first chunk");
        for &a in &mine[..mine.len() - 1] {
            assert_eq!(c.deallocate(a), None);
        }
        assert_eq!(c.deallocate(last), Some(first));
        // SAFETY: the chunk came from `Global` with the chunk layout and is unused.
        unsafe {
            Global.deallocate(
                NonNull::new(first as *mut u8).expect("chunk"),
                Class::chunk_layout(),
            )
        };
        assert_eq!(c.chunks.len(), 2);
        let again = rest[5];
        assert_eq!(c.deallocate(again), None);
        assert_eq!(c.allocate().map(|p| p.as_ptr() as usize), Some(again));
        for a in rest {
            if let Some(base) = c.deallocate(a) {
                // SAFETY: as above.
                unsafe {
                    Global.deallocate(
                        NonNull::new(base as *mut u8).expect("chunk"),
                        Class::chunk_layout(),
                    )
                };
            }
        }
        assert!(c.chunks.is_empty());
    }
}
