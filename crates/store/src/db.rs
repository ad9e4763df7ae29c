//! The keyspace of one database.
//!
//! Keys are spread over a fixed number of segments by their hash. Each segment is a hash table
//! behind an `Arc`:
//!
//! ```text
//! Db ─ segs: [Arc<Segment>; SEGMENTS] ─ Segment { table: HashTable<Entry>, .. }
//!                                         Entry { key, value, expire, lru }
//! ```
//!
//! A point-in-time snapshot clones the segment pointers (`Db::snapshot`); a later write to a
//! segment still shared with a snapshot copies just that segment (`Arc::make_mut`). Reads never
//! copy: the access clock (`lru`) is an atomic updated through a shared reference.
//!
//! Expiry times are absolute Unix milliseconds, `NO_EXPIRE` when the key has none. The store
//! never looks at a clock: callers pass `now`.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use hashbrown::hash_table::Entry as TableEntry;
use hashbrown::{DefaultHashBuilder, HashTable};
use rand::Rng;

use crate::value::{Key, Value};

pub const NO_EXPIRE: i64 = -1;

/// How many of the 65536 hash prefixes each segment receives.
fn segment_shares() -> &'static [u32; SEGMENTS] {
    static SHARES: std::sync::OnceLock<Box<[u32; SEGMENTS]>> = std::sync::OnceLock::new();
    SHARES.get_or_init(|| {
        let mut s = Box::new([0u32; SEGMENTS]);
        for &seg in segment_map().iter() {
            s[usize::from(seg)] += 1;
        }
        s
    })
}

/// 16 hash bits → segment, log-uniform (see `Db::seg_of`).
fn segment_map() -> &'static [u16; 1 << 16] {
    static MAP: std::sync::OnceLock<Box<[u16; 1 << 16]>> = std::sync::OnceLock::new();
    MAP.get_or_init(|| {
        let mut m = Box::new([0u16; 1 << 16]);
        for (u, slot) in m.iter_mut().enumerate() {
            let x = u as f64 / 65536.0;
            let s = (SEGMENTS as f64 * (1.0 + x).log2()) as usize;
            *slot = s.min(SEGMENTS - 1) as u16;
        }
        m
    })
}

/// log2 of the number of segments of one database.
pub const SEGMENT_BITS: u32 = 10;
pub const SEGMENTS: usize = 1 << SEGMENT_BITS;

/// One key with its value, expiry and access clock.
#[derive(Debug)]
pub struct Entry {
    pub key: Key,
    pub value: Value,
    /// Absolute expiry in Unix milliseconds, or `NO_EXPIRE`.
    pub expire: i64,
    /// Seconds-resolution access clock (Redis's 24-bit LRU clock), for OBJECT IDLETIME.
    lru: AtomicU32,
}

impl Clone for Entry {
    fn clone(&self) -> Self {
        Entry {
            key: self.key.clone(),
            value: self.value.clone(),
            expire: self.expire,
            lru: AtomicU32::new(self.lru.load(Ordering::Relaxed)),
        }
    }
}

impl Entry {
    pub fn new(key: Key, value: Value, expire: i64, lru: u32) -> Self {
        Entry {
            key,
            value,
            expire,
            lru: AtomicU32::new(lru),
        }
    }

    pub fn has_expire(&self) -> bool {
        self.expire != NO_EXPIRE
    }

    /// Whether the key is logically gone at `now` (Unix ms).
    pub fn is_expired(&self, now: i64) -> bool {
        self.expire != NO_EXPIRE && self.expire <= now
    }

    pub fn lru(&self) -> u32 {
        self.lru.load(Ordering::Relaxed)
    }

    /// Records an access; takes `&self` so that reads never copy a shared segment.
    pub fn touch(&self, clock: u32) {
        self.lru.store(clock, Ordering::Relaxed);
    }
}

#[derive(Clone, Debug, Default)]
pub struct Segment {
    table: HashTable<Entry>,
    /// Keys of this segment that carry an expiry.
    volatile: usize,
    /// Bumped on every insert and removal: iteration order may have changed (SCAN uses it).
    version: u16,
}

impl Segment {
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.table.iter()
    }
}

/// A database: the segments, the hasher that places keys, and counters.
#[derive(Clone, Debug)]
pub struct Db {
    segs: Vec<Arc<Segment>>,
    hasher: DefaultHashBuilder,
    len: usize,
    volatile: usize,
}

impl Default for Db {
    fn default() -> Self {
        Self::new()
    }
}

/// Where a SCAN over a keyspace or a big collection stands. Encoded into the u64 cursor users
/// see: `segment << 48 | version << 32 | position`. Position 0 starts a segment afresh.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanCursor {
    pub segment: usize,
    pub version: u16,
    pub position: u32,
}

impl ScanCursor {
    pub fn decode(c: u64) -> ScanCursor {
        ScanCursor {
            segment: (c >> 48) as usize,
            version: (c >> 32) as u16,
            position: c as u32,
        }
    }

    pub fn encode(self) -> u64 {
        ((self.segment as u64) << 48) | (u64::from(self.version) << 32) | u64::from(self.position)
    }
}

impl Db {
    pub fn new() -> Self {
        Db {
            segs: (0..SEGMENTS)
                .map(|_| Arc::new(Segment::default()))
                .collect(),
            hasher: DefaultHashBuilder::default(),
            len: 0,
            volatile: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of keys with an expiry (INFO keyspace `expires=`).
    pub fn volatile_len(&self) -> usize {
        self.volatile
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The segment of a hash, from its middle bits (hashbrown uses the low bits for the bucket
    /// and the top seven as the tag, and both must stay varied within a segment).
    ///
    /// Segments are deliberately unequal: segment `s` receives a share proportional to
    /// 2^(s/SEGMENTS), so sizes span one octave. Equal segments would all cross a hash table
    /// doubling at the same moment, leaving every table half empty at unlucky sizes (1M keys
    /// in 1024 segments is 977 each, just past the 896 that 1024 buckets hold). Spread over an
    /// octave, the average load stays near 0.63 at any size.
    fn seg_of(hash: u64) -> usize {
        usize::from(segment_map()[((hash >> 40) & 0xffff) as usize])
    }

    /// The entry of `key`, expired or not (callers decide what expiry means).
    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        let h = self.hash(key);
        self.segs[Self::seg_of(h)]
            .table
            .find(h, |e| e.key.as_slice() == key)
    }

    /// The entry of `key` for modification. Copies the segment first if a snapshot shares it.
    /// Changing `expire` through this reference must go through `set_expire` instead.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let h = self.hash(key);
        let seg = &mut self.segs[Self::seg_of(h)];
        // Look before copying: a miss must not copy a shared segment.
        seg.table.find(h, |e| e.key.as_slice() == key)?;
        Arc::make_mut(seg)
            .table
            .find_mut(h, |e| e.key.as_slice() == key)
    }

    /// Inserts or replaces `key`, returning the previous entry.
    pub fn insert(&mut self, key: Key, value: Value, expire: i64, lru: u32) -> Option<Entry> {
        let h = self.hash(&key);
        let hasher = &self.hasher;
        let seg = Arc::make_mut(&mut self.segs[Self::seg_of(h)]);
        let new_volatile = expire != NO_EXPIRE;
        match seg
            .table
            .entry(h, |e| e.key == key, |e| hasher.hash_one(e.key.as_slice()))
        {
            TableEntry::Occupied(mut o) => {
                let old_volatile = o.get().has_expire();
                let old = std::mem::replace(o.get_mut(), Entry::new(key, value, expire, lru));
                match (old_volatile, new_volatile) {
                    (true, false) => {
                        seg.volatile -= 1;
                        self.volatile -= 1;
                    }
                    (false, true) => {
                        seg.volatile += 1;
                        self.volatile += 1;
                    }
                    _ => {}
                }
                Some(old)
            }
            TableEntry::Vacant(v) => {
                v.insert(Entry::new(key, value, expire, lru));
                seg.version = seg.version.wrapping_add(1);
                if new_volatile {
                    seg.volatile += 1;
                    self.volatile += 1;
                }
                self.len += 1;
                None
            }
        }
    }

    /// Removes `key`, returning its entry.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let h = self.hash(key);
        let seg = &mut self.segs[Self::seg_of(h)];
        seg.table.find(h, |e| e.key.as_slice() == key)?;
        let seg = Arc::make_mut(seg);
        let TableEntry::Occupied(o) = seg.table.entry(
            h,
            |e| e.key.as_slice() == key,
            |e| self.hasher.hash_one(e.key.as_slice()),
        ) else {
            return None;
        };
        let (old, _) = o.remove();
        seg.version = seg.version.wrapping_add(1);
        if old.has_expire() {
            seg.volatile -= 1;
            self.volatile -= 1;
        }
        self.len -= 1;
        Some(old)
    }

    /// Sets or clears (`NO_EXPIRE`) the expiry of an existing key. Returns false if absent.
    pub fn set_expire(&mut self, key: &[u8], expire: i64) -> bool {
        let h = self.hash(key);
        let seg = &mut self.segs[Self::seg_of(h)];
        if seg.table.find(h, |e| e.key.as_slice() == key).is_none() {
            return false;
        }
        let seg = Arc::make_mut(seg);
        let Some(e) = seg.table.find_mut(h, |e| e.key.as_slice() == key) else {
            return false;
        };
        let was = e.has_expire();
        e.expire = expire;
        match (was, expire != NO_EXPIRE) {
            (true, false) => {
                seg.volatile -= 1;
                self.volatile -= 1;
            }
            (false, true) => {
                seg.volatile += 1;
                self.volatile += 1;
            }
            _ => {}
        }
        true
    }

    /// Makes room for `additional` more keys without rehashing (Redis's dictExpand before a
    /// bulk load such as DEBUG POPULATE or loading a snapshot), each segment by its share.
    pub fn reserve(&mut self, additional: usize) {
        let shares = segment_shares();
        let hasher = &self.hasher;
        for (seg, share) in self.segs.iter_mut().zip(shares.iter()) {
            let n = (additional as u64 * u64::from(*share)).div_ceil(1 << 16) as usize;
            if n > 0 {
                Arc::make_mut(seg)
                    .table
                    .reserve(n, |e| hasher.hash_one(e.key.as_slice()));
            }
        }
    }

    /// Removes every key.
    pub fn clear(&mut self) {
        for s in &mut self.segs {
            *s = Arc::new(Segment::default());
        }
        self.len = 0;
        self.volatile = 0;
    }

    /// Every entry, expired ones included.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.segs.iter().flat_map(|s| s.table.iter())
    }

    /// The segments, for snapshot encoders that walk them one by one.
    pub fn segments(&self) -> &[Arc<Segment>] {
        &self.segs
    }

    /// A point-in-time copy that shares every segment: O(number of segments), no key copied.
    pub fn snapshot(&self) -> Db {
        self.clone()
    }

    /// A uniformly chosen entry (expired ones included), or `None` when empty.
    pub fn random_entry<R: Rng>(&self, rng: &mut R) -> Option<&Entry> {
        if self.len == 0 {
            return None;
        }
        let mut idx = rng.gen_range(0..self.len);
        for s in &self.segs {
            if idx < s.table.len() {
                return s.table.iter().nth(idx);
            }
            idx -= s.table.len();
        }
        None
    }

    /// One step of SCAN: calls `f` for entries from `cursor` on until at least `count` were
    /// visited (whole segments when a segment changed under the cursor), and returns the next
    /// cursor, 0 when the iteration is complete.
    ///
    /// Guarantee (as Redis's): a key present for the whole iteration is visited at least once.
    /// Within a segment the position counts entries in table order; if the segment was changed
    /// since the cursor was issued, the rest of the scan restarts that segment from its first
    /// entry and finishes it in this call, so nothing is missed and progress is certain.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&Entry)) -> u64 {
        let c = ScanCursor::decode(cursor);
        let mut seg_idx = c.segment;
        let mut visited = 0usize;
        if seg_idx >= SEGMENTS {
            return 0;
        }
        let mut start = c.position as usize;
        let mut finish_segment = false;
        if start > 0 && self.segs[seg_idx].version != c.version {
            start = 0;
            finish_segment = true;
        }
        while seg_idx < SEGMENTS {
            let seg = &self.segs[seg_idx];
            for (pos, e) in (start..).zip(seg.table.iter().skip(start)) {
                if visited >= count.max(1) && !finish_segment {
                    let next = ScanCursor {
                        segment: seg_idx,
                        version: seg.version,
                        position: pos as u32,
                    };
                    return next.encode();
                }
                f(e);
                visited += 1;
            }
            finish_segment = false;
            start = 0;
            seg_idx += 1;
            if visited >= count.max(1) && seg_idx < SEGMENTS {
                return ScanCursor {
                    segment: seg_idx,
                    version: 0,
                    position: 0,
                }
                .encode();
            }
        }
        0
    }

    /// Removes up to `max_checks` expired keys starting from segment `*cursor` (advancing it),
    /// for the active expire cycle. Calls `on_expired` with each removed entry and returns
    /// (keys checked, keys expired).
    pub fn expire_cycle_step(
        &mut self,
        cursor: &mut usize,
        max_checks: usize,
        now: i64,
        mut on_expired: impl FnMut(Entry),
    ) -> (usize, usize) {
        let mut checked = 0;
        let mut expired = 0;
        if self.volatile == 0 {
            return (0, 0);
        }
        let mut segs_seen = 0;
        while checked < max_checks && segs_seen < SEGMENTS {
            let i = *cursor % SEGMENTS;
            *cursor = (*cursor + 1) % SEGMENTS;
            segs_seen += 1;
            let seg = &self.segs[i];
            if seg.volatile == 0 {
                continue;
            }
            checked += seg.volatile;
            let any = seg.table.iter().any(|e| e.is_expired(now));
            if !any {
                continue;
            }
            let seg = Arc::make_mut(&mut self.segs[i]);
            let mut removed = Vec::new();
            seg.table.retain(|e| {
                if e.is_expired(now) {
                    removed.push(e.clone());
                    false
                } else {
                    true
                }
            });
            seg.version = seg.version.wrapping_add(1);
            seg.volatile -= removed.len();
            self.volatile -= removed.len();
            self.len -= removed.len();
            expired += removed.len();
            for e in removed {
                on_expired(e);
            }
        }
        (checked, expired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn k(s: &str) -> Key {
        Key::from_slice(s.as_bytes())
    }

    #[test]
    fn entry_is_64_bytes_and_segments_span_an_octave() {
        assert_eq!(std::mem::size_of::<Entry>(), 56);
        let mut counts = vec![0usize; SEGMENTS];
        for u in 0..(1usize << 16) {
            counts[usize::from(segment_map()[u])] += 1;
        }
        assert!(counts.iter().all(|&c| c > 0));
        let (lo, hi) = (
            counts[..16].iter().sum::<usize>(),
            counts[SEGMENTS - 16..].iter().sum::<usize>(),
        );
        assert!(hi > lo * 3 / 2 && hi < lo * 5 / 2, "{lo} {hi}");
    }

    #[test]
    fn insert_get_remove_and_counters() {
        let mut db = Db::new();
        assert!(db.insert(k("a"), Value::Int(1), NO_EXPIRE, 0).is_none());
        assert!(db.insert(k("b"), Value::Int(2), 1000, 0).is_none());
        assert_eq!((db.len(), db.volatile_len()), (2, 1));
        assert!(db.insert(k("b"), Value::Int(3), NO_EXPIRE, 0).is_some());
        assert_eq!((db.len(), db.volatile_len()), (2, 0));
        assert!(db.set_expire(b"a", 5));
        assert_eq!(db.volatile_len(), 1);
        assert!(db.get(b"a").unwrap().is_expired(5));
        assert!(!db.get(b"a").unwrap().is_expired(4));
        assert!(db.remove(b"a").is_some());
        assert!(db.remove(b"a").is_none());
        assert_eq!((db.len(), db.volatile_len()), (1, 0));
    }

    #[test]
    fn snapshot_is_isolated_from_later_writes() {
        let mut db = Db::new();
        for i in 0..1000 {
            db.insert(k(&format!("k{i}")), Value::Int(i), NO_EXPIRE, 0);
        }
        let snap = db.snapshot();
        for i in 0..1000 {
            db.insert(k(&format!("k{i}")), Value::Int(-i), NO_EXPIRE, 0);
        }
        db.remove(b"k1");
        db.insert(k("new"), Value::Int(0), NO_EXPIRE, 0);
        assert_eq!(snap.len(), 1000);
        for i in 0..1000 {
            match snap.get(format!("k{i}").as_bytes()).map(|e| &e.value) {
                Some(Value::Int(v)) => assert_eq!(*v, i),
                other => panic!("k{i}: {other:?}"),
            }
        }
        assert!(snap.get(b"new").is_none());
    }

    #[test]
    fn scan_visits_every_stable_key_despite_changes() {
        let mut db = Db::new();
        for i in 0..5000 {
            db.insert(k(&format!("k{i}")), Value::Int(i), NO_EXPIRE, 0);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            cursor = db.scan(cursor, 10, |e| {
                seen.insert(e.key.to_vec());
            });
            // Churn: add and remove other keys between calls.
            round += 1;
            db.insert(k(&format!("tmp{round}")), Value::Int(0), NO_EXPIRE, 0);
            if round % 2 == 0 {
                db.remove(format!("tmp{}", round - 1).as_bytes());
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..5000 {
            assert!(seen.contains(format!("k{i}").as_bytes()), "k{i} missed");
        }
    }

    #[test]
    fn expire_cycle_removes_only_expired() {
        let mut db = Db::new();
        for i in 0..100 {
            db.insert(
                k(&format!("v{i}")),
                Value::Int(i),
                if i % 2 == 0 { 10 } else { 1000 },
                0,
            );
            db.insert(k(&format!("p{i}")), Value::Int(i), NO_EXPIRE, 0);
        }
        let mut cursor = 0;
        let mut gone = 0;
        let mut total = 0;
        for _ in 0..SEGMENTS {
            let (_, e) = db.expire_cycle_step(&mut cursor, 1000, 500, |_| gone += 1);
            total += e;
        }
        assert_eq!((gone, total), (50, 50));
        assert_eq!((db.len(), db.volatile_len()), (150, 50));
    }
}
