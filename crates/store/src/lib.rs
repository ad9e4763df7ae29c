//! Amber's data: values, the keyspace of one database and its expiry bookkeeping.
//! No I/O and no async live here, so the persistence crate and the tools can use it freely.
//!
//! The keyspace is split into small segments (see `db/mod.rs`); a point-in-time snapshot costs
//! O(1) to start, is walked in bounded steps, and a write during it copies only the entry it
//! changes (see `snapshot.rs`).

pub mod blob;
pub mod db;
pub mod hash;
pub mod hll;
pub mod intset;
pub mod list;
pub mod listpack;
pub mod memory;
pub mod pack;
pub mod raw;
pub mod set;
pub mod shared;
pub mod short_bytes;
pub mod snapshot;
pub mod stream;
pub mod value;
pub mod zset;

pub use db::{Db, Entry, ScanCursor};
pub use value::{Blob, EmbStr, Key, RawStr, Value};

/// Thresholds that decide compact versus general encodings (Redis's `*-max-listpack-*`,
/// `set-max-intset-entries`), passed to every operation that may convert a value.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
    pub list_max_listpack_size: i64,
    pub list_compress_depth: i64,
}

/// Redis 7.0.15's compiled-in defaults (server.h), which a server started without a config file
/// reports; the sample redis.conf sets hash-max-listpack-entries to 128, the binary uses 512.
impl Default for Limits {
    fn default() -> Self {
        Limits {
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            list_max_listpack_size: -2,
            list_compress_depth: 0,
        }
    }
}
