//! Reference-counted blocks behind unaligned thin pointers, so that a collection fits the 15
//! bytes a `Value` has beside its tag and needs no block of its own besides its contents.
//!
//! - `Packed`: the bytes of a compact encoding (intset, listpack-like pairs, packed sorted
//!   set) after an 8-byte header, in one block; its length sits beside the pointer:
//!
//!   ```text
//!     Packed (12 bytes): [ len: u32 | ptr ] ─▶ [ refs: u32 | meta: u32 | bytes (len) ... ]
//!   ```
//!
//!   A packed block is never written after it is made: every change builds a new exact block
//!   (as Redis reallocates a listpack or intset per insert) and drops this one's reference.
//!   So a clone (a snapshot's copy of the entry) costs one count, and the snapshot keeps
//!   reading the old bytes while the key moves on.
//! - `Shared<T>`: a general collection (hash table, skiplist) in one block after an 8-byte
//!   count, like an `Arc` without weak counts; `DerefMut` copies the collection first if a
//!   snapshot shares it (copy-on-write, as `Arc::make_mut`).
//!
//! Both are packed (alignment 1) so that the enums holding them (`Set`, `Hash`, `ZSet`) are
//! 13 bytes and `Value` stays 16.

use std::alloc::{self, Layout};
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicU32, AtomicUsize, Ordering};

/// The most bytes a compact encoding may hold before its collection converts to the general
/// encoding, whatever the configured limits (Redis's `LISTPACK_MAX_SAFETY_SIZE`, 1 GiB).
pub const PACKED_MAX: usize = 1 << 30;

#[repr(C)]
struct PackHeader {
    refs: AtomicU32,
    meta: u32,
}

const PACK_HEADER: usize = std::mem::size_of::<PackHeader>();

/// Immutable bytes with a 32-bit tag (`meta`: a width or a count), shared by every clone.
#[repr(C, packed)]
pub struct Packed {
    len: u32,
    ptr: NonNull<PackHeader>,
}

// SAFETY: the bytes are never written after `from_parts` returns and the count is atomic, as
// in `Arc<[u8]>`.
unsafe impl Send for Packed {}
// SAFETY: as above; `&Packed` only reads.
unsafe impl Sync for Packed {}

impl Packed {
    fn layout(len: usize) -> Layout {
        Layout::from_size_align(PACK_HEADER + len, std::mem::align_of::<PackHeader>())
            .expect("a packed block's size fits a layout")
    }

    /// One exact block holding `parts` one after the other. Panics if they total more than
    /// `u32::MAX` bytes: the collections convert at `PACKED_MAX`, far below.
    pub fn from_parts(meta: u32, parts: &[&[u8]]) -> Packed {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let len32 = u32::try_from(len).expect("a packed block holds less than 4 GiB");
        let layout = Self::layout(len);
        // SAFETY: the layout has a non-zero size (the header); the header is written and the
        // parts copied inside the allocation, `len` bytes after the header in all.
        unsafe {
            let p = alloc::alloc(layout) as *mut PackHeader;
            let Some(p) = NonNull::new(p) else {
                alloc::handle_alloc_error(layout);
            };
            p.as_ptr().write(PackHeader {
                refs: AtomicU32::new(1),
                meta,
            });
            let mut at = (p.as_ptr() as *mut u8).add(PACK_HEADER);
            for part in parts {
                std::ptr::copy_nonoverlapping(part.as_ptr(), at, part.len());
                at = at.add(part.len());
            }
            Packed { len: len32, ptr: p }
        }
    }

    pub fn new(meta: u32, bytes: &[u8]) -> Packed {
        Self::from_parts(meta, &[bytes])
    }

    fn header(&self) -> &PackHeader {
        let p = self.ptr;
        // SAFETY: the block lives while any clone does.
        unsafe { p.as_ref() }
    }

    pub fn bytes(&self) -> &[u8] {
        let (p, len) = (self.ptr, self.len);
        // SAFETY: the block holds `len` initialised bytes after the header, written once.
        unsafe {
            std::slice::from_raw_parts((p.as_ptr() as *const u8).add(PACK_HEADER), len as usize)
        }
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn meta(&self) -> u32 {
        self.header().meta
    }

    /// The block's size as allocated (header included), for MEMORY USAGE.
    pub fn block_bytes(&self) -> usize {
        PACK_HEADER + self.len()
    }

    /// Whether another clone (a snapshot's) holds the same block.
    pub fn is_shared(&self) -> bool {
        self.header().refs.load(Ordering::Acquire) > 1
    }
}

impl Clone for Packed {
    fn clone(&self) -> Self {
        // As Arc: Relaxed suffices to take a reference from an existing one; abort rather than
        // wrap the count (2^31 clones of one value cannot happen short of a leak).
        if self.header().refs.fetch_add(1, Ordering::Relaxed) > i32::MAX as u32 {
            std::process::abort();
        }
        Packed {
            len: self.len,
            ptr: self.ptr,
        }
    }
}

impl Drop for Packed {
    fn drop(&mut self) {
        if self.header().refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire);
        let (p, len) = (self.ptr, self.len);
        // SAFETY: this was the last reference; the block was made with this layout.
        unsafe { alloc::dealloc(p.as_ptr() as *mut u8, Self::layout(len as usize)) }
    }
}

impl PartialEq for Packed {
    fn eq(&self, other: &Packed) -> bool {
        self.meta() == other.meta() && self.bytes() == other.bytes()
    }
}

impl Eq for Packed {}

impl fmt::Debug for Packed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Packed({}, {} bytes)", self.meta(), self.len())
    }
}

#[repr(C)]
struct SharedInner<T> {
    refs: AtomicUsize,
    value: T,
}

/// A `T` in one reference-counted block behind an unaligned pointer (8 bytes, alignment 1).
/// `DerefMut` is copy-on-write: it clones the `T` first when another clone shares it.
#[repr(C, packed)]
pub struct Shared<T> {
    ptr: NonNull<SharedInner<T>>,
    _owns: PhantomData<SharedInner<T>>,
}

// SAFETY: as `Arc<T>`: the `T` is reached mutably only through a unique handle (`DerefMut`
// checks the count), shared otherwise.
unsafe impl<T: Send + Sync> Send for Shared<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for Shared<T> {}

impl<T> Shared<T> {
    pub fn new(value: T) -> Shared<T> {
        let b = Box::new(SharedInner {
            refs: AtomicUsize::new(1),
            value,
        });
        Shared {
            // SAFETY: `Box::into_raw` never returns null.
            ptr: unsafe { NonNull::new_unchecked(Box::into_raw(b)) },
            _owns: PhantomData,
        }
    }

    fn inner(&self) -> &SharedInner<T> {
        let p = self.ptr;
        // SAFETY: the block lives while any clone does.
        unsafe { p.as_ref() }
    }

    /// Whether another clone (a snapshot's) holds the same block.
    pub fn is_shared(&self) -> bool {
        self.inner().refs.load(Ordering::Acquire) > 1
    }

    /// The block's size (count and `T`), for MEMORY USAGE.
    pub const BLOCK: usize = std::mem::size_of::<SharedInner<T>>();
}

impl<T: Clone> Shared<T> {
    /// The `T`, copied first into a block of its own if another clone shares this one.
    pub fn make_mut(&mut self) -> &mut T {
        if self.is_shared() {
            *self = Shared::new(self.inner().value.clone());
        }
        let p = self.ptr;
        // SAFETY: the count is 1 and `self` is borrowed mutably, so no other handle exists
        // and none can be made while the borrow lasts; the Acquire load in `is_shared` saw
        // every other clone's release.
        unsafe { &mut (*p.as_ptr()).value }
    }
}

impl<T> Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner().value
    }
}

impl<T: Clone> DerefMut for Shared<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.make_mut()
    }
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        if self.inner().refs.fetch_add(1, Ordering::Relaxed) > isize::MAX as usize {
            std::process::abort();
        }
        Shared {
            ptr: self.ptr,
            _owns: PhantomData,
        }
    }
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        if self.inner().refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire);
        let p = self.ptr;
        // SAFETY: this was the last reference; the block came from `Box::into_raw`.
        drop(unsafe { Box::from_raw(p.as_ptr()) });
    }
}

impl<T: Default> Default for Shared<T> {
    fn default() -> Self {
        Shared::new(T::default())
    }
}

impl<T: fmt::Debug> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn packed_blocks_are_shared_and_exact() {
        let a = Packed::from_parts(7, &[b"ab", b"", b"cde"]);
        assert_eq!((a.bytes(), a.meta(), a.len()), (&b"abcde"[..], 7, 5));
        assert!(!a.is_shared());
        let b = a.clone();
        assert!(a.is_shared() && b.is_shared());
        assert_eq!(a, b);
        drop(a);
        assert!(!b.is_shared());
        assert_eq!(b.bytes(), b"abcde");
        assert_eq!(b.block_bytes(), 13);
        let e = Packed::new(0, &[]);
        assert!(e.is_empty() && e.bytes().is_empty());
        assert_ne!(e, Packed::new(1, &[]));
        assert_eq!(std::mem::size_of::<Packed>(), 12);
        assert_eq!(std::mem::align_of::<Packed>(), 1);
    }

    #[test]
    fn shared_copies_on_write_only_when_shared() {
        let mut a = Shared::new(vec![1, 2, 3]);
        let before = &*a as *const Vec<i32>;
        a.push(4);
        assert_eq!(&*a as *const Vec<i32>, before, "unique: written in place");
        let snap = a.clone();
        a.push(5);
        assert_eq!(*snap, [1, 2, 3, 4], "the clone keeps what it saw");
        assert_eq!(*a, [1, 2, 3, 4, 5]);
        assert!(!a.is_shared() && !snap.is_shared());
        assert_eq!(std::mem::size_of::<Shared<Vec<u8>>>(), 8);
        assert_eq!(std::mem::align_of::<Shared<Vec<u8>>>(), 1);
    }

    #[test]
    fn drops_run_once_across_threads() {
        let marker = Arc::new(());
        let s = Shared::new(marker.clone());
        let p = Packed::new(1, b"xyz");
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (s, p) = (s.clone(), p.clone());
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        let (s2, p2) = (s.clone(), p.clone());
                        assert_eq!(p2.bytes(), b"xyz");
                        drop((s2, p2));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("thread");
        }
        assert_eq!(Arc::strong_count(&marker), 2);
        drop(s);
        assert_eq!(Arc::strong_count(&marker), 1);
        assert!(!p.is_shared());
    }
}
