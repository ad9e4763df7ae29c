//! Hashes: a listpack-like vector of pairs in insertion order while small, a `Table` beyond
//! `hash-max-listpack-entries` / `hash-max-listpack-value`. Conversion is one way, as in Redis.
//!
//! This module also owns `Table`, the general hash table that big hashes and big sets share.

use std::hash::BuildHasher;

use hashbrown::hash_table::Entry as IndexEntry;
use hashbrown::{DefaultHashBuilder, HashTable};
use rand::Rng;

use crate::pack::{Pairs, PairsIter};
use crate::shared::{Shared, PACKED_MAX};
use crate::value::Blob;
use crate::Limits;

/// A hash table whose entries sit in stable, insertion-ordered slots:
///
/// ```text
/// slots: [ Some((k0, v0)) | None | Some((k2, v2)) | Some((k3, v3)) ]   (None = removed)
/// index: HashTable<slot number>, hashed by the slot's key
/// ```
///
/// A removal leaves a hole instead of moving another entry into it, so an entry keeps its slot
/// for as long as it lives. That makes two things cheap that a plain hash map makes hard:
/// a SCAN cursor that is just a slot number (an entry present for the whole scan cannot move
/// behind the cursor), and a uniformly random entry (pick random slots until one is live).
/// When holes outnumber live entries the slots are compacted; `epoch` counts compactions so
/// that a cursor issued before one is recognised (see `scan`).
///
/// The index holds 4-byte slot numbers (a table holds fewer than 2^32 entries: at 24 bytes a
/// slot that is 96 GiB), and the slots grow one allocator size class at a time (see
/// `grow_slots`), not by doubling.
#[derive(Clone, Debug, Default)]
pub struct TableInner<V> {
    slots: Vec<Option<(Blob, V)>>,
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    live: usize,
    epoch: u32,
}

/// The smallest of mimalloc's size classes above `bytes`: 8-byte steps up to 64, then four
/// per doubling (64, 80, 96, 112, 128, 160, ...).
pub fn size_class_above(bytes: usize) -> usize {
    if bytes < 64 {
        return (bytes / 8 + 1) * 8;
    }
    let top = usize::BITS - 1 - bytes.leading_zeros();
    let step = 1usize << (top - 2);
    (bytes / step + 1) * step
}

/// Cursor layout for `Table::scan`: `epoch << POS_BITS | slot`.
const POS_BITS: u32 = 40;
const POS_MASK: u64 = (1 << POS_BITS) - 1;
const EPOCH_MASK: u32 = (1 << (64 - POS_BITS)) - 1;

impl<V> TableInner<V> {
    fn new() -> Self {
        TableInner {
            slots: Vec::new(),
            index: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            live: 0,
            epoch: 0,
        }
    }

    fn with_capacity(n: usize) -> Self {
        TableInner {
            slots: Vec::with_capacity(n),
            index: HashTable::with_capacity(n),
            hasher: DefaultHashBuilder::default(),
            live: 0,
            epoch: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    fn slot_of(&self, key: &[u8]) -> Option<usize> {
        let h = self.hasher.hash_one(key);
        let slots = &self.slots;
        self.index
            .find(
                h,
                |&i| matches!(&slots[i as usize], Some((k, _)) if k.as_slice() == key),
            )
            .map(|&i| i as usize)
    }

    /// Makes room for one more slot when full: up to the next allocator size class
    /// (mimalloc's classes are 4 per doubling, so 14-25 % more), where doubling would leave up
    /// to half of a large table's slots empty (1,000 hash fields: 48 KiB, not 56).
    fn grow_slots(&mut self) {
        if self.slots.len() < self.slots.capacity() {
            return;
        }
        let slot = std::mem::size_of::<Option<(Blob, V)>>().max(1);
        let bytes = size_class_above(self.slots.capacity() * slot);
        let cap = (bytes / slot).max(self.slots.capacity() + 1);
        self.slots.reserve_exact(cap - self.slots.len());
    }

    pub fn get(&self, key: &[u8]) -> Option<&V> {
        let i = self.slot_of(key)?;
        self.slots[i].as_ref().map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        let i = self.slot_of(key)?;
        self.slots[i].as_mut().map(|(_, v)| v)
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        self.slot_of(key).is_some()
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&mut self, key: &[u8], value: V) -> Option<V> {
        if let Some(i) = self.slot_of(key) {
            let slot = self.slots[i].as_mut()?;
            return Some(std::mem::replace(&mut slot.1, value));
        }
        let h = self.hasher.hash_one(key);
        let pos = u32::try_from(self.slots.len()).expect("fewer than 2^32 slots");
        self.grow_slots();
        self.slots.push(Some((Blob::from_slice(key), value)));
        let TableInner {
            slots,
            index,
            hasher,
            ..
        } = self;
        index.insert_unique(h, pos, |&i| match &slots[i as usize] {
            Some((k, _)) => hasher.hash_one(k.as_slice()),
            None => 0,
        });
        self.live += 1;
        None
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &[u8]) -> Option<V> {
        let h = self.hasher.hash_one(key);
        let slots = &self.slots;
        let IndexEntry::Occupied(o) = self.index.entry(
            h,
            |&i| matches!(&slots[i as usize], Some((k, _)) if k.as_slice() == key),
            |&i| match &slots[i as usize] {
                Some((k, _)) => self.hasher.hash_one(k.as_slice()),
                None => 0,
            },
        ) else {
            return None;
        };
        let (i, _) = o.remove();
        let i = i as usize;
        let old = self.slots[i].take().map(|(_, v)| v);
        self.live -= 1;
        self.after_removal();
        old
    }

    /// Drops trailing holes (no live entry moves) and compacts when holes dominate.
    fn after_removal(&mut self) {
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        let holes = self.slots.len() - self.live;
        if holes > 16 && holes > self.live {
            self.slots.retain(Option::is_some);
            self.index.clear();
            let TableInner {
                slots,
                index,
                hasher,
                ..
            } = self;
            for (i, s) in (0u32..).zip(slots.iter()) {
                if let Some((k, _)) = s {
                    let h = hasher.hash_one(k.as_slice());
                    index.insert_unique(h, i, |&j| match &slots[j as usize] {
                        Some((k, _)) => hasher.hash_one(k.as_slice()),
                        None => 0,
                    });
                }
            }
            self.epoch = self.epoch.wrapping_add(1) & EPOCH_MASK;
        }
    }

    /// Live entries in slot (insertion) order.
    pub fn iter(&self) -> impl Iterator<Item = (&Blob, &V)> {
        self.slots.iter().flatten().map(|(k, v)| (k, v))
    }

    /// The slot of a uniformly chosen live entry.
    fn random_slot<R: Rng>(&self, rng: &mut R) -> Option<usize> {
        if self.live == 0 {
            return None;
        }
        // At least half the slots are live (see `after_removal`), so this rarely loops.
        for _ in 0..64 {
            let i = rng.gen_range(0..self.slots.len());
            if self.slots[i].is_some() {
                return Some(i);
            }
        }
        let n = rng.gen_range(0..self.live);
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_some())
            .nth(n)
            .map(|(i, _)| i)
    }

    /// A uniformly chosen entry.
    pub fn random<R: Rng>(&self, rng: &mut R) -> Option<(&Blob, &V)> {
        let i = self.random_slot(rng)?;
        self.slots[i].as_ref().map(|(k, v)| (k, v))
    }

    /// Removes and returns a uniformly chosen entry.
    pub fn pop_random<R: Rng>(&mut self, rng: &mut R) -> Option<(Blob, V)> {
        let i = self.random_slot(rng)?;
        let key = self.slots[i].as_ref()?.0.clone();
        let v = self.remove(&key)?;
        Some((key, v))
    }

    /// One step of a SCAN over the table: calls `f` for live entries from `cursor` on until
    /// `count` were visited, and returns the next cursor, 0 when the scan is complete.
    ///
    /// An entry present for the whole scan is visited at least once: entries never move
    /// except when the slots are compacted, and a cursor issued before a compaction (its epoch
    /// differs) gets every entry in this call, so nothing is missed and the scan ends.
    pub fn scan<'a>(
        &'a self,
        cursor: u64,
        count: usize,
        mut f: impl FnMut(&'a Blob, &'a V),
    ) -> u64 {
        let count = count.max(1);
        let pos = (cursor & POS_MASK) as usize;
        let epoch = (cursor >> POS_BITS) as u32;
        if cursor != 0 && epoch != self.epoch {
            for (k, v) in self.iter() {
                f(k, v);
            }
            return 0;
        }
        let mut visited = 0;
        let mut i = pos;
        while i < self.slots.len() {
            if visited >= count {
                return (u64::from(self.epoch) << POS_BITS) | i as u64;
            }
            if let Some((k, v)) = &self.slots[i] {
                f(k, v);
                visited += 1;
            }
            i += 1;
        }
        0
    }
}

/// The table behind one unaligned, reference-counted pointer, so that the enums holding it
/// (`Hash`, `Set`) are as small as their packed variants and a snapshot's copy of the value
/// shares it: a write copies it first while a snapshot holds it (`Shared`'s `DerefMut`).
#[derive(Clone, Debug, Default)]
pub struct Table<V>(Shared<TableInner<V>>);

impl<V> Table<V> {
    pub fn new() -> Self {
        Table(Shared::new(TableInner::new()))
    }

    pub fn with_capacity(n: usize) -> Self {
        Table(Shared::new(TableInner::with_capacity(n)))
    }

    /// Whether a snapshot shares the table.
    pub fn is_shared(&self) -> bool {
        self.0.is_shared()
    }
}

impl<V> std::ops::Deref for Table<V> {
    type Target = TableInner<V>;
    fn deref(&self) -> &TableInner<V> {
        &self.0
    }
}

impl<V: Clone> std::ops::DerefMut for Table<V> {
    fn deref_mut(&mut self) -> &mut TableInner<V> {
        &mut self.0
    }
}

/// A hash value.
#[derive(Clone, Debug)]
pub enum Hash {
    /// Reported as "listpack"; keeps insertion order like Redis's listpack.
    Pack(Pairs),
    /// Reported as "hashtable".
    Table(Table<Blob>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Pack(Pairs::new())
    }
}

/// Iterator over the (field, value) pairs of a hash.
pub enum HashIter<'a> {
    Pack(PairsIter<'a>),
    Table(Box<dyn Iterator<Item = (&'a Blob, &'a Blob)> + 'a>),
}

impl<'a> Iterator for HashIter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            HashIter::Pack(it) => it.next(),
            HashIter::Table(it) => it.next().map(|(f, v)| (f.as_slice(), v.as_slice())),
        }
    }
}

impl Hash {
    pub fn len(&self) -> usize {
        match self {
            Hash::Pack(v) => v.len(),
            Hash::Table(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Hash::Pack(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    /// Whether a snapshot shares the contents.
    pub fn is_shared(&self) -> bool {
        match self {
            Hash::Pack(p) => p.is_shared(),
            Hash::Table(t) => t.is_shared(),
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Pack(v) => v.get(field),
            Hash::Table(t) => t.get(field).map(|v| v.as_slice()),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Sets `field` to `value` and returns whether the field is new. Converts to a table
    /// first when either string is longer than `hash-max-listpack-value`, and after when the
    /// pairs exceed `hash-max-listpack-entries` (Redis's hashTypeSet).
    /// Converts too when the packed block would pass `PACKED_MAX` (Redis's lpSafeToAdd).
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: &Limits) -> bool {
        if let Hash::Pack(p) = self {
            if field.len() > limits.hash_max_listpack_value
                || value.len() > limits.hash_max_listpack_value
                || p.bytes() + field.len() + value.len() + 20 > PACKED_MAX
            {
                self.convert();
            }
        }
        let created = match self {
            Hash::Pack(v) => v.set(field, value),
            Hash::Table(t) => t.insert(field, Blob::from_slice(value)).is_none(),
        };
        if matches!(self, Hash::Pack(v) if v.len() > limits.hash_max_listpack_entries) {
            self.convert();
        }
        created
    }

    /// Removes `field`; returns whether it existed.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Pack(v) => v.remove(field),
            Hash::Table(t) => t.remove(field).is_some(),
        }
    }

    /// Converts to the table encoding (one way).
    pub fn convert(&mut self) {
        if let Hash::Pack(v) = self {
            let mut t = Table::with_capacity(v.len());
            for (f, val) in v.iter() {
                t.insert(f, Blob::from_slice(val));
            }
            *self = Hash::Table(t);
        }
    }

    /// Pairs in the order HGETALL reports them.
    pub fn iter(&self) -> HashIter<'_> {
        match self {
            Hash::Pack(v) => HashIter::Pack(v.iter()),
            Hash::Table(t) => HashIter::Table(Box::new(t.iter())),
        }
    }

    /// A uniformly chosen pair.
    pub fn random<R: Rng>(&self, rng: &mut R) -> Option<(&[u8], &[u8])> {
        match self {
            Hash::Pack(v) => {
                if v.is_empty() {
                    return None;
                }
                v.nth(rng.gen_range(0..v.len()))
            }
            Hash::Table(t) => t.random(rng).map(|(f, v)| (f.as_slice(), v.as_slice())),
        }
    }

    /// One HSCAN step: a listpack is returned whole (cursor 0), as Redis does.
    pub fn scan<'a>(
        &'a self,
        cursor: u64,
        count: usize,
        mut f: impl FnMut(&'a [u8], &'a [u8]),
    ) -> u64 {
        match self {
            Hash::Pack(v) => {
                for (k, val) in v {
                    f(k, val);
                }
                0
            }
            Hash::Table(t) => t.scan(cursor, count, |k, v| f(k, v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    fn limits(entries: usize, value: usize) -> Limits {
        Limits {
            hash_max_listpack_entries: entries,
            hash_max_listpack_value: value,
            ..Limits::default()
        }
    }

    #[test]
    fn pack_keeps_insertion_order_and_converts_on_entries() {
        let l = limits(3, 64);
        let mut h = Hash::default();
        assert!(h.set(b"b", b"1", &l));
        assert!(h.set(b"a", b"2", &l));
        assert!(!h.set(b"b", b"3", &l));
        assert!(h.set(b"c", b"4", &l));
        assert_eq!(h.encoding(), "listpack");
        let pairs: Vec<_> = h.iter().collect();
        assert_eq!(
            pairs,
            vec![
                (&b"b"[..], &b"3"[..]),
                (&b"a"[..], &b"2"[..]),
                (&b"c"[..], &b"4"[..])
            ]
        );
        assert!(h.set(b"d", b"5", &l));
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), 4);
        assert_eq!(h.get(b"b"), Some(&b"3"[..]));
        assert!(h.remove(b"b"));
        assert!(!h.remove(b"b"));
        assert_eq!(h.encoding(), "hashtable");
    }

    #[test]
    fn long_field_or_value_converts() {
        let l = limits(128, 4);
        let mut h = Hash::default();
        h.set(b"abcd", b"abcd", &l);
        assert_eq!(h.encoding(), "listpack");
        h.set(b"x", b"abcde", &l);
        assert_eq!(h.encoding(), "hashtable");
        let mut h = Hash::default();
        h.set(b"abcde", b"1", &l);
        assert_eq!(h.encoding(), "hashtable");
    }

    #[test]
    fn table_insert_remove_random_and_compaction() {
        let mut t: Table<u32> = Table::new();
        for i in 0..1000u32 {
            assert!(t.insert(i.to_string().as_bytes(), i).is_none());
        }
        assert_eq!(t.insert(b"5", 55), Some(5));
        for i in 0..900u32 {
            assert!(t.remove(i.to_string().as_bytes()).is_some());
        }
        assert_eq!(t.len(), 100);
        assert!(t.remove(b"1").is_none());
        for i in 900..1000u32 {
            assert_eq!(t.get(i.to_string().as_bytes()), Some(&i));
        }
        let mut rng = SmallRng::seed_from_u64(1);
        for _ in 0..100 {
            let (k, v) = t.random(&mut rng).expect("non-empty");
            assert_eq!(k.as_slice(), v.to_string().as_bytes());
        }
        let mut popped = std::collections::HashSet::new();
        while let Some((k, _)) = t.pop_random(&mut rng) {
            assert!(popped.insert(k.to_vec()));
        }
        assert_eq!(popped.len(), 100);
        assert!(t.is_empty());
    }

    #[test]
    fn table_scan_misses_nothing_stable_under_churn() {
        let mut t: Table<()> = Table::new();
        for i in 0..3000 {
            if i % 3 == 0 {
                t.insert(format!("k{}", i / 3).as_bytes(), ());
            }
            t.insert(format!("t{i}").as_bytes(), ());
        }
        let epoch0 = t.epoch;
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            cursor = t.scan(cursor, 7, |k, _| {
                seen.insert(k.to_vec());
            });
            // Churn between calls: remove interleaved keys (leaving holes, then compacting)
            // and add new ones.
            for j in 0..50 {
                t.remove(format!("t{}", round * 50 + j).as_bytes());
            }
            t.insert(format!("new{round}").as_bytes(), ());
            round += 1;
            if cursor == 0 {
                break;
            }
            assert!(round < 10_000, "scan does not end");
        }
        assert_ne!(t.epoch, epoch0, "the test should cross a compaction");
        for i in 0..1000 {
            assert!(seen.contains(format!("k{i}").as_bytes()), "k{i} missed");
        }
    }

    #[test]
    fn slots_grow_by_size_class() {
        assert_eq!(
            [0, 7, 8, 63, 64, 79, 80, 100, 128, 40960, 49151].map(size_class_above),
            [8, 8, 16, 64, 80, 80, 96, 112, 160, 49152, 49152]
        );
        // 1,000 fields of a hash converted at 513: 48-byte slots in a 48 KiB block (doubling
        // would have reached 1,026 slots, 49,248 bytes, in a 56 KiB class).
        let mut t: Table<Blob> = Table::with_capacity(513);
        for i in 0..1000 {
            t.insert(format!("field:{i}").as_bytes(), Blob::from_slice(b"v"));
        }
        assert_eq!(
            t.slots.capacity() * std::mem::size_of::<Option<(Blob, Blob)>>(),
            49152
        );
    }

    #[test]
    fn pack_scan_is_whole() {
        let l = limits(128, 64);
        let mut h = Hash::default();
        h.set(b"a", b"1", &l);
        h.set(b"b", b"2", &l);
        let mut n = 0;
        assert_eq!(h.scan(12345, 1, |_, _| n += 1), 0);
        assert_eq!(n, 2);
    }
}
