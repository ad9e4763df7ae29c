//! Key lookups with Redis's expiry semantics (lookupKeyRead / lookupKeyWrite / expireIfNeeded),
//! and the active expire cycle.

use amber_store::{Db, Entry, Key, Value};

use crate::cmd::notify;
use crate::server::Server;

impl Server {
    pub(crate) fn db(&self, db: usize) -> &Db {
        &self.dbs[db]
    }

    pub(crate) fn db_mut(&mut self, db: usize) -> &mut Db {
        &mut self.dbs[db]
    }

    /// Deletes `key` if it has expired at the command's time, and records the deletion as a DEL
    /// to replay. Returns whether it was deleted.
    pub(crate) fn expire_if_needed(&mut self, db: usize, key: &[u8]) -> bool {
        // Nothing expires while the AOF is replayed (as Redis's keyIsExpired while loading):
        // a logged command that found its key alive must find it alive again.
        // Nor under the stream of our master, which sends the DELs (a replica only hides
        // expired keys from its clients, as Redis's replicas do).
        if self.replaying_aof || self.repl.applying {
            return false;
        }
        // No key of a database without expiries can be expired: skip the lookup (a cache
        // miss on a large keyspace, repeated by the write that follows).
        if self.dbs[db].volatile_len() == 0 {
            return false;
        }
        let now = self.cmd_time_ms;
        let expired = self.dbs[db].get(key).is_some_and(|e| e.is_expired(now));
        // While clients are paused the dataset stays as it is (a failover waits for its
        // offsets): the key is expired for the command, and deleted later.
        if expired
            && self.repl.link.is_none()
            && !crate::replication::failover::clients_paused(self)
        {
            self.delete_expired(db, key);
        }
        expired
    }

    fn delete_expired(&mut self, db: usize, key: &[u8]) {
        if let Some(e) = self.dbs[db].remove(key) {
            self.free_removed(e.value, crate::lazyfree::Why::Expire);
        }
        self.stats.expired_keys += 1;
        self.signal_modified_key(db, key, None);
        self.propagate_deletion(db, key, crate::lazyfree::Why::Expire);
        self.notify(notify::EXPIRED, "expired", key, db);
    }

    /// The live entry of `key` for a read command; counts keyspace hits and misses and
    /// records the access.
    pub(crate) fn lookup_read(&mut self, db: usize, key: &[u8]) -> Option<&Entry> {
        let expired = self.expire_if_needed(db, key);
        let now = self.cmd_time_ms;
        match self.dbs[db].get(key).filter(|_| !expired) {
            Some(e) => {
                self.stats.keyspace_hits += 1;
                e.touch(crate::evict::accessed(
                    &self.config,
                    &mut self.rng,
                    now,
                    e.lru(),
                ));
                Some(e)
            }
            None => {
                self.stats.keyspace_misses += 1;
                // Field by field: the entry's borrow of `dbs` is still alive here.
                notify::queue(
                    &self.config,
                    &mut self.notifications,
                    (notify::KEY_MISS, "keymiss"),
                    key,
                    db,
                );
                None
            }
        }
    }

    /// The live entry of `key` without touching statistics or the access clock.
    pub(crate) fn lookup_quiet(&mut self, db: usize, key: &[u8]) -> Option<&Entry> {
        if self.expire_if_needed(db, key) {
            return None;
        }
        self.dbs[db].get(key)
    }

    /// The live entry of `key` for a write command.
    pub(crate) fn lookup_write(&mut self, db: usize, key: &[u8]) -> Option<&mut Entry> {
        if self.expire_if_needed(db, key) {
            return None;
        }
        let now = self.cmd_time_ms;
        let e = self.dbs[db].get_mut(key)?;
        e.touch(crate::evict::accessed(
            &self.config,
            &mut self.rng,
            now,
            e.lru(),
        ));
        Some(e)
    }

    /// Adds a new key; the caller knows it does not exist (dbAdd).
    pub(crate) fn add_key(&mut self, db: usize, key: Key, value: Value) {
        self.notify(notify::NEW, "new", &key, db);
        let clock = self.new_lru();
        self.dbs[db].insert(key, value, amber_store::db::NO_EXPIRE, clock);
    }

    /// Sets `key` to `value` (setKey): replaces any old value and, unless `keep_ttl`, its expiry.
    pub(crate) fn set_key(&mut self, db: usize, key: &[u8], value: Value, keep_ttl: bool) {
        self.signal_if_stream(db, key);
        let clock = self.new_lru();
        let expire = if keep_ttl {
            self.lookup_quiet(db, key)
                .map(|e| e.expire)
                .unwrap_or(amber_store::db::NO_EXPIRE)
        } else {
            amber_store::db::NO_EXPIRE
        };
        let old = self.dbs[db].insert(Key::from_slice(key), value, expire, clock);
        match &old {
            None => self.notify(notify::NEW, "new", key, db),
            // Under LFU an overwritten key keeps its counter, counting this access (Redis's
            // setKey looks the key up for writing, then dbSetValue keeps the old lru field).
            Some(old) if self.config.maxmemory_policy.is_lfu() => {
                let now = self.cmd_time_ms;
                let word = crate::evict::accessed(&self.config, &mut self.rng, now, old.lru());
                if let Some(e) = self.dbs[db].get(key) {
                    e.touch(word);
                }
            }
            Some(_) => {}
        }
        // dbOverwrite: the old value goes lazily under lazyfree-lazy-server-del.
        if let Some(e) = old {
            self.free_removed(e.value, crate::lazyfree::Why::ServerDel);
        }
    }

    /// Deletes a live key (a deletion the server decides: lazyfree-lazy-server-del); returns
    /// whether it existed.
    pub(crate) fn delete_key(&mut self, db: usize, key: &[u8]) -> bool {
        self.delete_key_for(db, key, crate::lazyfree::Why::ServerDel)
    }

    /// Deletes a live key, its value freed as `why` says (DEL, UNLINK, ...).
    pub(crate) fn delete_key_for(
        &mut self,
        db: usize,
        key: &[u8],
        why: crate::lazyfree::Why,
    ) -> bool {
        if self.expire_if_needed(db, key) {
            return false;
        }
        self.signal_if_stream(db, key);
        match self.dbs[db].remove(key) {
            Some(e) => {
                self.free_removed(e.value, why);
                true
            }
            None => false,
        }
    }

    /// A stream about to be deleted or overwritten wakes the clients blocked in XREADGROUP
    /// on it (they get an error), as Redis's dbGenericDelete and dbOverwrite do.
    pub(crate) fn signal_if_stream(&mut self, db: usize, key: &[u8]) {
        if self.blocking.by_key.is_empty() {
            return;
        }
        let is_stream = matches!(
            self.dbs[db].get(key).map(|e| &e.value),
            Some(amber_store::Value::Stream(_))
        );
        if is_stream {
            self.signal_ready(db, key);
        }
    }

    /// One run of the active expire cycle over every database, within `budget`.
    /// Returns the number of keys expired.
    pub(crate) fn active_expire_cycle(&mut self, budget: std::time::Duration) -> usize {
        // A replica's keys expire by its master's DELs; paused clients keep the dataset.
        if self.repl.link.is_some() || crate::replication::failover::clients_paused(self) {
            return 0;
        }
        let start = std::time::Instant::now();
        let now = crate::server::unix_ms();
        self.cmd_time_ms = now;
        let mut total = 0;
        for db in 0..self.dbs.len() {
            loop {
                let mut cursor = self.expire_cursor[db];
                let mut gone: Vec<Key> = Vec::new();
                let mut values = Vec::new();
                let (checked, expired) =
                    self.dbs[db].expire_cycle_step(&mut cursor, 200, now, |e| {
                        gone.push(e.key);
                        values.push(e.value);
                    });
                self.expire_cursor[db] = cursor;
                for v in values {
                    self.free_removed(v, crate::lazyfree::Why::Expire);
                }
                for k in &gone {
                    self.stats.expired_keys += 1;
                    self.signal_modified_key(db, k, None);
                    self.propagate_deletion(db, k, crate::lazyfree::Why::Expire);
                    self.notify(notify::EXPIRED, "expired", k, db);
                }
                total += expired;
                // Like Redis: keep going while more than 10% of what was checked had expired.
                if checked == 0 || expired * 10 <= checked || start.elapsed() >= budget {
                    break;
                }
            }
            if start.elapsed() >= budget {
                break;
            }
        }
        crate::replication::feed(self, None);
        crate::durability::aof::feed_propagated(self);
        notify::flush(self, None);
        total
    }
}
