//! One key of the keyspace with its value, expiry, access clock and snapshot mark.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::value::{Key, Value};

pub const NO_EXPIRE: i64 = -1;

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
