//! A segment's entries: a dense array of 48-byte entries and a hash index of 2-byte
//! positions into it.
//!
//! ```text
//! entries: [ e0 | e1 | e2 | ... | e(n-1) ]     no holes: a removal moves the last entry
//!                                              into the gap
//! index:   HashTable<u16> of positions, hashed by the entry's key, plus hashbrown's control
//!          byte per bucket
//! ```
//!
//! Why not the entries in the hash table itself: a hash table holds its empty buckets at the
//! size of what it stores. Segments split at `SPLIT_AT` (896) entries into two halves of a
//! 1024-bucket table, so a table is 44-87.5 % full, about 60 % on average: an inline entry
//! cost 48 / 0.6 + a control byte, about 82 bytes per key. Here the empty buckets cost
//! 3 bytes (position and control byte) and the array grows one allocator size class at a time
//! (14-25 %, see `hash::size_class_above`), so a key costs its 48 bytes, about 4 of spare array
//! and about 5 of index: near 57.
//!
//! The price is one more memory access per lookup (the position, then the entry).
//! Positions are 16 bits: a segment holds at most `SPLIT_AT` entries, except one at the
//! deepest split level (32 shared prefix bits), which could not split further; see `push`.

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use super::table_alloc::TableAlloc;
use super::Entry;
use crate::hash::size_class_above;

/// A segment's entries and their index (see the module documentation).
#[derive(Clone, Debug, Default)]
pub struct EntryTable {
    entries: Vec<Entry>,
    index: HashTable<u16, TableAlloc>,
}

fn rehash<'a>(entries: &'a [Entry], hasher: &'a DefaultHashBuilder) -> impl Fn(&u16) -> u64 + 'a {
    move |&i| hasher.hash_one(entries[usize::from(i)].key.as_slice())
}

/// How many entries fit the smallest allocator size class holding at least `n` of them.
pub(super) fn class_capacity(n: usize) -> usize {
    let size = std::mem::size_of::<Entry>();
    if n == 0 {
        return 0;
    }
    (size_class_above(n * size - 1) / size).max(n)
}

impl EntryTable {
    /// Room for `entries` entries (rounded up to a size class) and an index of `index`.
    pub fn with_capacity(entries: usize, index: usize) -> Self {
        EntryTable {
            entries: Vec::with_capacity(class_capacity(entries)),
            index: HashTable::with_capacity_in(index, TableAlloc),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries, in position order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Entry> {
        self.entries.iter()
    }

    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, Entry> {
        self.entries.iter_mut()
    }

    /// Entries the array holds without growing.
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.entries.capacity()
    }

    /// Entries the index holds without growing.
    #[cfg(test)]
    pub fn index_capacity(&self) -> usize {
        self.index.capacity()
    }

    /// Heap bytes of the array and the index.
    pub fn allocation_size(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Entry>() + self.index.allocation_size()
    }

    /// Where the entry of `key` (hashing to `h`) is.
    #[inline]
    pub fn position(&self, h: u64, key: &[u8]) -> Option<usize> {
        let entries = &self.entries;
        self.index
            .find(h, |&i| entries[usize::from(i)].key.as_slice() == key)
            .map(|&i| usize::from(i))
    }

    #[inline]
    pub fn find(&self, h: u64, key: &[u8]) -> Option<&Entry> {
        self.position(h, key).map(|i| &self.entries[i])
    }

    pub fn at_mut(&mut self, i: usize) -> &mut Entry {
        &mut self.entries[i]
    }

    /// Adds an entry whose key (hashing to `h`) is not in the table.
    ///
    /// Positions are 16 bits. Only a segment of the deepest level can pass `SPLIT_AT`, and
    /// its keys share 32 bits of a randomly seeded 64-bit hash: 65,536 of them would need
    /// about 2^48 keys in the database, so running out here is not a case to handle.
    pub fn push(&mut self, h: u64, e: Entry, hasher: &DefaultHashBuilder) {
        let pos = u16::try_from(self.entries.len())
            .ok()
            .filter(|&p| p < u16::MAX)
            .expect("a segment holds fewer than 65,535 entries (see EntryTable::push)");
        if self.entries.len() == self.entries.capacity() {
            // One size class more (14-25 %), not a doubling.
            let cap = class_capacity(self.entries.len() + 1);
            self.entries.reserve_exact(cap - self.entries.len());
        }
        self.entries.push(e);
        let EntryTable { entries, index } = self;
        index.insert_unique(h, pos, rehash(entries, hasher));
    }

    /// Removes the entry at position `i`, whose key hashes to `h`; the last entry moves into
    /// its place. Gives memory back when the table is mostly empty, as Redis resizes dicts
    /// below 10 % fill.
    pub fn remove_at(&mut self, i: usize, h: u64, hasher: &DefaultHashBuilder) -> Entry {
        let pos = u16::try_from(i).expect("positions are 16 bits");
        if let Ok(slot) = self.index.find_entry(h, |&j| j == pos) {
            slot.remove();
        }
        let last = self.entries.len() - 1;
        if i != last {
            let hl = hasher.hash_one(self.entries[last].key.as_slice());
            let from = u16::try_from(last).expect("positions are 16 bits");
            if let Some(slot) = self.index.find_mut(hl, |&j| j == from) {
                *slot = pos;
            }
        }
        let old = self.entries.swap_remove(i);
        let len = self.entries.len();
        if self.entries.capacity() > 16 && len * 4 < self.entries.capacity() {
            self.entries.shrink_to(class_capacity(len * 2));
        }
        if self.index.capacity() > 64 && len * 8 < self.index.capacity() {
            let EntryTable { entries, index } = self;
            index.shrink_to(len * 2, rehash(entries, hasher));
        }
        old
    }

    /// Every entry, leaving the table empty.
    pub fn into_entries(self) -> Vec<Entry> {
        self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::NO_EXPIRE;
    use crate::value::{Key, Value};

    fn entry(i: i64) -> Entry {
        Entry::new(
            Key::from_slice(format!("key:{i}").as_bytes()),
            Value::Int(i),
            NO_EXPIRE,
            0,
        )
    }

    /// Inserts and removals in random order against a model: every key is found at the
    /// position the index says, removed keys are gone, and the array stays dense.
    #[test]
    fn positions_follow_removals() {
        use rand::{Rng, SeedableRng};
        let hasher = DefaultHashBuilder::default();
        let h = |i: i64| hasher.hash_one(format!("key:{i}").as_bytes());
        let mut t = EntryTable::default();
        let mut live = std::collections::BTreeSet::new();
        let mut rng = rand::rngs::SmallRng::seed_from_u64(5);
        for step in 0..20_000 {
            let i = rng.gen_range(0..900i64);
            let key = format!("key:{i}");
            match t.position(h(i), key.as_bytes()) {
                Some(p) => {
                    assert!(live.contains(&i));
                    if rng.gen_bool(0.5) {
                        let old = t.remove_at(p, h(i), &hasher);
                        assert_eq!(old.key.as_slice(), key.as_bytes());
                        live.remove(&i);
                    }
                }
                None => {
                    assert!(!live.contains(&i), "step {step}: {key} lost");
                    t.push(h(i), entry(i), &hasher);
                    live.insert(i);
                }
            }
            assert_eq!(t.len(), live.len());
        }
        for &i in &live {
            let e = t
                .find(h(i), format!("key:{i}").as_bytes())
                .expect("live key");
            assert!(matches!(e.value, Value::Int(v) if v == i));
        }
        // Empty it: the array and the index shrink on the way down.
        let big = t.allocation_size();
        for &i in &live {
            let p = t
                .position(h(i), format!("key:{i}").as_bytes())
                .expect("live");
            t.remove_at(p, h(i), &hasher);
        }
        assert!(t.is_empty());
        assert!(
            t.allocation_size() < big / 4,
            "{} vs {big}",
            t.allocation_size()
        );
    }

    /// The array grows one size class at a time: at most a quarter of it is ever spare.
    #[test]
    fn array_grows_by_size_classes() {
        let hasher = DefaultHashBuilder::default();
        let mut t = EntryTable::default();
        for i in 0..896 {
            t.push(
                hasher.hash_one(format!("key:{i}").as_bytes()),
                entry(i),
                &hasher,
            );
            if t.len() > 8 {
                assert!(
                    t.capacity() * 4 <= t.len() * 5 + 20,
                    "{} {}",
                    t.len(),
                    t.capacity()
                );
            }
        }
        // 896 entries (43,008 bytes) fill most of a 48 KiB class.
        assert_eq!(class_capacity(896), 1024);
        assert_eq!(class_capacity(1), 1);
        assert_eq!(class_capacity(0), 0);
    }
}
