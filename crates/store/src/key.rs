//! `Key`: a keyspace key in 16 bytes, inline up to 15 bytes.
//!
//! (24 bytes inline up to 23 was tried: lookups of 16-23-byte keys then cost no second cache
//! miss, which made AOF replay of redis-benchmark's keys 1.8x faster, but 64-byte entries
//! raised the RSS of DEBUG POPULATE 1000000 from 1.16x to 1.50x Redis's.)
//!
//! The inline length is an enum of 16 values, so the other 240 values of that first byte are a
//! niche holding the variant tag; a longer key lives behind one thin pointer to a shared,
//! reference-counted allocation (`HeapKey`): cloning a key, as snapshots do for every entry
//! they hand to a writer, never allocates. Together with a 24-byte `Value` and the entry's
//! expiry, clock and snapshot mark, a keyspace entry is 56 bytes.

use std::alloc::{self, Layout};
use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicUsize, Ordering};

const INLINE: usize = 15;

#[derive(Clone, Copy)]
#[repr(u8)]
enum Len {
    L0,
    L1,
    L2,
    L3,
    L4,
    L5,
    L6,
    L7,
    L8,
    L9,
    L10,
    L11,
    L12,
    L13,
    L14,
    L15,
}

impl Len {
    const ALL: [Len; INLINE + 1] = [
        Len::L0,
        Len::L1,
        Len::L2,
        Len::L3,
        Len::L4,
        Len::L5,
        Len::L6,
        Len::L7,
        Len::L8,
        Len::L9,
        Len::L10,
        Len::L11,
        Len::L12,
        Len::L13,
        Len::L14,
        Len::L15,
    ];
}

#[derive(Clone)]
pub enum Key {
    #[allow(private_interfaces)]
    Inline { len: Len, buf: [u8; INLINE] },
    #[allow(private_interfaces)]
    Heap(HeapKey),
}

/// The bytes of a key longer than `INLINE`, after a header, in one allocation shared by
/// every clone (an `Arc<[u8]>` behind a thin pointer).
///
/// ```text
///   ptr ─▶ [ refs: AtomicUsize | len: usize | bytes ... ]
/// ```
struct HeapKey(NonNull<Header>);

#[repr(C)]
struct Header {
    refs: AtomicUsize,
    len: usize,
}

// SAFETY: the bytes are immutable after creation and the count is atomic, as in `Arc<[u8]>`.
unsafe impl Send for HeapKey {}
// SAFETY: as above; `&HeapKey` only reads the bytes.
unsafe impl Sync for HeapKey {}

impl HeapKey {
    fn layout(len: usize) -> Layout {
        // A slice that exists is at most isize::MAX bytes, so this cannot overflow in practice.
        Layout::from_size_align(
            std::mem::size_of::<Header>() + len,
            std::mem::align_of::<Header>(),
        )
        .expect("key length fits a layout")
    }

    fn new(s: &[u8]) -> HeapKey {
        let layout = Self::layout(s.len());
        // SAFETY: the layout has a non-zero size (the header); the header is written before
        // use and the bytes are copied right after it, inside the allocation.
        unsafe {
            let p = alloc::alloc(layout) as *mut Header;
            let Some(p) = NonNull::new(p) else {
                alloc::handle_alloc_error(layout);
            };
            p.as_ptr().write(Header {
                refs: AtomicUsize::new(1),
                len: s.len(),
            });
            std::ptr::copy_nonoverlapping(s.as_ptr(), p.as_ptr().add(1) as *mut u8, s.len());
            HeapKey(p)
        }
    }

    fn as_slice(&self) -> &[u8] {
        // SAFETY: the allocation lives while any clone does, and holds `len` bytes after the
        // header, written once in `new`.
        unsafe {
            let h = self.0.as_ptr();
            std::slice::from_raw_parts(h.add(1) as *const u8, (*h).len)
        }
    }

    fn header(&self) -> &Header {
        // SAFETY: see `as_slice`.
        unsafe { self.0.as_ref() }
    }
}

impl Clone for HeapKey {
    fn clone(&self) -> Self {
        // As Arc: Relaxed suffices to take a new reference from an existing one; abort rather
        // than wrap the count.
        if self.header().refs.fetch_add(1, Ordering::Relaxed) > isize::MAX as usize {
            std::process::abort();
        }
        HeapKey(self.0)
    }
}

impl Drop for HeapKey {
    fn drop(&mut self) {
        if self.header().refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire);
        let layout = Self::layout(self.header().len);
        // SAFETY: this was the last reference; the allocation was made with this layout.
        unsafe { alloc::dealloc(self.0.as_ptr() as *mut u8, layout) }
    }
}

impl Key {
    pub fn from_slice(s: &[u8]) -> Key {
        match Len::ALL.get(s.len()) {
            Some(&len) => {
                let mut buf = [0u8; INLINE];
                buf[..s.len()].copy_from_slice(s);
                Key::Inline { len, buf }
            }
            None => Key::Heap(HeapKey::new(s)),
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        match self {
            Key::Inline { len, buf } => &buf[..*len as usize],
            Key::Heap(b) => b.as_slice(),
        }
    }

    pub fn spilled(&self) -> bool {
        matches!(self, Key::Heap(_))
    }
}

impl Default for Key {
    fn default() -> Self {
        Key::from_slice(b"")
    }
}

impl Deref for Key {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for Key {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state)
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Key) -> std::cmp::Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

impl PartialEq<[u8]> for Key {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_slice() == other
    }
}

impl PartialEq<&[u8]> for Key {
    fn eq(&self, other: &&[u8]) -> bool {
        self.as_slice() == *other
    }
}

impl PartialEq<Vec<u8>> for Key {
    fn eq(&self, other: &Vec<u8>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl From<&[u8]> for Key {
    fn from(s: &[u8]) -> Key {
        Key::from_slice(s)
    }
}

impl From<&str> for Key {
    fn from(s: &str) -> Key {
        Key::from_slice(s.as_bytes())
    }
}

impl From<Vec<u8>> for Key {
    fn from(v: Vec<u8>) -> Key {
        Key::from_slice(&v)
    }
}

impl From<&crate::blob::Blob> for Key {
    fn from(b: &crate::blob::Blob) -> Key {
        Key::from_slice(b)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_bytes_and_roundtrip() {
        assert_eq!(std::mem::size_of::<Key>(), 16);
        for n in [0usize, 1, 14, 15, 16, 23, 24, 300] {
            let v: Vec<u8> = (0..n).map(|i| i as u8).collect();
            let k = Key::from_slice(&v);
            assert_eq!(k.as_slice(), &v[..]);
            assert_eq!(k.spilled(), n > INLINE);
            assert_eq!(k.clone(), k);
        }
    }

    #[test]
    fn heap_keys_share_one_allocation_across_threads() {
        let k = Key::from_slice(&[7u8; 100]);
        let clones: Vec<Key> = (0..64).map(|_| k.clone()).collect();
        let Key::Heap(h) = &k else { panic!("spilled") };
        assert_eq!(h.header().refs.load(Ordering::Relaxed), 65);
        let t = std::thread::spawn(move || clones.iter().all(|c| c.as_slice() == [7u8; 100]));
        assert!(t.join().unwrap());
        assert_eq!(h.header().refs.load(Ordering::Relaxed), 1);
        assert_eq!(Key::from_slice(&[1u8; 24]).as_slice(), &[1u8; 24]);
    }
}
