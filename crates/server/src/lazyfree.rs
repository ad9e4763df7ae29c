//! Freeing big values off the main thread, as Redis's lazyfree.c: UNLINK, FLUSHALL/FLUSHDB
//! ASYNC, and the deletions the lazyfree-lazy-* directives name hand what they remove to one
//! background drop thread (Redis's BIO_LAZY_FREE), so a client deleting a million-field hash
//! does not stall the others while its memory is given back.
//!
//! A value goes there only when freeing it is real work (Redis's lazyfreeGetFreeEffort above
//! LAZYFREE_THRESHOLD) and nothing else shares it; a whole database always does. INFO's
//! `lazyfree_pending_objects` counts what was handed over and not yet dropped,
//! `lazyfreed_objects` what was dropped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

use amber_store::{Db, Value};

/// Redis's LAZYFREE_THRESHOLD: values that take more allocations than this to free.
const THRESHOLD: usize = 64;

/// Redis's quicklist node size by default (list-max-listpack-size -2): 8 KB.
const LIST_NODE_BYTES: usize = 8192;

enum Job {
    Value(Value),
    Db(Box<Db>, u64),
    /// Anything else counted as this many objects (the scripts cache, a functions library
    /// set).
    Other(Box<dyn Send>, u64),
}

/// The drop thread and its counters.
#[derive(Default)]
pub(crate) struct LazyFree {
    tx: Option<mpsc::Sender<Job>>,
    pending: Arc<AtomicU64>,
    freed: Arc<AtomicU64>,
    #[cfg(test)]
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Which lazyfree-lazy-* directive governs a deletion (or UNLINK/ASYNC, always).
#[derive(Clone, Copy)]
pub(crate) enum Why {
    Always,
    UserDel,
    ServerDel,
    Expire,
    Eviction,
    UserFlush,
    ReplicaFlush,
}

impl Why {
    fn directive(self) -> Option<&'static str> {
        Some(match self {
            Why::Always => return None,
            Why::UserDel => "lazyfree-lazy-user-del",
            Why::ServerDel => "lazyfree-lazy-server-del",
            Why::Expire => "lazyfree-lazy-expire",
            Why::Eviction => "lazyfree-lazy-eviction",
            Why::UserFlush => "lazyfree-lazy-user-flush",
            Why::ReplicaFlush => "replica-lazy-flush",
        })
    }
}

/// Whether a deletion for `why` is lazy under the configuration.
pub(crate) fn is_lazy(config: &crate::config::Config, why: Why) -> bool {
    match why.directive() {
        None => true,
        Some(d) => config.accepted.get(d).is_some_and(|v| v == "yes"),
    }
}

/// Whether freeing `v`, removed for `why`, goes to the drop thread.
pub(crate) fn will_drop_lazily(srv: &crate::server::Server, v: &Value, why: Why) -> bool {
    is_lazy(&srv.config, why) && free_effort(v) > THRESHOLD && !shared(v)
}

/// lazyfreeGetFreeEffort: about how many allocations freeing `v` takes.
pub(crate) fn free_effort(v: &Value) -> usize {
    match v {
        Value::List(l) if l.encoding() == "quicklist" => {
            // One quicklist node per 8 KB of entries (each with a few bytes of header).
            let bytes: usize = l.items.iter().map(|b| b.len() + 11).sum();
            bytes.div_ceil(LIST_NODE_BYTES)
        }
        Value::Hash(h) if h.encoding() == "hashtable" => h.len(),
        Value::Set(s) if s.encoding() == "hashtable" => s.len(),
        Value::ZSet(z) if z.encoding() == "skiplist" => z.len(),
        Value::Stream(s) => {
            // One listpack node per 100 entries (stream-node-max-entries), and each group
            // with its pending entries.
            let nodes = (s.length / 100 + 1) as usize;
            let groups = s.groups.len();
            let pel = s.groups.values().next().map_or(0, |g| g.pel.len());
            nodes + groups * (1 + pel)
        }
        _ => 1,
    }
}

/// Whether anything besides this value holds its contents (a snapshot's before-image).
fn shared(v: &Value) -> bool {
    match v {
        Value::List(a) => Arc::strong_count(a) > 1,
        Value::Hash(h) => h.is_shared(),
        Value::Set(s) => s.is_shared(),
        Value::ZSet(z) => z.is_shared(),
        Value::Stream(a) => Arc::strong_count(a) > 1,
        _ => false,
    }
}

impl LazyFree {
    fn submit(&mut self, job: Job) {
        if self.tx.is_none() {
            let (tx, rx) = mpsc::channel::<Job>();
            let (pending, freed) = (self.pending.clone(), self.freed.clone());
            let spawned = std::thread::Builder::new()
                .name("amber-lazyfree".into())
                .spawn(move || {
                    for job in rx {
                        let n = match job {
                            Job::Value(v) => {
                                drop(v);
                                1
                            }
                            Job::Db(db, n) => {
                                drop(db);
                                n
                            }
                            Job::Other(b, n) => {
                                drop(b);
                                n
                            }
                        };
                        pending.fetch_sub(n, Ordering::Relaxed);
                        freed.fetch_add(n, Ordering::Relaxed);
                    }
                });
            let Ok(_handle) = spawned else {
                // No thread: free here, as a synchronous delete would.
                drop(job);
                return;
            };
            #[cfg(test)]
            {
                self.thread = Some(_handle);
            }
            self.tx = Some(tx);
        }
        let n = match &job {
            Job::Value(_) => 1,
            Job::Db(_, n) | Job::Other(_, n) => *n,
        };
        self.pending.fetch_add(n, Ordering::Relaxed);
        if let Some(tx) = &self.tx {
            if let Err(mpsc::SendError(job)) = tx.send(job) {
                self.pending.fetch_sub(n, Ordering::Relaxed);
                drop(job);
            }
        }
    }

    /// freeObjAsync: a value removed from the keyspace is dropped on the drop thread when
    /// that is worth it, here otherwise.
    pub(crate) fn free_value(&mut self, v: Value) {
        if free_effort(&v) > THRESHOLD && !shared(&v) {
            self.submit(Job::Value(v));
        }
    }

    /// emptyDbAsync: a whole database taken out of service.
    pub(crate) fn free_db(&mut self, db: Db) {
        let n = db.len() as u64;
        self.submit(Job::Db(Box::new(db), n));
    }

    /// freeLuaScriptsAsync / freeFunctionsAsync: `n` scripts or functions go to the drop thread
    /// when they are more than LAZYFREE_THRESHOLD, else are dropped here.
    pub(crate) fn free_many<T: Send + 'static>(&mut self, what: T, n: usize) {
        if n > THRESHOLD {
            self.submit(Job::Other(Box::new(what), n as u64));
        }
    }

    /// INFO's lazyfree_pending_objects.
    pub(crate) fn pending(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }

    /// INFO's lazyfreed_objects.
    pub(crate) fn freed(&self) -> u64 {
        self.freed.load(Ordering::Relaxed)
    }

    /// Waits until the drop thread has dropped everything handed to it (tests).
    #[cfg(test)]
    fn finish(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// CONFIG RESETSTAT (lazyfreeResetStats).
    pub(crate) fn reset_stats(&self) {
        self.freed.store(0, Ordering::Relaxed);
    }
}

impl crate::server::Server {
    /// Frees a value removed from the keyspace for `why`: on the drop thread when the
    /// configuration makes that deletion lazy and the value is big, here otherwise.
    pub(crate) fn free_removed(&mut self, v: Value, why: Why) {
        if is_lazy(&self.config, why) {
            self.lazyfree.free_value(v);
        }
    }

    /// Empties database `db` (FLUSHDB, FLUSHALL): its keys are dropped on the drop thread
    /// when `lazy`.
    pub(crate) fn empty_db(&mut self, db: usize, lazy: bool) {
        if lazy {
            let old = self.dbs[db].take_all();
            self.lazyfree.free_db(old);
        } else {
            self.dbs[db].clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effort_counts_allocations_of_big_encodings_only() {
        assert_eq!(free_effort(&Value::Int(5)), 1);
        let limits = amber_store::Limits::default();
        let mut s = amber_store::set::Set::default();
        for i in 0..10 {
            s.add(i.to_string().as_bytes(), &limits);
        }
        assert_eq!(free_effort(&Value::Set(s.clone())), 1);
        for i in 0..1000 {
            s.add(format!("m{i}").as_bytes(), &limits);
        }
        assert_eq!(free_effort(&Value::Set(s)), 1010);
    }

    #[test]
    fn dropped_values_and_databases_are_counted() {
        let mut lf = LazyFree::default();
        let mut db = Db::new();
        for i in 0..5u32 {
            db.insert(
                amber_store::Key::from_slice(&i.to_be_bytes()),
                Value::Int(1),
                amber_store::db::NO_EXPIRE,
                0,
            );
        }
        lf.free_db(db);
        lf.finish();
        assert_eq!((lf.pending(), lf.freed()), (0, 5));
        lf.reset_stats();
        assert_eq!(lf.freed(), 0);
    }
}
