//! `Pairs`: the field-value pairs of a small hash packed into one exactly sized allocation,
//! as Redis's listpack keeps them: a shared block (`Packed`, 8-byte header holding the count
//! of pairs) that is the value's only block.
//!
//! ```text
//!   buf: [ len(f0) f0 | len(v0) v0 | len(f1) f1 | len(v1) v1 | ... ]   (len: LEB128 varint)
//! ```
//!
//! Each string costs its bytes plus one length byte below 128 bytes (two below 16 KiB), against
//! 48 bytes per pair for two inline `Blob`s plus a vector's spare capacity. Lookups are a linear
//! walk, as in a listpack; the hash converts to a table beyond `hash-max-listpack-entries`.
//!
//! `Scored`: the members and scores of a small sorted set in one block, integral scores as short
//! varints (see below).

use std::fmt;

use crate::blob::Blob;
use crate::shared::Packed;

/// The pairs; `buf.meta()` is their count.
#[derive(Clone)]
pub struct Pairs {
    buf: Packed,
}

impl Default for Pairs {
    fn default() -> Self {
        Pairs {
            buf: Packed::new(0, &[]),
        }
    }
}

/// Reads a LEB128 varint at `pos`: (value, position after it).
fn read_varint(buf: &[u8], mut pos: usize) -> (u64, usize) {
    let mut n = 0u64;
    let mut shift = 0;
    loop {
        let b = buf[pos];
        pos += 1;
        n |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return (n, pos);
        }
        shift += 7;
    }
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_len(out: &mut Vec<u8>, n: usize) {
    put_varint(out, n as u64);
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
fn read(buf: &[u8], pos: usize) -> (&[u8], usize) {
    let (n, pos) = read_varint(buf, pos);
    let n = n as usize;
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
        self.buf.meta() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.buf.meta() == 0
    }

    /// Bytes of the packed buffer.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// Bytes of the block, header included (for MEMORY USAGE).
    pub fn block_bytes(&self) -> usize {
        self.buf.block_bytes()
    }

    /// Whether a snapshot shares the block.
    pub fn is_shared(&self) -> bool {
        self.buf.is_shared()
    }

    pub fn iter(&self) -> PairsIter<'_> {
        PairsIter {
            buf: self.buf.bytes(),
            pos: 0,
        }
    }

    fn find(&self, field: &[u8]) -> Option<Found> {
        let buf = self.buf.bytes();
        let mut pos = 0;
        while pos < buf.len() {
            let (f, value_at) = read(buf, pos);
            let (_, end) = read(buf, value_at);
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
        self.find(field)
            .map(|f| read(self.buf.bytes(), f.value_at).0)
    }

    /// The `i`th pair in insertion order.
    pub fn nth(&self, i: usize) -> Option<(&[u8], &[u8])> {
        self.iter().nth(i)
    }

    /// Replaces bytes [from, to) of the buffer by `with`, in one exactly sized block of
    /// `pairs` pairs.
    fn splice(&mut self, from: usize, to: usize, with: &[u8], pairs: u32) {
        let b = self.buf.bytes();
        self.buf = Packed::from_parts(pairs, &[&b[..from], with, &b[to..]]);
    }

    /// Sets `field` to `value` (a new field goes last); returns whether the field is new.
    pub fn set(&mut self, field: &[u8], value: &[u8]) -> bool {
        let mut enc = Vec::with_capacity(len_size(value.len()) + value.len() + field.len() + 4);
        match self.find(field) {
            Some(f) => {
                put_len(&mut enc, value.len());
                enc.extend_from_slice(value);
                self.splice(f.value_at, f.end, &enc, self.buf.meta());
                false
            }
            None => {
                put_len(&mut enc, field.len());
                enc.extend_from_slice(field);
                put_len(&mut enc, value.len());
                enc.extend_from_slice(value);
                let end = self.buf.len();
                self.splice(end, end, &enc, self.buf.meta() + 1);
                true
            }
        }
    }

    /// Removes `field`; returns whether it existed.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self.find(field) {
            Some(f) => {
                self.splice(f.start, f.end, &[], self.buf.meta() - 1);
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
            buf: Packed::new(pairs, &buf),
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

/// The members of a small sorted set with their scores, in (score, member) order, packed into
/// one exactly sized block as a listpack keeps them:
///
/// ```text
///   buf: [ len(m0) m0 score0 | len(m1) m1 score1 | ... ]   (len: LEB128 varint)
///   score: varint 2·zigzag(n) for an integral score n (|n| < 2^62), or 1 then 8 bytes (f64 LE)
/// ```
///
/// A 10-member set of 8-byte members with scores 0-9 takes 100 bytes (Redis's listpack: 127);
/// fractional scores cost 9 bytes. Access by rank walks the entries, as in a listpack.
/// The entries; `buf.meta()` is their count.
#[derive(Clone)]
pub struct Scored {
    buf: Packed,
}

impl Default for Scored {
    fn default() -> Self {
        Scored {
            buf: Packed::new(0, &[]),
        }
    }
}

/// Appends a score: integral ones as a varint (tag bit 0 clear), others as 8 raw bytes.
fn put_score(out: &mut Vec<u8>, s: f64) {
    let n = s as i64;
    if (n as f64).to_bits() == s.to_bits() && n.unsigned_abs() < 1 << 62 {
        let zigzag = ((n << 1) ^ (n >> 63)) as u64;
        put_varint(out, zigzag << 1);
    } else {
        out.push(1);
        out.extend_from_slice(&s.to_le_bytes());
    }
}

/// The score starting at `pos`: (score, position after it).
fn read_score(buf: &[u8], pos: usize) -> (f64, usize) {
    let (v, pos) = read_varint(buf, pos);
    if v & 1 == 0 {
        let z = v >> 1;
        let n = ((z >> 1) as i64) ^ -((z & 1) as i64);
        (n as f64, pos)
    } else {
        let b: [u8; 8] = buf[pos..pos + 8].try_into().expect("8 score bytes");
        (f64::from_le_bytes(b), pos + 8)
    }
}

/// The entry starting at `pos`: (member, score, position after it).
fn read_entry(buf: &[u8], pos: usize) -> (&[u8], f64, usize) {
    let (m, pos) = read(buf, pos);
    let (s, pos) = read_score(buf, pos);
    (m, s, pos)
}

fn put_entry(out: &mut Vec<u8>, member: &[u8], score: f64) {
    put_len(out, member.len());
    out.extend_from_slice(member);
    put_score(out, score);
}

pub struct ScoredIter<'a> {
    buf: &'a [u8],
    pos: usize,
    left: usize,
}

impl<'a> Iterator for ScoredIter<'a> {
    type Item = (&'a [u8], f64);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let (m, s, end) = read_entry(self.buf, self.pos);
        self.pos = end;
        self.left -= 1;
        Some((m, s))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for ScoredIter<'_> {}

impl Scored {
    pub fn len(&self) -> usize {
        self.buf.meta() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.buf.meta() == 0
    }

    /// Bytes of the packed entries.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// Bytes of the block, header included (for MEMORY USAGE).
    pub fn block_bytes(&self) -> usize {
        self.buf.block_bytes()
    }

    /// Whether a snapshot shares the block.
    pub fn is_shared(&self) -> bool {
        self.buf.is_shared()
    }

    /// (member, score) in order.
    pub fn iter(&self) -> ScoredIter<'_> {
        ScoredIter {
            buf: self.buf.bytes(),
            pos: 0,
            left: self.len(),
        }
    }

    /// The members in order.
    pub fn members(&self) -> Vec<&[u8]> {
        self.iter().map(|(m, _)| m).collect()
    }

    pub fn get(&self, i: usize) -> Option<(&[u8], f64)> {
        self.iter().nth(i)
    }

    pub fn position(&self, member: &[u8]) -> Option<usize> {
        self.iter().position(|(m, _)| m == member)
    }

    /// The number of leading elements for which `pred` holds (`pred` true then false).
    pub fn partition_point(&self, pred: impl Fn(&[u8], f64) -> bool) -> usize {
        self.iter()
            .position(|(m, s)| !pred(m, s))
            .unwrap_or(self.len())
    }

    /// Byte offset of the entry at rank `i` (the end for `i == len`).
    fn offset(&self, i: usize) -> usize {
        let mut pos = 0;
        for _ in 0..i {
            pos = read_entry(self.buf.bytes(), pos).2;
        }
        pos
    }

    /// Inserts at rank `i` (the caller keeps the order).
    pub fn insert(&mut self, i: usize, member: &[u8], score: f64) {
        let at = self.offset(i);
        let mut enc = Vec::with_capacity(member.len() + 12);
        put_entry(&mut enc, member, score);
        let b = self.buf.bytes();
        self.buf = Packed::from_parts(self.buf.meta() + 1, &[&b[..at], &enc, &b[at..]]);
    }

    /// Removes the ranks in `range` (clamped to the length); returns how many.
    pub fn remove_range(&mut self, range: std::ops::Range<usize>) -> usize {
        let end = range.end.min(self.len());
        if range.start >= end {
            return 0;
        }
        let (from, to) = (self.offset(range.start), self.offset(end));
        let b = self.buf.bytes();
        let left = self.buf.meta() - (end - range.start) as u32;
        self.buf = Packed::from_parts(left, &[&b[..from], &b[to..]]);
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
    type Item = (&'a [u8], f64);
    type IntoIter = ScoredIter<'a>;

    fn into_iter(self) -> ScoredIter<'a> {
        self.iter()
    }
}

/// Packs entries as given (the caller gives them in order and distinct).
impl<M: AsRef<[u8]>> FromIterator<(M, f64)> for Scored {
    fn from_iter<I: IntoIterator<Item = (M, f64)>>(iter: I) -> Scored {
        let mut buf = Vec::new();
        let mut len = 0u32;
        for (m, s) in iter {
            put_entry(&mut buf, m.as_ref(), s);
            len += 1;
        }
        Scored {
            buf: Packed::new(len, &buf),
        }
    }
}

impl fmt::Debug for Scored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|(m, s)| (Blob::from_slice(m), s)))
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
        assert_eq!(z.bytes(), 1 + 1);
        assert_eq!(z.remove_range(1..1), 0);
        let borrowed: Vec<f64> = (&z).into_iter().map(|(_, s)| s).collect();
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

    #[test]
    fn scores_round_trip_and_integers_are_short() {
        let scores = [
            0.0,
            -1.0,
            9.0,
            63.0,
            64.0,
            -4611686018427387904.0,
            4611686018427387904.0,
            1e300,
            0.5,
            -2.25,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
        ];
        let z: Scored = scores
            .iter()
            .enumerate()
            .map(|(i, &s)| (vec![b'm'; i], s))
            .collect();
        let back: Vec<f64> = z.iter().map(|(_, s)| s).collect();
        assert_eq!(
            back.iter().map(|s| s.to_bits()).collect::<Vec<_>>(),
            scores.iter().map(|s| s.to_bits()).collect::<Vec<_>>()
        );
        // Ten 8-byte members with scores 0-9: 1 + 8 + 1 bytes each.
        let small: Scored = (0..10)
            .map(|i| (format!("member:{i}"), f64::from(i)))
            .collect();
        assert_eq!(small.bytes(), 100);
        assert_eq!(small.get(7), Some((&b"member:7"[..], 7.0)));
        // -0.0 keeps its sign (callers normalise it before packing, as a listpack does).
        let neg: Scored = [(b"a", -0.0f64)].into_iter().collect();
        assert!(neg.get(0).unwrap().1.is_sign_negative());
    }
}
