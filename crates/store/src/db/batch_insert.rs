//! Bulk inserts for loaders: keys hashed and put in directory order on the loader's thread,
//! then inserted segment by segment.

use std::hash::BuildHasher;

use hashbrown::DefaultHashBuilder;

use super::segment::prefix;
use super::Db;
use crate::value::{Key, Value};

/// Hashes keys the way one database does, so that a loader can hash and order a batch on
/// its own thread (`prepare`) while the database inserts the previous one.
#[derive(Clone, Copy)]
pub struct BatchHasher(pub(super) DefaultHashBuilder);

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

impl Db {
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
}
