//! `Blob`: an immutable byte string kept inline up to 22 bytes, on the heap beyond.
//!
//! 24 bytes in all: the members, fields and elements of collections that are not packed into a
//! listpack or an intset. (Keys and embstr values have their own, tighter types, see
//! `short_bytes.rs`.)

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

const INLINE: usize = 22;

#[derive(Clone)]
pub enum Blob {
    Inline { len: u8, buf: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl Blob {
    pub const fn new() -> Blob {
        Blob::Inline {
            len: 0,
            buf: [0; INLINE],
        }
    }

    pub fn from_slice(s: &[u8]) -> Blob {
        if s.len() <= INLINE {
            let mut buf = [0u8; INLINE];
            buf[..s.len()].copy_from_slice(s);
            Blob::Inline {
                len: s.len() as u8,
                buf,
            }
        } else {
            Blob::Heap(s.into())
        }
    }

    pub fn from_vec(v: Vec<u8>) -> Blob {
        if v.len() <= INLINE {
            Blob::from_slice(&v)
        } else {
            Blob::Heap(v.into_boxed_slice())
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        match self {
            Blob::Inline { len, buf } => &buf[..usize::from(*len)],
            Blob::Heap(b) => b,
        }
    }

    pub fn into_vec(self) -> Vec<u8> {
        match self {
            Blob::Inline { .. } => self.as_slice().to_vec(),
            Blob::Heap(b) => b.into_vec(),
        }
    }

    /// Whether the bytes live on the heap (for memory accounting).
    pub fn spilled(&self) -> bool {
        matches!(self, Blob::Heap(_))
    }
}

impl Default for Blob {
    fn default() -> Self {
        Blob::new()
    }
}

impl Deref for Blob {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for Blob {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Borrow<[u8]> for Blob {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Hash for Blob {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state)
    }
}

impl PartialEq for Blob {
    fn eq(&self, other: &Blob) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Blob {}

impl PartialOrd for Blob {
    fn partial_cmp(&self, other: &Blob) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Blob {
    fn cmp(&self, other: &Blob) -> std::cmp::Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

impl PartialEq<[u8]> for Blob {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_slice() == other
    }
}

impl PartialEq<&[u8]> for Blob {
    fn eq(&self, other: &&[u8]) -> bool {
        self.as_slice() == *other
    }
}

impl PartialEq<Vec<u8>> for Blob {
    fn eq(&self, other: &Vec<u8>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl From<&[u8]> for Blob {
    fn from(s: &[u8]) -> Blob {
        Blob::from_slice(s)
    }
}

impl From<Vec<u8>> for Blob {
    fn from(v: Vec<u8>) -> Blob {
        Blob::from_vec(v)
    }
}

impl From<&str> for Blob {
    fn from(s: &str) -> Blob {
        Blob::from_slice(s.as_bytes())
    }
}

impl FromIterator<u8> for Blob {
    fn from_iter<I: IntoIterator<Item = u8>>(iter: I) -> Blob {
        Blob::from_vec(iter.into_iter().collect())
    }
}

impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_roundtrip() {
        assert_eq!(std::mem::size_of::<Blob>(), 24);
        for n in [0, 1, 21, 22, 23, 100] {
            let v: Vec<u8> = (0..n as u8).collect();
            let b = Blob::from_slice(&v);
            assert_eq!(b.as_slice(), &v[..]);
            assert_eq!(b.spilled(), n > INLINE);
            assert_eq!(Blob::from_vec(v.clone()), b);
            assert_eq!(b.clone().into_vec(), v);
        }
    }

    #[test]
    fn hashes_like_a_slice() {
        let mut m = std::collections::HashMap::new();
        m.insert(Blob::from("k"), 1);
        assert_eq!(m.get(&b"k"[..]), Some(&1));
    }
}
