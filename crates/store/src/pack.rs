//! `Pairs`: the field-value pairs of a small hash packed into one exactly sized allocation,
//! as Redis's listpack keeps them.
//!
//! ```text
//!   buf: [ len(f0) f0 | len(v0) v0 | len(f1) f1 | len(v1) v1 | ... ]   (len: LEB128 varint)
//! ```
//!
//! Each string costs its bytes plus one length byte below 128 bytes (two below 16 KiB), against
//! 48 bytes per pair for two inline `Blob`s plus a vector's spare capacity. Lookups are a linear
//! walk, as in a listpack; the hash converts to a table beyond `hash-max-listpack-entries`.

use std::fmt;

use crate::blob::Blob;

#[derive(Clone, Default)]
pub struct Pairs {
    buf: Box<[u8]>,
    pairs: u32,
}

fn put_len(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn len_size(mut n: usize) -> usize {
    let mut s = 1;
    while n >= 0x80 {
        n >>= 7;
        s += 1;
    }
    s
}

/// The string starting at `pos`: (bytes, position after it). `buf` was written by `put_len`.
fn read(buf: &[u8], mut pos: usize) -> (&[u8], usize) {
    let mut n = 0usize;
    let mut shift = 0;
    loop {
        let b = buf[pos];
        pos += 1;
        n |= usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    (&buf[pos..pos + n], pos + n)
}

/// Where one pair sits in the buffer: [start, value_at) is the field, [value_at, end) the value.
struct Found {
    start: usize,
    value_at: usize,
    end: usize,
}

impl Pairs {
    pub fn new() -> Pairs {
        Pairs::default()
    }

    pub fn len(&self) -> usize {
        self.pairs as usize
    }

    pub fn is_empty(&self) -> bool {
        self.pairs == 0
    }

    /// Bytes of the packed buffer (for MEMORY USAGE).
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    pub fn iter(&self) -> PairsIter<'_> {
        PairsIter {
            buf: &self.buf,
            pos: 0,
        }
    }

    fn find(&self, field: &[u8]) -> Option<Found> {
        let mut pos = 0;
        while pos < self.buf.len() {
            let (f, value_at) = read(&self.buf, pos);
            let (_, end) = read(&self.buf, value_at);
            if f == field {
                return Some(Found {
                    start: pos,
                    value_at,
                    end,
                });
            }
            pos = end;
        }
        None
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        self.find(field).map(|f| read(&self.buf, f.value_at).0)
    }

    /// The `i`th pair in insertion order.
    pub fn nth(&self, i: usize) -> Option<(&[u8], &[u8])> {
        self.iter().nth(i)
    }

    /// Replaces bytes [from, to) of the buffer by `with`, in one exactly sized allocation.
    fn splice(&mut self, from: usize, to: usize, with: &[u8]) {
        let mut v = Vec::with_capacity(self.buf.len() - (to - from) + with.len());
        v.extend_from_slice(&self.buf[..from]);
        v.extend_from_slice(with);
        v.extend_from_slice(&self.buf[to..]);
        self.buf = v.into_boxed_slice();
    }

    /// Sets `field` to `value` (a new field goes last); returns whether the field is new.
    pub fn set(&mut self, field: &[u8], value: &[u8]) -> bool {
        let mut enc = Vec::with_capacity(len_size(value.len()) + value.len() + field.len() + 4);
        match self.find(field) {
            Some(f) => {
                put_len(&mut enc, value.len());
                enc.extend_from_slice(value);
                self.splice(f.value_at, f.end, &enc);
                false
            }
            None => {
                put_len(&mut enc, field.len());
                enc.extend_from_slice(field);
                put_len(&mut enc, value.len());
                enc.extend_from_slice(value);
                let end = self.buf.len();
                self.splice(end, end, &enc);
                self.pairs += 1;
                true
            }
        }
    }

    /// Removes `field`; returns whether it existed.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self.find(field) {
            Some(f) => {
                self.splice(f.start, f.end, &[]);
                self.pairs -= 1;
                true
            }
            None => false,
        }
    }
}

pub struct PairsIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for PairsIter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let (f, at) = read(self.buf, self.pos);
        let (v, end) = read(self.buf, at);
        self.pos = end;
        Some((f, v))
    }
}

impl<'a> IntoIterator for &'a Pairs {
    type Item = (&'a [u8], &'a [u8]);
    type IntoIter = PairsIter<'a>;

    fn into_iter(self) -> PairsIter<'a> {
        self.iter()
    }
}

/// Packs pairs as given (the caller guarantees distinct fields, as a listpack read from a
/// file does; a repeated field would be found first and shadow the later one).
impl<F: AsRef<[u8]>, V: AsRef<[u8]>> FromIterator<(F, V)> for Pairs {
    fn from_iter<I: IntoIterator<Item = (F, V)>>(iter: I) -> Pairs {
        let mut buf = Vec::new();
        let mut pairs = 0u32;
        for (f, v) in iter {
            let (f, v) = (f.as_ref(), v.as_ref());
            put_len(&mut buf, f.len());
            buf.extend_from_slice(f);
            put_len(&mut buf, v.len());
            buf.extend_from_slice(v);
            pairs += 1;
        }
        Pairs {
            buf: buf.into_boxed_slice(),
            pairs,
        }
    }
}

impl fmt::Debug for Pairs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.iter()
                    .map(|(k, v)| (Blob::from_slice(k), Blob::from_slice(v))),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_replace_remove_keep_order() {
        let mut p = Pairs::new();
        let long = vec![b'x'; 300];
        assert!(p.set(b"a", b"1"));
        assert!(p.set(b"b", &long));
        assert!(p.set(b"", b""));
        assert!(!p.set(b"a", b"22"));
        assert_eq!(p.len(), 3);
        assert_eq!(p.get(b"a"), Some(&b"22"[..]));
        assert_eq!(p.get(b"b"), Some(&long[..]));
        assert_eq!(p.get(b""), Some(&b""[..]));
        assert_eq!(p.get(b"c"), None);
        let order: Vec<&[u8]> = p.iter().map(|(f, _)| f).collect();
        assert_eq!(order, vec![&b"a"[..], b"b", b""]);
        assert_eq!(p.nth(1), Some((&b"b"[..], &long[..])));
        assert!(p.remove(b"b"));
        assert!(!p.remove(b"b"));
        assert_eq!(p.len(), 2);
        assert_eq!(p.bytes(), 2 + 2 + 1 + 1 + 1);
        let q: Pairs = vec![(b"a".to_vec(), b"22".to_vec()), (vec![], vec![])]
            .into_iter()
            .collect();
        assert_eq!(q.iter().collect::<Vec<_>>(), p.iter().collect::<Vec<_>>());
    }

    #[test]
    fn lengths_across_varint_boundaries() {
        for n in [0usize, 1, 127, 128, 129, 16383, 16384, 70000] {
            let v = vec![7u8; n];
            let mut p = Pairs::new();
            p.set(&v, &v);
            p.set(b"z", &v);
            assert_eq!(p.get(&v), Some(&v[..]), "{n}");
            assert_eq!(p.get(b"z"), Some(&v[..]), "{n}");
            assert_eq!(p.bytes(), 2 * (len_size(n) + n) + 2 + len_size(n) + n);
        }
    }
}
