//! Byte strings kept inline up to a size and shared on the heap beyond it, in two sizes:
//!
//! - `Key`, a keyspace key: 20 bytes, inline up to 19. Keys such as redis-benchmark's
//!   `key:000000123456` (16 bytes) or `user:1000:profile` compare without a second cache miss,
//!   which is most of the cost of a lookup in a large keyspace (AOF replay of 2M
//!   redis-benchmark SETs went from 0.74 to 0.49 of Redis's time against 16-byte keys inline
//!   up to 15).
//! - `EmbStr`, the value of an "embstr" string: 16 bytes, inline up to 15, so that a `Value`
//!   is 16 bytes and a keyspace entry (key, value, expiry, access clock and snapshot mark in
//!   one word) is 48 bytes. Longer embstr values (16 to 44 bytes) live on the heap.
//!
//! Both have alignment 1 (the heap pointer is stored unaligned), so a `Key` has no padding.
//!
//! The inline length is an enum with one value per length, so the other values of that first
//! byte are a niche holding the variant tag (and, for `EmbStr`, `Value`'s own tag). A longer
//! string lives behind one thin pointer to a shared, reference-counted allocation
//! (`SharedBytes`): cloning one, as snapshots do for every entry they hand to a writer, never
//! allocates.

use std::alloc::{self, Layout};
use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicUsize, Ordering};

/// Bytes too long to keep inline, after a header, in one allocation shared by every clone
/// (an `Arc<[u8]>` behind a thin pointer).
///
/// ```text
///   ptr ─▶ [ refs: AtomicUsize | len: usize | bytes ... ]
/// ```
///
/// Packed (alignment 1) so that the short-bytes types holding it are as long as their inline
/// bytes plus one, with no padding: a `Key` is 20 bytes and a keyspace entry 48.
#[repr(C, packed)]
pub struct SharedBytes(NonNull<Header>);

#[repr(C)]
struct Header {
    refs: AtomicUsize,
    len: usize,
}

// SAFETY: the bytes are immutable after creation and the count is atomic, as in `Arc<[u8]>`.
unsafe impl Send for SharedBytes {}
// SAFETY: as above; `&SharedBytes` only reads the bytes.
unsafe impl Sync for SharedBytes {}

impl SharedBytes {
    fn layout(len: usize) -> Layout {
        // A slice that exists is at most isize::MAX bytes, so this cannot overflow in practice.
        Layout::from_size_align(
            std::mem::size_of::<Header>() + len,
            std::mem::align_of::<Header>(),
        )
        .expect("length fits a layout")
    }

    pub fn new(s: &[u8]) -> SharedBytes {
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
            SharedBytes(p)
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the allocation lives while any clone does, and holds `len` bytes after the
        // header, written once in `new`.
        unsafe {
            let h = self.ptr().as_ptr();
            std::slice::from_raw_parts(h.add(1) as *const u8, (*h).len)
        }
    }

    fn ptr(&self) -> NonNull<Header> {
        // A copy of the (unaligned) field, never a reference to it.
        self.0
    }

    fn header(&self) -> &Header {
        // SAFETY: see `as_slice`.
        unsafe { self.ptr().as_ref() }
    }
}

impl Clone for SharedBytes {
    fn clone(&self) -> Self {
        // As Arc: Relaxed suffices to take a new reference from an existing one; abort rather
        // than wrap the count.
        if self.header().refs.fetch_add(1, Ordering::Relaxed) > isize::MAX as usize {
            std::process::abort();
        }
        SharedBytes(self.ptr())
    }
}

impl Drop for SharedBytes {
    fn drop(&mut self) {
        if self.header().refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire);
        let layout = Self::layout(self.header().len);
        // SAFETY: this was the last reference; the allocation was made with this layout.
        unsafe { alloc::dealloc(self.ptr().as_ptr() as *mut u8, layout) }
    }
}

/// Defines a short-bytes type `$name` of `$inline` inline bytes plus the length byte.
macro_rules! short_bytes {
    ($(#[$doc:meta])* $name:ident, $len:ident, $inline:expr, [$($l:ident),*]) => {
        #[derive(Clone, Copy)]
        #[repr(u8)]
        #[doc(hidden)]
        pub enum $len {
            $($l),*
        }

        impl $len {
            const ALL: [$len; $inline + 1] = [$($len::$l),*];
        }

        $(#[$doc])*
        #[derive(Clone)]
        pub enum $name {
            #[doc(hidden)]
            Inline { len: $len, buf: [u8; $inline] },
            #[doc(hidden)]
            Heap(SharedBytes),
        }

        impl $name {
            /// How many bytes are kept inline.
            pub const INLINE: usize = $inline;

            pub fn from_slice(s: &[u8]) -> $name {
                match $len::ALL.get(s.len()) {
                    Some(&len) => {
                        let mut buf = [0u8; $inline];
                        buf[..s.len()].copy_from_slice(s);
                        $name::Inline { len, buf }
                    }
                    None => $name::Heap(SharedBytes::new(s)),
                }
            }

            #[inline]
            pub fn as_slice(&self) -> &[u8] {
                match self {
                    $name::Inline { len, buf } => &buf[..*len as usize],
                    $name::Heap(b) => b.as_slice(),
                }
            }

            /// Whether the bytes live on the heap.
            pub fn spilled(&self) -> bool {
                matches!(self, $name::Heap(_))
            }
        }

        impl Default for $name {
            fn default() -> Self {
                $name::from_slice(b"")
            }
        }

        impl Deref for $name {
            type Target = [u8];
            fn deref(&self) -> &[u8] {
                self.as_slice()
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                self.as_slice()
            }
        }

        impl Borrow<[u8]> for $name {
            fn borrow(&self) -> &[u8] {
                self.as_slice()
            }
        }

        impl Hash for $name {
            fn hash<H: Hasher>(&self, state: &mut H) {
                self.as_slice().hash(state)
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &$name) -> bool {
                self.as_slice() == other.as_slice()
            }
        }

        impl Eq for $name {}

        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &$name) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }

        impl Ord for $name {
            fn cmp(&self, other: &$name) -> std::cmp::Ordering {
                self.as_slice().cmp(other.as_slice())
            }
        }

        impl PartialEq<[u8]> for $name {
            fn eq(&self, other: &[u8]) -> bool {
                self.as_slice() == other
            }
        }

        impl PartialEq<&[u8]> for $name {
            fn eq(&self, other: &&[u8]) -> bool {
                self.as_slice() == *other
            }
        }

        impl PartialEq<Vec<u8>> for $name {
            fn eq(&self, other: &Vec<u8>) -> bool {
                self.as_slice() == other.as_slice()
            }
        }

        impl From<&[u8]> for $name {
            fn from(s: &[u8]) -> $name {
                $name::from_slice(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> $name {
                $name::from_slice(s.as_bytes())
            }
        }

        impl From<Vec<u8>> for $name {
            fn from(v: Vec<u8>) -> $name {
                $name::from_slice(&v)
            }
        }

        impl From<&crate::blob::Blob> for $name {
            fn from(b: &crate::blob::Blob) -> $name {
                $name::from_slice(b)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
            }
        }
    };
}

short_bytes!(
    /// A keyspace key: 20 bytes, inline up to 19.
    Key,
    KeyLen,
    19,
    [
        L0, L1, L2, L3, L4, L5, L6, L7, L8, L9, L10, L11, L12, L13, L14, L15, L16, L17, L18,
        L19
    ]
);

short_bytes!(
    /// The bytes of an embstr string value: 16 bytes, inline up to 15.
    EmbStr,
    EmbLen,
    15,
    [L0, L1, L2, L3, L4, L5, L6, L7, L8, L9, L10, L11, L12, L13, L14, L15]
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_roundtrip() {
        assert_eq!(std::mem::size_of::<Key>(), 20);
        assert_eq!(std::mem::align_of::<Key>(), 1);
        assert_eq!(std::mem::size_of::<EmbStr>(), 16);
        for n in [0usize, 1, 14, 15, 16, 19, 20, 22, 23, 24, 300] {
            let v: Vec<u8> = (0..n).map(|i| i as u8).collect();
            let k = Key::from_slice(&v);
            assert_eq!(k.as_slice(), &v[..]);
            assert_eq!(k.spilled(), n > Key::INLINE);
            assert_eq!(k.clone(), k);
            let e = EmbStr::from_slice(&v);
            assert_eq!(e.as_slice(), &v[..]);
            assert_eq!(e.spilled(), n > EmbStr::INLINE);
            assert_eq!(e.clone(), e);
        }
    }

    #[test]
    fn heap_bytes_share_one_allocation_across_threads() {
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
