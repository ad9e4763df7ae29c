//! Lists. Redis 7.0 always reports "quicklist" for lists, whatever their size.
//!
//! A `VecDeque` of inline-or-heap byte strings: O(1) at both ends and for indexing, which is
//! what the list commands need; elements of up to 16 bytes live inside the deque itself.
//! Indexes follow Redis: negative ones count from the tail (-1 is the last element).

use std::collections::VecDeque;

use crate::value::Blob;

/// Which end of a list (Redis's LIST_HEAD / LIST_TAIL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Left,
    Right,
}

impl End {
    /// The spelling Redis uses when it rewrites a command (LMOVE ... left right).
    pub fn name(self) -> &'static str {
        match self {
            End::Left => "left",
            End::Right => "right",
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct List {
    pub items: VecDeque<Blob>,
}

impl List {
    pub fn new() -> Self {
        List {
            items: VecDeque::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    pub fn push(&mut self, end: End, v: &[u8]) {
        let b = Blob::from_slice(v);
        match end {
            End::Left => self.items.push_front(b),
            End::Right => self.items.push_back(b),
        }
    }

    pub fn pop(&mut self, end: End) -> Option<Blob> {
        match end {
            End::Left => self.items.pop_front(),
            End::Right => self.items.pop_back(),
        }
    }

    /// Resolves a Redis index (negative from the tail) to a position, if inside the list.
    pub fn resolve(&self, index: i64) -> Option<usize> {
        let len = i64::try_from(self.items.len()).ok()?;
        let i = if index < 0 {
            len.checked_add(index)?
        } else {
            index
        };
        if (0..len).contains(&i) {
            usize::try_from(i).ok()
        } else {
            None
        }
    }

    pub fn index(&self, index: i64) -> Option<&Blob> {
        self.resolve(index).and_then(|i| self.items.get(i))
    }

    /// Replaces the element at `index`; false when out of range.
    pub fn set(&mut self, index: i64, v: &[u8]) -> bool {
        match self.resolve(index).and_then(|i| self.items.get_mut(i)) {
            Some(slot) => {
                *slot = Blob::from_slice(v);
                true
            }
            None => false,
        }
    }

    /// The inclusive position range `start..=end` that LRANGE/LTRIM select, or `None` when empty.
    pub fn range_bounds(&self, start: i64, end: i64) -> Option<(usize, usize)> {
        let len = i64::try_from(self.items.len()).ok()?;
        let mut start = if start < 0 { len + start } else { start };
        let mut end = if end < 0 { len + end } else { end };
        if start < 0 {
            start = 0;
        }
        if start > end || start >= len {
            return None;
        }
        if end >= len {
            end = len - 1;
        }
        Some((usize::try_from(start).ok()?, usize::try_from(end).ok()?))
    }

    /// Keeps only the range `start..=end` (LTRIM); returns how many elements were removed.
    pub fn trim(&mut self, start: i64, end: i64) -> usize {
        let before = self.items.len();
        match self.range_bounds(start, end) {
            None => self.items.clear(),
            Some((s, e)) => {
                self.items.truncate(e + 1);
                self.items.drain(..s);
            }
        }
        before - self.items.len()
    }

    /// Inserts `v` before or after the first element equal to `pivot` (LINSERT).
    /// Returns false when the pivot is not found.
    pub fn insert(&mut self, after: bool, pivot: &[u8], v: &[u8]) -> bool {
        let Some(pos) = self.items.iter().position(|e| e.as_slice() == pivot) else {
            return false;
        };
        let at = if after { pos + 1 } else { pos };
        self.items.insert(at, Blob::from_slice(v));
        true
    }

    /// Removes elements equal to `v` (LREM): `count` > 0 from the head, < 0 from the tail,
    /// 0 all of them; at most |count| when non-zero. Returns how many were removed.
    pub fn remove(&mut self, count: i64, v: &[u8]) -> usize {
        let limit = if count == 0 {
            usize::MAX
        } else {
            usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX)
        };
        let mut removed = 0;
        if count >= 0 {
            let mut i = 0;
            while i < self.items.len() && removed < limit {
                if self.items[i].as_slice() == v {
                    self.items.remove(i);
                    removed += 1;
                } else {
                    i += 1;
                }
            }
        } else {
            let mut i = self.items.len();
            while i > 0 && removed < limit {
                i -= 1;
                if self.items[i].as_slice() == v {
                    self.items.remove(i);
                    removed += 1;
                }
            }
        }
        removed
    }

    /// Positions of elements equal to `v` (LPOS). Scans from the head when `from_head`, else
    /// from the tail; skips the first `skip` matches; stops after `count` results (0 = all)
    /// or after looking at `maxlen` elements (0 = no limit). Positions count from the head.
    pub fn positions(
        &self,
        v: &[u8],
        from_head: bool,
        skip: u64,
        count: u64,
        maxlen: u64,
    ) -> Vec<usize> {
        let mut out = Vec::new();
        let mut matches: u64 = 0;
        let len = self.items.len();
        for (seen, i) in (0..len).enumerate() {
            if maxlen != 0 && seen as u64 >= maxlen {
                break;
            }
            let pos = if from_head { i } else { len - 1 - i };
            if self.items[pos].as_slice() != v {
                continue;
            }
            matches += 1;
            if matches > skip {
                out.push(pos);
                if count != 0 && out.len() as u64 >= count {
                    break;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> List {
        let mut l = List::new();
        for i in items {
            l.push(End::Right, i.as_bytes());
        }
        l
    }

    fn strs(l: &List) -> Vec<String> {
        l.items
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect()
    }

    #[test]
    fn push_pop_both_ends() {
        let mut l = List::new();
        l.push(End::Left, b"b");
        l.push(End::Left, b"a");
        l.push(End::Right, b"c");
        assert_eq!(strs(&l), ["a", "b", "c"]);
        assert_eq!(l.pop(End::Right).as_deref(), Some(&b"c"[..]));
        assert_eq!(l.pop(End::Left).as_deref(), Some(&b"a"[..]));
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn negative_indexes_and_bounds() {
        let mut l = list(&["a", "b", "c"]);
        assert_eq!(l.index(-1).map(|b| b.as_slice()), Some(&b"c"[..]));
        assert_eq!(l.index(-3).map(|b| b.as_slice()), Some(&b"a"[..]));
        assert!(l.index(-4).is_none());
        assert!(l.index(3).is_none());
        assert!(l.index(i64::MIN).is_none());
        assert!(l.index(i64::MAX).is_none());
        assert!(l.set(-2, b"x"));
        assert!(!l.set(5, b"x"));
        assert_eq!(strs(&l), ["a", "x", "c"]);
    }

    #[test]
    fn ranges_and_trim() {
        let l = list(&["a", "b", "c", "d"]);
        assert_eq!(l.range_bounds(0, -1), Some((0, 3)));
        assert_eq!(l.range_bounds(-100, 1), Some((0, 1)));
        assert_eq!(l.range_bounds(2, 1), None);
        assert_eq!(l.range_bounds(4, 10), None);
        assert_eq!(l.range_bounds(i64::MIN, i64::MAX), Some((0, 3)));
        let mut t = l.clone();
        assert_eq!(t.trim(1, 2), 2);
        assert_eq!(strs(&t), ["b", "c"]);
        let mut t = l.clone();
        assert_eq!(t.trim(5, 10), 4);
        assert!(t.is_empty());
    }

    #[test]
    fn insert_remove_positions() {
        let mut l = list(&["a", "b", "a", "c", "a"]);
        assert!(l.insert(true, b"c", b"d"));
        assert!(l.insert(false, b"a", b"z"));
        assert!(!l.insert(false, b"nope", b"z"));
        assert_eq!(strs(&l), ["z", "a", "b", "a", "c", "d", "a"]);
        assert_eq!(l.positions(b"a", true, 0, 0, 0), [1, 3, 6]);
        assert_eq!(l.positions(b"a", false, 1, 1, 0), [3]);
        assert_eq!(l.positions(b"a", true, 0, 0, 2), [1]);
        assert_eq!(l.remove(-1, b"a"), 1);
        assert_eq!(strs(&l), ["z", "a", "b", "a", "c", "d"]);
        assert_eq!(l.remove(1, b"a"), 1);
        assert_eq!(l.remove(0, b"zz"), 0);
        assert_eq!(l.remove(0, b"a"), 1);
        assert_eq!(strs(&l), ["z", "b", "c", "d"]);
    }
}
