//! Sets: sorted integers packed at 2, 4 or 8 bytes (an `IntSet`, "intset") while every member is an integer and the set
//! has at most `set-max-intset-entries` members, a `Table` ("hashtable") beyond. Conversion is
//! one way, as in Redis.

use std::borrow::Cow;

use rand::Rng;

use crate::hash::Table;
use crate::intset::{self, IntSet};
use crate::shared::PACKED_MAX;
use crate::value::{parse_i64, Blob};
use crate::Limits;

#[derive(Clone, Debug)]
pub enum Set {
    /// Sorted, distinct; SMEMBERS reports them in this order, as Redis does.
    Ints(IntSet),
    Table(Table<()>),
}

impl Default for Set {
    fn default() -> Self {
        Set::Ints(IntSet::default())
    }
}

/// A member as stored: an integer of an intset or the bytes of a table entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Member<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl Member<'_> {
    pub fn bytes(&self) -> Cow<'_, [u8]> {
        match self {
            Member::Int(n) => Cow::Owned(n.to_string().into_bytes()),
            Member::Str(s) => Cow::Borrowed(s),
        }
    }

    pub fn to_blob(&self) -> Blob {
        match self {
            Member::Int(n) => Blob::from_slice(n.to_string().as_bytes()),
            Member::Str(s) => Blob::from_slice(s),
        }
    }
}

/// Iterator over the members of a set.
pub enum SetIter<'a> {
    Ints(intset::Iter<'a>),
    Table(Box<dyn Iterator<Item = &'a Blob> + 'a>),
}

impl<'a> Iterator for SetIter<'a> {
    type Item = Member<'a>;

    fn next(&mut self) -> Option<Member<'a>> {
        match self {
            SetIter::Ints(it) => it.next().map(Member::Int),
            SetIter::Table(it) => it.next().map(|b| Member::Str(b.as_slice())),
        }
    }
}

impl Set {
    /// A set holding `members`, encoded as Redis encodes a set built by adding them one by one
    /// to an empty intset (the *STORE commands, SPOP's rebuilt remainder).
    pub fn from_members<'a>(members: impl IntoIterator<Item = Member<'a>>, limits: &Limits) -> Set {
        let mut s = Set::default();
        for m in members {
            s.add_member(m, limits);
        }
        s
    }

    pub fn len(&self) -> usize {
        match self {
            Set::Ints(v) => v.len(),
            Set::Table(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Set::Ints(_) => "intset",
            Set::Table(_) => "hashtable",
        }
    }

    /// Whether a snapshot shares the contents.
    pub fn is_shared(&self) -> bool {
        match self {
            Set::Ints(v) => v.is_shared(),
            Set::Table(t) => t.is_shared(),
        }
    }

    pub fn contains(&self, m: &[u8]) -> bool {
        match self {
            Set::Ints(v) => parse_i64(m).is_some_and(|n| v.contains(n)),
            Set::Table(t) => t.contains(m),
        }
    }

    pub fn contains_member(&self, m: Member<'_>) -> bool {
        match (self, m) {
            (Set::Ints(v), Member::Int(n)) => v.contains(n),
            (_, Member::Str(s)) => self.contains(s),
            (Set::Table(t), Member::Int(n)) => t.contains(n.to_string().as_bytes()),
        }
    }

    /// Adds `m`; returns whether it is new (Redis's setTypeAdd, conversions included).
    pub fn add(&mut self, m: &[u8], limits: &Limits) -> bool {
        match parse_i64(m) {
            Some(n) => self.add_member(Member::Int(n), limits),
            None => self.add_member(Member::Str(m), limits),
        }
    }

    /// Adds a member; a `Str` that is a canonical integer must be passed as `Int` to keep an
    /// intset (`add` does that).
    pub fn add_member(&mut self, m: Member<'_>, limits: &Limits) -> bool {
        if let (Set::Ints(v), Member::Int(n)) = (&mut *self, m) {
            if (v.len() + 1) * 8 > PACKED_MAX {
                // Whatever the limit, a block stays below PACKED_MAX.
                self.convert();
                return self.add_member(m, limits);
            }
            let added = v.insert(n);
            if v.len() > limits.set_max_intset_entries {
                self.convert();
            }
            return added;
        }
        if let (Set::Ints(_), Member::Str(s)) = (&*self, m) {
            if let Some(n) = parse_i64(s) {
                return self.add_member(Member::Int(n), limits);
            }
            self.convert();
        }
        match self {
            Set::Table(t) => t.insert(&m.bytes(), ()).is_none(),
            Set::Ints(_) => false,
        }
    }

    /// Removes `m`; returns whether it was there.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self {
            Set::Ints(v) => parse_i64(m).is_some_and(|n| v.remove(n)),
            Set::Table(t) => t.remove(m).is_some(),
        }
    }

    /// Converts to the table encoding (one way).
    pub fn convert(&mut self) {
        if let Set::Ints(v) = self {
            let mut t = Table::with_capacity(v.len() + 1);
            for n in v.iter() {
                t.insert(n.to_string().as_bytes(), ());
            }
            *self = Set::Table(t);
        }
    }

    /// Members in the order SMEMBERS reports them.
    pub fn iter(&self) -> SetIter<'_> {
        match self {
            Set::Ints(v) => SetIter::Ints(v.iter()),
            Set::Table(t) => SetIter::Table(Box::new(t.iter().map(|(k, _)| k))),
        }
    }

    /// A uniformly chosen member.
    pub fn random<R: Rng>(&self, rng: &mut R) -> Option<Member<'_>> {
        match self {
            Set::Ints(v) => {
                if v.is_empty() {
                    None
                } else {
                    Some(Member::Int(v.get(rng.gen_range(0..v.len()))))
                }
            }
            Set::Table(t) => t.random(rng).map(|(k, _)| Member::Str(k.as_slice())),
        }
    }

    /// Removes and returns a uniformly chosen member.
    pub fn pop_random<R: Rng>(&mut self, rng: &mut R) -> Option<Blob> {
        match self {
            Set::Ints(v) => {
                if v.is_empty() {
                    None
                } else {
                    let n = v.remove_at(rng.gen_range(0..v.len()));
                    Some(Blob::from_slice(n.to_string().as_bytes()))
                }
            }
            Set::Table(t) => t.pop_random(rng).map(|(k, _)| k),
        }
    }

    /// One SSCAN step: an intset is returned whole (cursor 0), as Redis does.
    pub fn scan<'a>(&'a self, cursor: u64, count: usize, mut f: impl FnMut(Member<'a>)) -> u64 {
        match self {
            Set::Ints(v) => {
                for n in v.iter() {
                    f(Member::Int(n));
                }
                0
            }
            Set::Table(t) => t.scan(cursor, count, |k, _| f(Member::Str(k))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    fn limits(max: usize) -> Limits {
        Limits {
            set_max_intset_entries: max,
            ..Limits::default()
        }
    }

    fn members(s: &Set) -> Vec<Vec<u8>> {
        s.iter().map(|m| m.bytes().into_owned()).collect()
    }

    #[test]
    fn intset_sorted_and_converts_on_size_and_strings() {
        let l = limits(3);
        let mut s = Set::default();
        assert!(s.add(b"10", &l));
        assert!(s.add(b"-2", &l));
        assert!(!s.add(b"10", &l));
        assert!(s.add(b"3", &l));
        assert_eq!(s.encoding(), "intset");
        assert_eq!(
            members(&s),
            vec![b"-2".to_vec(), b"3".to_vec(), b"10".to_vec()]
        );
        assert!(s.add(b"4", &l));
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.contains(b"-2") && s.contains(b"4") && !s.contains(b"5"));

        let mut s = Set::default();
        s.add(b"1", &l);
        assert!(s.add(b"01", &l));
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.contains(b"1") && s.contains(b"01"));
        assert!(s.remove(b"1"));
        assert!(!s.remove(b"1"));
        assert_eq!(s.encoding(), "hashtable");
    }

    #[test]
    fn zero_limit_gives_a_table_at_once() {
        let s = Set::from_members([Member::Int(1)], &limits(0));
        assert_eq!(s.encoding(), "hashtable");
        let s = Set::from_members([Member::Str(b"7"), Member::Int(1)], &limits(5));
        assert_eq!(s.encoding(), "intset");
        assert!(s.contains_member(Member::Str(b"7")));
    }

    #[test]
    fn intset_lookups_need_canonical_integers() {
        let l = limits(10);
        let mut s = Set::default();
        s.add(b"5", &l);
        assert!(!s.contains(b"05") && !s.contains(b"+5") && !s.contains(b"5 "));
        assert!(!s.remove(b"5.0"));
        assert!(s.contains_member(Member::Int(5)));
    }

    #[test]
    fn pop_random_returns_distinct_members() {
        let l = limits(512);
        let mut rng = SmallRng::seed_from_u64(7);
        for big in [false, true] {
            let mut s = Set::default();
            for i in 0..100 {
                s.add(i.to_string().as_bytes(), &l);
            }
            if big {
                s.convert();
            }
            let mut seen = std::collections::HashSet::new();
            while let Some(m) = s.pop_random(&mut rng) {
                assert!(seen.insert(m.to_vec()));
            }
            assert_eq!(seen.len(), 100);
        }
    }
}
