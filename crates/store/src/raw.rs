//! `RawStr`: the bytes of a "raw" string value in one allocation shared by its clones, with a
//! 12-byte header (Redis's raw string costs a 16-byte object plus an sds header).
//!
//! ```text
//!   ptr ─▶ [ refs: u32 | len: u32 | cap: u32 | bytes ... (cap) ]
//!   ptr ─▶ [ refs: u32 | u32::MAX | u32::MAX | pad | len: u64 | cap: u64 | bytes ... ]  (wide)
//! ```
//!
//! A 100-byte value takes one 112-byte block, where `Arc<Vec<u8>>` took two (48 + 112).
//! Clones (snapshots hand entries to a writer this way) share the bytes; a write to a shared
//! string copies it first, as `Arc::make_mut` does. A string grown in place (APPEND, SETRANGE,
//! SETBIT) keeps spare capacity as Redis's sdsMakeRoomFor does: double up to 1 MiB, then
//! 1 MiB more.

use std::alloc::{self, Layout};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicU32, Ordering};

const NARROW: usize = 12;
const WIDE: usize = 32;
const WIDE_MARK: u32 = u32::MAX;
/// Growth beyond this adds this much instead of doubling (sds's SDS_MAX_PREALLOC).
const MAX_PREALLOC: usize = 1024 * 1024;

pub struct RawStr(NonNull<AtomicU32>);

// SAFETY: the bytes are only written through `&mut RawStr` when the count is 1 (unshared);
// the count is atomic, as in `Arc`.
unsafe impl Send for RawStr {}
// SAFETY: `&RawStr` only reads.
unsafe impl Sync for RawStr {}

/// Header size for a capacity.
fn header(cap: usize) -> usize {
    if cap < WIDE_MARK as usize {
        NARROW
    } else {
        WIDE
    }
}

fn layout(cap: usize) -> Layout {
    let size = header(cap).checked_add(cap).expect("string size overflows");
    Layout::from_size_align(size, 8).expect("string size fits a layout")
}

impl RawStr {
    fn base(&self) -> *mut u8 {
        self.0.as_ptr() as *mut u8
    }

    fn refs(&self) -> &AtomicU32 {
        // SAFETY: the allocation lives while any clone does; the count is its first field.
        unsafe { self.0.as_ref() }
    }

    fn is_wide(&self) -> bool {
        // SAFETY: the header is at least 12 bytes, aligned 8.
        unsafe { (self.base().add(8) as *const u32).read() == WIDE_MARK }
    }

    /// (len, cap) from the header.
    fn dims(&self) -> (usize, usize) {
        // SAFETY: as `is_wide`; a wide header holds two u64 at offsets 16 and 24.
        unsafe {
            let b = self.base();
            if self.is_wide() {
                (
                    (b.add(16) as *const u64).read() as usize,
                    (b.add(24) as *const u64).read() as usize,
                )
            } else {
                (
                    (b.add(4) as *const u32).read() as usize,
                    (b.add(8) as *const u32).read() as usize,
                )
            }
        }
    }

    fn data(&self) -> *mut u8 {
        let off = if self.is_wide() { WIDE } else { NARROW };
        // SAFETY: the bytes start right after the header, inside the allocation.
        unsafe { self.base().add(off) }
    }

    /// Writes len and cap into a header whose kind `cap` decided.
    ///
    /// # Safety
    /// `base` is an allocation made with `layout(cap)`.
    unsafe fn write_dims(base: *mut u8, len: usize, cap: usize) {
        // SAFETY: per the contract, the header fits; offsets are aligned for their types.
        unsafe {
            if header(cap) == NARROW {
                (base.add(4) as *mut u32).write(len as u32);
                (base.add(8) as *mut u32).write(cap as u32);
            } else {
                (base.add(4) as *mut u32).write(WIDE_MARK);
                (base.add(8) as *mut u32).write(WIDE_MARK);
                (base.add(16) as *mut u64).write(len as u64);
                (base.add(24) as *mut u64).write(cap as u64);
            }
        }
    }

    /// A string of `s` with room for `cap` bytes (cap >= s.len()).
    fn with_capacity(s: &[u8], cap: usize) -> RawStr {
        debug_assert!(cap >= s.len());
        let l = layout(cap);
        // SAFETY: the layout is non-zero (a header); the header and the bytes are written
        // before the value is used.
        unsafe {
            let base = alloc::alloc(l);
            if base.is_null() {
                alloc::handle_alloc_error(l);
            }
            (base as *mut AtomicU32).write(AtomicU32::new(1));
            Self::write_dims(base, s.len(), cap);
            std::ptr::copy_nonoverlapping(s.as_ptr(), base.add(header(cap)), s.len());
            RawStr(NonNull::new_unchecked(base as *mut AtomicU32))
        }
    }

    pub fn from_slice(s: &[u8]) -> RawStr {
        Self::with_capacity(s, s.len())
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `len` bytes after the header were written.
        unsafe { std::slice::from_raw_parts(self.data(), self.dims().0) }
    }

    /// Bytes reserved for the string (at least its length).
    pub fn capacity(&self) -> usize {
        self.dims().1
    }

    /// Bytes of the whole allocation (header included), for MEMORY USAGE.
    pub fn allocated(&self) -> usize {
        let cap = self.capacity();
        header(cap) + cap
    }

    /// Makes this string the only owner of its bytes with room for `need` bytes.
    fn make_room(&mut self, need: usize) {
        let (len, cap) = self.dims();
        let unique = self.refs().load(Ordering::Acquire) == 1;
        if unique && need <= cap {
            return;
        }
        let new_cap = if need <= cap {
            cap
        } else if need < MAX_PREALLOC {
            need.saturating_mul(2)
        } else {
            need.saturating_add(MAX_PREALLOC)
        };
        if !unique {
            *self = Self::with_capacity(self.as_slice(), new_cap);
            return;
        }
        if header(new_cap) != header(cap) {
            // The header changes size: move the bytes to a new allocation.
            *self = Self::with_capacity(self.as_slice(), new_cap);
            return;
        }
        let old = layout(cap);
        let new = layout(new_cap);
        // SAFETY: this is the only reference; the block was made with `old`; the header is
        // unchanged in kind, so only its dims are rewritten.
        unsafe {
            let base = alloc::realloc(self.base(), old, new.size());
            if base.is_null() {
                alloc::handle_alloc_error(new);
            }
            Self::write_dims(base, len, new_cap);
            self.0 = NonNull::new_unchecked(base as *mut AtomicU32);
        }
    }

    fn set_len(&mut self, len: usize) {
        let cap = self.capacity();
        debug_assert!(len <= cap);
        // SAFETY: the block is ours (make_room ran) and made for `cap`.
        unsafe { Self::write_dims(self.base(), len, cap) }
    }

    pub fn extend_from_slice(&mut self, s: &[u8]) {
        let len = self.len();
        let need = len.checked_add(s.len()).expect("string length overflows");
        self.make_room(need);
        // SAFETY: room for `need` bytes, the block is unshared.
        unsafe { std::ptr::copy_nonoverlapping(s.as_ptr(), self.data().add(len), s.len()) };
        self.set_len(need);
    }

    /// Grows to `n` bytes filled with `byte`, or truncates to `n`.
    pub fn resize(&mut self, n: usize, byte: u8) {
        let len = self.len();
        self.make_room(n.max(len));
        if n > len {
            // SAFETY: room for `n` bytes, the block is unshared.
            unsafe { std::ptr::write_bytes(self.data().add(len), byte, n - len) };
        }
        self.set_len(n);
    }
}

impl Clone for RawStr {
    fn clone(&self) -> Self {
        if self.refs().fetch_add(1, Ordering::Relaxed) > i32::MAX as u32 {
            std::process::abort();
        }
        RawStr(self.0)
    }
}

impl Drop for RawStr {
    fn drop(&mut self) {
        if self.refs().fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire);
        let l = layout(self.capacity());
        // SAFETY: the last reference; the block was made with this layout.
        unsafe { alloc::dealloc(self.base(), l) }
    }
}

impl Deref for RawStr {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

/// Writing through the slice copies a shared string first.
impl DerefMut for RawStr {
    fn deref_mut(&mut self) -> &mut [u8] {
        let len = self.len();
        self.make_room(len);
        // SAFETY: unshared now; `len` bytes written.
        unsafe { std::slice::from_raw_parts_mut(self.data(), len) }
    }
}

impl AsRef<[u8]> for RawStr {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl From<Vec<u8>> for RawStr {
    fn from(v: Vec<u8>) -> RawStr {
        RawStr::from_slice(&v)
    }
}

impl PartialEq for RawStr {
    fn eq(&self, other: &RawStr) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl fmt::Debug for RawStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_block_with_a_12_byte_header() {
        let r = RawStr::from_slice(&[1u8; 100]);
        assert_eq!(r.as_slice(), &[1u8; 100][..]);
        assert_eq!(r.capacity(), 100);
        assert_eq!(r.allocated(), 112);
        assert_eq!(std::mem::size_of::<RawStr>(), 8);
        assert_eq!(RawStr::from_slice(b"").len(), 0);
    }

    #[test]
    fn appends_grow_greedily_and_writes_copy_shared_bytes() {
        let mut r = RawStr::from_slice(b"ab");
        let shared = r.clone();
        r.extend_from_slice(b"cd");
        assert_eq!(&r[..], b"abcd");
        assert_eq!(&shared[..], b"ab", "a clone keeps its bytes");
        assert_eq!(r.capacity(), 8, "doubled");
        r.extend_from_slice(b"e");
        assert_eq!(r.capacity(), 8, "no realloc within capacity");
        let before = r.clone();
        r[0] = b'X';
        assert_eq!(&r[..], b"Xbcde");
        assert_eq!(&before[..], b"abcde");
        r.resize(8, 0);
        assert_eq!(&r[..], b"Xbcde\0\0\0");
        r.resize(2, 0);
        assert_eq!(&r[..], b"Xb");
        let big = RawStr::from_slice(&vec![3u8; 2 << 20]);
        let mut g = big.clone();
        g.extend_from_slice(b"z");
        assert_eq!(g.capacity(), (2 << 20) + 1 + MAX_PREALLOC);
        assert_eq!(g.len(), (2 << 20) + 1);
        assert_eq!(big.len(), 2 << 20);
    }

    #[test]
    fn clones_across_threads() {
        let r = RawStr::from_slice(&[9u8; 64]);
        let clones: Vec<RawStr> = (0..32).map(|_| r.clone()).collect();
        let t = std::thread::spawn(move || clones.iter().all(|c| c[..] == [9u8; 64]));
        assert!(t.join().unwrap());
        assert_eq!(r.refs().load(Ordering::Relaxed), 1);
    }

    #[test]
    fn wide_header_layout() {
        // Exercised through the header helpers: a 4 GiB string is too big for a unit test.
        assert_eq!(header(u32::MAX as usize - 1), NARROW);
        assert_eq!(header(u32::MAX as usize), WIDE);
        assert_eq!(layout(u32::MAX as usize).size(), WIDE + u32::MAX as usize);
    }
}
