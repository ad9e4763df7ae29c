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

/// The members of a small sorted set with their scores, in (score, member) order, packed as
/// two exactly sized blocks: the scores (so that they can be lent as `&f64`) and the members
/// as varint-prefixed strings. A 10-member set of 8-byte members takes 80 + 90 bytes where a
/// vector of (`Blob`, f64) took 320. Access by rank walks the members, as in a listpack.
#[derive(Clone, Default)]
pub struct Scored {
    scores: Box<[f64]>,
    members: Box<[u8]>,
}

pub struct ScoredIter<'a> {
    scores: std::slice::Iter<'a, f64>,
    members: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for ScoredIter<'a> {
    type Item = (&'a [u8], &'a f64);

    fn next(&mut self) -> Option<Self::Item> {
        let score = self.scores.next()?;
        let (m, end) = read(self.members, self.pos);
        self.pos = end;
        Some((m, score))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.scores.size_hint()
    }
}

impl Scored {
    pub fn len(&self) -> usize {
        self.scores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    /// Bytes of the two blocks (for MEMORY USAGE).
    pub fn bytes(&self) -> usize {
        self.scores.len() * 8 + self.members.len()
    }

    /// (member, &score) in order.
    pub fn entries(&self) -> ScoredIter<'_> {
        ScoredIter {
            scores: self.scores.iter(),
            members: &self.members,
            pos: 0,
        }
    }

    /// (member, score) in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        self.entries().map(|(m, s)| (m, *s))
    }

    /// The members in order.
    pub fn members(&self) -> Vec<&[u8]> {
        self.entries().map(|(m, _)| m).collect()
    }

    pub fn get(&self, i: usize) -> Option<(&[u8], f64)> {
        self.entries().nth(i).map(|(m, s)| (m, *s))
    }

    pub fn position(&self, member: &[u8]) -> Option<usize> {
        self.entries().position(|(m, _)| m == member)
    }

    /// The number of leading elements for which `pred` holds (`pred` true then false).
    pub fn partition_point(&self, pred: impl Fn(&[u8], f64) -> bool) -> usize {
        self.entries()
            .position(|(m, s)| !pred(m, *s))
            .unwrap_or(self.len())
    }

    /// Byte offset of the member at rank `i` (the end for `i == len`).
    fn offset(&self, i: usize) -> usize {
        let mut pos = 0;
        for _ in 0..i {
            pos = read(&self.members, pos).1;
        }
        pos
    }

    /// Inserts at rank `i` (the caller keeps the order).
    pub fn insert(&mut self, i: usize, member: &[u8], score: f64) {
        let mut scores = Vec::with_capacity(self.scores.len() + 1);
        scores.extend_from_slice(&self.scores[..i]);
        scores.push(score);
        scores.extend_from_slice(&self.scores[i..]);
        let at = self.offset(i);
        let mut enc = Vec::with_capacity(member.len() + 4);
        put_len(&mut enc, member.len());
        enc.extend_from_slice(member);
        let mut members = Vec::with_capacity(self.members.len() + enc.len());
        members.extend_from_slice(&self.members[..at]);
        members.extend_from_slice(&enc);
        members.extend_from_slice(&self.members[at..]);
        self.scores = scores.into_boxed_slice();
        self.members = members.into_boxed_slice();
    }

    /// Removes the ranks in `range` (clamped to the length); returns how many.
    pub fn remove_range(&mut self, range: std::ops::Range<usize>) -> usize {
        let end = range.end.min(self.len());
        if range.start >= end {
            return 0;
        }
        let (from, to) = (self.offset(range.start), self.offset(end));
        let mut scores = Vec::with_capacity(self.len() - (end - range.start));
        scores.extend_from_slice(&self.scores[..range.start]);
        scores.extend_from_slice(&self.scores[end..]);
        let mut members = Vec::with_capacity(self.members.len() - (to - from));
        members.extend_from_slice(&self.members[..from]);
        members.extend_from_slice(&self.members[to..]);
        self.scores = scores.into_boxed_slice();
        self.members = members.into_boxed_slice();
        end - range.start
    }

    /// Removes rank `i`, returning its member and score.
    pub fn remove(&mut self, i: usize) -> Option<(Blob, f64)> {
        let (m, s) = self.get(i)?;
        let out = (Blob::from_slice(m), s);
        self.remove_range(i..i + 1);
        Some(out)
    }
}

impl<'a> IntoIterator for &'a Scored {
    type Item = (&'a [u8], &'a f64);
    type IntoIter = ScoredIter<'a>;

    fn into_iter(self) -> ScoredIter<'a> {
        self.entries()
    }
}

/// Packs entries as given (the caller gives them in order and distinct).
impl<M: AsRef<[u8]>> FromIterator<(M, f64)> for Scored {
    fn from_iter<I: IntoIterator<Item = (M, f64)>>(iter: I) -> Scored {
        let mut scores = Vec::new();
        let mut members = Vec::new();
        for (m, s) in iter {
            let m = m.as_ref();
            scores.push(s);
            put_len(&mut members, m.len());
            members.extend_from_slice(m);
        }
        Scored {
            scores: scores.into_boxed_slice(),
            members: members.into_boxed_slice(),
        }
    }
}

impl fmt::Debug for Scored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.entries().map(|(m, s)| (Blob::from_slice(m), *s)))
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
    fn scored_insert_remove_ranks() {
        let mut z: Scored = vec![(b"a".to_vec(), 1.0), (vec![b'b'; 200], 2.0)]
            .into_iter()
            .collect();
        z.insert(1, b"mid", 1.5);
        z.insert(0, b"", 0.0);
        z.insert(4, b"z", 9.0);
        let all: Vec<(&[u8], f64)> = z.iter().collect();
        assert_eq!(
            all,
            vec![
                (&b""[..], 0.0),
                (&b"a"[..], 1.0),
                (&b"mid"[..], 1.5),
                (&[b'b'; 200][..], 2.0),
                (&b"z"[..], 9.0)
            ]
        );
        assert_eq!(z.get(3), Some((&[b'b'; 200][..], 2.0)));
        assert_eq!(z.position(b"mid"), Some(2));
        assert_eq!(z.partition_point(|_, s| s < 2.0), 3);
        assert_eq!(z.remove(2), Some((Blob::from_slice(b"mid"), 1.5)));
        assert_eq!(z.remove_range(1..10), 3);
        assert_eq!(z.len(), 1);
        assert_eq!(z.bytes(), 8 + 1);
        assert_eq!(z.remove_range(1..1), 0);
        let borrowed: Vec<f64> = (&z).into_iter().map(|(_, s)| *s).collect();
        assert_eq!(borrowed, vec![0.0]);
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
