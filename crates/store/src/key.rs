//! `Key`: a keyspace key in 16 bytes, inline up to 15 bytes.
//!
//! The inline length is an enum of 16 values, so the other 240 values of that first byte are a
//! niche holding the variant tag; a longer key lives behind one thin pointer. Together with a
//! 24-byte `Value`, a keyspace entry is 56 bytes.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

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
    Inline {
        len: Len,
        buf: [u8; INLINE],
    },
    Heap(Box<Box<[u8]>>),
}

impl Key {
    pub fn from_slice(s: &[u8]) -> Key {
        match Len::ALL.get(s.len()) {
            Some(&len) => {
                let mut buf = [0u8; INLINE];
                buf[..s.len()].copy_from_slice(s);
                Key::Inline { len, buf }
            }
            None => Key::Heap(Box::new(s.into())),
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        match self {
            Key::Inline { len, buf } => &buf[..*len as usize],
            Key::Heap(b) => b,
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
        for n in [0usize, 1, 14, 15, 16, 300] {
            let v: Vec<u8> = (0..n).map(|i| i as u8).collect();
            let k = Key::from_slice(&v);
            assert_eq!(k.as_slice(), &v[..]);
            assert_eq!(k.spilled(), n > INLINE);
            assert_eq!(k.clone(), k);
        }
    }
}
