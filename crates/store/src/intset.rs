//! `IntSet`: the members of a small integer set, sorted and distinct, packed at the narrowest
//! width that holds them all, as Redis's intset: 2, 4 or 8 bytes per member.
//!
//! ```text
//!   Packed: [ refs | width | member 0 (width bytes, little-endian) | member 1 | ... ]
//! ```
//!
//! One shared block (see `shared.rs`) of 8 + width x members bytes, the value's only block
//! (ten 4-byte members: 48 bytes, as Redis's intset, which has its 16-byte object besides).
//! As in Redis, adding a member that does not fit widens every member, and removing one never
//! narrows them.

use std::fmt;

use crate::shared::Packed;

/// Sorted, distinct integers packed at a common width.
#[derive(Clone, PartialEq, Eq)]
pub struct IntSet(Packed);

/// The narrowest width (2, 4 or 8 bytes) that holds `n`.
pub fn width_of(n: i64) -> usize {
    if i16::try_from(n).is_ok() {
        2
    } else if i32::try_from(n).is_ok() {
        4
    } else {
        8
    }
}

fn read(b: &[u8], width: usize, i: usize) -> i64 {
    let at = i * width;
    match width {
        2 => i64::from(i16::from_le_bytes([b[at], b[at + 1]])),
        4 => i64::from(i32::from_le_bytes(
            b[at..at + 4].try_into().expect("4 bytes"),
        )),
        _ => i64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes")),
    }
}

fn write(out: &mut Vec<u8>, width: usize, n: i64) {
    match width {
        2 => out.extend_from_slice(&(n as i16).to_le_bytes()),
        4 => out.extend_from_slice(&(n as i32).to_le_bytes()),
        _ => out.extend_from_slice(&n.to_le_bytes()),
    }
}

impl Default for IntSet {
    fn default() -> Self {
        IntSet(Packed::new(2, &[]))
    }
}

impl IntSet {
    /// A set of `values`, which must be sorted and distinct.
    pub fn from_sorted(values: &[i64]) -> IntSet {
        let width = match (values.first(), values.last()) {
            (Some(&a), Some(&b)) => width_of(a).max(width_of(b)),
            _ => 2,
        };
        Self::pack(width, values.iter().copied(), values.len())
    }

    /// A set of any integers (sorted and deduplicated here).
    pub fn from_vec(mut values: Vec<i64>) -> IntSet {
        values.sort_unstable();
        values.dedup();
        Self::from_sorted(&values)
    }

    fn pack(width: usize, values: impl Iterator<Item = i64>, n: usize) -> IntSet {
        let mut out = Vec::with_capacity(width * n);
        for v in values {
            write(&mut out, width, v);
        }
        IntSet(Packed::new(width as u32, &out))
    }

    /// Bytes per member: 2, 4 or 8.
    pub fn width(&self) -> usize {
        self.0.meta() as usize
    }

    pub fn len(&self) -> usize {
        self.0.len() / self.width()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `i`-th smallest member. Panics if `i >= len()`.
    pub fn get(&self, i: usize) -> i64 {
        assert!(i < self.len(), "intset index {i} out of range");
        read(self.0.bytes(), self.width(), i)
    }

    /// Where `n` is (`Ok`) or would go (`Err`), as `slice::binary_search`.
    pub fn search(&self, n: i64) -> Result<usize, usize> {
        if width_of(n) > self.width() {
            // Wider than every member: beyond one end.
            return Err(if n < 0 { 0 } else { self.len() });
        }
        let (w, b) = (self.width(), self.0.bytes());
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match read(b, w, mid).cmp(&n) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    pub fn contains(&self, n: i64) -> bool {
        self.search(n).is_ok()
    }

    /// Adds `n`; returns whether it is new. The block is resized to fit exactly, as Redis
    /// resizes an intset per insert.
    pub fn insert(&mut self, n: i64) -> bool {
        let Err(at) = self.search(n) else {
            return false;
        };
        let (w, len) = (self.width(), self.len());
        if width_of(n) <= w {
            // Little-endian: the low `w` bytes of `n` are `n` at width `w`, since it fits.
            let enc = n.to_le_bytes();
            let b = self.0.bytes();
            self.0 = Packed::from_parts(w as u32, &[&b[..at * w], &enc[..w], &b[at * w..]]);
            return true;
        }
        let width = width_of(n);
        let it = (0..at)
            .map(|i| self.get(i))
            .chain(std::iter::once(n))
            .chain((at..len).map(|i| self.get(i)));
        *self = Self::pack(width, it, len + 1);
        true
    }

    /// Removes and returns the `i`-th smallest member. Panics if `i >= len()`.
    pub fn remove_at(&mut self, i: usize) -> i64 {
        let n = self.get(i);
        let w = self.width();
        let b = self.0.bytes();
        self.0 = Packed::from_parts(w as u32, &[&b[..i * w], &b[(i + 1) * w..]]);
        n
    }

    /// Removes `n`; returns whether it was there.
    pub fn remove(&mut self, n: i64) -> bool {
        match self.search(n) {
            Ok(i) => {
                self.remove_at(i);
                true
            }
            Err(_) => false,
        }
    }

    /// The members in ascending order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            set: self,
            front: 0,
            back: self.len(),
        }
    }

    /// Heap bytes held (the one block, its header included).
    pub fn heap_bytes(&self) -> usize {
        self.0.block_bytes()
    }

    /// Whether a snapshot shares the block.
    pub fn is_shared(&self) -> bool {
        self.0.is_shared()
    }
}

impl fmt::Debug for IntSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Ascending iterator over an `IntSet`.
#[derive(Clone)]
pub struct Iter<'a> {
    set: &'a IntSet,
    front: usize,
    back: usize,
}

impl Iterator for Iter<'_> {
    type Item = i64;

    fn next(&mut self) -> Option<i64> {
        if self.front == self.back {
            return None;
        }
        self.front += 1;
        Some(read(self.set.0.bytes(), self.set.width(), self.front - 1))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.back - self.front, Some(self.back - self.front))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<i64> {
        if self.front == self.back {
            return None;
        }
        self.back -= 1;
        Some(read(self.set.0.bytes(), self.set.width(), self.back))
    }
}

impl ExactSizeIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    #[test]
    fn widths_follow_the_widest_member_and_never_narrow() {
        let mut s = IntSet::default();
        assert!(s.is_empty() && s.width() == 2);
        for n in [5, -3, 32767, -32768] {
            assert!(s.insert(n));
        }
        assert_eq!(s.width(), 2);
        assert_eq!(s.heap_bytes(), 8 + 4 * 2);
        assert!(s.insert(32768));
        assert_eq!(s.width(), 4);
        assert!(s.insert(i64::from(i32::MIN) - 1));
        assert_eq!(s.width(), 8);
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            [i64::from(i32::MIN) - 1, -32768, -3, 5, 32767, 32768]
        );
        assert!(s.remove(i64::from(i32::MIN) - 1));
        assert_eq!(s.width(), 8, "removals never narrow, as in Redis");
        assert!(!s.insert(5) && !s.remove(6));
        // Ten 4-byte members: 48 bytes, header included (Redis's intset: 48).
        let t = IntSet::from_vec((0..10).map(|i| 9_999_990 + i).collect());
        assert_eq!((t.width(), t.heap_bytes()), (4, 48));
        assert_eq!(IntSet::from_sorted(&[i64::MIN, i64::MAX]).width(), 8);
    }

    #[test]
    fn matches_a_sorted_vector_under_random_operations() {
        let mut rng = SmallRng::seed_from_u64(18);
        let mut s = IntSet::default();
        let mut model: Vec<i64> = Vec::new();
        for round in 0..4000 {
            let scale = [100i64, 40_000, 3_000_000_000, i64::MAX][round / 1000];
            let n = rng.gen_range(-scale..scale);
            if rng.gen_bool(0.6) {
                let fresh = model.binary_search(&n).is_err();
                assert_eq!(s.insert(n), fresh);
                if fresh {
                    model.insert(model.binary_search(&n).unwrap_err(), n);
                }
            } else if !model.is_empty() && rng.gen_bool(0.5) {
                let i = rng.gen_range(0..model.len());
                assert_eq!(s.remove_at(i), model.remove(i));
            } else {
                assert_eq!(s.remove(n), model.binary_search(&n).is_ok());
                model.retain(|&m| m != n);
            }
            assert_eq!(s.len(), model.len());
            let probe = rng.gen_range(-scale..scale);
            assert_eq!(s.search(probe), model.binary_search(&probe));
        }
        assert_eq!(s.iter().collect::<Vec<_>>(), model);
        assert_eq!(s.iter().rev().collect::<Vec<_>>().len(), model.len());
        assert_eq!(
            IntSet::from_vec(model.clone()).iter().collect::<Vec<_>>(),
            model
        );
    }
}
