//! The keyspace of one database.
//!
//! An extendible hash table: a directory indexed by the top bits of each key's hash points to
//! segments, and a segment is a small hash table behind an `Arc`:
//!
//! ```text
//! Db ─ dir: [seg index; 2^depth] ─┐     (several directory slots may share a segment)
//!      segs: [Arc<Segment>] <─────┘     Segment { table: HashTable<Entry>, depth, .. }
//!                                       Entry { key, value, expire, lru, mark }
//! ```
//!
//! A segment that reaches `SPLIT_AT` entries splits in two by one more hash bit instead of
//! growing, so segments stay small (a bounded unit of work for snapshots) whatever the size of
//! the database, and each table lives between half and seven-eighths full.
//!
//! Point-in-time snapshots (`begin_snapshot`, see `snapshot.rs`) are walked by this thread
//! between client batches (`snapshot_step`), segment by segment; every write first hands the
//! before-image of the one entry it changes to the snapshots that have not walked its
//! segment yet, and stamps the entry (`mark`) so the walk skips it. Reads never copy: the
//! access clock (`lru`) is an atomic updated through a shared reference.
//!
//! Expiry times are absolute Unix milliseconds, `NO_EXPIRE` when the key has none. The store
//! never looks at a clock: callers pass `now`.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use hashbrown::hash_table::Entry as TableEntry;
use hashbrown::{DefaultHashBuilder, HashTable};
use rand::Rng;

use crate::snapshot::{Snapshot, Walk};
use crate::value::{Key, Value};

pub const NO_EXPIRE: i64 = -1;

/// A segment splits when an insert finds it this full: the capacity of a 1024-bucket table.
pub const SPLIT_AT: usize = 896;

/// The 32-bit directory position of a hash.
///
/// It is not uniform on purpose. With uniform positions, every segment of a given depth holds
/// the same number of keys, so all of them split at the same moment and every table sits at
/// the same load: at unlucky sizes (1M keys) all of them just past a split, half empty. Mapping
/// the top 16 hash bits through log2(1 + x) makes density vary by 2x across the directory, so
/// neighbouring segments differ in size by up to an octave, split at different times, and the
/// tables average about two-thirds full at any size.
///
/// The bits used are below hashbrown's 7-bit tag (the top bits) and above the bits a segment's
/// table uses for its buckets (the low ones).
fn prefix(hash: u64) -> u32 {
    let hi = usize::from(log_map()[((hash >> 41) & 0xffff) as usize]);
    ((hi as u32) << 16) | ((hash >> 25) & 0xffff) as u32
}

/// x in [0, 65536) → 65536 · log2(1 + x/65536), monotonic.
fn log_map() -> &'static [u16; 1 << 16] {
    static MAP: std::sync::OnceLock<Box<[u16; 1 << 16]>> = std::sync::OnceLock::new();
    MAP.get_or_init(|| {
        let mut m = Box::new([0u16; 1 << 16]);
        for (x, slot) in m.iter_mut().enumerate() {
            let y = 65536.0 * (1.0 + x as f64 / 65536.0).log2();
            *slot = (y as usize).min(65535) as u16;
        }
        m
    })
}

/// Bits of `Entry::meta` holding the access clock (Redis's LRU clock is 24 bits too).
const LRU_MASK: u32 = (1 << 24) - 1;
const MARK_SHIFT: u32 = 24;

/// One key with its value, expiry, access clock and snapshot mark: 48 bytes
/// (key 20, meta 4, value 16, expire 8).
#[derive(Debug)]
pub struct Entry {
    pub key: Key,
    pub value: Value,
    /// Absolute expiry in Unix milliseconds, or `NO_EXPIRE`.
    pub expire: i64,
    /// Low 24 bits: the seconds-resolution access clock (Redis's 24-bit LRU clock), for
    /// OBJECT IDLETIME. High 8 bits: the snapshot mark, the database's snapshot generation
    /// when this entry was last written: snapshots with a later generation include it,
    /// earlier ones do not (see `snapshot.rs`; generations are renumbered before they would
    /// pass 255, see `Db::begin_snapshot`). The mark changes only through `&mut Entry`.
    meta: AtomicU32,
}

impl Clone for Entry {
    fn clone(&self) -> Self {
        Entry {
            key: self.key.clone(),
            value: self.value.clone(),
            expire: self.expire,
            meta: AtomicU32::new(self.meta.load(Ordering::Relaxed)),
        }
    }
}

impl Entry {
    pub fn new(key: Key, value: Value, expire: i64, lru: u32) -> Self {
        Entry {
            key,
            value,
            expire,
            meta: AtomicU32::new(lru & LRU_MASK),
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
        self.meta.load(Ordering::Relaxed) & LRU_MASK
    }

    /// Records an access; takes `&self` so that reads never copy a shared segment. The mark
    /// bits are kept: they change only through `&mut self`, so no write to them can race this.
    pub fn touch(&self, clock: u32) {
        let m = self.meta.load(Ordering::Relaxed);
        self.meta
            .store((m & !LRU_MASK) | (clock & LRU_MASK), Ordering::Relaxed);
    }

    pub(crate) fn mark(&self) -> u8 {
        (self.meta.load(Ordering::Relaxed) >> MARK_SHIFT) as u8
    }

    pub(crate) fn set_mark(&mut self, gen: u8) {
        let m = self.meta.get_mut();
        *m = (*m & LRU_MASK) | (u32::from(gen) << MARK_SHIFT);
    }
}

#[derive(Clone, Debug, Default)]
pub struct Segment {
    table: HashTable<Entry>,
    /// Keys of this segment that carry an expiry.
    volatile: usize,
    /// Bumped on every insert, removal and split: positions may have changed (SCAN uses it).
    version: u16,
    /// How many top prefix bits all keys of this segment share.
    depth: u8,
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

    /// The first prefix this segment covers, given any prefix inside it.
    fn start_of(&self, p: u64) -> u64 {
        if self.depth == 0 {
            0
        } else {
            let shift = 32 - u32::from(self.depth);
            (p >> shift) << shift
        }
    }

    /// One past the last prefix this segment covers.
    fn end_of(&self, p: u64) -> u64 {
        self.start_of(p) + (1u64 << (32 - u32::from(self.depth)))
    }
}

/// Hashes keys the way one database does, so that a loader can hash and order a batch on
/// its own thread (`prepare`) while the database inserts the previous one.
#[derive(Clone, Copy)]
pub struct BatchHasher(DefaultHashBuilder);

/// Keys with their hashes, in directory order (see `Db::insert_prepared`).
pub struct PreparedBatch(Vec<(u32, u64, (Key, Value, i64))>);

impl BatchHasher {
    pub fn prepare(&self, batch: Vec<(Key, Value, i64)>) -> PreparedBatch {
        let mut hashed: Vec<(u32, u64, (Key, Value, i64))> = batch
            .into_iter()
            .map(|item| {
                let h = self.0.hash_one(item.0.as_slice());
                (prefix(h), h, item)
            })
            .collect();
        hashed.sort_unstable_by_key(|&(p, _, _)| p);
        PreparedBatch(hashed)
    }
}

/// A database: the directory, its segments, the hasher that places keys, and counters.
#[derive(Clone, Debug)]
pub struct Db {
    dir: Vec<u32>,
    depth: u8,
    segs: Vec<Arc<Segment>>,
    hasher: DefaultHashBuilder,
    len: usize,
    volatile: usize,
    /// The newest snapshot generation handed out (entries are stamped with it when written).
    gen: u8,
    walks: Walks,
}

/// The snapshots being walked. A clone of the database does not inherit them.
#[derive(Default)]
struct Walks(Vec<Walk>);

impl Clone for Walks {
    fn clone(&self) -> Self {
        Walks(Vec::new())
    }
}

impl std::fmt::Debug for Walks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Walks({})", self.0.len())
    }
}

/// Hands the before-image of `e` (in segment `si`) to every snapshot that still needs it,
/// then stamps it with the newest generation. Call before changing or removing `e`.
#[inline]
fn before_write(walks: &mut Walks, gen: u8, si: usize, e: &mut Entry) {
    if walks.0.is_empty() {
        return;
    }
    for w in walks.0.iter_mut() {
        w.before_write(si, e);
    }
    e.set_mark(gen);
}

impl Default for Db {
    fn default() -> Self {
        Self::new()
    }
}

/// Where a SCAN stands, encoded into the u64 cursor users see:
/// `prefix << 32 | version << 16 | position`. `prefix` is the first hash prefix of the segment
/// being read; position 0 starts a segment afresh; cursor 0 starts (and ends) the iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanCursor {
    pub prefix: u64,
    pub version: u16,
    pub position: u16,
}

impl ScanCursor {
    pub fn decode(c: u64) -> ScanCursor {
        ScanCursor {
            prefix: c >> 32,
            version: (c >> 16) as u16,
            position: c as u16,
        }
    }

    pub fn encode(self) -> u64 {
        (self.prefix << 32) | (u64::from(self.version) << 16) | u64::from(self.position)
    }
}

impl Db {
    pub fn new() -> Self {
        Db {
            dir: vec![0],
            depth: 0,
            segs: vec![Arc::new(Segment::default())],
            hasher: DefaultHashBuilder::default(),
            len: 0,
            volatile: 0,
            gen: 0,
            walks: Walks(Vec::new()),
        }
    }

    /// Starts a point-in-time snapshot of this database (see `snapshot.rs`), in O(1). The
    /// returned handle yields the entries as they are now, while the database keeps changing;
    /// `snapshot_step` must be called on this thread until `snapshot_in_progress` is false
    /// (or the handle is dropped), or the handle's reader waits.
    pub fn begin_snapshot(&mut self) -> Snapshot {
        if self.gen == u8::MAX {
            // 8-bit generations hold up to 254 running snapshots at once: beyond, the oldest
            // ones are walked to the end now (their queue grows instead of waiting).
            while self.walks.0.len() >= usize::from(u8::MAX) - 1 {
                let mut oldest = self.walks.0.remove(0);
                oldest.finish(&self.segs);
            }
            self.renumber_marks();
        }
        self.gen += 1;
        let (walk, snap) = Walk::begin(self.gen, self.segs.len());
        self.walks.0.push(walk);
        snap
    }

    /// Makes room for a new generation when the 8-bit marks ran out: maps every mark `m` to
    /// the number of running snapshot generations at or below it, and each running snapshot's
    /// generation the same way. Every comparison `mark < gen` a running walk makes gives the
    /// same answer as before (m < g iff fewer generations lie at or below m than at or below
    /// g, g being one of them), and the newest generation becomes the number of running
    /// snapshots. O(keys), once per about 250 snapshots.
    fn renumber_marks(&mut self) {
        let mut gens: Vec<u8> = self.walks.0.iter().map(|w| w.gen).collect();
        gens.sort_unstable();
        gens.dedup();
        let mut map = [0u8; 256];
        for (m, slot) in map.iter_mut().enumerate() {
            *slot = gens.partition_point(|&g| usize::from(g) <= m) as u8;
        }
        let renumber = |seg: &mut Arc<Segment>| {
            if seg
                .table
                .iter()
                .any(|e| map[usize::from(e.mark())] != e.mark())
            {
                for e in Arc::make_mut(seg).table.iter_mut() {
                    e.set_mark(map[usize::from(e.mark())]);
                }
            }
        };
        self.segs.iter_mut().for_each(renumber);
        for w in self.walks.0.iter_mut() {
            w.renumber(&map, renumber);
        }
        self.gen = map[usize::from(self.gen)];
    }

    /// Advances every snapshot of this database by whole segments, up to about `budget`
    /// entries and until `deadline` (see `Walk::step`). Returns how many entries were handed
    /// over.
    pub fn snapshot_step(&mut self, budget: usize, deadline: Option<std::time::Instant>) -> usize {
        let mut produced = 0;
        let segs = &self.segs;
        self.walks.0.retain_mut(|w| {
            if w.is_cancelled() {
                return false;
            }
            let (n, finished) = w.step(segs, budget, deadline);
            produced += n;
            !finished
        });
        produced
    }

    /// Whether a snapshot of this database is still being walked.
    pub fn snapshot_in_progress(&self) -> bool {
        !self.walks.0.is_empty()
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

    fn slot_of_prefix(&self, p: u64) -> usize {
        if self.depth == 0 {
            0
        } else {
            (p >> (32 - u32::from(self.depth))) as usize
        }
    }

    fn seg_of(&self, hash: u64) -> usize {
        self.dir[self.slot_of_prefix(u64::from(prefix(hash)))] as usize
    }

    /// The entry of `key`, expired or not (callers decide what expiry means).
    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        let h = self.hash(key);
        self.segs[self.seg_of(h)]
            .table
            .find(h, |e| e.key.as_slice() == key)
    }

    /// The entry of `key` for modification. Copies the segment first if a snapshot shares it.
    /// Changing `expire` through this reference must go through `set_expire` instead.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let h = self.hash(key);
        let si = self.seg_of(h);
        // Look before copying: a miss must not copy a shared segment.
        self.segs[si].table.find(h, |e| e.key.as_slice() == key)?;
        let e = Arc::make_mut(&mut self.segs[si])
            .table
            .find_mut(h, |e| e.key.as_slice() == key)?;
        before_write(&mut self.walks, self.gen, si, e);
        Some(e)
    }

    /// Splits segment `si` by its next prefix bit, doubling the directory when needed.
    fn split(&mut self, si: usize) {
        let ld = self.segs[si].depth;
        if ld >= 32 {
            return;
        }
        if ld == self.depth {
            self.dir = self.dir.iter().flat_map(|&s| [s, s]).collect();
            self.depth += 1;
        }
        let hasher = &self.hasher;
        let rehash = |e: &Entry| hasher.hash_one(e.key.as_slice());
        let bit = 1u32 << (31 - u32::from(ld));
        let seg = Arc::make_mut(&mut self.segs[si]);
        let mut low = Segment {
            table: HashTable::with_capacity(SPLIT_AT),
            volatile: 0,
            version: 0,
            depth: ld + 1,
        };
        let mut high = Segment {
            table: HashTable::with_capacity(SPLIT_AT),
            volatile: 0,
            version: 0,
            depth: ld + 1,
        };
        for e in seg.table.drain() {
            let h = rehash(&e);
            let half = if prefix(h) & bit != 0 {
                &mut high
            } else {
                &mut low
            };
            half.volatile += usize::from(e.has_expire());
            half.table.insert_unique(h, e, rehash);
        }
        low.version = seg.version.wrapping_add(1);
        *seg = low;
        let ni = self.segs.len() as u32;
        self.segs.push(Arc::new(high));
        for w in self.walks.0.iter_mut() {
            let parent = w.walked[si];
            w.walked.push(parent);
        }
        // Directory slots of the old segment whose bit `ld` (from the top) is set move over.
        let shift = u32::from(self.depth) - 1 - u32::from(ld);
        for (slot, s) in self.dir.iter_mut().enumerate() {
            if *s as usize == si && (slot >> shift) & 1 == 1 {
                *s = ni;
            }
        }
    }

    /// What `prepare_batch` needs to hash keys as this database does, on another thread.
    pub fn batch_hasher(&self) -> BatchHasher {
        BatchHasher(self.hasher)
    }

    /// Inserts many keys at once (loading a snapshot), in directory order rather than arrival
    /// order: keys that land in the same segment go in one after the other, so each table is
    /// in cache while it fills, instead of one random table per key. Returns the first key
    /// that was already present (the caller decides: a snapshot never holds one twice).
    pub fn insert_batch(&mut self, batch: &mut Vec<(Key, Value, i64)>, lru: u32) -> Option<Key> {
        let prepared = self.batch_hasher().prepare(std::mem::take(batch));
        self.insert_prepared(prepared, lru)
    }

    /// Inserts a batch hashed and ordered by `BatchHasher::prepare` (of this database).
    pub fn insert_prepared(&mut self, batch: PreparedBatch, lru: u32) -> Option<Key> {
        let mut dup = None;
        for (_, h, (key, value, expire)) in batch.0 {
            if let Some(old) = self.insert_hashed(h, key, value, expire, lru) {
                dup.get_or_insert(old.key);
            }
        }
        dup
    }

    /// Inserts or replaces `key`, returning the previous entry.
    pub fn insert(&mut self, key: Key, value: Value, expire: i64, lru: u32) -> Option<Entry> {
        let h = self.hash(&key);
        self.insert_hashed(h, key, value, expire, lru)
    }

    fn insert_hashed(
        &mut self,
        h: u64,
        key: Key,
        value: Value,
        expire: i64,
        lru: u32,
    ) -> Option<Entry> {
        let mut si = self.seg_of(h);
        if self.segs[si].table.len() >= SPLIT_AT
            && self.segs[si].table.find(h, |e| e.key == key).is_none()
        {
            self.split(si);
            si = self.seg_of(h);
        }
        let hasher = &self.hasher;
        let seg = Arc::make_mut(&mut self.segs[si]);
        let new_volatile = expire != NO_EXPIRE;
        let mut new = Entry::new(key, value, expire, lru);
        new.set_mark(self.gen);
        match seg.table.entry(
            h,
            |e| e.key == new.key,
            |e| hasher.hash_one(e.key.as_slice()),
        ) {
            TableEntry::Occupied(mut o) => {
                let old_volatile = o.get().has_expire();
                before_write(&mut self.walks, self.gen, si, o.get_mut());
                let old = std::mem::replace(o.get_mut(), new);
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
                v.insert(new);
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
        let si = self.seg_of(h);
        self.segs[si].table.find(h, |e| e.key.as_slice() == key)?;
        let seg = Arc::make_mut(&mut self.segs[si]);
        let hasher = &self.hasher;
        let TableEntry::Occupied(mut o) = seg.table.entry(
            h,
            |e| e.key.as_slice() == key,
            |e| hasher.hash_one(e.key.as_slice()),
        ) else {
            return None;
        };
        before_write(&mut self.walks, self.gen, si, o.get_mut());
        let (old, _) = o.remove();
        seg.version = seg.version.wrapping_add(1);
        if old.has_expire() {
            seg.volatile -= 1;
            self.volatile -= 1;
        }
        self.len -= 1;
        // Give memory back when a table is mostly empty, as Redis resizes dicts below 10% fill.
        if seg.table.capacity() > 64 && seg.table.len() * 8 < seg.table.capacity() {
            seg.table
                .shrink_to(seg.table.len() * 2, |e| hasher.hash_one(e.key.as_slice()));
        }
        Some(old)
    }

    /// Sets or clears (`NO_EXPIRE`) the expiry of an existing key. Returns false if absent.
    pub fn set_expire(&mut self, key: &[u8], expire: i64) -> bool {
        let h = self.hash(key);
        let si = self.seg_of(h);
        if self.segs[si]
            .table
            .find(h, |e| e.key.as_slice() == key)
            .is_none()
        {
            return false;
        }
        let seg = Arc::make_mut(&mut self.segs[si]);
        let Some(e) = seg.table.find_mut(h, |e| e.key.as_slice() == key) else {
            return false;
        };
        before_write(&mut self.walks, self.gen, si, e);
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

    /// A hint that `additional` keys are coming (DEBUG POPULATE, loading a snapshot). On an
    /// empty database, lays out the directory those keys will need at once, so they are not
    /// rehashed split after split as the database grows (each key would move about once per
    /// doubling). Each segment's table is sized for the share of keys its prefix range gets
    /// (the prefix map is not uniform, see `prefix`), at about two-thirds full, which is also
    /// the average fill that splitting reaches. A database that is not empty grows as usual.
    pub fn reserve(&mut self, additional: usize) {
        if self.len != 0 || additional < 4 * SPLIT_AT {
            return;
        }
        // Segments of about two-thirds of SPLIT_AT keys on average.
        let target = (SPLIT_AT * 2 / 3) as f64;
        let want = (additional as f64 / target).log2().floor();
        let depth = want.clamp(1.0, 16.0) as u8;
        let n = 1usize << depth;
        let mut segs = Vec::with_capacity(n);
        for i in 0..n {
            // Share of keys whose prefix falls in [i, i+1) / n: the inverse of the log map.
            let share = (2f64).powf((i + 1) as f64 / n as f64) - (2f64).powf(i as f64 / n as f64);
            let expected = additional as f64 * share;
            let cap = ((expected * 1.15) as usize).clamp(16, SPLIT_AT);
            segs.push(Arc::new(Segment {
                table: HashTable::with_capacity(cap),
                volatile: 0,
                version: 0,
                depth,
            }));
        }
        self.dir = (0..n as u32).collect();
        self.depth = depth;
        self.segs = segs;
        // The old segments were empty: nothing of a running snapshot is in the new ones.
        for w in self.walks.0.iter_mut() {
            w.walked = vec![true; n];
        }
    }

    /// Removes every key.
    pub fn clear(&mut self) {
        let old = std::mem::take(self);
        self.hasher = old.hasher;
        self.gen = old.gen;
        self.walks = old.walks;
        // Running snapshots still need the keys: they keep the segments not walked yet.
        let new_len = self.segs.len();
        for w in self.walks.0.iter_mut() {
            w.orphan(&old.segs, new_len);
        }
    }

    /// Every entry, expired ones included.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.segs.iter().flat_map(|s| s.table.iter())
    }

    /// Bytes of the keyspace structure itself (INFO memory's `used_memory_overhead`, as
    /// Redis counts its main dict there): the directory, the segments and their tables, whose
    /// 48-byte entries hold the keys and small values inline.
    pub fn overhead_bytes(&self) -> usize {
        let segs: usize = self
            .segs
            .iter()
            .map(|s| 16 + std::mem::size_of::<Segment>() + s.table.allocation_size())
            .sum();
        self.dir.capacity() * std::mem::size_of::<u32>()
            + self.segs.capacity() * std::mem::size_of::<Arc<Segment>>()
            + segs
    }

    /// The segments (their layout, for tests and diagnostics).
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
    /// visited, and returns the next cursor, 0 when the iteration is complete.
    ///
    /// Guarantee (as Redis's): a key present for the whole iteration is visited at least once.
    /// Segments are read in prefix order and splits only add boundaries, so the prefix in a
    /// cursor always starts a segment. Within a segment the position counts entries in table
    /// order; if the segment changed since the cursor was issued, this call reads that segment
    /// again from its first entry and to its end, so nothing is missed and progress is certain.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&Entry)) -> u64 {
        let count = count.max(1);
        let c = ScanCursor::decode(cursor);
        let mut p = c.prefix;
        let mut pos = usize::from(c.position);
        let mut finish = false;
        let mut visited = 0usize;
        let mut first = true;
        while p < (1u64 << 32) {
            let seg = &self.segs[self.dir[self.slot_of_prefix(p)] as usize];
            if first {
                first = false;
                if pos > 0 && (seg.start_of(p) != p || seg.version != c.version) {
                    pos = 0;
                    finish = true;
                }
            }
            let start = seg.start_of(p);
            for (i, e) in seg.table.iter().enumerate().skip(pos) {
                if visited >= count && !finish {
                    return ScanCursor {
                        prefix: start,
                        version: seg.version,
                        position: i as u16,
                    }
                    .encode();
                }
                f(e);
                visited += 1;
            }
            finish = false;
            pos = 0;
            p = seg.end_of(p);
            if visited >= count && p < (1u64 << 32) {
                return ScanCursor {
                    prefix: p,
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
        let n = self.segs.len();
        let mut segs_seen = 0;
        while checked < max_checks && segs_seen < n {
            let i = *cursor % n;
            *cursor = (*cursor + 1) % n;
            segs_seen += 1;
            let seg = &self.segs[i];
            if seg.volatile == 0 {
                continue;
            }
            checked += seg.volatile;
            if !seg.table.iter().any(|e| e.is_expired(now)) {
                continue;
            }
            let seg = Arc::make_mut(&mut self.segs[i]);
            let mut removed = Vec::new();
            let (walks, gen) = (&mut self.walks, self.gen);
            seg.table.retain(|e| {
                if e.is_expired(now) {
                    before_write(walks, gen, i, e);
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
    use rand::{Rng, SeedableRng};

    fn k(s: &str) -> Key {
        Key::from_slice(s.as_bytes())
    }

    #[test]
    fn entry_is_48_bytes() {
        assert_eq!(std::mem::size_of::<Entry>(), 48);
    }

    #[test]
    fn overhead_counts_the_tables() {
        let mut db = Db::new();
        let empty = db.overhead_bytes();
        for i in 0..100_000 {
            db.insert(k(&format!("key:{i}")), Value::Int(i), NO_EXPIRE, 0);
        }
        let per_key = (db.overhead_bytes() - empty) as f64 / 100_000.0;
        // 48-byte entries plus a control byte, in tables between 44% and 87.5% full.
        assert!((49.0 / 0.875..=49.0 / 0.44).contains(&per_key), "{per_key}");
    }

    /// Snapshots keep seeing their moment across the renumbering of the 8-bit marks (every
    /// ~250 snapshots), with walks half done when it happens.
    #[test]
    fn snapshot_marks_renumber_past_255_generations() {
        use rand::rngs::SmallRng;
        use rand::SeedableRng;
        use std::collections::BTreeMap;
        let mut db = Db::new();
        let mut model = BTreeMap::new();
        for i in 0..3000i64 {
            db.insert(k(&format!("k{i}")), Value::Int(i), NO_EXPIRE, 0);
            model.insert(format!("k{i}").into_bytes(), i);
        }
        let mut rng = SmallRng::seed_from_u64(7);
        let mut pending = Vec::new();
        for j in 0..600 {
            pending.push((db.begin_snapshot(), model.clone()));
            for _ in 0..20 {
                let key = format!("k{}", rng.gen_range(0..3500));
                if rng.gen_bool(0.2) {
                    db.remove(key.as_bytes());
                    model.remove(key.as_bytes());
                } else {
                    let v = rng.gen_range(0..1_000_000);
                    db.insert(k(&key), Value::Int(v), NO_EXPIRE, 0);
                    model.insert(key.into_bytes(), v);
                }
            }
            db.snapshot_step(500, None);
            if j % 3 == 2 {
                db.snapshot_step(usize::MAX, None);
                assert!(!db.snapshot_in_progress());
                for (s, want) in pending.drain(..) {
                    let got: BTreeMap<Vec<u8>, i64> = std::iter::from_fn(|| s.next_batch())
                        .flatten()
                        .map(|e| match e.value {
                            Value::Int(v) => (e.key.to_vec(), v),
                            _ => unreachable!(),
                        })
                        .collect();
                    assert_eq!(got, want, "snapshot {j}");
                }
            }
        }
    }

    /// More snapshots at once than 8-bit generations can tell apart: the oldest are walked
    /// to the end early, and every one still sees its moment.
    #[test]
    fn three_hundred_snapshots_at_once() {
        let mut db = Db::new();
        for i in 0..100 {
            db.insert(k(&format!("k{i}")), Value::Int(0), NO_EXPIRE, 0);
        }
        let mut snaps = Vec::new();
        for j in 0..300i64 {
            snaps.push((db.begin_snapshot(), j));
            for i in 0..100 {
                db.get_mut(format!("k{i}").as_bytes()).unwrap().value = Value::Int(j + 1);
            }
        }
        while db.snapshot_in_progress() {
            db.snapshot_step(usize::MAX, None);
        }
        for (s, j) in snaps {
            let vals: Vec<i64> = std::iter::from_fn(|| s.next_batch())
                .flatten()
                .map(|e| match e.value {
                    Value::Int(v) => v,
                    _ => unreachable!(),
                })
                .collect();
            assert_eq!(vals, vec![j; 100], "snapshot {j}");
        }
    }

    /// Tables stay reasonably full at every size, including 1M keys in 1024-key units, where
    /// uniform placement leaves every table half empty.
    #[test]
    fn load_factor_is_good_at_unlucky_sizes() {
        for n in [1 << 17, 1_000_000 / 8] {
            let mut db = Db::new();
            for i in 0..n {
                db.insert(k(&format!("key:{i}")), Value::Int(i), NO_EXPIRE, 0);
            }
            let buckets: usize = db
                .segments()
                .iter()
                .map(|s| s.table.capacity() * 8 / 7)
                .sum();
            let load = n as f64 / buckets as f64;
            assert!(load > 0.58, "n={n} load={load:.2}");
        }
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
    fn reserve_and_batches_keep_every_key_and_report_duplicates() {
        let mut db = Db::new();
        let n = 100_000;
        db.reserve(n);
        let depth_after_reserve = db.segments().len();
        assert!(depth_after_reserve >= n / SPLIT_AT, "{depth_after_reserve}");
        let mut batch: Vec<(Key, Value, i64)> = (0..n)
            .map(|i| {
                (
                    k(&format!("key:{i}")),
                    Value::Int(i as i64),
                    if i % 5 == 0 { 99 } else { NO_EXPIRE },
                )
            })
            .collect();
        assert!(db.insert_batch(&mut batch, 0).is_none());
        assert_eq!(db.len(), n);
        assert_eq!(db.volatile_len(), n / 5);
        for i in (0..n).step_by(997) {
            assert!(
                matches!(db.get(format!("key:{i}").as_bytes()).map(|e| &e.value), Some(Value::Int(v)) if *v == i as i64)
            );
        }
        // Pre-sized well: few segments had to split while loading.
        assert!(db.segments().len() < depth_after_reserve * 2);
        let mut again = vec![(k("key:7"), Value::Int(0), NO_EXPIRE)];
        assert_eq!(
            db.insert_batch(&mut again, 0).as_deref(),
            Some(&b"key:7"[..])
        );
        // reserve does nothing on a database that has keys
        let segs = db.segments().len();
        db.reserve(10 * n);
        assert_eq!(db.segments().len(), segs);
    }

    #[test]
    fn splits_keep_every_key_and_bound_segments() {
        let mut db = Db::new();
        let n = 50_000;
        for i in 0..n {
            db.insert(
                k(&format!("key:{i}")),
                Value::Int(i),
                if i % 3 == 0 { 10 } else { NO_EXPIRE },
                0,
            );
        }
        assert_eq!(db.len(), n as usize);
        assert!(db.segments().len() > n as usize / SPLIT_AT);
        assert!(db.segments().iter().all(|s| s.len() <= SPLIT_AT));
        let vol: usize = db.segments().iter().map(|s| s.volatile).sum();
        assert_eq!(vol, db.volatile_len());
        for i in 0..n {
            match db.get(format!("key:{i}").as_bytes()).map(|e| &e.value) {
                Some(Value::Int(v)) => assert_eq!(*v, i),
                other => panic!("key:{i}: {other:?}"),
            }
        }
        // Every directory slot points at a segment whose depth and prefix agree with it.
        for (slot, &si) in db.dir.iter().enumerate() {
            let seg = &db.segs[si as usize];
            assert!(seg.depth <= db.depth);
            let p = (slot as u64) << (32 - u32::from(db.depth));
            assert_eq!(db.slot_of_prefix(p), slot);
        }
    }

    #[test]
    fn model_check_random_operations() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let mut db = Db::new();
        let mut model = std::collections::HashMap::new();
        for _ in 0..100_000 {
            let key = format!("k{}", rng.gen_range(0..5000));
            match rng.gen_range(0..3) {
                0 | 1 => {
                    let v = rng.gen_range(0..1000);
                    let old = db.insert(k(&key), Value::Int(v), NO_EXPIRE, 0);
                    assert_eq!(old.is_some(), model.insert(key, v).is_some());
                }
                _ => {
                    assert_eq!(
                        db.remove(key.as_bytes()).is_some(),
                        model.remove(&key).is_some()
                    );
                }
            }
        }
        assert_eq!(db.len(), model.len());
        for (key, v) in &model {
            assert!(
                matches!(db.get(key.as_bytes()).map(|e| &e.value), Some(Value::Int(x)) if x == v)
            );
        }
    }

    #[test]
    fn snapshot_is_isolated_from_later_writes() {
        let mut db = Db::new();
        for i in 0..5000 {
            db.insert(k(&format!("k{i}")), Value::Int(i), NO_EXPIRE, 0);
        }
        let snap = db.snapshot();
        for i in 0..5000 {
            db.insert(k(&format!("k{i}")), Value::Int(-i), NO_EXPIRE, 0);
        }
        for i in 5000..20000 {
            db.insert(k(&format!("k{i}")), Value::Int(i), NO_EXPIRE, 0);
        }
        db.remove(b"k1");
        assert_eq!(snap.len(), 5000);
        for i in 0..5000 {
            match snap.get(format!("k{i}").as_bytes()).map(|e| &e.value) {
                Some(Value::Int(v)) => assert_eq!(*v, i),
                other => panic!("k{i}: {other:?}"),
            }
        }
        assert!(snap.get(b"k6000").is_none());
    }

    #[test]
    fn scan_visits_every_stable_key_despite_changes_and_splits() {
        let mut db = Db::new();
        for i in 0..3000 {
            db.insert(k(&format!("k{i}")), Value::Int(i), NO_EXPIRE, 0);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            cursor = db.scan(cursor, 10, |e| {
                seen.insert(e.key.to_vec());
            });
            // Churn that also forces splits: many new keys between calls.
            round += 1;
            for j in 0..20 {
                db.insert(k(&format!("tmp{round}-{j}")), Value::Int(0), NO_EXPIRE, 0);
            }
            db.remove(format!("tmp{}-0", round - 1).as_bytes());
            if cursor == 0 {
                break;
            }
            assert!(round < 100_000, "scan does not terminate");
        }
        for i in 0..3000 {
            assert!(seen.contains(format!("k{i}").as_bytes()), "k{i} missed");
        }
    }

    #[test]
    fn scan_of_small_db_and_empty_db() {
        let mut db = Db::new();
        assert_eq!(db.scan(0, 10, |_| panic!("empty")), 0);
        db.insert(k("only"), Value::Int(1), NO_EXPIRE, 0);
        let mut n = 0;
        assert_eq!(db.scan(0, 10, |_| n += 1), 0);
        assert_eq!(n, 1);
    }

    #[test]
    fn expire_cycle_removes_only_expired() {
        let mut db = Db::new();
        for i in 0..2000 {
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
        for _ in 0..db.segments().len() {
            let (_, e) = db.expire_cycle_step(&mut cursor, 100_000, 500, |_| gone += 1);
            total += e;
        }
        assert_eq!((gone, total), (1000, 1000));
        assert_eq!((db.len(), db.volatile_len()), (3000, 1000));
    }

    /// Reads a whole snapshot on another thread while `writes` runs on this one, stepping the
    /// walk between writes as the server does between client batches. Returns (key, value)
    /// of every integer entry the snapshot yielded.
    fn snapshot_under(db: &mut Db, mut writes: impl FnMut(&mut Db, usize)) -> Vec<(Vec<u8>, i64)> {
        let snap = db.begin_snapshot();
        let reader = std::thread::spawn(move || {
            let mut out = Vec::new();
            while let Some(batch) = snap.next_batch() {
                for e in batch {
                    if let Value::Int(v) = e.value {
                        out.push((e.key.to_vec(), v));
                    }
                }
            }
            assert_eq!(snap.keys_done(), out.len());
            out
        });
        let mut round = 0;
        while db.snapshot_in_progress() {
            writes(db, round);
            round += 1;
            if round % 64 == 0 {
                db.snapshot_step(256, None);
            }
        }
        // Writes after the walk finished must not reach the snapshot either.
        for _ in 0..1000 {
            writes(db, round);
            round += 1;
        }
        let mut got = reader.join().unwrap();
        got.sort();
        got
    }

    fn numbered(n: i64) -> Vec<(Vec<u8>, i64)> {
        let mut want: Vec<(Vec<u8>, i64)> =
            (0..n).map(|i| (format!("k{i}").into_bytes(), i)).collect();
        want.sort();
        want
    }

    #[test]
    fn snapshot_equals_dataset_at_start_under_concurrent_writes() {
        let mut db = Db::new();
        let n = 30_000i64;
        for i in 0..n {
            db.insert(k(&format!("k{i}")), Value::Int(i), NO_EXPIRE, 0);
        }
        let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
        let got = snapshot_under(&mut db, |db, round| {
            // New keys too, so that segments split while the walk runs.
            let i = rng.gen_range(0..n + 20_000);
            match round % 4 {
                0 | 3 => {
                    db.insert(k(&format!("k{i}")), Value::Int(-1), NO_EXPIRE, 0);
                }
                1 => {
                    db.remove(format!("k{i}").as_bytes());
                }
                _ => {
                    if let Some(e) = db.get_mut(format!("k{i}").as_bytes()) {
                        e.value = Value::Int(-2);
                    }
                    db.set_expire(format!("k{}", i + 1).as_bytes(), 1);
                }
            }
        });
        assert_eq!(got, numbered(n));
    }

    #[test]
    fn snapshot_survives_flush_and_expire_cycle() {
        let mut db = Db::new();
        let n = 20_000i64;
        for i in 0..n {
            db.insert(
                k(&format!("k{i}")),
                Value::Int(i),
                if i % 2 == 0 { 1 } else { NO_EXPIRE },
                0,
            );
        }
        let mut cursor = 0;
        let got = snapshot_under(&mut db, |db, round| match round {
            10 => {
                db.expire_cycle_step(&mut cursor, 5_000, 100, |_| {});
            }
            20 => db.clear(),
            _ => {
                db.insert(k(&format!("new{round}")), Value::Int(-1), NO_EXPIRE, 0);
            }
        });
        assert_eq!(got, numbered(n));
    }

    #[test]
    fn two_snapshots_at_once_each_see_their_moment() {
        let mut db = Db::new();
        for i in 0..5_000 {
            db.insert(k(&format!("k{i}")), Value::Int(i), NO_EXPIRE, 0);
        }
        let first = db.begin_snapshot();
        for i in 0..2_500 {
            db.insert(k(&format!("k{i}")), Value::Int(i + 5_000), NO_EXPIRE, 0);
        }
        let second = db.begin_snapshot();
        for i in 0..5_000 {
            db.get_mut(format!("k{i}").as_bytes()).unwrap().value = Value::Int(-1);
        }
        while db.snapshot_in_progress() {
            db.snapshot_step(100, None);
        }
        let collect = |s: Snapshot| {
            let mut v: Vec<i64> = std::iter::from_fn(|| s.next_batch())
                .flatten()
                .map(|e| match e.value {
                    Value::Int(v) => v,
                    _ => unreachable!(),
                })
                .collect();
            v.sort();
            v
        };
        assert_eq!(collect(first), (0..5_000).collect::<Vec<_>>());
        assert_eq!(collect(second), (2_500..7_500).collect::<Vec<_>>());
    }

    #[test]
    fn writes_during_snapshot_copy_no_segment_and_dropped_snapshot_stops() {
        let mut db = Db::new();
        for i in 0..20_000 {
            db.insert(k(&format!("k{i}")), Value::Int(i), NO_EXPIRE, 0);
        }
        let before: Vec<*const Segment> = db.segments().iter().map(Arc::as_ptr).collect();
        let snap = db.begin_snapshot();
        for i in 0..20_000 {
            db.insert(k(&format!("k{i}")), Value::Int(-7), NO_EXPIRE, 0);
        }
        let after: Vec<*const Segment> = db.segments().iter().map(Arc::as_ptr).collect();
        assert_eq!(before, after);
        // Every entry was written once before the walk: all of them are before-images.
        db.snapshot_step(0, None);
        let mut n = 0;
        while db.snapshot_in_progress() {
            db.snapshot_step(1000, None);
        }
        while let Some(b) = snap.next_batch() {
            assert!(b.iter().all(|e| !matches!(e.value, Value::Int(-7))));
            n += b.len();
        }
        assert_eq!(n, 20_000);
        let snap = db.begin_snapshot();
        drop(snap);
        db.snapshot_step(10, None);
        assert!(!db.snapshot_in_progress());
    }

    #[test]
    fn clear_and_shrink() {
        let mut db = Db::new();
        for i in 0..10000 {
            db.insert(k(&format!("k{i}")), Value::Int(i), NO_EXPIRE, 0);
        }
        for i in 0..9990 {
            db.remove(format!("k{i}").as_bytes());
        }
        assert_eq!(db.len(), 10);
        assert!(db
            .segments()
            .iter()
            .all(|s| s.table.capacity() <= 64 || s.len() * 8 >= s.table.capacity()));
        db.clear();
        assert!(db.is_empty() && db.get(b"k9999").is_none());
    }
}
