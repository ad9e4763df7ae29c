//! The keyspace of one database.
//!
//! An extendible hash table: a directory indexed by the top bits of each key's hash points to
//! segments, and a segment is a small hash table behind an `Arc`:
//!
//! ```text
//! Db ─ dir: [seg index; 2^depth] ─┐     (several directory slots may share a segment)
//!      segs: [Arc<Segment>] <─────┘     Segment { table: EntryTable, depth, .. }
//!                                       EntryTable { entries: [Entry], index: u16 positions }
//!                                       Entry { key, value, expire, lru, mark }
//! ```
//!
//! A segment that reaches `SPLIT_AT` entries splits in two by one more hash bit instead of
//! growing, so segments stay small (a bounded unit of work for snapshots) whatever the size of
//! the database; a segment's entries sit densely in an array, found through a small hash
//! index of positions (`entry_table.rs`), so an empty bucket costs 3 bytes, not an entry.
//!
//! Point-in-time snapshots (`begin_snapshot`, see `snapshot.rs`) are walked by this thread
//! between client batches (`snapshot_step`), segment by segment; every write first hands the
//! before-image of the one entry it changes to the snapshots that have not walked its
//! segment yet, and stamps the entry (`mark`) so the walk skips it. Reads never copy: the
//! access clock (`lru`) is an atomic updated through a shared reference.
//!
//! Expiry times are absolute Unix milliseconds, `NO_EXPIRE` when the key has none. The store
//! never looks at a clock: callers pass `now`.
//!
//! Where each part lives: `entry.rs` (one key with its expiry, access clock and mark),
//! `entry_table.rs` (a segment's dense entries and their index),
//! `segment.rs` (a hash's directory position, segments, splitting and pre-sizing),
//! `batch_insert.rs` (hashing and ordering loads off-thread), `snapshot_walks.rs` (the running
//! snapshots and the before-image hook every write calls), `scan.rs` (SCAN cursors),
//! `expire.rs` (expiry changes and the active expire cycle), `sample.rs` (keys sampled for
//! eviction), `table_alloc.rs` (exact-size blocks for full segment indexes); this file holds
//! the database and its point operations.

mod batch_insert;
mod entry;
mod entry_table;
mod expire;
mod sample;
mod scan;
mod segment;
mod snapshot_walks;
mod table_alloc;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_bgsave_inserts;

use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::DefaultHashBuilder;
use rand::Rng;

use crate::value::{Key, Value};

pub use batch_insert::{BatchHasher, PreparedBatch};
pub use entry::{Entry, NO_EXPIRE};
pub use scan::ScanCursor;
pub use segment::{Segment, SPLIT_AT};
pub use table_alloc::free_slot_bytes;

use segment::prefix;
use snapshot_walks::{before_write, Walks};

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

impl Default for Db {
    fn default() -> Self {
        Self::new()
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
            walks: Walks::default(),
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

    pub(super) fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    pub(super) fn slot_of_prefix(&self, p: u64) -> usize {
        if self.depth == 0 {
            0
        } else {
            (p >> (32 - u32::from(self.depth))) as usize
        }
    }

    pub(super) fn seg_of(&self, hash: u64) -> usize {
        self.dir[self.slot_of_prefix(u64::from(prefix(hash)))] as usize
    }

    /// The entry of `key`, expired or not (callers decide what expiry means).
    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        let h = self.hash(key);
        self.segs[self.seg_of(h)].table.find(h, key)
    }

    /// The entry of `key` for modification. Copies the segment first if a snapshot shares it.
    /// Changing `expire` through this reference must go through `set_expire` instead.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let h = self.hash(key);
        let si = self.seg_of(h);
        // Look before copying: a miss must not copy a shared segment.
        let i = self.segs[si].table.position(h, key)?;
        let e = Arc::make_mut(&mut self.segs[si]).table.at_mut(i);
        before_write(&mut self.walks, self.gen, si, e);
        Some(e)
    }

    /// Inserts or replaces `key`, returning the previous entry.
    pub fn insert(&mut self, key: Key, value: Value, expire: i64, lru: u32) -> Option<Entry> {
        let h = self.hash(&key);
        self.insert_hashed(h, key, value, expire, lru)
    }

    pub(super) fn insert_hashed(
        &mut self,
        h: u64,
        key: Key,
        value: Value,
        expire: i64,
        lru: u32,
    ) -> Option<Entry> {
        let mut si = self.seg_of(h);
        let at = self.segs[si].table.position(h, &key);
        if at.is_none() && self.segs[si].table.len() >= SPLIT_AT {
            self.split(si);
            si = self.seg_of(h);
        }
        let seg = Arc::make_mut(&mut self.segs[si]);
        let new_volatile = expire != NO_EXPIRE;
        let mut new = Entry::new(key, value, expire, lru);
        new.set_mark(self.gen);
        if let Some(i) = at {
            let e = seg.table.at_mut(i);
            let old_volatile = e.has_expire();
            before_write(&mut self.walks, self.gen, si, e);
            let old = std::mem::replace(e, new);
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
            return Some(old);
        }
        seg.table.push(h, new, &self.hasher);
        seg.version = seg.version.wrapping_add(1);
        if new_volatile {
            seg.volatile += 1;
            self.volatile += 1;
        }
        self.len += 1;
        None
    }

    /// Removes `key`, returning its entry.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let h = self.hash(key);
        let si = self.seg_of(h);
        let i = self.segs[si].table.position(h, key)?;
        let seg = Arc::make_mut(&mut self.segs[si]);
        before_write(&mut self.walks, self.gen, si, seg.table.at_mut(i));
        let old = seg.table.remove_at(i, h, &self.hasher);
        seg.version = seg.version.wrapping_add(1);
        if old.has_expire() {
            seg.volatile -= 1;
            self.volatile -= 1;
        }
        self.len -= 1;
        Some(old)
    }

    /// Removes every key.
    pub fn clear(&mut self) {
        drop(self.take_all());
    }

    /// Removes every key and returns them, as a database of their own (for a caller that
    /// drops them elsewhere: FLUSHALL ASYNC). Running snapshots keep what they still need.
    pub fn take_all(&mut self) -> Db {
        let mut old = std::mem::take(self);
        self.hasher = old.hasher;
        self.gen = old.gen;
        self.walks = std::mem::take(&mut old.walks);
        // Running snapshots still need the keys: they keep the segments not walked yet.
        let new_len = self.segs.len();
        for w in self.walks.0.iter_mut() {
            w.orphan(&old.segs, new_len);
        }
        old
    }

    /// Every entry, expired ones included.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.segs.iter().flat_map(|s| s.table.iter())
    }

    /// Bytes of the keyspace structure itself (INFO memory's `used_memory_overhead`, as
    /// Redis counts its main dict there): the directory, the segments, their entry arrays
    /// (whose 48-byte entries hold the keys and small values inline) and their indexes.
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
                return s.table.entries().get(idx);
            }
            idx -= s.table.len();
        }
        None
    }
}
