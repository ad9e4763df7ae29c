//! Sorted sets: a vector ordered by (score, member) while small ("listpack"), an ordered index
//! plus a lookup table by member beyond ("skiplist").
//!
//! A "skiplist" set keeps each member once, in its index node; the lookup table holds only the
//! 4-byte arena ids of the nodes, hashed by member (where a member→score map held the member a
//! second time: 10k sets of 1000 members took 1,302 MiB, Redis 1,090).
//!
//! The ordered index is a treap in an arena (`OrderIndex`): every node keeps the size of its
//! subtree, so rank, select-by-rank and range bounds are O(log n) expected. Ties in score are
//! ordered by member bytes, as in Redis. Scores are never NaN (commands refuse them), so the
//! order is total; -0 and 0 compare equal, as Redis's `<` does.
//!
//! Conversions follow Redis 7.0: listpack → skiplist when an insert would exceed
//! `zset-max-listpack-entries` or a member is longer than `zset-max-listpack-value`; never back,
//! except for the results built by ZUNIONSTORE & co (`from_entries`, Redis's
//! zsetConvertToListpackIfNeeded).

use std::cmp::Ordering;
use std::ops::Range;

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::pack::Scored;
use crate::shared::{Shared, PACKED_MAX};
use crate::value::Blob;
use crate::Limits;

mod order_index;
pub use order_index::OrderIndex;

/// (score, member) order with ties broken by member bytes.
pub fn cmp_entry(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> Ordering {
    s1.partial_cmp(&s2)
        .unwrap_or(Ordering::Equal)
        .then_with(|| m1.cmp(m2))
}

/// A listpack stores a score as text and reads it back: -0 comes back as 0 (Redis 7.0).
fn pack_score(s: f64) -> f64 {
    s + 0.0
}

#[derive(Clone, Debug)]
pub enum ZSet {
    Pack(Scored),
    Skip(Shared<SkipSet>),
}

#[derive(Clone, Debug, Default)]
pub struct SkipSet {
    /// The arena id of every member's node in `index`, hashed by the member's bytes.
    by_member: HashTable<u32>,
    hasher: DefaultHashBuilder,
    index: OrderIndex,
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet::Pack(Scored::default())
    }
}

/// A score interval; `minex`/`maxex` make an end exclusive.
#[derive(Clone, Copy, Debug)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub minex: bool,
    pub maxex: bool,
}

impl ScoreRange {
    pub fn gte_min(&self, s: f64) -> bool {
        if self.minex {
            s > self.min
        } else {
            s >= self.min
        }
    }
    pub fn lte_max(&self, s: f64) -> bool {
        if self.maxex {
            s < self.max
        } else {
            s <= self.max
        }
    }
}

/// One end of a lexicographic range: "-", "+", "[x" or "(x".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LexBound {
    Min,
    Max,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

#[derive(Clone, Debug)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl LexRange {
    pub fn gte_min(&self, m: &[u8]) -> bool {
        match &self.min {
            LexBound::Min => true,
            LexBound::Max => false,
            LexBound::Incl(b) => m >= b.as_slice(),
            LexBound::Excl(b) => m > b.as_slice(),
        }
    }
    pub fn lte_max(&self, m: &[u8]) -> bool {
        match &self.max {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Incl(b) => m <= b.as_slice(),
            LexBound::Excl(b) => m < b.as_slice(),
        }
    }
    /// Ranges that are empty whatever the set holds (min > max, or equal with an exclusive end;
    /// "-" and "+" count as exclusive, as in Redis).
    pub fn always_empty(&self) -> bool {
        let (a, aex) = bound_key(&self.min);
        let (b, bex) = bound_key(&self.max);
        let cmp = match (a, b) {
            (BoundKey::Neg, BoundKey::Neg) | (BoundKey::Pos, BoundKey::Pos) => Ordering::Equal,
            (BoundKey::Neg, _) | (_, BoundKey::Pos) => Ordering::Less,
            (BoundKey::Pos, _) | (_, BoundKey::Neg) => Ordering::Greater,
            (BoundKey::Str(x), BoundKey::Str(y)) => x.cmp(y),
        };
        cmp == Ordering::Greater || (cmp == Ordering::Equal && (aex || bex))
    }
}

enum BoundKey<'a> {
    Neg,
    Pos,
    Str(&'a [u8]),
}

fn bound_key(b: &LexBound) -> (BoundKey<'_>, bool) {
    match b {
        LexBound::Min => (BoundKey::Neg, true),
        LexBound::Max => (BoundKey::Pos, true),
        LexBound::Incl(s) => (BoundKey::Str(s), false),
        LexBound::Excl(s) => (BoundKey::Str(s), true),
    }
}

impl ZSet {
    /// The encoding Redis 7.0 gives a key created by ZADD whose first member is `first_len`
    /// bytes long.
    pub fn for_new_key(limits: &Limits, first_len: usize) -> ZSet {
        if limits.zset_max_listpack_entries == 0 || first_len > limits.zset_max_listpack_value {
            ZSet::Skip(Shared::default())
        } else {
            ZSet::Pack(Scored::default())
        }
    }

    /// A set built from distinct members (the result of a set operation or ZRANGESTORE),
    /// listpack when it fits the limits (zsetConvertToListpackIfNeeded).
    pub fn from_entries(mut entries: Vec<(Blob, f64)>, limits: &Limits) -> ZSet {
        entries.sort_by(|a, b| cmp_entry(a.1, &a.0, b.1, &b.0));
        let maxlen = entries.iter().map(|e| e.0.len()).max().unwrap_or(0);
        if entries.len() <= limits.zset_max_listpack_entries
            && maxlen <= limits.zset_max_listpack_value
            && entries.len().saturating_mul(maxlen.saturating_add(20)) <= PACKED_MAX
        {
            ZSet::Pack(
                entries
                    .into_iter()
                    .map(|(m, s)| (m, pack_score(s)))
                    .collect(),
            )
        } else {
            let mut s = SkipSet::default();
            for (m, sc) in entries {
                s.insert(m, sc);
            }
            ZSet::Skip(Shared::new(s))
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ZSet::Pack(v) => v.len(),
            ZSet::Skip(s) => s.by_member.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            ZSet::Pack(_) => "listpack",
            ZSet::Skip(_) => "skiplist",
        }
    }

    /// Whether a snapshot shares the contents.
    pub fn is_shared(&self) -> bool {
        match self {
            ZSet::Pack(p) => p.is_shared(),
            ZSet::Skip(s) => s.is_shared(),
        }
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Pack(v) => v.iter().find(|e| e.0 == member).map(|e| e.1),
            ZSet::Skip(s) => s.score(member),
        }
    }

    /// Adds a member that is not in the set, converting to skiplist first when needed.
    pub fn insert(&mut self, member: &[u8], score: f64, limits: &Limits) {
        if let ZSet::Pack(v) = self {
            if v.len() < limits.zset_max_listpack_entries
                && member.len() <= limits.zset_max_listpack_value
                && v.bytes() + member.len() + 20 <= PACKED_MAX
            {
                let score = pack_score(score);
                let pos = v.partition_point(|m, s| cmp_entry(s, m, score, member).is_lt());
                v.insert(pos, member, score);
                return;
            }
            self.convert_to_skiplist();
        }
        if let ZSet::Skip(s) = self {
            s.insert(Blob::from_slice(member), score);
        }
    }

    /// Changes the score of a member that is in the set.
    pub fn update(&mut self, member: &[u8], new: f64) {
        match self {
            ZSet::Pack(v) => {
                if let Some(i) = v.position(member) {
                    v.remove_range(i..i + 1);
                    let new = pack_score(new);
                    let pos = v.partition_point(|m, s| cmp_entry(s, m, new, member).is_lt());
                    v.insert(pos, member, new);
                }
            }
            ZSet::Skip(s) => {
                if s.score(member).is_some() {
                    s.insert(Blob::from_slice(member), new);
                }
            }
        }
    }

    /// Removes a member, returning its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Pack(v) => {
                let i = v.position(member)?;
                Some(v.remove(i)?.1)
            }
            ZSet::Skip(s) => s.remove(member),
        }
    }

    /// 0-based rank in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match self {
            ZSet::Pack(v) => v.position(member),
            ZSet::Skip(s) => {
                let score = s.score(member)?;
                Some(s.index.rank(score, member))
            }
        }
    }

    /// The element at rank `i` (ascending).
    pub fn entry(&self, i: usize) -> Option<(&[u8], f64)> {
        match self {
            ZSet::Pack(v) => v.get(i),
            ZSet::Skip(s) => s.index.select(i),
        }
    }

    /// The number of leading elements for which `pred` holds (`pred` true then false).
    pub fn partition_point(&self, pred: impl Fn(&[u8], f64) -> bool) -> usize {
        match self {
            ZSet::Pack(v) => v.partition_point(pred),
            ZSet::Skip(s) => s.index.partition_point(pred),
        }
    }

    /// The ranks of the elements whose score is in `r`.
    pub fn score_range(&self, r: &ScoreRange) -> Range<usize> {
        let start = self.partition_point(|_, s| !r.gte_min(s));
        let end = self.partition_point(|_, s| r.lte_max(s));
        if start >= end {
            return 0..0;
        }
        start..end
    }

    /// The ranks of the elements in the lexicographic range, found the way Redis walks the set
    /// in that direction (which matters only when scores differ: then the result is what
    /// Redis's listpack walk gives). `rev` is for the reverse commands; the caller iterates the
    /// range backwards.
    pub fn lex_range(&self, r: &LexRange, rev: bool) -> Range<usize> {
        let n = self.len();
        if n == 0 || r.always_empty() {
            return 0..0;
        }
        let (first, last) = match (self.entry(0), self.entry(n - 1)) {
            (Some(f), Some(l)) => (f.0, l.0),
            _ => return 0..0,
        };
        if !r.gte_min(last) || !r.lte_max(first) {
            return 0..0;
        }
        match self {
            ZSet::Pack(v) => {
                let v = v.members();
                if !rev {
                    let Some(start) = v.iter().position(|m| r.gte_min(m)) else {
                        return 0..0;
                    };
                    if !r.lte_max(v[start]) {
                        return 0..0;
                    }
                    let end = v[start..]
                        .iter()
                        .position(|m| !r.lte_max(m))
                        .map_or(n, |p| start + p);
                    start..end
                } else {
                    let Some(last) = v.iter().rposition(|m| r.lte_max(m)) else {
                        return 0..0;
                    };
                    if !r.gte_min(v[last]) {
                        return 0..0;
                    }
                    let start = v[..last]
                        .iter()
                        .rposition(|m| !r.gte_min(m))
                        .map_or(0, |p| p + 1);
                    start..last + 1
                }
            }
            ZSet::Skip(_) => {
                let start = self.partition_point(|m, _| !r.gte_min(m));
                let end = self.partition_point(|m, _| r.lte_max(m));
                if start >= end {
                    return 0..0;
                }
                start..end
            }
        }
    }

    /// Removes the elements whose ranks are in `range`; returns how many.
    pub fn remove_ranks(&mut self, range: Range<usize>) -> usize {
        let end = range.end.min(self.len());
        if range.start >= end {
            return 0;
        }
        match self {
            ZSet::Pack(v) => v.remove_range(range.start..end),
            ZSet::Skip(s) => {
                let doomed: Vec<Blob> = (range.start..end)
                    .filter_map(|i| s.index.select(i).map(|e| Blob::from_slice(e.0)))
                    .collect();
                for m in &doomed {
                    s.remove(m);
                }
                doomed.len()
            }
        }
    }

    /// Every element in ascending order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], f64)> + '_> {
        match self {
            ZSet::Pack(v) => Box::new(v.iter()),
            ZSet::Skip(s) => Box::new(s.index.iter()),
        }
    }

    /// Every element, in no particular order (for a skiplist, a walk of the index's arena:
    /// cheaper than the in-order walk).
    pub fn iter_unordered(&self) -> Box<dyn Iterator<Item = (&[u8], f64)> + '_> {
        match self {
            ZSet::Pack(v) => Box::new(v.iter()),
            ZSet::Skip(s) => Box::new(s.index.live()),
        }
    }

    /// One ZSCAN step over a skiplist-encoded set (see `OrderIndex::scan_slots`); a listpack
    /// returns everything at once with cursor 0.
    pub fn scan(&self, cursor: u64, count: usize) -> (Vec<(&[u8], f64)>, u64) {
        match self {
            ZSet::Pack(v) => (v.iter().collect(), 0),
            ZSet::Skip(s) => {
                let start = usize::try_from(cursor).unwrap_or(usize::MAX);
                let (items, next) = s.index.scan_slots(start, count);
                (items, next as u64)
            }
        }
    }

    pub fn convert_to_skiplist(&mut self) {
        if let ZSet::Pack(v) = self {
            let mut s = SkipSet::default();
            for (m, sc) in v.iter() {
                s.insert(Blob::from_slice(m), sc);
            }
            *self = ZSet::Skip(Shared::new(s));
        }
    }
}

impl SkipSet {
    /// The arena id of `member`'s node.
    fn find(&self, member: &[u8]) -> Option<u32> {
        let h = self.hasher.hash_one(member);
        let nodes = &self.index.nodes;
        self.by_member
            .find(h, |&id| nodes[id as usize].member.as_slice() == member)
            .copied()
    }

    fn score(&self, member: &[u8]) -> Option<f64> {
        self.find(member)
            .map(|id| self.index.nodes[id as usize].score)
    }

    /// Adds `member` or changes its score.
    fn insert(&mut self, member: Blob, score: f64) {
        let h = self.hasher.hash_one(member.as_slice());
        let SkipSet {
            by_member,
            hasher,
            index,
        } = self;
        let nodes = &index.nodes;
        let found = by_member.find_entry(h, |&id| nodes[id as usize].member == member);
        match found {
            Ok(mut slot) => {
                let old = index.nodes[*slot.get() as usize].score;
                index.remove(old, &member);
                *slot.get_mut() = index.insert(score, member);
            }
            Err(_) => {
                let id = index.insert(score, member);
                let nodes = &index.nodes;
                by_member.insert_unique(h, id, |&i| {
                    hasher.hash_one(nodes[i as usize].member.as_slice())
                });
            }
        }
    }

    fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let h = self.hasher.hash_one(member);
        let nodes = &self.index.nodes;
        let slot = self
            .by_member
            .find_entry(h, |&id| nodes[id as usize].member.as_slice() == member)
            .ok()?;
        let (id, _) = slot.remove();
        let score = self.index.nodes[id as usize].score;
        self.index.remove(score, member);
        Some(score)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn model_sorted(model: &std::collections::HashMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
        let mut v: Vec<(Vec<u8>, f64)> = model.iter().map(|(m, s)| (m.clone(), *s)).collect();
        v.sort_by(|a, b| cmp_entry(a.1, &a.0, b.1, &b.0));
        v
    }

    #[test]
    fn index_matches_model_under_random_operations() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let mut idx = OrderIndex::default();
        let mut model: std::collections::HashMap<Vec<u8>, f64> = Default::default();
        for step in 0..20_000 {
            let m = format!("m{}", rng.gen_range(0..300)).into_bytes();
            let score = f64::from(rng.gen_range(-5i32..5));
            match rng.gen_range(0..3) {
                0 | 1 => {
                    if let Some(old) = model.insert(m.clone(), score) {
                        assert!(idx.remove(old, &m));
                    }
                    idx.insert(score, Blob::from_slice(&m));
                }
                _ => {
                    let present = model.remove(&m);
                    match present {
                        Some(s) => assert!(idx.remove(s, &m)),
                        None => assert!(!idx.remove(score, &m)),
                    }
                }
            }
            assert_eq!(idx.len(), model.len());
            if step % 500 == 0 {
                let sorted = model_sorted(&model);
                let got: Vec<(Vec<u8>, f64)> = idx.iter().map(|(m, s)| (m.to_vec(), s)).collect();
                assert_eq!(got, sorted);
                for (i, (m, s)) in sorted.iter().enumerate() {
                    assert_eq!(idx.rank(*s, m), i);
                    assert_eq!(idx.select(i).map(|e| e.0.to_vec()), Some(m.clone()));
                }
                assert!(idx.select(sorted.len()).is_none());
                let below = sorted.iter().filter(|e| e.1 < 0.0).count();
                assert_eq!(idx.partition_point(|_, s| s < 0.0), below);
            }
        }
    }

    #[test]
    fn skiplist_lookups_by_member_follow_the_index() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(18);
        let limits = Limits {
            zset_max_listpack_entries: 0,
            ..Limits::default()
        };
        let mut z = ZSet::for_new_key(&limits, 1);
        let mut model: std::collections::HashMap<Vec<u8>, f64> = Default::default();
        for step in 0..20_000 {
            let m = format!("member:{}", rng.gen_range(0..400)).into_bytes();
            let score = f64::from(rng.gen_range(-50i32..50)) / 4.0;
            match (rng.gen_range(0..3), model.contains_key(&m)) {
                (0, false) => {
                    z.insert(&m, score, &limits);
                    model.insert(m.clone(), score);
                }
                (0 | 1, true) => {
                    z.update(&m, score);
                    model.insert(m.clone(), score);
                }
                _ => assert_eq!(z.remove(&m), model.remove(&m)),
            }
            assert_eq!(z.encoding(), "skiplist");
            assert_eq!(z.len(), model.len());
            assert_eq!(z.score(&m), model.get(&m).copied());
            if step % 1000 == 0 {
                let sorted = model_sorted(&model);
                for (i, (m, s)) in sorted.iter().enumerate() {
                    assert_eq!((z.rank(m), z.score(m)), (Some(i), Some(*s)));
                }
                let mut all: Vec<(Vec<u8>, f64)> =
                    z.iter_unordered().map(|(m, s)| (m.to_vec(), s)).collect();
                all.sort_by(|a, b| cmp_entry(a.1, &a.0, b.1, &b.0));
                assert_eq!(all, sorted);
            }
        }
    }

    #[test]
    fn zset_converts_and_ranges_like_redis() {
        let limits = Limits {
            zset_max_listpack_entries: 4,
            ..Limits::default()
        };
        let mut z = ZSet::for_new_key(&limits, 1);
        for (i, m) in ["a", "b", "c", "d"].iter().enumerate() {
            z.insert(m.as_bytes(), i as f64, &limits);
        }
        assert_eq!(z.encoding(), "listpack");
        z.insert(b"e", 1.0, &limits);
        assert_eq!(z.encoding(), "skiplist");
        let order: Vec<&[u8]> = z.iter().map(|e| e.0).collect();
        assert_eq!(order, vec![&b"a"[..], b"b", b"e", b"c", b"d"]);
        assert_eq!(z.rank(b"e"), Some(2));
        z.update(b"e", 10.0);
        assert_eq!(z.rank(b"e"), Some(4));
        let r = ScoreRange {
            min: 1.0,
            max: 3.0,
            minex: true,
            maxex: false,
        };
        assert_eq!(z.score_range(&r), 2..4);
        assert_eq!(z.remove_ranks(0..2), 2);
        assert_eq!(z.len(), 3);
        assert_eq!(z.remove(b"c"), Some(2.0));
        assert_eq!(z.score(b"d"), Some(3.0));
        let small = ZSet::from_entries(
            vec![(Blob::from_slice(b"x"), 2.0), (Blob::from_slice(b"y"), 1.0)],
            &limits,
        );
        assert_eq!(small.encoding(), "listpack");
        assert_eq!(small.entry(0).map(|e| e.0), Some(&b"y"[..]));
    }

    #[test]
    fn slot_scan_sees_stable_elements_once() {
        let limits = Limits {
            zset_max_listpack_entries: 0,
            ..Limits::default()
        };
        let mut z = ZSet::for_new_key(&limits, 1);
        for i in 0..100 {
            z.insert(format!("s{i}").as_bytes(), f64::from(i), &limits);
        }
        let mut seen = std::collections::HashMap::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            let (items, next) = z.scan(cursor, 7);
            for (m, _) in items {
                *seen.entry(m.to_vec()).or_insert(0) += 1;
            }
            // Churn: add and remove transient members, move a stable one.
            z.insert(format!("t{round}").as_bytes(), -1.0, &limits);
            if round > 2 {
                z.remove(format!("t{}", round - 2).as_bytes());
            }
            z.update(b"s50", f64::from(round));
            round += 1;
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        for i in 0..100 {
            assert_eq!(seen.get(format!("s{i}").as_bytes()), Some(&1), "s{i}");
        }
    }

    #[test]
    fn lex_ranges_walk_like_listpack() {
        let limits = Limits::default();
        let mut z = ZSet::default();
        for m in ["a", "b", "c", "d"] {
            z.insert(m.as_bytes(), 0.0, &limits);
        }
        let r = LexRange {
            min: LexBound::Excl(b"a".to_vec()),
            max: LexBound::Incl(b"c".to_vec()),
        };
        assert_eq!(z.lex_range(&r, false), 1..3);
        assert_eq!(z.lex_range(&r, true), 1..3);
        let empty = LexRange {
            min: LexBound::Max,
            max: LexBound::Min,
        };
        assert_eq!(z.lex_range(&empty, false), 0..0);
        z.convert_to_skiplist();
        assert_eq!(z.lex_range(&r, false), 1..3);
    }
}
